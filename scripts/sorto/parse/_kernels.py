"""Compiled (numba) line kernels behind ``sorto parse``'s fast path for ftrace logs.

Why numba: a Python loop costs about 7 us a line (regex, number conversions,
``csv.writerow``), a 100 MB function log has 1.2 million lines, and the
vectorised engines measured (polars, pyarrow; docs/parse.md) stay near
60 MB/s on one core because they still run a capturing regex per line and
build columns that are then formatted again.  A kernel compiled from this
file reads the bytes of a window of the log once and writes the CSV bytes
of its rows directly, at several hundred MB/s, with no per-line objects.

The kernels only ever *accept* a line: each one reproduces the reference
regular expressions of ``ftrace.py`` for lines of printable ASCII without
``,`` or ``"`` (nothing to quote or decode), and hands every other line
back to Python (status ``SLOW``), which runs the reference code on it.  So
what a kernel writes for a line is, by construction and by the differential
tests in tests/test_parse_fast.py, what the reference writes.

Numbers are written as the reference's ``str(int(...))`` and
``repr(float(...))`` would print them, from the digits: an integer loses its
leading zeros (one of more than ``INT_DIGITS`` digits goes to Python, whose
``int()`` may refuse it); a decimal with at most 15 significant digits
between 1e-4 and 1e16 prints as its own digits without trailing zeros
(``10.490686``, ``10.0``); any other decimal sends the line to Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Statuses returned by the kernels.
DONE, SLOW, FULL = 0, 1, 2
#: Slots of the int64 state array shared with the driver.
POS, LINE, OUT, ROWS = 0, 1, 2, 3
#: Room reserved in the output buffer for one row beyond the line's own length.
ROW_SLACK = 96
#: Longest integer field a kernel prints itself; a longer one goes to Python, whose ``int()`` refuses
#: more than ``sys.get_int_max_str_digits()`` digits (leading zeros included; 4300 by default, at least 640).
INT_DIGITS = 19

_SP, _COMMA, _DASH, _DOT, _ZERO, _NINE, _COLON = 32, 44, 45, 46, 48, 57, 58
_LPAR, _RPAR, _LBR, _RBR, _LT, _HASH, _PIPE = 40, 41, 91, 93, 60, 35, 124
#: Byte classes, OR-ed over a line by _line_scan: ODD for the bytes that make a line not plain
#: (controls, non-ASCII, ``,`` and ``"``), then ``|`` and ``=`` (function_graph's quick skip test).
C_ODD, C_BAR, C_EQ = 1, 2, 4
_CLASS = np.array(
    [
        (0 if 32 <= c <= 126 and c not in (44, 34) else C_ODD) | (C_BAR if c == 124 else 0) | (C_EQ if c == 61 else 0)
        for c in range(256)
    ],
    dtype=np.uint8,
)


@njit(cache=True, nogil=True, inline="always")
def _digit(c: int) -> bool:
    return _ZERO <= c <= _NINE


# The scanning helpers index with unsigned integers: numba checks each signed index for wrap-around
# (a negative index counts from the end), which costs more than the scan itself.


@njit(cache=True, nogil=True, inline="always")
def _skip_sp(buf: np.ndarray, i: int, b: int) -> int:
    u = np.uint64(i)
    ub = np.uint64(b)
    while u < ub and buf[u] == _SP:
        u += np.uint64(1)
    return np.int64(u)


@njit(cache=True, nogil=True, inline="always")
def _skip_digits(buf: np.ndarray, i: int, b: int) -> int:
    u = np.uint64(i)
    ub = np.uint64(b)
    while u < ub and _digit(buf[u]):
        u += np.uint64(1)
    return np.int64(u)


@njit(cache=True, nogil=True, inline="always")
def _skip_to(buf: np.ndarray, i: int, b: int, c1: int, c2: int) -> int:
    """The first index from ``i`` holding ``c1`` or ``c2`` (``b`` if none)."""
    u = np.uint64(i)
    ub = np.uint64(b)
    while u < ub and buf[u] != c1 and buf[u] != c2:
        u += np.uint64(1)
    return np.int64(u)


@njit(cache=True, nogil=True, inline="always")
def _put(out: np.ndarray, o: int, buf: np.ndarray, a: int, b: int) -> int:
    # Unsigned indices: numba checks every signed index for wrap-around (negative) and a slice
    # assignment for overlap; either makes this copy, most of a row, several times slower.
    n = b - a
    d = np.uint64(o)
    s = np.uint64(a)
    for k in range(np.uint64(n)):
        out[d + k] = buf[s + k]
    return o + n


@njit(cache=True, nogil=True, inline="always")
def _put_int(out: np.ndarray, o: int, buf: np.ndarray, a: int, b: int) -> int:
    """``str(int(digits))``: the digits without leading zeros."""
    while a < b - 1 and buf[a] == _ZERO:
        a += 1
    return _put(out, o, buf, a, b)


@njit(cache=True, nogil=True)
def _put_uint(out: np.ndarray, o: int, n: int) -> int:
    """A non-negative integer in decimal (the ``line`` columns)."""
    k = 1
    m = n
    while m >= 10:
        m //= 10
        k += 1
    e = o + k
    for j in range(k):
        out[e - 1 - j] = _ZERO + n % 10
        n //= 10
    return e


@njit(cache=True, nogil=True)
def _put_float(out: np.ndarray, o: int, buf: np.ndarray, a: int, b: int) -> int:
    """``repr(float(text))`` for ``\\d+(\\.\\d+)?`` in ``buf[a:b]``, or -1 when only Python can say.

    With at most 15 significant digits a decimal is the shortest string that
    reads back as its double (DBL_DIG), so ``repr`` prints exactly those
    digits, in positional notation while the decimal exponent is within
    (-4, 16]: leading zeros of the integer part and trailing zeros of the
    fraction go, an empty side becomes ``0``.  The digit count is taken with
    the integer part's trailing zeros included: an overestimate that only
    sends more values to Python.
    """
    d = b
    for i in range(a, b):
        if buf[i] == _DOT:
            d = i
            break
    ia = a
    while ia < d and buf[ia] == _ZERO:
        ia += 1
    fa = d + 1
    fb = b
    if d == b:
        fa = b
    while fb > fa and buf[fb - 1] == _ZERO:
        fb -= 1
    nint = d - ia
    if nint > 0:
        if nint > 16 or nint + (fb - fa) > 15:
            return -1
        o = _put(out, o, buf, ia, d)
        out[o] = _DOT
        o += 1
        if fb > fa:
            return _put(out, o, buf, fa, fb)
        out[o] = _ZERO
        return o + 1
    j = fa
    while j < fb and buf[j] == _ZERO:
        j += 1
    if j == fb:  # zero
        out[o] = _ZERO
        out[o + 1] = _DOT
        out[o + 2] = _ZERO
        return o + 3
    if j - fa >= 4 or fb - j > 15:  # 1e-05 and below print in exponent notation
        return -1
    out[o] = _ZERO
    out[o + 1] = _DOT
    return _put(out, o + 2, buf, fa, fb)


@njit(cache=True, nogil=True)
def _line_scan(buf: np.ndarray, pos: int) -> tuple[int, int]:
    """End of the line at ``pos`` (its ``\\n``) and the OR of its bytes' classes (_CLASS), in one pass."""
    i = np.uint64(pos)
    m = 0
    while True:
        c = buf[i]
        if c == 10:
            break
        m |= _CLASS[c]
        i += np.uint64(1)
    return np.int64(i), m


@njit(cache=True, nogil=True, inline="always")
def _line_end(buf: np.ndarray, pos: int) -> tuple[int, bool]:
    """End of the line at ``pos`` and whether the line is plain: printable ASCII, no ``,`` or ``"``."""
    nl, m = _line_scan(buf, pos)
    return nl, (m & C_ODD) == 0


@njit(cache=True, nogil=True)
def count_lines(buf: np.ndarray, a: int, b: int) -> int:
    """Newlines in ``buf[a:b]``: the line number a window starts at, without parsing what is before it."""
    n = 0
    for i in range(np.uint64(a), np.uint64(b)):
        if buf[i] == 10:
            n += 1
    return n


# ---------------------------------------------------------------------------
# function tracer: ftrace._FUNC_FAST
#   ^\s*(.*?)-(\d+)\s+(?:\(\s*(-+|\d+)\)\s+)?\[(\d+)\]\s+(?:([^\s:]{4,6})\s+)?
#   (\d+(?:\.\d+)?):\s\s*(\S+?)\s+<-(\S+)\s*$


@njit(cache=True, nogil=True)
def _function_rest(buf: np.ndarray, t0: int, p: int, b: int, no: int, out: np.ndarray, o: int) -> int:
    """Match _FUNC_FAST with the task ending at the ``-`` at ``p``; write the row.

    Returns the new output offset, -1 when the pattern does not match with
    this split (the regex then tries the next ``-``), -2 when it matches but
    a number needs Python.
    """
    i = p + 1
    pid0 = i
    i = _skip_digits(buf, i, b)
    pid1 = i
    if pid1 == pid0 or i >= b or buf[i] != _SP:
        return -1
    i = _skip_sp(buf, i, b)
    tg0 = -1
    tg1 = -1
    if i < b and buf[i] == _LPAR:
        i = _skip_sp(buf, i + 1, b)
        j = i
        if i < b and buf[i] == _DASH:
            while j < b and buf[j] == _DASH:
                j += 1
        elif i < b and _digit(buf[i]):
            j = _skip_digits(buf, i, b)
            tg0 = i
            tg1 = j
        else:
            return -1
        if j >= b or buf[j] != _RPAR:
            return -1
        i = j + 1
        if i >= b or buf[i] != _SP:
            return -1
        i = _skip_sp(buf, i, b)
    if i >= b or buf[i] != _LBR:
        return -1
    c0 = i + 1
    c1 = _skip_digits(buf, c0, b)
    if c1 == c0 or c1 >= b or buf[c1] != _RBR:
        return -1
    i = c1 + 1
    if i >= b or buf[i] != _SP:
        return -1
    i = _skip_sp(buf, i, b)
    j = _skip_to(buf, i, b, _SP, _COLON)
    f0 = i
    f1 = i
    if 4 <= j - i <= 6 and j < b and buf[j] == _SP:
        f1 = j
        i = _skip_sp(buf, j, b)
    s0 = i
    i = _skip_digits(buf, i, b)
    if i == s0:
        return -1
    if i < b and buf[i] == _DOT and i + 1 < b and _digit(buf[i + 1]):
        i = _skip_digits(buf, i + 1, b)
    s1 = i
    if i + 1 >= b or buf[i] != _COLON or buf[i + 1] != _SP:
        return -1
    i = _skip_sp(buf, i + 1, b)
    fn0 = i
    i = _skip_to(buf, i, b, _SP, _SP)
    fn1 = i
    if fn1 == fn0 or i >= b:
        return -1
    i = _skip_sp(buf, i, b)
    if i + 2 >= b or buf[i] != _LT or buf[i + 1] != _DASH or buf[i + 2] == _SP:
        return -1
    pa0 = i + 2
    i = _skip_to(buf, pa0, b, _SP, _SP)
    pa1 = i
    if _skip_sp(buf, i, b) != b:
        return -1
    if pid1 - pid0 > INT_DIGITS or tg1 - tg0 > INT_DIGITS or c1 - c0 > INT_DIGITS:
        return -2  # int() of a very long one raises in the reference: Python's call
    # Matched: task.strip(), int(pid), tgid or None, int(cpu), flags or None, float(ts), fn, parent, line.
    te = p
    while te > t0 and buf[te - 1] == _SP:
        te -= 1
    o = _put(out, o, buf, t0, te)
    out[o] = _COMMA
    o = _put_int(out, o + 1, buf, pid0, pid1)
    out[o] = _COMMA
    o += 1
    if tg0 >= 0:
        o = _put_int(out, o, buf, tg0, tg1)
    out[o] = _COMMA
    o = _put_int(out, o + 1, buf, c0, c1)
    out[o] = _COMMA
    o = _put(out, o + 1, buf, f0, f1)
    out[o] = _COMMA
    o = _put_float(out, o + 1, buf, s0, s1)
    if o < 0:
        return -2
    out[o] = _COMMA
    o = _put(out, o + 1, buf, fn0, fn1)
    out[o] = _COMMA
    o = _put(out, o + 1, buf, pa0, pa1)
    out[o] = _COMMA
    o = _put_uint(out, o + 1, no)
    out[o] = 10
    return o + 1


@njit(cache=True, nogil=True)
def function_window(buf: np.ndarray, end: int, st: np.ndarray, out: np.ndarray) -> int:
    """Parse the function-tracer lines of ``buf[st[POS]:end]`` (``end`` just after a newline) into ``out``.

    Advances ``st`` (position, line number, output length, rows) past every
    line it handles; returns DONE at ``end``, SLOW at a line for Python, FULL
    when ``out`` has no room for the next row.
    """
    pos = st[POS]
    no = st[LINE]
    o = st[OUT]
    rows = st[ROWS]
    cap = out.shape[0]
    status = DONE
    while pos < end:
        nl, plain = _line_end(buf, pos)
        if nl - pos + ROW_SLACK > cap - o:
            status = FULL if o > 0 else SLOW
            break
        if not plain:
            status = SLOW
            break
        t0 = _skip_sp(buf, pos, nl)
        r = -1
        p = _skip_to(buf, t0, nl, _DASH, _DASH)
        while p < nl:
            r = _function_rest(buf, t0, p, nl, no, out, o)
            if r != -1:
                break
            p = _skip_to(buf, p + 1, nl, _DASH, _DASH)
        if r >= 0:
            o = r
            rows += 1
        elif r == -2 or (t0 < nl and buf[t0] != _HASH):  # a number for Python, or not a plain call line
            status = SLOW
            break
        pos = nl + 1  # blank and comment lines: nothing to write
        no += 1
    st[POS] = pos
    st[LINE] = no
    st[OUT] = o
    st[ROWS] = rows
    return status


# ---------------------------------------------------------------------------
# function_graph tracer: ftrace.GRAPH_LINE, _G_ENTRY, _G_EXIT and FtraceFunctionGraph.rows' call stacks
#
# The open calls of each CPU are a linked stack in an entry pool ``E`` (rows
# of the fields below, spans into ``buf``).  ``tops[cpu]`` is the top entry
# (-1: empty); ``order`` lists the CPUs in the order the reference's dict of
# stacks first saw them, which is the order it closes the calls still open at
# the end.  CPUs must be below ``len(tops)``; a larger one goes to Python.
# The driver reads the file into one reused buffer: before it reads the next
# window, ``graph_keep`` copies the spans of the calls still open to the
# front of the buffer, so they stay valid however far the exit is.

#: Fields of an entry in the pool.
E_PREV, E_CPU, E_DEPTH, E_LINE, E_TA, E_TB, E_PA, E_PB, E_FA, E_FB, E_SA, E_SB = range(12)
E_FIELDS = 12
#: Extra state slots of a function_graph parse (after POS, LINE, OUT, ROWS).
FREE, USED, NCPU = 4, 5, 6
STATE = 8
#: Status: the entry pool is full; grow it and call again.
GROW = 3

_PLUS, _BANG, _STAR, _AT, _DOLLAR, _EQ, _SLASH = 43, 33, 42, 64, 36, 61, 47
_LBRACE, _RBRACE, _SEMI, _U, _S = 123, 125, 59, 117, 115


@njit(cache=True, nogil=True, inline="always")
def _word(c: int) -> bool:
    """``[\\w.-]`` for ASCII."""
    return (_ZERO <= c <= _NINE) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95 or c == _DOT or c == _DASH


@njit(cache=True, nogil=True)
def _graph_dur(buf: np.ndarray, i: int, b: int) -> tuple[int, int, int, int]:
    """``\\s*(ovh)?\\s*(?:(dur)\\s*us\\s*)?\\|`` from ``i``: (position of the bar or -1, ovh byte or 0, dur span)."""
    i = _skip_sp(buf, i, b)
    ovh = 0
    if i < b:
        c = buf[i]
        if c == _PLUS or c == _BANG or c == _HASH or c == _STAR or c == _AT or c == _DOLLAR:
            ovh = c
            i = _skip_sp(buf, i + 1, b)
    da = -1
    db = -1
    if i < b and _digit(buf[i]):
        j = _skip_digits(buf, i, b)
        if j + 1 < b and buf[j] == _DOT and _digit(buf[j + 1]):
            j = _skip_digits(buf, j + 1, b)
        k = _skip_sp(buf, j, b)
        if k + 1 < b and buf[k] == _U and buf[k + 1] == _S:
            da = i
            db = j
            i = _skip_sp(buf, k + 2, b)
        else:
            return -1, 0, -1, -1
    if i < b and buf[i] == _PIPE:
        return i, ovh, da, db
    return -1, 0, -1, -1


@njit(cache=True, nogil=True)
def _graph_after_task(buf: np.ndarray, r: int, b: int) -> tuple[int, int, int, int]:
    """The optional latency column, then _graph_dur; as the regex backtracks: with the column, else without."""
    k = _skip_sp(buf, r, b)
    j = k
    while j < b and j - k < 6 and buf[j] != _SP and buf[j] != _PIPE:
        j += 1
    if 4 <= j - k <= 5 and j < b and buf[j] == _SP:
        m = _skip_sp(buf, j, b)
        if m + 1 < b and buf[m] == _PIPE and buf[m + 1] == _SP:
            bar, ovh, da, db = _graph_dur(buf, m + 2, b)
            if bar >= 0:
                return bar, ovh, da, db
    return _graph_dur(buf, r, b)


@njit(cache=True, nogil=True)
def _entry_tail(buf: np.ndarray, i: int, bb: int) -> tuple[int, int, int]:
    """``\\s*(\\{|;)(?:\\s*/\\*\\s*(ret.*?)\\s*\\*/)?$`` from ``i``: (end byte or 0, ret span)."""
    i = _skip_sp(buf, i, bb)
    if i >= bb or (buf[i] != _LBRACE and buf[i] != _SEMI):
        return 0, -1, -1
    end = buf[i]
    i += 1
    if i == bb:
        return end, -1, -1
    k = _skip_sp(buf, i, bb)
    if k + 1 < bb and buf[k] == _SLASH and buf[k + 1] == _STAR:
        c = _skip_sp(buf, k + 2, bb)
        if bb - 2 >= c and buf[bb - 2] == _STAR and buf[bb - 1] == _SLASH:
            e = bb - 2
            while e > c and buf[e - 1] == _SP:
                e -= 1
            return end, c, e
    return 0, -1, -1


@njit(cache=True, nogil=True)
def _graph_entry(buf: np.ndarray, ba: int, bb: int) -> tuple[int, int, int, int]:
    """_G_ENTRY on the body: (end byte ``{``/``;`` or 0 for no match, end of the name, ret span)."""
    f = ba
    while f < bb:
        c = buf[f]
        if c == _SP or c == _LPAR or c == _RPAR or c == _LBRACE or c == _RBRACE:
            break
        f += 1
    if f == ba or f >= bb:
        return 0, -1, -1, -1
    if buf[f] == _SP:  # " [module]"
        if not (f + 1 < bb and buf[f + 1] == _LBR):
            return 0, -1, -1, -1
        g = f + 2
        while g < bb and _word(buf[g]):
            g += 1
        if g == f + 2 or g >= bb or buf[g] != _RBR:
            return 0, -1, -1, -1
        f = g + 1
    if f >= bb or buf[f] != _LPAR:
        return 0, -1, -1, -1
    q = bb - 1
    while q > f:  # args are greedy: the last ")" after which the rest matches
        if buf[q] == _RPAR:
            end, ra, rb = _entry_tail(buf, q + 1, bb)
            if end:
                return end, f, ra, rb
        q -= 1
    return 0, -1, -1, -1


@njit(cache=True, nogil=True)
def _graph_exit(buf: np.ndarray, ba: int, bb: int) -> tuple[bool, int, int, int, int]:
    """_G_EXIT on the body: (matched, name span, ret span)."""
    if buf[ba] != _RBRACE:
        return False, -1, -1, -1, -1
    if ba + 1 == bb:
        return True, -1, -1, -1, -1
    k = _skip_sp(buf, ba + 1, bb)
    if not (k + 1 < bb and buf[k] == _SLASH and buf[k + 1] == _STAR):
        return False, -1, -1, -1, -1
    c = _skip_sp(buf, k + 2, bb)
    fa = -1
    fb = -1
    j = c
    while j < bb and buf[j] != _SP and buf[j] != _EQ and buf[j] != _STAR:
        j += 1
    if j > c:
        fa = c
        fb = j
        if j + 1 < bb and buf[j] == _SP and buf[j + 1] == _LBR:
            g = j + 2
            while g < bb and _word(buf[g]):
                g += 1
            if g > j + 2 and g < bb and buf[g] == _RBR:
                fb = g + 1
                j = g + 1
            # else: the module part does not match; whatever follows the name must (checked below)
        c = j
    k = _skip_sp(buf, c, bb)
    if k < bb and buf[k] == _EQ:
        m = _skip_sp(buf, k + 1, bb)
        r1 = _skip_to(buf, m, bb, _SP, _SP)
        if r1 > m:
            t = _skip_sp(buf, r1, bb)
            if t == bb - 2 and buf[t] == _STAR and buf[t + 1] == _SLASH:
                return True, fa, fb, m, r1
            if r1 == bb and r1 - m >= 3 and buf[bb - 2] == _STAR and buf[bb - 1] == _SLASH:
                return True, fa, fb, m, bb - 2
        return False, -1, -1, -1, -1
    if k == bb - 2 and buf[k] == _STAR and buf[k + 1] == _SLASH:
        return True, fa, fb, -1, -1
    return False, -1, -1, -1, -1


@njit(cache=True, nogil=True, inline="always")
def _put_word(out: np.ndarray, o: int, yes: bool) -> int:
    """``true``/``false``, as TableWriter writes booleans in CSV."""
    if yes:
        out[o] = 116
        out[o + 1] = 114
        out[o + 2] = 117
        out[o + 3] = 101
        return o + 4
    out[o] = 102
    out[o + 1] = 97
    out[o + 2] = 108
    out[o + 3] = 115
    out[o + 4] = 101
    return o + 5


@njit(cache=True, nogil=True)
def _graph_row(
    out: np.ndarray,
    o: int,
    buf: np.ndarray,
    cpu: int,
    ta: int,
    tb: int,
    pa: int,
    pb: int,
    fa: int,
    fb: int,
    depth: int,
    da: int,
    db: int,
    ovh: int,
    leaf: bool,
    sa: int,
    sb: int,
    ra: int,
    rb: int,
    complete: bool,
    line: int,
    end_line: int,
) -> int:
    """One row of ftrace_function_graph (spans with a negative start are nulls); numbers pre-checked."""
    o = _put_uint(out, o, cpu)
    out[o] = _COMMA
    o += 1
    if ta >= 0:
        o = _put(out, o, buf, ta, tb)
    out[o] = _COMMA
    o += 1
    if pa >= 0:
        o = _put_int(out, o, buf, pa, pb)
    out[o] = _COMMA
    o += 1
    if fa >= 0:
        o = _put(out, o, buf, fa, fb)
    out[o] = _COMMA
    o = _put_uint(out, o + 1, depth)
    out[o] = _COMMA
    o += 1
    if da >= 0:
        o = _put_float(out, o, buf, da, db)
    out[o] = _COMMA
    o += 1
    if ovh:
        out[o] = ovh
        o += 1
    out[o] = _COMMA
    o = _put_word(out, o + 1, leaf)
    out[o] = _COMMA
    o += 1
    if sa >= 0:
        o = _put_float(out, o, buf, sa, sb)
    out[o] = _COMMA
    o += 1
    if ra >= 0:
        o = _put(out, o, buf, ra, rb)
    out[o] = _COMMA
    o = _put_word(out, o + 1, complete)
    out[o] = _COMMA
    o += 1
    if line >= 0:
        o = _put_uint(out, o, line)
    out[o] = _COMMA
    o += 1
    if end_line >= 0:
        o = _put_uint(out, o, end_line)
    out[o] = 10
    return o + 1


@njit(cache=True, nogil=True, inline="always")
def _entry_size(E: np.ndarray, e: int) -> int:
    """Room an entry's row needs at most: its spans plus the fixed fields."""
    return (
        (E[e, E_TB] - E[e, E_TA])
        + (E[e, E_PB] - E[e, E_PA])
        + (E[e, E_FB] - E[e, E_FA])
        + (E[e, E_SB] - E[e, E_SA])
        + ROW_SLACK
    )


@njit(cache=True, nogil=True)
def _open_row(out: np.ndarray, o: int, buf: np.ndarray, E: np.ndarray, e: int, end_line: int) -> int:
    """FtraceFunctionGraph._open: a call whose exit was not seen (end_line -1: the trace ended)."""
    return _graph_row(
        out,
        o,
        buf,
        E[e, E_CPU],
        E[e, E_TA],
        E[e, E_TB],
        E[e, E_PA],
        E[e, E_PB],
        E[e, E_FA],
        E[e, E_FB],
        E[e, E_DEPTH],
        -1,
        -1,
        0,
        False,
        E[e, E_SA],
        E[e, E_SB],
        -1,
        -1,
        False,
        E[e, E_LINE],
        end_line,
    )


@njit(cache=True, nogil=True)
def _cpu_prefix(buf: np.ndarray, i: int, b: int) -> int:
    r"""``(?:\d+\.\d+\s*\|\s*)?\d+\)\s`` at ``i`` (the start of GRAPH_LINE and _G_IRQ_MARK): the end, or -1."""
    if i < b and _digit(buf[i]):
        j = _skip_digits(buf, i, b)
        if j + 1 < b and buf[j] == _DOT and _digit(buf[j + 1]):
            k = _skip_digits(buf, j + 1, b)
            m = _skip_sp(buf, k, b)
            if m < b and buf[m] == _PIPE:
                i = _skip_sp(buf, m + 1, b)
    c = _skip_digits(buf, i, b)
    if c == i or c + 1 >= b or buf[c] != _RPAR or buf[c + 1] != _SP:
        return -1
    return c + 2


@njit(cache=True, nogil=True)
def _graph_plain_skip(buf: np.ndarray, a: int, b: int) -> int:
    """The reference's skips before GRAPH_LINE: 1 skip, 0 parse the line, -1 Python decides.

    Skipped as in FtraceFunctionGraph: blank lines and ``#`` comments, rows
    of dashes, context switches (``_G_SWITCH``, no bar) and irq markers
    printed in the duration column (``_G_IRQ_MARK``).  Other lines without a
    bar, with ``==========`` or starting with ``C`` (``CPU:N [LOST``) go to
    Python.
    """
    i = _skip_sp(buf, a, b)
    if i == b or buf[i] == _HASH:
        return 1
    e = b
    while e > i and buf[e - 1] == _SP:
        e -= 1
    dashes = True
    bar = False
    marker = False
    eq = 0
    for k in range(i, e):
        c = buf[k]
        if c != _DASH:
            dashes = False
        if c == _PIPE:
            bar = True
        if c == _EQ:
            eq += 1
            if eq >= 10:
                marker = True
        else:
            eq = 0
    if dashes:
        return 1
    if not bar:  # _G_SWITCH: CPU) then "=>" and a name after the first word
        c = _skip_digits(buf, i, e)
        if c == i or c + 1 >= e or buf[c] != _RPAR or buf[c + 1] != _SP:
            return -1
        s0 = _skip_sp(buf, c + 1, e)
        for k in range(s0 + 1, e - 2):
            if buf[k] == _EQ and buf[k + 1] == 62 and buf[k + 2] == _SP and _skip_sp(buf, k + 2, e) < e:
                return 1
        return -1
    if marker:  # _G_IRQ_MARK: prefix, anything, "==========>" or "<==========", spaces, a final bar
        if buf[e - 1] != _PIPE:
            return -1
        g = e - 1
        while g > i and buf[g - 1] == _SP:
            g -= 1
        start = _cpu_prefix(buf, i, e)
        if start < 0 or g - 11 < start:
            return -1
        if buf[g - 1] == 62:
            for k in range(g - 11, g - 1):
                if buf[k] != _EQ:
                    return -1
            return 1
        if buf[g - 11] == _LT:
            for k in range(g - 10, g):
                if buf[k] != _EQ:
                    return -1
            return 1
        return -1
    if buf[i] == 67:  # 'C'
        return -1
    return 0


@njit(cache=True, nogil=True)
def graph_window(
    buf: np.ndarray,
    end: int,
    st: np.ndarray,
    out: np.ndarray,
    E: np.ndarray,
    tops: np.ndarray,
    seen: np.ndarray,
    order: np.ndarray,
) -> int:
    """Parse the function_graph lines of ``buf[st[POS]:end]`` into ``out`` (see function_window).

    Validates a whole line (syntax, numbers, room in ``out`` and the pool)
    before it touches the stacks, so a line handed back (SLOW, FULL, GROW) is
    untouched and can be parsed again or by Python.
    """
    pos = st[POS]
    no = st[LINE]
    o = st[OUT]
    rows = st[ROWS]
    cap = out.shape[0]
    ncpu_max = tops.shape[0]
    status = DONE
    while pos < end:
        nl, cls = _line_scan(buf, pos)
        if cls & C_ODD:
            status = SLOW
            break
        if nl - pos + 2 * ROW_SLACK > cap - o:
            status = FULL if o > 0 else SLOW
            break
        i = _skip_sp(buf, pos, nl)
        sk = 0
        if not (cls & C_BAR) or (cls & C_EQ) or i == nl or buf[i] == _HASH or buf[i] == _DASH or buf[i] == 67:
            sk = _graph_plain_skip(buf, pos, nl)  # the common call line (a bar, no "=") cannot be skipped
        if sk < 0:
            status = SLOW
            break
        if sk == 1:
            pos = nl + 1
            no += 1
            continue
        # GRAPH_LINE
        i = _skip_sp(buf, pos, nl)
        sa = -1
        sb = -1
        if i < nl and _digit(buf[i]):  # funcgraph-abstime
            j = _skip_digits(buf, i, nl)
            if j + 1 < nl and buf[j] == _DOT and _digit(buf[j + 1]):
                k = _skip_digits(buf, j + 1, nl)
                m = _skip_sp(buf, k, nl)
                if m < nl and buf[m] == _PIPE:
                    sa = i
                    sb = k
                    i = _skip_sp(buf, m + 1, nl)
        c0 = i
        c1 = _skip_digits(buf, i, nl)
        if c1 == c0 or c1 + 1 >= nl or buf[c1] != _RPAR or buf[c1 + 1] != _SP or c1 - c0 > 6:
            status = SLOW
            break
        i0 = c1 + 2
        ta = -1
        tb = -1
        pa = -1
        pb = -1
        bar = -1
        ovh = 0
        da = -1
        db = -1
        ks = _skip_sp(buf, i0, nl)
        if ks < nl:
            p = _skip_to(buf, ks + 1, nl, _DASH, _DASH)
            while p < nl:
                q = _skip_digits(buf, p + 1, nl)
                if q > p + 1 and q < nl and buf[q] == _SP:
                    r = _skip_sp(buf, q, nl)
                    if r + 1 < nl and buf[r] == _PIPE and buf[r + 1] == _SP:
                        bar, ovh, da, db = _graph_after_task(buf, r + 2, nl)
                        if bar >= 0:
                            ta = ks
                            tb = p
                            pa = p + 1
                            pb = q
                            break
                p = _skip_to(buf, p + 1, nl, _DASH, _DASH)
        if bar < 0:
            bar, ovh, da, db = _graph_after_task(buf, i0, nl)
        if bar < 0:
            status = SLOW
            break
        ba = _skip_sp(buf, bar + 1, nl)
        indent = ba - bar - 1
        bb = nl
        while bb > ba and buf[bb - 1] == _SP:
            bb -= 1
        if ba == bb or (bb - ba >= 2 and buf[ba] == _SLASH and buf[ba + 1] == _STAR):
            pos = nl + 1  # empty body, trace_printk or event comment
            no += 1
            continue
        cpu = 0
        for k in range(c0, c1):
            cpu = cpu * 10 + (buf[k] - _ZERO)
        depth = max(0, (indent - 2) // 2)
        end_c, fe, ra, rb = _graph_entry(buf, ba, bb)
        xf = False
        xfa = -1
        xfb = -1
        if end_c == 0:
            xf, xfa, xfb, ra, rb = _graph_exit(buf, ba, bb)
        if cpu >= ncpu_max or (end_c == 0 and not xf):
            status = SLOW  # a CPU beyond the table, or a malformed body: Python (with the stacks)
            break
        # numbers Python must print (checked on scratch space past the output)
        if (
            pb - pa > INT_DIGITS
            or (da >= 0 and _put_float(out, o, buf, da, db) < 0)
            or (sa >= 0 and _put_float(out, o, buf, sa, sb) < 0)
        ):
            status = SLOW
            break
        if end_c == _LBRACE and st[FREE] < 0 and st[USED] >= E.shape[0]:
            status = GROW
            break
        if end_c == 0:  # an exit: room for every row it closes
            need = nl - pos + ROW_SLACK
            e = tops[cpu]
            while e >= 0 and E[e, E_DEPTH] > depth:
                need += _entry_size(E, e)
                e = E[e, E_PREV]
            if e >= 0:
                need += _entry_size(E, e)
            if need > cap - o:
                status = FULL if o > 0 else SLOW
                break
        # the line is accepted: state changes from here
        if seen[cpu] == 0:
            seen[cpu] = 1
            order[st[NCPU]] = cpu
            st[NCPU] += 1
        if end_c == _SEMI:
            o = _graph_row(
                out, o, buf, cpu, ta, tb, pa, pb, ba, fe, depth, da, db, ovh, True, sa, sb, ra, rb, True, no, no
            )
            rows += 1
        elif end_c == _LBRACE:
            if st[FREE] >= 0:
                e = st[FREE]
                st[FREE] = E[e, E_PREV]
            else:
                e = st[USED]
                st[USED] += 1
            E[e, E_PREV] = tops[cpu]
            E[e, E_CPU] = cpu
            E[e, E_DEPTH] = depth
            E[e, E_LINE] = no
            E[e, E_TA] = ta
            E[e, E_TB] = tb
            E[e, E_PA] = pa
            E[e, E_PB] = pb
            E[e, E_FA] = ba
            E[e, E_FB] = fe
            E[e, E_SA] = sa
            E[e, E_SB] = sb
            tops[cpu] = e
        else:
            e = tops[cpu]
            while e >= 0 and E[e, E_DEPTH] > depth:  # entries lost to a full buffer: closed without a time
                o = _open_row(out, o, buf, E, e, no)
                rows += 1
                nxt = E[e, E_PREV]
                E[e, E_PREV] = st[FREE]
                st[FREE] = e
                e = nxt
            tops[cpu] = e
            if e >= 0 and E[e, E_DEPTH] == depth:
                eta = E[e, E_TA]
                etb = E[e, E_TB]
                if eta < 0:
                    eta = ta
                    etb = tb
                epa = E[e, E_PA]
                epb = E[e, E_PB]
                if epa < 0:
                    epa = pa
                    epb = pb
                o = _graph_row(
                    out,
                    o,
                    buf,
                    cpu,
                    eta,
                    etb,
                    epa,
                    epb,
                    E[e, E_FA],
                    E[e, E_FB],
                    depth,
                    da,
                    db,
                    ovh,
                    False,
                    E[e, E_SA],
                    E[e, E_SB],
                    ra,
                    rb,
                    True,
                    E[e, E_LINE],
                    no,
                )
                tops[cpu] = E[e, E_PREV]
                E[e, E_PREV] = st[FREE]
                st[FREE] = e
            else:  # the trace began inside this call
                o = _graph_row(
                    out, o, buf, cpu, ta, tb, pa, pb, xfa, xfb, depth, da, db, ovh, False, -1, -1, ra, rb, False, -1, no
                )
            rows += 1
        pos = nl + 1
        no += 1
    st[POS] = pos
    st[LINE] = no
    st[OUT] = o
    st[ROWS] = rows
    return status


@njit(cache=True, nogil=True)
def graph_flush(
    buf: np.ndarray, st: np.ndarray, out: np.ndarray, E: np.ndarray, tops: np.ndarray, order: np.ndarray
) -> int:
    """At the end of the trace, close the calls still open, CPU by CPU in first-seen order, innermost first."""
    o = st[OUT]
    rows = st[ROWS]
    cap = out.shape[0]
    status = DONE
    for k in range(st[NCPU]):
        cpu = order[k]
        while tops[cpu] >= 0:
            e = tops[cpu]
            if _entry_size(E, e) > cap - o:
                status = FULL
                break
            o = _open_row(out, o, buf, E, e, -1)
            rows += 1
            tops[cpu] = E[e, E_PREV]
        if status != DONE:
            break
    st[OUT] = o
    st[ROWS] = rows
    return status


@njit(cache=True, nogil=True)
def graph_keep(buf: np.ndarray, E: np.ndarray, tops: np.ndarray, order: np.ndarray, ncpu: int, dst: np.ndarray) -> int:
    """Copy the spans of the calls still open into ``dst`` from 0 and point their entries there.

    Before the driver reads the next window over the buffer, what the open
    calls still need (task, pid, function, timestamp) is kept this way; the
    driver puts ``dst[:n]`` back at the front of the buffer.  Returns ``n``,
    or minus the bytes needed when ``dst`` is too small (nothing changed then).
    """
    need = 0
    for k in range(ncpu):
        e = tops[order[k]]
        while e >= 0:
            for f in range(E_TA, E_SB + 1, 2):
                if E[e, f] >= 0:
                    need += E[e, f + 1] - E[e, f]
            e = E[e, E_PREV]
    if need > dst.shape[0]:
        return -need
    o = 0
    for k in range(ncpu):
        e = tops[order[k]]
        while e >= 0:
            for f in range(E_TA, E_SB + 1, 2):
                a = E[e, f]
                if a >= 0:
                    b = _put(dst, o, buf, a, E[e, f + 1])
                    E[e, f] = o
                    E[e, f + 1] = b
                    o = b
            e = E[e, E_PREV]
    return o
