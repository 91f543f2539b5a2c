"""Parsers for perf's text reports: ``perf script``, ``perf sched latency``, ``perf sched timehist``.

``perf script`` is read in its default field layout (``comm pid[/tid] [cpu]
time: [period] event: ...``); a sample recorded with ``-g`` spans a header
line and one tab-indented line per frame up to a blank line, and is emitted
as one row with the call chain folded root-first, as flame graph tools expect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .base import Context, Parser

SCRIPT_LINE = re.compile(
    r"^\s*(?P<comm>\S.*?)\s+(?P<pid>-?\d+)(?:/(?P<tid>-?\d+))?\s+"
    r"(?:\[(?P<cpu>\d+)\]\s+)?"
    r"(?P<time>\d+\.\d+):\s+"
    r"(?:(?P<period>\d+)\s+)?"
    r"(?P<event>[^\s]+?):(?:\s+(?P<rest>.*?))?\s*$")
_IP_SYM = re.compile(r"^(?P<ip>[0-9a-fA-F]+)\s+(?P<sym>.*?)(?:\+(?P<off>0x[0-9a-fA-F]+))?\s+\((?P<dso>[^()]*)\)$")
_FRAME = re.compile(r"^\t\s*(?P<ip>[0-9a-fA-F]+)\s+(?P<sym>.*?)(?:\+(?P<off>0x[0-9a-fA-F]+))?"
                    r"\s+\((?P<dso>[^()]*)\)\s*$")


class PerfScript(Parser):
    """``perf script`` output: samples (with or without call chains) and tracepoints."""

    type_name = "perf_script"
    columns = [
        ("comm", "str"),
        ("pid", "int"),
        ("tid", "int"),
        ("cpu", "int"),
        ("time", "float"),
        ("period", "int"),
        ("event", "str"),
        ("ip", "str"),
        ("symbol", "str"),
        ("offset", "str"),
        ("dso", "str"),
        ("details", "str"),
        ("callchain", "str"),
        ("callchain_depth", "int"),
        ("line", "int"),
    ]

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:
        cur: list[Any] | None = None
        frames: list[str] = []
        for no, text in ctx.lines():
            if text.startswith("\t") and cur is not None:
                f = _FRAME.match(text)
                if not f:
                    ctx.bad(no, text, "not a call chain frame")
                    continue
                if not frames:
                    cur[7:11] = [f.group("ip"), f.group("sym"), f.group("off"), f.group("dso")]
                frames.append(f.group("sym"))
                continue
            if cur is not None and (frames or not text.strip()):
                yield self._emit(cur, frames)
                cur, frames = None, []
            if not text.strip() or text.startswith("#"):
                continue
            m = SCRIPT_LINE.match(text)
            if not m:
                ctx.bad(no, text, "not a perf script sample line")
                continue
            g = m.group
            rest = g("rest") or ""
            ip = sym = off = dso = None
            details: str | None = rest or None
            s = _IP_SYM.match(rest)
            if s:
                ip, sym, off, dso = s.group("ip"), s.group("sym"), s.group("off"), s.group("dso")
                details = None
            row = [g("comm"), int(g("pid")), int(g("tid")) if g("tid") else None,
                   int(g("cpu")) if g("cpu") else None, float(g("time")),
                   int(g("period")) if g("period") else None, g("event"), ip, sym, off, dso, details, None, None, no]
            if rest:
                yield self._emit(row, [])
            else:
                cur = row  # a call chain follows (or nothing, for a sample without one)
        if cur is not None:
            yield self._emit(cur, frames)

    @staticmethod
    def _emit(row: list[Any], frames: list[str]) -> tuple[Any, ...]:
        if frames:
            row[12] = ";".join(reversed(frames))
            row[13] = len(frames)
        return tuple(row)


# ---------------------------------------------------------------------------
# perf sched latency

LATENCY_HEADER = re.compile(r"^\s*Task\s*\|\s*Runtime ms\s*\|\s*Switches\s*\|")
_LAT_ROW = re.compile(
    r"^\s*(?P<task>\S.*?)\s*\|\s*(?P<rt>\d+\.\d+)\s*ms\s*\|\s*(?P<sw>\d+)\s*\|"
    r"\s*avg:\s*(?P<avg>\d+\.\d+)\s*ms\s*\|\s*max:\s*(?P<max>\d+\.\d+)\s*ms\s*\|"
    r"\s*max (?:start|at):\s*(?P<start>\d+\.\d+)\s*s\s*(?:\|\s*max end:\s*(?P<end>\d+\.\d+)\s*s\s*)?\|?\s*$")
_LAT_TOTAL = re.compile(r"^\s*TOTAL:\s*\|\s*(?P<rt>\d+\.\d+)\s*ms\s*\|\s*(?P<sw>\d+)\s*\|\s*$")


class PerfSchedLatency(Parser):
    """``perf sched latency``: per-task scheduling delay summary, plus its TOTAL row."""

    type_name = "perf_sched_latency"
    columns = [
        ("task", "str"),
        ("pid", "int"),
        ("threads", "int"),
        ("runtime_ms", "float"),
        ("switches", "int"),
        ("avg_delay_ms", "float"),
        ("max_delay_ms", "float"),
        ("max_delay_start", "float"),
        ("max_delay_end", "float"),
        ("is_total", "bool"),
        ("line", "int"),
    ]

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:
        seen_header = seen_total = False
        for no, text in ctx.lines():
            s = text.strip()
            if not s or set(s) <= set("-") or s.startswith("INFO:") or LATENCY_HEADER.match(text):
                seen_header = seen_header or bool(LATENCY_HEADER.match(text))
                continue
            t = _LAT_TOTAL.match(text)
            if t:
                seen_total = True
                yield ("TOTAL", None, None, float(t.group("rt")), int(t.group("sw")), None, None, None, None, True,
                       no)
                continue
            m = _LAT_ROW.match(text)
            if not m or not seen_header:
                ctx.bad(no, text, "not a perf sched latency row")
                continue
            name, _, who = m.group("task").rpartition(":")
            pid = threads = None
            if who.startswith("(") and who.endswith(")"):
                threads = int(who[1:-1])  # several threads of one comm merged (without -p)
            elif who.isdigit():
                pid, threads = int(who), 1
            else:
                name = m.group("task")
            g = m.group
            yield (name, pid, threads, float(g("rt")), int(g("sw")), float(g("avg")), float(g("max")),
                   float(g("start")), float(g("end")) if g("end") else None, False, no)
        if not seen_total:
            ctx.flag_partial("no TOTAL row (truncated?)")


# ---------------------------------------------------------------------------
# perf sched timehist

TIMEHIST_HEADER = re.compile(r"^\s*time\s+cpu\s+.*task name\s+.*wait time\s+sch delay\s+run time")
_TH_ROW = re.compile(
    r"^\s*(?P<time>\d+\.\d+)\s+\[(?P<cpu>\d+)\]\s+(?:(?P<vis>[ s.i]+?)\s+)?"
    r"(?P<task><idle>|\S.*?\[(?P<tid>-?\d+)(?:/(?P<pid>-?\d+))?\])\s+"
    r"(?P<rest>.*?)\s*$")
_TH_TIMES = re.compile(r"^(?P<wait>-?\d+\.\d+)\s+(?P<sch>-?\d+\.\d+)\s+(?P<run>-?\d+\.\d+)(?:\s+(?P<more>.*))?$")
_TH_WAKE = re.compile(r"^awakened:\s+(?P<other>.*)$")
_TH_MIGRATE = re.compile(r"^migrated:\s+(?P<other>.*)$")


class PerfSchedTimehist(Parser):
    """``perf sched timehist`` (optionally ``-w`` wakeups, ``-M`` migrations): one row per event."""

    type_name = "perf_sched_timehist"
    columns = [
        ("time", "float"),
        ("cpu", "int"),
        ("task", "str"),
        ("tid", "int"),
        ("pid", "int"),
        ("event", "str"),
        ("wait_ms", "float"),
        ("sch_delay_ms", "float"),
        ("run_ms", "float"),
        ("other", "str"),
        ("line", "int"),
    ]

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:
        for no, text in ctx.lines():
            s = text.strip()
            if not s or set(s) <= set("- ") or TIMEHIST_HEADER.match(text) or s.startswith("[tid/pid]"):
                continue
            if s.startswith(("Runtime summary", "Idle stats", "Terminated tasks", "Total number of")):
                break  # the -s/-S summary after the events: not part of this table
            m = _TH_ROW.match(text)
            if not m:
                ctx.bad(no, text, "not a perf sched timehist row")
                continue
            g = m.group
            task = g("task")
            name = task[: task.rfind("[")] if g("tid") else task
            tid = int(g("tid")) if g("tid") else None
            pid = int(g("pid")) if g("pid") else tid
            rest = g("rest")
            times = _TH_TIMES.match(rest)
            head = (float(g("time")), int(g("cpu")), name, tid, pid)
            if times:
                yield head + ("switch", float(times.group("wait")), float(times.group("sch")),
                              float(times.group("run")), times.group("more"), no)
                continue
            w = _TH_WAKE.match(rest) or _TH_MIGRATE.match(rest)
            if w:
                kind = "wakeup" if rest.startswith("awakened") else "migrate"
                yield head + (kind, None, None, None, w.group("other"), no)
                continue
            ctx.bad(no, text, "not a perf sched timehist row")
