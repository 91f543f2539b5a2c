#!/usr/bin/env python3
"""What the scratchpad serves: kernel instruction fetches and L1 I-cache misses from SRAM, under QEMU.

QEMU models no memory timing, so this counts instead of timing.  The
scratchpad guest (-M vexpress-a15, 64 KiB on-chip SRAM at 0x2e000000, one
vCPU) runs under two TCG plugins (scripts/sorto/plugins): kfetch counts the
kernel's instruction fetches, per function and inside the scratchpad block,
and records the host memory QEMU read each block from; kcache models the
Cortex-A15 L1 I-cache (32 KiB, 2-way, 64-byte lines) and counts its misses.
Each program runs in a window between two ``sync`` calls.

Two sides, booted alternately, ``--rounds`` times each (interleaved):

* no scratchpad: the same kernel booted without ``scratchpad=`` (debugfs
  state ``no-sram``: the block runs from DRAM);
* one list for the whole image: ``scratchpad=64K@0x2e000000`` (state
  ``resident``), the functions of scripts/sorto/guest/scratchpad.list.

Reported per program, min and median over the rounds:

* SRAM share: kernel fetches read from the SRAM over all kernel fetches.
  A fetch counts as read from SRAM when it lies in the block and QEMU read
  its block from other host memory than the kernel text (the debugfs state
  must agree, or the bench stops);
* L1I misses: the kernel's, those in the block, and those to DRAM: all
  kernel misses, less those of the block when it is resident (served from
  the SRAM); "removed" is the difference of the two sides' medians.  The
  model indexes lines by the host address, which keeps the guest physical
  address's low bits: the block in SRAM sits in other cache sets than in
  DRAM, so its misses, and other code's, can change, not only move.

What-if (labelled as such; nothing is built or booted with it): a first
boot without scratchpad profiles the same programs with kfetch; a list is
picked from that profile (fetches per byte, greedy, within 64 KiB, only C
functions that have a section of their own in vmlinux.o and a C name, as
the kernel's post-link check demands); the no-scratchpad side then also
counts the fetches and L1I misses inside that list's functions.  The list
is written with ``--write-list``.

Nothing here asserts anything about time.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from sorto.guest import build
from sorto.guest.harness import Guest
from sorto.plugins import kfetch as kf

PARAM = "scratchpad=64K@0x2e000000"
SIDES = {"no scratchpad": "", "whole-image list": PARAM}
STATE = {"no scratchpad": "no-sram", "whole-image list": "resident"}
C_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The compiler's own sections, which a list line must not name (scratchpad.sh lds).
RESERVED = {"hot", "unlikely", "startup", "exit", "split"}


def workloads(calls: int) -> list[tuple[str, str]]:
    """(label, guest command): two programs of ours, two we did not write (Debian's busybox and strace)."""
    return [
        (f"syscall_hammer getppid {calls} (ours)", f"/usr/bin/syscall_hammer getppid {calls}"),
        (f"syscall_hammer write {calls} (ours)", f"/usr/bin/syscall_hammer write {calls}"),
        ("busybox find /sys (Debian)", "busybox find /sys"),
        ("strace -f busybox ls -lR /usr (Debian)", "strace -f -o /dev/null busybox ls -lR /usr"),
    ]


def movable_sections(art: build.GuestArtifacts) -> dict[str, int]:
    """C functions that can be listed, with their size: ``.text.NAME`` sections of vmlinux.o (summed, padded)."""
    out = subprocess.run([f"{build.CROSS}readelf", "-SW", str(art.kernel_tree / "vmlinux.o")],
                         capture_output=True, text=True, check=True).stdout
    sizes: dict[str, int] = {}
    row = r"\]\s+\.text\.(\S+)\s+PROGBITS\s+\S+\s+\S+\s+([0-9a-f]+)\s+\S+\s+\S+\s+\d+\s+\d+\s+(\d+)"
    for m in re.finditer(row, out):
        name, size, align = m.group(1), int(m.group(2), 16), max(int(m.group(3)), 4)
        if C_NAME.match(name) and name not in RESERVED:
            # rounded up to the alignment, plus the worst padding in front of it
            sizes[name] = sizes.get(name, 0) + -(-size // align) * align + align - 4
    return sizes


def pick_list(profiles: list[dict[str, int]], movable: dict[str, int], budget: int) -> list[str]:
    """Greedy by fetches per byte over the programs' profiles, each program weighing the same."""
    weight: dict[str, float] = {}
    for prof in profiles:
        total = sum(prof.values()) or 1
        for f, n in prof.items():
            weight[f] = weight.get(f, 0.0) + n / total
    cands = sorted((f for f in weight if f in movable and movable[f] > 0),
                   key=lambda f: (-weight[f] / movable[f], f))
    chosen, used = [], 0
    for f in cands:
        if used + movable[f] <= budget:
            chosen.append(f)
            used += movable[f]
    return chosen


def list_ranges(art: build.GuestArtifacts, names: list[str], movable: dict[str, int]) -> list[tuple[int, int]]:
    """Address ranges of the listed functions in this kernel (every text symbol of that name)."""
    want = set(names)
    out = []
    for ln in art.system_map.read_text().splitlines():
        a, t, n = ln.split()[:3]
        if n in want and t in "tT":
            out.append((int(a, 16), int(a, 16) + movable[n]))
    return out


def mm(vals: list[float], fmt: str) -> str:
    return f"{format(min(vals), fmt)}/{format(statistics.median(vals), fmt)}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", default="6.12", choices=build.KERNELS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calls", type=int, default=20000, help="system calls of the syscall_hammer programs")
    p.add_argument("--budget", type=int, default=65536, help="SRAM bytes for the what-if list")
    p.add_argument("--write-list", type=Path, help="write the what-if list here (scratchpad.list format)")
    args = p.parse_args(argv)

    art = build.build_guest(args.kernel, flavour="scratchpad")
    smap = kf.SystemMap(art.system_map)
    block = (smap.addr["__scratchpad_text_start"], smap.addr["__scratchpad_text_end"])
    text = (smap.addr["_stext"], smap.addr["_etext"])
    work = Path(tempfile.mkdtemp(prefix="sorto-bench-scratchpad-"))
    progs = workloads(args.calls)

    def boot(name: str, append: str, setfile: Path | None = None, cache: bool = True) -> tuple[Guest, kf.Windows]:
        d = work / name
        d.mkdir()
        qargs, outfiles = kf.boot_args(art, smap, d, [block], cache=cache, setfile=setfile)
        g = Guest(art.zimage, art.initramfs, d / "console.log", append=append, smp=1, machine=art.machine,
                  dtb=art.dtb, extra_args=qargs, boot_timeout=600)
        return g, kf.Windows(g, outfiles)

    # The profile pass: what the fetch profile would put in the SRAM.
    movable = movable_sections(art)
    profiles = []
    g, win = boot("profile", "", cache=False)
    with g:
        for _label, cmd in progs:
            _out, (rep,) = win.run(f"{cmd} >/dev/null 2>&1")
            profiles.append(kf.function_fetches(rep, smap))
    chosen = pick_list(profiles, movable, args.budget)
    listed = set(chosen)
    setfile = work / "whatif.ranges"
    setfile.write_text("".join(f"{lo:x} {hi:x}\n" for lo, hi in list_ranges(art, chosen, movable)))
    if args.write_list:
        args.write_list.write_text(
            f"# What-if list from the kfetch profile of scripts/bench/scratchpad_effect.py (Linux {art.release},\n"
            f"# scratchpad flavour): fetches per byte, greedy, {sum(movable[f] for f in chosen)} of "
            f"{args.budget} bytes.\n" + "".join(f"{f}\n" for f in chosen))

    # rows[label][side][metric] = values over the rounds
    rows: dict[str, dict[str, dict[str, list[float]]]] = {}
    release = ""
    for r in range(args.rounds):
        order = list(SIDES) if r % 2 == 0 else list(SIDES)[::-1]
        for side in order:
            g, win = boot(f"r{r}-{side.replace(' ', '-')}", SIDES[side], setfile)
            with g:
                release = g.release
                info = kf.read_scratchpad(g)
                if info["state"] != STATE[side] or info["block"] != block:
                    raise SystemExit(f"{side}: debugfs says {info}, expected state {STATE[side]}, block {block}")
                for label, cmd in progs:
                    _out, (fetch, cache) = win.run(f"{cmd} >/dev/null 2>&1")
                    inside, other = kf.host_offsets(fetch, *block, text)
                    if len(other) != 1:
                        raise SystemExit(f"{label}: kernel text read from {len(other)} host regions, expected 1")
                    from_sram = sum(n for off, n in inside.items() if off not in other)
                    if from_sram not in (0, sum(inside.values())) or (from_sram > 0) != (side != "no scratchpad") \
                            and inside:
                        raise SystemExit(f"{label}, {side}: {from_sram} of {sum(inside.values())} block fetches "
                                         f"read from other memory than the text, but debugfs says {info['state']}")
                    kernel_misses = cache.cache["kernel"][2]
                    block_misses = cache.ranges[block][2]
                    m = rows.setdefault(label, {}).setdefault(side, {})
                    for key, val in (("kernel fetches", fetch.kernel_insns), ("from sram", from_sram),
                                     ("sram share", from_sram / fetch.kernel_insns),
                                     ("l1i misses", kernel_misses),
                                     ("block misses", block_misses),
                                     ("to dram", kernel_misses - (block_misses if from_sram else 0)),
                                     ("whatif share", sum(n for f, n in kf.function_fetches(fetch, smap).items()
                                                          if f in listed) / fetch.kernel_insns),
                                     ("whatif misses", cache.set[2] if cache.set else 0)):
                        m.setdefault(key, []).append(val)

    bsize = block[1] - block[0]
    print(f"scratchpad effect, Linux {release}, qemu -M vexpress-a15 -smp 1 (TCG), {args.rounds} rounds, "
          "min/median")
    names = [ln.strip() for ln in build.SCRATCHPAD_LIST.read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    print(f"block: {bsize} bytes at {block[0]:#x}, the {len(names)} functions of scratchpad.list "
          f"({' '.join(names)}); SRAM 64 KiB; L1I model 32 KiB 2-way 64-byte lines (kcache)")
    print("SRAM share: kernel fetches read from SRAM / kernel fetches; L1I misses: kernel, of which in the block "
          "(served by the SRAM when resident); to DRAM: the others")
    print(f"{'program':<40} {'side':<17} {'kernel fetches':>19} {'SRAM share':>13} {'L1I misses':>17} "
          f"{'in block':>13} {'to DRAM':>17}")
    for label, sides in rows.items():
        for side, m in sides.items():
            print(f"{label:<40} {side:<17} {mm(m['kernel fetches'], '.0f'):>19} "
                  f"{mm([100 * v for v in m['sram share']], '.1f') + ' %':>13} {mm(m['l1i misses'], '.0f'):>17} "
                  f"{mm(m['block misses'], '.0f'):>13} {mm(m['to dram'], '.0f'):>17}")
        a = statistics.median(sides["no scratchpad"]["to dram"])
        b = statistics.median(sides["whole-image list"]["to dram"])
        print(f"{'':<40} {'misses to DRAM removed (median difference)':<96}{a - b:>8.0f} ({(a - b) / a:.1%})")
    used = sum(movable[f] for f in chosen)
    print(f"what-if (not built, not booted): {len(chosen)} functions, {used} bytes, picked from the profile pass "
          "by fetches per byte; counted on the no-scratchpad side's windows")
    print(f"{'program':<40} {'fetch share':>15} {'L1I misses in it':>19} {'of misses':>10}")
    for label, sides in rows.items():
        m = sides["no scratchpad"]
        share = [100 * v for v in m["whatif share"]]
        frac = [w / k for w, k in zip(m["whatif misses"], m["l1i misses"])]
        print(f"{label:<40} {mm(share, '.1f') + ' %':>15} {mm(m['whatif misses'], '.0f'):>19} "
              f"{statistics.median(frac):>10.1%}")
    print(f"what-if list, hottest first by fetches per byte: {' '.join(chosen[:12])}"
          + (" ..." if len(chosen) > 12 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
