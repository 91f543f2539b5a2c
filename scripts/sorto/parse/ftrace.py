"""Parsers for the text output of ftrace (``/sys/kernel/tracing/trace``, ``trace_pipe``, ``trace_stat``).

The formats follow the kernel's Documentation/trace/ftrace.rst: the
"function" and event tracers share one line prefix
(``TASK-PID [CPU] FLAGS TIMESTAMP: BODY``, with an optional ``(TGID)`` column
under ``record-tgid`` and without the flags under ``noirq-info``);
``function_graph`` prints an indented call tree per CPU; the function
profiler prints ``Function Hit [Time Avg s^2]`` tables per CPU.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from .base import Context, Parser

#: One line of the "function" or an event tracer.  The task name may hold
#: spaces and dashes, so the pid is the last ``-digits`` before the CPU field.
#: Integer fields take at most 19 digits: a longer one is a malformed line,
#: not a number for ``int()`` (which refuses more than 4300 digits, and is
#: quadratic in the length below that).
TRACE_LINE = re.compile(
    r"^\s*(?P<task>.*?)-(?P<pid>\d{1,19})\s+"
    r"(?:\(\s*(?P<tgid>-+|\d{1,19})\)\s+)?"
    r"\[(?P<cpu>\d{1,19})\]\s+"
    r"(?:(?P<flags>[^\s:]{4,6})\s+)?"
    r"(?P<ts>\d+(?:\.\d+)?):\s(?P<body>.*)$")
#: The common "function" line (with its caller) in one match: the fast path
#: of FtraceFunction.rows; anything else goes through TRACE_LINE and friends.
_FUNC_FAST = re.compile(
    r"^\s*(.*?)-(\d{1,19})\s+(?:\(\s*(-+|\d{1,19})\)\s+)?\[(\d{1,19})\]\s+(?:([^\s:]{4,6})\s+)?"
    r"(\d+(?:\.\d+)?):\s\s*(\S+?)\s+<-(\S+)\s*$")
_FUNC_BODY = re.compile(r"^\s*(?P<fn>\S+?)(?:\s+<-(?P<parent>\S+))?\s*$")
_EVENT_BODY = re.compile(r"^\s*(?P<event>[\w.-]+):\s?(?P<details>.*)$")
_INFO = re.compile(r"^\s*(?:#|CPU:?\d+ \[LOST \d+ EVENTS\]|##### CPU \d+ buffer started ####)")


def _prefix(m: re.Match[str]) -> tuple[Any, ...]:
    tgid = m.group("tgid")
    return (m.group("task").strip(), int(m.group("pid")),
            int(tgid) if tgid and tgid.isdigit() else None,
            int(m.group("cpu")), m.group("flags"), float(m.group("ts")))


_PREFIX_COLUMNS = [("task", "str"), ("pid", "int"), ("tgid", "int"), ("cpu", "int"), ("flags", "str"),
                   ("timestamp", "float")]


class FtraceEvents(Parser):
    """Trace events (``sched:*``, ``irq:*``, ...) as printed by the nop or any event-only tracer."""

    type_name = "ftrace_events"
    columns = _PREFIX_COLUMNS + [("event", "str"), ("details", "str"), ("line", "int")]

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:
        for no, text in ctx.lines():
            if not text.strip() or _INFO.match(text):
                continue
            m = TRACE_LINE.match(text)
            ev = _EVENT_BODY.match(m.group("body")) if m else None
            if not m or not ev:
                ctx.bad(no, text, "not an ftrace event line")
                continue
            yield _prefix(m) + (ev.group("event"), ev.group("details"), no)


class FtraceFunction(Parser):
    """The "function" tracer: one row per traced kernel function call, with its caller."""

    type_name = "ftrace_function"
    columns = _PREFIX_COLUMNS + [("function", "str"), ("parent", "str"), ("line", "int")]

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:
        fast = _FUNC_FAST.match
        for no, text in ctx.lines():
            q = fast(text)
            if q:
                task, pid, tgid, cpu, flags, ts, fn, parent = q.groups()
                yield (task.strip(), int(pid), int(tgid) if tgid and tgid.isdigit() else None, int(cpu), flags,
                       float(ts), fn, parent, no)
                continue
            row = _function_other(ctx, no, text)
            if row is not None:
                yield row


def function_row(ctx: Context, no: int, text: str) -> tuple[Any, ...] | None:
    """The row of one line of a function trace, or None: FtraceFunction.rows for a single line.

    The fast path (``fast.py``) sends here every line its kernel does not
    take, so both paths share this code.
    """
    q = _FUNC_FAST.match(text)
    if q:
        task, pid, tgid, cpu, flags, ts, fn, parent = q.groups()
        return (task.strip(), int(pid), int(tgid) if tgid and tgid.isdigit() else None, int(cpu), flags,
                float(ts), fn, parent, no)
    return _function_other(ctx, no, text)


def _function_other(ctx: Context, no: int, text: str) -> tuple[Any, ...] | None:
    """A function-trace line that is not the common ``FUNC <-PARENT`` shape: comment, event, no parent, bad."""
    if not text.strip() or _INFO.match(text):
        return None
    m = TRACE_LINE.match(text)
    if not m:
        ctx.bad(no, text, "not an ftrace function line")
        return None
    body = m.group("body")
    f = _FUNC_BODY.match(body)
    if f and f.group("parent") is not None:
        return _prefix(m) + (f.group("fn"), f.group("parent"), no)
    if _EVENT_BODY.match(body):
        return None  # an event interleaved with the function trace: not a call
    if f:
        return _prefix(m) + (f.group("fn"), None, no)  # noprint-parent
    ctx.bad(no, text, "not an ftrace function line")
    return None


# ---------------------------------------------------------------------------
# function_graph

GRAPH_LINE = re.compile(
    r"^\s*(?:(?P<abs>\d+\.\d+)\s*\|\s*)?"
    r"(?P<cpu>\d{1,19})\)\s"
    r"(?:\s*(?P<task>\S.*?)-(?P<pid>\d{1,19})\s+\|\s)?"
    r"(?:\s*(?P<lat>[^\s|]{4,5})\s+\|\s)?"
    r"\s*(?P<ovh>[+!#*@$])?\s*(?:(?P<dur>\d+(?:\.\d+)?)\s*us\s*)?"
    r"\|(?P<indent> *)(?P<body>.*?)\s*$")
# A module's function is printed with its module ("%ps"): "sorto_exit_probe [sorto_hook]();".
_G_ENTRY = re.compile(r"^(?P<fn>[^\s(){}]+(?: \[[\w.-]+\])?)\((?P<args>.*)\)\s*(?P<end>\{|;)"
                      r"(?:\s*/\*\s*(?P<ret>.*?)\s*\*/)?$")
_G_EXIT = re.compile(r"^\}(?:\s*/\*\s*(?P<fn>[^\s=*]+(?: \[[\w.-]+\])?)?(?:\s*=\s*(?P<ret>\S+))?\s*\*/)?$")
_G_SWITCH = re.compile(r"^\s*(?P<cpu>\d{1,19})\)\s+\S.*=>\s+\S")
_G_IRQ = re.compile(r"(==========>|<==========)")
_G_IRQ_MARK = re.compile(r"^\s*(?:\d+\.\d+\s*\|\s*)?\d+\)\s.*(?:==========>|<==========)\s*\|\s*$")


def graph_match(text: str) -> re.Match[str] | str | None:
    """The first, stateless part of reading a function_graph line: None to skip it, a reason if it is
    malformed, else its GRAPH_LINE match (a call entry, leaf or exit, or a malformed body).

    Shared by FtraceFunctionGraph.rows_from and the fast path, which hands
    the lines its kernel does not take here and keeps going when they are
    skipped or malformed.
    """
    s = text.strip()
    if not s or _INFO.match(text) or set(s) <= set("-") or _G_SWITCH.match(text) and "|" not in text:
        return None
    if _G_IRQ_MARK.match(text):
        return None  # " 1)   ==========> |": the kernel prints the irq markers in the duration column
    m = GRAPH_LINE.match(text)
    if not m:
        return "not a function_graph line"
    body = m.group("body")
    if not body or _G_IRQ.search(body) or body.startswith("/*"):
        return None  # irq entry/exit markers, trace_printk and event comments
    return m


class FtraceFunctionGraph(Parser):
    """The "function_graph" tracer: one row per completed call (entry matched with its exit per CPU).

    Matching entry and exit here means the table answers "how long did this
    call take" directly; the stack kept per CPU is only as deep as the call tree.
    """

    type_name = "ftrace_function_graph"
    columns = [
        ("cpu", "int"),
        ("task", "str"),
        ("pid", "int"),
        ("function", "str"),
        ("depth", "int"),
        ("duration_us", "float"),
        ("overhead_mark", "str"),
        ("leaf", "bool"),
        ("timestamp", "float"),
        ("retval", "str"),
        ("complete", "bool"),
        ("line", "int"),
        ("end_line", "int"),
    ]

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:
        return self.rows_from(ctx, {}, ctx.lines())

    def rows_from(self, ctx: Context, stacks: dict[int, list[tuple[Any, ...]]],
                  lines: Iterable[tuple[int, str]]) -> Iterator[tuple[Any, ...]]:
        """The rows of ``lines`` given the calls already open per CPU (``stacks``, in first-seen order).

        ``rows`` starts from nothing; the fast path (``fast.py``) hands over
        here, with the calls its kernel had open, when a line needs Python.
        """
        for no, text in lines:
            m = graph_match(text)
            if m is None:
                continue
            if isinstance(m, str):
                ctx.bad(no, text, m)
                continue
            body = m.group("body")
            cpu = int(m.group("cpu"))
            task = m.group("task")
            pid = int(m.group("pid")) if m.group("pid") else None
            ts = float(m.group("abs")) if m.group("abs") else None
            dur = float(m.group("dur")) if m.group("dur") else None
            depth = max(0, (len(m.group("indent")) - 2) // 2)
            stack = stacks.setdefault(cpu, [])
            e = _G_ENTRY.match(body)
            if e and e.group("end") == ";":
                yield (cpu, task, pid, e.group("fn"), depth, dur, m.group("ovh"), True, ts, e.group("ret"), True,
                       no, no)
                continue
            if e:
                stack.append((cpu, task, pid, e.group("fn"), depth, ts, no))
                continue
            x = _G_EXIT.match(body)
            if not x:
                ctx.bad(no, text, "not a call entry, leaf or exit")
                continue
            # Pop to the matching depth: entries lost to a full buffer are closed without a time.
            while stack and stack[-1][4] > depth:
                yield self._open(stack.pop(), no)
            if stack and stack[-1][4] == depth:
                c, tk, p, fn, dp, t0, start = stack.pop()
                yield (c, tk or task, p if p is not None else pid, fn, dp, dur, m.group("ovh"), False, t0,
                       x.group("ret"), True, start, no)
            else:  # the trace began inside this call: its name only if funcgraph-tail printed it
                yield (cpu, task, pid, x.group("fn"), depth, dur, m.group("ovh"), False, None, x.group("ret"),
                       False, None, no)
        for stack in stacks.values():
            while stack:
                yield self._open(stack.pop(), None)

    @staticmethod
    def _open(entry: tuple[Any, ...], end: int | None) -> tuple[Any, ...]:
        cpu, task, pid, fn, depth, ts, start = entry
        return (cpu, task, pid, fn, depth, None, None, False, ts, None, False, start, end)


# ---------------------------------------------------------------------------
# function profiler (trace_stat/function<N>)

PROFILE_HEADER = re.compile(r"^\s*Function\s+Hit(?:\s+Time\s+Avg\s+s\^2)?\s*$")
_PROFILE_ROW = re.compile(
    r"^\s*(?P<fn>\S.*?)\s+(?P<hit>\d{1,19})"
    r"(?:\s+(?P<time>\d+(?:\.\d+)?)\s*us\s+(?P<avg>\d+(?:\.\d+)?)\s*us\s+(?P<s2>\d+(?:\.\d+)?)\s*us)?\s*$")


class FtraceFunctionProfile(Parser):
    """``trace_stat/function<N>`` tables of the function profiler (``function_profile_enabled``)."""

    type_name = "ftrace_function_profile"
    columns = [
        ("block", "int"),
        ("function", "str"),
        ("hit", "int"),
        ("time_us", "float"),
        ("avg_us", "float"),
        ("s2_us", "float"),
        ("line", "int"),
    ]

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:
        block = -1
        timed = False
        for no, text in ctx.lines():
            if not text.strip():
                continue
            if PROFILE_HEADER.match(text):
                block += 1
                timed = "Time" in text
                continue
            if re.match(r"^\s*-+(\s+-+)*\s*$", text):
                continue
            m = _PROFILE_ROW.match(text)
            if block < 0 or not m or (timed and m.group("time") is None):
                ctx.bad(no, text, "not a function profile row")
                continue
            f = m.group
            yield (block, f("fn"), int(f("hit")), _f(f("time")), _f(f("avg")), _f(f("s2")), no)


def _f(s: str | None) -> float | None:
    return float(s) if s is not None else None
