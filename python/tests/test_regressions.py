"""Regressions, each named after the bug it pins: real pipes, files and interpreters."""

import json
import os
import subprocess
import sys
import tracemalloc

import pytest
from conftest import read_until_eof

from leakcheck import Probe

REPLACED_MESSAGE = (
    "leakcheck: LEAKCHECK_FD {fd} no longer refers to leakcheck's pipe (closed or replaced); "
    "marks are no longer sent\n"
)


def run_python(program, *args, env_fd=None, pass_fds=(), **kwargs):
    """``program`` in a fresh interpreter, with ``LEAKCHECK_FD`` set to ``env_fd`` (str)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAKCHECK_")}
    if env_fd is not None:
        env["LEAKCHECK_FD"] = env_fd
    return subprocess.run(
        [sys.executable, "-c", program, *args],
        env=env, pass_fds=pass_fds, capture_output=True, text=True, timeout=60, **kwargs
    )


# --- 1. the client wrote into a user's file -------------------------------------------

# Marks 20 times, then closes the runner's pipe and puts its own file (or its own pipe)
# on that fd number, as a program that redirects its output does; then uses every call.
REPLACES_THE_FD = """
import os, sys
import leakcheck
fd = int(os.environ["LEAKCHECK_FD"])
probe = leakcheck.Probe.from_env()
for i in range(20):
    probe.mark(i)
os.close(fd)
if sys.argv[1] == "file":
    own = os.open(sys.argv[2], os.O_WRONLY | os.O_TRUNC)
    own_read = None
else:
    own_read, own = os.pipe()
if own != fd:
    os.dup2(own, fd)
    os.close(own)
os.write(fd, b"the program's first line\\n")
for i in range(20, 120):
    probe.mark(i)
with probe.session(1, "s"):
    probe.note("n")
probe.checkpoint("c")
probe.end()
os.write(fd, b"the program's last line\\n")
os.close(fd)
if own_read is not None:
    sys.stdout.buffer.write(os.read(own_read, 1 << 20))
print("active" if probe.active else "inert", file=sys.stderr)
"""


@pytest.mark.parametrize("traced", [False, True], ids=["plain", "tracemalloc"])  # two ways to check
@pytest.mark.parametrize("replacement", ["file", "pipe"])
def test_regression_client_writes_into_a_users_file_on_the_reused_fd(tmp_path, replacement, traced):
    users_file = tmp_path / "users_file"
    users_file.write_bytes(b"")
    read_fd, write_fd = os.pipe()
    wire_fd = write_fd
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", REPLACES_THE_FD, replacement, str(users_file)],
            env=dict(os.environ, LEAKCHECK_FD=str(write_fd), LEAKCHECK_TRACEMALLOC=str(int(traced))),
            pass_fds=(write_fd,), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        os.close(write_fd)
        write_fd = None
        wire = read_until_eof(read_fd, 30)
        out, err = child.communicate(timeout=60)
    finally:
        os.close(read_fd)
        if write_fd is not None:
            os.close(write_fd)
    assert child.returncode == 0, err
    users_data = users_file.read_bytes() if replacement == "file" else out
    assert users_data == b"the program's first line\nthe program's last line\n"
    lines = [json.loads(line) for line in wire.splitlines()]
    assert [m["type"] for m in lines] == ["hello"] + ["mark"] * 20
    assert [m["iteration"] for m in lines[1:]] == list(range(20))
    assert err.decode() == REPLACED_MESSAGE.format(fd=wire_fd) + "inert\n"


@pytest.mark.parametrize("traced", [False, True], ids=["plain", "tracemalloc"])
def test_regression_replaced_fd_warning_names_the_fd(tmp_path, capsys, traced):
    """The same, in this process: the exact stderr line, once, and the probe inert."""
    read_fd, write_fd = os.pipe()
    users_file = os.open(tmp_path / "users_file", os.O_WRONLY | os.O_CREAT)
    try:
        probe = Probe(write_fd, tracemalloc=traced)
        probe.mark(0)
        os.dup2(users_file, write_fd)
        probe.mark(1)
        probe.note("x")
        assert not probe.active
        assert capsys.readouterr().err == REPLACED_MESSAGE.format(fd=write_fd)
        assert (tmp_path / "users_file").read_bytes() == b""
    finally:
        tracemalloc.stop()
        os.close(write_fd)
        os.close(users_file)
        os.close(read_fd)


# --- 2. the client raised on a bad LEAKCHECK_FD ------------------------------------------

# Every call a program makes, then what it saw.
USES_EVERY_CALL = """
import json
import leakcheck
probe = leakcheck.Probe.from_env()
active = probe.active
probe.mark(0)
with probe.session(1, "s"):
    probe.mark(1)
checkpoint = probe.checkpoint("c")
probe.note("n")
probe.end()
print(json.dumps({"active": active, "checkpoint": checkpoint}))
"""


@pytest.mark.parametrize(
    "kind",
    ["2147483648", "99999999999999999999", pytest.param("1" * 5000, id="5000-digits"), "-1", "abc", "", "3.5",
     "not open", "regular file", "directory"],
)
def test_regression_bad_leakcheck_fd_makes_from_env_raise(tmp_path, kind):
    pass_fds = ()
    opened = None
    if kind == "not open":
        value = "987"  # a fresh interpreter has no fd 987 (and the soft limit is at least 1024)
    elif kind == "regular file":
        opened = os.open(tmp_path / "users_file", os.O_WRONLY | os.O_CREAT)
    elif kind == "directory":
        opened = os.open(tmp_path, os.O_RDONLY)
    else:
        value = kind
    if opened is not None:
        value, pass_fds = str(opened), (opened,)
    try:
        result = run_python(USES_EVERY_CALL, env_fd=value, pass_fds=pass_fds)
    finally:
        if opened is not None:
            os.close(opened)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"active": False, "checkpoint": None}
    # One line, naming the value and what was expected.
    assert result.stderr.count("\n") == 1, result.stderr[-2000:]
    assert result.stderr.startswith(f"leakcheck: LEAKCHECK_FD={value!r} "), result.stderr[:300]
    assert "expected" in result.stderr and result.stderr.endswith("marks are off\n")
    if kind == "regular file":
        assert (tmp_path / "users_file").read_bytes() == b""


@pytest.mark.parametrize("fd", [2**31, 2**40, -1])
def test_regression_probe_on_an_out_of_range_fd_raises(capsys, fd):
    """``Probe(fd)`` with an fd past a C int raised OverflowError; like -1, it now gives
    an inert probe and one stderr line."""
    probe = Probe(fd)
    assert not probe.active
    probe.mark(0)
    probe.end()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"leakcheck: the runner's pipe is closed (fd {fd}: "), err


# --- 3. mark accepted iterations the wire cannot carry ------------------------------------


@pytest.mark.parametrize("active", [False, True])
def test_regression_mark_accepts_negative_and_non_integer_iterations(pipe, active):
    """The wire's iteration (and session id) is a u64: anything else is the caller's bug,
    refused the same way in and out of leakcheck, and nothing is written for it."""
    probe = Probe(pipe.write_fd) if active else Probe()
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match=rf"iteration must be a non-negative integer .*, not {bad}$"):
            probe.mark(bad)
    for bad in (1.5, "3", True, False, None):
        with pytest.raises(TypeError, match=r"iteration must be a non-negative integer .*, not " + repr(bad)):
            probe.mark(bad)
    with pytest.raises(ValueError, match=r"session id must be a non-negative integer .*, not -1$"):
        probe.session_start(-1, "s")
    with pytest.raises(TypeError, match=r"session id must be a non-negative integer"):
        probe.session_end(True, "s")
    probe.mark(0)
    probe.mark(2**64 - 1)
    messages = pipe.messages()
    if active:
        assert [(m["type"], m.get("iteration")) for m in messages] == [
            ("hello", None), ("mark", 0), ("mark", 2**64 - 1)
        ]
    else:
        assert messages == []


# --- 4. LEAKCHECK_FD naming a standard stream made it close-on-exec -------------------------

# The runner's pipe is this program's stream N: from_env must leave it inheritable, and
# exec-ed and forked children must still have it.
USES_A_STANDARD_STREAM = """
import fcntl, json, os, subprocess, sys
import leakcheck
fd = int(os.environ["LEAKCHECK_FD"])
probe = leakcheck.Probe.from_env()
seen = {"inheritable": os.get_inheritable(fd),
        "cloexec": bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)}
probe.mark(0)
seen["execed_child_has_it"] = subprocess.run(
    [sys.executable, "-c", "import os, sys; os.fstat(int(sys.argv[1]))", str(fd)],
    stderr=subprocess.DEVNULL,
).returncode == 0
pid = os.fork()
if pid == 0:
    try:
        os.fstat(fd)
        os._exit(0)
    finally:
        os._exit(1)
seen["forked_child_has_it"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
probe.end()
with open(sys.argv[1], "w") as f:
    json.dump(seen, f)
"""


@pytest.mark.parametrize("fd", [0, 1, 2])
def test_regression_leakcheck_fd_on_a_standard_stream_made_close_on_exec(tmp_path, fd):
    seen_path = tmp_path / "seen.json"
    # Each stream a pipe, as under the runner with its output captured (stdin: the read end).
    result = run_python(USES_A_STANDARD_STREAM, str(seen_path), env_fd=str(fd), stdin=subprocess.PIPE)
    assert result.returncode == 0, result.stderr
    assert json.loads(seen_path.read_text()) == {
        "inheritable": True, "cloexec": False, "execed_child_has_it": True, "forked_child_has_it": True,
    }
    if fd != 0:  # the write end of a pipe: the probe wrote to it
        wire = result.stdout if fd == 1 else result.stderr
        assert [json.loads(line)["type"] for line in wire.splitlines()] == ["hello", "mark", "end"]


# --- 5. two probes in one process collided on checkpoint ids -----------------------------


def test_regression_two_probes_reuse_checkpoint_ids(monkeypatch, pipe):
    monkeypatch.setenv("LEAKCHECK_FD", str(pipe.write_fd))
    first, second = Probe.from_env(), Probe.from_env()
    returned = [first.checkpoint("a1"), second.checkpoint("b1"), first.checkpoint("a2"), second.checkpoint("b2")]
    assert len(set(returned)) == 4, returned
    checkpoints = [m for m in pipe.messages() if m["type"] == "checkpoint"]
    assert [c["id"] for c in checkpoints] == [i for i in returned for _ in range(5)]
    assert [c["label"] for c in checkpoints[::5]] == ["a1", "b1", "a2", "b2"]
