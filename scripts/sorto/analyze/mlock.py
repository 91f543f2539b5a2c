"""The ``mlock`` decision: the application's memory regions that carry its traffic.

Source: ``smaps*.txt`` files in the trace folder, each a copy of
``/proc/PID/smaps`` of the application (several samples may be given; each
region keeps its largest value).  ``sorto trace`` does not collect them yet;
without them no region is locked and the evidence says why (with the page
fault count from the function profile when there is one, to show whether
faults happened at all).

Regions, as the policy format names them:

* ``text``: the executable's read-only mappings (code and constants);
* ``data``: the executable's writable mappings, plus the anonymous mapping
  right after them (``.bss``);
* ``heap``: ``[heap]``; ``stack``: ``[stack]``;
* ``file`` (with ``name``): any other file mapping, by base name (shared
  libraries, mapped data files), all mappings of one name together; only
  the ELF interpreter's is listed, the one file besides the executable that
  is mapped when the kernel applies the policy at exec.

A region is locked when smaps shows at least ``mlock_min_kb`` of it
``Referenced`` (touched recently: the pages the application really uses).
``max_bytes`` is the resident size for ``heap`` and ``stack`` (regions that
grow: lock what the run used) and 0 (the whole mapping) for the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SortoError
from .load import TraceData

_HEADER = re.compile(r"^([0-9a-fA-F]+)-([0-9a-fA-F]+) ([r-][w-][x-][ps]) [0-9a-fA-F]+ \S+ \d+\s*(.*)$")
_FIELD = re.compile(r"^(\w+):\s+(\d+) kB$")
_OTHER = re.compile(r"^(VmFlags|THPeligible|ProtectionKey):")
NAME = re.compile(r"^[A-Za-z0-9_.:+@/-]{1,63}$")
#: The ELF interpreter's base name (glibc's ld-linux-*.so.N, musl's ld-musl-*.so.1, ld.so): the one
#: shared object mapped when the kernel hook runs at exec.
INTERP = re.compile(r"^ld([-.][\w.+-]*)?\.so(\.\d+)*$")
ORDER = {"text": 0, "data": 1, "heap": 2, "stack": 3, "file": 4}
MAX_ENTRIES = 16
METRICS = ("Size", "Rss", "Referenced", "Anonymous", "Swap")


@dataclass
class Mapping:
    """One mapping of a smaps file and its kB counters."""

    start: int
    end: int
    perms: str
    path: str
    kb: dict[str, int] = field(default_factory=dict)


def read_smaps(path: Path) -> list[Mapping]:
    """Parse ``/proc/PID/smaps`` text; raise SortoError with ``FILE:LINE`` on anything else."""
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise SortoError(f"{path}: binary data, not an smaps file") from exc
    maps: list[Mapping] = []
    lines = text.splitlines()
    if not text.strip():
        raise SortoError(f"{path}: empty smaps file")
    for no, line in enumerate(lines, 1):
        m = _HEADER.match(line)
        if m:
            maps.append(Mapping(int(m.group(1), 16), int(m.group(2), 16), m.group(3), m.group(4).strip()))
            continue
        f = _FIELD.match(line)
        if f and maps:
            maps[-1].kb[f.group(1)] = int(f.group(2))
            continue
        if _OTHER.match(line) and maps or not line.strip():
            continue
        raise SortoError(f"{path}:{no}: not an smaps line: {line[:120]!r}")
    if not text.endswith("\n") and maps:
        maps[-1].kb.pop(lines[-1].split(":")[0], None)  # a cut counter is not trusted
    return maps


def classify(maps: list[Mapping], exe: str | None) -> dict[tuple[str, str], dict[str, int]]:
    """Sum the counters per policy region: ``{(region, name): {"Size": kB, ...}}``."""
    files = [m.path for m in maps if m.path.startswith("/")]
    if exe is None:
        exe = files[0] if files else None  # /proc/PID/smaps lists the executable first
    exe_base = exe.rsplit("/", 1)[-1] if exe else None
    out: dict[tuple[str, str], dict[str, int]] = {}
    prev_exe_rw_end: int | None = None
    for m in maps:
        base = m.path.rsplit("/", 1)[-1] if m.path.startswith("/") else ""
        region: tuple[str, str] | None
        if m.path.startswith("/") and (m.path == exe or base == exe_base):
            region = ("data", "") if "w" in m.perms else ("text", "")
            prev_exe_rw_end = m.end if "w" in m.perms else prev_exe_rw_end
        elif not m.path and prev_exe_rw_end == m.start and "w" in m.perms:
            region = ("data", "")  # .bss right after the executable's data
        elif m.path == "[heap]":
            region = ("heap", "")
        elif m.path == "[stack]":
            region = ("stack", "")
        elif m.path.startswith("/"):
            region = ("file", base)
        else:
            region = None  # anonymous mappings, [vdso], [vvar]: no policy region names them
        if region is None:
            continue
        acc = out.setdefault(region, dict.fromkeys(METRICS, 0))
        for k in METRICS:
            acc[k] += m.kb.get(k, 0)
    return out


def decide(data: TraceData, opts_min_kb: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``mlock`` entries and the evidence behind them."""
    ev: dict[str, Any] = {}
    if not data.smaps:
        ev["status"] = "skipped"
        ev["reason"] = ("no smaps*.txt (/proc/PID/smaps of the application) in the trace folder: which regions "
                        "take faults is unknown; sorto trace does not collect smaps yet")
        faults = _profile_faults(data)
        if faults:
            ev["page_fault_functions"] = faults
        return [], ev
    exe = data.command[0] if data.command else None
    merged: dict[tuple[str, str], dict[str, int]] = {}
    for path in data.smaps:
        for region, kb in classify(read_smaps(path), exe).items():
            acc = merged.setdefault(region, dict.fromkeys(METRICS, 0))
            for k in METRICS:
                acc[k] = max(acc[k], kb[k])
    rows = []
    picked: list[tuple[int, int, str, dict[str, Any]]] = []
    for (region, name), kb in sorted(merged.items(), key=lambda kv: (ORDER[kv[0][0]], kv[0][1])):
        why = "lock"
        if kb["Referenced"] < opts_min_kb:
            why = f"referenced {kb['Referenced']} kB < --mlock-min-kb {opts_min_kb}"
        elif region == "file" and not NAME.match(name):
            why = "file name outside the policy name set"
        elif region == "file" and not INTERP.match(name):
            why = ("mapped by the dynamic loader after exec: the kernel can lock at exec only the executable and "
                   "its ELF interpreter (docs/security.md)")
        entry: dict[str, Any] = {"region": region}
        if region == "file":
            entry["name"] = name
        entry["max_bytes"] = kb["Rss"] * 1024 if region in ("heap", "stack") else 0
        if why == "lock":
            picked.append((ORDER[region], -kb["Referenced"], name, entry))
        rows.append({"region": region, "name": name or None, "kb": kb, "decision": why})
    picked.sort(key=lambda p: (p[0], p[1], p[2]))
    entries = [p[3] for p in picked[:MAX_ENTRIES]]
    ev.update(status="decided", files=[p.relative_to(data.root).as_posix() for p in data.smaps],
              executable=exe, regions=rows)
    if len(picked) > MAX_ENTRIES:
        ev["dropped_over_limit"] = [p[3].get("name") or p[3]["region"] for p in picked[MAX_ENTRIES:]]
    return entries, ev


def _profile_faults(data: TraceData) -> dict[str, int]:
    """Hits of the page fault entry points in the function profile (ARM and x86 names)."""
    names = ("do_page_fault", "do_DataAbort", "do_PrefetchAbort", "handle_mm_fault", "exc_page_fault")
    out: dict[str, int] = {}
    for t in data.of_type("ftrace_function_profile"):
        fi, hi = t.col("function"), t.col("hit")
        for r in t.rows:
            if r[fi] in names:
                out[r[fi]] = out.get(r[fi], 0) + r[hi]
    return dict(sorted(out.items()))
