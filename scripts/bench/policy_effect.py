#!/usr/bin/env python3
"""What a policy changes for the program, measured in one QEMU boot with and without metadata.

Two measurements, interleaved over several rounds in one guest (booted with
``threadirqs`` and a virtio-rng device, sorto_hook loaded with
``irq_allow=virtio0``):

* page faults in the timed phase of ``policyprobe`` (it writes 4 MiB of bss,
  256 KiB of data and 64 KiB of stack), without metadata and with a policy
  that locks text, data and stack;
* wake-up latency of a periodic task (``wakelat``: clock_nanosleep to
  absolute deadlines, PERIOD_US apart) while an interrupt source (reading
  /dev/hwrng, whose virtio interrupt is threaded) and a CPU hog on each CPU
  run beside it; without metadata, with what users do today instead
  (``chrt -f 30 taskset -c 1``: the baseline tool), and with a policy asking
  SCHED_FIFO 30 on CPU 1 and the virtio interrupt thread deferred away.

Prints a table of medians over the rounds and the ratios with/without and
with/baseline (no baseline tool locks another program's memory: n/a).  The
guest is TCG-emulated (release kernel by default, --flavour debug for the
KASAN and lockdep one): absolute figures mean little, the ratio within one
run is what this reports.  Nothing here asserts time.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from sorto.guest import build
from sorto.guest.harness import Guest

POLICY_MLOCK = {"version": 1, "mlock": [{"region": "text"}, {"region": "data"}, {"region": "stack"}]}
POLICY_RT = {"version": 1, "sched": {"policy": "fifo", "priority": 30, "cpus": [1]},
             "irq_defer": [{"name": "virtio0", "away": True}]}


def inject(src: Path, pol: dict, out: Path) -> Path:
    p = out.with_suffix(".json")
    p.write_text(json.dumps(pol))
    subprocess.run([sys.executable, "-m", "sorto", "inject", str(src), "--policy", str(p), "-o", str(out), "-q"],
                   check=True)
    return out


def kv(out: str, prefix: str) -> dict[str, int]:
    m = re.search(rf"^{prefix} (.*)$", out, re.M)
    if not m:
        raise RuntimeError(f"no {prefix} line in {out!r}")
    return {k: int(v) for k, v in (t.split("=", 1) for t in m.group(1).split()) if v.lstrip("-").isdigit()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", default="6.12", choices=build.KERNELS)
    p.add_argument("--flavour", default="release", choices=sorted(build.FLAVOURS),
                   help="guest kernel flavour (default release; debug adds KASAN and lockdep)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--period-us", type=int, default=2000, help="wake-up period of the periodic task")
    p.add_argument("--samples", type=int, default=500, help="wake-ups per latency measurement")
    args = p.parse_args(argv)

    art = build.build_guest(args.kernel, flavour=args.flavour)
    work = Path(tempfile.mkdtemp(prefix="sorto-bench-effect-"))
    files = {
        "/b/probe": art.programs / "policyprobe",
        "/b/probe-meta": inject(art.programs / "policyprobe", POLICY_MLOCK, work / "probe-meta"),
        "/b/wakelat": art.programs / "wakelat",
        "/b/wakelat-meta": inject(art.programs / "wakelat", POLICY_RT, work / "wakelat-meta"),
    }
    extra = build.payload_cpio(art, files, work / "b.cpio.gz")
    rows: dict[str, dict[str, list[int]]] = {}

    def add(metric: str, case: str, value: int) -> None:
        rows.setdefault(metric, {"without": [], "baseline": [], "with": []})[case].append(value)

    with Guest(art.zimage, [art.initramfs, extra], work / "console.log", append="threadirqs",
               extra_args=["-device", "virtio-rng-device"], boot_timeout=600) as g:
        g.check("insmod /lib/modules/sorto_hook.ko irq_allow=virtio0")
        # Load beside the periodic task: interrupts, and a CPU hog on each CPU
        # (without a policy the task may run on either).
        g.check("cat /dev/hwrng > /dev/null 2>&1 & for m in 1 2; do taskset $m sh -c 'while :; do :; done' & done")
        for _ in range(args.rounds):
            for case, prefix, suffix in (("without", "", ""), ("baseline", "chrt -f 30 taskset -c 1 ", ""),
                                         ("with", "", "-meta")):
                if case != "baseline":
                    add("page faults in timed phase", case,
                        kv(g.check(f"/b/probe{suffix}"), "policyprobe")["faults"])
                lat = kv(g.check(f"{prefix}/b/wakelat{suffix} {args.period_us} {args.samples}", timeout=600),
                         "wakelat")
                add("wake-up latency median (us)", case, lat["median_us"])
                add("wake-up latency p99 (us)", case, lat["p99_us"])
                add("wake-up latency max (us)", case, lat["max_us"])
        interrupts = g.check("grep virtio0 /proc/interrupts").split()
        release = g.release

    print(f"policy effect, Linux {release}, qemu -M virt -smp 2 (TCG), threadirqs, {args.rounds} rounds (median)")
    print(f"load: reader of /dev/hwrng (virtio0 interrupts per CPU: {' '.join(interrupts[1:3])}) and a CPU hog "
          "on each CPU;")
    print(f"wakelat: {args.samples} wake-ups every {args.period_us} us; with metadata: SCHED_FIFO 30 on CPU 1, "
          "virtio0 thread deferred away; policyprobe: text+data+stack locked")
    print(f"note: {args.flavour} guest kernel under TCG; read the ratios, not the absolute figures")
    print("baseline: chrt -f 30 taskset -c 1 (util-linux, busybox), the tools used today without a policy")
    print(f"{'metric':<30} {'without':>9} {'baseline':>9} {'with':>9} {'with/without':>13} {'with/baseline':>14}")
    for metric, cases in rows.items():
        a, b = statistics.median(cases["without"]), statistics.median(cases["with"])
        base = statistics.median(cases["baseline"]) if cases["baseline"] else None
        r1 = f"{b / a:13.3f}" if a else f"{'n/a':>13}"
        r2 = f"{b / base:14.3f}" if base else f"{'n/a':>14}"
        shown = f"{base:>9.0f}" if base is not None else f"{'n/a':>9}"
        print(f"{metric:<30} {a:>9.0f} {shown} {b:>9.0f} {r1} {r2}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
