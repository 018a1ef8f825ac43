"""The probe's wire lines and its behaviour when inert, misconfigured or cut off."""

import gc
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import types

import pytest

import leakcheck
from leakcheck import Probe

REQUIRED_STATS = {"py.blocks", "py.gc.gen0", "py.gc.gen1", "py.gc.gen2"}
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(autouse=True)
def no_leakcheck_env(monkeypatch):
    """Each test starts outside leakcheck, without tracemalloc."""
    monkeypatch.delenv("LEAKCHECK_FD", raising=False)
    monkeypatch.delenv("LEAKCHECK_TRACEMALLOC", raising=False)
    monkeypatch.delenv("LEAKCHECK_ATTRIBUTE", raising=False)
    assert not tracemalloc.is_tracing()
    yield
    tracemalloc.stop()


def statm_rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


def of_type(messages, kind):
    return [m for m in messages if m["type"] == kind]


# --- inert probes -------------------------------------------------------------------


def exercise(probe):
    """Every call a program makes; returns what checkpoint returned."""
    probe.mark(0)
    with probe.session(1, "one"):
        probe.mark(1)
    with pytest.raises(RuntimeError, match="body failed"):
        with probe.session(2, "two"):
            raise RuntimeError("body failed")
    checkpoint_id = probe.checkpoint("after release")
    probe.note("a note")
    probe.end()
    return checkpoint_id


def test_without_leakcheck_fd_the_probe_is_inert_and_silent(capsys):
    probe = Probe.from_env()
    assert not probe.active
    assert exercise(probe) is None
    assert capsys.readouterr() == ("", "")


def test_probe_without_fd_is_inert(capsys):
    probe = Probe()
    assert not probe.active
    assert exercise(probe) is None
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("value", ["abc", "-1", "", "3.5", " 7x"])
def test_a_value_that_is_not_a_number_is_named_on_one_stderr_line(monkeypatch, capsys, value):
    monkeypatch.setenv("LEAKCHECK_FD", value)
    probe = Probe.from_env()
    assert not probe.active
    exercise(probe)
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"LEAKCHECK_FD={value!r}" in err
    assert "expected a non-negative integer" in err


def test_an_fd_that_is_not_open_is_named_on_one_stderr_line(monkeypatch, capsys):
    fd = os.open(os.devnull, os.O_WRONLY)
    os.close(fd)  # a number that is certainly not open now
    monkeypatch.setenv("LEAKCHECK_FD", str(fd))
    probe = Probe.from_env()
    assert not probe.active
    exercise(probe)
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"LEAKCHECK_FD='{fd}' is not an open file descriptor" in err
    assert "expected the runner's pipe" in err


def test_a_non_integer_iteration_is_refused_whether_or_not_the_probe_is_active(pipe):
    """The same TypeError in and out of leakcheck, so a bug does not show only under it."""
    for probe in (Probe(), Probe(pipe.write_fd)):
        with pytest.raises(TypeError):
            probe.mark(1.5)
        with pytest.raises(TypeError):
            probe.session_start("1", "label")


# --- the lines ----------------------------------------------------------------------


def test_from_env_writes_hello_to_the_fd_and_makes_it_close_on_exec(monkeypatch, pipe):
    os.set_inheritable(pipe.write_fd, True)
    monkeypatch.setenv("LEAKCHECK_FD", str(pipe.write_fd))
    probe = Probe.from_env()
    assert probe.active
    assert not os.get_inheritable(pipe.write_fd)
    hello, = pipe.messages()
    assert hello == {"type": "hello", "version": 1, "pid": os.getpid(), "allocator": "python"}


def test_marks_carry_exactly_the_v1_fields(pipe):
    probe = Probe(pipe.write_fd)
    before = time.monotonic_ns()
    for iteration in range(3):
        probe.mark(iteration)
    after = time.monotonic_ns()
    hello, *marks = pipe.messages()
    assert hello["type"] == "hello"
    assert [m["iteration"] for m in marks] == [0, 1, 2]
    times = [m["t_ns"] for m in marks]
    assert before <= times[0] <= times[1] <= times[2] <= after
    for mark in marks:
        assert set(mark) == {"type", "iteration", "t_ns", "rss_bytes", "stats"}
        assert mark["type"] == "mark"
        assert set(mark["stats"]) == REQUIRED_STATS
        assert all(type(value) is int and value >= 0 for value in mark["stats"].values())


def test_rss_bytes_is_the_resident_size_in_statm(pipe):
    probe = Probe(pipe.write_fd)
    before = statm_rss_bytes()
    probe.mark(0)
    after = statm_rss_bytes()
    _, mark = pipe.messages()
    assert mark["rss_bytes"] % PAGE_SIZE == 0
    assert min(before, after) - (1 << 20) <= mark["rss_bytes"] <= max(before, after) + (1 << 20)


def test_rss_bytes_follows_memory_the_program_touches(pipe):
    probe = Probe(pipe.write_fd)
    probe.mark(0)
    touched = b"\x01" * (64 << 20)  # written, so every page is resident
    probe.mark(1)
    del touched
    _, first, second = pipe.messages()
    assert second["rss_bytes"] - first["rss_bytes"] >= 60 << 20


def test_py_blocks_counts_allocated_blocks(pipe):
    probe = Probe(pipe.write_fd)
    probe.mark(0)
    kept = [object() for _ in range(100_000)]
    time.sleep(0.05)  # past the time a reading stands for (see the next test)
    probe.mark(1)
    del kept
    time.sleep(0.05)
    probe.mark(2)
    before, holding, released = (m["stats"]["py.blocks"] for m in of_type(pipe.messages(), "mark"))
    assert abs(before - sys.getallocatedblocks()) < 100_000
    assert holding - before >= 100_000
    assert holding - released >= 100_000


def test_py_blocks_is_reread_once_its_last_reading_is_stale(monkeypatch, pipe):
    """On a big heap sys.getallocatedblocks() is slow (O(heap)): a reading that cost c
    stands for 20 c, and checkpoints always read afresh."""
    reads = []

    def slow_getallocatedblocks():
        time.sleep(0.005)  # stands for a heap of some 200,000 pools
        reads.append(sys.getallocatedblocks())
        return reads[-1]

    monkeypatch.setattr(leakcheck._probe, "_getallocatedblocks", slow_getallocatedblocks)
    monkeypatch.setattr(leakcheck._probe, "_blocks_stale_at_ns", 0)
    # The cost estimate may only double per reading; start it where it would have got to.
    monkeypatch.setattr(leakcheck._probe, "_blocks_cost_ns", 5_000_000)
    probe = Probe(pipe.write_fd)
    probe.mark(0)
    probe.mark(1)
    probe.mark(2)  # within 20 × 5 ms of the first read
    assert len(reads) == 1
    time.sleep(0.15)
    probe.mark(3)
    assert len(reads) == 2
    probe.checkpoint("fresh")
    assert len(reads) == 2 + 5
    blocks = [m["stats"]["py.blocks"] for m in pipe.messages()[1:]]
    assert blocks[:4] == [reads[0], reads[0], reads[0], reads[1]]
    assert blocks[4:] == reads[2:]


def test_py_gc_gen0_is_the_collectors_counter_not_an_object_total(pipe):
    probe = Probe(pipe.write_fd)
    gc.disable()
    try:
        gc.collect()
        probe.mark(0)
        kept = [[] for _ in range(500)]  # 500 new container objects
        probe.mark(1)
        gc.collect()
        probe.mark(2)
    finally:
        gc.enable()
    fresh, grown, collected = (m["stats"] for m in of_type(pipe.messages(), "mark"))
    assert grown["py.gc.gen0"] - fresh["py.gc.gen0"] >= 500
    assert collected["py.gc.gen0"] < 50  # reset by the collection, though `kept` lives on
    assert len(kept) == 500


def test_session_writes_start_and_end_even_when_the_body_raises(pipe):
    probe = Probe(pipe.write_fd)
    with probe.session(1, "train on 4 samples") as inside:
        assert inside is probe
        probe.mark(0)
    with pytest.raises(KeyError):
        with probe.session(2, "train on 8 samples"):
            raise KeyError("the body's own error")
    messages = pipe.messages()[1:]
    assert [(m["type"], m.get("event"), m.get("id")) for m in messages] == [
        ("session", "start", 1),
        ("mark", None, None),
        ("session", "end", 1),
        ("session", "start", 2),
        ("session", "end", 2),
    ]
    for message in of_type(messages, "session"):
        assert set(message) == {"type", "event", "id", "label", "t_ns"}
    assert messages[0]["label"] == "train on 4 samples"
    assert messages[4]["label"] == "train on 8 samples"


def test_checkpoint_sends_five_readings_under_one_id_each(pipe):
    probe = Probe(pipe.write_fd)
    first = probe.checkpoint("after release")  # ids count per process: other tests took some
    assert first >= 1
    assert probe.checkpoint("after the second release") == first + 1
    checkpoints = of_type(pipe.messages(), "checkpoint")
    assert [c["id"] for c in checkpoints] == [first] * 5 + [first + 1] * 5
    assert {c["label"] for c in checkpoints[:5]} == {"after release"}
    assert {c["label"] for c in checkpoints[5:]} == {"after the second release"}
    for checkpoint in checkpoints:
        assert set(checkpoint) == {"type", "id", "label", "t_ns", "rss_bytes", "stats"}
        assert set(checkpoint["stats"]) == REQUIRED_STATS
    first = [c["t_ns"] for c in checkpoints[:5]]
    gaps = [b - a for a, b in zip(first, first[1:])]
    assert all(gap >= 9_000_000 for gap in gaps), gaps


def test_checkpoint_collects_garbage_first(pipe):
    probe = Probe(pipe.write_fd)
    gc.disable()
    try:
        for _ in range(1000):
            cycle = []
            cycle.append(cycle)
        del cycle
        with_garbage = sys.getallocatedblocks()
        probe.checkpoint("quiet")
    finally:
        gc.enable()
    checkpoint = of_type(pipe.messages(), "checkpoint")[0]
    assert with_garbage - checkpoint["stats"]["py.blocks"] >= 1000


def test_note_and_end(pipe):
    probe = Probe(pipe.write_fd)
    probe.note("checkpoint written")
    probe.end()
    _, note, end = pipe.messages()
    assert set(note) == {"type", "text", "t_ns"} and note["text"] == "checkpoint written"
    assert set(end) == {"type", "t_ns"} and end["type"] == "end"
    assert note["t_ns"] <= end["t_ns"]


def test_labels_are_escaped_and_clipped_so_lines_stay_under_64_kib(pipe):
    probe = Probe(pipe.write_fd)
    tricky = 'quote " backslash \\ newline \n tab \t bell \x07 é 🦀 lone \udc80 surrogate'
    probe.note(tricky)
    probe.session_start(1, "x" * 100_000)
    probe.note("\x01" * 10_000)  # each escapes to six bytes
    raw = pipe.raw()
    lines = raw.split(b"\n")[:-1]
    assert all(len(line) < 64 * 1024 for line in lines)
    _, tricky_note, session, control_note = (json.loads(line) for line in lines)
    assert tricky_note["text"] == tricky.replace("\udc80", "?")
    assert session["label"] == "x" * 4096
    assert control_note["text"] == "\x01" * 4096


def test_integer_like_iterations_are_written_as_numbers(pipe):
    class Step:
        def __index__(self):
            return 41

    probe = Probe(pipe.write_fd)
    probe.mark(Step())
    _, step = pipe.messages()
    assert step["iteration"] == 41


# --- a runner that went away ----------------------------------------------------------


CLOSED_MESSAGE = (
    "leakcheck: the runner's pipe is closed (fd {fd}: {reason}); marks are off for the rest of this run\n"
)


def test_a_closed_pipe_turns_the_probe_inert_with_one_message(capsys):
    read_fd, write_fd = os.pipe()
    try:
        probe = Probe(write_fd)
        os.close(read_fd)
        probe.mark(0)
        assert not probe.active
        assert capsys.readouterr().err == CLOSED_MESSAGE.format(fd=write_fd, reason="Broken pipe")
        assert exercise(probe) is None
        assert capsys.readouterr().err == ""
    finally:
        os.close(write_fd)


def test_a_pipe_closed_before_hello_is_reported_by_the_constructor(capsys):
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    try:
        probe = Probe(write_fd)
        assert not probe.active
        exercise(probe)
        assert capsys.readouterr().err == CLOSED_MESSAGE.format(fd=write_fd, reason="Broken pipe")
    finally:
        os.close(write_fd)


def test_a_closed_fd_turns_the_probe_inert_with_one_message(capsys):
    read_fd, write_fd = os.pipe()
    probe = Probe(write_fd)
    os.close(write_fd)
    try:
        probe.note("to nowhere")
        assert not probe.active
        err = capsys.readouterr().err
        assert err == CLOSED_MESSAGE.format(fd=write_fd, reason="Bad file descriptor")
        probe.mark(1)
        assert capsys.readouterr().err == ""
    finally:
        os.close(read_fd)


# --- writes ---------------------------------------------------------------------------


def test_each_line_is_one_write(monkeypatch, pipe):
    real_write = os.write
    writes = []

    def recording_write(fd, data):
        if fd == pipe.write_fd:
            writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", recording_write)
    probe = Probe(pipe.write_fd)
    probe.mark(0)
    probe.checkpoint("c")
    probe.session_start(1, "s" * 5000)
    probe.end()
    monkeypatch.undo()
    assert len(writes) == 1 + 1 + 5 + 1 + 1
    assert all(w.endswith(b"\n") and w.count(b"\n") == 1 for w in writes)
    assert b"".join(writes) == pipe.raw()


def test_short_writes_are_completed(monkeypatch, pipe):
    """A pipe may take part of a line (a signal mid-write): the rest follows, in order."""
    real_write = os.write

    def short_write(fd, data):
        return real_write(fd, bytes(data[:7]) if fd == pipe.write_fd else data)

    monkeypatch.setattr(os, "write", short_write)
    probe = Probe(pipe.write_fd)
    probe.mark(0)
    probe.note("n" * 3000)
    monkeypatch.undo()
    hello, mark, note = pipe.messages()
    assert hello["type"] == "hello" and mark["iteration"] == 0 and note["text"] == "n" * 3000


def test_lines_from_many_threads_never_interleave(pipe):
    probe = Probe(pipe.write_fd)
    start = threading.Barrier(8)

    def marks(thread):
        start.wait()
        for i in range(2000):
            probe.mark(thread * 10_000 + i)

    threads = [threading.Thread(target=marks, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messages = pipe.messages()  # every line parses
    assert len(of_type(messages, "hello")) == 1
    marks_seen = of_type(messages, "mark")
    assert len(marks_seen) == 16_000
    assert sorted(m["iteration"] for m in marks_seen) == sorted(
        t * 10_000 + i for t in range(8) for i in range(2000)
    )
    times = [m["t_ns"] for m in marks_seen]
    assert times == sorted(times), "t_ns must follow the order of the lines"


# --- optional stats -------------------------------------------------------------------


def test_tracemalloc_true_starts_tracing_and_marks_carry_py_traced(pipe):
    probe = Probe(pipe.write_fd, tracemalloc=True)
    assert tracemalloc.is_tracing() and tracemalloc.get_traceback_limit() == 10
    kept = bytearray(1 << 20)
    probe.mark(0)
    _, mark = pipe.messages()
    assert set(mark["stats"]) == REQUIRED_STATS | {"py.traced"}
    assert mark["stats"]["py.traced"] >= len(kept)


def test_without_tracemalloc_marks_carry_no_py_traced(pipe):
    probe = Probe(pipe.write_fd)
    probe.mark(0)
    assert not tracemalloc.is_tracing()
    _, mark = pipe.messages()
    assert "py.traced" not in mark["stats"]


def test_tracing_started_by_the_program_is_reported_and_left_as_it_is(pipe):
    tracemalloc.start(1)
    probe = Probe(pipe.write_fd, tracemalloc=True)
    probe.mark(0)
    assert tracemalloc.get_traceback_limit() == 1
    _, mark = pipe.messages()
    assert "py.traced" in mark["stats"]


@pytest.mark.parametrize("setting, tracing", [("1", True), ("0", False), (None, False)])
def test_from_env_follows_leakcheck_tracemalloc(monkeypatch, pipe, setting, tracing):
    monkeypatch.setenv("LEAKCHECK_FD", str(pipe.write_fd))
    if setting is not None:
        monkeypatch.setenv("LEAKCHECK_TRACEMALLOC", setting)
    Probe.from_env()
    assert tracemalloc.is_tracing() == tracing


def fake_torch(is_initialized):
    """torch is not installed here: a module with the few attributes the probe reads
    stands in for it, to check when CUDA counters are sent and when they are not."""

    def initialized():
        if isinstance(is_initialized, Exception):
            raise is_initialized
        return is_initialized

    cuda = types.SimpleNamespace(
        is_initialized=initialized,
        memory_allocated=lambda: 123 << 20,
        memory_reserved=lambda: 256 << 20,
    )
    return types.SimpleNamespace(cuda=cuda)


def test_torch_cuda_counters_are_sent_once_cuda_is_initialised(monkeypatch, pipe):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(True))
    probe = Probe(pipe.write_fd)
    probe.mark(0)
    _, mark = pipe.messages()
    assert mark["stats"]["torch.cuda.allocated"] == 123 << 20
    assert mark["stats"]["torch.cuda.reserved"] == 256 << 20


@pytest.mark.parametrize("is_initialized", [False, RuntimeError("CUDA driver missing")])
def test_torch_without_initialised_cuda_adds_nothing_and_raises_nothing(monkeypatch, pipe, is_initialized):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(is_initialized))
    probe = Probe(pipe.write_fd)
    probe.mark(0)
    assert probe.active
    _, mark = pipe.messages()
    assert set(mark["stats"]) == REQUIRED_STATS


# --- the module ---------------------------------------------------------------------


def test_the_process_probe_is_one_from_env_probe(monkeypatch, pipe):
    monkeypatch.setattr(leakcheck._probe, "_process_probe", None)
    monkeypatch.setenv("LEAKCHECK_FD", str(pipe.write_fd))
    first = leakcheck.probe()
    assert first is leakcheck.probe()
    assert first.active
    assert len(of_type(pipe.messages(), "hello")) == 1


def test_version_matches_pyproject():
    pyproject = os.path.join(os.path.dirname(__file__), "..", "pyproject.toml")
    with open(pyproject, encoding="utf-8") as f:
        assert f'version = "{leakcheck.__version__}"' in f.read()
    assert leakcheck.__version__ == "0.1.0"



# Marks while an interval timer's handler writes notes: many land while a mark holds the
# lock. Prints the handler's calls, how many came during a mark, and the lines received.
SIGNALS_DURING_MARKS = """
import json, os, signal, threading
import leakcheck
read_fd, write_fd = os.pipe()
chunks = []
def drain():
    while True:
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            return
        chunks.append(chunk)
reader = threading.Thread(target=drain)
reader.start()
probe = leakcheck.Probe(write_fd)
calls = {"all": 0, "during_a_mark": 0}
def note_from_handler(signum, frame):
    calls["all"] += 1
    calls["during_a_mark"] += frame.f_code.co_filename.endswith("_probe.py")
    probe.note("from a signal handler")
signal.signal(signal.SIGALRM, note_from_handler)
signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
for i in range(30000):
    probe.mark(i)
signal.setitimer(signal.ITIMER_REAL, 0)
os.close(write_fd)
reader.join()
lines = [json.loads(line) for line in b"".join(chunks).decode().splitlines()]
print(json.dumps({**calls, "marks": sum(m["type"] == "mark" for m in lines),
                  "notes": sum(m["type"] == "note" for m in lines)}))
"""


def test_a_signal_handler_writing_during_a_mark_neither_deadlocks_nor_tears_lines():
    out = subprocess.run(
        [sys.executable, "-c", SIGNALS_DURING_MARKS], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    seen = json.loads(out)
    assert seen["during_a_mark"] > 0, seen  # else the test proved nothing
    assert seen["marks"] == 30000
    assert seen["notes"] == seen["all"]
