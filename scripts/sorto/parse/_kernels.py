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
leading zeros; a decimal with at most 15 significant digits between 1e-4 and
1e16 prints as its own digits without trailing zeros (``10.490686``,
``10.0``); any other decimal sends the line to Python.
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

_SP, _COMMA, _DASH, _DOT, _ZERO, _NINE, _COLON = 32, 44, 45, 46, 48, 57, 58
_LPAR, _RPAR, _LBR, _RBR, _LT, _HASH, _PIPE = 40, 41, 91, 93, 60, 35, 124
#: 1 for the bytes that make a line not plain (see _line_end): controls, non-ASCII, ``,`` and ``"``.
_ODD = np.array([0 if 32 <= c <= 126 and c not in (44, 34) else 1 for c in range(256)], dtype=np.uint8)


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
def _line_end(buf: np.ndarray, pos: int) -> tuple[int, bool]:
    """End of the line at ``pos`` (its ``\\n``) and whether the line is plain: printable ASCII, no ``,`` or ``"``."""
    i = np.uint64(pos)
    odd = 0
    while True:
        c = buf[i]
        if c == 10:
            break
        odd |= _ODD[c]
        i += np.uint64(1)
    return np.int64(i), odd == 0


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
