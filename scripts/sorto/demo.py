"""``make demo``: the loop closes by itself on a real-time workload we did not write.

Runs ``sorto optimize`` in the QEMU guest on Debian's ``cyclictest`` (rt-tests,
armhf) beside ``hackbench`` from the same package and a device interrupt
source (a reader of the virtio RNG, whose interrupt is threaded under
``threadirqs``): profile, analyze, inject, then cyclictest's latencies
without metadata, with the hand tuning people use today (``chrt -f 80
taskset -c 0``) and with metadata, interleaved in one boot, and the kernel's
action lines.  The guest runs with ``-icount``: its clock follows executed
instructions, so the host's own load does not show up as guest latency.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from . import optimize
from .errors import SortoError
from .guest import build
from .optimize import summary

#: What the demo measures: 1 ms period, 500 loops, summary lines only (-q).
COMMAND = ["cyclictest", "-q", "-i", "1000", "-l", "500"]
# hackbench runs until it is stopped (a load that exec'd in a loop would push the application's
# record out of the module's ring of 32), over pipes (-p: the guest kernel has no AF_UNIX).
LOADS = ["hackbench -p -g 2 -l 1000000", "cat /dev/hwrng"]
BASELINES = ["chrt -f 80 taskset -c 0"]
MODULE_ARGS = "irq_allow=virtio0"
#: Runs of each --tune candidate (the policy alone, and with the marked hackbench) before the measured rounds.
TUNE = 3
QEMU_ARGS = ["-device", "virtio-rng-device"]


def options(out: Path, rounds: int, progress: bool = True, tune: int = TUNE) -> optimize.Options:
    """The demo's run of the loop (also what tests/qemu/test_optimize.py runs, with fewer rounds)."""
    return optimize.Options(argv=list(COMMAND), out=out, rounds=rounds, loads=list(LOADS), baselines=list(BASELINES),
                            module_args=MODULE_ARGS, progress=progress, tune=tune)


def target(series: str, progress: bool = True) -> optimize.QemuTarget:
    return optimize.QemuTarget(kernel=series, qemu_args=list(QEMU_ARGS), progress=progress)


def run(series: str, out: Path, rounds: int, opts: optimize.Options | None = None) -> int:
    """Run the demo's loop (``opts``: the demo's options unless a test changes them) and print its summary."""
    if (out / "results.json").is_file():
        shutil.rmtree(out)  # the previous demo's output
    opts = opts or options(out, rounds)
    print(f"== sorto optimize --qemu --kernel {series} --rounds {opts.rounds} --tune {opts.tune} --load '{LOADS[0]}' "
          f"--load '{LOADS[1]}' --baseline '{BASELINES[0]}' --module-args {MODULE_ARGS} -- {' '.join(COMMAND)}",
          flush=True)
    res = optimize.run(target(series), opts)
    print("\n== what changed")
    print(summary.words(res))
    print("\n== every side, min / median / max over the rounds")
    print(summary.table(res))
    print("\n== what the kernel did at exec (sorto_hook action lines)")
    print(summary.actions(res))
    print(f"\n== {out}/report.html (charts, both traces side by side), results.json, policy.json, "
          "policy-hackbench.json, bin/ (the marked copies)")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m sorto.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", default="6.12", choices=build.KERNELS)
    p.add_argument("--rounds", type=int, default=5, help="runs of each side (default 5)")
    p.add_argument("--out", type=Path, default=Path("demo-output"),
                   help="output folder (default ./demo-output; a previous demo's is replaced)")
    args = p.parse_args(argv)
    try:
        return run(args.kernel, args.out, args.rounds)
    except SortoError as exc:
        print(f"sorto demo: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
