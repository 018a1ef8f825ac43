"""Allocation-site attribution ("where it grows"), measured with tracemalloc.

When leakcheck has found a leak it runs the program again with ``LEAKCHECK_ATTRIBUTE=1``.
The probe then keeps a tracemalloc snapshot taken after the N-th mark (the baseline,
N = ``LEAKCHECK_ATTRIBUTE_FROM``, 10 by default) and, at marks 2N, 4N, 8N … and at
``end()``, compares a fresh snapshot with it and sends one ``attribution`` line: the
program's source lines that hold the memory gained since the baseline, largest first.

Everything here runs inside the program, so nothing may raise into it: the first error
ends attribution with one stderr line, and marks go on as before.
"""

import bisect
import json
import os
import site
import threading
import time
import tracemalloc

# Imported by _prepare(), only in attribution mode and before tracing starts: a program
# that merely marks does not pay for them, and their import is not traced.
ast = fnmatch = re = sysconfig = None

ATTRIBUTE_ENV = "LEAKCHECK_ATTRIBUTE"
ATTRIBUTE_FROM_ENV = "LEAKCHECK_ATTRIBUTE_FROM"

#: The baseline snapshot is taken right after this mark (1-based) unless
#: ``LEAKCHECK_ATTRIBUTE_FROM`` says otherwise: warm-up (imports, first caches) stays out.
DEFAULT_FROM = 10
#: Frames per traceback when attribution starts tracemalloc itself.
FRAMES = 10
#: Sites per message, and frames per site's stack.
MAX_SITES = 20
MAX_STACK = 10
#: A whole attribution line stays under this many bytes (the runner takes up to 64 KiB).
MAX_LINE_BYTES = 60 * 1024
#: Source files larger than this are not parsed for function names (they get "?").
MAX_SOURCE_BYTES = 8 << 20

_monotonic_ns = time.monotonic_ns
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# What a frame's file is: the program's own code, a library (stdlib, site-packages,
# <frozen …> and other <…> pseudo-files), or this client.
_PROGRAM, _LIBRARY, _CLIENT = 0, 1, 2


def _tracebacks_are_oldest_first():
    """Whether ``tracemalloc.Traceback`` lists the oldest frame first (Python 3.7 and
    later: it reverses the raw frames, which come most recent first)."""
    try:
        return tracemalloc.Traceback((("most recent", 1), ("oldest", 2)))[0].filename == "oldest"
    except Exception:
        return True


_OLDEST_FIRST = _tracebacks_are_oldest_first()


_filters = None
_filter_matchers = ()


def _snapshot_filters():
    _prepare()
    return _filters


def _make_snapshot_filters():
    """Traces whose most recent frame is this package, tracemalloc itself, the import
    machinery or unknown are left out of every snapshot."""
    folders = {os.path.dirname(__file__), _PACKAGE_DIR, os.path.realpath(_PACKAGE_DIR)}
    filters = [tracemalloc.Filter(False, os.path.join(folder, "*")) for folder in sorted(folders)]
    filters.append(tracemalloc.Filter(False, tracemalloc.__file__))
    for pseudo_file in ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>", "<unknown>"):
        filters.append(tracemalloc.Filter(False, pseudo_file))
    return filters


def take_heap():
    return group_snapshot(tracemalloc.take_snapshot())


def group_snapshot(snapshot, fast=True):
    """``snapshot``, filtered and grouped by traceback: {frames: (bytes, blocks)}, frames
    being ``(filename, lineno)`` pairs, most recent first.

    The same numbers as ``snapshot.filter_traces(filters).statistics("traceback")``,
    which is what this does (``fast=False``, or when the snapshot's raw traces are not
    laid out as expected). The fast way reads the raw traces and is about 100 times
    faster under tracing (0.08 s against 10 s for 118,000 traces in 2,000 tracebacks,
    Python 3.11): ``filter_traces`` matches each trace's file against every filter with
    fnmatch, ``statistics`` adds Python ints per trace, and tracemalloc traces each of
    those small allocations too, several µs apiece. This decides once per file and
    collects each traceback's sizes in a list that ``sum()`` adds up in C.
    """
    filters = _snapshot_filters()
    raw = _raw_traces(snapshot) if fast else None
    if raw is None:
        heap = {}
        for stat in snapshot.filter_traces(filters).statistics("traceback"):
            heap[_raw_frames(stat.traceback)] = (stat.size, stat.count)
        return heap
    excluded = {}
    sizes_by_frames = {}
    sizes_of = sizes_by_frames.get
    for trace in raw:
        frames = trace[2]
        filename = frames[0][0]
        skip = excluded.get(filename)
        if skip is None:
            skip = excluded[filename] = _excluded(filename)
        if skip:
            continue
        sizes = sizes_of(frames)
        if sizes is None:
            sizes_by_frames[frames] = [trace[1]]
        else:
            sizes.append(trace[1])
    return {frames: (sum(sizes), len(sizes)) for frames, sizes in sizes_by_frames.items()}


def _raw_traces(snapshot):
    """The snapshot's raw traces, ``(domain, size, frames, total_nframe)`` with frames
    most recent first as ``_tracemalloc`` makes them, or None if they are not that."""
    raw = getattr(getattr(snapshot, "traces", None), "_traces", None)
    if type(raw) is not list:
        return None
    for trace in raw[:1]:
        if not (
            type(trace) is tuple and len(trace) >= 3 and type(trace[1]) is int
            and type(trace[2]) is tuple and trace[2] and type(trace[2][0]) is tuple
            and len(trace[2][0]) == 2 and type(trace[2][0][0]) is str
        ):
            return None
    return raw


def _excluded(filename):
    """Whether the snapshot filters (exclusive, whole files, most recent frame) leave a
    trace allocated in ``filename`` out, as ``Snapshot.filter_traces`` decides it: by
    fnmatch, with the patterns compiled in advance (``fnmatch.fnmatch`` would compile
    and cache them while tracing, which would show as growth in ``re``)."""
    normalized = os.path.normcase(filename)
    if normalized.endswith(".pyc"):
        normalized = normalized[:-1]
    return any(match(normalized) for match in _filter_matchers)


def _raw_frames(traceback):
    """A ``tracemalloc.Traceback`` as ``(filename, lineno)`` pairs, most recent first."""
    frames = traceback[::-1] if _OLDEST_FIRST else traceback[:]
    return tuple((frame.filename, frame.lineno) for frame in frames)


def heap_diffs(new, old):
    """``new.compare_to(old, "traceback")`` on grouped heaps: (bytes, blocks, frames)
    for each traceback whose bytes or blocks changed."""
    for frames, (size, count) in new.items():
        old_size, old_count = old.get(frames, (0, 0))
        if size != old_size or count != old_count:
            yield size - old_size, count - old_count, frames
    for frames, (size, count) in old.items():
        if frames not in new:
            yield -size, -count, frames


def start_after_from_env(warn):
    """N from ``LEAKCHECK_ATTRIBUTE_FROM``; a value that is not a positive integer is
    named on stderr (one line, through ``warn``) and the default is used."""
    value = os.environ.get(ATTRIBUTE_FROM_ENV)
    if value is None:
        return DEFAULT_FROM
    digits = value.strip()
    if digits.isascii() and digits.isdigit() and int(digits) >= 1:
        return int(digits)
    warn(
        f"leakcheck: {ATTRIBUTE_FROM_ENV}={value!r} is not a positive integer (the mark after "
        f"which attribution takes its baseline snapshot); using {DEFAULT_FROM}"
    )
    return DEFAULT_FROM


class Attribution:
    """One probe's attribution: when to take snapshots, the baseline, and the reports.

    ``count_mark`` runs under the probe's lock (it orders the marks); the snapshots and
    the comparison run outside it, under this object's own lock, so other threads keep
    marking meanwhile but two snapshots are never taken at once. That lock is
    re-entrant, and a call that finds this thread already at work (a signal handler
    that interrupted a snapshot calls ``end()``) does nothing.
    """

    __slots__ = ("start_after", "next_due", "marks", "last_iteration", "stopped",
                 "_baseline", "_lock", "_busy", "_warn")

    def __init__(self, start_after, warn):
        self.start_after = start_after
        self.next_due = start_after
        self.marks = 0
        self.last_iteration = None
        self.stopped = False
        self._baseline = None  # (grouped snapshot, marks, iteration)
        self._lock = threading.RLock()
        self._busy = False
        self._warn = warn

    @classmethod
    def start(cls, start_after, warn):
        """Attribution for a probe that just activated, tracemalloc tracing (10 frames
        unless the program already traces); None, after one stderr line, if that fails."""
        try:
            _prepare()  # before tracing: sysconfig imports and compiles its own modules
            if not tracemalloc.is_tracing():
                tracemalloc.start(FRAMES)
        except Exception as error:
            _report_failure(warn, error)
            return None
        return cls(start_after, warn)

    def count_mark(self, iteration):
        """A mark was written (called under the probe's lock): the (marks, iteration)
        to take a snapshot at, or None."""
        self.marks += 1
        self.last_iteration = iteration
        if self.marks != self.next_due or self.stopped:
            return None
        self.next_due *= 2
        return self.marks, iteration

    def at_mark(self, due, send):
        """After a mark ``count_mark`` chose: the baseline, or a report against it."""
        marks, iteration = due
        if marks == self.start_after:
            self._guarded(self._take_baseline, marks, iteration)
        else:
            self._guarded(self._report, marks, iteration, send)

    def finish(self, marks, iteration, send):
        """At ``end()``: a last report (when a mark came after the baseline), then stop."""
        self._guarded(self._report, marks, iteration, send)
        with self._lock:
            if not self._busy:
                self.stopped = True
                self._baseline = None

    def _guarded(self, work, *args):
        if self.stopped:
            return
        with self._lock:
            if self._busy or self.stopped:
                return
            self._busy = True
            try:
                work(*args)
            except Exception as error:
                self.stopped = True
                self._baseline = None
                _report_failure(self._warn, error)
            finally:
                self._busy = False

    def _take_baseline(self, marks, iteration):
        self._baseline = (take_heap(), marks, iteration)

    def _report(self, marks, iteration, send):
        if self._baseline is None or iteration is None:
            return
        baseline, baseline_marks, baseline_iteration = self._baseline
        if marks <= baseline_marks:
            return
        latest = take_heap()
        frames = tracemalloc.get_traceback_limit()
        sites = _sites(heap_diffs(latest, baseline))
        del latest  # only the baseline is kept
        head, tail = message_parts(baseline_iteration, iteration, marks - baseline_marks, frames, sites)
        send(lambda: head + b"%d" % _monotonic_ns() + tail)


def _report_failure(warn, error):
    reason = " ".join(f"{type(error).__name__}: {error}".split())[:500]
    warn(f"leakcheck: attribution failed ({reason}); the run's verdict is unchanged")


# --- sites ------------------------------------------------------------------------------


def _sites(diffs):
    """The growth in ``diffs`` ((bytes, blocks, frames) by traceback, frames most recent
    first) grouped by location frame: dicts with location, function, bytes, blocks and
    stack, largest first, at most MAX_SITES, only those that grew."""
    grouped = {}  # (filename, lineno) -> [bytes, blocks, largest diff's bytes, its frames]
    for size_diff, count_diff, frames in diffs:
        if not frames:
            continue
        location = None
        for frame in frames:
            kind = _kind(frame[0])
            if kind == _CLIENT:  # this client's own work (a stdlib call made by it)
                break
            if location is None and kind == _PROGRAM:
                location = frame
        else:
            key = location or frames[0]
            group = grouped.get(key)
            if group is None:
                grouped[key] = [size_diff, count_diff, size_diff, frames]
            else:
                group[0] += size_diff
                group[1] += count_diff
                if size_diff > group[2]:
                    group[2], group[3] = size_diff, frames
    growing = sorted(
        ((group[0], group[1], key, group[3]) for key, group in grouped.items() if group[0] > 0),
        key=lambda site: site[0],
        reverse=True,
    )[:MAX_SITES]
    return [
        {
            "location": f"{_display_path(filename)}:{lineno}",
            "function": function_name(filename, lineno),
            "bytes": size,
            "blocks": blocks,
            "stack": [
                f"{_display_path(filename)}:{lineno} in {function_name(filename, lineno)}"
                for filename, lineno in frames[:MAX_STACK]
            ],
        }
        for size, blocks, (filename, lineno), frames in growing
    ]


def message_parts(from_iteration, to_iteration, marks, frames, sites):
    """The attribution line as the bytes before and after its ``t_ns`` value (the probe
    reads the clock under its lock, so that times follow the stream). Stacks are cut
    to MAX_STACK frames, then the smallest sites dropped until the line fits."""
    head = (
        b'{"type":"attribution","method":"tracemalloc","from_iteration":%d,"to_iteration":%d,'
        b'"marks":%d,"frames":%d,"t_ns":' % (from_iteration, to_iteration, marks, frames)
    )
    encoded = []
    for site in sites:
        site = dict(site, stack=list(site["stack"][:MAX_STACK]))
        encoded.append(
            json.dumps(site, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")
        )
    # 20 digits hold any t_ns; the rest is ',"sites":[' and ']}\n'.
    budget = MAX_LINE_BYTES - 1 - len(head) - 20 - len(b',"sites":[]}\n')
    while encoded and sum(map(len, encoded)) + len(encoded) - 1 > budget:
        encoded.pop()  # sorted largest first: this is the smallest
    return head, b',"sites":[' + b",".join(encoded) + b"]}\n"


# --- files ------------------------------------------------------------------------------

_kinds = {}
_library_dirs = None
_display_paths = {}


def _kind(filename):
    kind = _kinds.get(filename)
    if kind is None:
        kind = _kinds[filename] = _classify(filename)
    return kind


def _prepare():
    """What attribution computes once, done before tracing starts where it can: sysconfig
    imports and compiles modules of its own, fnmatch compiles regular expressions."""
    global ast, fnmatch, re, sysconfig, _library_dirs, _filters, _filter_matchers
    if ast is None:
        import ast
        import fnmatch
        import re
        import sysconfig
    if _library_dirs is None:
        _library_dirs = _find_library_dirs()
    if _filters is None:
        filters = _make_snapshot_filters()
        _filter_matchers = tuple(
            re.compile(fnmatch.translate(f.filename_pattern)).match for f in filters
        )
        _filters = filters


def _classify(filename):
    if not filename or filename.startswith("<"):
        return _LIBRARY
    paths = {os.path.abspath(filename), os.path.realpath(filename)}
    if any(_is_under(path, _PACKAGE_DIR) or _is_under(path, os.path.realpath(_PACKAGE_DIR)) for path in paths):
        return _CLIENT
    _prepare()
    if any(_is_under(path, folder) for path in paths for folder in _library_dirs):
        return _LIBRARY
    return _PROGRAM


def _find_library_dirs():
    """The stdlib and site-packages folders (sysconfig's, and site's, which add the user
    site-packages and any other site folder), as absolute and as real paths."""
    found = []
    paths = sysconfig.get_paths()
    found += [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(key)]
    try:
        found += site.getsitepackages()
    except Exception:  # some embedded or virtualenv builds lack it
        pass
    try:
        found.append(site.getusersitepackages())
    except Exception:
        pass
    folders = set()
    for folder in found:
        if isinstance(folder, str) and folder:
            folders.add(os.path.abspath(folder))
            folders.add(os.path.realpath(folder))
    return tuple(sorted(folders))


def _is_under(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _display_path(filename):
    """The absolute path of a real file; a pseudo-file such as ``<string>`` as it is."""
    shown = _display_paths.get(filename)
    if shown is None:
        if not filename or filename.startswith("<"):
            shown = filename or "<unknown>"
        else:
            shown = os.path.abspath(filename)
        _display_paths[filename] = shown
    return shown


# filename -> (starts, scopes) of its functions and classes, or None when unreadable.
_scopes_by_file = {}


def function_name(filename, lineno):
    """The qualified name of the innermost function or class body around ``lineno``
    (``Class.method``, ``outer.<locals>.inner``), ``<module>`` outside all of them, and
    ``"?"`` when the file cannot be read or parsed."""
    if filename in _scopes_by_file:
        scopes = _scopes_by_file[filename]
    else:
        try:
            scopes = _read_scopes(filename)
        except Exception:  # unreadable, not Python, too deep for the parser, ...
            scopes = None
        _scopes_by_file[filename] = scopes
    if scopes is None:
        return "?"
    starts, ranges = scopes
    # Scopes nest, sorted by first line (outer first on a tie): the first one that
    # contains the line, walking back from the last that starts before it, is innermost.
    index = bisect.bisect_right(starts, lineno) - 1
    while index >= 0:
        first, last, name = ranges[index]
        if first <= lineno <= last:
            return name
        index -= 1
    return "<module>"


def _read_scopes(filename):
    if not filename or filename.startswith("<"):
        return None
    _prepare()
    with open(filename, "rb") as f:
        source = f.read(MAX_SOURCE_BYTES + 1)
    if len(source) > MAX_SOURCE_BYTES:
        return None
    # compile() rather than ast.parse(): called from here, the tree's allocations belong
    # to this package (left out of snapshots), not to ast.py.
    tree = compile(source, filename, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    ranges = []
    todo = [(tree, "")]
    while todo:
        node, prefix = todo.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                ranges.append((child.lineno, getattr(child, "end_lineno", None) or child.lineno, name))
                todo.append((child, name + ("." if isinstance(child, ast.ClassDef) else ".<locals>.")))
            else:
                todo.append((child, prefix))
    ranges.sort(key=lambda scope: (scope[0], -scope[1]))
    return [scope[0] for scope in ranges], ranges
