"""Minimal ELF header reading, with no dependency outside the standard library.

sorto.bbclass runs inside BitBake's own Python, where pyelftools is not
installed (it lives in python3-sorto-native's sysroot), so the few facts the
class needs are read here with ``struct``:

* the machine (``e_machine``), to leave foreign binaries alone;
* whether a file is an *executable* in the sense of file(1) and therefore of
  oe-core's ``is_elf()`` (``ET_EXEC``, or ``ET_DYN`` flagged ``DF_1_PIE``):
  shared libraries, kernel modules and relocatable objects are not;
* whether the metadata section is already present (the QA check).

Anything malformed reads as "not an ELF we touch": the class never guesses.
"""

from __future__ import annotations

import dataclasses
import struct
import typing

if typing.TYPE_CHECKING:
    import pathlib

SECTION_NAME = b".elf_hook_module_data"

ET_EXEC = 2
ET_DYN = 3
PT_DYNAMIC = 2
PT_INTERP = 3
DT_NULL = 0
DT_FLAGS_1 = 0x6FFFFFFB
DF_1_PIE = 0x08000000

# e_machine per OE TARGET_ARCH (HOST_ARCH in a target recipe).  Mirrors the
# architectures of oe.elf.machine_dict() that have a Linux userland.
MACHINE_BY_ARCH: dict[str, int] = {
    "arm": 40,
    "armeb": 40,
    "aarch64": 183,
    "aarch64_be": 183,
    "x86_64": 62,
    "i386": 3,
    "i486": 3,
    "i586": 3,
    "i686": 3,
    "riscv32": 243,
    "riscv64": 243,
    "mips": 8,
    "mipsel": 8,
    "mips64": 8,
    "mips64el": 8,
    "powerpc": 20,
    "powerpc64": 21,
    "powerpc64le": 21,
    "microblaze": 189,
    "microblazeel": 189,
    "loongarch64": 258,
    "sh4": 42,
}

_MAX_PHNUM = 4096
_MAX_SHNUM = 65535


@dataclasses.dataclass(frozen=True)
class ElfInfo:
    """What the class needs to know about one ELF file."""

    machine: int
    etype: int
    is_executable: bool
    has_section: bool


class _Reader:
    def __init__(self, fh, bits: int, endian: str) -> None:
        self.fh = fh
        self.bits = bits
        self.e = endian

    def read(self, offset: int, size: int) -> bytes:
        self.fh.seek(offset)
        data = self.fh.read(size)
        if len(data) != size:
            raise ValueError("truncated")
        return data

    def unpack(self, fmt: str, offset: int) -> tuple:
        return struct.unpack(self.e + fmt, self.read(offset, struct.calcsize(self.e + fmt)))


def read_info(path: str | pathlib.Path) -> ElfInfo | None:
    """Return facts about ``path`` or None when it is not a well-formed ELF file."""
    try:
        with open(path, "rb") as fh:
            ident = fh.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
                return None
            bits = 32 if ident[4] == 1 else 64
            r = _Reader(fh, bits, "<" if ident[5] == 1 else ">")
            return _parse(r)
    except (OSError, ValueError, struct.error):
        return None


def _parse(r: _Reader) -> ElfInfo:
    etype, machine = r.unpack("HH", 16)
    if r.bits == 32:
        phoff, shoff = r.unpack("II", 28)
        phentsize, phnum, shentsize, shnum, shstrndx = r.unpack("HHHHH", 42)
        ph_fmt, sh_fmt, dyn_fmt = "IIIIIIII", "IIIIIIIIII", "iI"
    else:
        phoff, shoff = r.unpack("QQ", 32)
        phentsize, phnum, shentsize, shnum, shstrndx = r.unpack("HHHHH", 54)
        ph_fmt, sh_fmt, dyn_fmt = "IIQQQQQQ", "IIQQQQIIQQ", "qQ"

    is_exec = etype == ET_EXEC
    if etype == ET_DYN and phoff and 0 < phnum <= _MAX_PHNUM and phentsize >= struct.calcsize(r.e + ph_fmt):
        is_exec = _dyn_is_pie(r, phoff, phnum, phentsize, ph_fmt, dyn_fmt)

    has_section = False
    if shoff and 0 < shnum <= _MAX_SHNUM and shstrndx < shnum and shentsize >= struct.calcsize(r.e + sh_fmt):
        has_section = _has_section(r, shoff, shnum, shentsize, shstrndx, sh_fmt)
    return ElfInfo(machine=machine, etype=etype, is_executable=is_exec, has_section=has_section)


def _phdr(r: _Reader, fmt: str, off: int) -> tuple[int, int, int]:
    """Return (p_type, p_offset, p_filesz) whatever the class."""
    f = r.unpack(fmt, off)
    if r.bits == 32:
        return f[0], f[1], f[4]
    return f[0], f[2], f[5]


def _dyn_is_pie(r: _Reader, phoff: int, phnum: int, phentsize: int, ph_fmt: str, dyn_fmt: str) -> bool:
    # file(1), and so oe-core, calls an ET_DYN a "pie executable" only when the
    # dynamic section carries DF_1_PIE; without it (a .so, even one with an
    # interpreter such as libc.so.6) it is a "shared object".
    for i in range(phnum):
        ptype, off, size = _phdr(r, ph_fmt, phoff + i * phentsize)
        if ptype != PT_DYNAMIC:
            continue
        entsize = struct.calcsize(r.e + dyn_fmt)
        for j in range(min(size // entsize, 4096)):
            tag, val = r.unpack(dyn_fmt, off + j * entsize)
            if tag == DT_NULL:
                break
            if tag == DT_FLAGS_1:
                return bool(val & DF_1_PIE)
    return False


def _has_section(r: _Reader, shoff: int, shnum: int, shentsize: int, shstrndx: int, sh_fmt: str) -> bool:
    def shdr(i: int) -> tuple[int, int, int]:
        f = r.unpack(sh_fmt, shoff + i * shentsize)
        return f[0], f[4], f[5]  # sh_name, sh_offset, sh_size

    _, str_off, str_size = shdr(shstrndx)
    if str_size > 1 << 20:
        return False
    names = r.read(str_off, str_size)
    want = SECTION_NAME + b"\0"
    for i in range(1, shnum):
        name_off = shdr(i)[0]
        if names[name_off:name_off + len(want)] == want:
            return True
    return False
