#!/usr/bin/env python3
"""Exec overhead of the ELF hook, measured in one QEMU boot per guest kernel flavour.

Four cases, so the cost of finding the section is told apart from the cost
of what a policy asks for:

* no hook registered: the module is not loaded, the loader does no extra work;
* hook, no section: the module is loaded and the binary has no section, the
  common case of a marked system (what the kernel's lookup costs);
* hook, empty policy: a section whose policy asks for nothing, so the lookup,
  the section read and the module's decoding, and no action;
* hook, every-field policy: ``tests/data/every-field-policy.yaml``, every
  kind of action the module takes (memory locking, scheduling, interrupt
  deferral), so mostly the cost of those actions.

Each flavour (release by default and debug, which adds KASAN and lockdep)
boots once, with ``-icount shift=0,sleep=off`` so guest time follows the
instruction count.  The cases are interleaved: every round measures each
case once, the hook cases in a rotated order and the module unloaded for
the no-hook case first on even rounds and last on odd ones, so drift in the
guest (page cache, slab state) does not land on one case.  After each
insmod and rmmod one run is made and thrown away.  Counted with the kfetch
plugin, the first run after insmod also pays for a lazy vmalloc purge
with its kernel TLB flush (about 275,000 guest instructions, once: 900 ns
on each of 300 execs, more than the lookup itself); rmmod frees vmalloc
memory too.  Prints, per
case, the min and median ns per exec over the rounds and both ratios to the
no-hook case, then the split.  This is a benchmark, not a test: it asserts
nothing about time.
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
NO_HOOK = "no hook registered"
NO_SECTION = "hook, no section"
EMPTY = "hook, empty policy"
EVERY = "hook, every-field policy"
CASES = (NO_HOOK, NO_SECTION, EMPTY, EVERY)
# guest path of the program each case runs
PROGRAM = {NO_HOOK: "/b/plain", NO_SECTION: "/b/plain", EMPTY: "/b/empty", EVERY: "/b/every"}


def measure(g: Guest, prog: str, n: int) -> int:
    out = g.check(f"/usr/bin/execloop {n} {prog}", timeout=900)
    for tok in out.split():
        if tok.startswith("ns_per_exec="):
            return int(tok.split("=")[1])
    raise RuntimeError(f"no result in {out!r}")


def round_order(r: int) -> list[str]:
    """The cases of round ``r``: hook cases rotated by ``r``, the no-hook case first or last."""
    hooked = [NO_SECTION, EMPTY, EVERY]
    k = r % len(hooked)
    hooked = hooked[k:] + hooked[:k]
    return [NO_HOOK, *hooked] if r % 2 == 0 else [*hooked, NO_HOOK]


def run_flavour(kernel: str, flavour: str, execs: int, rounds: int) -> tuple[str, dict[str, list[int]]]:
    art = build.build_guest(kernel, flavour=flavour)
    work = Path(tempfile.mkdtemp(prefix=f"sorto-bench-{flavour}-"))
    plain = art.programs / "hello-static"
    empty = work / "hello-empty"
    every = work / "hello-every"
    empty_policy = policy.normalize(policy.validate({"version": 1}))
    elfsection.write_section(plain, codec.encode(empty_policy), empty)
    every_field = REPO / "tests" / "data" / "every-field-policy.yaml"
    elfsection.write_section(plain, codec.encode(policy.load(every_field)), every)
    extra = build.payload_cpio(art, {"/b/plain": plain, "/b/empty": empty, "/b/every": every},
                               work / "b.cpio.gz")
    results: dict[str, list[int]] = {c: [] for c in CASES}
    with Guest(art.zimage, [art.initramfs, extra], work / "console.log", icount=True, smp=1,
               boot_timeout=600) as g:
        loaded = False
        for r in range(rounds):
            for case in round_order(r):
                if case == NO_HOOK and loaded:
                    g.check("rmmod sorto_hook")
                    loaded = False
                    measure(g, PROGRAM[case], execs)  # warm-up, not kept
                elif case != NO_HOOK and not loaded:
                    g.check("insmod /lib/modules/sorto_hook.ko")
                    loaded = True
                    measure(g, PROGRAM[case], execs)  # warm-up, not kept
                results[case].append(measure(g, PROGRAM[case], execs))
        release = g.release
    return release, results


def report(kernel_release: str, flavour: str, execs: int, rounds: int, results: dict[str, list[int]]) -> None:
    base_min = min(results[NO_HOOK])
    base_med = statistics.median(results[NO_HOOK])
    print(f"exec overhead, {flavour} guest kernel, Linux {kernel_release}, qemu -icount shift=0,sleep=off, "
          f"{execs} execs x {rounds} rounds, cases interleaved")
    print(f"{'case':<26} {'min ns':>9} {'median ns':>10} {'min ratio':>10} {'med ratio':>10} {'spread':>7}")
    for name in CASES:
        vals = results[name]
        lo, med = min(vals), statistics.median(vals)
        spread = (max(vals) - lo) / med if med else 0.0
        print(f"{name:<26} {lo:>9.0f} {med:>10.0f} {lo / base_min:>10.3f} {med / base_med:>10.3f} {spread:>6.1%}")

    def step(a: str, b: str) -> str:
        d_min = (min(results[b]) - min(results[a])) / base_min
        d_med = (statistics.median(results[b]) - statistics.median(results[a])) / base_med
        return f"{d_min:+.2%} (min), {d_med:+.2%} (median) of an exec without hook"

    print(f"  finding no section ({NO_SECTION} - {NO_HOOK}): {step(NO_HOOK, NO_SECTION)}")
    print(f"  reading an empty policy ({EMPTY} - {NO_SECTION}): {step(NO_SECTION, EMPTY)}")
    print(f"  what the policy asks for ({EVERY} - {EMPTY}): {step(EMPTY, EVERY)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", default="6.12", choices=build.KERNELS)
    p.add_argument("--flavour", action="append", choices=sorted(build.FLAVOURS),
                   help="guest kernel flavour, repeatable (default: release, then debug with KASAN and lockdep)")
    p.add_argument("--execs", type=int, default=300, help="execs per measurement")
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args(argv)

    flavours = args.flavour or ["release", "debug"]
    for i, flavour in enumerate(flavours):
        release, results = run_flavour(args.kernel, flavour, args.execs, args.rounds)
        if i:
            print()
        report(release, flavour, args.execs, args.rounds, results)
    print("note: TCG-emulated guest; compare ratios, not absolute times")
    return 0


if __name__ == "__main__":
    sys.exit(main())
