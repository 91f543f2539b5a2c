"""The ``irq_defer`` decision: interrupts and softirqs that preempted the application and are not its own.

Rules (docs/analyze.md):

* An interrupt *preempted* the application when its ``irq_handler_entry``
  was logged while an application pid was current on that CPU (every ftrace
  line names the current task).  Same for ``softirq_entry``.
* An interrupt is the application's *own* when, after its handler started
  and before the next interrupt or context switch on the same CPU, the
  application was woken in interrupt context (``sched_wakeup`` of an
  application pid with the hardirq/softirq flag; any wake-up when the log
  has no flags column).  Its device serves the application: deferring it
  would delay the application itself, so it is never listed, however often
  it preempted.  A softirq is the application's own when it woke the
  application between its entry and exit.
* The rest are listed when they preempted at least ``irq_min_count`` times
  and took at least ``irq_min_share`` of the application's time on CPU.
  Interrupts by number (``{"irq": N}``).  Softirqs have no number or
  action name in the policy format (docs/metadata-format.md: an interrupt
  by number or action name), so they are only counted in the evidence;
  with ``irq_softirqs`` they are listed by the name ``softirq:ACTION``
  (``softirq:TIMER``), a convention the kernel side must know to act on.
* Timer interrupts (name containing "timer") and per-CPU interrupts (seen
  on every CPU of the trace: local timers, IPIs) are never listed: the
  kernel does not thread them, so there is nothing to defer.
* ``away`` is set for an interrupt seen on a single CPU (so its affinity can
  be moved; timers and IPIs fire on every CPU) taking at least
  ``irq_away_share`` of the application's time on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..analyze_options import Options
from .events import Event, on_cpu_intervals

MAX_ENTRIES = 16  # the policy format's limit


@dataclass
class Source:
    """What was seen of one interrupt line or softirq action."""

    kind: str  # "irq" or "softirq"
    num: int
    name: str
    seen: int = 0
    cpus: set[int] = field(default_factory=set)
    preempted: int = 0
    handler_us: float = 0.0
    untimed: int = 0
    own_wakeups: int = 0

    @property
    def key(self) -> str:
        return f"irq:{self.num}" if self.kind == "irq" else f"softirq:{self.name}"


def scan(evs: list[Event], pids: set[int]) -> dict[str, Source]:
    """Count every interrupt and softirq, its preemptions of ``pids`` and the wake-ups it did for them."""
    sources: dict[str, Source] = {}
    open_irq: dict[int, tuple[Source, float, bool]] = {}  # cpu -> (source, entry ts, preempting)
    open_soft: dict[int, tuple[Source, float, bool]] = {}
    window: dict[int, Source] = {}  # cpu -> last hardirq whose wake-ups count as its own

    def get(kind: str, num: int, name: str) -> Source:
        key = f"irq:{num}" if kind == "irq" else f"softirq:{name}"
        s = sources.get(key)
        if s is None:
            s = sources[key] = Source(kind, num, name)
        return s

    for e in evs:
        if e.kind == "irq_entry":
            s = get("irq", int(e.num or 0), e.name)
            s.name = s.name or e.name
            s.seen += 1
            s.cpus.add(e.cpu)
            pre = e.pid in pids
            if pre:
                s.preempted += 1
            if e.cpu in open_irq and open_irq[e.cpu][2]:
                open_irq[e.cpu][0].untimed += 1  # nested or lost exit: the earlier one has no time
            open_irq[e.cpu] = (s, e.ts, pre)
            window[e.cpu] = s
        elif e.kind in ("irq_exit", "softirq_exit"):
            o = (open_irq if e.kind == "irq_exit" else open_soft).pop(e.cpu, None)
            if o and o[0].num == e.num and o[2]:
                o[0].handler_us += (e.ts - o[1]) * 1e6
            elif o and o[2]:
                o[0].untimed += 1
        elif e.kind == "softirq_entry":
            s = get("softirq", int(e.num or 0), e.name)
            s.seen += 1
            s.cpus.add(e.cpu)
            pre = e.pid in pids
            if pre:
                s.preempted += 1
            open_soft[e.cpu] = (s, e.ts, pre)
        elif e.kind == "wakeup" and e.other_pid in pids:
            soft = open_soft.get(e.cpu)
            if soft is not None:
                soft[0].own_wakeups += 1
            irq_ctx = e.in_irq_context
            if e.cpu in window and (irq_ctx is None or irq_ctx):
                window[e.cpu].own_wakeups += 1
        elif e.kind == "switch":
            window.pop(e.cpu, None)
    for cpu_open in (open_irq, open_soft):
        for s, _ts, pre in cpu_open.values():
            if pre:
                s.untimed += 1  # still running when the trace ended
    return sources


def _per_cpu(s: Source, cpus_in_trace: list[int]) -> bool:
    """Seen on every CPU of a multi-CPU trace: a per-CPU timer or IPI, not a device line."""
    return len(cpus_in_trace) > 1 and s.cpus == set(cpus_in_trace)


def decide(evs: list[Event], pids: set[int], opts: Options) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``irq_defer`` entries and the evidence behind them."""
    on_cpu = on_cpu_intervals(evs, pids)
    app_us = sum((end - start) * 1e6 for _c, start, end, _p in on_cpu)
    cpus_in_trace = sorted({e.cpu for e in evs})
    sources = scan(evs, pids)
    rows: list[dict[str, Any]] = []
    chosen: list[tuple[float, int, str, Source, bool]] = []
    for key in sorted(sources):
        s = sources[key]
        share = s.handler_us / app_us if app_us > 0 else None
        if s.own_wakeups:
            why = f"own: woke the application {s.own_wakeups} times; never deferred"
        elif s.preempted == 0:
            why = "never preempted the application"
        elif s.kind == "irq" and (_per_cpu(s, cpus_in_trace) or "timer" in s.name.lower()):
            why = ("per-CPU or timer interrupt: handled on every CPU or with IRQF_TIMER, it has no "
                   "interrupt thread to defer")
        elif s.preempted < opts.irq_min_count:
            why = f"preempted {s.preempted} times < --irq-min-count {opts.irq_min_count}"
        elif share is not None and share < opts.irq_min_share:
            why = f"share {share:.6f} < --irq-min-share {opts.irq_min_share}"
        elif s.kind == "softirq" and not opts.irq_softirqs:
            why = ("softirq: not listed (the format names interrupts by number or action; "
                   "--irq-softirqs lists it as softirq:ACTION)")
        else:
            why = "defer"
        away = (s.kind == "irq" and why == "defer" and len(s.cpus) == 1 and len(cpus_in_trace) > 1
                and share is not None and share >= opts.irq_away_share)
        if why == "defer":
            chosen.append((s.handler_us, s.preempted, key, s, away))
        rows.append({"source": key, "kind": s.kind, "number": s.num, "name": s.name, "seen": s.seen,
                     "cpus": sorted(s.cpus), "preempted_app": s.preempted, "handler_us": round(s.handler_us, 3),
                     "untimed": s.untimed, "share_of_app_cpu": None if share is None else round(share, 6),
                     "own_wakeups": s.own_wakeups, "decision": why, "away": away})
    chosen.sort(key=lambda c: (-c[0], -c[1], c[2]))
    entries: list[dict[str, Any]] = []
    dropped: list[str] = []
    for _us, _n, key, s, away in chosen:
        if len(entries) >= MAX_ENTRIES:
            dropped.append(key)
            continue
        entries.append({"irq": s.num, "away": away} if s.kind == "irq" else {"name": key, "away": False})
    ev = {
        "status": "decided",
        "application_pids": sorted(pids),
        "application_cpu_us": round(app_us, 3),
        "application_intervals": len(on_cpu),
        "cpus_in_trace": cpus_in_trace,
        "sources": rows,
        "listed": [e.get("name") or f"irq:{e['irq']}" for e in entries],
    }
    if dropped:
        ev["dropped_over_limit"] = dropped
    return entries, ev
