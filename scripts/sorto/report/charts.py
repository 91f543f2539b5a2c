"""Charts of the report as PNG ``data:`` URIs (matplotlib, Agg backend).

Why data URIs: the report is one file that opens anywhere (mailed, attached
to an issue, archived with the trace) with no external link to break.
Why Agg: no display is needed, and the backend is chosen before pyplot loads.
"""

from __future__ import annotations

import base64
import io
import statistics
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

COLORS = {"app": "#2e7d32", "task": "#b0bec5", "idle": "#eceff1", "irq": "#c62828", "softirq": "#ef6c00"}


def _uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def bars(labels: list[str], values: list[float], xlabel: str, highlight: list[bool] | None = None) -> str:
    """Horizontal bars, largest on top."""
    fig, ax = plt.subplots(figsize=(6.4, 0.28 * max(len(labels), 3) + 0.8))
    colors = ["#2e7d32" if h else "#546e7a" for h in (highlight or [False] * len(labels))]
    ax.barh(range(len(labels)), values, color=colors)
    ax.set_yticks(range(len(labels)), labels=[lb[:40] for lb in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    return _uri(fig)


def timeline(spans: list[dict[str, Any]], preempts: list[dict[str, Any]], cpus: list[int], t_end: float) -> str:
    """One lane per CPU: who ran (application, other task, idle), interrupt and softirq handlers on top."""
    fig, ax = plt.subplots(figsize=(9.5, 0.7 * max(len(cpus), 1) + 1.2))
    lane = {c: i for i, c in enumerate(cpus)}
    for kind, y0, h in (("idle", 0.0, 0.8), ("task", 0.0, 0.8), ("app", 0.0, 0.8), ("softirq", 0.45, 0.35),
                        ("irq", 0.45, 0.35)):
        for cpu in cpus:
            segs = [(s["start"] * 1e3, max((s["end"] - s["start"]) * 1e3, t_end * 1e3 / 2000))
                    for s in spans if s["kind"] == kind and s["cpu"] == cpu]
            if segs:
                ax.broken_barh(segs, (lane[cpu] + y0 - 0.4, h), facecolors=COLORS[kind])
    for p in preempts:
        ax.plot([p["t"] * 1e3] * 2, [lane[p["cpu"]] - 0.45, lane[p["cpu"]] + 0.45], color="black", lw=1)
    ax.set_yticks(range(len(cpus)), labels=[f"CPU {c}" for c in cpus])
    ax.set_xlabel("ms since the first event")
    ax.set_xlim(0, max(t_end * 1e3, 1e-3))
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[k]) for k in ("app", "task", "idle", "irq", "softirq")]
    handles.append(plt.Line2D([0], [0], color="black", lw=1))
    ax.legend(handles, ["application", "other task", "idle", "interrupt", "softirq", "application preempted"],
              fontsize=7, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.35), frameon=False)
    return _uri(fig)


def histogram(wake: list[float], preempt: list[float]) -> str:
    """Wake-up latency and preemption wait of the application, microseconds."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    both = wake + preempt
    bins = min(40, max(5, len(both)))
    lo, hi = min(both), max(both)
    if hi <= lo:
        lo, hi = lo * 0.9, hi * 1.1 + 1
    data = [d for d in (wake, preempt) if d]
    labels = [lb for d, lb in ((wake, "wake-up latency"), (preempt, "preemption wait")) if d]
    colors = [c for d, c in ((wake, "#1565c0"), (preempt, "#ef6c00")) if d]
    ax.hist(data, bins=bins, range=(lo, hi), stacked=True, label=labels, color=colors)
    ax.set_xlabel("microseconds until the application ran")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _uri(fig)


def rounds(title: str, sides: list[str], values: list[list[float]]) -> str:
    """Every measured value of each side as a dot, the median as a bar: the spread stays visible."""
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * max(len(sides), 2) + 0.9))
    for i, vals in enumerate(values):
        ax.scatter(vals, [i] * len(vals), color="#546e7a", s=18, zorder=3)
        if vals:
            med = statistics.median(vals)
            ax.plot([med, med], [i - 0.3, i + 0.3], color="#2e7d32", linewidth=2.5, zorder=4)
    ax.set_yticks(range(len(sides)), labels=[s[:40] for s in sides], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(title)
    ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3)
    return _uri(fig)
