#!/usr/bin/env python3
"""Fast churn: a square wave of AMPLITUDE MiB held for DUTY of every PERIOD seconds
(period <= 0.25 s in the issue's sense), PERIODS times, then exits. With
--leak-mib-per-s the given rate is kept underneath, by time (not per cycle)."""

import time

from churnlib import MIB, Leak, parser, sleep_until, touched


def main():
    p = parser(__doc__)
    p.add_argument("--period", type=float, default=0.25, help="seconds per cycle")
    p.add_argument("--duty", type=float, default=0.5, help="fraction of the cycle the churn is held")
    p.add_argument("--amplitude-mib", type=float, default=40.0, help="MiB allocated and freed each cycle")
    p.add_argument("--periods", type=int, default=30, help="number of cycles")
    a = p.parse_args()
    leak = Leak(a.leak_mib_per_s)
    t0 = time.monotonic()
    for i in range(a.periods):
        start = t0 + i * a.period
        sleep_until(start, leak)
        buf = touched(a.amplitude_mib * MIB)
        sleep_until(start + a.duty * a.period, leak)
        buf.close()
        del buf
    sleep_until(t0 + a.periods * a.period, leak)


if __name__ == "__main__":
    main()
