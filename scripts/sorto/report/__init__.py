"""``sorto report``: one self-contained HTML page about a trace folder, or two side by side.

``data`` computes what each section shows (with the analyzer's own modules),
``charts`` draws it into PNG data URIs, and the jinja2 template
``templates/report.html.j2`` lays it out.  The page is written atomically.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from ..analyze import Options
from ..atomic import write_atomic
from ..progress import QUIET, Progress
from . import charts, data

SECTIONS = (("syscalls", "Top syscalls by time"), ("functions", "Top kernel functions"),
            ("timeline", "Interrupts and preemption"), ("latency", "Wake-up latency"))


def _chart(name: str, sec: data.Section) -> str | None:
    """The section's chart, or None when it has nothing to draw."""
    if sec.missing:
        return None
    if name == "syscalls" and sec.rows:
        return charts.bars([r["name"] for r in sec.rows], [r["value"] for r in sec.rows], "seconds")
    if name == "functions" and sec.rows:
        unit = sec.extra["unit"]
        vals = [r["value"] / 1000.0 if unit == "us" else r["value"] for r in sec.rows]
        return charts.bars([r["name"] for r in sec.rows], vals, "ms" if unit == "us" else unit,
                           [r["placed"] for r in sec.rows])
    if name == "timeline":
        return charts.timeline(sec.extra["spans"], sec.extra["preempts"], sec.extra["cpus"], sec.extra["t_end"])
    if name == "latency":
        return charts.histogram(sec.extra["wake"], sec.extra["preempt"])
    return None


def render(views: list[data.View], progress: Progress = QUIET, measurement: dict[str, Any] | None = None) -> str:
    """The HTML text for one or two prepared views."""
    sections: list[dict[str, Any]] = []
    for name, title in SECTIONS:
        cols = []
        for v in views:
            progress.step(f"drawing {title.lower()} of {v.label}")
            sec: data.Section = getattr(v, name)
            cols.append({"view": v, "sec": sec, "chart": _chart(name, sec)})
        sections.append({"id": name, "title": title, "cols": cols})
    progress.done()
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    text = resources.files("sorto").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    return env.from_string(text).render(views=views, sections=sections, version=__version__,
                                        compare=len(views) > 1, measurement=measurement)


def build(trace_dir: str, output: str | Path, compare: str | None = None, system_map: str | None = None,
          vmlinux: str | None = None, pids: list[int] | None = None, comm: str | None = None,
          lenient: bool = False, top: int = 15, progress: Progress = QUIET,
          measurement: dict[str, Any] | None = None) -> Path:
    """Prepare, draw and write the report; raise SortoError on unusable input (nothing is written then).

    ``measurement`` (from ``sorto optimize``): the measured sides, their
    charts and the kernel's action lines, shown above the trace sections.
    """
    opts = Options(system_map=system_map, vmlinux=vmlinux, pids=list(pids or []), comm=comm, lenient=lenient)
    views = [data.view(trace_dir, opts, top, progress)]
    if compare:
        views.append(data.view(compare, opts, top, progress))
        if views[0].label == views[1].label:
            views[0].label, views[1].label = f"{views[0].label} (before)", f"{views[1].label} (after)"
    return write_atomic(output, render(views, progress, measurement))
