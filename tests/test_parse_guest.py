"""``sorto parse`` on ftrace logs captured from the QEMU test guest by ``sorto trace --qemu``.

The fixtures in tests/data/guest/ (provenance: tests/data/README.md and the
folder's manifest.json) are the first real samples of the function,
function_graph and function profiler formats.  Row counts were checked
against the files independently: header lines (``#``) and the profiler's two
title lines are not rows; in the function_graph log, 366 leaf calls + 298
matched entry/exit pairs + 9 exits whose entry is before the buffer's start
+ 7 entries whose exit is past the 1000-line cut = 680.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_parse_helpers import DATA, check_fixture, parse

GUEST = DATA / "guest"

FIXTURES = [
    ("ftrace_function.txt", "ftrace_function", 1000 - 12),
    ("ftrace_function_graph.txt", "ftrace_function_graph", 680),
    ("ftrace_function_profile.function0.txt", "ftrace_function_profile", 473 - 2),
    ("ftrace_function_profile.function1.txt", "ftrace_function_profile", 847 - 2),
    ("ftrace_events.txt", "ftrace_events", 127 - 12),
]


@pytest.mark.parametrize("name,kind,rows", FIXTURES)
def test_guest_fixture_detected_and_counted(name: str, kind: str, rows: int, tmp_path: Path) -> None:
    check_fixture(GUEST / name, kind, rows, tmp_path)


def test_manifest_lists_the_fixtures_with_their_hashes() -> None:
    from sorto.trace.manifest import sha256

    m = json.loads((GUEST / "manifest.json").read_text())
    assert m["target"] == "qemu:6.12.117" and m["command"] == ["/usr/bin/syscall_hammer", "getppid", "20000"]
    for f in m["files"]:
        assert sha256(GUEST / f["name"]) == f["sha256"], f["name"]


def test_function_rows(tmp_path: Path) -> None:
    rows = parse(GUEST / "ftrace_function.txt", tmp_path)[1]
    first = rows[0]
    assert (first["task"], first["pid"], first["cpu"], first["flags"], first["timestamp"]) == (
        "syscall_hammer", "70", "1", ".....", "10.490686")
    assert (first["function"], first["parent"], first["line"]) == ("__task_pid_nr_ns", "sys_getppid", "13")
    assert rows[1]["function"] == "sys_getppid" and rows[1]["parent"] == "ret_fast_syscall"
    assert {r["pid"] for r in rows} == {"70"}  # set_ftrace_pid kept only the command
    assert sum(r["function"] == "sys_getppid" for r in rows) == 424


def test_function_graph_rows(tmp_path: Path) -> None:
    rows = parse(GUEST / "ftrace_function_graph.txt", tmp_path)[1]
    leaves = [r for r in rows if r["leaf"] == "true"]
    assert len(leaves) == 366
    assert sum(r["complete"] == "false" for r in rows) == 16
    # The buffer starts inside a page fault: its exit has a time but no entry.
    pf = next(r for r in rows if r["function"] == "do_PrefetchAbort")
    assert (pf["depth"], pf["duration_us"], pf["overhead_mark"], pf["complete"], pf["end_line"]) == (
        "0", "31428.22", "*", "false", "29")
    # irq markers (" 0)   ==========> |") are not rows and do not break the nesting.
    assert not any("=" in r["function"] for r in rows)


def test_function_profile_ranks_the_hammered_syscall(tmp_path: Path) -> None:
    rows = parse(GUEST / "ftrace_function_profile.function1.txt", tmp_path)[1]
    top = rows[2]
    assert (top["function"], top["hit"], top["time_us"], top["avg_us"], top["s2_us"]) == (
        "sys_getppid", "20000", "520520.1", "26.026", "10075820.0")
    nr = next(r for r in rows if r["function"] == "__task_pid_nr_ns")
    assert nr["hit"] == "20005"
    assert {r["block"] for r in rows} == {"0"}


def test_events_rows(tmp_path: Path) -> None:
    rows = parse(GUEST / "ftrace_events.txt", tmp_path)[1]
    first = rows[0]
    assert (first["task"], first["pid"], first["cpu"], first["event"], first["details"]) == (
        "<idle>", "0", "0", "irq_handler_entry", "irq=18 name=IPI")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["event"]] = counts.get(r["event"], 0) + 1
    assert counts == {"softirq_entry": 23, "softirq_exit": 23, "irq_handler_entry": 21, "irq_handler_exit": 21,
                      "sched_switch": 18, "sched_wakeup": 9}


# tests/data/guest-policyprobe/: a second `sorto trace --qemu` capture, of
# `policyprobe 0 1500`, with the strace and memory passes.  Row counts from
# the files: the -c table has 23 syscall rows plus `total` (31 calls); the
# -f -r log has 32 syscall lines and the "+++ exited with 0 +++" line.
PROBE = DATA / "guest-policyprobe"


@pytest.mark.parametrize("name,kind,rows", [
    ("strace_summary.txt", "strace_summary", 24),
    ("strace_timestamps.txt", "strace_timestamps", 33),
])
def test_guest_strace_fixture_detected_and_counted(name: str, kind: str, rows: int, tmp_path: Path) -> None:
    check_fixture(PROBE / name, kind, rows, tmp_path)


def test_guest_strace_summary_total_is_the_sum(tmp_path: Path) -> None:
    rows = parse(PROBE / "strace_summary.txt", tmp_path)[1]
    total = next(r for r in rows if r["is_total"] == "true")
    assert int(total["calls"]) == 31 == sum(int(r["calls"]) for r in rows if r["is_total"] == "false")
    assert {r["syscall"]: int(r["calls"]) for r in rows}["brk"] == 6


def test_guest_strace_timestamps_follow_the_program(tmp_path: Path) -> None:
    rows = parse(PROBE / "strace_timestamps.txt", tmp_path)[1]
    assert rows[0]["syscall"] == "execve" and rows[0]["pid"] == "105"
    sleeps = [r for r in rows if r["syscall"] == "clock_nanosleep"]
    # policyprobe 0 1500: no sleep before the timed phase, 1.5 s after it.
    assert [s["args"].split("tv_sec=")[1].split(",")[0] for s in sleeps] == ["0", "1"]
    assert rows[-1]["kind"] == "exit" and rows[-1]["retval"] == "0"


def test_guest_probe_manifest_lists_the_fixtures() -> None:
    from sorto.trace.manifest import sha256

    m = json.loads((PROBE / "manifest.json").read_text())
    assert m["command"] == ["/usr/bin/policyprobe", "0", "1500"] and m["target"] == "qemu:6.12.117"
    status = {t["tracer"]: t["status"] for t in m["tracers"]}
    assert status["strace_summary"] == status["strace_timestamps"] == status["memory"] == "ok"
    assert status["perf_script"] == "skipped"  # no perf in the guest
    for f in m["files"]:
        assert sha256(PROBE / f["name"]) == f["sha256"], f["name"]
