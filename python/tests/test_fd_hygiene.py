"""The runner sees EOF when the program exits, not when its last child does: forked and
exec'ed children must not hold the pipe. Real pipes, real processes."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import read_until_eof

from leakcheck import Probe


def alive(pid):
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_constructor_makes_the_fd_close_on_exec():
    read_fd, write_fd = os.pipe()
    os.set_inheritable(write_fd, True)
    try:
        Probe(write_fd)
        assert not os.get_inheritable(write_fd)
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_a_forked_child_closes_its_copy_of_the_pipe_and_goes_inert():
    read_fd, write_fd = os.pipe()
    status_read, status_write = os.pipe()
    probe = Probe(write_fd)
    pid = os.fork()
    if pid == 0:  # the child: say what it sees, write a mark that must go nowhere, linger
        try:
            try:
                os.fstat(write_fd)
                fd_open = True
            except OSError:
                fd_open = False
            probe.mark(1)
            os.write(status_write, json.dumps({"active": probe.active, "fd_open": fd_open}).encode())
            os.close(status_write)
            time.sleep(10)
        finally:
            os._exit(0)
    try:
        os.close(status_write)
        assert json.loads(read_until_eof(status_read, 10)) == {"active": False, "fd_open": False}
        assert probe.active
        probe.mark(0)
        os.close(write_fd)
        data = read_until_eof(read_fd, 5)  # EOF: the parent closed the only copy left
        assert alive(pid)
        assert [json.loads(line)["type"] for line in data.splitlines()] == ["hello", "mark"]
        assert json.loads(data.splitlines()[1])["iteration"] == 0
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_fd)
        os.close(status_read)


def test_a_fork_started_multiprocessing_worker_does_not_hold_the_pipe():
    """What a PyTorch DataLoader with workers does on Linux."""
    read_fd, write_fd = os.pipe()
    Probe(write_fd).mark(0)
    worker = multiprocessing.get_context("fork").Process(target=time.sleep, args=(10,))
    worker.start()
    try:
        os.close(write_fd)
        read_until_eof(read_fd, 5)
        assert worker.is_alive()
    finally:
        worker.kill()
        worker.join()
        os.close(read_fd)


# Runs under LEAKCHECK_FD: starts a long-lived child with close_fds=False (everything
# inheritable is inherited), prints its pid, and exits. With "inheritable" it first
# undoes the probe's close-on-exec: the control case, which must keep the pipe open.
SPAWNER = """
import os, subprocess, sys
import leakcheck
probe = leakcheck.Probe.from_env()
if sys.argv[1] == "inheritable":
    os.set_inheritable(int(os.environ["LEAKCHECK_FD"]), True)
probe.mark(0)
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(10)"],
    close_fds=False, stdout=subprocess.DEVNULL,
)
print(child.pid, flush=True)
probe.end()
"""


@pytest.mark.parametrize("mode", ["close-on-exec", "inheritable"])
def test_an_execed_child_does_not_hold_the_pipe(mode):
    read_fd, write_fd = os.pipe()
    spawner = subprocess.Popen(
        [sys.executable, "-c", SPAWNER, mode],
        env=dict(os.environ, LEAKCHECK_FD=str(write_fd)),
        pass_fds=(write_fd,),
        stdout=subprocess.PIPE,
        text=True,
    )
    os.close(write_fd)
    grandchild = None
    try:
        grandchild = int(spawner.stdout.readline())
        assert spawner.wait(timeout=30) == 0
        if mode == "inheritable":
            with pytest.raises(TimeoutError):
                read_until_eof(read_fd, 1.5)
        else:
            data = read_until_eof(read_fd, 5)
            assert [json.loads(line)["type"] for line in data.splitlines()] == ["hello", "mark", "end"]
        assert alive(grandchild)
    finally:
        if grandchild is not None:
            os.kill(grandchild, signal.SIGKILL)
        spawner.kill()
        spawner.wait()
        spawner.stdout.close()
        os.close(read_fd)


def test_a_forked_child_closes_the_pipe_of_a_probe_the_program_dropped():
    read_fd, write_fd = os.pipe()
    Probe(write_fd).mark(0)  # the probe is gone at once; the fd stays open
    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(10)
        finally:
            os._exit(0)
    try:
        os.close(write_fd)
        read_until_eof(read_fd, 5)
        assert alive(pid)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_fd)


def test_a_forked_child_keeps_a_file_that_reused_a_closed_pipes_number():
    """The child closes the runner's pipe only: not whatever now has its fd number."""
    read_fd, write_fd = os.pipe()
    Probe(write_fd)
    os.close(write_fd)
    os.close(read_fd)
    other_read, other_write = os.pipe()
    assert write_fd in (other_read, other_write), "expected the lowest free numbers to be reused"
    pid = os.fork()
    if pid == 0:
        try:
            os.write(other_write, b"still open")
        finally:
            os._exit(0)
    try:
        os.waitpid(pid, 0)
        os.close(other_write)
        assert read_until_eof(other_read, 5) == b"still open"
    finally:
        os.close(other_read)
