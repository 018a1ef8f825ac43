"""Shared helpers: a real pipe whose read end is drained on a thread, as the runner drains it.

The tests use this folder's leakcheck, installed or not, in this process and in the
interpreters they start: the test environment need only have pytest.
"""

import json
import os
import select
import sys
import threading
import time

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PYTHON_DIR)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [PYTHON_DIR, os.environ.get("PYTHONPATH")]))


class PipeReader:
    """A pipe the probe writes to; a thread reads it so that writers never block."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        self._chunks = []
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self):
        while True:
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                return
            self._chunks.append(chunk)

    def close_write_end(self):
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def raw(self):
        """Everything written, once the write end is closed and the reader saw EOF."""
        self.close_write_end()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the pipe never reached EOF"
        return b"".join(self._chunks)

    def messages(self):
        """The lines written, each decoded as JSON (every line must end with a newline)."""
        data = self.raw()
        assert data == b"" or data.endswith(b"\n")
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]

    def close(self):
        self.close_write_end()
        self._thread.join(timeout=10)
        os.close(self.read_fd)


@pytest.fixture
def pipe():
    reader = PipeReader()
    yield reader
    reader.close()


def read_until_eof(fd, timeout_s):
    """Bytes read from ``fd`` until EOF; raises TimeoutError if EOF does not come in time."""
    deadline = time.monotonic() + timeout_s
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError(f"no EOF within {timeout_s} s (read {len(data)} bytes)")
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return data
        data += chunk
