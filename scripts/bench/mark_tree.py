#!/usr/bin/env python3
"""Marking an image's executables: ms per executable, ours against a plain objcopy loop.

The tree is the ELF executables of Debian armhf packages this project did not
write (busybox-static, hello, strace, util-linux, rt-tests: the guest's .debs
that ``make deps`` downloads).  Each round copies the tree afresh (not timed)
and marks it three ways, in rotated order so no side always runs first on a
warm cache:

- ``objcopy loop``: one ``arm-linux-gnueabihf-objcopy --add-section`` per file,
  the least any marking can cost with the toolchain's objcopy;
- ``sorto inject per file``: one ``sorto inject`` process per file, what the
  layer's class did before ``inject-many``;
- ``inject_tree``: the layer's own function (Yocto class and Buildroot
  post-build script), one ``sorto inject-many`` process for the tree.

Prints min and median ms per executable over the rounds, and each side's ratio
to the objcopy loop.  Also the start-up of ``sorto --version`` and ``sorto
show``, min and median of repeated runs.  A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sorto import codec, policy
from sorto.guest import build

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "meta-sorto" / "lib"))
from sorto_layer import package  # noqa: E402  (the layer's library, not an installed package)

PACKAGES = ("busybox-static", "hello", "strace", "util-linux", "rt-tests")
OBJCOPY = "arm-linux-gnueabihf-objcopy"
SORTO = [sys.executable, "-m", "sorto"]


def unpack(dest: Path) -> Path:
    """Unpack the packages into ``dest``/root; return it."""
    debs = build.cache_root() / "guest" / "debs"
    root = dest / "root"
    root.mkdir(parents=True)
    for name in PACKAGES:
        found = sorted(debs.glob(f"{name}_*_armhf.deb"))
        if not found:
            sys.exit(f"mark_tree: {name}:armhf not downloaded in {debs}: run 'make deps'")
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(root)], check=True)
    return root


def executables(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink() and os.access(p, os.X_OK):
            with p.open("rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    out.append(p)
    return out


def objcopy_loop(files: list[Path], blob: Path) -> None:
    for f in files:
        tmp = f.with_name(f.name + ".tmp")
        subprocess.run([OBJCOPY, "--add-section", f".elf_hook_module_data={blob}", "--set-section-flags",
                        ".elf_hook_module_data=readonly,contents", str(f), str(tmp)], check=True)
        os.replace(tmp, f)


def inject_per_file(files: list[Path], pol: Path) -> None:
    for f in files:
        subprocess.run([*SORTO, "inject", str(f), "--policy", str(pol), "--objcopy", OBJCOPY, "-q"], check=True)


def inject_tree(root: Path, pol: Path) -> None:
    cfg = package.Config(machine=40, objcopy=OBJCOPY, default_policy=pol, sorto=str(Path(sys.executable).parent
                                                                                  / "sorto"))
    report = package.inject_tree(root, cfg)
    if not report.marked:
        raise RuntimeError("inject_tree marked nothing")


def startup(args: list[str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "sorto"), *args], capture_output=True, check=True)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--starts", type=int, default=20, help="runs of each start-up measurement")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sorto-bench-mark-"))
    try:
        pristine = unpack(work / "pristine")
        n = len(executables(pristine))
        pol = REPO / "tests" / "data" / "every-field-policy.yaml"
        blob = work / "record.bin"
        blob.write_bytes(codec.encode(policy.load(pol)))
        sides = {
            "objcopy loop": lambda root: objcopy_loop(executables(root), blob),
            "sorto inject per file": lambda root: inject_per_file(executables(root), pol),
            "inject_tree (inject-many)": lambda root: inject_tree(root, pol),
        }
        names = list(sides)
        times: dict[str, list[float]] = {s: [] for s in names}
        for r in range(args.rounds):
            for s in names[r % len(names):] + names[:r % len(names)]:
                root = work / "run"
                shutil.rmtree(root, ignore_errors=True)
                shutil.copytree(pristine, root, symlinks=True)
                t = time.perf_counter()
                sides[s](root)
                times[s].append((time.perf_counter() - t) * 1000 / n)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

        marked = work / "marked"
        shutil.copy2(executables(pristine)[0], marked)
        subprocess.run([*SORTO, "inject", str(marked), "--policy", str(pol), "-q", "--objcopy", OBJCOPY], check=True)
        starts = {"sorto --version": startup(["--version"], args.starts),
                  "sorto show": startup(["show", str(marked)], args.starts)}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = statistics.median(times["objcopy loop"])
    print(f"\nMarking {n} ARM executables of Debian armhf packages ({', '.join(PACKAGES)}), "
          f"{args.rounds} rounds, {os.cpu_count()} CPUs")
    print(f"{'side':<28} {'ms/exe min':>10} {'median':>8} {'x objcopy loop':>15}")
    for s in names:
        med = statistics.median(times[s])
        print(f"{s:<28} {min(times[s]):>10.1f} {med:>8.1f} {med / base:>15.2f}")
    print(f"\n{'start-up':<28} {'ms min':>10} {'median':>8}")
    for s, v in starts.items():
        print(f"{s:<28} {min(v):>10.1f} {statistics.median(v):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
