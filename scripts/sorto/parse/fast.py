"""The fast path of ``sorto parse`` for ftrace ``function`` and ``function_graph`` logs.

Why a second path: the reference parsers (``ftrace.py``) spend about 7 us a
line in Python (6-13 MB/s on a function log, less on function_graph), and
these two tracers write the biggest logs.  Here the file is read in windows
of ``WINDOW`` bytes into reused buffers, the incomplete last line of a
window carried over to the next, and the compiled kernels of
``_kernels.py`` write the CSV bytes of a window's rows straight into an
output buffer.  Memory stays flat in file size: an input and an output
buffer per window in flight.

The file is read, not memory-mapped: a mapped file cut short while it is
parsed (a trace still being copied or rotated, a log on a network
filesystem) kills the process with SIGBUS at the first page past the new
end, with no message.  Read, such a file just ends where the reads end, and
the table is what the reference makes of the bytes read (a cut last line
skipped and flagged, as ``Context.lines`` does); a failing read is a
SortoError naming the file and the offset.

The reference stays the definition of the output.  A kernel only takes the
lines whose reading it reproduces exactly; any other line (non-ASCII, a
field CSV would quote, an event, a malformed line, a number only Python
prints right) comes back here and goes through the reference code of
``ftrace.py`` with the same ``Context``, so strict mode fails with the same
``FILE:LINE`` message and lenient mode counts the same lines.  For
``function_graph``, whose rows depend on the calls still open per CPU, a
line that would change that state outside the kernel hands the rest of the
file, with the open calls, to the reference parser.

Only CSV output goes this way: Parquet keeps its typed columns (an empty
string and a null differ there) through the reference path.  numba is
imported only here, and only for files of at least ``MIN_BYTES``, where its
start-up (about a second with the compiled kernels cached) pays off.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from ..errors import SortoError
from .base import Context
from .tables import TableWriter

#: Bytes read per window (more for a line longer than that); a kernel call parses at most a window.
WINDOW = 4 << 20
#: Smaller files go through the reference path: numba's start-up would cost more than it saves.
MIN_BYTES = 16 << 20
#: CPUs the function_graph kernel keeps stacks for; a trace naming a higher one goes to Python.
MAX_CPUS = 4096
#: The types this module parses.
TYPES = ("ftrace_function", "ftrace_function_graph")


def available() -> bool:
    """True when the compiled kernels can be used (numba installed and importable)."""
    try:
        from . import _kernels  # noqa: F401
    except ImportError:
        return False
    return True


def wanted(kind: str, path: Path, fmt: str, engine: str) -> bool:
    """Whether ``engine`` (``auto``, ``fast`` or ``python``) sends this file to the fast path."""
    if engine == "python" or fmt != "csv" or kind not in TYPES:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:  # /proc files (size 0) and pipes: the reference
        return False
    return (engine == "fast" or st.st_size >= MIN_BYTES) and available()


def parse(kind: str, ctx: Context, writer: TableWriter) -> None:
    """Write the table of ``ctx.path`` (of type ``kind``) through ``writer`` with the kernels."""
    try:
        fh = open(ctx.path, "rb", buffering=0)
    except OSError as exc:
        raise SortoError(f"{ctx.path}: cannot open: {exc.strerror or exc}") from exc
    with fh:
        reader = _Reader(ctx.path, fh)
        if kind == "ftrace_function":
            _function(ctx, writer, reader)
        elif kind == "ftrace_function_graph":
            _graph(ctx, writer, reader)
        else:
            raise ValueError(kind)


def _readinto(fh: Any, view: memoryview) -> int:
    """One ``read(2)`` into ``view``: the bytes read, 0 at the end of the file (the tests wrap this)."""
    return fh.readinto(view)


class _Buffer:
    """An input buffer reused from window to window: its bytes and their numpy view (what the kernels take)."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.arr: Any = None

    def reserve(self, size: int, keep: int) -> None:
        """Make room for ``size`` bytes, keeping the first ``keep``; grows only (a line longer than a window)."""
        if len(self.raw) < size:
            import numpy as np

            old = self.raw
            self.raw = bytearray(size)
            self.raw[:keep] = old[:keep]
            self.arr = np.frombuffer(self.raw, dtype=np.uint8)


class _Reader:
    """The file read front to back in windows of whole lines; the incomplete last line is carried over.

    Each window is the carried bytes and then up to ``WINDOW`` new ones (as
    many as the carried line when it is longer, so a long line doubles the
    buffer rather than being read again and again), cut after its last
    newline.  Reading stops at the first read that returns nothing: a file
    cut short while it is read just ends there, and what follows the last
    newline is then the file's last line (``carry``), as the reference's
    ``Context.lines`` sees it.
    """

    def __init__(self, path: Path, fh: Any) -> None:
        self.path = path
        self.fh = fh
        self.offset = 0  # of the next byte to read
        self.start = 0  # file offset of the current window's first byte
        self.carry = b""
        self.eof = False

    def window(self, buf: _Buffer, at: int = 0) -> int | None:
        """Read the next window into ``buf`` from ``at`` (what is before stays); its end, or None at the end.

        ``buf.raw[at:end]`` are whole lines and begin at file offset
        ``self.start``; at the end of the file, ``carry`` holds the bytes
        after the last newline.
        """
        while not self.eof:
            c = len(self.carry)
            want = max(WINDOW, c)
            buf.reserve(at + c + want, at)
            buf.raw[at : at + c] = self.carry
            with memoryview(buf.raw) as mv:
                got = self._fill(mv[at + c : at + c + want])
            self.eof = got < want
            n = at + c + got
            end = buf.raw.rfind(b"\n", at, n) + 1
            if end:
                self.start = self.offset - (n - at)
                self.carry = bytes(buf.raw[end:n])
                return end
            self.carry = bytes(buf.raw[at:n])
        return None

    def _fill(self, view: memoryview) -> int:
        """Read into ``view`` until it is full or the file ends; the bytes read."""
        got = 0
        while got < len(view):
            try:
                k = _readinto(self.fh, view[got:])
            except OSError as exc:
                raise SortoError(f"{self.path}: read failed at byte {self.offset}: {exc.strerror or exc}") from exc
            if not k:
                break
            got += k
            self.offset += k
        return got


def _tail(ctx: Context, data: bytes, no: int) -> None:
    """The bytes after the last newline: a truncated last line, as ``Context.lines`` treats it."""
    if data:
        ctx.line_text(no, data, last=True)


def workers() -> int:
    """Threads for the function tracer's windows: both cores of a 2-core machine, no more.

    More threads than that buy nothing here (the writer is sequential) and
    only take CPUs from the rest of the machine.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(2, n))


class _Window:
    """What one window of a function trace produced: CSV pieces, rows, and its own line accounting.

    Each window gets its own Context so that threads never update the same
    counters; the driver merges them in file order.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = Context(ctx.path, lenient=ctx.lenient)
        self.pieces: list[Any] = []
        self.rows = 0
        self.stopped = False


def _function(ctx: Context, writer: TableWriter, reader: _Reader) -> None:
    """Parse a function trace: its windows are independent (no state across lines), so threads share them.

    Every window is read into one of ``workers() + 1`` buffers and parsed
    by the kernel into its own output buffer, lines for Python handled in
    the same thread; results are written and merged in file order, so the
    first malformed line in the file is the one reported, and a buffer is
    read into again once its window is written.
    """
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    import numpy as np

    from . import _kernels as K
    from .ftrace import function_row

    def work(raw: bytearray, buf: Any, end: int, first: int) -> _Window:
        w = _Window(ctx)
        out = np.empty(WINDOW + (64 << 10), dtype=np.uint8)  # when full, its rows are copied out
        st = np.zeros(4, dtype=np.int64)
        st[K.LINE] = first
        while st[K.POS] < end:
            status = K.function_window(buf, end, st, out)
            if st[K.OUT]:
                w.pieces.append(out[: st[K.OUT]].copy())
                w.rows += int(st[K.ROWS])
                st[K.OUT] = st[K.ROWS] = 0
            if status == K.SLOW:
                pos, no = int(st[K.POS]), int(st[K.LINE])
                nl = raw.find(b"\n", pos, end)
                text = w.ctx.line_text(no, bytes(raw[pos:nl]))
                if text is None:  # a lone \r: the reference stops reading here
                    w.stopped = True
                    break
                row = function_row(w.ctx, no, text)
                if row is not None:
                    w.pieces.append(writer.render_csv([row]))
                    w.rows += 1
                st[K.POS], st[K.LINE] = nl + 1, no + 1
        return w

    free = [_Buffer() for _ in range(workers() + 1)]
    pending: deque[tuple[_Buffer, Future[_Window]]] = deque()
    first = 1
    stopped = False
    with ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="sorto-parse") as pool:
        try:
            while True:
                while free and not reader.eof:
                    b = free.pop()
                    end = reader.window(b)
                    if end is None:
                        free.append(b)
                        break
                    pending.append((b, pool.submit(work, b.raw, b.arr, end, first)))
                    first += K.count_lines(b.arr, 0, end)
                if not pending:
                    break
                b, fut = pending.popleft()
                w = fut.result()
                for piece in w.pieces:
                    writer.write_csv_bytes(piece, 0)
                writer.rows += w.rows
                ctx.skipped += w.ctx.skipped
                ctx.notes += w.ctx.notes
                ctx.partial = ctx.partial or w.ctx.partial
                if w.ctx.truncated_line is not None:
                    ctx.truncated_line = w.ctx.truncated_line
                if w.stopped:
                    stopped = True
                    break
                free.append(b)
        finally:
            for _b, later in pending:
                later.cancel()
    if not stopped:
        _tail(ctx, reader.carry, first)


def _graph(ctx: Context, writer: TableWriter, reader: _Reader) -> None:
    """Parse a function_graph trace in one thread: a row may close a call opened anywhere before it.

    The kernel keeps the open calls; a line it leaves to Python is read by
    ``ftrace.graph_match``: skipped or reported as malformed right here, or,
    when it is a call entry, leaf or exit (which would change the stacks),
    the open calls are converted to the reference's stacks and the rest of
    the file goes through ``FtraceFunctionGraph.rows_from``.  Between
    windows the bytes the open calls point to are kept at the front of the
    one buffer (``_kernels.graph_keep``) and the next window is read after them.
    The rendered rows are written by a second thread while the kernel, which
    releases the GIL, renders the next ones into the other of two buffers.
    """
    import itertools
    from concurrent.futures import Future, ThreadPoolExecutor

    import numpy as np

    from . import _kernels as K
    from .ftrace import FtraceFunctionGraph, graph_match

    buf = _Buffer()
    keep = np.empty(4096, dtype=np.uint8)  # grows with the open calls
    kept = 0
    outs = [np.empty(WINDOW + (64 << 10), dtype=np.uint8) for _ in range(2)]
    out = outs[0]
    st = np.zeros(K.STATE, dtype=np.int64)
    st[K.LINE] = 1
    st[K.FREE] = -1
    pool = np.empty((1024, K.E_FIELDS), dtype=np.int64)
    tops = np.full(MAX_CPUS, -1, dtype=np.int64)
    seen = np.zeros(MAX_CPUS, dtype=np.uint8)
    order = np.zeros(MAX_CPUS, dtype=np.int64)

    wpool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sorto-write")
    pending: Future[None] | None = None

    def sync() -> None:
        """Wait for the rows handed to the writer thread (and raise what it raised)."""
        nonlocal pending
        if pending is not None:
            pending.result()
            pending = None

    def emit() -> None:
        nonlocal out, pending
        if st[K.OUT]:
            sync()
            pending = wpool.submit(writer.write_csv_bytes, out[: st[K.OUT]], int(st[K.ROWS]))
            out = outs[1] if out is outs[0] else outs[0]
            st[K.OUT] = st[K.ROWS] = 0

    try:
        handover: tuple[int, str, int] | None = None
        stopped = False
        while True:
            end = reader.window(buf, kept)
            if end is None:
                break
            raw, arr = buf.raw, buf.arr
            st[K.POS] = kept
            while st[K.POS] < end:
                status = K.graph_window(arr, end, st, out, pool, tops, seen, order)
                emit()
                if status == K.GROW:
                    pool = np.concatenate([pool, np.empty_like(pool)])
                elif status == K.SLOW:
                    pos, no = int(st[K.POS]), int(st[K.LINE])
                    nl = raw.find(b"\n", pos, end)
                    text = ctx.line_text(no, bytes(raw[pos:nl]))
                    if text is None:  # a lone \r: the reference stops reading here
                        stopped = True
                        break
                    m = graph_match(text)
                    if isinstance(m, str):
                        ctx.bad(no, text, m)
                    elif m is not None:
                        handover = (no, text, reader.start + nl + 1 - kept)
                        break
                    st[K.POS], st[K.LINE] = nl + 1, no + 1
            if stopped or handover:
                break
            while (kept := K.graph_keep(arr, pool, tops, order, int(st[K.NCPU]), keep)) < 0:
                keep = np.empty(max(2 * len(keep), -kept), dtype=np.uint8)
            arr[:kept] = keep[:kept]
        if handover:
            no, text, offset = handover
            stacks = _stacks(buf.raw, pool, tops, order, int(st[K.NCPU]))
            lines = itertools.chain([(no, text)], ctx.lines(offset, no + 1))
            sync()
            for row in FtraceFunctionGraph().rows_from(ctx, stacks, lines):
                writer.write(row)
            return
        if not stopped:
            _tail(ctx, reader.carry, int(st[K.LINE]))
        if buf.arr is not None:
            while K.graph_flush(buf.arr, st, out, pool, tops, order) == K.FULL:
                emit()
        emit()
        sync()
    finally:
        wpool.shutdown(wait=True)


def _stacks(raw: bytearray, pool: Any, tops: Any, order: Any, ncpu: int) -> dict[int, list[tuple[Any, ...]]]:
    """The kernel's open calls as FtraceFunctionGraph's stacks: CPUs in first-seen order, bottom first."""
    from . import _kernels as K

    def span(a: int, b: int) -> str | None:
        return raw[a:b].decode("ascii") if a >= 0 else None

    stacks: dict[int, list[tuple[Any, ...]]] = {}
    for cpu in order[:ncpu].tolist():
        chain = []
        e = int(tops[cpu])
        while e >= 0:
            chain.append(e)
            e = int(pool[e, K.E_PREV])
        entries = []
        for e in reversed(chain):
            f = pool[e].tolist()
            pid = span(f[K.E_PA], f[K.E_PB])
            ts = span(f[K.E_SA], f[K.E_SB])
            entries.append(
                (
                    cpu,
                    span(f[K.E_TA], f[K.E_TB]),
                    int(pid) if pid is not None else None,
                    span(f[K.E_FA], f[K.E_FB]),
                    f[K.E_DEPTH],
                    float(ts) if ts is not None else None,
                    f[K.E_LINE],
                )
            )
        stacks[cpu] = entries
    return stacks
