"""Parsers for strace output: ``-c`` summaries and per-call traces with timestamps.

The ``-c`` table is read through its dashes line: the runs of ``-`` give the
column spans, so the header names are taken from the file itself and the
same code reads strace 4.x to 6.x, ``-w``, ``-S`` and the ``-U`` column
selections of 5.x/6.x.  The per-call trace is read line by line; calls split
by ``<unfinished ...>`` / ``<... resumed>`` (``-f``) are joined per pid, which
needs memory only for the calls in flight, never for the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .base import Context, Parser

DASHES = re.compile(r"^\s*-+(?: +-+)+\s*$")

# Header names as printed by strace (4.x-6.x) -> our column name.
_SUMMARY_NAMES = {
    "% time": "time_pct",
    "seconds": "seconds",
    "total time": "seconds",
    "usecs/call": "usecs_per_call",
    "avg usecs/call": "usecs_per_call",
    "avg(us)": "usecs_per_call",
    "min usecs/call": "min_usecs",
    "min(us)": "min_usecs",
    "max usecs/call": "max_usecs",
    "max(us)": "max_usecs",
    "calls": "calls",
    "errors": "errors",
    "syscall": "syscall",
}


def summary_header(line: str, dashes: str) -> list[str] | None:
    """Map a ``-c`` header line to our column names using the dashes line under it.

    Returns None when the pair is not an strace summary header.
    """
    if not DASHES.match(dashes):
        return None
    spans = [m.span() for m in re.finditer(r"-+", dashes)]
    names = []
    for i, (_a, b) in enumerate(spans):
        # A name may stick out to the left of a right-aligned span: take the
        # text between the previous span's end and this span's end.
        start = spans[i - 1][1] if i else 0
        end = b if i < len(spans) - 1 else len(line)
        names.append(" ".join(line[start:end].split()).lower())
    cols = [_SUMMARY_NAMES.get(n) for n in names]
    if None in cols or "syscall" not in cols or "calls" not in cols:
        return None
    return [c for c in cols if c is not None]


class StraceSummary(Parser):
    """``strace -c`` (and ``-C``/``-f``/``-w``/``-S``/``-U``) summary tables."""

    type_name = "strace_summary"
    columns = [
        ("syscall", "str"),
        ("calls", "int"),
        ("errors", "int"),
        ("time_pct", "float"),
        ("seconds", "float"),
        ("usecs_per_call", "float"),
        ("min_usecs", "float"),
        ("max_usecs", "float"),
        ("personality", "str"),
        ("is_total", "bool"),
        ("line", "int"),
    ]

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:
        state = "search"  # search -> header -> body -> after_total
        cols: list[str] = []
        personality = ""
        prev_text = ""
        tables = totals = 0
        for no, text in ctx.lines():
            m = re.match(r"^System call usage summary for (.+?):?\s*$", text)
            if m:
                personality = m.group(1)
                continue
            if state in ("search", "after_total"):
                hdr = summary_header(prev_text, text) if prev_text else None
                if hdr:
                    cols, state, tables = hdr, "body", tables + 1
                prev_text = text
                continue
            # state == "body"
            if DASHES.match(text):
                continue  # the rule above the total row
            if not text.strip():
                continue
            row = self._row(text, cols, personality, no)
            if row is None:
                ctx.bad(no, text, "not a row of the strace -c table")
                continue
            yield row
            if row[-2]:
                totals += 1
                state, prev_text = "after_total", ""
        if tables == 0:
            ctx.bad(1, "", "no strace -c table header found")
        elif totals < tables:
            ctx.flag_partial("summary table has no total row (truncated?)")

    def _row(self, text: str, cols: list[str], personality: str, no: int) -> tuple[Any, ...] | None:
        tok = text.split()
        if len(tok) == len(cols) - 1 and "errors" in cols:
            tok.insert(cols.index("errors"), "0")  # strace leaves the errors cell blank for 0
        if len(tok) != len(cols):
            return None
        vals: dict[str, Any] = {}
        try:
            for c, t in zip(cols, tok):
                if c == "syscall":
                    vals[c] = t
                elif c in ("calls", "errors"):
                    vals[c] = int(t)
                else:
                    vals[c] = float(t)
        except ValueError:
            return None
        if not re.match(r"^[\w?]+$", vals["syscall"]):
            return None
        total = vals["syscall"] == "total"
        return (vals["syscall"], vals["calls"], vals.get("errors"), vals.get("time_pct"), vals.get("seconds"),
                vals.get("usecs_per_call"), vals.get("min_usecs"), vals.get("max_usecs"),
                personality or None, total, no)


# ---------------------------------------------------------------------------
# Per-call traces

_PREFIX = re.compile(
    r"^\s*(?:\[pid\s+(?P<pid1>\d+)\]\s+|(?P<pid2>\d+)\s+)?"
    r"(?:(?P<ts>\d+\.\d+|\d\d:\d\d:\d\d(?:\.\d+)?)\s+)?"
    r"(?P<body>\S.*)$")
_SIGNAL = re.compile(r"^--- (?P<sig>\S+) (?P<info>.*) ---$")
_EXIT = re.compile(r"^\+\+\+ (?:exited with (?P<code>-?\d+)|killed by (?P<sig>\S+)(?P<core> \(core dumped\))?)"
                   r" \+\+\+$")
_RESUMED = re.compile(r"^<\.\.\. (?P<name>[\w?]+) resumed>\s?(?P<rest>.*)$")
_CALL = re.compile(r"^(?P<name>[a-zA-Z_?][\w?]*)\((?P<rest>.*)$")
_UNFINISHED = re.compile(r"^(?P<args>.*?)\s*<unfinished \.\.\.>\)?$")
_TAIL = re.compile(r"^(?P<args>.*)\)\s+=\s+(?P<ret>\?|0x[0-9a-fA-F]+|-?\d+)(?P<extra>.*)$")
_DUR = re.compile(r"^(?P<rest>.*?)\s*<(?P<dur>\d+\.\d+|unavailable)>$")
_ERRNO = re.compile(r"^(?P<errno>E[A-Z0-9_]+)(?: \((?P<msg>.*)\))?(?P<rest>.*)$")
STRACE_LINE = _PREFIX  # used by detect


def looks_like_call(text: str) -> bool:
    """True when a line has the shape of one strace trace line (used by detection)."""
    m = _PREFIX.match(text)
    if not m:
        return False
    body = m.group("body")
    if _SIGNAL.match(body) or _EXIT.match(body) or _RESUMED.match(body):
        return True
    c = _CALL.match(body)
    return bool(c and (_TAIL.match(c.group("rest")) or _UNFINISHED.match(c.group("rest"))
                       and "<unfinished" in body))


class StraceTimestamps(Parser):
    """``strace [-f] [-r|-t|-tt|-ttt] [-T]`` per-call traces, unfinished/resumed calls joined."""

    type_name = "strace_timestamps"
    columns = [
        ("pid", "int"),
        ("timestamp", "str"),
        ("time", "float"),
        ("kind", "str"),
        ("syscall", "str"),
        ("args", "str"),
        ("retval", "str"),
        ("return_int", "int"),
        ("errno", "str"),
        ("error_text", "str"),
        ("note", "str"),
        ("duration", "float"),
        ("joined", "bool"),
        ("complete", "bool"),
        ("line", "int"),
        ("end_line", "int"),
    ]

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:
        pending: dict[int | None, tuple[Any, ...]] = {}  # pid -> (pid, ts, time, name, args, line)
        cumulative = 0.0
        last_tod: float | None = None
        day = 0.0
        for no, text in ctx.lines():
            if not text.strip() or text.startswith("strace: "):
                continue  # attach/detach notes of strace itself
            m = _PREFIX.match(text)
            if not m:
                ctx.bad(no, text, "not an strace line")
                continue
            pid_s = m.group("pid1") or m.group("pid2")
            pid = int(pid_s) if pid_s else None
            ts = m.group("ts")
            t: float | None = None
            if ts is not None:
                if ":" in ts:  # -t / -tt: time of day; count midnight crossings
                    h, mi, s = ts.split(":")
                    tod = int(h) * 3600 + int(mi) * 60 + float(s)
                    if last_tod is not None and tod + 3600 < last_tod:
                        day += 86400.0
                    last_tod = tod
                    t = tod + day
                elif len(ts.split(".")[0]) >= 9:  # -ttt: seconds since the epoch
                    t = float(ts)
                else:  # -r: delta from the previous line
                    cumulative += float(ts)
                    t = round(cumulative, 6)  # strace prints microseconds; drop float noise
            body = m.group("body")
            s = _SIGNAL.match(body)
            if s:
                yield (pid, ts, t, "signal", s.group("sig"), s.group("info"), None, None, None, None, None, None,
                       False, True, no, no)
                continue
            e = _EXIT.match(body)
            if e:
                code = e.group("code")
                if code is not None:
                    yield (pid, ts, t, "exit", None, None, code, int(code), None, None, None, None, False, True, no, no)
                else:
                    yield (pid, ts, t, "killed", None, None, e.group("sig"), None, None,
                           None, "core dumped" if e.group("core") else None, None, False, True, no, no)
                continue
            r = _RESUMED.match(body)
            if r:
                start = pending.pop(pid, None)
                name = r.group("name")
                if start is not None and start[3] == name:
                    head = start[4] + " " if start[4].endswith(",") else start[4]
                    row = self._finish(ctx, start[0], start[1], start[2], name, head + r.group("rest"),
                                       start[5], no, joined=True, text=text)
                else:
                    if start is not None:
                        yield self._unfinished(start)
                    row = self._finish(ctx, pid, ts, t, name, r.group("rest"), no, no, joined=True, text=text,
                                       orphan=True)
                if row is not None:
                    yield row
                continue
            c = _CALL.match(body)
            if not c:
                ctx.bad(no, text, "not a syscall, signal or exit line")
                continue
            rest = c.group("rest")
            if "<unfinished ...>" in rest and not _TAIL.match(rest):
                u = _UNFINISHED.match(rest)
                if u is None:  # pragma: no cover - the regex accepts anything ending that way
                    ctx.bad(no, text, "unfinished call")
                    continue
                old = pending.pop(pid, None)
                if old is not None:
                    yield self._unfinished(old)
                pending[pid] = (pid, ts, t, c.group("name"), u.group("args"), no)
                continue
            row = self._finish(ctx, pid, ts, t, c.group("name"), rest, no, no, joined=False, text=text)
            if row is not None:
                yield row
        for start in pending.values():
            yield self._unfinished(start)

    @staticmethod
    def _unfinished(start: tuple[Any, ...]) -> tuple[Any, ...]:
        """A call that never resumed (the process died or the trace ended): no result."""
        pid, ts, t, name, args, no = start
        return (pid, ts, t, "syscall", name, args, None, None, None, None, None, None, False, False, no, None)

    def _finish(self, ctx: Context, pid: int | None, ts: str | None, t: float | None, name: str, rest: str,
                start_no: int, end_no: int, joined: bool, text: str, orphan: bool = False) -> tuple[Any, ...] | None:
        tail = _TAIL.match(rest)
        if not tail:
            ctx.bad(end_no, text, "no '= result' at the end of the call")
            return None
        ret = tail.group("ret")
        extra = tail.group("extra")
        dur: float | None = None
        d = _DUR.match(extra)
        if d:
            extra = d.group("rest")
            dur = float(d.group("dur")) if d.group("dur") != "unavailable" else None
        extra = extra.strip()
        errno = etext = note = None
        if extra.startswith("<"):  # -y decoration of the returned fd: "= 3</etc/passwd>"
            close = extra.find(">")
            ret += extra[: close + 1]
            extra = extra[close + 1:].strip()
        if extra:
            em = _ERRNO.match(extra)
            if em:
                errno, etext = em.group("errno"), em.group("msg")
            else:
                note = extra[1:-1] if extra.startswith("(") and extra.endswith(")") else extra
        ret_int: int | None = None
        if ret.startswith("0x"):
            ret_int = int(ret.split("<")[0], 16)
        elif ret != "?":
            ret_int = int(ret.split("<")[0])
        return (pid, ts, t, "syscall", name, tail.group("args"), ret, ret_int, errno, etext, note, dur,
                joined, not orphan, start_no, end_no)
