"""What ``sorto optimize`` tells the user: results.json, the terminal table, a few plain lines, report.html.

Every number shown is a measured one; the ratios compare medians over the
rounds of one session, and min and max are printed beside them so the
spread is never hidden.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..hookfs import HookRecord, parse_stats
from . import measure


def _side_stats(vals: list[float]) -> dict[str, Any]:
    s = measure.Summary(vals)
    return {"values": vals, "min": s.min, "median": s.median, "max": s.max}


def _policy_summary(pol: dict[str, Any]) -> dict[str, Any]:
    return {"sched": pol.get("sched"), "irq_defer": pol.get("irq_defer", []), "mlock": pol.get("mlock", []),
            "scratchpad": [e["function"] for e in pol.get("scratchpad", [])], "profile": pol["profile"],
            "skipped_decisions": pol["evidence"].get("skipped_decisions", {})}


def record_json(rec: HookRecord) -> dict[str, Any]:
    """The kernel's record of one exec as results.json keeps it (the loop's tuning keeps the loads' too)."""
    return {"file": rec.file, "seq": rec.seq, "comm": rec.comm, "result": rec.result, "privs": rec.privs,
            "trace_sha256": rec.policy.get("profile", {}).get("trace_sha256"), "actions": rec.actions,
            "actions_truncated": rec.actions_truncated}


def results(opts: Any, target: str, exe: str, metrics: tuple[measure.Metric, ...], sides: list[str],
            values: dict[str, dict[str, list[float]]], pol: dict[str, Any], manifest: dict[str, Any],
            rec: HookRecord, loads: list[Any], load_recs: dict[str, list[HookRecord]], stats: str,
            seconds: float) -> dict[str, Any]:
    """Everything the run measured and decided, as plain JSON types."""
    return {
        "sorto_optimize": 1,
        "command": [exe, *opts.argv[1:]],
        "target": target,
        "kernel_release": manifest.get("kernel_release"),
        "rounds": opts.rounds,
        "sides": sides,
        "loads": [{"command": ld.command, "policy": _policy_summary(ld.policy) if ld.policy else None,
                   "decision": (ld.policy or {}).get("evidence", {}).get("sched", {}).get("reason"),
                   "marked": ld.marked is not None,
                   "not_marked": ld.not_marked,
                   "kernel_records": [record_json(r) for r in load_recs.get(ld.command, [])[-1:]]} for ld in loads],
        "metrics": {m.name: {"unit": m.unit, "lower_is_better": m.lower_is_better,
                             "sides": {s: _side_stats(values[s][m.name]) for s in sides}} for m in metrics},
        "policy": _policy_summary(pol),
        "trace_sha256": pol["profile"].get("trace_sha256"),
        "kernel_record": record_json(rec),
        "module_stats": parse_stats(stats),
        "seconds": round(seconds, 1),
    }


def gain(res: dict[str, Any], metric: str, side: str, against: str) -> float | None:
    """How many times better ``side`` is than ``against`` on the median (>1 is better); None if undefined."""
    m = res["metrics"][metric]
    a, b = m["sides"][against]["median"], m["sides"][side]["median"]
    if m["lower_is_better"]:
        return a / b if b else None
    return b / a if a else None


def table(res: dict[str, Any]) -> str:
    """The terminal table: one row per metric and side, min / median / max, and the gain on the median."""
    sides = res["sides"]
    width = max(len(s) for s in sides)
    lines = [f"{'metric':<16} {'side':<{width}} {'min':>10} {'median':>10} {'max':>10}  gain vs without (median)"]
    for name, m in res["metrics"].items():
        unit = f" ({m['unit']})" if m["unit"] else ""
        for i, s in enumerate(sides):
            st = m["sides"][s]
            g = gain(res, name, s, "without metadata")
            gtxt = "" if s == "without metadata" else (f"{g:.2f}x" if g is not None else "n/a")
            label = (name + unit) if i == 0 else ""
            nums = f"{st['min']:>10.1f} {st['median']:>10.1f} {st['max']:>10.1f}"
            lines.append(f"{label:<16} {s:<{width}} {nums}  {gtxt}")
    return "\n".join(lines)


def actions(res: dict[str, Any]) -> str:
    """The kernel's action lines for the marked application (and marked loads), as the module wrote them."""
    out = []
    recs = [res["kernel_record"]] + [r for ld in res["loads"] for r in ld["kernel_records"]]
    for r in recs:
        out.append(f"{r['file']} (record {r['seq']}, {r['result']}):")
        for a in r["actions"]:
            out.append("  " + " ".join(f"{k}={v}" for k, v in a.items()))
    return "\n".join(out)


def words(res: dict[str, Any]) -> str:
    """A few lines a newcomer reads first."""
    name = next(iter(res["metrics"]))
    m = res["metrics"][name]
    unit = f" {m['unit']}" if m["unit"] else ""
    w, wo = m["sides"]["with metadata"], m["sides"]["without metadata"]
    g = gain(res, name, "with metadata", "without metadata")
    prog = Path(res["command"][0]).name
    lines = [f"{prog}: {name} median {wo['median']:.0f}{unit} without metadata, {w['median']:.0f}{unit} with it "
             f"({g:.1f}x {'better' if g and g >= 1 else 'worse'}; {res['rounds']} runs each, "
             f"min-max {wo['min']:.0f}-{wo['max']:.0f} vs {w['min']:.0f}-{w['max']:.0f})." if g else
             f"{prog}: {name} median {wo['median']:.0f}{unit} without metadata, {w['median']:.0f}{unit} with it."]
    for s in res["sides"]:
        if s in ("with metadata", "without metadata"):
            continue
        bg = gain(res, name, "with metadata", s)
        lines.append(f"Hand tuning `{s}`: median {m['sides'][s]['median']:.0f}{unit}; the metadata is "
                     + (f"{bg:.1f}x {'better' if bg >= 1 else 'worse'} than it." if bg else "not comparable."))
    pol = res["policy"]
    asked = []
    if pol["sched"]:
        asked.append(f"scheduling {pol['sched']['policy']}")
    if pol["irq_defer"]:
        asked.append(f"{len(pol['irq_defer'])} interrupt(s) deferred")
    if pol["mlock"]:
        asked.append(f"{len(pol['mlock'])} region(s) locked")
    if pol["scratchpad"]:
        asked.append(f"{len(pol['scratchpad'])} kernel function(s) in SRAM")
    lines.append(f"The profile asked for: {', '.join(asked) or 'nothing'}.")
    tune = res.get("tune")
    if tune:
        meds = "; ".join(f"{c}: median {tune['medians'][c]:.0f}{unit}" for c in tune["candidates"])
        lines.append(f"Tuning ({tune['rounds']} run(s) of each candidate, before and apart from the runs above), "
                     f"{tune['metric']}: {meds}; kept: {tune['chosen']}.")
    for ld in res["loads"]:
        if ld["marked"]:
            lines.append(f"The load `{ld['command']}` was marked too: {ld['decision']}.")
        elif ld.get("not_marked"):
            lines.append(f"The load `{ld['command']}` got a policy ({ld['decision']}); not marked: "
                         f"{ld['not_marked']}.")
        elif ld["policy"] and ld["policy"]["sched"].get("policy", "other") != "other":
            lines.append(f"The load `{ld['command']}` got a policy ({ld['decision']}); not injected "
                         "(--mark-loads).")
    acts = res["kernel_record"]["actions"]
    done = sum(1 for a in acts if a.get("result") == "applied")
    lines.append(f"The kernel applied {done} of {len(acts)} actions at exec (action lines below).")
    return "\n".join(lines)


def write_report(work: Path, res: dict[str, Any], metrics: tuple[measure.Metric, ...], sides: list[str],
                 values: dict[str, dict[str, list[float]]]) -> Path:
    """report.html: the measured sides and the action lines, over the profile (and the after-trace, if any)."""
    from .. import report

    measurement = {"table": table(res), "words": words(res), "actions": actions(res),
                   "charts": [report.charts.rounds(m.name + (f" ({m.unit})" if m.unit else ""), sides,
                                                   [values[s][m.name] for s in sides]) for m in metrics]}
    after = work / "trace-after"
    return report.build(str(work / "trace-before"), work / "report.html",
                        compare=str(after) if after.is_dir() else None, measurement=measurement)
