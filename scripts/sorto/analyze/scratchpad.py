"""The ``scratchpad`` decision: the kernel functions that take the most time, fitted into the SRAM budget.

Data, best first:

0. ``qemu_kfetch`` (the per-function table of the QEMU kfetch plugin,
   ``sorto.plugins.kfetch``): kernel instruction fetches per function,
   counted exactly in a window of the program's run.  Preferred because a
   fetch count is the function's own instructions, which is what a
   scratchpad serves, while the profiler's time includes callees and
   sleeping and carries the tracer's overhead.  The share is the function's
   fetches over all kernel fetches of the table(s).
1. ``ftrace_function_profile`` (``trace_stat/function<CPU>``): time per
   function summed over the CPU tables.  The time share of a function is its
   time over the CPU time of the profiled run (the manifest's duration of the
   ``function_profile`` pass times the number of CPU tables); without a
   manifest it is relative to the summed time of the ranked functions and
   flagged as such.  The profiler's time includes children, so nested
   functions (an interrupt entry and its handler) each count the same time.
2. Without a profile, ``ftrace_function`` call counts (``set_ftrace_pid``
   restricted to the application by ``sorto trace``): the share is a share of
   calls, not of time, and the evidence says so.

Functions matching ``exclude`` (the idle loop, sleeping and blocking entry
points, whose time is time off the CPU) are left out.  The ranking is by
share, then by name, so it is deterministic.  The fit is greedy down the
ranking: a function is taken when its real size (from the symbol table)
still fits the budget, until ``scratch_max`` entries.  Greedy rather than a
knapsack because the goal is the hottest code first, not the fullest SRAM.
``weight`` is the share in parts per million.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..analyze_options import Options
from ..errors import SortoError
from .load import TraceData
from .symbols import SymbolTable

NAME = re.compile(r"^[A-Za-z0-9_.:+@/-]{1,63}$")
MAX_ENTRIES = 32
SHOWN = 60  # ranked functions listed in the evidence


def function_times(data: TraceData, fetches: bool = True) -> tuple[dict[str, dict[str, float]], str, list[str]] | None:
    """``{function: {"hit", "time_us"}}`` (or ``{"hit", "fetches"}``) summed over tables, the metric, the files."""
    fetch = data.of_type("qemu_kfetch") if fetches else []
    if fetch:
        out: dict[str, dict[str, float]] = {}
        for t in fetch:
            fi, ni = t.col("function"), t.col("fetches")
            for r in t.rows:
                d = out.setdefault(r[fi], {"hit": 0, "fetches": 0})
                d["fetches"] += r[ni]
        return out, "fetches", [t.file for t in fetch]
    prof = data.of_type("ftrace_function_profile")
    if prof:
        out = {}
        timed = True
        for t in prof:
            fi, hi, ti = t.col("function"), t.col("hit"), t.col("time_us")
            for r in t.rows:
                d = out.setdefault(r[fi], {"hit": 0, "time_us": 0.0})
                d["hit"] += r[hi]
                if r[ti] is None:
                    timed = False
                else:
                    d["time_us"] += r[ti]
        return out, "time_us" if timed else "hit", [t.file for t in prof]
    funcs = data.of_type("ftrace_function")
    if funcs:
        out = {}
        for t in funcs:
            fi = t.col("function")
            for r in t.rows:
                d = out.setdefault(r[fi], {"hit": 0, "time_us": 0.0})
                d["hit"] += 1
        return out, "hit", [t.file for t in funcs]
    return None


def profile_window_us(data: TraceData, n_tables: int) -> float | None:
    """CPU time of the profiled run: the manifest's pass duration times the CPU tables; None if unknown."""
    t = data.tracer("function_profile")
    dur = t.get("duration_s") if t else None
    if isinstance(dur, (int, float)) and dur > 0 and n_tables > 0:
        return float(dur) * 1e6 * n_tables
    return None


@dataclass
class Ranking:
    """Functions by share, best first: ``(function, hit, metric value, share)``; what the shares rest on."""

    ranked: list[tuple[str, int, float, float]]
    excluded: list[tuple[str, float]]
    metric: str
    files: list[str]
    basis: str
    denominator: float
    functions: int
    relative: bool


def rank(data: TraceData, exclude_pattern: str) -> Ranking | None:
    """Rank the kernel functions of the trace by time (or call) share; None without function data."""
    try:
        exclude = re.compile(exclude_pattern) if exclude_pattern else None
    except re.error as exc:
        raise SortoError(f"--exclude: not a valid regular expression: {exc}") from exc
    got = function_times(data)
    if got is None:
        return None
    times, metric, files = got
    excluded = sorted(((f, v[metric]) for f, v in times.items() if exclude and exclude.fullmatch(f)),
                      key=lambda fv: (-fv[1], fv[0]))
    skip = {f for f, _ in excluded}
    ordered = sorted(((f, v) for f, v in times.items() if f not in skip), key=lambda fv: (-fv[1][metric], fv[0]))
    window = profile_window_us(data, len(files)) if metric == "time_us" else None
    relative = window is None and metric == "time_us"
    if window is not None:
        denom, basis = window, "profiled run CPU time (manifest function_profile duration x CPU tables)"
    elif metric == "fetches":
        denom = sum(v[metric] for v in times.values())
        basis = "kernel instruction fetches in the QEMU kfetch window (all functions of the table)"
    else:
        denom = sum(v[metric] for _f, v in ordered)
        basis = ("sum of the ranked functions' time (no manifest duration: relative share)" if metric == "time_us"
                 else "calls of the ranked functions (no profile: share of calls, not of time)")
    ranked = [(f, int(v["hit"]), v[metric], v[metric] / denom if denom > 0 else 0.0) for f, v in ordered]
    return Ranking(ranked, excluded, metric, files, basis, denom, len(times), relative)


def decide(data: TraceData, symbols: SymbolTable | None, symbols_reason: str | None,
           opts: Options) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``scratchpad`` entries and the evidence behind them."""
    ev: dict[str, Any] = {"budget_bytes": opts.sram_budget}
    r = rank(data, opts.exclude)
    if r is None:
        ev.update(status="skipped", reason="no ftrace_function_profile or ftrace_function log")
        return [], ev
    ev["data"] = {"files": r.files, "metric": r.metric, "functions": r.functions}
    if symbols is None:
        ev.update(status="skipped", reason=symbols_reason or "no symbol table")
        return [], ev
    if r.relative:
        data.flag("scratchpad shares are relative (no profiled-run duration in the manifest)")
    ev["symbols"] = {"file": symbols.file, "kind": symbols.kind, "sha256": symbols.sha256,
                     "size_method": symbols.method}
    ev["share_basis"] = r.basis
    ev["share_denominator"] = round(r.denominator, 3)
    ev["excluded_by_pattern"] = [{"function": f, r.metric: round(v, 3)} for f, v in r.excluded]
    used = 0
    entries: list[dict[str, Any]] = []
    listing: list[dict[str, Any]] = []
    for pos, (fn, hit, value, share) in enumerate(r.ranked, 1):
        weight = min(1000000, max(0, round(share * 1e6)))
        full, size, why = symbols.lookup(fn)
        if why is None and full is not None and not NAME.match(full):
            why = "name outside the policy name set or longer than 63 characters"
        if why is None and share < opts.scratch_min_share:
            why = f"share below --scratch-min-share {opts.scratch_min_share:g}"
        if why is None and len(entries) >= min(opts.scratch_max, MAX_ENTRIES):
            why = f"over --scratch-max {opts.scratch_max}"
        if why is None and size is not None and used + size > opts.sram_budget:
            why = f"{size} bytes do not fit the {opts.sram_budget - used} bytes left"
        if why is None and full is not None and size is not None:
            used += size
            entries.append({"function": full, "weight": weight})
            why = "placed"
        if pos <= SHOWN or why == "placed":
            item = {"rank": pos, "function": fn, "hit": hit, "share": round(share, 6), "weight": weight,
                    "size": size, "decision": why, r.metric: round(value, 3)}
            if full is not None and full != fn:
                item["symbol"] = full
            listing.append(item)
    ev.update(status="decided", used_bytes=used, placed=len(entries), ranked=len(r.ranked), ranking=listing)
    return entries, ev
