#!/usr/bin/env python3
"""Non-persistent workers re-forked each epoch (a data loader with
persistent_workers=False): every EPOCH seconds the parent forks WORKERS children
(os.fork); each grows to AMPLITUDE MiB in steps over GROW of the epoch, holds, and
exits at the epoch's end; the parent waits for them. EPOCHS epochs, then exit. With
--leak-mib-per-s the parent keeps that rate for good (the children do not add to it)."""

import os
import time

from churnlib import MIB, Leak, parser, sleep_until, touched


def worker(start, a):
    # The child must not top up the parent's leak: give it a flat one.
    flat = Leak(0)
    held = []
    step_bytes = a.amplitude_mib * MIB / a.steps
    for s in range(a.steps):
        sleep_until(start + s * a.grow * a.epoch / a.steps, flat)
        held.append(touched(step_bytes))
    sleep_until(start + 0.95 * a.epoch, flat)
    os._exit(0)


def main():
    p = parser(__doc__)
    p.add_argument("--epoch", type=float, default=1.0, help="seconds per epoch")
    p.add_argument("--workers", type=int, default=2, help="workers forked each epoch")
    p.add_argument("--amplitude-mib", type=float, default=30.0, help="MiB each worker grows by")
    p.add_argument("--grow", type=float, default=0.6, help="fraction of the epoch a worker spends growing")
    p.add_argument("--steps", type=int, default=8, help="allocations a worker's growth is made of")
    p.add_argument("--epochs", "--periods", dest="epochs", type=int, default=8, help="number of epochs")
    a = p.parse_args()
    leak = Leak(a.leak_mib_per_s)
    t0 = time.monotonic()
    for e in range(a.epochs):
        start = t0 + e * a.epoch
        sleep_until(start, leak)
        pids = []
        for _ in range(a.workers):
            pid = os.fork()
            if pid == 0:
                worker(start, a)
            pids.append(pid)
        # Reap the epoch's workers while keeping the leak going.
        while pids:
            leak.tick()
            for pid in list(pids):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    pids.remove(pid)
            if pids:
                time.sleep(0.01)
    sleep_until(t0 + a.epochs * a.epoch, leak)


if __name__ == "__main__":
    main()
