"""`make demo` stays true: the demo boots, runs and finds the kernel record equal to sorto show."""

from __future__ import annotations

from pathlib import Path

import pytest

from sorto import demo


def test_demo(release_art, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = demo.run(release_art.kernel_series, demo.build.REPO / "examples" / "demo-policy.yaml", tmp_path)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "kernel record EQUALS" in out
    assert "result=ok" in out and "mlock region=file max_bytes=0 name=libc.so.6" in out
