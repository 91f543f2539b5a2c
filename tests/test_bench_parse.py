"""`make bench`'s parse throughput benchmark keeps working: a small run prints its table (no speed asserted)."""

from __future__ import annotations

import importlib.util

import pytest

from .conftest import REPO


def test_parse_throughput_bench_runs(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = REPO / "scripts" / "bench" / "parse_throughput.py"
    spec = importlib.util.spec_from_file_location("parse_throughput", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--size-mb", "2", "--flat-mb", "1", "--repeats", "2", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():  # the table first; the ratio lines below it reuse the side names
        rows.setdefault(line[:36].strip(), line[36:].split())
    ours, ref, naive, grep = (rows[mod.OURS], rows[mod.REFERENCE], rows[mod.NAIVE_NAME], rows[mod.GREP])
    # Every side reads every function line of the same file, and both engines write the same table.
    assert ours[0] == ref[0] == naive[0] == grep[0] and int(ours[0]) > 20000, out
    assert "byte-identical: yes" in out
    assert f"{mod.OURS} --engine fast, 1 MB" in rows
    assert "ratios to 'sorto parse' within each round" in out
    assert list(tmp_path.iterdir()) == []  # the big log is removed
