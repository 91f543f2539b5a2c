#!/usr/bin/env python3
"""Exec overhead of the ELF hook, measured in one QEMU boot.

Three cases, interleaved over several rounds in the same guest: no hook
registered (module not loaded: the loader does no extra work), hook
registered and a binary without the section, hook registered and a binary
with the demo policy.  The guest runs with ``-icount shift=0,sleep=off`` so
guest time follows the instruction count and figures repeat from run to run.
Prints a table of ns per exec (median of the rounds) and ratios to the
no-hook case.  This is a benchmark, not a test: it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from sorto import codec, elfsection, policy
from sorto.guest import build
from sorto.guest.harness import Guest

REPO = Path(__file__).resolve().parents[2]


def measure(g: Guest, prog: str, n: int) -> int:
    out = g.check(f"/usr/bin/execloop {n} {prog}", timeout=900)
    for tok in out.split():
        if tok.startswith("ns_per_exec="):
            return int(tok.split("=")[1])
    raise RuntimeError(f"no result in {out!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", default="6.12", choices=build.KERNELS)
    p.add_argument("--flavour", default="release", choices=sorted(build.FLAVOURS),
                   help="guest kernel flavour (default release; debug adds KASAN and lockdep)")
    p.add_argument("--execs", type=int, default=300, help="execs per measurement")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)

    art = build.build_guest(args.kernel, flavour=args.flavour)
    work = Path(tempfile.mkdtemp(prefix="sorto-bench-"))
    plain = art.programs / "hello-static"
    meta = work / "hello-meta"
    every_field = REPO / "tests" / "data" / "every-field-policy.yaml"
    elfsection.write_section(plain, codec.encode(policy.load(every_field)), meta)
    extra = build.payload_cpio(art, {"/b/plain": plain, "/b/meta": meta}, work / "b.cpio.gz")
    results: dict[str, list[int]] = {"no hook registered": [], "hook, no section": [], "hook, with section": []}
    with Guest(art.zimage, [art.initramfs, extra], work / "console.log", icount=True, smp=1,
               boot_timeout=600) as g:
        for _ in range(args.rounds):
            g.run("rmmod sorto_hook 2>/dev/null")
            results["no hook registered"].append(measure(g, "/b/plain", args.execs))
            g.check("insmod /lib/modules/sorto_hook.ko")
            results["hook, no section"].append(measure(g, "/b/plain", args.execs))
            results["hook, with section"].append(measure(g, "/b/meta", args.execs))
        release = g.release
    base = statistics.median(results["no hook registered"])
    print(f"exec overhead, Linux {release}, qemu -icount shift=0,sleep=off, {args.execs} execs x "
          f"{args.rounds} rounds (median)")
    print(f"note: {args.flavour} guest kernel under TCG; compare ratios, not absolute times")
    print(f"{'case':<22} {'ns/exec':>10} {'ratio':>7} {'spread':>8}")
    for name, vals in results.items():
        med = statistics.median(vals)
        spread = (max(vals) - min(vals)) / med if med else 0.0
        print(f"{name:<22} {med:>10.0f} {med / base:>7.3f} {spread:>7.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
