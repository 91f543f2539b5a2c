"""Read and write the metadata section of ELF files.

Reading uses pyelftools.  Writing goes through the toolchain's objcopy for the
file's machine, exactly what a Yocto build runs, into a temporary file next to
the target that is checked and then renamed over it: a crash or a failing
objcopy never leaves a half-written binary, and the original stays
byte-identical until the rename.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from . import format as F
from .errors import SortoError

# objcopy names to try per ELF machine, most specific first.
OBJCOPY_BY_MACHINE: dict[str, list[str]] = {
    "EM_ARM": ["arm-linux-gnueabihf-objcopy", "arm-linux-gnueabi-objcopy", "arm-none-eabi-objcopy"],
    "EM_AARCH64": ["aarch64-linux-gnu-objcopy"],
    "EM_X86_64": ["x86_64-linux-gnu-objcopy"],
    "EM_386": ["i686-linux-gnu-objcopy", "x86_64-linux-gnu-objcopy"],
    "EM_RISCV": ["riscv64-linux-gnu-objcopy"],
    "EM_MIPS": ["mips-linux-gnu-objcopy", "mipsel-linux-gnu-objcopy"],
    "EM_PPC": ["powerpc-linux-gnu-objcopy"],
}

_ELF_ERRORS = (ELFError, OSError, ValueError, KeyError, IndexError, AssertionError, EOFError)


def _open_elf(path: Path) -> tuple[ELFFile, object]:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise SortoError(f"{path}: cannot open: {exc.strerror}") from exc
    head = fh.read(4)
    fh.seek(0)
    if head != b"\x7fELF":
        fh.close()
        raise SortoError(f"{path}: not an ELF file")
    try:
        return ELFFile(fh), fh
    except Exception as exc:  # pyelftools raises many types on truncated input
        fh.close()
        raise SortoError(f"{path}: malformed or truncated ELF: {exc}") from exc


def machine(path: Path) -> str:
    """Return the ELF machine name (``EM_ARM``...) of ``path``."""
    elf, fh = _open_elf(path)
    try:
        return str(elf["e_machine"])
    finally:
        fh.close()


def read_section(path: str | Path) -> bytes | None:
    """Return the bytes of the metadata section, or None when there is none."""
    p = Path(path)
    elf, fh = _open_elf(p)
    try:
        found = []
        for i in range(elf.num_sections()):
            sec = elf.get_section(i)
            if sec.name == F.SECTION_NAME:
                found.append(sec)
        if not found:
            return None
        if len(found) > 1:
            raise SortoError(f"{p}: {len(found)} sections named {F.SECTION_NAME}")
        sec = found[0]
        size = sec["sh_size"]
        if sec["sh_type"] == "SHT_NOBITS" or size > F.MAX_RECORD * 16:
            raise SortoError(f"{p}: section {F.SECTION_NAME} has a bad type or size ({size} bytes)")
        data = sec.data()
        if len(data) != size:
            raise SortoError(f"{p}: section {F.SECTION_NAME} is truncated")
        return data
    except SortoError:
        raise
    except Exception as exc:
        raise SortoError(f"{p}: malformed or truncated ELF: {exc}") from exc
    finally:
        fh.close()


def find_objcopy(path: Path, override: str | None = None, mach: str | None = None) -> list[str]:
    """Pick the objcopy command for the file's machine (``mach``, read from ``path`` if not given).

    ``override`` (``--objcopy``) wins, then ``$OBJCOPY`` as Yocto exports it,
    then the Debian cross toolchain name for the machine.
    """
    for cmd in (override, os.environ.get("OBJCOPY")):
        if cmd:
            argv = shlex.split(cmd)
            if not shutil.which(argv[0]):
                raise SortoError(f"{path}: objcopy '{argv[0]}' not found")
            return argv
    mach = mach or machine(path)
    for name in OBJCOPY_BY_MACHINE.get(mach, []):
        if shutil.which(name):
            return [name]
    host = os.uname().machine
    if (mach, host) in {("EM_X86_64", "x86_64"), ("EM_386", "x86_64"), ("EM_AARCH64", "aarch64")}:
        if shutil.which("objcopy"):
            return ["objcopy"]
    raise SortoError(f"{path}: no objcopy found for machine {mach} (use --objcopy or $OBJCOPY)")


def write_section(path: str | Path, record: bytes, output: str | Path | None = None,
                  objcopy: str | None = None) -> Path:
    """Add or replace the metadata section; atomically write ``output`` (default: in place)."""
    src = Path(path)
    dst = Path(output) if output else src
    # Only the ELF header is read first (a truncated or foreign file fails
    # here, with a clear message): whether the section exists does not matter,
    # as objcopy removes it before adding it again, and the one full read of
    # the sections is the check of objcopy's output below.
    mach = machine(src)
    argv = find_objcopy(src, objcopy, mach)
    try:
        st = src.stat()
    except OSError as exc:
        raise SortoError(f"{src}: cannot stat: {exc.strerror}") from exc
    if dst.exists():
        dmode = dst.stat().st_mode
        if not dmode & 0o222:
            raise SortoError(f"{dst}: target is read-only (mode {stat.S_IMODE(dmode):04o})")
    ddir = dst.parent if str(dst.parent) else Path(".")
    if not os.access(ddir, os.W_OK):
        raise SortoError(f"{dst}: directory {ddir} is not writable")

    with tempfile.TemporaryDirectory(prefix=".sorto-", dir=ddir) as tmpd:
        blob = Path(tmpd) / "record.bin"
        blob.write_bytes(record)
        tmp_out = Path(tmpd) / "out.elf"
        # --remove-section then --add-section: the same bytes as --update-section
        # on a marked file and as a plain --add-section on an unmarked one
        # (tests/test_cli.py), so one command serves both.
        cmd = [*argv, "--remove-section", F.SECTION_NAME, "--add-section", f"{F.SECTION_NAME}={blob}",
               "--set-section-flags", f"{F.SECTION_NAME}=readonly,contents", str(src), str(tmp_out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            msg = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise SortoError(f"{src}: {argv[0]} failed: {msg}")
        if read_section(tmp_out) != record:
            raise SortoError(f"{src}: {argv[0]} did not write the section as asked")
        os.chmod(tmp_out, stat.S_IMODE(st.st_mode))
        with open(tmp_out, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_out, dst)
    return dst
