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
    assert mod.main(["--size-mb", "2", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line[:28].strip(): line[28:].split() for line in out.splitlines()}
    ours, naive = rows["sorto parse (streaming)"], rows["naive regex, all in memory"]
    # Both parsers read every function line of the same file.
    assert ours[0] == naive[0] and int(ours[0]) > 20000, out
    assert "ratio sorto/naive" in rows
    assert list(tmp_path.iterdir()) == []  # the big log is removed
