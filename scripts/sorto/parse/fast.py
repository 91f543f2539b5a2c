"""The fast path of ``sorto parse`` for ftrace ``function`` and ``function_graph`` logs.

Why a second path: the reference parsers (``ftrace.py``) spend about 7 us a
line in Python (6-13 MB/s on a function log, less on function_graph), and
these two tracers write the biggest logs.  Here the file is memory-mapped
and read in windows of ``WINDOW`` bytes by the compiled kernels of
``_kernels.py``, which write the CSV bytes of the rows straight into a
buffer.  Memory stays flat: an output buffer per window in flight, and the
pages of each window are dropped from the mapping (``MADV_DONTNEED``) once
parsed, so the resident size does not grow with the file.

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

import mmap
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import Context
from .tables import TableWriter

#: Bytes parsed per kernel call; also the granularity of dropping parsed pages.
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
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:  # /proc files and pipes cannot be mapped
        return False
    return (engine == "fast" or st.st_size >= MIN_BYTES) and available()


def parse(kind: str, ctx: Context, writer: TableWriter) -> None:
    """Write the table of ``ctx.path`` (of type ``kind``) through ``writer`` with the kernels."""
    if os.path.getsize(ctx.path) == 0:
        return
    with open(ctx.path, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        if kind == "ftrace_function":
            _function(ctx, writer, mm)
        elif kind == "ftrace_function_graph":
            _graph(ctx, writer, mm)
        else:
            raise ValueError(kind)
    finally:
        try:
            mm.close()
        except BufferError:  # an array view of it is still referenced somewhere: the collector unmaps it
            pass


def _windows(mm: mmap.mmap) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each window: whole lines, ``end`` just after a newline."""
    complete = mm.rfind(b"\n") + 1
    start = 0
    while start < complete:
        end = complete if start + WINDOW >= complete else mm.find(b"\n", start + WINDOW - 1) + 1
        yield start, end
        start = end


def _drop(mm: mmap.mmap, upto: int, dropped: int) -> int:
    """Release the mapping's pages below ``upto``: parsed bytes must not stay resident."""
    upto -= upto % mmap.PAGESIZE
    if upto > dropped and hasattr(mm, "madvise"):
        mm.madvise(mmap.MADV_DONTNEED, dropped, upto - dropped)
        return upto
    return dropped


def _tail(ctx: Context, mm: mmap.mmap, pos: int, no: int) -> None:
    """The bytes after the last newline: a truncated last line, as ``Context.lines`` treats it."""
    if pos < len(mm):
        ctx.line_text(no, mm[pos:], last=True)


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


def _function(ctx: Context, writer: TableWriter, mm: mmap.mmap) -> None:
    """Parse a function trace: its windows are independent (no state across lines), so threads share them.

    Every window is parsed by the kernel into its own buffer, lines for
    Python handled in the same thread; results are written and merged in
    file order, so the first malformed line in the file is the one reported,
    and at most ``workers() + 1`` windows are in memory at once.
    """
    import numpy as np

    from . import _kernels as K
    from .ftrace import function_row

    buf = np.frombuffer(mm, dtype=np.uint8)

    def work(buf: Any, start: int, end: int, first: int) -> _Window:
        w = _Window(ctx)
        out = np.empty(WINDOW + (64 << 10), dtype=np.uint8)  # when full, its rows are copied out
        st = np.zeros(4, dtype=np.int64)
        st[K.POS], st[K.LINE] = start, first
        while st[K.POS] < end:
            status = K.function_window(buf, end, st, out)
            if st[K.OUT]:
                w.pieces.append(out[:st[K.OUT]].copy())
                w.rows += int(st[K.ROWS])
                st[K.OUT] = st[K.ROWS] = 0
            if status == K.SLOW:
                pos, no = int(st[K.POS]), int(st[K.LINE])
                nl = mm.find(b"\n", pos)
                text = w.ctx.line_text(no, mm[pos:nl])
                if text is None:  # a lone \r: the reference stops reading here
                    w.stopped = True
                    break
                row = function_row(w.ctx, no, text)
                if row is not None:
                    w.pieces.append(writer.render_csv([row]))
                    w.rows += 1
                st[K.POS], st[K.LINE] = nl + 1, no + 1
        return w

    from concurrent.futures import ThreadPoolExecutor

    try:
        with ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="sorto-parse") as pool:
            pending = []
            first = 1
            dropped = 0
            stopped = False
            windows = _windows(mm)
            while True:
                while len(pending) < workers() + 1:
                    nxt = next(windows, None)
                    if nxt is None:
                        break
                    start, end = nxt
                    pending.append((end, first, pool.submit(work, buf, start, end, first)))
                    first += K.count_lines(buf, start, end)
                if not pending:
                    break
                end, _first, fut = pending.pop(0)
                try:
                    w = fut.result()
                except BaseException:
                    for _e, _f, later in pending:
                        later.cancel()
                    raise
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
                    for _e, _f, later in pending:
                        later.cancel()
                    break
                dropped = _drop(mm, end, dropped)
        if not stopped:
            complete = mm.rfind(b"\n") + 1
            _tail(ctx, mm, complete, first)
    finally:
        del buf


def _graph(ctx: Context, writer: TableWriter, mm: mmap.mmap) -> None:
    """Parse a function_graph trace in one thread: a row may close a call opened anywhere before it.

    The kernel keeps the open calls; a line it leaves to Python is read by
    ``ftrace.graph_match``: skipped or reported as malformed right here, or,
    when it is a call entry, leaf or exit (which would change the stacks),
    the open calls are converted to the reference's stacks and the rest of
    the file goes through ``FtraceFunctionGraph.rows_from``.
    """
    import itertools

    import numpy as np

    from . import _kernels as K
    from .ftrace import FtraceFunctionGraph, graph_match

    buf = np.frombuffer(mm, dtype=np.uint8)
    out = np.empty(WINDOW + (64 << 10), dtype=np.uint8)
    st = np.zeros(K.STATE, dtype=np.int64)
    st[K.LINE] = 1
    st[K.FREE] = -1
    pool = np.empty((1024, K.E_FIELDS), dtype=np.int64)
    tops = np.full(MAX_CPUS, -1, dtype=np.int64)
    seen = np.zeros(MAX_CPUS, dtype=np.uint8)
    order = np.zeros(MAX_CPUS, dtype=np.int64)

    def emit() -> None:
        if st[K.OUT]:
            writer.write_csv_bytes(out[:st[K.OUT]], int(st[K.ROWS]))
            st[K.OUT] = st[K.ROWS] = 0

    handover: tuple[int, str, int] | None = None
    stopped = False
    dropped = 0
    try:
        for _start, end in _windows(mm):
            while st[K.POS] < end:
                status = K.graph_window(buf, end, st, out, pool, tops, seen, order)
                emit()
                if status == K.GROW:
                    pool = np.concatenate([pool, np.empty_like(pool)])
                elif status == K.SLOW:
                    pos, no = int(st[K.POS]), int(st[K.LINE])
                    nl = mm.find(b"\n", pos)
                    text = ctx.line_text(no, mm[pos:nl])
                    if text is None:  # a lone \r: the reference stops reading here
                        stopped = True
                        break
                    m = graph_match(text)
                    if isinstance(m, str):
                        ctx.bad(no, text, m)
                    elif m is not None:
                        handover = (no, text, nl + 1)
                        break
                    st[K.POS], st[K.LINE] = nl + 1, no + 1
            if stopped or handover:
                break
            dropped = _drop(mm, int(st[K.POS]), dropped)
        if handover:
            no, text, offset = handover
            stacks = _stacks(mm, pool, tops, order, int(st[K.NCPU]))
            lines = itertools.chain([(no, text)], ctx.lines(offset, no + 1))
            for row in FtraceFunctionGraph().rows_from(ctx, stacks, lines):
                writer.write(row)
            return
        if not stopped:
            _tail(ctx, mm, int(st[K.POS]), int(st[K.LINE]))
        while K.graph_flush(buf, st, out, pool, tops, order) == K.FULL:
            emit()
        emit()
    finally:
        del buf


def _stacks(mm: mmap.mmap, pool: Any, tops: Any, order: Any, ncpu: int) -> dict[int, list[tuple[Any, ...]]]:
    """The kernel's open calls as FtraceFunctionGraph's stacks: CPUs in first-seen order, bottom first."""
    from . import _kernels as K

    def span(a: int, b: int) -> str | None:
        return mm[a:b].decode("ascii") if a >= 0 else None

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
            entries.append((cpu, span(f[K.E_TA], f[K.E_TB]), int(pid) if pid is not None else None,
                            span(f[K.E_FA], f[K.E_FB]), f[K.E_DEPTH], float(ts) if ts is not None else None,
                            f[K.E_LINE]))
        stacks[cpu] = entries
    return stacks
