"""The irq and sched events of an ``ftrace_events`` table as typed records, and who the application is.

Why here and not in ``sorto parse``: the table keeps each event's text in
``details`` as the kernel printed it; the analyzer needs a few fields of a
few events (irq number, softirq action, woken pid, switched pids and the
state the previous task left in).  Those ``key=value`` formats are the
kernel's ``TP_printk`` strings of include/trace/events/irq.h and sched.h.

Every ftrace line names the task that was current on its CPU, so "the
application was preempted by this interrupt" is simply: an
``irq_handler_entry`` line whose pid is one of the application's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..trace.ftrace import TASK_COMM_LEN, comm_of
from .load import Table, TraceData

_IRQ_ENTRY = re.compile(r"^irq=(\d+) name=(\S+)")
_IRQ_EXIT = re.compile(r"^irq=(\d+)")
_SOFTIRQ = re.compile(r"^vec=(\d+) \[action=(\w+)\]")
_WAKEUP = re.compile(r"comm=(.*?) pid=(\d+) prio=(-?\d+)")
_SWITCH = re.compile(r"^prev_comm=(.*?) prev_pid=(\d+) prev_prio=(-?\d+) prev_state=(\S+) ==> "
                     r"next_comm=(.*?) next_pid=(\d+) next_prio=(-?\d+)")


@dataclass(frozen=True)
class Event:
    """One event with the fields the analyzer needs; unused fields are None/empty."""

    ts: float
    cpu: int
    pid: int  # current task on the CPU
    task: str
    flags: str | None
    kind: str  # irq_entry irq_exit softirq_entry softirq_exit wakeup switch other
    num: int | None = None  # irq number or softirq vector
    name: str = ""  # irq action name or softirq action
    other_pid: int | None = None  # woken pid, or next_pid of a switch
    other_comm: str = ""
    prev_pid: int | None = None
    prev_comm: str = ""
    prev_state: str = ""
    line: int = 0

    @property
    def in_irq_context(self) -> bool | None:
        """Hardirq/softirq context from the flags column (None when the log has no flags)."""
        if not self.flags or len(self.flags) < 3:
            return None
        return self.flags[2] in "hHsS"


def events(table: Table) -> list[Event]:
    """Typed events of one ``ftrace_events`` table, sorted by time (stable, so per-CPU order is kept)."""
    c = {n: table.col(n) for n in ("task", "pid", "cpu", "flags", "timestamp", "event", "details", "line")}
    out: list[Event] = []
    for r in table.rows:
        ev, det = r[c["event"]], r[c["details"]] or ""
        base = {"ts": r[c["timestamp"]], "cpu": r[c["cpu"]], "pid": r[c["pid"]], "task": r[c["task"]],
                "flags": r[c["flags"]], "line": r[c["line"]]}
        m: re.Match[str] | None
        if ev == "irq_handler_entry" and (m := _IRQ_ENTRY.match(det)):
            out.append(Event(kind="irq_entry", num=int(m.group(1)), name=m.group(2), **base))
        elif ev == "irq_handler_exit" and (m := _IRQ_EXIT.match(det)):
            out.append(Event(kind="irq_exit", num=int(m.group(1)), **base))
        elif ev in ("softirq_entry", "softirq_exit") and (m := _SOFTIRQ.match(det)):
            out.append(Event(kind=ev, num=int(m.group(1)), name=m.group(2), **base))
        elif ev in ("sched_wakeup", "sched_wakeup_new") and (m := _WAKEUP.search(det)):
            out.append(Event(kind="wakeup", other_pid=int(m.group(2)), other_comm=m.group(1), **base))
        elif ev == "sched_switch" and (m := _SWITCH.match(det)):
            out.append(Event(kind="switch", prev_comm=m.group(1), prev_pid=int(m.group(2)),
                             prev_state=m.group(4), other_comm=m.group(5), other_pid=int(m.group(6)), **base))
    out.sort(key=lambda e: e.ts)
    return out


@dataclass
class App:
    """How the application is recognised in the logs: fixed pids, or its comm (pids then differ per run)."""

    pids: frozenset[int]
    comm: str | None
    source: str

    def pids_in(self, evs: list[Event]) -> set[int]:
        """The application's pids in one run's events (each ``sorto trace`` pass is a new run, new pids)."""
        if self.pids:
            return set(self.pids)
        if not self.comm:
            return set()
        found = {e.pid for e in evs if e.task == self.comm}
        found |= {e.other_pid for e in evs if e.other_comm == self.comm and e.other_pid is not None}
        found |= {e.prev_pid for e in evs if e.prev_comm == self.comm and e.prev_pid is not None}
        found.discard(0)
        return found


def application(data: TraceData, pids: list[int], comm: str | None) -> tuple[App | None, str | None]:
    """Who the application is: ``--pid``, else ``--comm``, else the manifest's command; else a reason."""
    if pids:
        return App(frozenset(pids), comm, "--pid"), None
    if comm:
        return App(frozenset(), comm[: TASK_COMM_LEN - 1], "--comm"), None
    if data.command:
        return App(frozenset(), comm_of(data.command[0]), "manifest.json command"), None
    return None, "application unknown: no manifest command; give --comm NAME or --pid PID"


def trace_window(evs: list[Event]) -> tuple[float, float] | None:
    """First and last timestamp of a run's events."""
    if not evs:
        return None
    return evs[0].ts, evs[-1].ts


def on_cpu_intervals(evs: list[Event], pids: set[int]) -> list[tuple[int, float, float, int]]:
    """``(cpu, start, end, pid)`` intervals when one of ``pids`` was the current task.

    Built from ``sched_switch``; a task already running when the trace starts
    counts from the trace's first timestamp, one still running at the end up
    to the last timestamp (the trace can only tell what it saw).
    """
    win = trace_window(evs)
    if win is None:
        return []
    t_start, t_end = win
    running: dict[int, tuple[float, int]] = {}  # cpu -> (since, pid)
    seen_cpu: set[int] = set()
    out: list[tuple[int, float, float, int]] = []
    for e in evs:
        if e.cpu not in seen_cpu:
            seen_cpu.add(e.cpu)
            first_pid = e.prev_pid if e.kind == "switch" else e.pid
            if first_pid in pids:
                running[e.cpu] = (t_start, int(first_pid))
        if e.kind != "switch":
            continue
        if e.cpu in running:
            since, pid = running.pop(e.cpu)
            out.append((e.cpu, since, e.ts, pid))
        if e.other_pid in pids:
            running[e.cpu] = (e.ts, int(e.other_pid))
    for cpu, (since, pid) in sorted(running.items()):
        out.append((cpu, since, t_end, pid))
    out.sort(key=lambda x: (x[1], x[0]))
    return out


def first_events_table(data: TraceData) -> tuple[Table | None, list[str]]:
    """The ``ftrace_events`` table the decisions use (first by file name) and the names of any others.

    Two event logs are two runs: their pids and clocks differ, so merging them
    would invent preemptions.  The others are named in the evidence.
    """
    tables = data.of_type("ftrace_events")
    if not tables:
        return None, []
    return tables[0], [t.file for t in tables[1:]]
