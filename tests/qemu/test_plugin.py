"""The kfetch plugin in a real guest: counts that follow the program, and where QEMU read the block from.

The plugin is built against the installed QEMU's header (sorto.plugins.build)
and loaded into the scratchpad guest (-M vexpress-a15, one vCPU).  Checked:

* the per-function counts follow the program: ``syscall_hammer getppid N``
  makes sys_getppid's fetches exactly proportional to N, and zero for N = 0;
* two independent counts agree: the plugin's inline counter for the block's
  address range and the per-block counts symbolized with System.map;
* the block's instructions come from other host memory than the rest of the
  kernel text only when the block is resident (QEMU's own account, see
  ``kfetch.host_offsets``), and from the same memory without SRAM.

No timing is asserted: the numbers are in ``make bench``
(scripts/bench/scratchpad_effect.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sorto.guest import build
from sorto.guest.harness import Guest
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
