"""Allocation-site attribution: real tracemalloc, real pipes, real child programs."""

import copy
import json
import os
import subprocess
import sys
import textwrap
import threading
import tracemalloc

import pytest

import leakcheck
from leakcheck import Probe, _attribution

PACKAGE_DIR = os.path.dirname(os.path.abspath(leakcheck.__file__))
THIS_FILE = os.path.abspath(__file__)
ENV_NAMES = ("LEAKCHECK_FD", "LEAKCHECK_TRACEMALLOC", "LEAKCHECK_ATTRIBUTE", "LEAKCHECK_ATTRIBUTE_FROM")


@pytest.fixture(autouse=True)
def no_leakcheck_env(monkeypatch):
    """Each test starts outside leakcheck, without tracemalloc."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    assert not tracemalloc.is_tracing()
    yield
    tracemalloc.stop()


def of_type(messages, kind):
    return [m for m in messages if m["type"] == kind]


def line_of(source, marker):
    """The 1-based number of the one line of ``source`` that holds ``marker``."""
    numbers = [n for n, line in enumerate(source.splitlines(), 1) if marker in line]
    assert len(numbers) == 1, numbers
    return numbers[0]


def run_program(pipe, path, attribute=True, **env):
    """Runs ``path`` with the pipe in LEAKCHECK_FD; its completed process and lines."""
    environment = {key: value for key, value in os.environ.items() if key not in ENV_NAMES}
    environment["LEAKCHECK_FD"] = str(pipe.write_fd)
    if attribute:
        environment["LEAKCHECK_ATTRIBUTE"] = "1"
    environment.update(env)
    done = subprocess.run(
        [sys.executable, str(path)], pass_fds=[pipe.write_fd], env=environment,
        capture_output=True, text=True, timeout=120,
    )
    return done, pipe.messages()


# A leak of 24 KiB a mark on one line, churn (temporaries built and dropped) elsewhere.
LEAKY_PROGRAM = '''\
import sys
import tracemalloc

import leakcheck

probe = leakcheck.Probe.from_env()
kept = []


def churn(i):
    rows = [{"id": j, "name": "row%d" % j, "tags": [j, -j]} for j in range(60)]
    text = ",".join(str(j) for j in range(300))
    return len(rows) + len(text)


def train_step(i):
    churn(i)
    kept.append(b"x" * 24576)  # THE LEAK


def main():
    for i in range(200):
        train_step(i)
        probe.mark(i)
    probe.end()
    print("tracing" if tracemalloc.is_tracing() else "not tracing")


main()
'''


def test_the_top_site_is_the_leaking_line_with_its_function_and_size(pipe, tmp_path):
    program = tmp_path / "prog.py"
    program.write_text(LEAKY_PROGRAM)
    done, messages = run_program(pipe, program)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == "tracing\n"
    reports = of_type(messages, "attribution")
    assert reports, messages[-3:]
    last = reports[-1]
    assert (last["method"], last["from_iteration"], last["to_iteration"], last["marks"]) == ("tracemalloc", 9, 199, 190)
    assert last["frames"] == 10
    top = last["sites"][0]
    location = f"{program}:{line_of(LEAKY_PROGRAM, 'THE LEAK')}"
    assert top["location"] == location
    assert top["function"] == "train_step"
    per_mark = 24576 + (sys.getsizeof(b"x" * 24576) - 24576)  # the bytes object's header too
    assert 0.8 * per_mark <= top["bytes"] / last["marks"] <= 1.2 * per_mark, top
    assert top["blocks"] >= last["marks"]
    assert top["stack"][0] == f"{location} in train_step"
    assert top["stack"][1].startswith(f"{program}:") and top["stack"][1].endswith(" in main")
    assert top["stack"][2].endswith(" in <module>")
    # The churn frees what it builds: far below the leak, if it shows at all.
    assert sum(site["bytes"] for site in last["sites"][1:]) < 0.05 * top["bytes"]
    assert sorted((s["bytes"] for s in last["sites"]), reverse=True) == [s["bytes"] for s in last["sites"]]
    assert all(s["bytes"] > 0 for s in last["sites"]) and len(last["sites"]) <= 20


def test_without_leakcheck_attribute_there_is_no_attribution_and_no_tracing(pipe, tmp_path):
    program = tmp_path / "prog.py"
    program.write_text(LEAKY_PROGRAM)
    done, messages = run_program(pipe, program, attribute=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "not tracing\n"
    assert not of_type(messages, "attribution")
    assert len(of_type(messages, "mark")) == 200
    assert "py.traced" not in of_type(messages, "mark")[-1]["stats"]


def test_an_inert_probe_does_not_trace_even_when_asked_to_attribute(monkeypatch):
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE", "1")
    probe = Probe.from_env()
    assert not probe.active
    Probe(attribute=True).mark(0)
    assert not tracemalloc.is_tracing()


@pytest.mark.parametrize("setting, tracing", [("1", True), ("0", False), (None, False)])
def test_from_env_follows_leakcheck_attribute(monkeypatch, pipe, setting, tracing):
    monkeypatch.setenv("LEAKCHECK_FD", str(pipe.write_fd))
    if setting is not None:
        monkeypatch.setenv("LEAKCHECK_ATTRIBUTE", setting)
    probe = Probe.from_env()
    assert tracemalloc.is_tracing() == tracing
    for i in range(25):
        probe.mark(i)
    assert bool(of_type(pipe.messages(), "attribution")) == tracing


def test_leakcheck_attribute_from_and_the_doubling_schedule(monkeypatch, pipe):
    """Baseline after the 5th mark; reports after marks 10, 20, 40, 80 and at end(),
    each right after its mark and covering the baseline to it."""
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "5")
    probe = Probe(pipe.write_fd, attribute=True)
    kept = []
    for i in range(100):
        # Far more than the test's pipe reader holds: its pending os.read() is 64 KiB.
        kept.append(bytearray(20_000))
        probe.mark(1000 + i)  # iterations that are not mark counts
    probe.end()
    messages = pipe.messages()[1:]
    reports = of_type(messages, "attribution")
    assert [r["to_iteration"] for r in reports] == [1009, 1019, 1039, 1079, 1099]
    assert {r["from_iteration"] for r in reports} == {1004}
    assert [r["marks"] for r in reports] == [5, 15, 35, 75, 95]
    # Each report follows the mark it was taken at; the last one comes before "end".
    for report in reports[:-1]:
        before = messages[messages.index(report) - 1]
        assert before["type"] == "mark" and before["iteration"] == report["to_iteration"]
    assert [m["type"] for m in messages[-2:]] == ["attribution", "end"]
    times = [m["t_ns"] for m in messages]
    assert times == sorted(times)
    for report in reports:
        top = report["sites"][0]
        assert top["location"].startswith(THIS_FILE + ":")
        assert top["function"] == "test_leakcheck_attribute_from_and_the_doubling_schedule"
        assert 20_000 <= top["bytes"] / report["marks"] <= 21_000


def test_attribute_from_given_to_the_constructor_wins_over_the_environment(monkeypatch, pipe):
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "5")
    probe = Probe(pipe.write_fd, attribute=True, attribute_from=3)
    for i in range(6):
        probe.mark(i)
    report, = of_type(pipe.messages(), "attribution")
    assert (report["from_iteration"], report["to_iteration"], report["marks"]) == (2, 5, 3)
    with pytest.raises(ValueError):
        Probe(attribute_from=0)
    with pytest.raises(TypeError):
        Probe(attribute_from="3")


def test_nothing_is_sent_without_a_mark_after_the_baseline(monkeypatch, pipe):
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "5")
    short = Probe(pipe.write_fd, attribute=True)
    for i in range(3):
        short.mark(i)
    short.end()  # no baseline yet
    exact = Probe(pipe.write_fd, attribute=True)
    for i in range(5):
        exact.mark(i)
    exact.end()  # the baseline, and no mark after it
    exact.end()
    assert not of_type(pipe.messages(), "attribution")


def test_no_report_after_end(monkeypatch, pipe):
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "2")
    probe = Probe(pipe.write_fd, attribute=True)
    for i in range(3):
        probe.mark(i)
    probe.end()
    for i in range(3, 20):
        probe.mark(i)
    probe.end()
    messages = pipe.messages()
    assert len(of_type(messages, "attribution")) == 1
    assert len(of_type(messages, "mark")) == 20


@pytest.mark.parametrize("value", ["ten", "0", "-2", "", "1.5"])
def test_a_bad_leakcheck_attribute_from_is_named_once_and_the_default_used(monkeypatch, capsys, pipe, value):
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", value)
    probe = Probe(pipe.write_fd, attribute=True)
    for i in range(25):
        probe.mark(i)
    probe.end()
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"LEAKCHECK_ATTRIBUTE_FROM={value!r} is not a positive integer" in err
    assert "using 10" in err
    reports = of_type(pipe.messages(), "attribution")
    assert [r["from_iteration"] for r in reports] == [9, 9]
    assert [r["to_iteration"] for r in reports] == [19, 24]


def test_a_bad_leakcheck_attribute_from_is_ignored_when_attribution_is_off(monkeypatch, capsys, pipe):
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "ten")
    Probe(pipe.write_fd).mark(0)
    assert capsys.readouterr().err == ""


# --- where a site is --------------------------------------------------------------------


def leak_json(kept, value):
    kept.append(json.dumps(value))  # the string is made inside json/encoder.py


def leak_deepcopy(kept, value):
    kept.append(copy.deepcopy(value))  # the lists are made inside copy.py


def first_body_line(function):
    return function.__code__.co_firstlineno + 1


def test_a_leak_made_inside_the_stdlib_is_the_programs_line_that_called_it(monkeypatch, pipe):
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "3")
    probe = Probe(pipe.write_fd, attribute=True)
    kept = []
    big = {"values": list(range(4000))}  # about 23 KB of JSON
    nested = [[i, i + 1] for i in range(100)]
    for i in range(40):
        leak_json(kept, big)
        leak_deepcopy(kept, nested)
        probe.mark(i)
    probe.end()
    report = of_type(pipe.messages(), "attribution")[-1]
    by_location = {site["location"]: site for site in report["sites"]}
    json_site = by_location[f"{THIS_FILE}:{first_body_line(leak_json)}"]
    assert json_site["function"] == "leak_json"
    assert json_site["bytes"] / report["marks"] >= len(json.dumps(big))
    # The allocation itself happened in the stdlib, the most recent frame of its stack.
    assert os.path.basename(json_site["stack"][0].split(":")[0]) == "encoder.py"
    assert f"{THIS_FILE}:{first_body_line(leak_json)} in leak_json" in json_site["stack"]
    copy_site = by_location[f"{THIS_FILE}:{first_body_line(leak_deepcopy)}"]
    assert copy_site["function"] == "leak_deepcopy"
    assert os.path.basename(copy_site["stack"][0].split(":")[0]) == "copy.py"
    assert report["sites"][0] == json_site  # the biggest


def test_the_clients_own_allocations_are_left_out(monkeypatch, pipe):
    """Between the baseline and the report the client keeps memory of its own (every
    probe made registers its fd for the fork handler; attribution caches parsed files)."""
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "2")
    probe = Probe(pipe.write_fd, attribute=True)
    fds = []
    kept = []
    try:
        probe.mark(0)
        probe.mark(1)  # the baseline
        before = tracemalloc.take_snapshot()
        for i in range(2, 66):
            fds.append(os.dup(pipe.write_fd))
            Probe(fds[-1]).note("x" * 3000)  # a probe the program drops at once
            probe.note("n" * 3000)
            kept.append(bytearray(20_000))
            probe.mark(i)
        after = tracemalloc.take_snapshot()
        probe.end()
    finally:
        for fd in fds:
            os.close(fd)
            leakcheck._probe._runner_pipes.pop(fd, None)
    # Unfiltered, tracemalloc does see the client grow (so there was something to leave out).
    client_growth = sum(
        stat.size_diff for stat in after.compare_to(before, "traceback")
        if stat.traceback[-1].filename.startswith(PACKAGE_DIR + os.sep)
    )
    assert client_growth > 0
    reports = of_type(pipe.messages(), "attribution")
    assert len(reports) == 6  # marks 4, 8, 16, 32, 64 and end()
    for report in reports:
        for site in report["sites"]:
            assert not site["location"].startswith(PACKAGE_DIR), site
            assert not [frame for frame in site["stack"] if frame.startswith(PACKAGE_DIR)], site
    top = reports[-1]["sites"][0]
    assert top["location"].startswith(THIS_FILE + ":")
    assert top["function"] == "test_the_clients_own_allocations_are_left_out"


UNPARSABLE_PROGRAM = '''\
import leakcheck

probe = leakcheck.Probe.from_env()
with open(__file__, "w") as f:  # from now on the file cannot be parsed
    f.write("def (:\\n")
kept = []


def step():
    kept.append(bytearray(5000))  # THE LEAK


for i in range(40):
    step()
    probe.mark(i)
probe.end()
'''


def test_a_file_that_cannot_be_parsed_gives_function_question_mark(pipe, tmp_path):
    program = tmp_path / "prog.py"
    program.write_text(UNPARSABLE_PROGRAM)
    done, messages = run_program(pipe, program)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    top = of_type(messages, "attribution")[-1]["sites"][0]
    assert top["location"] == f"{program}:{line_of(UNPARSABLE_PROGRAM, 'THE LEAK')}"
    assert top["function"] == "?"
    assert top["stack"][0] == f"{top['location']} in ?"
    assert of_type(messages, "end")


def test_a_file_that_is_gone_gives_function_question_mark(tmp_path):
    assert _attribution.function_name(str(tmp_path / "gone.py"), 3) == "?"
    assert _attribution.function_name("<frozen importlib._bootstrap>", 3) == "?"


def test_function_names_are_the_innermost_enclosing_scope(tmp_path):
    source = textwrap.dedent('''\
        import os                       # 1
        class Model:                    # 2
            size = 3                    # 3
            def forward(self, x):       # 4
                y = x + 1               # 5
                def helper():           # 6
                    return y            # 7
                return helper()         # 8
            class Inner:                # 9
                async def run(self):    # 10
                    pass                # 11
            after = 1                   # 12
        @staticmethod                   # 13
        def top(a,                      # 14
                b):                     # 15
            return [i for i in a]       # 16
        x = 1                           # 17
        ''')
    path = tmp_path / "scopes.py"
    path.write_text(source)
    expected = {
        1: "<module>", 2: "Model", 3: "Model", 4: "Model.forward", 5: "Model.forward",
        6: "Model.forward.<locals>.helper", 7: "Model.forward.<locals>.helper", 8: "Model.forward",
        9: "Model.Inner", 10: "Model.Inner.run", 11: "Model.Inner.run", 12: "Model",
        13: "<module>", 14: "top", 15: "top", 16: "top", 17: "<module>", 99: "<module>",
    }
    assert {line: _attribution.function_name(str(path), line) for line in expected} == expected


# --- the message --------------------------------------------------------------------


def test_frames_is_the_traceback_limit_of_tracing_the_program_started(monkeypatch, pipe):
    tracemalloc.start(3)
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "2")
    probe = Probe(pipe.write_fd, attribute=True)
    kept = []
    for i in range(4):
        kept.append(bytearray(10_000))
        probe.mark(i)
    assert tracemalloc.get_traceback_limit() == 3
    report, = of_type(pipe.messages(), "attribution")
    assert report["frames"] == 3
    assert all(len(site["stack"]) <= 3 for site in report["sites"])


def test_lines_stay_under_60_kib_cutting_stacks_then_the_smallest_sites():
    sites = [
        {"location": f"/p/{n}.py:1", "function": "f", "bytes": 1000 - n, "blocks": 1,
         "stack": [f"/{'d' * 900}/{n}.py:{k} in f" for k in range(15)]}
        for n in range(20)
    ]
    head, tail = _attribution.message_parts(9, 399, 390, 15, sites)
    line = head + b"%d" % (2**63 - 1) + tail
    assert len(line) < 60 * 1024 and line.endswith(b"}\n") and line.count(b"\n") == 1
    message = json.loads(line)
    kept = message["sites"]
    assert 3 <= len(kept) < 20
    assert [s["location"] for s in kept] == [s["location"] for s in sites[: len(kept)]]
    assert all(len(s["stack"]) == 10 for s in kept)
    assert kept[0]["stack"] == sites[0]["stack"][:10]
    assert (message["type"], message["method"], message["from_iteration"], message["to_iteration"],
            message["marks"], message["frames"]) == ("attribution", "tracemalloc", 9, 399, 390, 15)
    assert list(message) == ["type", "method", "from_iteration", "to_iteration", "marks", "frames", "t_ns", "sites"]


def test_names_are_utf8_and_a_lone_surrogate_becomes_a_question_mark():
    sites = [{"location": "/é/\udc80.py:1", "function": "ƒ", "bytes": 1, "blocks": 1, "stack": []}]
    head, tail = _attribution.message_parts(0, 1, 1, 10, sites)
    message = json.loads((head + b"1" + tail).decode("utf-8"))
    assert message["sites"][0]["location"] == "/é/?.py:1"
    assert message["sites"][0]["function"] == "ƒ"


def test_grouping_raw_traces_matches_filter_traces_and_statistics(pipe):
    probe = Probe(pipe.write_fd, attribute=True, attribute_from=1000)
    kept = [[str(i)] for i in range(3000)]
    kept += [json.dumps({"i": i}) for i in range(500)]
    for i in range(50):
        probe.mark(i)
        probe.note("a note")
    snapshot = tracemalloc.take_snapshot()
    fast = _attribution.group_snapshot(snapshot)
    public = _attribution.group_snapshot(snapshot, fast=False)
    assert fast == public
    assert len(fast) > 5
    # Nothing allocated with this package's code as the most recent frame is left.
    assert not [frames for frames in fast if frames[0][0].startswith(PACKAGE_DIR)]
    assert [frames for frames in fast if frames[0][0] == THIS_FILE]
    assert len(kept) == 3500


# --- failures and threads -----------------------------------------------------------------


def test_a_failure_stops_attribution_with_one_line_and_marks_go_on(monkeypatch, capsys, pipe):
    def broken_snapshot():
        raise RuntimeError("no snapshot today")

    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "2")
    monkeypatch.setattr(_attribution.tracemalloc, "take_snapshot", broken_snapshot)
    probe = Probe(pipe.write_fd, attribute=True)
    for i in range(30):
        probe.mark(i)
    probe.end()
    assert probe.active
    assert capsys.readouterr().err == (
        "leakcheck: attribution failed (RuntimeError: no snapshot today); the run's verdict is unchanged\n"
    )
    messages = pipe.messages()
    assert not of_type(messages, "attribution")
    assert len(of_type(messages, "mark")) == 30 and of_type(messages, "end")


def test_tracing_stopped_by_the_program_ends_attribution_quietly_for_marks(monkeypatch, capsys, pipe):
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "2")
    probe = Probe(pipe.write_fd, attribute=True)
    probe.mark(0)
    probe.mark(1)
    tracemalloc.stop()
    for i in range(2, 10):
        probe.mark(i)
    probe.end()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("leakcheck: attribution failed (RuntimeError: ")
    assert len(of_type(pipe.messages(), "mark")) == 10


def test_marks_from_many_threads_with_attribution(monkeypatch, capsys, pipe):
    monkeypatch.setenv("LEAKCHECK_ATTRIBUTE_FROM", "50")
    probe = Probe(pipe.write_fd, attribute=True)
    start = threading.Barrier(4)
    kept = []

    def marks(thread):
        start.wait()
        for i in range(500):
            kept.append(bytearray(100))
            probe.mark(thread * 10_000 + i)

    threads = [threading.Thread(target=marks, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    probe.end()
    assert capsys.readouterr().err == ""
    messages = pipe.messages()  # every line parses
    assert len(of_type(messages, "mark")) == 2000
    reports = of_type(messages, "attribution")
    assert set(r["marks"] for r in reports) <= {50, 150, 350, 750, 1550, 1950}
    assert reports[-1]["marks"] == 1950
    assert len({r["from_iteration"] for r in reports}) == 1
    times = [m["t_ns"] for m in messages[1:]]  # after hello
    assert times == sorted(times)
