"""Kernel function sizes from the kernel's symbol table: ``System.map`` (plain or gzip) or ``vmlinux``.

Why real sizes: the scratchpad is a few dozen KiB of SRAM, and a function
placed there must fit whole; a guessed size would make the budget a fiction.

* ``vmlinux``: the ELF symbol table gives each function's ``st_size``
  (read with pyelftools).
* ``System.map`` has addresses only, so a symbol's size is the distance to
  the next higher address in the map (aliases at one address share it).  This
  includes the alignment padding after the function, so it is an upper
  bound; the last text symbol before a gap between sections absorbs the gap,
  and the last symbol of the map has no size at all.

The function profiler prints names cut to 30 characters
(``tick_do_update_jiffies64.part.``); ``lookup`` resolves such a name when
exactly one symbol starts with it.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SortoError
from .load import sha256_file

_MAP_LINE = re.compile(r"^([0-9a-fA-F]+) ([A-Za-z?]) (\S+)(?:\s+\[\S+\])?\s*$")
_TEXT_TYPES = set("tTwW")
PROFILE_NAME_WIDTH = 30  # trace_stat/function* prints "%-30.30s"


@dataclass
class SymbolTable:
    """Function name -> size in bytes, and where that came from.

    ``functions`` and ``marks`` serve ``sorto scratchpad-list``, which also
    needs where each function lies (every copy of a static name) and the
    kernel's section start/end symbols.
    """

    file: str
    sha256: str
    kind: str  # "System.map" or "vmlinux"
    sizes: dict[str, int]
    method: str
    #: (address, name, size, weak) of every text symbol with a size, in file order
    functions: list[tuple[int, str, int, bool]] = field(default_factory=list)
    #: address of every symbol by name (the first one), section marks included
    marks: dict[str, int] = field(default_factory=dict)

    def lookup(self, name: str) -> tuple[str | None, int | None, str | None]:
        """Return ``(full name, size, None)`` or ``(None, None, reason)``."""
        if name in self.sizes:
            return name, self.sizes[name], None
        if len(name) >= PROFILE_NAME_WIDTH:
            hits = sorted(n for n in self.sizes if n.startswith(name))
            if len(hits) == 1:
                return hits[0], self.sizes[hits[0]], None
            if hits:
                return None, None, f"name cut to {PROFILE_NAME_WIDTH} characters matches {len(hits)} symbols"
        return None, None, f"not a function with a known size in {self.file}"


def _open_text(path: Path) -> list[str]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise SortoError(f"{path}: broken gzip data: {exc}") from exc
    try:
        return raw.decode("ascii").splitlines()
    except UnicodeDecodeError as exc:
        raise SortoError(f"{path}: not a System.map (binary data)") from exc


def load_system_map(path: str | Path) -> SymbolTable:
    """Read a ``System.map`` (``nm -n`` format: ``ADDRESS TYPE NAME``), optionally gzip-compressed."""
    path = Path(path)
    if not path.is_file():
        raise SortoError(f"{path}: no such file")
    entries: list[tuple[int, str, str]] = []
    for no, line in enumerate(_open_text(path), 1):
        if not line.strip():
            continue
        m = _MAP_LINE.match(line)
        if not m:
            raise SortoError(f"{path}:{no}: not a System.map line: {line[:120]!r}")
        entries.append((int(m.group(1), 16), m.group(2), m.group(3)))
    if not entries:
        raise SortoError(f"{path}: empty System.map")
    addrs = sorted({a for a, t, _ in entries if t not in "aAU"})
    nxt = {a: b for a, b in zip(addrs, addrs[1:])}
    sizes: dict[str, int] = {}
    functions: list[tuple[int, str, int, bool]] = []
    marks: dict[str, int] = {}
    for addr, typ, name in entries:
        marks.setdefault(name, addr)
        if typ in _TEXT_TYPES and addr in nxt:
            functions.append((addr, name, nxt[addr] - addr, typ in "wW"))
            sizes.setdefault(name, nxt[addr] - addr)
    if not sizes:
        raise SortoError(f"{path}: no text symbols (not a kernel System.map?)")
    return SymbolTable(path.name, sha256_file(path), "System.map", sizes,
                       "distance to the next higher symbol address (padding included)", functions, marks)


def load_vmlinux(path: str | Path) -> SymbolTable:
    """Read function sizes (``STT_FUNC`` ``st_size``) from an unstripped ``vmlinux``."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    path = Path(path)
    if not path.is_file():
        raise SortoError(f"{path}: no such file")
    sizes: dict[str, int] = {}
    functions: list[tuple[int, str, int, bool]] = []
    marks: dict[str, int] = {}
    try:
        with open(path, "rb") as fh:
            elf = ELFFile(fh)
            tab = elf.get_section_by_name(".symtab")
            if not isinstance(tab, SymbolTableSection):
                raise SortoError(f"{path}: no .symtab (stripped vmlinux?)")
            for sym in tab.iter_symbols():
                if not sym.name:
                    continue
                marks.setdefault(sym.name, int(sym["st_value"]))
                if sym["st_info"]["type"] == "STT_FUNC" and sym["st_size"] > 0:
                    # bit 0 of a Thumb function's address is its mode, not its place
                    functions.append((int(sym["st_value"]) & ~1, sym.name, int(sym["st_size"]),
                                      sym["st_info"]["bind"] == "STB_WEAK"))
                    sizes.setdefault(sym.name, int(sym["st_size"]))
    except ELFError as exc:
        raise SortoError(f"{path}: not an ELF file: {exc}") from exc
    if not sizes:
        raise SortoError(f"{path}: no function symbols with sizes")
    return SymbolTable(path.name, sha256_file(path), "vmlinux", sizes, "ELF st_size of STT_FUNC symbols",
                       functions, marks)


def load(system_map: str | Path | None = None, vmlinux: str | Path | None = None,
         found: list[Path] | None = None) -> tuple[SymbolTable | None, str | None]:
    """The symbol table from the options, else one found in the trace folder; else ``(None, reason)``."""
    if system_map and vmlinux:
        raise SortoError("give --system-map or --vmlinux, not both")
    if system_map:
        return load_system_map(system_map), None
    if vmlinux:
        return load_vmlinux(vmlinux), None
    for p in sorted(found or []):
        if p.name.startswith("System.map"):
            return load_system_map(p), None
    for p in sorted(found or []):
        if p.name.startswith("vmlinux"):
            return load_vmlinux(p), None
    return None, ("no kernel symbol table: give --system-map or --vmlinux (or put System.map in the trace "
                  "folder); function sizes are never guessed")
