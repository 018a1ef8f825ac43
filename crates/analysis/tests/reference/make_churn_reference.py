#!/usr/bin/env python3
"""Reference values for crates/analysis/tests/churn_and_warmup.rs.

The warm-up cut (MSER-5 on a line, the improvement and edge guards, the 99 % transient
end), retained memory between checkpoints (Hodges-Lehmann shift of the last checkpoint's
readings over the first's, the Moses interval from the normal approximation of the
Mann-Whitney statistic, at least one measurement step wide) and churn (its cycles: the correlogram's period on a uniform grid, or the large
falls; the minimum, maximum and mean of each cycle with their sampling steps; the
least-squares line of each with its normal interval and the sampling-floored lower bound)
computed with numpy and scipy from the method as documented in src/warmup.rs and
src/churn.rs, not from the Rust code. Run from any directory:

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


GRID = 2048
SEARCH_PERIODS = 3.0
MIN_PERIOD_ACF = 0.3
MIN_PERIODS = 4
SHORT_WINDOW = 0.05
IRREGULAR = 1.1
FALL_NOISE = 10.0
FALL_OF_RANGE = 0.35
FALLS_REACH = 2.0


def upper_median(v):
    """The element at len/2 of the sorted values (the upper median for an even count)."""
    v = np.sort(np.asarray(v, dtype=float))
    return float(v[len(v) // 2])


def round_half_away(v):
    return float(np.floor(v + 0.5))


def ols_resid(x, y):
    s, c = ols(x, y)
    return y - (c + s * x)


def uniform_grid(x, y):
    n = len(x)
    if n < 8 or not x[-1] - x[0] > 0:
        return None
    cells = min(n, GRID)
    width = (x[-1] - x[0]) / cells
    idx = np.minimum(((x - x[0]) / width).astype(int), cells - 1)
    sums = np.bincount(idx, weights=y, minlength=cells)
    counts = np.bincount(idx, minlength=cells)
    out = []
    for k in range(cells):
        out.append(sums[k] / counts[k] if counts[k] > 0 else out[-1])
    return width, np.array(out)


def detect_period(x, y):
    """The correlogram on the grid: first negative lag, highest peak after it up to a third
    of the run, at least max(0.3, 4/sqrt(cells)), placed by a parabola."""
    g = uniform_grid(x, y)
    if g is None:
        return None
    width, grid = g
    n = len(grid)
    max_lag = min(int(np.floor(n / SEARCH_PERIODS)), n - 2)
    if max_lag < 3:
        return None
    r = ols_resid(np.arange(n, dtype=float), grid)
    var = r @ r
    if not var > 0:
        return None
    acf = [(r[:n - l] @ r[l:]) / var for l in range(max_lag + 2)]
    neg = [l for l in range(1, max_lag + 1) if acf[l] < 0]
    if not neg:
        return None
    lags = list(range(neg[0], max_lag + 1))
    lag = lags[int(np.argmax([acf[l] for l in lags]))]
    if lag < 2 or acf[lag] < max(MIN_PERIOD_ACF, 4 / np.sqrt(n)):
        return None
    a, b, c = acf[lag - 1], acf[lag], acf[lag + 1]
    curv = a - 2 * b + c
    shift = float(np.clip(0.5 * (a - c) / curv, -0.5, 0.5)) if curv < 0 else 0.0
    return (lag + shift) * width, float(b)


def cycles_by_falls(x, y):
    n = len(x)
    if n < 8:
        return None
    r = np.sort(ols_resid(x, y))
    at = lambda q: r[int(round_half_away((n - 1) * q))]
    threshold = max(FALL_OF_RANGE * (at(0.98) - at(0.02)), FALL_NOISE * noise_sd(y))
    if not threshold > 0:
        return None
    falls, run = [], 0.0
    for i in range(1, n):
        step = y[i] - y[i - 1]
        if step < 0:
            run -= step
        if step >= 0 or i + 1 == n:
            trough = i if step < 0 else i - 1
            if run >= threshold:
                falls.append(x[trough])
            run = 0.0
    if len(falls) < 3:
        return None
    period = (falls[-1] - falls[0]) / (len(falls) - 1)
    gaps = np.diff(falls)
    if not (period > 0 and gaps.min() >= 0.5 * period and gaps.max() <= 1.5 * period):
        return None
    if max(falls[0] - x[0], x[-1] - falls[-1]) > FALLS_REACH * period:
        return None
    bounds = ([x[0]] if falls[0] - x[0] >= 0.75 * period else []) + list(falls)
    if x[-1] - falls[-1] >= 0.75 * period:
        bounds.append(np.inf)
    jitter = 2 * upper_median(np.diff(x))
    return period, bounds, bool(gaps.max() - jitter > IRREGULAR * gaps.min())


def windows(x, period):
    spacing = upper_median(np.diff(x))
    reach = x[-1] - x[0] + min(1.5 * spacing, SHORT_WINDOW * period)
    periods = reach / period
    whole = int(np.floor(periods))
    if periods - whole >= 1 - SHORT_WINDOW:
        count, length = whole + 1, reach / (whole + 1)
    else:
        count, length = whole, period
    bounds = [x[0] + k * length for k in range(count + 1)]
    if count > 0:
        bounds[-1] = max(bounds[-1], x[-1] + 0.5 * spacing)
    return bounds


def detrended_range(x, y):
    r = np.sort(ols_resid(x, y))
    n = len(r)
    at = lambda q: r[int(round_half_away((n - 1) * q))]
    return at(0.98) - at(0.02)


def largest_dip(y):
    """How far the series fell below its running maximum and climbed back after."""
    best, dip = -np.inf, 0.0
    later = np.concatenate([np.maximum.accumulate(y[::-1])[::-1][1:], [-np.inf]])
    for v, after in zip(y, later):
        best = max(best, v)
        dip = max(dip, min(best - v, after - v))
    return dip


def cycles(x, y):
    falls = cycles_by_falls(x, y)
    if falls is not None and falls[2] and len(falls[1]) > MIN_PERIODS:
        return falls[0], 0.0, falls[1]
    if falls is None and largest_dip(y) < 0.5 * detrended_range(x, y):
        return None  # never gives back half its range: a staircase's period, not a cycle
    p = detect_period(x, y)
    if p is None:
        if falls is None:
            return None
        p = (falls[0], 0.0)
    by_windows = windows(x, p[0])
    if len(by_windows) <= MIN_PERIODS and falls is not None and len(falls[1]) > MIN_PERIODS:
        return falls[0], 0.0, falls[1]
    return p[0], p[1], by_windows


def noise_sd(y):
    d = np.abs(y[2:] - 2 * y[1:-1] + y[:-2])
    return 1.4826 * upper_median(d) / np.sqrt(6)


def envelopes(x, y, bounds, period):
    """Minimum, maximum and mean of each cycle; an extreme at a cycle's first or last
    sample is looked for a quarter period further out; each point's sampling step."""
    n = len(x)
    noise = noise_sd(y)
    lows, highs, mean = [], [], ([], [])

    def extreme(idx, lower):
        best = None
        for i in idx:
            if best is None or (y[i] < y[best] if lower else y[i] > y[best]):
                best = i
        return best

    for b0, b1 in zip(bounds[:-1], bounds[1:]):
        lo_i, hi_i = int(np.searchsorted(x, b0, "left")), int(np.searchsorted(x, b1, "left"))
        if hi_i <= lo_i:
            continue
        for lower, out in ((True, lows), (False, highs)):
            i = extreme(range(lo_i, hi_i), lower)
            if i == lo_i:
                reach = [j for j in range(0, i + 1) if x[j] >= x[i] - period / 4]
            elif i == hi_i - 1:
                reach = [j for j in range(i, n) if x[j] <= x[i] + period / 4]
            else:
                reach = None
            if reach:
                j = extreme(reach, lower)
                if (y[j] < y[i]) if lower else (y[j] > y[i]):
                    i = j
            out.append(i)
        mean[0].append(0.5 * (x[lo_i] + x[hi_i - 1]))
        mean[1].append(float(np.mean(y[lo_i:hi_i])))

    def points(idx, lower):
        idx = sorted(set(idx))
        away = lambda a, b: (y[b] - y[a]) if lower else (y[a] - y[b])

        def ramp(i, o, b):
            if o is None or b is None:
                return None
            first, second = away(i, o), away(o, b)
            if first > 0 and second >= 0.5 * first:
                return first * min(1.0, first / second)
            return None

        def step(i):
            before = i - 1 if i >= 1 else None
            after = i + 1 if i + 1 < n else None
            if any(j is not None and abs(away(i, j)) <= 2 * noise for j in (before, after)):
                return 0.0
            sides = [ramp(i, before, i - 2 if i >= 2 else None),
                     ramp(i, after, i + 2 if i + 2 < n else None)]
            sides = [s for s in sides if s is not None]
            return min(sides) if sides else 0.0

        return [float(x[i]) for i in idx], [float(y[i]) for i in idx], [step(i) for i in idx]

    return points(lows, True), points(highs, False), (mean[0], mean[1], [0.0] * len(mean[0]))


def fit_envelope(px, py, steps, conf):
    px, py, steps = np.asarray(px), np.asarray(py), np.asarray(steps)
    m = len(px)
    slope, intercept = ols(px, py)
    sxx = float(((px - px.mean()) ** 2).sum())
    sse = float(((py - intercept - slope * px) ** 2).sum())
    scatter = np.sqrt(sse / (m - 2))
    sampling = np.sqrt((steps ** 2).sum() / (12 * m))
    z = stats.norm.ppf(1 - (1 - conf) / 2) / np.sqrt(sxx)
    return {"slope": float(slope), "lo": float(slope - z * scatter), "hi": float(slope + z * scatter),
            "lo_sampled": float(slope - z * max(scatter, sampling)), "scatter": float(scatter),
            "sampling": float(sampling)}


STRAY_TROUGH = 4.0
TRIMMED_CYCLE = 0.75


def drop_stray_ends(x, y, period, bounds):
    """Hold the first and the last cycle's trough against the line of the troughs between
    them: stray when below every one of those and below their least-squares line by more
    than STRAY_TROUGH x max(their scatter, their sampling scatter, the noise). Judge both.
    A stray last cycle loses its run of stray samples at the end (the teardown) when what
    is left spans at least TRIMMED_CYCLE x the period and its minimum lies within
    STRAY_TROUGH x spread of the line, else it is dropped while more than MIN_PERIODS
    cycles remain; then the same for the first cycle and its stray samples at the start. Returns the bounds and the sample range [lo, hi) the envelopes look at."""
    bounds = list(bounds)
    n = len(x)
    (lx, ly, ls), _, _ = envelopes(x, y, bounds, period)
    m = len(lx)
    if m < MIN_PERIODS + 1 or m + 1 != len(bounds):
        return bounds, (0, n)
    ix, iy, st = lx[1:m - 1], ly[1:m - 1], ls[1:m - 1]
    fit = fit_envelope(ix, iy, st, 0.5)
    slope, intercept = ols(np.array(ix), np.array(iy))
    spread = max(fit["scatter"], fit["sampling"], noise_sd(y))
    below = lambda t, v: (intercept + slope * t) - v > STRAY_TROUGH * spread
    stray = lambda i: all(ly[i] < v for v in iy) and below(lx[i], ly[i])
    first, last = stray(0), stray(m - 1)
    at = lambda b: int(np.searchsorted(x, b, side="left"))

    def on_line(i0, i1):
        if i1 <= i0:
            return False
        i = i0 + int(np.argmin(y[i0:i1]))
        return abs(y[i] - intercept - slope * x[i]) <= STRAY_TROUGH * spread

    first_sample, end_sample = at(bounds[0]), at(bounds[m])
    lo, hi = 0, n
    keep = m
    if last:
        tail = 0
        for i in range(end_sample - 1, first_sample - 1, -1):
            if not below(x[i], y[i]):
                break
            tail += 1
        end = end_sample - tail
        cycle_start = at(bounds[m - 1])
        if (tail > 0 and end > cycle_start and x[end - 1] - bounds[m - 1] >= TRIMMED_CYCLE * period
                and on_line(cycle_start, end)):
            bounds[m] = float(x[end])
            hi = end
        elif keep > MIN_PERIODS:
            bounds.pop()
            keep -= 1
    if first:
        head = 0
        for i in range(first_sample, hi):
            if not below(x[i], y[i]):
                break
            head += 1
        start = first_sample + head
        cycle_end = at(bounds[1])
        if (head > 0 and start < cycle_end and bounds[1] - x[start] >= TRIMMED_CYCLE * period
                and on_line(start, cycle_end)):
            bounds[0] = float(x[start])
            lo = start
        elif keep > MIN_PERIODS:
            bounds.pop(0)
    return bounds, (lo, hi)


def churn_case(name, x, y, conf=0.99):
    case = {"name": name, "x": x.tolist(), "y": y.tolist(), "cycles": None}
    c = cycles(x, y)
    if c is None:
        return case
    period, acf, bounds = c
    case["cycles"] = {"period": float(period), "acf": float(acf),
                      "bounds": [float(b) if np.isfinite(b) else None for b in bounds]}
    bounds, (lo, hi) = drop_stray_ends(x, y, period, bounds)
    case["kept"] = [float(b) if np.isfinite(b) else None for b in bounds]
    case["kept_samples"] = [lo, hi]
    if len(bounds) - 1 >= MIN_PERIODS:
        lower, upper, mean = envelopes(x[lo:hi], y[lo:hi], bounds, period)
        case["envelopes"] = {}
        for key, (px, py, st) in (("lower", lower), ("upper", upper), ("mean", mean)):
            case["envelopes"][key] = {"x": px, "y": py, "step": st, **fit_envelope(px, py, st, conf)}
    return case


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
    series = [
        ("sawtooth_512k_sd16_leak_half", xm, 256 * MIB + 512.0 * xm + saw(xm, 512 * KIB, 50) + ar1(rng, m, 0.6, 16 * KIB)),
        ("sawtooth_512k_sd64_leak_2k", xm, 256 * MIB + 2048.0 * xm + saw(xm, 512 * KIB, 50) + ar1(rng, m, 0.6, 64 * KIB)),
        ("square_64m_flat", t, square),
        ("square_64m_leak_2m_per_s", t, square + 2 * MIB * t),
        ("ar1_only", xm, 256 * MIB + 512.0 * xm + ar1(rng, m, 0.6, 64 * KIB)),
    ]
    # More shapes from a generator of their own (the cases above keep their draws):
    # collector cycles of irregular length, respawned workers seen at two rates, four
    # sawtooth periods from an odd phase; RSS in whole pages.
    g = np.random.default_rng(20261207)
    page = 4096.0
    ts = np.arange(0.0, 8.0, 0.005) + 0.0021
    lengths = 0.8 + 0.4 * g.random(8)
    lengths *= 8.0 / lengths.sum()
    starts = np.concatenate([[0.0], np.cumsum(lengths)])
    j = np.searchsorted(starts, ts, "right") - 1
    gc = 200 * MIB + 1.5 * MIB * ts + 40 * MIB * (ts - starts[j]) / lengths[j]
    series.append(("gc_irregular_leak_1_5m_per_s", ts, np.round((gc + g.normal(0, 64 * KIB, len(ts))) / page) * page))
    phase = ts % 1.0
    workers = 100 * MIB + np.where(phase < 0.7, 30 * MIB * (0.3 + 0.7 * (1 - np.exp(-phase / 0.15))), 0.0)
    keep = (phase >= 0.7) | (np.arange(len(ts)) % 4 == 0)  # 50 Hz while the workers live
    series.append(("workers_flat_two_rates", ts[keep], np.round((workers[keep] + g.normal(0, 64 * KIB, keep.sum())) / page) * page))
    t4 = np.arange(0.0, 2.0, 0.005) + 0.0037
    series.append(("sawtooth_four_periods_offset", t4, np.round((64 * MIB + 8 * MIB * (((t4 + 0.17) % 0.5) / 0.5) + g.normal(0, 32 * KIB, len(t4))) / page) * page))
    # A program's start: its first samples at the interpreter's few MiB, then 64 MiB
    # square churn on a 14 MiB floor; and a last cycle torn down.
    tq = np.arange(0.0, 9.0, 0.05) + 0.003
    sq = 14 * MIB + 64 * MIB * (((tq - 0.1) % 0.55) < 0.25)
    sq[:2] = [0.85 * MIB, 6 * MIB]
    series.append(("square_with_startup", tq, np.round(sq / page) * page))
    sq_end = sq.copy()
    sq_end[-3:] = 2 * MIB
    series.append(("square_with_teardown", tq, np.round(sq_end / page) * page))
    # Both at once over five periods: respawned workers over a floor that leaks 2 MiB/s,
    # the interpreter's start-up under the first cycle and its teardown after the last.
    tw = np.arange(0.0, 7.55, 0.02) + 0.002
    ph = tw % 1.5
    ww = 15 * MIB + 2 * MIB * tw + np.where(ph < 1.4, 170 * MIB * np.minimum(ph / 1.0, 1.0), 0.0)
    ww[:6] = [0.3 * MIB, 3 * MIB, 3 * MIB, 6 * MIB, 10 * MIB, 9 * MIB]
    ww[-2:] = 14 * MIB
    series.append(("workers_start_and_teardown_leak_2m_per_s", tw, np.round(ww / page) * page))
    for name, cx, cy in series:
        churns.append(churn_case(name, np.asarray(cx, dtype=float), np.asarray(cy, dtype=float)))
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
