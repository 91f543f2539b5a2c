"""A deterministic corpus of hostile ELF executables for the kernel's section parser.

Every case starts from a real 32-bit ARM executable that carries a valid
metadata section and corrupts one thing the kernel reads: the section header
table, the section name string table, the metadata section's header, or the
record inside it.  Each case says what the kernel must report for it
(``found``, ``no_section``, ``malformed``) or ``None`` where the outcome
legitimately depends on more than our parser (random corruption), and
whether the program must still run (``runs``).  The seeded random cases use
their own ``random.Random``, so the corpus is the same on every run.
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
