#!/usr/bin/env python3
"""Reference values for crates/analysis/tests/churn_and_warmup.rs.

The warm-up cut (MSER-5 on a line, the improvement and edge guards, the 99 % transient
end), retained memory between checkpoints (Hodges-Lehmann shift of the last checkpoint's
readings over the first's, the Moses interval from the normal approximation of the
Mann-Whitney statistic, at least one measurement step wide) and the churn envelope (the period from the autocorrelation of the OLS residuals,
the minimum of each whole window of one period, Theil-Sen of those minima) computed with
numpy and scipy from the method as documented in src/warmup.rs and src/churn.rs, not from
the Rust code. Run from any directory:

    python3 make_churn_reference.py > churn_reference.json
"""
import json
import sys

import numpy as np
import scipy
from scipy import stats

KIB = 1024.0
MIB = KIB * KIB


def ar1(rng, n, phi, sd):
    e = np.empty(n)
    e[0] = rng.normal(0, sd)
    for i in range(1, n):
        e[i] = phi * e[i - 1] + rng.normal(0, sd * np.sqrt(1 - phi * phi))
    return e


def ols(x, y):
    slope, intercept = np.polyfit(x, y, 1)
    return slope, intercept


def warmup_cut(x, y):
    n = len(x)
    b = 5 if n >= 100 else 1
    bx = np.array([x[i:i + b].mean() for i in range(0, n, b)])
    by = np.array([y[i:i + b].mean() for i in range(0, n, b)])
    m = len(bx)
    if m < 6:
        return 0
    scores = np.full(m // 2 + 1, np.inf)
    for k in range(m // 2 + 1):
        if m - k < 3:
            continue
        s, c = ols(bx[k:], by[k:])
        r = by[k:] - (c + s * bx[k:])
        scores[k] = (r @ r) / (m - k) ** 2
    best = int(np.argmin(scores))
    edge = m // 2 - m // 20
    if best == 0 or best >= edge or not scores[0] >= 1.3 * scores[best]:
        return 0
    s, c = ols(bx[best:], by[best:])
    dist = np.abs(c + s * bx - by)
    tol = 0.01 * dist[0]
    over = [i for i in range(best) if dist[i] > tol]
    end = over[-1] + 1 if over else 0
    return min(end * b, n // 2)


def period(x, y):
    n = len(y)
    max_lag = min(n // 4, 512)
    s, c = ols(x, y)
    r = y - (c + s * x)
    var = r @ r
    acf = {lag: (r[:n - lag] @ r[lag:]) / var for lag in range(1, max_lag + 1)}
    neg = [lag for lag in range(1, max_lag + 1) if acf[lag] < 0]
    if not neg:
        return None
    lags = list(range(neg[0], max_lag + 1))
    best = lags[int(np.argmax([acf[lag] for lag in lags]))]
    if best >= 2 and acf[best] >= max(0.3, 4 / np.sqrt(n)):
        return best, float(acf[best])
    return None


def envelope(x, y, p):
    w = len(y) // p
    idx = [k * p + int(np.argmin(y[k * p:(k + 1) * p])) for k in range(w)]
    return x[idx], y[idx]


def step_of(values):
    step = None
    for k in range(17):
        if all(float(v) % (1 << k) == 0 for v in values):
            step = float(1 << k)
        else:
            break
    return step


def retained(readings, conf=0.99):
    first, last = np.asarray(readings[0]), np.asarray(readings[-1])
    d = np.sort((last[:, None] - first[None, :]).ravel())
    est = float(np.median(d))
    n, m = len(first), len(last)
    z = stats.norm.ppf(1 - (1 - conf) / 2)
    k = int(np.floor(n * m / 2 - z * np.sqrt(n * m * (n + m + 1) / 12)))
    k = min(max(k, 0), len(d) - 1)
    lo, hi = float(d[k]), float(d[len(d) - 1 - k])
    step = step_of(np.concatenate([first, last]))
    if step is not None:
        lo, hi = min(lo, est - step), max(hi, est + step)
    levels = [float(np.median(r)) for r in readings]
    out = {"readings": [list(map(float, r)) for r in readings], "estimate": est, "lo": lo, "hi": hi}
    if len(levels) >= 4:
        x = np.arange(len(levels), dtype=float)
        r = stats.theilslopes(levels, x, alpha=conf, method="separate")
        out["per_checkpoint"] = {"slope": float(r.slope), "lo": float(r.low_slope), "hi": float(r.high_slope)}
    return out


def main():
    rng = np.random.default_rng(20261201)
    n = 500
    x = np.arange(n, dtype=float)
    tau = 0.2 * n / np.log(100.0)  # 99 % full at 20 % of the run
    warmups = []
    for name, y in [
        ("line_leak_1k_sd64", 256 * MIB + 1024.0 * x + ar1(rng, n, 0.6, 64 * KIB)),
        ("line_leak_4k_sd16", 256 * MIB + 4096.0 * x + ar1(rng, n, 0.6, 16 * KIB)),
        ("staircase_leak", 256 * MIB + np.cumsum(np.where(rng.random(n) < 0.2, 9 * MIB, -0.1 * MIB))),
        ("fill_8m_sd16", 256 * MIB + 8 * MIB * (1 - np.exp(-x / tau)) + ar1(rng, n, 0.6, 16 * KIB)),
        ("fill_8m_sd64", 256 * MIB + 8 * MIB * (1 - np.exp(-x / tau)) + ar1(rng, n, 0.6, 64 * KIB)),
        ("fill_16m_sd256", 256 * MIB + 16 * MIB * (1 - np.exp(-x / tau)) + ar1(rng, n, 0.6, 256 * KIB)),
    ]:
        warmups.append({
            "name": name, "x": x.tolist(), "y": y.tolist(), "cut": warmup_cut(x, y),
            "fill_95": float(tau * np.log(20.0)) if name.startswith("fill") else None,
        })

    churns = []
    saw = lambda t, amp, per: amp * ((t % per) / per - 0.5)
    m = 1000
    xm = np.arange(m, dtype=float)
    # Square-wave RSS of a program that holds 64 MiB for half of each 0.5 s cycle, sampled
    # at 20 Hz with jitter, x in seconds.
    t = np.cumsum(rng.uniform(0.045, 0.055, 200))
    square = 300 * MIB + 64 * MIB * ((t % 0.5) < 0.25) + rng.normal(0, 64 * KIB, 200)
    for name, cx, cy in [
        ("sawtooth_512k_sd16_leak_half", xm, 256 * MIB + 512.0 * xm + saw(xm, 512 * KIB, 50) + ar1(rng, m, 0.6, 16 * KIB)),
        ("sawtooth_512k_sd64_leak_2k", xm, 256 * MIB + 2048.0 * xm + saw(xm, 512 * KIB, 50) + ar1(rng, m, 0.6, 64 * KIB)),
        ("square_64m_flat", t, square),
        ("square_64m_leak_2m_per_s", t, square + 2 * MIB * t),
        ("ar1_only", xm, 256 * MIB + 512.0 * xm + ar1(rng, m, 0.6, 64 * KIB)),
    ]:
        case = {"name": name, "x": cx.tolist(), "y": cy.tolist(), "period": None}
        p = period(cx, cy)
        if p is not None:
            ex, ey = envelope(cx, cy, p[0])
            r = stats.theilslopes(ey, ex, alpha=0.99, method="separate")
            case.update({
                "period": p[0], "acf": p[1], "envelope_x": ex.tolist(), "envelope_y": ey.tolist(),
                "slope": float(r.slope), "lo": float(r.low_slope), "hi": float(r.high_slope),
            })
        churns.append(case)
    retains = []
    page = 4096.0
    # RSS in pages around two checkpoints, 5 readings each; then 6 checkpoints of a leak
    # of ~300 MiB per session with jitter; then 12 vs 9 byte-exact allocator readings.
    base = 300 * MIB
    retains.append(retained([
        np.round((base + rng.normal(0, 256 * KIB, 5)) / page) * page,
        np.round((base + 7 * MIB + rng.normal(0, 256 * KIB, 5)) / page) * page,
    ]))
    retains.append(retained([
        np.round((base + k * 300 * MIB + rng.normal(0, 8 * MIB) + rng.normal(0, 64 * KIB, 5)) / page) * page
        for k in range(6)
    ]))
    retains.append(retained([
        np.round(20 * MIB + rng.normal(0, 3000, 12)),
        np.round(27 * MIB + rng.normal(0, 3000, 9)),
    ]))

    json.dump({
        "generator": "crates/analysis/tests/reference/make_churn_reference.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__},
        "warmup": warmups,
        "churn": churns,
        "retained": retains,
    }, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
