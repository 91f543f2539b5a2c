"""The QEMU plugins: kfetch in a real guest, counts that follow the program, and where QEMU read the block from.

The plugin is built against the installed QEMU's header (sorto.plugins.build)
and loaded into the scratchpad guest (-M vexpress-a15, one vCPU).  Checked:

* the per-function counts follow the program: ``syscall_hammer getppid N``
  makes sys_getppid's fetches exactly proportional to N, and zero for N = 0;
* two independent counts agree: the plugin's inline counter for the block's
  address range and the per-block counts symbolized with System.map;
* the block's instructions come from other host memory than the rest of the
  kernel text only when the block is resident (QEMU's own account, see
  ``kfetch.host_offsets``), and from the same memory without SRAM.

Without a guest, both plugins (kfetch and the kcache L1I model) run the
static hello in qemu-arm (user mode): they must count the same instructions
in every window, and refuse bad arguments by name.

No timing is asserted: the numbers are in ``make bench``
(scripts/bench/scratchpad_effect.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from sorto.guest import build
from sorto.guest.harness import Guest
from sorto.plugins import build as pbuild
from sorto.plugins import kfetch as kf

PARAM = build.SCRATCHPAD_PARAM


class Booted:
    """A scratchpad guest under the kfetch plugin, with the block's range counted."""

    def __init__(self, art, append: str, work: Path) -> None:
        self.smap = kf.SystemMap(art.system_map)
        self.block = (self.smap.addr["__scratchpad_text_start"], self.smap.addr["__scratchpad_text_end"])
        self.text = (self.smap.addr["_stext"], self.smap.addr["_etext"])
        self.work = work
        args, outfiles = kf.boot_args(art, self.smap, self.work, [self.block])
        self.guest = Guest(art.zimage, art.initramfs, self.work / "console.log", append=append, smp=1,
                           machine=art.machine, dtb=art.dtb, extra_args=args, boot_timeout=600)
        self.state = kf.read_scratchpad(self.guest)
        self.windows = kf.Windows(self.guest, outfiles)

    def window(self, cmd: str) -> kf.Report:
        _out, (rep,) = self.windows.run(cmd)
        return rep


def booted(art, append: str, work: Path) -> Iterator[Booted]:
    b = Booted(art, append, work)
    try:
        yield b
        assert not b.guest.kernel_problems(), b.guest.tail()
    finally:
        b.guest.close()


@pytest.fixture(scope="module")
def resident(scratch_art, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booted]:
    yield from booted(scratch_art, PARAM, tmp_path_factory.mktemp("kfetch-resident"))


@pytest.fixture(scope="module")
def no_sram(scratch_art, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booted]:
    yield from booted(scratch_art, "", tmp_path_factory.mktemp("kfetch-no-sram"))


def test_getppid_fetches_follow_the_calls(resident: Booted) -> None:
    got = {}
    for n in (0, 2000, 6000):
        rep = resident.window(f"/usr/bin/syscall_hammer getppid {n} >/dev/null")
        got[n] = kf.function_fetches(rep, resident.smap).get("sys_getppid", 0)
    assert got[0] == 0, got
    assert got[2000] > 0 and got[2000] % 2000 == 0, got
    assert got[6000] == 3 * got[2000], got


def test_block_is_read_from_sram_when_resident(resident: Booted) -> None:
    assert resident.state["state"] == "resident" and resident.state["block"] == resident.block
    lo, hi = resident.block
    rep = resident.window("/usr/bin/syscall_hammer getppid 3000 >/dev/null")
    ranged = rep.ranges[resident.block][0]
    per_function = kf.function_fetches(rep, resident.smap)
    in_block = sum(n for f, n in per_function.items() if f in resident.smap.addr and lo <= resident.smap.addr[f] < hi)
    assert ranged == in_block > 3000 * 2, (ranged, in_block)
    inside, other = kf.host_offsets(rep, lo, hi, resident.text)
    assert sum(inside.values()) == ranged
    assert len(other) == 1 and len(inside) == 1 and set(inside).isdisjoint(other), (inside, other)


def test_block_is_read_from_dram_without_sram(no_sram: Booted) -> None:
    assert no_sram.state["state"] == "no-sram"
    lo, hi = no_sram.block
    rep = no_sram.window("/usr/bin/syscall_hammer getppid 3000 >/dev/null")
    inside, other = kf.host_offsets(rep, lo, hi, no_sram.text)
    assert sum(inside.values()) == rep.ranges[no_sram.block][0] > 3000 * 2
    assert len(other) == 1 and set(inside) == set(other), (inside, other)


def _symbol(elf: Path, name: str) -> tuple[int, int]:
    """(address, size) of a function in an unstripped ARM executable."""
    with open(elf, "rb") as fh:
        (sym,) = ELFFile(fh).get_section_by_name(".symtab").get_symbol_by_name(name)
        return sym["st_value"] & ~1, sym["st_size"]


@pytest.fixture(scope="module")
def hello_static() -> Path:
    """The guest's static hello (no kernel needed)."""
    return build.guest_programs() / "hello-static"


def _qemu_user(plugins: list[list[str]], prog: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-arm", *(a for p in plugins for a in p), str(prog)], capture_output=True, text=True,
                          check=False, timeout=120)


def test_plugins_agree_on_every_window_in_qemu_user(hello_static: Path, tmp_path: Path) -> None:
    """Both plugins, loaded together into qemu-arm (user mode) on the static hello, count the same
    instructions in each window: kernel/user by kbase, the range of main, the window main's first
    block ends (mark), and the one after it until exit; kcache's set file of the same range too."""
    main_lo, main_size = _symbol(hello_static, "main")
    common = {"kbase": hex(main_lo), "mark": hex(main_lo), "range": [kf.hex_range(main_lo, main_lo + main_size)]}
    outs = {n: tmp_path / f"{n}.txt" for n in ("kfetch", "kcache")}
    setfile = tmp_path / "set.txt"  # main again, split and overlapping: kcache merges the lines
    setfile.write_text(f"{main_lo:x} {main_lo + 8:x}\n{main_lo + 4:x} {main_lo + main_size:x}\n")
    extra = {"kfetch": {}, "kcache": {"setfile": str(setfile)}}
    run = _qemu_user([kf.plugin_arg(pbuild.build_plugin(n), outfile=str(o), **common, **extra[n])
                      for n, o in outs.items()], hello_static)
    assert run.returncode == 0 and run.stdout.startswith("hello "), run.stdout + run.stderr

    windows = {}
    for n, out in outs.items():
        mark = Path(f"{out}.mark1")
        assert mark.read_text().startswith(f"# {n} window ending at mark 1\n")
        assert out.read_text().startswith(f"# {n} window after the last mark, until exit\n")
        assert not Path(f"{out}.mark2").exists()  # main's first block ran once
        windows[n] = [kf.parse_report(p) for p in (mark, out)]
    rng = (main_lo, main_lo + main_size)
    for fetch, cache in zip(windows["kfetch"], windows["kcache"], strict=True):
        assert (fetch.kernel_insns, fetch.user_insns) == (cache.kernel_insns, cache.user_insns)
        assert fetch.ranges[rng][0] == cache.ranges[rng][0]
        lookups, misses = cache.ranges[rng][1:]
        assert misses <= lookups <= cache.ranges[rng][0]
        assert cache.set == cache.ranges[rng]
    before, after = windows["kfetch"]
    # Start-up ran before main; libc's code lies above main in the static link, _init below it.
    assert before.kernel_insns > 1000 and before.user_insns > 0
    assert after.ranges[rng][0] > 0 and after.kernel_insns > 0  # the rest of main, then exit


@pytest.mark.parametrize("name", ["kfetch", "kcache"])
@pytest.mark.parametrize("arg", ["bogus=1", "kbase=zz", "range=0x20-0x10", "range=0x10", "mark=",
                                 ",".join(f"range={i}-{i + 1}" for i in range(17))])
def test_plugin_refuses_a_bad_argument(name: str, arg: str, hello_static: Path) -> None:
    run = _qemu_user([["-plugin", f"{pbuild.build_plugin(name)},{arg}"]], hello_static)
    bad = arg.rsplit(",", 1)[-1]
    assert run.returncode != 0 and f"{name}: bad argument '{bad}'" in run.stderr, run.stderr
    assert "hello" not in run.stdout


def test_kcache_refuses_a_bad_geometry(hello_static: Path) -> None:
    run = _qemu_user([["-plugin", f"{pbuild.build_plugin('kcache')},iassoc=3"]], hello_static)
    assert run.returncode != 0 and "kcache: bad cache geometry" in run.stderr, run.stderr
