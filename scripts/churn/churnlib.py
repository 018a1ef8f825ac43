"""Shared pieces of the churn programs (issue 21, item 5): standard library only.

Churning memory lives in anonymous mmaps, written into on every page, so that it is
resident while held and goes back to the kernel the moment it is dropped (a large
bytearray freed by glibc can stay in the heap once the dynamic mmap threshold has
risen, which would flatten the sawtooth). The leak underneath is a list of touched
bytearrays that grows with the wall clock, not with the cycles.
"""

import argparse
import mmap
import time

MIB = 1 << 20
_PAGE = mmap.PAGESIZE
_FILL = b"\x5a" * MIB


def touched(nbytes):
    """An anonymous mapping of nbytes with every page written (resident)."""
    nbytes = max(_PAGE, int(nbytes))
    m = mmap.mmap(-1, nbytes)
    off = 0
    while off < nbytes:
        n = min(MIB, nbytes - off)
        m[off:off + n] = _FILL[:n]
        off += n
    return m


class Leak:
    """Keeps rate MiB/s of touched memory alive, topped up by time (call tick often)."""

    def __init__(self, mib_per_s, chunk=256 * 1024):
        self.rate = float(mib_per_s) * MIB
        self.chunk = chunk
        self.kept = []
        self.held = 0
        self.start = time.monotonic()

    def tick(self):
        if self.rate <= 0:
            return
        due = self.rate * (time.monotonic() - self.start)
        while self.held + self.chunk <= due:
            self.kept.append(bytearray(b"\x5a") * self.chunk)
            self.held += self.chunk


def sleep_until(deadline, leak, step=0.01):
    """Sleep until the monotonic deadline, topping the leak up every step seconds."""
    while True:
        leak.tick()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(step, left))


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--leak-mib-per-s", type=float, default=0.0,
                   help="memory kept for good per second, underneath the churn (0: flat)")
    return p
