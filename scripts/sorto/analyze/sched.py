"""The ``sched`` decision: a real-time policy when the application waits too long to run.

A *scheduling delay* is the time between the moment the application could
run and the moment it does, the same quantity ``perf sched latency`` calls
delay:

* wake-up latency: ``sched_wakeup`` of an application pid until the
  ``sched_switch`` that puts it on a CPU;
* preemption wait: ``sched_switch`` away from an application pid that was
  still runnable (``prev_state`` ``R``/``R+``) until it runs again.

When the p99 (nearest rank) of the delays exceeds ``sched_latency_us``, the
suggestion is ``sched_policy`` (fifo) at ``sched_priority``; otherwise
``other``.  With a ``perf sched latency`` table, the application's rows add
their maximum delay as one more sample (perf keeps no distribution).
"""

from __future__ import annotations

import math
from typing import Any

from ..analyze_options import Options
from .events import Event
from .load import Table


def delays(evs: list[Event], pids: set[int]) -> tuple[list[float], list[float]]:
    """Wake-up latencies and preemption waits of ``pids``, in microseconds, in trace order."""
    wake: list[float] = []
    preempt: list[float] = []
    pending: dict[int, tuple[float, str]] = {}  # pid -> (since, "wakeup" | "preempt")
    for e in evs:
        if e.kind == "wakeup" and e.other_pid in pids and e.other_pid not in pending:
            pending[int(e.other_pid)] = (e.ts, "wakeup")
        elif e.kind == "switch":
            if e.prev_pid in pids and e.prev_state.startswith("R"):
                pending[int(e.prev_pid)] = (e.ts, "preempt")
            if e.other_pid in pids and e.other_pid in pending:
                since, why = pending.pop(int(e.other_pid))
                (wake if why == "wakeup" else preempt).append((e.ts - since) * 1e6)
    return wake, preempt


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: the value is one that was measured)."""
    s = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(s)))
    return s[rank - 1]


def stats(values: list[float]) -> dict[str, Any]:
    """Count, min, median, p99, max and mean, microseconds rounded to 0.001."""
    if not values:
        return {"count": 0}
    return {"count": len(values), "min_us": round(min(values), 3), "median_us": round(percentile(values, 50), 3),
            "p99_us": round(percentile(values, 99), 3), "max_us": round(max(values), 3),
            "mean_us": round(sum(values) / len(values), 3)}


def perf_rows(tables: list[Table], pids: set[int], comm: str | None) -> list[dict[str, Any]]:
    """The application's rows of ``perf sched latency`` tables (by pid, else by comm)."""
    out = []
    for t in tables:
        for r in t.records():
            if r["is_total"]:
                continue
            if (r["pid"] is not None and r["pid"] in pids) or (comm and r["task"] == comm):
                out.append({"file": t.file, "task": r["task"], "pid": r["pid"], "switches": r["switches"],
                            "avg_delay_ms": r["avg_delay_ms"], "max_delay_ms": r["max_delay_ms"]})
    return out


def decide(evs: list[Event] | None, pids: set[int], comm: str | None, perf: list[Table],
           opts: Options) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The ``sched`` entry (None when there is nothing to decide from) and its evidence."""
    wake, preempt = delays(evs or [], pids)
    prow = perf_rows(perf, pids, comm)
    samples = wake + preempt + [r["max_delay_ms"] * 1000.0 for r in prow]
    ev: dict[str, Any] = {"application_pids": sorted(pids), "wakeup_latency": stats(wake),
                          "preemption_wait": stats(preempt), "all_delays": stats(samples),
                          "threshold_us": opts.sched_latency_us}
    if prow:
        ev["perf_sched_latency"] = prow
    if evs is None and not prow:
        ev["status"] = "skipped"
        ev["reason"] = ("no ftrace_events log (sched_switch/sched_wakeup) and no perf sched latency row of "
                        "the application")
        return None, ev
    if len(samples) < opts.sched_min_samples:
        ev["status"] = "decided"
        ev["reason"] = (f"{len(samples)} delay samples < --sched-min-samples {opts.sched_min_samples}: "
                        "nothing suggests a real-time policy")
        return {"policy": "other"}, ev
    p99 = percentile(samples, 99) if samples else 0.0
    ev["status"] = "decided"
    if samples and p99 > opts.sched_latency_us:
        ev["reason"] = f"p99 delay {p99:.3f} us > --sched-latency-us {opts.sched_latency_us:g}"
        return {"policy": opts.sched_policy, "priority": opts.sched_priority}, ev
    ev["reason"] = (f"p99 delay {p99:.3f} us <= --sched-latency-us {opts.sched_latency_us:g}" if samples
                    else "the application was never delayed (no wake-up or preemption samples)")
    return {"policy": "other"}, ev


def delayed_by(evs: list[Event], pids: set[int]) -> dict[str, float]:
    """Microseconds the application waited, by the task that held the CPU until it got it.

    The holder is the task switched out when an application pid is switched
    in after waiting (woken or preempted): the same delays as :func:`delays`,
    attributed to ``prev_comm`` (``<idle>`` for the idle task, whose share is
    the wake-up path's own cost).
    """
    out: dict[str, float] = {}
    pending: dict[int, float] = {}
    for e in evs:
        if e.kind == "wakeup" and e.other_pid in pids and e.other_pid not in pending:
            pending[int(e.other_pid)] = e.ts
        elif e.kind == "switch":
            if e.prev_pid in pids and e.prev_state.startswith("R"):
                pending[int(e.prev_pid)] = e.ts
            if e.other_pid in pids and e.other_pid in pending:
                since = pending.pop(int(e.other_pid))
                who = "<idle>" if e.prev_pid == 0 else e.prev_comm
                out[who] = out.get(who, 0.0) + (e.ts - since) * 1e6
    return out


def decide_background(evs: list[Event] | None, victim_pids: set[int], victim: str, comm: str,
                      opts: Options) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The ``sched`` entry of a background program (``--background-for VICTIM``) and its evidence.

    A program whose tasks held the CPU for at least ``background_share`` of
    the time the latency-sensitive program waited gets ``SCHED_BATCH`` at
    nice 19: the least weight a normal task can have, and its wake-ups never
    preempt; this works whatever class the latency-sensitive program runs
    in, and lowering a program's priority needs no privilege.  Otherwise ``other``.
    Why not ``SCHED_IDLE``: in one guest run it left cyclictest's maximum
    latency at 69.8 ms.  Neither has been shown to help cyclictest under
    hackbench on the one-CPU -icount guest (docs/optimize.md).
    """
    ev: dict[str, Any] = {"role": "background", "latency_sensitive": victim, "victim_pids": sorted(victim_pids),
                          "threshold_share": opts.background_share}
    if evs is None:
        ev["status"] = "skipped"
        ev["reason"] = "no ftrace_events log (sched_switch/sched_wakeup): who delayed whom is unknown"
        return None, ev
    if not victim_pids:
        ev["status"] = "skipped"
        ev["reason"] = f"the latency-sensitive program ({victim}) does not appear in the events log"
        return None, ev
    held = delayed_by(evs, victim_pids)
    total = sum(held.values())
    mine = held.get(comm, 0.0)
    share = mine / total if total else 0.0
    ev["delayed_by_us"] = {k: round(v, 3) for k, v in sorted(held.items(), key=lambda kv: (-kv[1], kv[0]))[:8]}
    ev["victim_wait_us"] = round(total, 3)
    ev["share"] = round(share, 6)
    ev["status"] = "decided"
    if total and share >= opts.background_share:
        ev["reason"] = (f"{comm} held the CPU for {share:.1%} of the {total:.0f} us {victim} waited "
                        f">= --background-share {opts.background_share:g}")
        return {"policy": "batch", "nice": 19}, ev
    ev["reason"] = (f"{comm} held the CPU for {share:.1%} of the {total:.0f} us {victim} waited "
                    f"< --background-share {opts.background_share:g}" if total else f"{victim} never waited")
    return {"policy": "other"}, ev


SELF_SET = ("sched_setscheduler", "sched_setattr", "sched_setparam")


def own_policy_calls(tables: list[Table]) -> list[dict[str, Any]]:
    """Successful calls by which the traced program set its own scheduling, from strace logs.

    A policy's ``sched`` entry is applied at exec; a program that then sets
    its own class undoes it for the threads it sets.  The evidence says so,
    so that a reader of the policy knows the entry may not be the last word.
    Such calls can also follow the class the program was started in:
    cyclictest without -p, traced in SCHED_OTHER, puts its threads in
    SCHED_OTHER, yet started in SCHED_FIFO (chrt, or the entry at exec) its
    measuring thread runs real-time (docs/optimize.md).
    """
    out = []
    for t in tables:
        for r in t.records():
            if r.get("syscall") in SELF_SET and r.get("return_int") == 0 and len(out) < 8:
                out.append({"file": t.file, "pid": r.get("pid"), "call": f"{r['syscall']}({r.get('args') or ''})"})
    return out
