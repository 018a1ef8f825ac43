#!/usr/bin/env python3
"""A program that never marks: N iterations of a small pure-Python loop (a fixed amount of
work, so that its wall time shows any slowdown). `--calibrate SECONDS` prints the N that
takes about that long here instead."""

import argparse
import time


def work(n):
    total = 0
    for i in range(n):
        total += i & 7
    return total


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--iterations", type=int, default=0)
    p.add_argument("--calibrate", type=float, default=0.0)
    a = p.parse_args()
    if a.calibrate > 0:
        n, t0 = 2_000_000, time.monotonic()
        work(n)
        print(int(n * a.calibrate / (time.monotonic() - t0)))
        return
    work(a.iterations)


if __name__ == "__main__":
    main()
