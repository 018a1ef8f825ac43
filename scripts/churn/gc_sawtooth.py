#!/usr/bin/env python3
"""GC-cycle sawtooth: reference cycles, each holding a BUFFER-MiB buffer, are made and
dropped at once (unreachable, yet alive), with the cyclic GC disabled; when the garbage
reaches AMPLITUDE MiB, gc.collect() frees it all. The rate is set so one saw takes
PERIOD seconds; PERIODS saws, then exit. With --leak-mib-per-s the given rate is kept
underneath, by time."""

import gc
import time

from churnlib import MIB, Leak, parser, sleep_until, touched


class Node:
    def __init__(self, buf):
        self.buf = buf
        self.me = self  # a reference cycle: only the cyclic GC can free it


def main():
    p = parser(__doc__)
    p.add_argument("--period", type=float, default=1.0, help="seconds per saw")
    p.add_argument("--amplitude-mib", type=float, default=300.0, help="garbage that triggers a collection")
    p.add_argument("--buffer-mib", type=float, default=4.0, help="MiB held by each cycle")
    p.add_argument("--periods", type=int, default=6, help="number of saws")
    a = p.parse_args()
    gc.disable()
    leak = Leak(a.leak_mib_per_s)
    per_saw = max(1, int(round(a.amplitude_mib / a.buffer_mib)))
    t0 = time.monotonic()
    for i in range(a.periods):
        start = t0 + i * a.period
        for k in range(per_saw):
            sleep_until(start + k * a.period / per_saw, leak)
            Node(touched(a.buffer_mib * MIB))  # dropped at once: garbage in a cycle
        sleep_until(start + a.period, leak)
        gc.collect()
    sleep_until(t0 + a.periods * a.period, leak)


if __name__ == "__main__":
    main()
