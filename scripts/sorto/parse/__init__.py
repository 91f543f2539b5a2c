"""``sorto parse``: turn raw trace logs into one tidy table per log.

The driver here detects each file's type, runs the matching streaming parser
and writes its table atomically; the per-family parsers live in
``strace``, ``ftrace`` and ``perf``, detection in ``detect`` and the
writers in ``tables``.  Columns of every table are documented in docs/parse.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import SortoError
from . import detect as _detect
from . import fast as _fast
from .base import Context, MalformedLine, Parser
from .ftrace import FtraceEvents, FtraceFunction, FtraceFunctionGraph, FtraceFunctionProfile
from .perf import PerfSchedLatency, PerfSchedTimehist, PerfScript
from .qemu import QemuKfetch
from .strace import StraceSummary, StraceTimestamps
from .tables import TableWriter

PARSERS: dict[str, type[Parser]] = {
    p.type_name: p
    for p in (StraceSummary, StraceTimestamps, FtraceFunction, FtraceFunctionGraph, FtraceFunctionProfile,
              FtraceEvents, PerfScript, PerfSchedLatency, PerfSchedTimehist, QemuKfetch)
}
TYPES = tuple(PARSERS)
#: ``--engine`` choices (see parse_file).
ENGINES = ("auto", "python", "fast")

__all__ = ["PARSERS", "TYPES", "ENGINES", "Result", "MalformedLine", "parse_file", "parse_paths", "iter_inputs"]


@dataclass
class Result:
    """What ``--json`` prints for one input file."""

    file: str
    type: str | None
    rows: int
    output: str | None
    skipped: int = 0
    partial: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_file(path: Path, out_dir: Path, fmt: str = "csv", lenient: bool = False,
               name: str | None = None, engine: str = "auto") -> Result:
    """Detect ``path``'s type and write its table into ``out_dir``; raise SortoError on bad input.

    ``engine``: ``auto`` takes the compiled fast path (``fast.py``) for big
    ftrace function and function_graph logs written as CSV, ``python`` always
    the reference parsers, ``fast`` the fast path whenever it applies (tests,
    benchmarks).  Both write the same bytes.
    """
    if engine not in ENGINES:
        raise SortoError(f"unknown parse engine {engine!r} (use {', '.join(ENGINES)})")
    kind = _detect.detect(path)
    parser = PARSERS[kind]()
    ctx = Context(path, lenient=lenient)
    out = out_dir / f"{name or path.name}.{kind}.{fmt}"
    with TableWriter(out, parser.columns, fmt) as w:
        if _fast.wanted(kind, path, fmt, engine):
            _fast.parse(kind, ctx, w)
        else:
            for row in parser.rows(ctx):
                w.write(row)
    return Result(str(path), kind, w.rows, str(out), ctx.skipped, ctx.partial, ctx.notes)


def iter_inputs(paths: Iterable[str]) -> Iterator[tuple[Path, bool]]:
    """Expand the command line into ``(file, named explicitly)`` pairs, folders recursively and sorted."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for f in sorted(files):
                    if not f.startswith("."):
                        yield Path(root) / f, False
        elif path.exists():
            yield path, True
        else:
            raise SortoError(f"{p}: no such file or directory")


def parse_paths(paths: Iterable[str], out_dir: Path, fmt: str = "csv", lenient: bool = False,
                warn: object = None, engine: str = "auto") -> list[Result]:
    """Parse every input.

    A file named on the command line that is not a known log stops the run
    (exit 2).  Inside a folder, such files (a manifest, smaps samples) are
    reported with ``type`` null and skipped, so a trace folder parses as a whole.
    """
    results: list[Result] = []
    used: set[str] = set()
    for path, explicit in iter_inputs(paths):
        name = path.name
        n = 2
        while name in used:  # same file name in two folders: keep both tables
            name = f"{path.name}-{n}"
            n += 1
        used.add(name)
        try:
            results.append(parse_file(path, out_dir, fmt, lenient, name, engine))
        except _detect.UnknownFormat as exc:
            if explicit:
                raise
            if callable(warn):
                warn(f"sorto: {exc}; skipped")
            results.append(Result(str(path), None, 0, None, notes=[str(exc)]))
    return results
