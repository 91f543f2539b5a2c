"""``sorto analyze``: turn a trace folder into a policy, with the numbers behind every decision.

One module per job: ``load`` reads the folder with the ``sorto parse``
parsers, ``symbols`` reads function sizes, ``events`` types the irq/sched
events and finds the application, and ``scratchpad``, ``mlock``, ``irq`` and
``sched`` each make one decision and return ``(entries, evidence)``;
``evidence`` builds the profile block and the input record.  The rules are
documented in docs/analyze.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import policy as _policy
from ..analyze_options import DEFAULT_EXCLUDE, DEFAULT_SRAM_BUDGET, HELP, Options
from ..atomic import write_atomic
from ..errors import SortoError
from ..progress import QUIET, Progress
from . import events, evidence, irq, load, mlock, sched, scratchpad, symbols

__all__ = ["Options", "Result", "analyze", "render", "write", "DEFAULT_EXCLUDE", "DEFAULT_SRAM_BUDGET", "HELP"]


class Result:
    """The policy, the loaded trace it came from, and the warnings for the user."""

    def __init__(self, policy: dict[str, Any], data: load.TraceData, warnings: list[str]) -> None:
        self.policy = policy
        self.data = data
        self.warnings = warnings

    @property
    def partial(self) -> bool:
        return bool(self.policy["evidence"]["partial"])


def analyze(trace_dir: str | Path, opts: Options | None = None, progress: Progress = QUIET) -> Result:
    """Load ``trace_dir`` and make every decision; raise SortoError on unusable input."""
    opts = opts or Options()
    _check_options(opts)
    data = load.load(trace_dir, opts.lenient, progress)
    syms, syms_reason = symbols.load(opts.system_map, opts.vmlinux, data.symbol_files)
    if syms is not None and not (opts.system_map or opts.vmlinux):
        used = next(p for p in sorted(data.symbol_files) if p.name == syms.file)
        data.files.append({"file": used.relative_to(data.root).as_posix(), "sha256": syms.sha256,
                           "bytes": used.stat().st_size, "role": "symbols"})
    app, app_reason = events.application(data, opts.pids, opts.comm)
    ev_table, other_events = events.first_events_table(data)
    evs = events.events(ev_table) if ev_table is not None else None
    pids: set[int] = set()
    app_ev: dict[str, Any]
    if app is None:
        app_ev = {"status": "unknown", "reason": app_reason}
    else:
        pids = app.pids_in(evs) if evs is not None else set(app.pids)
        app_ev = {"status": "found" if pids else "not found", "identified_by": app.source, "comm": app.comm,
                  "pids": sorted(pids), "events_file": ev_table.file if ev_table is not None else None}
        if other_events:
            app_ev["events_files_not_used"] = other_events

    if opts.background_for:
        scratch_entries, scratch_ev, mlock_entries, mlock_ev, irq_entries, irq_ev, sched_entry, sched_ev = \
            _background(evs, pids, app, opts)
    else:
        scratch_entries, scratch_ev = scratchpad.decide(data, syms, syms_reason, opts)
        mlock_entries, mlock_ev = mlock.decide(data, opts.mlock_min_kb)
        irq_entries, irq_ev = _irq(evs, ev_table, app, app_reason, pids, opts)
        sched_entry, sched_ev = _sched(data, evs, ev_table, app, app_reason, pids, opts)

    pol: dict[str, Any] = {"version": 1, "profile": evidence.profile(data, opts.comm)}
    named = evidence.policy_name(app.comm) if opts.background_for and app is not None and app.comm else None
    if named:
        pol["profile"]["source"] = named
    pol["mlock"] = mlock_entries
    if sched_entry is not None:
        pol["sched"] = sched_entry
    pol["irq_defer"] = irq_entries
    pol["scratchpad"] = scratch_entries
    decisions = {"scratchpad": scratch_ev, "mlock": mlock_ev, "irq_defer": irq_ev, "sched": sched_ev}
    skipped = {k: v["reason"] for k, v in decisions.items() if v.get("status") == "skipped"}
    pol["evidence"] = {
        "tool": evidence.tool(),
        "partial": data.partial,
        "partial_reasons": list(data.notes),
        "info": list(data.info),
        "skipped_decisions": skipped,
        "inputs": evidence.inputs(data, syms),
        "options": opts.evidence(),
        "application": app_ev,
        **decisions,
    }
    pol = json.loads(json.dumps(pol))  # plain JSON types only (tuples, sets would not round-trip)
    try:
        _policy.validate(pol, "analyze result")
    except SortoError as exc:  # a bug, never the user's input: say so
        raise SortoError(f"internal error, the generated policy is invalid: {exc}") from exc
    warnings = [f"PARTIAL: {n}" for n in data.notes]
    warnings += [f"{s['file']}: skipped: {s['reason']}" for s in data.skipped]
    warnings += [f"{k}: skipped: {r}" for k, r in skipped.items()]
    return Result(pol, data, warnings)


def _irq(evs: list[events.Event] | None, ev_table: Any, app: events.App | None, app_reason: str | None,
         pids: set[int], opts: Options) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if evs is None:
        return [], {"status": "skipped", "reason": "no ftrace_events log (irq_handler_entry/exit, "
                    "softirq_entry/exit, sched_switch, sched_wakeup)"}
    if app is None:
        return [], {"status": "skipped", "reason": app_reason}
    if not pids:
        return [], {"status": "skipped", "reason": f"the application ({app.comm}) does not appear in {ev_table.file}"}
    return irq.decide(evs, pids, opts)


def _sched(data: load.TraceData, evs: list[events.Event] | None, ev_table: Any, app: events.App | None,
           app_reason: str | None, pids: set[int], opts: Options) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    perf = data.of_type("perf_sched_latency")
    if app is None:
        return None, {"status": "skipped", "reason": app_reason}
    if evs is not None and not pids and not perf:
        return None, {"status": "skipped", "reason": f"the application ({app.comm}) does not appear in {ev_table.file}"}
    entry, ev = sched.decide(evs, pids, app.comm, perf, opts)
    own = sched.own_policy_calls(data.of_type("strace_timestamps"))
    if own and entry is not None and entry.get("policy") != "other":
        ev["sets_own_policy"] = own
        ev["reason"] += ("; note: the program sets its own scheduling (strace), which overrides this entry for "
                         "the threads it sets")
    return entry, ev


def _background(evs: list[events.Event] | None, pids: set[int], app: events.App | None,
                opts: Options) -> tuple[Any, ...]:
    """A background program's decisions: its scheduling only (docs/analyze.md, --background-for).

    Memory locking, interrupt deferral and scratchpad placement serve the
    program that carries them; a load that should yield gets none of them.
    """
    why = {"status": "skipped", "reason": f"background program of {opts.background_for}: only its scheduling "
           "is decided"}
    if app is None:
        raise SortoError("--background-for needs the background program: --comm NAME or --pid PID")
    victim = events.App(frozenset(), opts.background_for[: events.TASK_COMM_LEN - 1], "--background-for")
    victim_pids = (victim.pids_in(evs) - pids) if evs is not None else set()
    sched_entry, sched_ev = sched.decide_background(evs, victim_pids, victim.comm or "", app.comm or "", opts)
    return [], dict(why), [], dict(why), [], dict(why), sched_entry, sched_ev


def render(pol: dict[str, Any]) -> str:
    """The policy as canonical JSON text: sorted keys, two-space indent, final newline."""
    return json.dumps(pol, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def write(pol: dict[str, Any], path: str | Path) -> Path:
    """Write the policy atomically (complete or not at all)."""
    return write_atomic(path, render(pol))


def _check_options(o: Options) -> None:
    """Reject thresholds that cannot mean anything, before any work."""
    if o.sram_budget < 0:
        raise SortoError("--sram-budget must be >= 0")
    if not 0 <= o.scratch_max <= scratchpad.MAX_ENTRIES:
        raise SortoError(f"--scratch-max must be 0..{scratchpad.MAX_ENTRIES}")
    for name in ("scratch_min_share", "irq_min_share", "irq_away_share"):
        if not 0.0 <= getattr(o, name) <= 1.0:
            raise SortoError(f"--{name.replace('_', '-')} must be between 0 and 1")
    if o.sched_policy not in ("fifo", "rr"):
        raise SortoError("--sched-policy must be fifo or rr")
    if not 1 <= o.sched_priority <= 99:
        raise SortoError("--sched-priority must be 1..99")
    if not 0.0 <= o.background_share <= 1.0:
        raise SortoError("--background-share must be between 0 and 1")
    if o.background_for is not None and not o.background_for.strip():
        raise SortoError("--background-for needs a task name")
    if o.irq_min_count < 1 or o.sched_min_samples < 0 or o.mlock_min_kb < 0 or o.sched_latency_us < 0:
        raise SortoError("--irq-min-count must be >= 1; --sched-min-samples, --mlock-min-kb and "
                         "--sched-latency-us >= 0")
    for pid in o.pids:
        if pid <= 0:
            raise SortoError(f"--pid {pid}: not a process id")
