"""Run the fetch plugins in a guest and turn their reports into per-function kernel fetch counts.

Why instruction fetches: QEMU models no memory timing, so time under TCG
says nothing about SRAM against DRAM.  What it can count exactly is which
kernel instructions run, and how many of them lie in a given range (the
scratchpad block) or miss a modelled L1 I-cache.  A function's fetch count
is also a better ranking of scratchpad candidates than the function
profiler's inclusive time: it counts the function's own instructions, not
its callees', and has no tracing overhead in it.

A window is what runs between two calls of ``sync``: the plugins take
``mark=<sys_sync>`` and write the counts since the previous mark at each
one, so ``sync; PROGRAM; sync`` in the guest gives PROGRAM's window.
"""

from __future__ import annotations

import bisect
import csv
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SortoError
from ..guest.build import GuestArtifacts
from ..guest.harness import Guest

#: Header of the per-function fetch table (``sorto analyze`` recognises it).
COLUMNS = ("function", "fetches", "share")
TEXT_TYPES = set("tTwW")
# 32-bit ARM, 3G/1G split: the vector page and its stubs are mapped high, modules sit below PAGE_OFFSET.
PAGE_OFFSET = 0xC0000000
VECTORS = 0xFFFF0000
STUBS = 0xFFFF1000
#: Linker and section marks that share an address with the function they precede.
MARKS = re.compile(r"^__\w+_(start|end)$|^_(s|e)?(init)?text$")


@dataclass
class Report:
    """One kfetch or kcache report: counts of a window (or of the whole run)."""

    kernel_insns: int = 0
    user_insns: int = 0
    #: (lo, hi) -> fetches in the range (kfetch) or (fetches, lookups, misses) (kcache)
    ranges: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict)
    #: kfetch: (vaddr, ninsns, nbytes, execs, host offset) of each executed kernel block
    blocks: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    #: kcache: class -> (insns, lookups, misses), classes "kernel" and "user"
    cache: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    #: kcache with ``setfile=``: (insns, lookups, misses) in the union of the file's ranges
    set: tuple[int, int, int] | None = None


def parse_report(path: Path) -> Report:
    """Read a report of either plugin; raise when it is cut (no ``end`` line: QEMU died while writing)."""
    r = Report()
    text = path.read_text()
    if not text.rstrip().endswith("end"):
        raise SortoError(f"{path}: plugin report without its end line (QEMU stopped while writing it?)")
    for ln in text.splitlines():
        f = ln.split()
        if not f or f[0].startswith("#") or f[0] == "end":
            continue
        if f[0] == "kernel_insns":
            r.kernel_insns = int(f[1])
        elif f[0] == "user_insns":
            r.user_insns = int(f[1])
        elif f[0] == "range":
            lo, hi = (int(x, 16) for x in f[1].split("-"))
            r.ranges[(lo, hi)] = tuple(int(v) for v in f[3::2])
        elif f[0] == "block":
            r.blocks.append((int(f[1], 16), int(f[2]), int(f[3]), int(f[4]), int(f[5], 16)))
        elif f[0] == "set":
            r.set = (int(f[4]), int(f[6]), int(f[8]))
        elif f[0] in ("kernel", "user"):
            r.cache[f[0]] = (int(f[1]), int(f[2]), int(f[3]))
            if f[0] == "kernel":
                r.kernel_insns = int(f[1])
            else:
                r.user_insns = int(f[1])
    return r


class SystemMap:
    """A kernel's System.map: the function holding an address, and the address of any symbol."""

    def __init__(self, path: Path) -> None:
        syms: dict[int, str] = {}
        self.addr: dict[str, int] = {}
        for ln in path.read_text().splitlines():
            f = ln.split()
            if len(f) < 3:
                continue
            a = int(f[0], 16)
            self.addr.setdefault(f[2], a)
            if f[1] in TEXT_TYPES and (a not in syms or MARKS.match(syms[a]) and not MARKS.match(f[2])):
                syms[a] = f[2]  # the first name at an address that is not a section mark
        self.starts = sorted(syms)
        self.names = [syms[a] for a in self.starts]

    def function_at(self, addr: int) -> str | None:
        """The function holding ``addr``; the vector page, its stubs and modules by a bracketed name."""
        if addr >= STUBS + 0x1000:
            return None
        if addr >= STUBS:
            return "[vector stubs]"
        if addr >= VECTORS + 0xF60:
            return "[kuser helpers]"
        if addr >= VECTORS:
            return "[vectors]"
        if addr < PAGE_OFFSET:
            return "[modules]"
        i = bisect.bisect_right(self.starts, addr) - 1
        return self.names[i] if i >= 0 else None


def function_fetches(report: Report, smap: SystemMap) -> dict[str, int]:
    """Kernel instruction fetches per function: each instruction of a block goes to the function holding it.

    ARM-mode blocks (4 bytes per instruction) are walked instruction by
    instruction, so a block that falls through into the next function is
    split right; other blocks go whole to the function of their start.
    """
    out: dict[str, int] = {}
    for vaddr, ninsns, nbytes, execs, _hoff in report.blocks:
        addrs = range(vaddr, vaddr + nbytes, 4) if nbytes == 4 * ninsns else [vaddr] * ninsns
        for a in addrs:
            name = smap.function_at(a) or f"0x{a:08x}"
            out[name] = out.get(name, 0) + execs
    return out


def host_offsets(report: Report, lo: int, hi: int, text: tuple[int, int]) -> tuple[dict[int, int], dict[int, int]]:
    """Fetches by host offset of the window's blocks in [lo, hi), and of the other blocks of ``text``.

    QEMU reads a block's instructions from the host memory backing the
    guest physical page it maps to; the host address minus the guest
    address is one constant for all kernel text in DRAM.  Blocks of
    [lo, hi) read from the on-chip SRAM have another offset: this is
    QEMU's own account of where the instructions came from, independent of
    what the kernel reports in debugfs.
    """
    inside: dict[int, int] = {}
    other: dict[int, int] = {}
    for vaddr, ninsns, _nbytes, execs, hoff in report.blocks:
        where = inside if lo <= vaddr < hi else other if text[0] <= vaddr < text[1] else None
        if where is not None:
            where[hoff] = where.get(hoff, 0) + execs * ninsns
    return inside, other


def write_table(fetches: dict[str, int], path: Path) -> Path:
    """Write ``function,fetches,share`` (share of all kernel fetches of the window), most fetched first."""
    total = sum(fetches.values())
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(COLUMNS)
        for name, n in sorted(fetches.items(), key=lambda kv: (-kv[1], kv[0])):
            w.writerow([name, n, f"{n / total:.6f}" if total else "0"])
    return path


def plugin_arg(so: Path, **args: str | int | list[str]) -> list[str]:
    """``-plugin`` arguments for QEMU: ``so,key=value,...`` (a list value repeats the key)."""
    parts = [str(so)]
    for k, v in args.items():
        for one in v if isinstance(v, list) else [v]:
            parts.append(f"{k}={one}")
    return ["-plugin", ",".join(parts)]


def hex_range(lo: int, hi: int) -> str:
    return f"{lo:#x}-{hi:#x}"


class Windows:
    """Run commands in a guest booted with plugins that take ``mark=<sys_sync>``, one window each.

    ``outfiles``: the plugins' ``outfile=`` paths.  A command's window is
    closed by the ``sync`` after it; the window report is the plugin's newest
    ``.markN``.  Exactly two marks must be added per command, else another
    ``sync`` ran in between and the window is not the command's.
    """

    def __init__(self, guest: Guest, outfiles: list[Path]) -> None:
        self.guest = guest
        self.outfiles = outfiles
        self.guest.check("sync")  # closes the boot's window
        self.marks = self._count()

    def _count(self) -> int:
        counts = {len(list(p.parent.glob(p.name + ".mark*"))) for p in self.outfiles}
        if len(counts) != 1:
            raise SortoError(f"the plugins disagree on the number of marks: {counts}")
        return counts.pop()

    def run(self, cmd: str, timeout: float = 900.0) -> tuple[str, list[Report]]:
        """Run ``sync; cmd; sync``; return the command's output and one report per outfile."""
        out = self.guest.check(f"sync; {cmd}; sync", timeout=timeout)
        marks = self._count()
        if marks != self.marks + 2:
            raise SortoError(f"{cmd}: {marks - self.marks} marks instead of 2 (a sync ran in the window?)")
        self.marks = marks
        return out, [parse_report(p.with_name(f"{p.name}.mark{marks}")) for p in self.outfiles]


def read_scratchpad(guest: Guest) -> dict:
    """State and block of the scratchpad from debugfs (``state``, ``block`` (start, end))."""
    text = guest.check("cat /sys/kernel/debug/scratchpad")
    info: dict = {}
    for ln in text.splitlines():
        f = ln.split()
        if f and f[0] == "state":
            info["state"] = f[1]
        elif f and f[0] == "block":
            info["block"] = (int(f[1], 16), int(f[2], 16))
    if "state" not in info or "block" not in info:
        raise SortoError(f"/sys/kernel/debug/scratchpad: no state or block line:\n{text}")
    return info



def boot_args(art: GuestArtifacts, smap: SystemMap, outdir: Path, ranges: list[tuple[int, int]] | None = None,
              cache: bool = False, setfile: Path | None = None) -> tuple[list[str], list[Path]]:
    """QEMU arguments loading kfetch (and kcache if ``cache``) with windows at sys_sync; their outfiles.

    ``setfile``: "LO HI" lines whose union kcache also counts (see kcache.c).
    """
    from .build import build_plugin

    if "sys_sync" not in smap.addr:
        raise SortoError(f"{art.system_map}: no sys_sync, which the plugins' windows are marked with")
    common: dict[str, str | int | list[str]] = {"mark": hex(smap.addr["sys_sync"]),
                                                "range": [hex_range(lo, hi) for lo, hi in ranges or []]}
    outfiles = [outdir / "kfetch.txt"]
    args = plugin_arg(build_plugin("kfetch"), outfile=str(outfiles[0]), **common)
    if cache:
        outfiles.append(outdir / "kcache.txt")
        extra: dict[str, str | int | list[str]] = {"setfile": str(setfile)} if setfile else {}
        args += plugin_arg(build_plugin("kcache"), outfile=str(outfiles[1]), icachesize=32768, iassoc=2,
                           iblksize=64, **common, **extra)
    return args, outfiles


def profile(art: GuestArtifacts, cmd: str, out: Path, append: str = "") -> tuple[Path, Report]:
    """Run ``cmd`` in a guest of ``art`` (one vCPU) under kfetch; write its per-function table to ``out``."""
    smap = SystemMap(art.system_map)
    work = Path(tempfile.mkdtemp(prefix="sorto-kfetch-"))
    args, outfiles = boot_args(art, smap, work)
    with Guest(art.zimage, art.initramfs, work / "console.log", append=append, smp=1, machine=art.machine,
               dtb=art.dtb, extra_args=args, boot_timeout=600) as g:
        _out, (rep,) = Windows(g, outfiles).run(cmd)
    write_table(function_fetches(rep, smap), out)
    shutil.rmtree(work)  # kept when the run failed: the console log and reports say why
    return out, rep


def main(argv: list[str] | None = None) -> int:
    """``python -m sorto.plugins.kfetch -o TABLE.csv -- COMMAND``: a kernel fetch profile of COMMAND."""
    import argparse

    from ..guest import build

    p = argparse.ArgumentParser(prog="python -m sorto.plugins.kfetch", description=main.__doc__)
    p.add_argument("--kernel", default="6.12", choices=build.KERNELS)
    p.add_argument("--flavour", default="release", choices=sorted(build.FLAVOURS))
    p.add_argument("--append", default="", help="extra kernel parameters")
    p.add_argument("-o", "--output", required=True, type=Path, help="the function,fetches,share table")
    p.add_argument("command", nargs="+", help="shell command run in the guest (output discarded)")
    args = p.parse_args(argv)
    art = build.build_guest(args.kernel, flavour=args.flavour)
    out, rep = profile(art, " ".join(args.command) + " >/dev/null 2>&1", args.output, args.append)
    print(f"{out}: {rep.kernel_insns} kernel and {rep.user_insns} user instruction fetches, Linux {art.release}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
