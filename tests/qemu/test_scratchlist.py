"""`sorto scratchpad-list` against a real kernel build.

The list the tool writes must be one the kernel build accepts: every
function it refuses, the kernel's own post-link check refuses for the same
reason, and a list it fits into N bytes links into a block of at most N
bytes with every function inside, on a copy of the scratchpad guest's
build tree relinked the way the Yocto kernel recipe does (objects built with
an empty list, then the chosen list, then a relink).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from sorto import scratchlist
from sorto.guest import build


def kernel_check(tree: Path, listed: Path, vmlinux: Path, size: int) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(tree / "arch/arm/tools/scratchpad.sh"), "check", str(listed),
                           f"{build.CROSS}nm", str(vmlinux), hex(size)], capture_output=True, text=True, check=False)


def functions_by_section(vmlinux_o: Path) -> dict[str, list[str]]:
    """Global and local STT_FUNC names of vmlinux.o per section, independent of the tool's reader."""
    out: dict[str, list[str]] = {}
    with vmlinux_o.open("rb") as fh:
        elf = ELFFile(fh)
        names = [elf.get_section(i).name for i in range(elf.num_sections())]
        for sym in elf.get_section_by_name(".symtab").iter_symbols():
            if sym["st_info"]["type"] != "STT_FUNC" or not isinstance(sym["st_shndx"], int) or not sym.name:
                continue
            if sym["st_info"]["bind"] == "STB_WEAK":
                out.setdefault("weak", []).append(sym.name)
            else:
                out.setdefault(names[sym["st_shndx"]], []).append(sym.name)
    return out


def policy_file(path: Path, weights: dict[str, int]) -> Path:
    lines = ["version: 1", "scratchpad:"] + [f"  - {{function: '{n}', weight: {w}}}" for n, w in weights.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_refusals_match_the_kernel_check(scratch_art, tmp_path: Path) -> None:
    """Every reason the tool gives is the one the kernel build gives, name by name."""
    tree = scratch_art.kernel_tree
    by_sec = functions_by_section(tree / "vmlinux.o")
    rng = random.Random(11)
    names: list[str] = []
    for sec in (".sched.text", ".spinlock.text", ".entry.text", ".irqentry.text", ".init.text", ".text"):
        pool = sorted(set(by_sec.get(sec, [])))
        assert pool, sec
        names += rng.sample(pool, min(4, len(pool)))
    names += ["no_such_function_x", "schedule", "vector_swi", "start_kernel"]
    weak = set(by_sec["weak"])
    names = [n for n in dict.fromkeys(names) if n not in weak]
    kernel = scratchlist.read_kernel(tree / "vmlinux.o")
    ours = {n: kernel.lookup(n).refused for n in names}
    assert all(ours.values()), {n: w for n, w in ours.items() if not w}
    listed = tmp_path / "refused.list"
    listed.write_text("\n".join(names) + "\n")
    proc = kernel_check(tree, listed, tree / "vmlinux", 0x10000)
    assert proc.returncode == 1
    theirs: dict[str, str] = {}
    for ln in proc.stderr.splitlines():
        m = re.match(rf"{re.escape(str(listed))}: (\S+?)(?: cannot move: it |: )(.*)$", ln)
        if m:
            theirs[m.group(1)] = m.group(2)
    assert theirs == ours
    # A weak function: the check looks up nm types t/T only, so it calls a
    # listed weak function unknown; the tool leaves it out and says why.
    name = sorted(weak - {n for sec, ns in by_sec.items() if sec != "weak" for n in ns})[0]
    assert kernel.lookup(name).refused == scratchlist.WHY_WEAK
    listed.write_text(name + "\n")
    proc = kernel_check(tree, listed, tree / "vmlinux", 0x10000)
    assert f"{name}: no such function in this kernel" in proc.stderr


@pytest.fixture(scope="module")
def stage1(scratch_art, tmp_path_factory):
    """A copy of the scratchpad build relinked with an empty list and 16 KiB (stage 1 of the recipe)."""
    d = tmp_path_factory.mktemp(f"relink-{scratch_art.kernel_series}")
    empty = d / "sram.list"
    empty.write_text("")
    yield build.relink_scratchpad(scratch_art, empty, d, size=0x4000), empty
    shutil.rmtree(d, ignore_errors=True)


def test_chosen_list_links_and_fits(stage1, tmp_path: Path) -> None:
    """Many candidates, 16 KiB: the list fills it, the kernel links it, nothing falls out."""
    art, listed = stage1
    tree = art.kernel_tree
    syms = dict((a.split()[2], int(a.split()[0], 16)) for a in (tree / "System.map").read_text().splitlines())
    assert syms["__scratchpad_text_start"] == syms["__scratchpad_text_end"], "stage 1 must link an empty block"
    kernel = scratchlist.read_kernel(tree / "vmlinux.o")
    # The scratchpad's own code grows with the list's names table: never chosen.
    assert kernel.lookup("arm_scratchpad_lookup").refused == scratchlist.WHY_SELF
    movable = sorted(n for n, f in kernel.functions.items() if not f.refused and f.size)
    rng = random.Random(5)
    pick = rng.sample(movable, 600)
    # Policies of 32 entries (the format's limit), overlapping by half.
    pols = tmp_path / "policies"
    pols.mkdir()
    for i in range(0, len(pick) - 16, 16):
        policy_file(pols / f"p{i:03d}.yaml", {n: rng.randint(1, 50000) for n in pick[i:i + 32]})
    proc = subprocess.run([sys.executable, "-m", "sorto", "scratchpad-list", "-k", str(tree / "vmlinux.o"),
                           "--size", "16K", "-o", str(listed), str(pols)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    placed = scratchlist.list_names(listed.read_text())
    assert 10 < len(placed) < 600
    assert "does not fit" in listed.read_text()
    used = int(re.search(r"(\d+) of 16384 bytes", listed.read_text()).group(1))
    assert 16384 - 4096 < used <= 16384
    build.relink_scratchpad(art, listed, tree.parent, size=0x4000)
    assert "CHKSP   vmlinux" in (tree.parent / "relink.log").read_text()
    syms = {}
    for ln in (tree / "System.map").read_text().splitlines():
        addr, _, name = ln.split()
        syms.setdefault(name, int(addr, 16))
    start, end = syms["__scratchpad_text_start"], syms["__scratchpad_text_end"]
    # The tool counts worst-case padding, so the block may come out smaller.
    assert used - 4096 < end - start <= 16384
    for name in placed:
        assert start <= syms[name] < end, name


def test_empty_list_kernel_is_the_kernel_without_the_feature(release_art, tmp_path: Path) -> None:
    """Patches 7 and 8 with no list change no byte of vmlinux: the release guest's tree (the series applied,
    CONFIG_ARM_SCRATCHPAD_FUNCTIONS empty) built reproducibly, then again with both patches reverted."""
    tree = tmp_path / "linux"
    subprocess.run(["cp", "-a", str(release_art.kernel_tree), str(tree)], check=True)
    make = ["make", "-C", str(tree), "ARCH=arm", f"CROSS_COMPILE={build.CROSS}", "-j2",
            "KBUILD_BUILD_TIMESTAMP=2026-01-01", "KBUILD_BUILD_USER=sorto", "KBUILD_BUILD_HOST=sorto",
            "KBUILD_BUILD_VERSION=1"]
    assert 'CONFIG_ARM_SCRATCHPAD_FUNCTIONS=""' in (tree / ".config").read_text()
    subprocess.run([*make, "vmlinux"], check=True, capture_output=True)
    with_patches = (tree / "vmlinux").read_bytes()
    series = build.PATCH_ROOT / release_art.kernel_series
    for n in ("0008", "0007"):
        (patch,) = series.glob(f"{n}-*.patch")
        subprocess.run(["patch", "-R", "-p1", "--batch", "-i", str(patch)], cwd=tree, check=True, capture_output=True)
    assert not (tree / "arch/arm/kernel/scratchpad.c").exists()
    subprocess.run([*make, "olddefconfig"], check=True, capture_output=True)
    rebuilt = subprocess.run([*make, "vmlinux"], check=True, capture_output=True, text=True).stdout
    # The files the patches touch were compiled again, and vmlinux linked again.
    assert "arch/arm/mm/init.o" in rebuilt and "arch/arm/kernel/patch.o" in rebuilt and "LD      vmlinux" in rebuilt
    without = (tree / "vmlinux").read_bytes()
    assert "ARM_SCRATCHPAD" not in (tree / ".config").read_text()
    differ = [i for i in range(min(len(with_patches), len(without))) if with_patches[i] != without[i]][:10]
    assert len(with_patches) == len(without) and not differ, f"first differing offsets: {differ}"
