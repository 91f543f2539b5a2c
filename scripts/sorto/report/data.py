"""What each report section shows, computed from a loaded trace (no drawing here).

Why separate from the charts: the numbers are testable without matplotlib,
and the report shows the same numbers ``sorto analyze`` decides on (the
ranking, the interrupt sources, the delays come from the analyzer's modules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..analyze import Options, analyze
from ..analyze import events as _events
from ..analyze import sched as _sched
from ..analyze import scratchpad as _scratch
from ..progress import QUIET, Progress

SYSCALL_PREFIXES = ("sys_", "__arm64_sys_", "__x64_sys_", "__ia32_sys_", "__se_sys_")


@dataclass
class Section:
    """One section of one trace: rows for a table, chart inputs, or why it is missing."""

    missing: str | None = None
    source: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class View:
    """Everything the report shows of one trace folder."""

    label: str
    title: str
    facts: list[tuple[str, str]]
    warnings: list[str]
    syscalls: Section
    functions: Section
    timeline: Section
    latency: Section


def syscalls(result: Any, top: int) -> Section:
    """Top syscalls by time: the ``strace -c`` summary, else the profile's syscall entry points."""
    data = result.data
    summaries = data.of_type("strace_summary")
    if summaries:
        t = summaries[0]
        rows = [r for r in t.records() if not r["is_total"]]
        rows.sort(key=lambda r: (-(r["seconds"] or 0.0), r["syscall"]))
        return Section(source=f"{t.file} (strace -c: seconds in the call)", rows=[
            {"name": r["syscall"], "value": r["seconds"] or 0.0, "unit": "s", "calls": r["calls"],
             "errors": r["errors"]} for r in rows[:top]])
    got = _scratch.function_times(data, fetches=False)
    if got is not None and got[1] == "time_us":
        times = got[0]
        rows2 = [{"name": f, "value": v["time_us"] / 1e6, "unit": "s", "calls": int(v["hit"]), "errors": None}
                 for f, v in times.items() if f.startswith(SYSCALL_PREFIXES)]
        rows2.sort(key=lambda r: (-r["value"], r["name"]))
        if rows2:
            return Section(source=f"{', '.join(got[2])} (kernel function profile: time in the sys_* entry point, "
                                  "children and sleeping included; no strace -c summary in this trace)",
                           rows=rows2[:top])
    reason = "no strace -c summary and no timed function profile with sys_* entry points in this trace"
    strace = data.tracer("strace")
    if strace and strace.get("reason"):
        reason += f" (manifest: strace {strace.get('status')}: {strace['reason']})"
    return Section(missing=reason)


def functions(result: Any, opts: Options, top: int) -> Section:
    """Top kernel functions by share, idle and sleeping functions left out as in the analyzer."""
    r = _scratch.rank(result.data, opts.exclude)
    if r is None:
        return Section(missing="no ftrace_function_profile or ftrace_function log in this trace")
    placed = {e["function"] for e in result.policy["scratchpad"]}
    rows = [{"name": f, "hit": hit, "value": v, "share": share, "placed": f in placed}
            for f, hit, v, share in r.ranked[:top]]
    unit = {"time_us": "us", "fetches": "fetches"}.get(r.metric, "calls")
    return Section(source=f"{', '.join(r.files)} ({r.metric}; share of {r.basis})", rows=rows,
                   extra={"unit": unit, "excluded": len(r.excluded)})


def timeline(result: Any, evs: list[_events.Event] | None, pids: set[int]) -> Section:
    """Per-CPU spans: the application on CPU, other tasks, interrupt and softirq handlers, preemptions."""
    if evs is None:
        return Section(missing="no ftrace_events log (irq and sched events) in this trace")
    if not evs:
        return Section(missing="the ftrace_events log has no irq or sched event")
    t0 = evs[0].ts
    running: dict[int, tuple[float, int, str]] = {}
    spans: list[dict[str, Any]] = []
    open_h: dict[tuple[int, str], tuple[float, str, bool]] = {}
    preempts: list[dict[str, Any]] = []
    for e in evs:
        if e.cpu not in running:
            running[e.cpu] = (t0, e.prev_pid if e.kind == "switch" else e.pid, e.task)
        if e.kind == "switch":
            since, pid, _task = running[e.cpu]
            spans.append({"cpu": e.cpu, "start": since - t0, "end": e.ts - t0,
                          "kind": "app" if pid in pids else ("idle" if pid == 0 else "task")})
            running[e.cpu] = (e.ts, int(e.other_pid or 0), e.other_comm)
            if e.prev_pid in pids and e.prev_state.startswith("R"):
                preempts.append({"cpu": e.cpu, "t": e.ts - t0, "by": e.other_comm})
        elif e.kind in ("irq_entry", "softirq_entry"):
            kind = "irq" if e.kind == "irq_entry" else "softirq"
            open_h[(e.cpu, kind)] = (e.ts, e.name, e.pid in pids)
        elif e.kind in ("irq_exit", "softirq_exit"):
            kind = "irq" if e.kind == "irq_exit" else "softirq"
            o = open_h.pop((e.cpu, kind), None)
            if o is not None:
                spans.append({"cpu": e.cpu, "start": o[0] - t0, "end": e.ts - t0, "kind": kind, "name": o[1],
                              "on_app": o[2]})
    t_end = evs[-1].ts
    for cpu, (since, pid, _task) in running.items():
        spans.append({"cpu": cpu, "start": since - t0, "end": t_end - t0,
                      "kind": "app" if pid in pids else ("idle" if pid == 0 else "task")})
    on_app = [s for s in spans if s["kind"] in ("irq", "softirq") and s.get("on_app")]
    counts: dict[str, int] = {}
    for s in on_app:
        key = f"{s['kind']} {s['name']}"
        counts[key] = counts.get(key, 0) + 1
    for p in preempts:
        key = f"task {p['by']} (preempted it)"
        counts[key] = counts.get(key, 0) + 1
    rows = [{"name": k, "count": n} for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    note = "" if pids else " (application not found in the events: no application spans)"
    return Section(source=f"{result.policy['evidence']['application'].get('events_file')}{note}", rows=rows,
                   extra={"spans": spans, "preempts": preempts, "cpus": sorted(running), "t_end": t_end - t0})


def latency(result: Any, evs: list[_events.Event] | None, pids: set[int]) -> Section:
    """Wake-up latency and preemption wait samples of the application."""
    if evs is None:
        return Section(missing="no ftrace_events log (sched_wakeup, sched_switch) in this trace")
    if not pids:
        return Section(missing="the application was not found in the events log (give --comm or --pid)")
    wake, preempt = _sched.delays(evs, pids)
    if not wake and not preempt:
        return Section(missing=f"no wake-up or preemption of the application (pids {sorted(pids)}) in the events log")
    return Section(source="sched_wakeup/sched_switch of the application", rows=[
        {"name": "wake-up latency", **_sched.stats(wake)}, {"name": "preemption wait", **_sched.stats(preempt)}],
        extra={"wake": wake, "preempt": preempt})


def view(trace_dir: str, opts: Options, top: int, progress: Progress = QUIET) -> View:
    """Load and prepare one trace folder for the report."""
    result = analyze(trace_dir, opts, progress)
    data = result.data
    ev = result.policy["evidence"]
    table, _others = _events.first_events_table(data)
    evs = _events.events(table) if table is not None else None
    pids = set(ev["application"].get("pids") or [])
    cmd = " ".join(data.command) or "(no manifest: command unknown)"
    facts = [("command", cmd), ("kernel", data.kernel_release or "unknown"),
             ("target", str((data.manifest or {}).get("target") or "unknown")),
             ("application pids", ", ".join(map(str, sorted(pids))) or "not found"),
             ("logs", ", ".join(f"{t.file} ({t.type}, {len(t.rows)} rows)" for t in data.tables)),
             ("trace sha256", result.policy["profile"]["trace_sha256"])]
    return View(label=data.root.name or str(data.root), title=cmd, facts=facts, warnings=result.warnings,
                syscalls=syscalls(result, top), functions=functions(result, opts, top),
                timeline=timeline(result, evs, pids), latency=latency(result, evs, pids))
