"""`sorto scratchpad-list` on inputs that need no kernel build.

The rules against a real vmlinux.o, and the list a real kernel links, are
in tests/qemu/test_scratchlist.py.  Here: where the policies come from
(files, folders, executables that carry a section), how sizes are read,
and bad input named by file and line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sorto import scratchlist
from sorto.errors import SortoError

MAP = """\
c0100000 T _text
c0100100 T __sched_text_start
c0100100 T __schedule
c0100200 T schedule
c0100300 T __sched_text_end
c0100300 T fast_path
c0100340 t slow_path
c0100400 W weak_path
c0100500 T huge_path
c0108500 T _sinittext
c0108500 T start_kernel
c0109000 T _einittext
"""


def sorto(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sorto", *args], capture_output=True, text=True, check=False)


def policy(path: Path, entries: dict[str, int]) -> Path:
    path.write_text("version: 1\nscratchpad:\n" + "".join(f"  - {{function: {n}, weight: {w}}}\n"
                                                           for n, w in entries.items()))
    return path


def test_system_map_sizes_and_refusals(tmp_path: Path) -> None:
    smap = tmp_path / "System.map"
    smap.write_text(MAP)
    k = scratchlist.read_kernel(smap)
    assert k.kind == "System.map"
    assert (k.lookup("fast_path").size, k.lookup("slow_path").size, k.lookup("huge_path").size) == (0x40, 0xC0, 0x8000)
    assert k.lookup("schedule").refused == scratchlist.why_range_checked(".sched.text")
    assert k.lookup("start_kernel").refused == scratchlist.WHY_INIT
    assert k.lookup("weak_path").refused == scratchlist.WHY_UNKNOWN  # nm type W: the check does not see it
    assert not k.lookup("fast_path").checked


def test_weights_sum_over_policies_and_fit_by_density(tmp_path: Path, arm_hello: Path) -> None:
    smap = tmp_path / "System.map"
    smap.write_text(MAP)
    pols = tmp_path / "pols"
    (pols / "sub").mkdir(parents=True)
    policy(pols / "a.yaml", {"fast_path": 100, "huge_path": 900000, "schedule": 5})
    policy(pols / "sub" / "b.yml", {"fast_path": 200, "slow_path": 250})
    # A marked executable counts as its policy.
    marked = tmp_path / "marked"
    pb = policy(tmp_path / "c.yaml", {"slow_path": 50, "no_such": 7})
    assert sorto("inject", str(arm_hello), "--policy", str(pb), "-o", str(marked), "-q").returncode == 0
    out = tmp_path / "sram.list"
    proc = sorto("scratchpad-list", "-k", str(smap), "--size", "4K", "-o", str(out), str(pols), str(marked),
                 str(arm_hello))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    names = scratchlist.list_names(text)
    # huge_path is densest but larger than the SRAM; fast_path and slow_path weigh 300 each (two programs).
    assert names == ["fast_path", "slow_path"]
    assert "fast_path  # weight 300, 64 bytes, 2 programs" in text
    assert "# left out: huge_path: does not fit: 32768 bytes, 4096 left" in text
    assert "# left out: schedule: is in .sched.text, whose addresses are range-checked" in text
    assert "# left out: no_such: no such function in this kernel" in text
    assert "cannot tell assembly from C" in text
    assert "2 of 5 functions, 256 of 4096 bytes" in proc.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["--size", "3000"], "must be a positive multiple of 4096"),
    (["--size", "lots"], "not a size"),
])
def test_bad_sizes(tmp_path: Path, args: list[str], says: str) -> None:
    smap = tmp_path / "System.map"
    smap.write_text(MAP)
    proc = sorto("scratchpad-list", "-k", str(smap), *args, str(policy(tmp_path / "p.yaml", {"fast_path": 1})))
    assert proc.returncode == 2 and says in proc.stderr


def test_bad_inputs_named_and_no_output_left(tmp_path: Path) -> None:
    smap = tmp_path / "System.map"
    smap.write_text(MAP + "c0109000 T\n")
    p = policy(tmp_path / "p.yaml", {"fast_path": 1})
    out = tmp_path / "sram.list"
    proc = sorto("scratchpad-list", "-k", str(smap), "-o", str(out), str(p))
    assert proc.returncode == 2 and f"{smap}:13: not a System.map line" in proc.stderr
    assert not out.exists()
    smap.write_text(MAP)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nscratchpad:\n  - {function: x, weight: -1}\n")
    proc = sorto("scratchpad-list", "-k", str(smap), "-o", str(out), str(bad))
    assert proc.returncode == 2 and f"{bad}:3:" in proc.stderr and not out.exists()
    proc = sorto("scratchpad-list", "-k", str(tmp_path / "nope"), str(p))
    assert proc.returncode == 2 and "nope" in proc.stderr
    with pytest.raises(SortoError, match="not valid YAML|no such policy"):
        scratchlist.gather([tmp_path / "missing.yaml"])


def test_names_the_kernel_would_refuse() -> None:
    k = scratchlist.KernelText(Path("x"), "System.map", {"hot": scratchlist.KernelFunction(size=4)})
    d = scratchlist.fit([scratchlist.Wish("hot", 1), scratchlist.Wish("a b", 1)], k, 4096)
    assert [x.why for x in d] == ["would clash with the compiler's .text.hot section", "is not a C function name"]
