"""`make bench` keeps working: a tiny run prints the table (no timing is asserted)."""

from __future__ import annotations

import importlib.util

import pytest

from ..conftest import REPO


def test_exec_overhead_bench_runs(guest_art, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("exec_overhead", REPO / "scripts" / "bench" / "exec_overhead.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--kernel", guest_art.kernel_series, "--execs", "5", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    for case in ("no hook registered", "hook, no section", "hook, with section"):
        assert case in rows, out
    assert rows["no hook registered"].split()[-2] == "1.000"
