#!/usr/bin/env python3
"""Reference values for crates/analysis/tests/reference_values.rs.

Computed independently of the Rust code with scipy, statsmodels and
pymannkendall (pip install scipy statsmodels pymannkendall). Run from any
directory:  python3 make_reference.py > reference.json
"""
import json
import sys

import numpy as np
import pymannkendall as mk
import scipy
import statsmodels
import statsmodels.api as sm
from scipy import stats


def ar1(rng, n, phi, sd):
    e = np.empty(n)
    e[0] = rng.normal(0, sd)
    for i in range(1, n):
        e[i] = phi * e[i - 1] + rng.normal(0, sd * np.sqrt(1 - phi * phi))
    return e


def series():
    rng = np.random.default_rng(20261121)
    out = []
    # 1: a small leak in AR(1) noise (bytes), 60 points.
    n = 60
    x = np.arange(n, dtype=float)
    out.append(("ar1_small_leak", x, 1e8 + 2000.0 * x + ar1(rng, n, 0.6, 65536.0)))
    # 2: page-granular values (many ties), weak trend, 80 points.
    n = 80
    x = np.arange(n, dtype=float)
    y = np.round((5e7 + 300.0 * x + ar1(rng, n, 0.5, 8192.0)) / 4096.0) * 4096.0
    out.append(("page_ties", x, y))
    # 3: sawtooth plus a step plus AR(1) noise, 120 points.
    n = 120
    x = np.arange(n, dtype=float)
    y = 2e8 + 262144.0 * ((x % 25) / 25.0 - 0.5) + 1e6 * (x >= 70) + ar1(rng, n, 0.7, 131072.0)
    out.append(("sawtooth_step", x, y))
    # 4: the acceptance setting, 500 points, 1 KiB/iter leak.
    n = 500
    x = np.arange(n, dtype=float)
    out.append(("ar1_500_leak", x, 2.5e8 + 1024.0 * x + ar1(rng, n, 0.6, 65536.0)))
    # 5: the leaky loader's staircase of cache blocks (jemalloc's allocated bytes at its
    # first 66 marks, recorded by `leakcheck run loader-loop --variant leaky` on
    # 2026-12-02): the ACF rises at the end of its leading run there (ratio 1.39), and
    # the tail continues at sqrt(rho_1) instead of 0.95.
    y = np.array([
        21334616, 20424392, 23785432, 23575624, 26300520, 25768040,
        28310312, 29010440, 33073440, 32184512, 31398080, 32489032,
        34623368, 34332552, 33755016, 40183192, 40683832, 39954744,
        47906904, 47120472, 46334040, 45547608, 45724680, 44823560,
        59507912, 59114696, 58356936, 58105448, 57974376, 58019280,
        74665296, 74053200, 77185904, 75842416, 80717736, 80264280,
        81707784, 83119712, 88446224, 88507920, 88507264, 89075328,
        88862656, 88402112, 99249568, 100604712, 100389720, 104466856,
        103680424, 103287208, 112458008, 114318848, 114187776, 113491264,
        112827648, 114924912, 115143248, 118666608, 118379888, 117852592,
        117787056, 116926896, 116698736, 127626760, 128136424, 127860152,
    ], dtype=float)
    out.append(("loader_staircase", np.arange(len(y), dtype=float), y))
    return out


def rank_acf(detrended):
    """ACF of the ranks of a detrended series at lags 1..n-3 (the weights of lags n-2
    and n-1 are zero)."""
    n = len(detrended)
    ranks = stats.rankdata(detrended)
    c = ranks - ranks.mean()
    return np.array([np.dot(c[k:], c[:n - k]) / np.dot(c, c) for k in range(1, n - 2)])


def leading_run_factor(acf, n, rising_rule=True):
    """The leading-run + tail factor (leakcheck's addition, see src/mann_kendall.rs) from
    the ranks' ACF of a Sen-detrended series of n points: significant positive lags from
    lag 1 until the first that is not, then a geometric tail at the run's last ratio (at
    most 0.95; sqrt(rho_1) when the ratio is >= 1, unless `rising_rule` is off: the rule
    before 2026-12-02, which tail_coverage.py compares)."""
    bound = stats.norm.ppf(0.975) / np.sqrt(n)
    w = lambda k: (n - k) * (n - k - 1.0) * (n - k - 2.0)
    run = 0
    while run < len(acf) and acf[run] > bound:
        run += 1
    lead = sum(w(k) * acf[k - 1] for k in range(1, run + 1))
    if run > 0:
        last = acf[run - 1]
        before = acf[run - 2] if run >= 2 else 1.0
        ratio = last / before
        if rising_rule and ratio >= 1.0:
            ratio = np.sqrt(max(acf[0], 0.0))
        ratio = min(max(ratio, 0.0), 0.95)
        for k in range(run + 1, n - 2):
            lead += w(k) * last * ratio ** (k - run)
    return 1 + 2.0 / (n * (n - 1.0) * (n - 2.0)) * lead


def sen_interval(slopes_sorted, n, ties, conf, inflation):
    """Sen (1968) eq. 2.6 order statistics, scipy's rounding, Var(S) inflated."""
    z = stats.norm.ppf(1 - (1 - conf) / 2)
    sigma = np.sqrt((n * (n - 1) * (2 * n + 5) - ties) / 18.0 * inflation)
    nt = len(slopes_sorted)
    ru = min(int(np.round((nt + z * sigma) / 2.0)), nt - 1)
    rl = max(int(np.round((nt - z * sigma) / 2.0)) - 1, 0)
    return float(slopes_sorted[rl]), float(slopes_sorted[ru])


def main():
    cases = []
    for name, x, y in series():
        n = len(y)
        case = {"name": name, "x": x.tolist(), "y": y.tolist(), "ols": [], "theil_sen": []}
        X = sm.add_constant(x)
        for conf, lags in [(0.99, 0), (0.99, 4), (0.95, 9)]:
            fit = sm.OLS(y, X).fit(
                cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True}, use_t=False
            )
            lo, hi = fit.conf_int(alpha=1 - conf)[1]
            case["ols"].append({
                "confidence": conf, "maxlags": lags,
                "slope": float(fit.params[1]), "intercept": float(fit.params[0]),
                "lo": float(lo), "hi": float(hi),
            })
        for conf in (0.99, 0.95):
            r = stats.theilslopes(y, x, alpha=conf, method="separate")
            case["theil_sen"].append({
                "confidence": conf, "slope": float(r.slope), "intercept": float(r.intercept),
                "lo": float(r.low_slope), "hi": float(r.high_slope),
            })
        orig = mk.original_test(y)
        hr = mk.hamed_rao_modification_test(y, alpha=0.05)
        factor = hr.var_s / orig.var_s
        lead_factor = leading_run_factor(rank_acf(y - np.arange(n) * hr.slope), n)
        applied = max(factor, lead_factor, 1.0)
        s_ = float(hr.s)
        z = (s_ - np.sign(s_)) / np.sqrt(orig.var_s * applied) if s_ != 0 else 0.0
        # p from the survival function: 1 - cdf (pymannkendall) loses digits when tiny.
        case["mann_kendall"] = {
            "s": s_, "var_s": float(orig.var_s), "var_s_hamed_rao": float(hr.var_s),
            "z_hamed_rao": float(hr.z), "p_hamed_rao": float(2 * stats.norm.sf(abs(hr.z))),
            "p_pymannkendall": float(hr.p), "z_plain": float(orig.z),
            "p_plain": float(2 * stats.norm.sf(abs(orig.z))), "sens_slope": float(hr.slope),
            "factor_lead": lead_factor, "factor": applied,
            "z": float(z), "p": float(2 * stats.norm.sf(abs(z))),
        }
        # Sen's interval with Var(S) multiplied by the applied factor
        # (leakcheck's interval: the inversion of the corrected test).
        dx = x[:, None] - x
        dy = y[:, None] - y
        slopes = np.sort(dy[dx > 0] / dx[dx > 0])
        _, yrep = np.unique(y, return_counts=True)
        ties = float(sum(k * (k - 1) * (2 * k + 5) for k in yrep))
        lo, hi = sen_interval(slopes, n, ties, 0.99, applied)
        case["theil_sen_corrected"] = {"confidence": 0.99, "factor": applied, "lo": lo, "hi": hi}
        cases.append(case)
    json.dump({
        "generator": "crates/analysis/tests/reference/make_reference.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                     "statsmodels": statsmodels.__version__,
                     "pymannkendall": getattr(mk, "__version__", "1.4.3")},
        "cases": cases,
    }, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
