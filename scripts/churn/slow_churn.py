#!/usr/bin/env python3
"""Slow churn: every PERIOD seconds (>= 1 s) fill AMPLITUDE MiB in STEPS steps over
DUTY of the period, free it all at once, and rest at the baseline for the remainder;
PERIODS times (5-10 in the issue), then exit. With --leak-mib-per-s the given rate is
kept underneath, by time."""

import time

from churnlib import MIB, Leak, parser, sleep_until, touched


def main():
    p = parser(__doc__)
    p.add_argument("--period", type=float, default=1.5, help="seconds per cycle")
    p.add_argument("--duty", type=float, default=0.6, help="fraction of the cycle spent filling and holding")
    p.add_argument("--amplitude-mib", type=float, default=60.0, help="MiB filled each cycle")
    p.add_argument("--steps", type=int, default=12, help="allocations the fill is made of")
    p.add_argument("--periods", type=int, default=8, help="number of cycles")
    a = p.parse_args()
    leak = Leak(a.leak_mib_per_s)
    t0 = time.monotonic()
    step_bytes = a.amplitude_mib * MIB / a.steps
    for i in range(a.periods):
        start = t0 + i * a.period
        held = []
        for s in range(a.steps):
            sleep_until(start + s * a.duty * a.period / a.steps, leak)
            held.append(touched(step_bytes))
        sleep_until(start + a.duty * a.period, leak)
        for m in held:
            m.close()
        del held
    sleep_until(t0 + a.periods * a.period, leak)


if __name__ == "__main__":
    main()
