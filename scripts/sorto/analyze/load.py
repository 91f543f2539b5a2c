"""Load a trace folder (the output of ``sorto trace``) into tables, with the existing ``sorto parse`` parsers.

Why a loader of its own instead of ``parse.parse_paths``: the analyzer needs
the rows in memory, the manifest read and checked, and every file accounted
for (read, skipped, or flagged partial) so that the evidence can say exactly
which data each decision rests on.  The log types are still detected from
content and read by the same parsers as ``sorto parse``.

Rules (docs/analyze.md):

* ``manifest.json`` is optional; without it the result is flagged partial
  (no kernel release, no command name to find the application by).
* ``smaps*.txt`` files are memory maps for the mlock decision, not logs.
* ``System.map*`` / ``vmlinux*`` files in the folder are symbol tables; they
  are used when no ``--system-map``/``--vmlinux`` is given.
* Every other file must be a log of a known type; one that is not (empty,
  binary, unknown) is skipped with a note.  A folder with no log at all is an
  error.  A malformed line stops the run (``FILE:LINE``) unless ``lenient``;
  a truncated last line is dropped and flagged, as in ``sorto parse``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SortoError
from ..parse import PARSERS
from ..parse import detect as _detect
from ..parse.base import Context, MalformedLine
from ..progress import QUIET, Progress
from ..trace.manifest import sha256

MANIFEST = "manifest.json"
SMAPS_GLOB = "smaps*.txt"
SYMBOL_GLOBS = ("System.map*", "vmlinux*")
ROW_PROGRESS = 50000


# One hash function for what sorto trace wrote into the manifest and what is read back.
sha256_file = sha256


@dataclass
class Table:
    """One parsed log: its rows as tuples in the parser's column order."""

    file: str
    type: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    skipped: int = 0
    partial: bool = False
    notes: list[str] = field(default_factory=list)

    def col(self, name: str) -> int:
        """Index of a column (the parsers' schemas are fixed, see docs/parse.md)."""
        return self.columns.index(name)

    def records(self) -> list[dict[str, Any]]:
        """Rows as dictionaries (convenient, for the small tables)."""
        return [dict(zip(self.columns, r)) for r in self.rows]


@dataclass
class TraceData:
    """A loaded trace folder."""

    root: Path
    manifest: dict[str, Any] | None
    tables: list[Table]
    files: list[dict[str, Any]]  # every file read: {"file", "sha256", "bytes", "role"}
    skipped: list[dict[str, str]]  # files that are no known log: {"file", "reason"}
    smaps: list[Path]
    symbol_files: list[Path]
    notes: list[str] = field(default_factory=list)  # reasons the data is incomplete
    info: list[str] = field(default_factory=list)  # facts worth knowing that do not make it partial
    partial: bool = False

    def of_type(self, kind: str) -> list[Table]:
        """Tables of one log type, in file-name order."""
        return [t for t in self.tables if t.type == kind]

    def flag(self, note: str) -> None:
        """Record why the result is a correct but incomplete one."""
        self.partial = True
        if note not in self.notes:
            self.notes.append(note)

    @property
    def kernel_release(self) -> str | None:
        m = self.manifest or {}
        rel = m.get("kernel_release")
        return rel if isinstance(rel, str) and rel else None

    @property
    def command(self) -> list[str]:
        cmd = (self.manifest or {}).get("command")
        return [str(c) for c in cmd] if isinstance(cmd, list) else []

    def tracer(self, name: str) -> dict[str, Any] | None:
        """The manifest's record of one tracer pass (duration, logs, status)."""
        for t in (self.manifest or {}).get("tracers", []) or []:
            if isinstance(t, dict) and t.get("tracer") == name:
                return t
        return None

    def digest(self) -> str:
        """SHA-256 over the files read, in sorted relative-path order: ``path NUL sha256 LF`` per file."""
        h = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f["file"]):
            h.update(f"{f['file']}\0{f['sha256']}\n".encode())
        return h.hexdigest()


def _walk(root: Path) -> list[Path]:
    out: list[Path] = []
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(base) / f for f in sorted(files) if not f.startswith("."))
    return out


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SortoError(f"{path}: not a readable sorto trace manifest: {exc}") from exc
    if not isinstance(data, dict) or "sorto_trace" not in data:
        raise SortoError(f"{path}: not a sorto trace manifest (no 'sorto_trace' key)")
    return data


def parse_table(path: Path, rel: str, kind: str, lenient: bool, progress: Progress) -> Table:
    """Run the ``sorto parse`` parser of ``kind`` over ``path`` and keep its rows."""
    parser = PARSERS[kind]()
    ctx = Context(path, lenient=lenient)
    rows: list[tuple[Any, ...]] = []
    try:
        for row in parser.rows(ctx):
            rows.append(row)
            if len(rows) % ROW_PROGRESS == 0:
                progress.step(f"parsing {rel}: {len(rows)} rows")
    except MalformedLine as exc:
        raise SortoError(f"{exc} (--lenient skips malformed lines)") from exc
    return Table(rel, kind, [c for c, _ in parser.columns], rows, ctx.skipped, ctx.partial, list(ctx.notes))


def load(root: str | Path, lenient: bool = False, progress: Progress = QUIET) -> TraceData:
    """Read every file of the trace folder ``root``; raise SortoError when nothing usable is there."""
    root = Path(root)
    if not root.exists():
        raise SortoError(f"{root}: no such folder")
    if not root.is_dir():
        raise SortoError(f"{root}: not a folder (sorto analyze reads a trace folder written by sorto trace)")
    paths = _walk(root)
    if not paths:
        raise SortoError(f"{root}: empty folder, no trace logs")
    data = TraceData(root, None, [], [], [], [], [])
    man = root / MANIFEST
    if man.is_file():
        data.manifest = _read_manifest(man)
    else:
        data.flag(f"no {MANIFEST}: kernel release and command unknown (not a complete sorto trace folder)")
    logs = [p for p in paths if p != man]
    for i, path in enumerate(logs, 1):
        rel = path.relative_to(root).as_posix()
        name = path.name
        if any(fnmatch.fnmatch(name, g) for g in SYMBOL_GLOBS):
            data.symbol_files.append(path)
            continue  # hashed when used (see symbols.load)
        if fnmatch.fnmatch(name, SMAPS_GLOB):
            data.smaps.append(path)
            data.files.append({"file": rel, "sha256": sha256_file(path), "bytes": path.stat().st_size,
                               "role": "smaps"})
            continue
        progress.step(f"parsing {rel} ({i}/{len(logs)})")
        try:
            kind = _detect.detect(path)
        except _detect.UnknownFormat as exc:
            reason = str(exc).split(": ", 1)[-1]
            data.skipped.append({"file": rel, "reason": reason})
            continue
        table = parse_table(path, rel, kind, lenient, progress)
        data.tables.append(table)
        data.files.append({"file": rel, "sha256": sha256_file(path), "bytes": path.stat().st_size, "role": kind})
        if table.partial or table.skipped:
            why = "; ".join(table.notes) or f"{table.skipped} malformed lines skipped"
            data.flag(f"{rel}: partial table ({why})")
    progress.done()
    if data.manifest is not None:
        data.files.append({"file": MANIFEST, "sha256": sha256_file(man), "bytes": man.stat().st_size,
                           "role": "manifest"})
        _check_manifest(data)
    if not data.tables and not data.smaps:
        why = "; ".join(f"{s['file']}: {s['reason']}" for s in data.skipped) or "only a manifest"
        raise SortoError(f"{root}: no trace logs of a known type ({why})")
    return data


def _check_manifest(data: TraceData) -> None:
    """Compare the folder with the manifest's file list: changed or missing files make the result partial."""
    assert data.manifest is not None
    read = {f["file"]: f["sha256"] for f in data.files}
    for f in data.manifest.get("files", []) or []:
        if not isinstance(f, dict) or "name" not in f:
            continue
        name = str(f["name"])
        if not (data.root / name).exists():
            data.flag(f"{name}: listed in {MANIFEST} but missing")
        elif name in read and f.get("sha256") and read[name] != f["sha256"]:
            data.flag(f"{name}: sha256 differs from {MANIFEST} (file changed after the trace)")
    kb = (data.manifest.get("settings") or {}).get("buffer_size_kb")
    for t in data.manifest.get("tracers", []) or []:
        lost = t.get("ring_overrun") if isinstance(t, dict) else None
        if isinstance(lost, int) and not isinstance(lost, bool) and lost > 0:
            names = ", ".join(str(log.get("file")) for log in t.get("logs") or [] if isinstance(log, dict))
            data.info.append(f"{names}: the ring buffer ({kb} KiB per CPU) overwrote {lost} events: the log holds "
                             "the end of the run only (sorto trace --buffer-kb)")
        for log in (t.get("logs") or []) if isinstance(t, dict) else []:
            if isinstance(log, dict) and log.get("truncated"):
                data.info.append(f"{log.get('file')}: cut at {log.get('lines')} of {log.get('guest_lines')} lines "
                                  "by sorto trace --max-lines (a sample of the run)")
