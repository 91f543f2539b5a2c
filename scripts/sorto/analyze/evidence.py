"""The policy's ``profile`` block and the ``evidence`` that does not belong to one decision.

Why deterministic: a policy is committed next to the program and injected at
build time (Yocto hashes it), so the same trace must give the same bytes.
Nothing here depends on the clock, the absolute path of the trace folder or
dictionary order; file paths are relative to the trace folder, the symbol
table is named by its base name and identified by its SHA-256.
"""

from __future__ import annotations

import re
from typing import Any

from .. import __version__
from .load import TraceData
from .symbols import SymbolTable

_BAD = re.compile(r"[^A-Za-z0-9_.:+@/-]")
NAME = re.compile(r"^[A-Za-z0-9_.:+@/-]{1,63}$")


def policy_name(text: str) -> str | None:
    """``text`` in the policy name set: other characters become ``_``, the last 63 kept (the base name)."""
    s = _BAD.sub("_", text)[-63:]
    return s if NAME.match(s) else None


def duration_ms(data: TraceData) -> int | None:
    """How long the traced command ran: the function profile pass, else events, else the first timed pass."""
    for name in ("function_profile", "events"):
        t = data.tracer(name)
        if t and isinstance(t.get("duration_s"), (int, float)):
            return int(round(t["duration_s"] * 1000))
    for t in (data.manifest or {}).get("tracers", []) or []:
        if isinstance(t, dict) and isinstance(t.get("duration_s"), (int, float)):
            return int(round(t["duration_s"] * 1000))
    return None


def profile(data: TraceData, comm: str | None) -> dict[str, Any]:
    """The policy's ``profile``: status, source (the traced command), kernel, trace digest, duration."""
    out: dict[str, Any] = {"status": "profiled", "trace_sha256": data.digest()}
    source = policy_name(data.command[0]) if data.command else (policy_name(comm) if comm else None)
    if source:
        out["source"] = source
    kernel = policy_name(data.kernel_release) if data.kernel_release else None
    if kernel:
        out["kernel"] = kernel
    ms = duration_ms(data)
    if ms is not None and 0 <= ms <= 0xFFFFFFFF:
        out["duration_ms"] = ms
    return out


def inputs(data: TraceData, symbols: SymbolTable | None) -> dict[str, Any]:
    """Which files were read (with SHA-256), which were skipped and why, and what the manifest says."""
    per_table = {t.file: t for t in data.tables}
    files = []
    for f in sorted(data.files, key=lambda f: f["file"]):
        item = dict(f)
        t = per_table.get(f["file"])
        if t is not None:
            item.update(rows=len(t.rows), skipped_lines=t.skipped, partial=t.partial)
            if t.notes:
                item["notes"] = list(t.notes)
        files.append(item)
    out: dict[str, Any] = {"files": files, "skipped_files": list(data.skipped), "trace_sha256": data.digest(),
                           "trace_sha256_method": "sha256 over 'PATH NUL SHA256 LF' of every file read, "
                                                  "sorted by path relative to the trace folder"}
    m = data.manifest
    if m is not None:
        out["manifest"] = {
            "kernel_release": data.kernel_release, "command": data.command, "target": m.get("target"),
            "tracers": [{k: t.get(k) for k in ("tracer", "status", "duration_s", "reason") if k in t}
                        for t in m.get("tracers", []) or [] if isinstance(t, dict)],
        }
    else:
        out["manifest"] = None
    if symbols is not None:
        out["symbols"] = {"file": symbols.file, "kind": symbols.kind, "sha256": symbols.sha256,
                          "functions": len(symbols.sizes)}
    return out


def tool() -> str:
    return f"sorto analyze {__version__}"
