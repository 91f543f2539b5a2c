"""`make bench` keeps working: a tiny run prints the table (no timing is asserted)."""

from __future__ import annotations

import importlib.util

import pytest

from sorto import scratchlist

from ..conftest import REPO


def load_bench(name: str):
    """Import scripts/bench/NAME.py (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_exec_overhead_bench_runs(release_art, capsys: pytest.CaptureFixture[str]) -> None:
    mod = load_bench("exec_overhead")
    assert mod.main(["--kernel", release_art.kernel_series, "--flavour", "release", "--execs", "5",
                     "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    for case in ("no hook registered", "hook, no section", "hook, empty policy", "hook, every-field policy"):
        assert case in rows, out
    # min ns, median ns, then the ratios of min and median to the no-hook case
    assert rows["no hook registered"].split()[-3:-1] == ["1.000", "1.000"], out
    for step in ("finding no section", "reading an empty policy", "what the policy asks for"):
        assert f"  {step} (" in out, out


def test_exec_overhead_rounds_interleave() -> None:
    mod = load_bench("exec_overhead")
    orders = [mod.round_order(r) for r in range(6)]
    assert all(sorted(o) == sorted(mod.CASES) for o in orders)
    # the module is unloaded first, then last; each hook case leads a round in turn
    assert [o.index(mod.NO_HOOK) for o in orders[:2]] == [0, 3]
    assert {next(c for c in o if c != mod.NO_HOOK) for o in orders} == set(mod.CASES) - {mod.NO_HOOK}


def test_policy_effect_bench_runs(release_art, capsys: pytest.CaptureFixture[str]) -> None:
    mod = load_bench("policy_effect")
    assert mod.main(["--kernel", release_art.kernel_series, "--rounds", "1", "--samples", "20"]) == 0
    out = capsys.readouterr().out
    rows = {line[:30].strip(): line[30:].split() for line in out.splitlines()}
    for metric in ("page faults in timed phase", "wake-up latency median (us)", "wake-up latency p99 (us)",
                   "wake-up latency max (us)"):
        assert metric in rows, out
    # Fault counts do not depend on timing: locked pages take none; no baseline tool locks memory.
    without, baseline, with_meta = rows["page faults in timed phase"][:3]
    assert int(without) >= 1024 and baseline == "n/a" and int(with_meta) == 0, out
    assert all(v.isdigit() for v in rows["wake-up latency median (us)"][:3]), out


def test_scratchpad_effect_bench_runs(scratch_art, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    mod = load_bench("scratchpad_effect")
    listed = tmp_path / "image.list"
    # 2000 calls: with 500, sys_getppid's 4500 fetches ranked 35th in its program's profile, behind the
    # exec and exit work, and the analyzer keeps 32 entries per policy (a CI run failed on it).
    assert mod.main(["--kernel", scratch_art.kernel_series, "--rounds", "1", "--calls", "2000",
                     "--write-list", str(listed)]) == 0
    out = capsys.readouterr().out
    sides = ("no scratchpad", "hand list", "image list, no SRAM", "image list")
    rows = {(line[:40].strip(), line[41:61].strip()): line[61:].split() for line in out.splitlines()
            if line[41:61].strip() in sides}
    hammer = "syscall_hammer getppid 2000 (ours)"
    # Counts, not time: nothing comes from SRAM without it; the hammered path does with it.
    for off, on in (("no scratchpad", "hand list"), ("image list, no SRAM", "image list")):
        assert rows[(hammer, off)][1] == "0.0/0.0", out
        assert float(rows[(hammer, on)][1].split("/")[0]) > 0, out
    # The image list came from the profiles through sorto analyze and scratchpad-list, and linked.
    text = listed.read_text()
    assert "chosen by `sorto scratchpad-list`" in text
    names = scratchlist.list_names(text)
    assert "sys_getppid" in names and len(names) == len(set(names))
