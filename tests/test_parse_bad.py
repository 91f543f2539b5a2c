"""Bad input for ``sorto parse``: every case gets a clear exit 2 or a flagged, correct partial result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sorto.cli import main

from .test_parse_helpers import DATA


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(["parse", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "e.log").write_text("")
    rc, _, err = run([str(tmp_path / "e.log"), "-o", str(tmp_path / "o")], capsys)
    assert rc == 2 and "e.log: empty file" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_binary_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "g.bin").write_bytes(bytes(range(256)) * 40)
    rc, _, err = run([str(tmp_path / "g.bin"), "-o", str(tmp_path / "o")], capsys)
    assert rc == 2 and "g.bin: binary data" in err


def test_unknown_format_names_file_and_first_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("\nhello world\nnothing to see\n")
    rc, _, err = run([str(tmp_path / "notes.txt"), "-o", str(tmp_path / "o")], capsys)
    assert rc == 2 and "notes.txt" in err and "'hello world'" in err


def _with_bad_line(tmp_path: Path) -> Path:
    lines = (DATA / "strace/tt.txt").read_text().splitlines(keepends=True)
    lines.insert(10, "this is not strace output\n")
    p = tmp_path / "tt_bad.txt"
    p.write_text("".join(lines))
    return p


def test_malformed_line_strict_and_lenient(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _with_bad_line(tmp_path)
    rc, _, err = run([str(p), "-o", str(tmp_path / "o")], capsys)
    assert rc == 2 and f"{p}:11:" in err
    assert not list((tmp_path / "o").glob("*"))  # nothing half-written, no temporary left
    rc, out, _ = run([str(p), "-o", str(tmp_path / "o"), "--lenient", "--json"], capsys)
    res = json.loads(out)[0]
    assert rc == 0 and res["rows"] == 91 and res["skipped"] == 1


def test_truncated_last_line_is_partial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (DATA / "perf/script_cpu_clock.txt").read_text()
    p = tmp_path / "cut.txt"
    p.write_text(text[: len(text) - 40])  # cut inside the last sample line
    rc, out, _ = run([str(p), "-o", str(tmp_path / "o"), "--json"], capsys)
    res = json.loads(out)[0]
    assert rc == 0 and res["rows"] == 168 and res["partial"] is True and res["skipped"] == 1


def test_summary_without_total_is_partial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (DATA / "strace/c.txt").read_text().splitlines(keepends=True)
    p = tmp_path / "c_cut.txt"
    p.write_text("".join(lines[:20]))
    rc, out, _ = run([str(p), "-o", str(tmp_path / "o"), "--json"], capsys)
    res = json.loads(out)[0]
    assert rc == 0 and res["rows"] == 18 and res["partial"] is True and "no total row" in res["notes"][0]


def test_mixed_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "trace"
    (d / "sub").mkdir(parents=True)
    shutil.copy(DATA / "strace/c.txt", d / "a")
    shutil.copy(DATA / "perf/sched_latency.txt", d / "sub" / "a")  # same name, other folder
    shutil.copy(DATA / "ftrace/events.txt", d / "b.log")
    (d / "manifest.json").write_text('{"command": "x"}\n')
    (d / "empty").write_text("")
    rc, out, err = run([str(d), "-o", str(tmp_path / "o"), "--json"], capsys)
    res = {Path(r["file"]).relative_to(d).as_posix(): r for r in json.loads(out)}
    assert rc == 0
    assert res["a"]["type"] == "strace_summary" and res["sub/a"]["type"] == "perf_sched_latency"
    assert res["b.log"]["type"] == "ftrace_events"
    assert res["manifest.json"]["type"] is None and res["empty"]["type"] is None
    assert "manifest.json: unknown log format" in err and "empty: empty file" in err
    assert len({r["output"] for r in res.values() if r["output"]}) == 3


def test_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run([str(tmp_path / "nope"), "-o", str(tmp_path / "o")], capsys)
    assert rc == 2 and "no such file" in err


def test_existing_output_untouched_on_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _with_bad_line(tmp_path)
    out = tmp_path / "o"
    assert run([str(p), "-o", str(out), "--lenient"], capsys)[0] == 0
    table = out / "tt_bad.txt.strace_timestamps.csv"
    before = table.read_bytes()
    assert run([str(p), "-o", str(out)], capsys)[0] == 2
    assert table.read_bytes() == before
