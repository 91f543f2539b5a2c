#!/usr/bin/env python3
"""What the scratchpad serves: kernel instruction fetches and L1 I-cache misses from SRAM, under QEMU.

QEMU models no memory timing, so this counts instead of timing.  The
scratchpad guest (-M vexpress-a15, 64 KiB on-chip SRAM at 0x2e000000, one
vCPU) runs under two TCG plugins (scripts/sorto/plugins): kfetch counts the
kernel's instruction fetches, per function and inside the scratchpad block,
and records the host memory QEMU read each block from; kcache models the
Cortex-A15 L1 I-cache (32 KiB, 2-way, 64-byte lines) and counts its misses.
Each program runs in a window between two ``sync`` calls.

Four sides, booted in turn, ``--rounds`` times each (interleaved, the
order reversed every other round), on two kernels:

* no scratchpad / hand list: the scratchpad guest's kernel, booted without
  ``scratchpad=`` (debugfs state ``no-sram``: the block runs from DRAM) and
  with ``scratchpad=64K@0x2e000000`` (``resident``), its block the
  functions of scripts/sorto/guest/scratchpad.list (test input);
* image list, no SRAM / image list: the loop closed.  A first boot without
  scratchpad profiles each program with kfetch; ``sorto analyze`` turns each
  profile into that program's policy (its 32 heaviest functions by fetch
  share); ``sorto scratchpad-list`` fits the image's policies into 64 KiB
  with the kernel's vmlinux.o; the kernel is relinked with that list
  (build.relink_scratchpad, as the Yocto recipe does) and booted both ways.

Reported per program, min and median over the rounds:

* SRAM share: kernel fetches read from SRAM over all kernel fetches.
  A fetch counts as read from SRAM when it lies in the block and QEMU read
  its block from other host memory than the kernel text (the debugfs state
  must agree, or the bench stops);
* L1I misses: the kernel's, those in the block, and those to DRAM: all
  kernel misses, less those of the block when it is resident (served from
  the SRAM); "removed" is the difference of the medians of a kernel's two
  sides.  The model indexes lines by the host address, which keeps the
  guest physical address's low bits: the block in SRAM sits in other cache
  sets than in DRAM, so its misses, and other code's, can change, not only
  move.

Nothing here asserts anything about time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from sorto import scratchlist
from sorto.guest import build
from sorto.guest.harness import Guest
from sorto.plugins import kfetch as kf

PARAM = build.SCRATCHPAD_PARAM
#: side -> (kernel, boot parameter, debugfs state); the kernels are "hand" and "image"
SIDES = {
    "no scratchpad": ("hand", "", "no-sram"),
    "hand list": ("hand", PARAM, "resident"),
    "image list, no SRAM": ("image", "", "no-sram"),
    "image list": ("image", PARAM, "resident"),
}
PAIRS = (("no scratchpad", "hand list"), ("image list, no SRAM", "image list"))


def workloads(calls: int) -> list[tuple[str, str]]:
    """(label, guest command): two programs of ours, two we did not write (Debian's busybox and strace)."""
    return [
        (f"syscall_hammer getppid {calls} (ours)", f"/usr/bin/syscall_hammer getppid {calls}"),
        (f"syscall_hammer write {calls} (ours)", f"/usr/bin/syscall_hammer write {calls}"),
        ("busybox find /sys (Debian)", "busybox find /sys"),
        ("strace -f busybox ls -lR /usr (Debian)", "strace -f -o /dev/null busybox ls -lR /usr"),
    ]


def mm(vals: list[float], fmt: str) -> str:
    return f"{format(min(vals), fmt)}/{format(statistics.median(vals), fmt)}"


def image_list(art: build.GuestArtifacts, profiles: list[dict[str, int]], work: Path, budget: int) -> Path:
    """Each program's fetch profile -> its policy (sorto analyze) -> the image's list (sorto scratchpad-list)."""
    pols = work / "policies"
    pols.mkdir()
    for i, prof in enumerate(profiles):
        trace = work / f"trace-{i}"
        trace.mkdir()
        kf.write_table(prof, trace / "kfetch.csv")
        subprocess.run([sys.executable, "-m", "sorto", "analyze", str(trace), "--vmlinux",
                        str(art.kernel_tree / "vmlinux"), "-o", str(pols / f"program-{i}.json"), "-q"],
                       check=True, capture_output=True, text=True)
    listed = work / "image.list"
    _text, decisions = scratchlist.make_list(art.kernel_tree / "vmlinux.o", [pols], budget, listed)
    if not any(d.placed for d in decisions):
        raise SystemExit(f"{listed}: the policies in {pols} put no function in the SRAM")
    return listed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", default="6.12", choices=build.KERNELS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calls", type=int, default=20000, help="system calls of the syscall_hammer programs")
    p.add_argument("--budget", type=int, default=65536, help="SRAM bytes for the image list")
    p.add_argument("--write-list", type=Path, help="copy the image list here (CONFIG_ARM_SCRATCHPAD_FUNCTIONS format)")
    args = p.parse_args(argv)

    hand = build.build_guest(args.kernel, flavour="scratchpad")
    work = Path(tempfile.mkdtemp(prefix="sorto-bench-scratchpad-"))
    progs = workloads(args.calls)

    def boot(art: build.GuestArtifacts, smap: kf.SystemMap, name: str, append: str,
             cache: bool = True) -> tuple[Guest, kf.Windows]:
        d = work / name
        d.mkdir()
        block = (smap.addr["__scratchpad_text_start"], smap.addr["__scratchpad_text_end"])
        qargs, outfiles = kf.boot_args(art, smap, d, [block], cache=cache)
        g = Guest(art.zimage, art.initramfs, d / "console.log", append=append, smp=1, machine=art.machine,
                  dtb=art.dtb, extra_args=qargs, boot_timeout=600)
        return g, kf.Windows(g, outfiles)

    # The profile pass, then the loop: policies, the image's list, the kernel relinked with it.
    hand_map = kf.SystemMap(hand.system_map)
    profiles = []
    g, win = boot(hand, hand_map, "profile", "", cache=False)
    with g:
        for _label, cmd in progs:
            _out, (rep,) = win.run(f"{cmd} >/dev/null 2>&1")
            profiles.append(kf.function_fetches(rep, hand_map))
    listed = image_list(hand, profiles, work, args.budget)
    if args.write_list:
        args.write_list.write_text(listed.read_text())
    image = build.relink_scratchpad(hand, listed, work / "relink", size=args.budget)
    kernels = {"hand": (hand, hand_map), "image": (image, kf.SystemMap(image.system_map))}
    blocks = {k: (m.addr["__scratchpad_text_start"], m.addr["__scratchpad_text_end"]) for k, (_a, m) in kernels.items()}
    texts = {k: (m.addr["_stext"], m.addr["_etext"]) for k, (_a, m) in kernels.items()}

    # rows[label][side][metric] = values over the rounds
    rows: dict[str, dict[str, dict[str, list[float]]]] = {}
    release = ""
    for r in range(args.rounds):
        order = list(SIDES) if r % 2 == 0 else list(SIDES)[::-1]
        for side in order:
            kname, append, state = SIDES[side]
            art, smap = kernels[kname]
            block, text = blocks[kname], texts[kname]
            g, win = boot(art, smap, f"r{r}-{side.replace(' ', '-').replace(',', '')}", append)
            with g:
                release = g.release
                info = kf.read_scratchpad(g)
                if info["state"] != state or info["block"] != block:
                    raise SystemExit(f"{side}: debugfs says {info}, expected state {state}, block {block}")
                for label, cmd in progs:
                    _out, (fetch, cache) = win.run(f"{cmd} >/dev/null 2>&1")
                    inside, other = kf.host_offsets(fetch, *block, text)
                    if len(other) != 1:
                        raise SystemExit(f"{label}: kernel text read from {len(other)} host regions, expected 1")
                    from_sram = sum(n for off, n in inside.items() if off not in other)
                    if from_sram not in (0, sum(inside.values())) or (from_sram > 0) != (state == "resident") \
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
                                     ("to dram", kernel_misses - (block_misses if from_sram else 0))):
                        m.setdefault(key, []).append(val)

    print(f"scratchpad effect, Linux {release}, qemu -M vexpress-a15 -smp 1 (TCG), {args.rounds} rounds, "
          "min/median")
    hand_names = scratchlist.list_names(build.SCRATCHPAD_LIST.read_text())
    image_names = scratchlist.list_names(listed.read_text())
    for kname, names, what in (("hand", hand_names, "scratchpad.list (test input): " + " ".join(hand_names)),
                               ("image", image_names, f"chosen by sorto scratchpad-list from {len(profiles)} "
                                "kfetch-ranked policies: " + " ".join(image_names[:10]) + " ...")):
        lo, hi = blocks[kname]
        print(f"{kname} list: {len(names)} functions, block {hi - lo} bytes at {lo:#x}; {what}")
    print("SRAM 64 KiB; L1I model 32 KiB 2-way 64-byte lines (kcache). SRAM share: kernel fetches read from SRAM / "
          "kernel fetches; L1I misses: kernel, of which in the block (served by the SRAM when resident); to DRAM: "
          "the others")
    print(f"{'program':<40} {'side':<20} {'kernel fetches':>19} {'SRAM share':>13} {'L1I misses':>17} "
          f"{'in block':>13} {'to DRAM':>17}")
    for label, sides in rows.items():
        for side, m in sides.items():
            print(f"{label:<40} {side:<20} {mm(m['kernel fetches'], '.0f'):>19} "
                  f"{mm([100 * v for v in m['sram share']], '.1f') + ' %':>13} {mm(m['l1i misses'], '.0f'):>17} "
                  f"{mm(m['block misses'], '.0f'):>13} {mm(m['to dram'], '.0f'):>17}")
        for off, on in PAIRS:
            a = statistics.median(sides[off]["to dram"])
            b = statistics.median(sides[on]["to dram"])
            print(f"{'':<40} {'misses to DRAM removed by the ' + on + ' (median difference)':<99}{a - b:>8.0f} "
                  f"({(a - b) / a:.1%})")
    # The relinked tree is a 2 GB copy: keep the lists, logs and reports only.
    shutil.rmtree(work / "relink" / "linux", ignore_errors=True)
    print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
