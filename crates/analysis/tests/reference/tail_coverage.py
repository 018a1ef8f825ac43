#!/usr/bin/env python3
"""Coverage of the corrected Sen interval under two rules for the leading-run tail.

Not a reference file: the figures quoted in crates/analysis/README.md ("Why two
autocorrelation factors") for the change of the tail's ratio, computed in numpy/scipy
independently of the Rust code. "last": the run's last ACF ratio, capped at 0.95 (the
rule before); "rising": the same, but sqrt(rho_1) when that ratio is >= 1 (the rule in
src/mann_kendall.rs). Nominal 99 %, slope 0.05 per x, unit-variance noise.

    pip install scipy statsmodels pymannkendall && python3 tail_coverage.py [SEEDS]

(the factor is make_reference.py's; ~1 min for 1000 seeds)
"""
import os
import sys

import numpy as np
from scipy.stats import norm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import leading_run_factor, rank_acf  # noqa: E402


def factor(x, y, slope, rule):
    """max(Hamed-Rao, leading run + geometric tail, 1), as src/mann_kendall.rs."""
    n = len(y)
    acf = rank_acf(y - slope * x)
    k = np.arange(1, n - 2)
    weights = (n - k) * (n - k - 1.0) * (n - k - 2.0)
    significant = np.abs(acf) > norm.ppf(0.975) / np.sqrt(n)
    hamed_rao = 1 + 2.0 / (n * (n - 1.0) * (n - 2.0)) * (weights * acf * significant).sum()
    lead = leading_run_factor(acf, n, rising_rule=(rule == "rising"))
    return max(hamed_rao, lead, 1.0)


def covers(x, y, true_slope, rule, confidence=0.99):
    n = len(y)
    i, j = np.triu_indices(n, 1)
    slopes = (y[j] - y[i]) / (x[j] - x[i])
    pairs = len(slopes)
    sigma = np.sqrt(n * (n - 1) * (2 * n + 5) / 18.0 * factor(x, y, np.median(slopes), rule))
    z = norm.ppf(1 - (1 - confidence) / 2)
    lo = int(np.floor((pairs - z * sigma) / 2))
    hi = int(np.ceil((pairs + z * sigma) / 2))
    if lo < 0 or hi >= pairs:
        return True
    bounds = np.partition(slopes, [lo, hi])
    return bounds[lo] <= true_slope <= bounds[hi]


def ar1(rng, n, phi):
    e = rng.standard_normal(n)
    out = np.empty(n)
    out[0] = e[0] / np.sqrt(1 - phi * phi)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + e[t]
    return out


def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    noises = [
        ("AR(1) phi=0.6", lambda rng, n: ar1(rng, n, 0.6)),
        ("AR(0.3) + 0.6 AR(0.9)", lambda rng, n: ar1(rng, n, 0.3) + 0.6 * ar1(rng, n, 0.9)),
    ]
    for label, noise in noises:
        for n in (500, 200, 100):
            row = []
            for rule in ("last", "rising"):
                rng = np.random.default_rng(1)
                x = np.arange(n, dtype=float)
                hits = sum(covers(x, 0.05 * x + noise(rng, n), 0.05, rule) for _ in range(seeds))
                row.append(f"{rule} {100.0 * hits / seeds:.1f}%")
            print(f"{label:24} n={n:3}  " + "  ".join(row), flush=True)


if __name__ == "__main__":
    main()
