#!/usr/bin/env python3
"""Reference values for crates/analysis/tests/difference_reference.rs.

Independent of the Rust code: scipy's normal quantiles and the MOVER limits of
Zou & Donner (2008) written out here. Symmetric cases are also checked against the
Welch-type normal interval (b - a) +- z*sqrt(se_a^2 + se_b^2), which MOVER reduces to.
Run:  python3 make_difference_reference.py > difference_reference.json
"""
import json
import math

import numpy as np
import scipy
from scipy import stats


def z(conf):
    return stats.norm.ppf(1 - (1 - conf) / 2)


def rescale(est, lo, hi, conf, to):
    r = z(to) / z(conf)
    return est - (est - lo) * r, est + (hi - est) * r


def mover(a, b, to):
    (ea, la, ua, ca), (eb, lb, ub, cb) = a, b
    la, ua = rescale(ea, la, ua, ca, to)
    lb, ub = rescale(eb, lb, ub, cb, to)
    d = eb - ea
    lo = d - math.sqrt((eb - lb) ** 2 + (ua - ea) ** 2)
    hi = d + math.sqrt((ub - eb) ** 2 + (ea - la) ** 2)
    return d, lo, hi


cases = []
rng = np.random.default_rng(20261201)
# Symmetric normal intervals from standard errors: MOVER must equal Welch's z-interval.
for _ in range(6):
    ea, eb = rng.normal(0, 1e5, 2)
    sa, sb = rng.uniform(1e3, 5e4, 2)
    conf = 0.99
    a = (ea, ea - z(conf) * sa, ea + z(conf) * sa, conf)
    b = (eb, eb - z(conf) * sb, eb + z(conf) * sb, conf)
    d, lo, hi = mover(a, b, conf)
    welch = z(conf) * math.sqrt(sa**2 + sb**2)
    assert abs((d - welch) - lo) < 1e-6 * abs(welch) and abs((d + welch) - hi) < 1e-6 * abs(welch)
    cases.append({"a": a, "b": b, "confidence": conf, "expected": [d, lo, hi]})
# Asymmetric intervals (Theil-Sen's), at different looks' confidences, compared at 99 %.
for ca, cb in [(0.9996, 0.9989), (0.99, 0.9998), (0.95, 0.99)]:
    ea, eb = rng.normal(1.7e6, 2e5, 2)
    a = (ea, ea - rng.uniform(1e4, 4e5), ea + rng.uniform(1e4, 4e5), ca)
    b = (eb, eb - rng.uniform(1e4, 4e5), eb + rng.uniform(1e4, 4e5), cb)
    d, lo, hi = mover(a, b, 0.99)
    cases.append({"a": a, "b": b, "confidence": 0.99, "expected": [d, lo, hi]})

print(json.dumps({"scipy": scipy.__version__, "cases": cases}, indent=1, default=float))
