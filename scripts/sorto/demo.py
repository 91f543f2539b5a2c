"""``make demo``: the kernel path end to end in a QEMU guest.

Builds (or reuses) the test guest, injects ``examples/demo-policy.yaml`` into
a demo program, boots the patched kernel, loads sorto_hook, runs the program
and prints what the module received (and what it applied) next to ``sorto show`` of the same file,
then says whether the two agree.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from . import codec, elfsection, hookfs, policy, render
from .errors import SortoError
from .guest import build
from .guest.harness import Guest

DBG = "/sys/kernel/debug/sorto_hook"


def run(series: str, policy_file: Path, keep: Path | None) -> int:
    art = build.build_guest(series)
    work = keep or Path(tempfile.mkdtemp(prefix="sorto-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    demo = work / "demo"
    pol = policy.load(policy_file)
    elfsection.write_section(art.programs / "hello-dyn-pie", codec.encode(pol), demo)
    shown = codec.decode(elfsection.read_section(demo))
    extra = build.payload_cpio(art, {"/usr/bin/demo": demo}, work / "demo.cpio.gz")
    log = work / "console.log"
    print(f"== booting Linux {art.release} (console log: {log})")
    with Guest(art.zimage, [art.initramfs, extra], log) as g:
        print(g.check("insmod /lib/modules/sorto_hook.ko; lsmod | grep sorto_hook").rstrip())
        print("== running /usr/bin/demo in the guest")
        print(g.check("/usr/bin/demo from-the-demo").rstrip())
        stats = g.check(f"cat {DBG}/stats")
        raw = g.check(f"cat {DBG}/records")
        recs = hookfs.parse_records(raw)
    print("== what the kernel module received (debugfs records)")
    mine = [r for r in recs if r.file == "/usr/bin/demo"]
    if not mine:
        print("no record for /usr/bin/demo", file=sys.stderr)
        return 1
    rec = mine[-1]
    blocks = raw.split("\nend\n")
    print(next(b for b in blocks if f"file={rec.file} " in b and f"seq={rec.seq} " in b).strip() + "\nend")
    print(f"== sorto show {demo.name} (host side, same file)")
    print(render.text(shown, demo.name, len(elfsection.read_section(demo))))
    print("== module counters")
    print(stats.rstrip())
    same = rec.policy == shown
    print(f"== kernel record {'EQUALS' if same else 'DIFFERS FROM'} `sorto show --json {demo}`")
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m sorto.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", default="6.12", choices=build.KERNELS)
    p.add_argument("--policy", type=Path, default=build.REPO / "examples" / "demo-policy.yaml")
    p.add_argument("--keep", type=Path, help="folder for the demo binary and console log")
    args = p.parse_args(argv)
    try:
        return run(args.kernel, args.policy, args.keep)
    except SortoError as exc:
        print(f"sorto demo: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
