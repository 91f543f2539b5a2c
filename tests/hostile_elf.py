"""A deterministic corpus of hostile ELF executables for the kernel's section parser.

Every case starts from a real 32-bit ARM executable that carries a valid
metadata section and corrupts one thing the kernel reads: the section header
table, the section name string table, the metadata section's header, or the
record inside it.  Each case says what the kernel must report for it
(``found``, ``no_section``, ``malformed``) or ``None`` where the outcome
legitimately depends on more than our parser (random corruption), and
whether the program must still run (``runs``).  The seeded random cases use
their own ``random.Random``, so the corpus is the same on every run.

The kernel reads the section header table, and the bytes before it where
``.shstrtab`` usually lies, in one read into a fixed tail buffer and takes
the rest of the bounded path only when the tables do not fit;
:func:`kernel_lookup` is a Python reference of that lookup, which the host
tests hold every determined case to and which says which path a case takes.
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass

from sorto import format as F

EHDR_SHOFF = 0x20
EHDR_PHOFF = 0x1C
EHDR_PHNUM = 0x2C
EHDR_SHENTSIZE = 0x2E
EHDR_SHNUM = 0x30
EHDR_SHSTRNDX = 0x32
SHDR_SIZE = 40
SHT_PROGBITS, SHT_STRTAB, SHT_NOTE, SHT_NOBITS = 1, 3, 7, 8
NAME = F.SECTION_NAME.encode()


@dataclass
class Case:
    name: str
    data: bytes
    kernel: str | None  # expected kernel status, None when not determined
    runs: bool  # the program must still run and print its output
    decodes: bool | None = None  # for kernel == "found": must the module decode it


class Elf32:
    """Just enough of a little-endian ELF32 file to corrupt it precisely."""

    def __init__(self, data: bytes) -> None:
        self.b = bytearray(data)

    def u16(self, off: int) -> int:
        return struct.unpack_from("<H", self.b, off)[0]

    def u32(self, off: int) -> int:
        return struct.unpack_from("<I", self.b, off)[0]

    def set16(self, off: int, v: int) -> Elf32:
        struct.pack_into("<H", self.b, off, v & 0xFFFF)
        return self

    def set32(self, off: int, v: int) -> Elf32:
        struct.pack_into("<I", self.b, off, v & 0xFFFFFFFF)
        return self

    @property
    def shoff(self) -> int:
        return self.u32(EHDR_SHOFF)

    @property
    def shnum(self) -> int:
        return self.u16(EHDR_SHNUM)

    @property
    def shstrndx(self) -> int:
        return self.u16(EHDR_SHSTRNDX)

    def shdr(self, i: int) -> int:
        return self.shoff + i * SHDR_SIZE

    def sh(self, i: int, field: str) -> int:
        return self.u32(self.shdr(i) + _SH[field])

    def set_sh(self, i: int, field: str, v: int) -> Elf32:
        return self.set32(self.shdr(i) + _SH[field], v)

    def section_name(self, i: int) -> bytes:
        st = self.shstrndx
        off = self.sh(st, "offset") + self.sh(i, "name")
        end = self.b.index(b"\0", off)
        return bytes(self.b[off:end])

    def index_of(self, name: bytes) -> int:
        for i in range(self.shnum):
            if self.section_name(i) == name:
                return i
        raise KeyError(name)

    def copy(self) -> Elf32:
        return Elf32(bytes(self.b))

    def bytes(self) -> bytes:
        return bytes(self.b)


_SH = {"name": 0, "type": 4, "flags": 8, "addr": 12, "offset": 16, "size": 20, "link": 24, "info": 28}

# The kernel's bounds (include/linux/elf_hook.h) and tail buffer (fs/binfmt_elf_hook.c).
MAX_SHNUM, MAX_STRTAB, MAX_DATA = 1024, 65536, 4096
TAIL_SHNUM, TAIL_BEFORE = 48, 512
TAIL_SIZE = TAIL_SHNUM * SHDR_SIZE + TAIL_BEFORE
SHN_UNDEF = 0


def kernel_lookup(data: bytes) -> tuple[str, str]:
    """What elf_hook_find() makes of an ELF32 file: (status, path).

    status is ``found``, ``no_section`` or ``malformed``; path is ``tail``
    (one read: the table and .shstrtab from the tail buffer), ``tail+strtab``
    (the table from the tail buffer, .shstrtab read on its own), ``alloc``
    (a table too large for the tail buffer, read into a buffer of its own)
    or ``none`` (decided from the ELF header alone).
    """
    e = Elf32(data)
    fsize = len(data)
    shoff, shnum, shstrndx = e.shoff, e.shnum, e.shstrndx
    if not shoff or not shnum:
        return "no_section", "none"
    if e.u16(EHDR_SHENTSIZE) != SHDR_SIZE or shnum > MAX_SHNUM:
        return "malformed", "none"
    if shstrndx == SHN_UNDEF:
        return "no_section", "none"
    if shstrndx >= shnum:
        return "malformed", "none"
    tblsize = shnum * SHDR_SIZE
    if shoff + tblsize > fsize:
        return "malformed", "none"
    if tblsize <= TAIL_SIZE:
        before = min(shoff, TAIL_SIZE - tblsize, TAIL_BEFORE) // 8 * 8
        path = "tail"
    else:
        before, path = 0, "alloc"
    winoff, winlen = shoff - before, before + tblsize

    def sh(i: int, field: str) -> int:
        return struct.unpack_from("<I", data, shoff + i * SHDR_SIZE + _SH[field])[0]

    if sh(shstrndx, "type") != SHT_STRTAB or sh(shstrndx, "size") > MAX_STRTAB:
        return "malformed", path
    stroff, strsize = sh(shstrndx, "offset"), sh(shstrndx, "size")
    if stroff + strsize > fsize:
        return "malformed", path
    if strsize < len(NAME) + 1:
        return "no_section", path
    if not (winoff <= stroff and strsize <= winlen - (stroff - winoff)):
        path = "tail+strtab" if path == "tail" else path
    strtab = data[stroff:stroff + strsize]
    hits = [i for i in range(shnum) if strtab[sh(i, "name"):sh(i, "name") + len(NAME) + 1] == NAME + b"\0"]
    if len(hits) > 1:
        return "malformed", path
    if not hits:
        return "no_section", path
    k = hits[0]
    if sh(k, "type") != SHT_PROGBITS or not 1 <= sh(k, "size") <= MAX_DATA:
        return "malformed", path
    if sh(k, "offset") + sh(k, "size") > fsize:
        return "malformed", path
    return "found", path


def reseal(rec: bytes | bytearray) -> bytes:
    """Return ``rec`` with its CRC recomputed, so a corruption reaches the checks behind the CRC."""
    b = bytearray(rec)
    struct.pack_into("<I", b, F.OFF_CRC, 0)
    struct.pack_into("<I", b, F.OFF_CRC, zlib.crc32(b))
    return bytes(b)


def _replace_section(base: Elf32, payload: bytes) -> Elf32:
    """Point the metadata section at ``payload`` appended to the end of the file."""
    e = base.copy()
    k = e.index_of(NAME)
    off = len(e.b)
    e.b += payload
    e.set_sh(k, "offset", off).set_sh(k, "size", len(payload))
    return e


def _move_tables(base: Elf32, extra: int = 0, gap: int = 0, strtab_after: bool = False, pad: int = 0) -> Elf32:
    """Append copies of .shstrtab and the section header table to the file and point the headers at them.

    ``extra`` null section headers end the table; ``gap`` zero bytes separate .shstrtab's end from
    the table (with ``strtab_after``, the table's end from .shstrtab); ``pad`` zero bytes come first,
    to move the table off its alignment.  The old copies stay where they were, unreferenced.
    """
    st = base.shstrndx
    so, ss = base.sh(st, "offset"), base.sh(st, "size")
    strtab = bytes(base.b[so:so + ss])
    table = bytes(base.b[base.shoff:base.shoff + SHDR_SIZE * base.shnum]) + bytes(SHDR_SIZE * extra)
    e = base.copy()
    e.b += bytes(pad)
    if strtab_after:
        shoff = len(e.b)
        e.b += table + bytes(gap)
        stoff = len(e.b)
        e.b += strtab
    else:
        stoff = len(e.b)
        e.b += strtab + bytes(gap)
        shoff = len(e.b)
        e.b += table
    e.set32(EHDR_SHOFF, shoff).set16(EHDR_SHNUM, base.shnum + extra)
    return e.set_sh(st, "offset", stoff)


def _tail_cases(base: Elf32) -> list[tuple[str, Elf32, str, str]]:
    """Cases aimed at the tail buffer: (name, file, kernel status, path the kernel takes)."""
    st = base.shstrndx
    ss = base.sh(st, "size")
    out = []
    # .shstrtab right before the table, filling the bytes read before it exactly, then one byte more
    fill = TAIL_BEFORE - ss
    out.append(("tail-strtab-fills-before", _move_tables(base, gap=fill), "found", "tail"))
    out.append(("tail-strtab-straddles-before", _move_tables(base, gap=fill + 1), "found", "tail+strtab"))
    # The largest table whose buffer still has room for .shstrtab before it, and one header more
    fits = max(n for n in range(base.shnum, TAIL_SIZE // SHDR_SIZE + 1)
               if (TAIL_SIZE - n * SHDR_SIZE) // 8 * 8 >= ss)
    out.append(("tail-strtab-fits-cap", _move_tables(base, extra=fits - base.shnum), "found", "tail"))
    out.append(("tail-strtab-over-cap", _move_tables(base, extra=fits + 1 - base.shnum), "found", "tail+strtab"))
    # The largest table the buffer holds (no room before it), and one header more than that
    most = TAIL_SIZE // SHDR_SIZE
    out.append(("tail-table-at-cap", _move_tables(base, extra=most - base.shnum), "found", "tail+strtab"))
    out.append(("tail-table-over-cap", _move_tables(base, extra=most + 1 - base.shnum), "found", "alloc"))
    # .shstrtab after the table, and the table at an odd offset
    out.append(("tail-strtab-after-table", _move_tables(base, strtab_after=True), "found", "tail+strtab"))
    out.append(("tail-table-odd-offset", _move_tables(base, pad=1), "found", "tail"))
    # .shstrtab inside the table that was read: its bytes name nothing
    end = base.shoff + SHDR_SIZE * base.shnum
    out.append(("tail-strtab-in-table", base.copy().set_sh(st, "offset", base.shoff + SHDR_SIZE), "no_section",
                "tail"))
    out.append(("tail-strtab-ends-at-eof", base.copy().set_sh(st, "offset", end - ss), "no_section", "tail"))
    out.append(("tail-strtab-one-past-eof", base.copy().set_sh(st, "offset", end - ss + 1), "malformed", "tail"))
    # A table just past the ELF header, fewer bytes before it than the buffer has room for
    out.append(("tail-shoff-in-header", base.copy().set32(EHDR_SHOFF, 4), "malformed", "tail"))
    # Offsets that wrap when added in 32 bits, landing inside the file
    out.append(("shoff-wraps-32", base.copy().set32(EHDR_SHOFF, (1 << 32) - SHDR_SIZE), "malformed", "none"))
    k = base.index_of(NAME)
    out.append(("strtab-offset-wraps-32", base.copy().set_sh(st, "offset", 0xFFFFFF00).set_sh(st, "size", 0x200),
                "malformed", "tail"))
    out.append(("offset-wraps-32", base.copy().set_sh(k, "offset", 0xFFFFFFF8).set_sh(k, "size", 0x10),
                "malformed", "tail"))
    return out


def generate(base_bytes: bytes, record: bytes, big_record: bytes) -> list[Case]:
    """Return the corpus; ``base_bytes`` must carry ``record`` in its section.

    ``big_record`` is a valid record of exactly 4096 bytes (the cap).
    """
    base = Elf32(base_bytes)
    k = base.index_of(NAME)
    st = base.shstrndx
    size = len(base.b)
    cases: list[Case] = []

    def add(name: str, e: Elf32 | bytes, kernel: str | None, runs: bool = True, decodes: bool | None = None):
        data = e.bytes() if isinstance(e, Elf32) else bytes(e)
        cases.append(Case(name, data, kernel, runs, decodes))

    add("valid", base, "found", decodes=True)
    # -- ELF header fields of the section header table
    add("shoff-zero", base.copy().set32(EHDR_SHOFF, 0), "no_section")
    add("shnum-zero", base.copy().set16(EHDR_SHNUM, 0), "no_section")
    add("shnum-huge", base.copy().set16(EHDR_SHNUM, 0xFFFF), "malformed")
    add("shnum-1025", base.copy().set16(EHDR_SHNUM, 1025), "malformed")
    add("shnum-1024-past-eof", base.copy().set16(EHDR_SHNUM, 1024), "malformed")
    add("shnum-plus-one-past-eof", base.copy().set16(EHDR_SHNUM, base.shnum + 1), "malformed")
    for v in (0, 0x20, 0x41, 0xFFFF):
        add(f"shentsize-{v:#x}", base.copy().set16(EHDR_SHENTSIZE, v), "malformed")
    add("shstrndx-undef", base.copy().set16(EHDR_SHSTRNDX, 0), "no_section")
    for v in (base.shnum, 0xFF00, 0xFFFF):
        add(f"shstrndx-{v:#x}", base.copy().set16(EHDR_SHSTRNDX, v), "malformed")
    add("shoff-at-eof", base.copy().set32(EHDR_SHOFF, size), "malformed")
    add("shoff-near-eof", base.copy().set32(EHDR_SHOFF, size - 10), "malformed")
    add("shoff-overflow", base.copy().set32(EHDR_SHOFF, 0xFFFFFFF0), "malformed")
    add("truncated-table", base.b[: base.shoff + SHDR_SIZE * 3], "malformed")
    add("truncated-mid-entry", base.b[: base.shoff + SHDR_SIZE * base.shnum - 7], "malformed")
    # -- the section name string table
    add("strtab-type-progbits", base.copy().set_sh(st, "type", SHT_PROGBITS), "malformed")
    add("strtab-size-2g", base.copy().set_sh(st, "size", 0x80000000), "malformed")
    add("strtab-size-65537", base.copy().set_sh(st, "size", 65537), "malformed")
    add("strtab-offset-eof", base.copy().set_sh(st, "offset", size), "malformed")
    add("strtab-offset-overflow", base.copy().set_sh(st, "offset", 0xFFFFFFF0).set_sh(st, "size", 0x20),
        "malformed")
    add("strtab-empty", base.copy().set_sh(st, "size", 0), "no_section")
    # -- the metadata section's header
    add("name-out-of-range", base.copy().set_sh(k, "name", 0xFFFFFFFF), "no_section")
    add("name-at-strtab-end", base.copy().set_sh(k, "name", base.sh(st, "size")), "no_section")
    name_off = base.sh(k, "name")
    unterminated = base.copy().set_sh(st, "size", name_off + len(NAME))
    add("name-unterminated", unterminated, "no_section")
    e = base.copy()
    e.b[e.sh(st, "offset") + name_off + len(NAME) - 1] ^= 0x20
    add("name-differs-last-char", e, "no_section")
    e = base.copy()
    e.b[e.sh(st, "offset") + name_off + len(NAME)] = ord("2")
    add("name-longer", e, "no_section")
    add("size-2g", base.copy().set_sh(k, "size", 0x80000000), "malformed")
    add("size-zero", base.copy().set_sh(k, "size", 0), "malformed")
    add("size-4097", base.copy().set_sh(k, "size", 4097), "malformed")
    add("offset-eof", base.copy().set_sh(k, "offset", size), "malformed")
    add("offset-overflow", base.copy().set_sh(k, "offset", 0xFFFFFFF0).set_sh(k, "size", 0x100), "malformed")
    add("type-nobits", base.copy().set_sh(k, "type", SHT_NOBITS), "malformed")
    add("type-note", base.copy().set_sh(k, "type", SHT_NOTE), "malformed")
    other = next(i for i in range(1, base.shnum) if i not in (k, st))
    add("duplicate-section", base.copy().set_sh(other, "name", name_off), "malformed")
    # -- the record inside a well-formed section
    add("record-garbage", _replace_section(base, bytes(random.Random(7).randrange(256) for _ in range(300))),
        "found", decodes=False)
    add("record-at-cap", _replace_section(base, big_record), "found", decodes=True)
    add("record-one-over-cap", _replace_section(base, big_record + b"\0"), "malformed")
    add("record-truncated", _replace_section(base, record[:-8]), "found", decodes=False)
    add("record-bad-crc", _replace_section(base, record[:-1] + bytes([record[-1] ^ 1])), "found", decodes=False)
    add("record-bad-magic", _replace_section(base, reseal(bytearray(b"SRTX" + record[4:]))), "found",
        decodes=False)
    bad = bytearray(record)
    struct.pack_into("<H", bad, F.HEADER_SIZE + 2, 0xFFF0)
    add("record-field-overrun", _replace_section(base, reseal(bad)), "found", decodes=False)
    bad = bytearray(record)
    struct.pack_into("<H", bad, 8, 0xFFFF)
    add("record-total-lies", _replace_section(base, reseal(bad)), "found", decodes=False)
    add("record-one-byte", _replace_section(base, b"S"), "found", decodes=False)
    # -- the tail buffer: tables at, across and past its edges, offsets that wrap
    for name, e, status, _path in _tail_cases(base):
        add(name, e, status, decodes=True if status == "found" else None)
    # -- corruption that the ELF loader itself rejects before we look
    add("phnum-zero", base.copy().set16(EHDR_PHNUM, 0), None, runs=False)
    add("phoff-past-eof", base.copy().set32(EHDR_PHOFF, 0x7FFFFFF0), None, runs=False)
    # -- seeded random corruption of the section header table and string table
    rng = random.Random(20261127)
    for n in range(16):
        e = base.copy()
        lo, hi = base.shoff, base.shoff + SHDR_SIZE * base.shnum
        for _ in range(rng.randint(1, 12)):
            e.b[rng.randrange(lo, hi)] = rng.randrange(256)
        add(f"random-shdr-{n:02d}", e, None)
    for n in range(6):
        e = base.copy()
        so = base.sh(st, "offset")
        for _ in range(rng.randint(1, 8)):
            e.b[so + rng.randrange(base.sh(st, "size"))] = rng.randrange(256)
        add(f"random-strtab-{n:02d}", e, None)
    return cases
