"""The probe: tells the leakcheck runner where the program is, over wire format v1.

The runner starts the program with ``LEAKCHECK_FD=<n>``, fd n being the write end of a
pipe it reads JSON Lines from. Writing must never break or noticeably slow the program,
so every failure turns the probe inert (with one line on stderr) instead of raising.
"""

import contextlib
import gc
import itertools
import json
import operator
import os
import stat
import sys
import threading
import time
import tracemalloc as _tracemalloc
import weakref

from ._attribution import ATTRIBUTE_ENV, ATTRIBUTE_FROM_ENV, Attribution, start_after_from_env

FD_ENV = "LEAKCHECK_FD"
TRACEMALLOC_ENV = "LEAKCHECK_TRACEMALLOC"

#: Readings sent per checkpoint, and the time between two of them: the runner samples
#: the process tree from outside meanwhile.
CHECKPOINT_READINGS = 5
CHECKPOINT_SPACING_S = 0.010

#: Labels and notes are clipped to this many characters. Escaped, a character takes at
#: most 6 bytes, so a line stays well under the runner's 64 KiB limit.
MAX_TEXT_CHARS = 4096

#: Frames kept per traceback when the probe starts tracemalloc itself.
TRACEMALLOC_FRAMES = 10

#: ``sys.getallocatedblocks()`` visits every pymalloc pool, so it costs O(heap): about
#: 100 µs for 160 MB of small objects on Python 3.11, 400 µs on 3.9 (4 KiB pools, not
#: 16 KiB). A mark therefore re-reads it only once this many times its last cost has
#: passed (so reading it takes at most 1/20 of the program's time), repeating the last
#: value until then. Checkpoints always re-read it.
BLOCKS_REREAD_AFTER_COST_TIMES = 20

# Looked up once: a mark calls each of these and should cost a few microseconds.
_monotonic_ns = time.monotonic_ns
_getallocatedblocks = sys.getallocatedblocks
_gc_counts = gc.get_count
_is_tracing = _tracemalloc.is_tracing
_traced_memory = _tracemalloc.get_traced_memory
_loaded_modules = sys.modules
_index = operator.index
_fstat = os.fstat
_readlink = os.readlink

#: The wire's iterations and ids are u64: anything outside 0 … U64_MAX would cost the
#: runner the line (a malformed mark), so the probe refuses it instead.
U64_MAX = 2**64 - 1
#: The largest fd number: file descriptors are C ints (``os.fstat`` overflows beyond).
MAX_FD = 2**31 - 1

# The lines, built with bytes %-formatting: it writes each %d straight into the line,
# so a mark allocates half as much as with f-strings (and under tracemalloc each
# allocation is traced, several microseconds apiece).
_HELLO = b'{"type":"hello","version":1,"pid":%d,"allocator":"python"}\n'
_MARK = b'{"type":"mark","iteration":%d,"t_ns":%d,%b}\n'
_CHECKPOINT = b'{"type":"checkpoint","id":%d,"label":%b,"t_ns":%d,%b}\n'
_SESSION = b'{"type":"session","event":"%b","id":%d,"label":%b,"t_ns":%d}\n'
_NOTE = b'{"type":"note","text":%b,"t_ns":%d}\n'
_END = b'{"type":"end","t_ns":%d}\n'
_READINGS = b'"rss_bytes":%d,"stats":{"py.blocks":%d,"py.gc.gen0":%d,"py.gc.gen1":%d,"py.gc.gen2":%d%b}'
_READINGS_WITHOUT_RSS = b'"stats":{"py.blocks":%d,"py.gc.gen0":%d,"py.gc.gen1":%d,"py.gc.gen2":%d%b}'
_TRACED = b',"py.traced":%d'
_TORCH_CUDA = b',"torch.cuda.allocated":%d,"torch.cuda.reserved":%d'

# What a forked child must let go of (see _after_fork_in_child): the active probes, and
# every fd a probe was given, with the file it was then (device, inode), so that the
# child closes it even if its probe was dropped, and never a number since reused.
_live_probes = weakref.WeakSet()
_runner_pipes = {}
_process_state_lock = threading.Lock()
# Checkpoint ids, shared by every probe of the process (taken under
# _process_state_lock): the runner reads one stream, and two probes (two from_env()
# calls, two libraries) must never both send checkpoint 1.
_checkpoint_ids = itertools.count(1)
# /proc/self/statm, opened once by the first probe to activate and shared by all.
_statm_fd = None
_page_size = 0
# The last py.blocks reading, what reading it costs, and when it goes stale (see
# BLOCKS_REREAD_AFTER_COST_TIMES).
_blocks = 0
_blocks_cost_ns = 1_000
_blocks_stale_at_ns = 0


class Probe:
    """Writes marks, sessions, checkpoints and notes to the runner's pipe.

    ``Probe()`` (no fd) is inert: every method is a cheap no-op, so programs can call
    the probe unconditionally. Safe to share between threads: one lock covers building
    and writing each line, so lines never interleave and their times stay in order.
    The lock is re-entrant so that a signal handler (a SIGTERM handler calling
    ``end()``) cannot deadlock on a mark it interrupted; its line goes out whole before
    the interrupted one (only a line over 4 KiB cut by a signal mid-write could tear).

    With ``attribute=True`` (``LEAKCHECK_ATTRIBUTE=1``) an active probe also traces with
    tracemalloc and sends ``attribution`` lines: where the memory grows (``_attribution``).
    """

    __slots__ = (
        "_fd", "_pipe_dev", "_pipe_ino", "_link_path", "_link", "_lock", "_attribution", "__weakref__"
    )

    def __init__(self, fd=None, tracemalloc=False, attribute=False, attribute_from=None):
        self._fd = None
        # The file the fd named on activation: each write first checks it still does
        # (see _write_line), by device and inode, and under tracemalloc by the fd's
        # /proc link, "pipe:[inode]".
        self._pipe_dev = self._pipe_ino = self._link_path = self._link = None
        self._lock = threading.RLock()
        self._attribution = None
        if attribute_from is not None:
            attribute_from = _index(attribute_from)
            if attribute_from < 1:
                raise ValueError(f"attribute_from must be at least 1 (a mark number), not {attribute_from}")
        if fd is not None:
            self._activate(_index(fd), tracemalloc, attribute, attribute_from)

    @classmethod
    def from_env(cls, tracemalloc=None, attribute=None):
        """The probe the runner asked for through ``LEAKCHECK_FD``; inert when it is unset.

        A value that is not an open pipe's fd (not a number, out of range, not open, a
        regular file …) is reported on stderr (one line) and gives an inert probe; this
        never raises. ``tracemalloc=None`` follows ``LEAKCHECK_TRACEMALLOC=1``,
        ``attribute=None`` follows ``LEAKCHECK_ATTRIBUTE=1``.
        """
        if tracemalloc is None:
            tracemalloc = os.environ.get(TRACEMALLOC_ENV) == "1"
        if attribute is None:
            attribute = os.environ.get(ATTRIBUTE_ENV) == "1"
        value = os.environ.get(FD_ENV)
        if value is None:
            return cls()
        fd = _parse_fd(value)
        if fd is None:
            return cls()
        return cls(fd, tracemalloc=tracemalloc, attribute=attribute)

    @property
    def active(self):
        """Whether lines are written: False when inert, after a write error, once the fd no
        longer names the pipe it was given, or in a forked child."""
        return self._fd is not None

    def mark(self, iteration):
        """End of iteration ``iteration``: the in-process readings, now.

        ``iteration`` must be an integer in 0 … 2**64 - 1 (the wire's u64), not a bool:
        else TypeError or ValueError, active or not, so such a bug does not show only
        under the runner.
        """
        try:  # _wire_u64, inline: a mark should cost a few microseconds, an inert one nothing
            number = _index(iteration)
        except TypeError:
            number = -1  # refused just below, with a message that names the value
        if number < 0 or number > U64_MAX or iteration is True or iteration is False:
            _refuse("iteration", iteration)
        iteration = number
        if self._fd is None:
            return
        with self._lock:
            fd = self._fd
            if fd is None:
                return
            t_ns = _monotonic_ns()
            self._write_line(fd, _MARK % (iteration, t_ns, _readings(t_ns, fresh_blocks=False)))
            attribution = self._attribution
            if attribution is None:
                return
            due = attribution.count_mark(iteration)
        if due is not None:  # a snapshot, taken outside the lock: other threads go on marking
            attribution.at_mark(due, self._send)

    @contextlib.contextmanager
    def session(self, session_id, label):
        """Brackets a session (a training run, an epoch, a phase) with start and end lines.

        The end line is written however the body exits; its exception propagates.
        """
        self.session_start(session_id, label)
        try:
            yield self
        finally:
            self.session_end(session_id, label)

    def session_start(self, session_id, label):
        """A session begins (for code that cannot use the ``session`` context manager)."""
        self._session(b"start", session_id, label)

    def session_end(self, session_id, label):
        """A session ends; the runner checks what it left behind."""
        self._session(b"end", session_id, label)

    def checkpoint(self, label):
        """A quiescent point where retained memory is measured, e.g. right after a release.

        Collects garbage once, then sends ``CHECKPOINT_READINGS`` readings
        ``CHECKPOINT_SPACING_S`` apart under one id (1, 2, 3 … per process, shared by
        all probes), so it takes about 40 ms. Returns that id, or None when the probe
        is inert.
        """
        if self._fd is None:
            return None
        with _process_state_lock:
            checkpoint_id = next(_checkpoint_ids)
        label_json = _json_text(label)
        gc.collect()
        for reading in range(CHECKPOINT_READINGS):
            if reading:
                time.sleep(CHECKPOINT_SPACING_S)
            self._send(lambda: _checkpoint_line(checkpoint_id, label_json))
        return checkpoint_id

    def note(self, text):
        """Free text shown in the report."""
        if self._fd is None:
            return
        text_json = _json_text(text)
        self._send(lambda: _NOTE % (text_json, _monotonic_ns()))

    def end(self):
        """The program finished normally. In attribution mode, the last attribution line
        (growth since the baseline, when a mark came after it) goes out first."""
        attribution = self._attribution
        if attribution is not None and self._fd is not None:
            with self._lock:
                marks, iteration = attribution.marks, attribution.last_iteration
            attribution.finish(marks, iteration, self._send)
        self._send(lambda: _END % _monotonic_ns())

    def _session(self, event, session_id, label):
        session_id = _wire_u64("session id", session_id)
        if self._fd is None:
            return
        label_json = _json_text(label)
        self._send(lambda: _SESSION % (event, session_id, label_json, _monotonic_ns()))

    def _activate(self, fd, tracemalloc, attribute, attribute_from):
        try:
            pipe = os.fstat(fd)
            # Close-on-exec: programs this one execs must not hold the runner's pipe open,
            # or the runner would not see EOF when this program exits. Not a standard
            # stream (LEAKCHECK_FD=1): that is the program's own, which its children share.
            if fd > 2:
                os.set_inheritable(fd, False)
        except (OSError, OverflowError) as error:
            _report_closed_pipe(fd, error)
            return
        with _process_state_lock:
            if fd > 2:  # a forked child keeps its standard streams (_after_fork_in_child)
                _runner_pipes[fd] = (pipe.st_dev, pipe.st_ino)
            _live_probes.add(self)
            _open_statm()
        self._pipe_dev, self._pipe_ino = pipe.st_dev, pipe.st_ino
        self._link_path, self._link = _pipe_link(fd)
        self._fd = fd
        if tracemalloc and not _is_tracing():
            _tracemalloc.start(TRACEMALLOC_FRAMES)
        if attribute:
            if attribute_from is None:
                attribute_from = start_after_from_env(_warn)
            self._attribution = Attribution.start(attribute_from, _warn)
        self._send(lambda: _HELLO % os.getpid())

    def _send(self, build_line):
        """Builds (under the lock, so ``t_ns`` follows the stream order) and writes one line."""
        if self._fd is None:
            return
        with self._lock:
            fd = self._fd
            if fd is not None:
                self._write_line(fd, build_line())

    def _write_line(self, fd, data):
        """One ``os.write`` per line, more only after a short write. Called with the lock held.

        First a check that the fd is still the pipe it was: a program that closed it and
        put its own file (or pipe) on that number must not get our lines, and the probe
        turns inert for good. ``fstat`` costs about 0.7 µs, but builds some 20 objects,
        each traced under tracemalloc (about 20 µs in all, more on deep stacks); there
        the fd's /proc link, one string, is read instead (about 4 µs), and ``fstat``
        decides only when that fails or differs.
        """
        try:
            link_path = self._link_path
            if link_path is None or not _is_tracing() or not _same_link(link_path, self._link):
                now = _fstat(fd)
                if now.st_ino != self._pipe_ino or now.st_dev != self._pipe_dev:
                    if self._fd is not None:  # else a signal handler's nested write already said so
                        self._fd = None
                        _warn(
                            f"leakcheck: {FD_ENV} {fd} no longer refers to leakcheck's pipe "
                            "(closed or replaced); marks are no longer sent"
                        )
                    return
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, memoryview(data)[written:])
        except OSError as error:
            if self._fd is not None:  # else a signal handler's nested write already said so
                self._fd = None
                _report_closed_pipe(fd, error)

    def _disown_after_fork(self):
        """In a forked child: stop writing (the pipe itself is closed by the caller)."""
        self._fd = None
        self._attribution = None  # its baseline describes the parent's heap
        self._lock = threading.RLock()  # another thread may have held it at the fork


def _checkpoint_line(checkpoint_id, label_json):
    t_ns = _monotonic_ns()
    return _CHECKPOINT % (checkpoint_id, label_json, t_ns, _readings(t_ns, fresh_blocks=True))


def _readings(t_ns, fresh_blocks):
    """The ``"rss_bytes":…,"stats":{…}`` part of marks and checkpoints, read at ``t_ns``."""
    blocks = _allocated_blocks(t_ns, fresh_blocks)
    rss = _rss_bytes()
    gen0, gen1, gen2 = _gc_counts()
    optional = b""
    if _is_tracing():
        optional = _TRACED % _traced_memory()[0]
    torch = _loaded_modules.get("torch")
    if torch is not None:
        optional += _torch_cuda_stats(torch)
    if rss is None:
        return _READINGS_WITHOUT_RSS % (blocks, gen0, gen1, gen2, optional)
    return _READINGS % (rss, blocks, gen0, gen1, gen2, optional)


def _allocated_blocks(t_ns, fresh):
    """``sys.getallocatedblocks()``, re-read when ``fresh`` or once the last reading is stale."""
    global _blocks, _blocks_cost_ns, _blocks_stale_at_ns
    if fresh or t_ns >= _blocks_stale_at_ns:
        _blocks = _getallocatedblocks()
        # Being preempted (or handing over the GIL) inflates one measurement: the
        # estimate may at most double from one reading to the next.
        _blocks_cost_ns = min(_monotonic_ns() - t_ns, 2 * _blocks_cost_ns)
        _blocks_stale_at_ns = t_ns + _blocks_cost_ns * BLOCKS_REREAD_AFTER_COST_TIMES
    return _blocks


def _parse_fd(value):
    """The fd number in ``LEAKCHECK_FD`` when it names an open pipe, or None after saying
    on stderr what is wrong with it. Never raises: the value comes from outside."""
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit()):
        _warn(
            f"leakcheck: {FD_ENV}={value!r} is not a file descriptor number "
            "(expected a non-negative integer: the runner's pipe); marks are off"
        )
        return None
    # int() refuses over 4300 digits (3.11+) and fstat() overflows past a C int.
    significant = digits.lstrip("0")
    if len(significant) > len(str(MAX_FD)) or int(significant or "0") > MAX_FD:
        _warn(
            f"leakcheck: {FD_ENV}={value!r} is out of range for a file descriptor "
            f"(expected a non-negative integer up to {MAX_FD}: the runner's pipe); marks are off"
        )
        return None
    fd = int(significant or "0")
    try:
        mode = os.fstat(fd).st_mode
    except OSError as error:
        _warn(
            f"leakcheck: {FD_ENV}={value!r} is not an open file descriptor "
            f"({error.strerror}; expected the runner's pipe); marks are off"
        )
        return None
    # The runner always passes a pipe: anything else is the program's own file (an fd
    # number LEAKCHECK_FD leaked into), and our lines must not go into it.
    if not stat.S_ISFIFO(mode):
        _warn(
            f"leakcheck: {FD_ENV}={value!r} is a {_file_kind(mode)}, not a pipe "
            "(expected the runner's pipe); marks are off"
        )
        return None
    return fd


def _pipe_link(fd):
    """``/proc/self/fd/N`` and its link when that names an anonymous pipe ("pipe:[inode]",
    which identifies it), else (None, None): without /proc, or for a file, which a path
    does not identify."""
    link_path = f"/proc/self/fd/{fd}"
    try:
        link = _readlink(link_path)
    except (OSError, ValueError):
        return None, None
    if link.startswith("pipe:[") and link.endswith("]"):
        return link_path, link
    return None, None


def _same_link(link_path, link):
    """Whether the fd's /proc link still reads ``link``; False when unreadable (fstat decides)."""
    try:
        return _readlink(link_path) == link
    except OSError:
        return False


def _file_kind(mode):
    """What ``st_mode`` says the file is, for the message about a LEAKCHECK_FD that is no pipe."""
    for is_kind, kind in (
        (stat.S_ISREG, "regular file"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ):
        if is_kind(mode):
            return kind
    return "file of another kind"


def _wire_u64(what, value):
    """``value`` as a wire u64 (an integer in 0 … U64_MAX, not a bool), else TypeError or ValueError."""
    try:
        number = _index(value)
    except TypeError:
        number = -1  # refused just below, with a message that names the value
    if number < 0 or number > U64_MAX or value is True or value is False:
        _refuse(what, value)
    return number


def _refuse(what, value):
    """Raises for a bad iteration or id, naming it: the caller's bug, so it raises (I/O never does)."""
    shown = repr(value)
    if len(shown) > 200:
        shown = shown[:200] + "…"
    message = f"{what} must be a non-negative integer (0 to 2**64 - 1, a u64 on the wire), not {shown}"
    if value is True or value is False or not hasattr(type(value), "__index__"):
        raise TypeError(message)
    raise ValueError(message)  # an integer out of range


def _open_statm():
    """Opens ``/proc/self/statm`` unless open; without /proc, marks carry no rss_bytes."""
    global _statm_fd, _page_size
    if _statm_fd is not None:
        return
    try:
        _page_size = os.sysconf("SC_PAGE_SIZE")
        _statm_fd = os.open("/proc/self/statm", os.O_RDONLY)
    except (OSError, AttributeError, ValueError):
        _statm_fd = None


def _rss_bytes():
    """Resident pages × page size from ``/proc/self/statm`` (a pread on the open fd), or None."""
    statm_fd = _statm_fd
    if statm_fd is None:
        return None
    try:
        # "size resident shared …": slicing out the second field allocates less
        # than split(), which matters under tracemalloc (each allocation is traced).
        statm = os.pread(statm_fd, 128, 0)
        start = statm.index(b" ") + 1
        return int(statm[start : statm.index(b" ", start)]) * _page_size
    except (OSError, ValueError):
        return None


def _torch_cuda_stats(torch):
    """torch's CUDA allocator counters (current device), only once the program itself
    initialised CUDA: the probe must never import torch or create a CUDA context."""
    try:
        cuda = torch.cuda
        if not cuda.is_initialized():
            return b""
        return _TORCH_CUDA % (cuda.memory_allocated(), cuda.memory_reserved())
    except Exception:
        return b""


def _json_text(text):
    """``text`` as a JSON string in UTF-8, clipped; a lone surrogate (not UTF-8) becomes '?'."""
    clipped = str(text)[:MAX_TEXT_CHARS]
    return json.dumps(clipped, ensure_ascii=False).encode("utf-8", "replace")


def _report_closed_pipe(fd, error):
    reason = getattr(error, "strerror", None) or error  # OverflowError: an fd past a C int
    _warn(
        f"leakcheck: the runner's pipe is closed (fd {fd}: {reason}); "
        "marks are off for the rest of this run"
    )


def _warn(message):
    """One line on stderr, if there is a stderr to write to."""
    try:
        print(message, file=sys.stderr, flush=True)
    except Exception:
        pass


def _close_quietly(fd):
    if fd is None:
        return
    try:
        os.close(fd)
    except OSError:
        pass


def _after_fork_in_child():
    """A forked child (a multiprocessing DataLoader worker) must neither write to the
    runner's pipe nor hold it open: the runner waits for EOF, i.e. for every holder.
    It also drops the parent's statm fd, which reads the parent's memory."""
    global _process_state_lock, _statm_fd
    _process_state_lock = threading.Lock()  # another thread may have held it at the fork
    for probe in list(_live_probes):
        probe._disown_after_fork()
    _live_probes.clear()
    for fd, (device, inode) in _runner_pipes.items():  # never 0, 1 or 2 (see _activate)
        try:
            now = os.fstat(fd)
        except OSError:
            continue
        if (now.st_dev, now.st_ino) == (device, inode):
            _close_quietly(fd)
    _runner_pipes.clear()
    _close_quietly(_statm_fd)
    _statm_fd = None


if hasattr(os, "register_at_fork"):  # absent on Windows, where there is no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


_process_probe = None
_process_probe_lock = threading.Lock()


def probe():
    """The process-wide probe, made by ``Probe.from_env()`` on first use, so the program
    and its libraries share one stream (one hello)."""
    global _process_probe
    if _process_probe is None:
        with _process_probe_lock:
            if _process_probe is None:
                _process_probe = Probe.from_env()
    return _process_probe
