"""Kernel functions run from on-chip SRAM: the scratchpad guest on -M vexpress-a15.

The kernel of the scratchpad flavour links the functions of
scratchpad.list into one page-aligned block and, booted with
``scratchpad=64K@0x2e000000``, maps that block at QEMU's 64 KiB
``vexpress.a15sram``.  What is checked, from outside the kernel's own
claims where possible:

* the page tables (the debugfs readout walks them) point the block's pages
  at the SRAM, and the SRAM holds the same bytes as the DRAM copy, read
  through /dev/mem (mapped: read() refuses addresses below RAM on ARM);
* text patching keeps both copies equal: a kprobe and the function tracer
  on placed functions fire, and while armed both copies show the change;
* without SRAM, or with bad or too small SRAM, the kernel boots, runs the
  block from DRAM and says why;
* the post-link check that the kernel build runs refuses functions that
  cannot move, naming the reason, on the real vmlinux;
* the sorto_hook record of a marked program says, per scratchpad entry of
  its policy, whether the function runs from the SRAM, and why not.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sorto import hookfs, scratchlist
from sorto.guest import build
from sorto.guest.harness import Guest

SRAM = 0x2E000000
PARAM = build.SCRATCHPAD_PARAM


def listed() -> list[str]:
    return scratchlist.list_names(build.SCRATCHPAD_LIST.read_text())


def system_map(art) -> dict[str, int]:
    out: dict[str, int] = {}
    for ln in art.system_map.read_text().splitlines():
        addr, _, name = ln.split()[:3]
        out.setdefault(name, int(addr, 16))
    return out


def readout(g: Guest) -> dict:
    """Parse /sys/kernel/debug/scratchpad."""
    text = g.check("cat /sys/kernel/debug/scratchpad")
    info: dict = {"functions": {}, "pages": {}}
    for ln in text.splitlines():
        f = ln.split()
        if not f:
            continue
        if f[0] == "state":
            info["state"] = f[1]
        elif f[0] == "block":
            info["block"] = (int(f[1], 16), int(f[2], 16))
        elif f[0] == "function":
            info["functions"][f[1]] = (int(f[2], 16), int(f[3]))
        elif f[0] == "page":
            info["pages"][int(f[1], 16)] = int(f[2], 16)
    return info


#: What the marked hammer's policy asks: two listed functions, one that is
#: not in this kernel's block, and one that no kernel can move.
ASKED = {"sys_getppid": 500000, "__task_pid_nr_ns": 300000, "do_sys_poll": 1000, "schedule": 1000}


@pytest.fixture(scope="module")
def marked(scratch_art, tmp_path_factory) -> Path:
    """syscall_hammer with a policy of scratchpad entries, as a cpio on top of the initramfs."""
    d = tmp_path_factory.mktemp(f"sp-marked-{scratch_art.kernel_series}")
    pol = d / "policy.yaml"
    pol.write_text("version: 1\nscratchpad:\n" +
                   "".join(f"  - {{function: {n}, weight: {w}}}\n" for n, w in ASKED.items()))
    subprocess.run([sys.executable, "-m", "sorto", "inject", str(scratch_art.programs / "syscall_hammer"),
                    "--policy", str(pol), "-o", str(d / "sp-hammer"), "-q"], check=True)
    return build.payload_cpio(scratch_art, {"/usr/bin/sp-hammer": d / "sp-hammer"}, d / "marked.cpio.gz")


def boot(art, tmp_path: Path, append: str, marked: Path) -> Guest:
    return Guest(art.zimage, [art.initramfs, marked], tmp_path / "console.log", append=append,
                 machine=art.machine, dtb=art.dtb)


def scratch_actions(g: Guest) -> dict[str, tuple[str, str, str]]:
    """(applied, result, reason) per function, from the hook's record of the marked hammer."""
    g.check("insmod /lib/modules/sorto_hook.ko 2>/dev/null || true")
    g.check("echo 1 > /sys/kernel/debug/sorto_hook/clear && /usr/bin/sp-hammer getppid 5")
    recs = [r for r in hookfs.parse_records(g.check("cat /sys/kernel/debug/sorto_hook/records"))
            if r.file == "/usr/bin/sp-hammer"]
    assert len(recs) == 1 and recs[0].result == "ok", recs
    assert not recs[0].actions_truncated
    return {a["target"]: (a["applied"], a["result"], a["reason"]) for a in recs[0].actions
            if a["kind"] == "scratchpad"}


def md5(g: Guest, phys: int, length: int) -> str:
    """md5 of ``length`` bytes of physical memory at ``phys``, mapped from /dev/mem by the guest's memdump."""
    out = g.check(f"/usr/bin/memdump {phys:#x} {length} | md5sum")
    return out.split()[0]


def copies(g: Guest, dram: int, length: int) -> tuple[str, str]:
    """md5 of the SRAM and the DRAM copy, read while neither changed.

    The two reads are not atomic: kprobes re-patch a probed function on a
    worker (optimisation into a branch), so the SRAM is read before and after
    the DRAM and the pair is kept only when both SRAM reads agree.
    """
    for _ in range(10):
        first, other, again = md5(g, SRAM, length), md5(g, dram, length), md5(g, SRAM, length)
        if first == again:
            return first, other
    raise AssertionError("the scratchpad block kept changing while it was read")


def dram_of(g: Guest, art, va: int) -> int:
    """Physical DRAM address of kernel virtual address ``va``: /proc/iomem's "Kernel code" starts at _text."""
    iomem = g.check("cat /proc/iomem")
    code = int(re.search(r"^\s*([0-9a-f]+)-[0-9a-f]+ : Kernel code", iomem, re.M).group(1), 16)
    return va - system_map(art)["_text"] + code


@pytest.fixture(scope="module")
def g(scratch_art, marked, tmp_path_factory) -> Iterator[Guest]:
    guest = boot(scratch_art, tmp_path_factory.mktemp("scratchpad"), PARAM, marked)
    try:
        yield guest
        problems = guest.kernel_problems()
        assert not problems, "kernel reported problems:\n" + "\n".join(problems)
    finally:
        guest.close()


def test_block_is_mapped_at_sram(g, scratch_art) -> None:
    info = readout(g)
    assert info["state"] == "resident", info
    start, end = info["block"]
    syms = system_map(scratch_art)
    assert (start, end) == (syms["__scratchpad_text_start"], syms["__scratchpad_text_end"])
    assert start % 4096 == 0 and end % 4096 == 0 and 0 < end - start <= 64 * 1024
    # Every listed function lies in the block, at its System.map address.
    assert set(info["functions"]) == set(listed())
    for name, (addr, size) in info["functions"].items():
        assert addr == syms[name] and start <= addr and addr + size <= end, name
    # The page tables map the block page by page onto the SRAM, in order.
    assert info["pages"] == {va: SRAM + (va - start) for va in range(start, end, 4096)}
    assert "scratchpad" in g.check("cat /proc/iomem")


def test_sram_holds_the_block(g, scratch_art) -> None:
    start, end = readout(g)["block"]
    dram = dram_of(g, scratch_art, start)
    sram, dram_md5 = copies(g, dram, end - start)
    assert sram == dram_md5
    # And the SRAM is not empty: the block's bytes differ from zeros.
    assert md5(g, SRAM, end - start) != g.check(f"head -c {end - start} /dev/zero | md5sum").split()[0]


def test_kprobe_and_ftrace_patch_both_copies(g, scratch_art) -> None:
    start, end = readout(g)["block"]
    dram = dram_of(g, scratch_art, start)
    before = md5(g, SRAM, end - start)
    t = "/sys/kernel/tracing"
    g.check(f"echo 'p:sp __task_pid_nr_ns' > {t}/kprobe_events && echo 1 > {t}/events/kprobes/sp/enable")
    try:
        armed, armed_dram = copies(g, dram, end - start)
        assert armed != before and armed == armed_dram
        g.check("for i in 1 2 3; do sh -c 'echo $PPID' >/dev/null; done")
        hits = int(g.check(f"grep -c ' sp:' {t}/trace || true").strip())
        assert hits >= 3, g.check(f"cat {t}/trace")
    finally:
        g.check(f"echo 0 > {t}/events/kprobes/sp/enable; echo > {t}/kprobe_events; echo > {t}/trace")
    g.check(f"echo sys_getppid > {t}/set_ftrace_filter && echo function > {t}/current_tracer")
    try:
        traced, traced_dram = copies(g, dram, end - start)
        assert traced == traced_dram
        g.check("for i in 1 2 3; do sh -c 'echo $PPID' >/dev/null; done")
        calls = int(g.check(f"grep -c 'sys_getppid' {t}/trace || true").strip())
        assert calls >= 3, g.check(f"cat {t}/trace")
    finally:
        g.check(f"echo nop > {t}/current_tracer; echo > {t}/set_ftrace_filter")
    # Everything disarmed (kprobes unoptimise on a worker): both copies agree again.
    g.check("sleep 1")
    after, after_dram = copies(g, dram, end - start)
    assert after == after_dram


@pytest.mark.parametrize(("append", "state", "says"), [
    ("", "no-sram", "no SRAM given"),
    ("scratchpad=2K@0x2e000000", "sram-too-small", "the SRAM has 2048"),
    ("scratchpad=64K@0x2e000001", "no-sram", 'ignoring "scratchpad=64K@0x2e000001"'),
    ("scratchpad=junk", "no-sram", 'ignoring "scratchpad=junk"'),
])
def test_block_stays_in_dram(scratch_art, marked, tmp_path: Path, append: str, state: str, says: str) -> None:
    with boot(scratch_art, tmp_path, append, marked) as g2:
        info = readout(g2)
        assert info["state"] == state
        assert says in g2.check("dmesg | grep scratchpad")
        start, end = info["block"]
        dram = dram_of(g2, scratch_art, start)
        assert info["pages"] == {va: dram + (va - start) for va in range(start, end, 4096)}
        assert "getppid x50 done" in g2.check("/usr/bin/syscall_hammer getppid 50")
        # The record says why the listed functions do not run from SRAM.
        acts = scratch_actions(g2)
        assert acts["sys_getppid"] == ("dram", "skipped", state), acts
        assert not g2.kernel_problems()


def test_record_says_which_functions_are_resident(g) -> None:
    acts = scratch_actions(g)
    assert acts == {
        "sys_getppid": ("sram", "applied", "resident"),
        "__task_pid_nr_ns": ("sram", "applied", "resident"),
        "do_sys_poll": ("dram", "skipped", "not-in-kernel-list"),
        "schedule": ("dram", "skipped", "not-in-kernel-list"),
    }
    # The hammer is the same program with or without the entries: it ran.
    assert "getppid x5 done" in g.check("/usr/bin/sp-hammer getppid 5")


def test_build_refuses_functions_that_cannot_move(scratch_art, tmp_path: Path) -> None:
    """The post-link check of the kernel build, on this kernel's vmlinux."""
    bad = tmp_path / "bad.list"
    bad.write_text("sys_getppid\nschedule\nvector_swi\nno_such_function_x\nstart_kernel\n")
    tree = scratch_art.kernel_tree
    proc = subprocess.run(["sh", str(tree / "arch/arm/tools/scratchpad.sh"), "check", str(bad),
                           f"{build.CROSS}nm", str(tree / "vmlinux"), "0x10000"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    err = proc.stderr
    assert "schedule cannot move: it is in .sched.text" in err
    assert "vector_swi cannot move" in err
    assert "no_such_function_x: no such function in this kernel" in err
    assert "start_kernel cannot move: it is __init text" in err
    assert "sys_getppid" not in err
    # The real list against an SRAM of half its block (4 KiB on 6.1, 8 KiB on 6.12), then of all of it.
    syms = system_map(scratch_art)
    block = syms["__scratchpad_text_end"] - syms["__scratchpad_text_start"]
    for size, rc in ((block // 2, 1), (block, 0)):
        proc = subprocess.run(["sh", str(tree / "arch/arm/tools/scratchpad.sh"), "check",
                               str(scratch_art.kernel_tree.parent / "scratchpad.list"), f"{build.CROSS}nm",
                               str(tree / "vmlinux"), hex(size)], capture_output=True, text=True, check=False)
        assert proc.returncode == rc, proc.stderr
        if rc:
            assert f"the functions take {block} bytes, more than CONFIG_ARM_SCRATCHPAD_SIZE ({size})" in proc.stderr


def test_bad_list_lines_are_named(scratch_art, tmp_path: Path) -> None:
    bad = tmp_path / "bad.list"
    bad.write_text("ok_name\n\nbad name\nhot\nok_name\n1x\n")
    proc = subprocess.run(["sh", str(scratch_art.kernel_tree / "arch/arm/tools/scratchpad.sh"), "lds", str(bad)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"{bad}:3: one function name per line",
        f"{bad}:4: \"hot\" would clash with the compiler's .text.hot section",
        f"{bad}:5: \"ok_name\" is listed twice (first at line 1)",
        f"{bad}:6: \"1x\" is not a C function name",
    ]
