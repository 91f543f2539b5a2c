"""`make test` relies on pytest-xdist's --dist loadgroup: each kernel's QEMU tests on one worker.

A worker boots a kernel's guests once per session; split across both workers,
every guest boots twice and idles beside the other worker's.  The grouping
broke silently once (pytest 9 with pytest-xdist 3.8: the group suffix is
written where pytest no longer reads node ids), so it is checked here on a
throwaway test file with the same kind of marks as tests/conftest.py sets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = '''
import os
import pytest

@pytest.mark.parametrize("k", [pytest.param(k, marks=pytest.mark.xdist_group(f"kernel-{k}")) for k in "ab"])
@pytest.mark.parametrize("i", range(6))
def test_where(k, i):
    with open(os.path.join(os.environ["PROBE_OUT"], k), "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
'''


def test_loadgroup_keeps_a_group_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider",
         "test_probe.py"],
        cwd=tmp_path, capture_output=True, text=True, env={"PROBE_OUT": str(out), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for k in "ab":
        workers = set((out / k).read_text().split())
        assert len(workers) == 1, f"group kernel-{k} ran on {sorted(workers)}"
