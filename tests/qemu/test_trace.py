"""`sorto trace --qemu` end to end: the hammer program's syscall path tops the function profile."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from sorto.trace.manifest import sha256

from ..ftrace_lines import event_lines, kv

TRACERS = {"function_profile", "function", "function_graph", "events", "strace_summary", "strace_timestamps",
           "memory"}


def test_trace_qemu_hammer(release_art, tmp_path: Path) -> None:
    out = tmp_path / "trace"
    # 2000 calls keep sys_getppid in the top three of the function profile
    # (the next function outside its path had about 400 hits) at a tenth of
    # the time under strace, where each call costs two ptrace stops.
    cmd = [sys.executable, "-m", "sorto", "trace", "--qemu", "--kernel", release_art.kernel_series, "--buffer-kb",
           "32", "--max-lines", "2000", "--out", str(out), "--console-log", str(tmp_path / "console.log"), "-q",
           "--", "/usr/bin/syscall_hammer", "getppid", "2000"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    m = json.loads((out / "manifest.json").read_text())
    assert m["command"] == ["/usr/bin/syscall_hammer", "getppid", "2000"]
    assert m["kernel_release"] == release_art.release and m["target"] == f"qemu:{release_art.release}"
    assert m["exit_status"] == 0 and m["duration_s"] > 0
    assert {"function", "function_graph"} <= set(m["tools"]["ftrace"]["available_tracers"])
    status = {t["tracer"]: t["status"] for t in m["tracers"]}
    assert status == {**dict.fromkeys(TRACERS, "ok"), "perf_script": "skipped", "perf_sched": "skipped"}
    assert m["tools"]["strace"] is True and m["tools"]["proc_smaps"] is True
    passes = {t["tracer"]: t for t in m["tracers"]}
    # The events pass kept the sched events that name the program, and every irq event.
    ev = passes["events"]
    assert ev["event_filters"]["sched/sched_switch"] == 'prev_comm == "syscall_hammer" || next_comm == "syscall_hammer"'
    assert ev["event_filters"]["sched/sched_wakeup"] == 'comm == "syscall_hammer"'
    sched = [ln for ln in (out / "ftrace_events.txt").read_text().splitlines() if " sched_" in ln]
    assert sched and all("syscall_hammer" in ln.split(": sched_", 1)[1] for ln in sched), sched[:5]
    # The hammer runs a few ms, less than a tick: whether an interrupt came meanwhile is chance
    # (an IPI of the fork usually, not always). test_events_pass_keeps_the_waking_interrupt checks
    # the irq events with a command that an interrupt must wake.
    # 2000 getppid calls traced function by function do not fit 32 KiB: the ring buffer overwrote
    # the start, and the manifest says by how much (the log's header says the same).
    assert passes["function"]["ring_overrun"] > 0
    assert "ring_overrun" not in passes["function_profile"]
    header = (out / "ftrace_function.txt").read_text().split("\n", 4)
    written = next(ln for ln in header if "entries-in-buffer/entries-written" in ln)
    kept, total = (int(x) for x in written.split(":")[1].split()[0].split("/"))
    assert total - kept == passes["function"]["ring_overrun"]
    names = {f["name"] for f in m["files"]}
    assert names == {p.name for p in out.iterdir()} - {"manifest.json"}
    for f in m["files"]:
        assert sha256(out / f["name"]) == f["sha256"] and (out / f["name"]).stat().st_size == f["bytes"]
    assert "getppid x2000 done" in (out / "command_output.txt").read_text()

    parsed = subprocess.run([sys.executable, "-m", "sorto", "parse", *[str(out / n) for n in sorted(names)
                                                                      if n.startswith(("ftrace_", "strace_"))],
                             "--out", str(tmp_path / "tables"), "--json"],
                            capture_output=True, text=True, check=True)
    results = json.loads(parsed.stdout)
    kinds = {Path(r["file"]).name.split(".")[0]: r["type"] for r in results}
    assert set(kinds.values()) == {"ftrace_function", "ftrace_function_graph", "ftrace_function_profile",
                                   "ftrace_events", "strace_summary", "strace_timestamps"}
    assert all(r["rows"] > 0 and r["skipped"] == 0 for r in results)

    # Hits summed over the per-CPU tables: getppid's path is the most called.
    hits: dict[str, int] = {}
    for r in results:
        if r["type"] == "ftrace_function_profile":
            with open(r["output"]) as fh:
                for row in csv.DictReader(fh):
                    hits[row["function"]] = hits.get(row["function"], 0) + int(row["hit"])
    top = sorted(hits, key=lambda f: -hits[f])[:3]
    assert any("getppid" in f for f in top), top
    assert hits[next(f for f in top if "getppid" in f)] == 2000

    # strace -f -c in the guest counted every getppid of the hammer.
    summary = next(r for r in results if r["type"] == "strace_summary")
    with open(summary["output"]) as fh:
        calls = {row["syscall"]: int(row["calls"]) for row in csv.DictReader(fh)}
    assert calls["getppid"] == 2000
    assert calls["total"] == sum(n for name, n in calls.items() if name != "total")

    # /proc sampled around the run: the stopped wrapper first, then the program.
    stat_lines = (out / "proc_stat.txt").read_text().splitlines()
    assert stat_lines and all(int(ln.split()[0]) == int(stat_lines[0].split()[0]) for ln in stat_lines)
    assert " T " in stat_lines[0]


def test_events_pass_keeps_the_waking_interrupt(release_art, tmp_path: Path) -> None:
    """The events pass keeps every irq event, and they show what woke the command.

    `sleep 0.05` blocks in nanosleep; its hrtimer expires in the arch timer's
    interrupt handler, which wakes it.  So the log must hold that interrupt and,
    inside it on the same CPU, the filtered sched_wakeup of `sleep`.
    """
    out = tmp_path / "trace"
    cmd = [sys.executable, "-m", "sorto", "trace", "--qemu", "--kernel", release_art.kernel_series, "--buffer-kb",
           "64", "--out", str(out), "-q", "--", "/bin/sleep", "0.05"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = event_lines(out / "ftrace_events.txt")
    sched = [det for *_x, event, det in lines if event.startswith("sched_")]
    assert sched and all("sleep" in det for det in sched), sched[:5]
    # Per CPU, the interrupt handler running when the wakeup was recorded.
    in_irq: dict[int, str] = {}
    woken_in: list[str] = []
    for _task, _pid, cpu, _flags, _ts, event, det in lines:
        if event == "irq_handler_entry":
            in_irq[cpu] = kv(det, "name")
        elif event == "irq_handler_exit":
            in_irq.pop(cpu, None)
        elif event == "sched_wakeup" and kv(det, "comm") == "sleep":
            woken_in.append(in_irq.get(cpu, "-"))
    assert "arch_timer" in woken_in, (woken_in, lines[:40])
