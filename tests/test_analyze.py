"""``sorto analyze`` on real traces: the getppid hammer from the QEMU guest and the host captures.

Numbers are checked against small independent recounts over the raw log
lines (plain string splitting, no sorto code), never against values copied
from the analyzer's own output.  Sizes are also checked against the ELF
``st_size`` of the guest kernel's vmlinux (sys_getppid 48 bytes,
__task_pid_nr_ns 272 bytes, read once with pyelftools when the fixture was
made; tests/data/README.md).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from sorto import policy
from sorto.analyze import DEFAULT_EXCLUDE, Options, analyze
from sorto.cli import main

from .ftrace_lines import event_lines, kv

DATA = Path(__file__).parent / "data"
GUEST = DATA / "guest"
SYSMAP = GUEST / "System.map.gz"
HOST_EVENTS = DATA / "ftrace" / "events.txt"
HOST_APP = (2910, 2911, 2912, 2913)  # sh -c "$W" and its children ls, cat, sleep (tests/data/README.md)


# ---------------------------------------------------------------------------
# independent recounts


def profile_times() -> dict[str, tuple[int, float]]:
    """Sum hit and time per function over the guest's two trace_stat tables, by splitting columns."""
    out: dict[str, tuple[int, float]] = {}
    for f in sorted(GUEST.glob("ftrace_function_profile.function*.txt")):
        for line in f.read_text().splitlines()[2:]:
            name, hit, time_us = line.split()[:3]
            h, t = out.get(name, (0, 0.0))
            out[name] = (h + int(hit), t + float(time_us))
    return out


def map_sizes() -> dict[str, int]:
    """Function sizes from System.map.gz: distance from a text symbol to the next higher address."""
    entries = [ln.split() for ln in gzip.decompress(SYSMAP.read_bytes()).decode().splitlines()]
    addrs = sorted({int(a, 16) for a, t, _n in entries if t not in "aAU"})
    following = dict(zip(addrs, addrs[1:]))
    sizes: dict[str, int] = {}
    for a, t, n in entries:
        if t in "tTwW" and int(a, 16) in following:
            sizes.setdefault(n, following[int(a, 16)] - int(a, 16))
    return sizes


# ---------------------------------------------------------------------------
# the getppid hammer


@pytest.fixture(scope="module")
def guest_policy() -> dict:
    return analyze(GUEST).policy


def test_hammered_syscall_path_is_ranked_first(guest_policy: dict) -> None:
    times = profile_times()
    skip = re.compile(DEFAULT_EXCLUDE)
    ranked = sorted((n for n in times if not skip.fullmatch(n)), key=lambda n: (-times[n][1], n))
    assert ranked[0] == "sys_getppid"
    placed = [e["function"] for e in guest_policy["scratchpad"]]
    assert placed[0] == "sys_getppid"
    # The loop's path: the only functions with at least 20000 hits are getppid and what it calls.
    hammered = {n for n, (h, _t) in times.items() if h >= 20000}
    assert hammered == {"sys_getppid", "__task_pid_nr_ns"}
    assert hammered <= set(placed)
    # weight = ppm of the profiled run's CPU time: pass duration 1.41 s x 2 CPU tables (manifest)
    assert guest_policy["scratchpad"][0]["weight"] == round(times["sys_getppid"][1] / (1.41e6 * 2) * 1e6)
    weights = [e["weight"] for e in guest_policy["scratchpad"]]
    assert weights == sorted(weights, reverse=True)


def test_profile_symbols_exist_in_system_map() -> None:
    sizes = map_sizes()
    for name in profile_times():
        if name in sizes:
            continue
        assert len(name) == 30, name  # trace_stat cuts names to 30 characters
        assert len([s for s in sizes if s.startswith(name)]) == 1, name
    assert sizes["sys_getppid"] == 48 and sizes["__task_pid_nr_ns"] == 272  # = vmlinux st_size


def test_policy_is_schema_valid_and_byte_identical(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    copy = tmp_path / "copy"
    shutil.copytree(GUEST, copy)
    assert main(["analyze", str(GUEST), "-o", str(a), "-q"]) == 0
    assert main(["analyze", str(copy), "-o", str(b), "-q"]) == 0
    assert a.read_bytes() == b.read_bytes()
    pol = policy.load(a)  # the schema validation of sorto inject
    assert pol["profile"]["status"] == "profiled" and pol["profile"]["kernel"] == "6.12.117"
    assert pol["profile"]["source"] == "/usr/bin/syscall_hammer" and pol["profile"]["duration_ms"] == 1410
    assert len(pol["scratchpad"]) <= 32
    assert not list(tmp_path.glob(".*.tmp"))


def test_budget_is_respected_with_real_sizes(tmp_path: Path) -> None:
    sizes = map_sizes()
    pol = analyze(GUEST, Options(sram_budget=1000)).policy
    placed = [e["function"] for e in pol["scratchpad"]]
    used = sum(sizes[f] for f in placed)
    assert 0 < used <= 1000
    assert pol["evidence"]["scratchpad"]["used_bytes"] == used
    # greedy down the ranking: every better-ranked function left out did not fit what was left
    for row in pol["evidence"]["scratchpad"]["ranking"]:
        if row["decision"] != "placed" and row["rank"] <= 20 and row["size"] is not None:
            assert "do not fit" in row["decision"]
            assert row["size"] == sizes.get(row.get("symbol", row["function"]))
    assert analyze(GUEST, Options(sram_budget=47)).policy["scratchpad"][0]["function"] != "sys_getppid"


def test_evidence_names_inputs_and_every_decision(guest_policy: dict) -> None:
    ev = guest_policy["evidence"]
    for key in ("scratchpad", "mlock", "irq_defer", "sched"):
        assert ev[key]["status"] in ("decided", "skipped"), key
        if ev[key]["status"] == "skipped":
            assert ev[key]["reason"]
    assert ev["mlock"]["status"] == "skipped" and "smaps" in ev["mlock"]["reason"]
    assert ev["mlock"]["page_fault_functions"]["do_page_fault"] == profile_times()["do_page_fault"][0]
    files = {f["file"]: f for f in ev["inputs"]["files"]}
    for name in ("ftrace_events.txt", "ftrace_function_profile.function1.txt", "manifest.json", "System.map.gz"):
        assert files[name]["sha256"] == hashlib.sha256((GUEST / name).read_bytes()).hexdigest()
    assert {s["file"] for s in ev["inputs"]["skipped_files"]} == {"command_output.txt"}
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]['sha256']}\n".encode())
    assert guest_policy["profile"]["trace_sha256"] == digest.hexdigest()
    assert ev["partial"] is False
    assert ev["options"]["sram_budget"] == 65536


def test_without_symbol_table_scratchpad_is_skipped(tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(GUEST, d)
    (d / "System.map.gz").unlink()
    pol = analyze(d).policy
    assert pol["scratchpad"] == []
    assert pol["evidence"]["scratchpad"]["status"] == "skipped"
    assert "--system-map" in pol["evidence"]["scratchpad"]["reason"]
    with_map = analyze(d, Options(system_map=str(SYSMAP))).policy
    assert with_map["scratchpad"][0]["function"] == "sys_getppid"


# ---------------------------------------------------------------------------
# irq and sched on real events


def test_guest_irqs_that_preempted_the_hammer(guest_policy: dict) -> None:
    lines = event_lines(GUEST / "ftrace_events.txt")
    app = {pid for task, pid, *_ in lines if task == "syscall_hammer"}
    assert app == {86}
    hard: dict[int, int] = {}
    soft: dict[str, int] = {}
    for _task, pid, _cpu, _fl, _ts, event, det in lines:
        if pid in app and event == "irq_handler_entry":
            hard[int(kv(det, "irq"))] = hard.get(int(kv(det, "irq")), 0) + 1
        if pid in app and event == "softirq_entry":
            name = det.split("action=")[1].rstrip("]")
            soft[name] = soft.get(name, 0) + 1
    assert not any(event == "sched_wakeup" and kv(det, "pid") == "86" for *_x, event, det in lines)  # no own irq
    ev = {s["source"]: s for s in guest_policy["evidence"]["irq_defer"]["sources"]}
    for irq, n in hard.items():
        assert ev[f"irq:{irq}"]["preempted_app"] == n
    for name, n in soft.items():
        assert ev[f"softirq:{name}"]["preempted_app"] == n
    # The only hard interrupt that preempted it is the ARM generic timer: per-CPU,
    # never threaded, so never listed however often it fired.
    assert set(hard) == {26} and hard[26] >= 2
    assert ev["irq:26"]["name"] == "arch_timer" and ev["irq:26"]["decision"].startswith("per-CPU or timer")
    assert guest_policy["irq_defer"] == []
    with_soft = analyze(GUEST, Options(irq_softirqs=True)).policy
    listed = {e.get("name") or f"irq:{e['irq']}" for e in with_soft["irq_defer"]}
    expected = {f"softirq:{s}" for s, n in soft.items() if n >= 2}
    assert listed == expected and "softirq:RCU" in listed
    # handler time of irq 26 while the hammer ran: entry/exit pairs on one CPU
    total = 0.0
    open_at: dict[int, float] = {}
    for _task, pid, cpu, _fl, ts, event, det in lines:
        if event == "irq_handler_entry" and kv(det, "irq") == "26" and pid in app:
            open_at[cpu] = ts
        elif event == "irq_handler_exit" and cpu in open_at:
            total += ts - open_at.pop(cpu)
    assert ev["irq:26"]["handler_us"] == pytest.approx(total * 1e6, abs=1e-3)


def test_guest_sched_preemption_wait(guest_policy: dict) -> None:
    lines = event_lines(GUEST / "ftrace_events.txt")
    out_r = [ts for *_x, ts, event, det in lines if event == "sched_switch" and kv(det, "prev_pid") == "86"
             and kv(det, "prev_state").startswith("R")]
    back = [ts for *_x, ts, event, det in lines if event == "sched_switch" and kv(det, "next_pid") == "86"]
    waits = [min(t for t in back if t > t0) - t0 for t0 in out_r]
    ev = guest_policy["evidence"]["sched"]
    assert ev["preemption_wait"]["count"] == len(waits) == 1
    assert ev["preemption_wait"]["max_us"] == pytest.approx(waits[0] * 1e6, abs=1e-3)
    assert ev["wakeup_latency"]["count"] == 0
    assert guest_policy["sched"] == {"policy": "other"}  # 694 us < 1000 us
    tight = analyze(GUEST, Options(sched_latency_us=500)).policy
    assert tight["sched"] == {"policy": "fifo", "priority": 40}


@pytest.fixture(scope="module")
def host_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("host") / "trace"
    d.mkdir()
    shutil.copy(HOST_EVENTS, d / "events.txt")
    return d


def test_host_events_irq_and_own_rule(host_trace: Path) -> None:
    res = analyze(host_trace, Options(pids=list(HOST_APP)))
    assert res.partial  # no manifest: flagged
    assert any("manifest.json" in n for n in res.policy["evidence"]["partial_reasons"])
    lines = event_lines(HOST_EVENTS)
    pre: dict[str, int] = {}
    for _task, pid, _cpu, _fl, _ts, event, det in lines:
        if pid in HOST_APP and event in ("irq_handler_entry", "softirq_entry"):
            key = f"irq:{kv(det, 'irq')}" if event == "irq_handler_entry" else \
                f"softirq:{det.split('action=')[1].rstrip(']')}"
            pre[key] = pre.get(key, 0) + 1
    ev = {s["source"]: s for s in res.policy["evidence"]["irq_defer"]["sources"]}
    assert {k: v["preempted_app"] for k, v in ev.items() if v["preempted_app"]} == pre
    assert ev["irq:36"]["preempted_app"] == 0  # virtio1-req.0 hit cc1, not the workload
    listed = {e.get("name") or f"irq:{e['irq']}" for e in res.policy["irq_defer"]}
    assert listed == {k for k, n in pre.items() if n >= 2 and k.startswith("irq:")}


def test_own_interrupt_is_never_deferred(tmp_path: Path) -> None:
    """irq 36 woke kworker/u8:2 (pid 22940) through its BLOCK softirq: with that pid as the application,
    irq 36 preempted nothing of it but is its own, and BLOCK is its own softirq."""
    d = tmp_path / "t"
    d.mkdir()
    shutil.copy(HOST_EVENTS, d / "events.txt")
    pol = analyze(d, Options(pids=[22940, 2904], irq_min_count=1, irq_softirqs=True)).policy
    ev = {s["source"]: s for s in pol["evidence"]["irq_defer"]["sources"]}
    assert ev["irq:36"]["preempted_app"] == 1  # it interrupted cc1 (2904)
    assert ev["irq:36"]["own_wakeups"] == 1 and ev["softirq:BLOCK"]["own_wakeups"] == 1
    listed = {e.get("name") or f"irq:{e['irq']}" for e in pol["irq_defer"]}
    assert "irq:36" not in listed and "softirq:BLOCK" not in listed


def test_host_wakeup_latency(host_trace: Path) -> None:
    lines = event_lines(HOST_EVENTS)
    pending: dict[int, float] = {}
    wake = []
    for *_x, ts, event, det in lines:
        if event == "sched_wakeup" and int(kv(det, "pid")) in HOST_APP:
            pending.setdefault(int(kv(det, "pid")), ts)
        if event == "sched_switch" and int(kv(det, "next_pid")) in pending:
            wake.append(ts - pending.pop(int(kv(det, "next_pid"))))
        if event == "sched_switch" and int(kv(det, "prev_pid")) in HOST_APP and \
                kv(det, "prev_state").startswith("R"):
            pending[int(kv(det, "prev_pid"))] = ts  # preemption: counted with the other delays
    pol = analyze(host_trace, Options(pids=list(HOST_APP))).policy
    ev = pol["evidence"]["sched"]
    assert ev["all_delays"]["count"] == len(wake)
    assert ev["all_delays"]["max_us"] == pytest.approx(max(wake) * 1e6, abs=1e-3)
    assert any(abs(w - 0.001004) < 1e-9 for w in wake)  # sh woken at .171403 by ls, ran at .172407
    p99 = sorted(wake)[-1] if len(wake) < 100 else None  # nearest-rank p99 of < 100 samples is the max
    expect = "fifo" if p99 * 1e6 > 1000 else "other"
    assert pol["sched"]["policy"] == expect


def test_perf_sched_latency_rows(tmp_path: Path) -> None:
    d = tmp_path / "t"
    d.mkdir()
    shutil.copy(DATA / "perf" / "sched_latency.txt", d / "lat.txt")
    pol = analyze(d, Options(comm="perf")).policy
    ev = pol["evidence"]["sched"]
    assert ev["perf_sched_latency"][0]["max_delay_ms"] == 1.501  # "perf:2867 ... max: 1.501 ms"
    assert pol["sched"] == {"policy": "fifo", "priority": 40}  # 1501 us > 1000 us


# ---------------------------------------------------------------------------
# mlock from a real /proc/PID/smaps


def test_mlock_from_smaps(tmp_path: Path) -> None:
    d = tmp_path / "t"
    d.mkdir()
    text = Path("/proc/self/smaps").read_text()
    (d / "smaps.txt").write_text(text)
    heap = stack = None
    cur = None
    for line in text.splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            cur = line.split()[-1] if len(line.split()) >= 6 else ""
        elif line.startswith(("Rss:", "Referenced:")) and cur in ("[heap]", "[stack]"):
            kb = int(line.split()[1])
            entry = {"Rss": 0, "Referenced": 0} if (heap if cur == "[heap]" else stack) is None else \
                (heap if cur == "[heap]" else stack)
            entry[line.split(":")[0]] += kb
            if cur == "[heap]":
                heap = entry
            else:
                stack = entry
    pol = analyze(d, Options(mlock_min_kb=0)).policy
    by_region = {m["region"]: m for m in pol["mlock"] if m["region"] != "file"}
    assert pol["evidence"]["mlock"]["status"] == "decided"
    if heap is not None:
        assert by_region["heap"]["max_bytes"] == heap["Rss"] * 1024
    assert by_region["stack"]["max_bytes"] == stack["Rss"] * 1024
    assert "text" in by_region and len(pol["mlock"]) <= 16
    policy.validate(pol)
    high = analyze(d, Options(mlock_min_kb=10**9)).policy
    assert high["mlock"] == []


# ---------------------------------------------------------------------------
# bad input


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(args)
    return rc, capsys.readouterr().err


def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t").mkdir()
    rc, err = run(["analyze", str(tmp_path / "t"), "-o", str(tmp_path / "p.json")], capsys)
    assert rc == 2 and "empty folder" in err and not (tmp_path / "p.json").exists()


def test_not_a_folder_and_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = run(["analyze", str(HOST_EVENTS), "-o", str(tmp_path / "p.json")], capsys)
    assert rc == 2 and "not a folder" in err
    rc, err = run(["analyze", str(tmp_path / "nope"), "-o", str(tmp_path / "p.json")], capsys)
    assert rc == 2 and "no such folder" in err


def test_only_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "t"
    d.mkdir()
    (d / "blob.bin").write_bytes(bytes(range(256)) * 40)
    (d / "empty.txt").write_text("")
    rc, err = run(["analyze", str(d), "-o", str(tmp_path / "p.json")], capsys)
    assert rc == 2 and "no trace logs of a known type" in err
    assert "blob.bin: binary data" in err and "empty.txt: empty file" in err


def test_garbage_beside_real_logs_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "t"
    shutil.copytree(GUEST, d)
    (d / "garbage.dat").write_bytes(b"\x00\xff" * 500)
    rc, err = run(["analyze", str(d), "-o", str(tmp_path / "p.json"), "-q"], capsys)
    assert rc == 0 and "garbage.dat: skipped: binary data" in err
    pol = json.loads((tmp_path / "p.json").read_text())
    skipped = pol["evidence"]["inputs"]["skipped_files"]
    assert {"file": "garbage.dat", "reason": "binary data, not a text log"} in skipped
    assert pol["scratchpad"][0]["function"] == "sys_getppid"


def test_truncated_last_line_gives_flagged_partial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "t"
    shutil.copytree(GUEST, d)
    ev = d / "ftrace_events.txt"
    ev.write_bytes(ev.read_bytes()[:-40])  # cut inside the last line
    rc, err = run(["analyze", str(d), "-o", str(tmp_path / "p.json"), "-q"], capsys)
    assert rc == 0 and "PARTIAL" in err
    pol = json.loads((tmp_path / "p.json").read_text())
    assert pol["evidence"]["partial"] is True
    reasons = " ".join(pol["evidence"]["partial_reasons"])
    assert "ftrace_events.txt" in reasons and "truncated" in reasons
    assert "sha256 differs" in reasons  # the manifest notices the change too
    policy.validate(pol)


def test_ring_overrun_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "t"
    shutil.copytree(GUEST, d)
    m = json.loads((d / "manifest.json").read_text())
    for t in m["tracers"]:
        if t["tracer"] == "events":
            t["ring_overrun"] = 4074
    (d / "manifest.json").write_text(json.dumps(m))
    rc, _ = run(["analyze", str(d), "-o", str(tmp_path / "p.json"), "-q"], capsys)
    assert rc == 0
    info = json.loads((tmp_path / "p.json").read_text())["evidence"]["info"]
    kb = m["settings"]["buffer_size_kb"]
    assert f"ftrace_events.txt: the ring buffer ({kb} KiB per CPU) overwrote 4074 events" in " ".join(info)


def test_mixed_log_stops_with_file_and_line_unless_lenient(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "t"
    d.mkdir()
    shutil.copy(GUEST / "manifest.json", d)
    events = (GUEST / "ftrace_events.txt").read_text()
    graph = (GUEST / "ftrace_function_graph.txt").read_text().splitlines()[20]
    (d / "ftrace_events.txt").write_text(events + graph + "\n")
    n = events.count("\n") + 1
    rc, err = run(["analyze", str(d), "-o", str(tmp_path / "p.json")], capsys)
    assert rc == 2 and f"ftrace_events.txt:{n}: malformed line" in err and "--lenient" in err
    assert not (tmp_path / "p.json").exists()
    rc, err = run(["analyze", str(d), "-o", str(tmp_path / "p.json"), "--lenient", "-q"], capsys)
    assert rc == 0
    pol = json.loads((tmp_path / "p.json").read_text())
    assert pol["evidence"]["partial"] is True and pol["evidence"]["irq_defer"]["sources"]


def test_bad_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "t"
    shutil.copytree(GUEST, d)
    (d / "manifest.json").write_text("{not json")
    rc, err = run(["analyze", str(d), "-o", str(tmp_path / "p.json")], capsys)
    assert rc == 2 and "manifest.json: not a readable sorto trace manifest" in err


def test_no_manifest_without_app_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "t"
    shutil.copytree(GUEST, d)
    (d / "manifest.json").unlink()
    rc, err = run(["analyze", str(d), "-o", str(tmp_path / "p.json"), "-q"], capsys)
    assert rc == 0 and "PARTIAL" in err and "--comm" in err
    pol = json.loads((tmp_path / "p.json").read_text())
    ev = pol["evidence"]
    assert ev["partial"] and ev["irq_defer"]["status"] == "skipped" and ev["sched"]["status"] == "skipped"
    assert "kernel" not in pol["profile"] and "sched" not in pol
    # the profile still ranks, with relative shares (no run duration), flagged
    assert pol["scratchpad"][0]["function"] == "sys_getppid"
    assert any("relative" in r for r in ev["partial_reasons"])
    named = analyze(d, Options(comm="syscall_hammer")).policy
    assert named["evidence"]["application"]["pids"] == [86] and named["evidence"]["irq_defer"]["sources"]


def test_failed_run_leaves_existing_output_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.json"
    out.write_text("old")
    (tmp_path / "empty").mkdir()
    rc, _err = run(["analyze", str(tmp_path / "empty"), "-o", str(out)], capsys)
    assert rc == 2 and out.read_text() == "old"
    rc, err = run(["analyze", str(GUEST), "-o", str(tmp_path / "no" / "p.json")], capsys)
    assert rc == 2 and "does not exist" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "p.json"]


def test_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = run(["analyze", str(GUEST), "-o", str(tmp_path / "p.json"), "--exclude", "("], capsys)
    assert rc == 2 and "--exclude" in err
    rc, err = run(["analyze", str(GUEST), "-o", str(tmp_path / "p.json"), "--scratch-max", "40"], capsys)
    assert rc == 2 and "--scratch-max" in err
    rc, err = run(["analyze", str(GUEST), "-o", str(tmp_path / "p.json"), "--system-map", str(HOST_EVENTS)], capsys)
    assert rc == 2 and "not a System.map line" in err


def test_help_lists_every_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for opt, default in (("--sram-budget", "65536"), ("--scratch-min-share", "0.001"), ("--scratch-max", "32"),
                         ("--irq-min-count", "2"), ("--irq-min-share", "0"), ("--irq-away-share", "0.02"),
                         ("--sched-latency-us", "1000"), ("--sched-min-samples", "1"),
                         ("--sched-priority", "40"), ("--mlock-min-kb", "64"), ("--sched-policy", "fifo")):
        assert opt in text and f"(default {default}" in text, opt


def _smaps_kb(path: Path) -> list[tuple[str, str, dict[str, int]]]:
    """(range, perms+name, {field: kB}) per mapping of a /proc/PID/smaps file, read independently."""
    maps: list[tuple[str, str, dict[str, int]]] = []
    for line in path.read_text().splitlines():
        m = re.match(r"^([0-9a-f]+-[0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
        if m:
            maps.append((m.group(1), f"{m.group(2)} {m.group(3)}".strip(), {}))
            continue
        f = re.match(r"^(\w+):\s+(\d+) kB$", line)
        if f and maps:
            maps[-1][2][f.group(1)] = int(f.group(2))
    return maps


def test_guest_memory_trace_locks_what_the_program_touched() -> None:
    """tests/data/guest-policyprobe: policyprobe wrote 4 MiB of bss; smaps was sampled while it held it."""
    probe = DATA / "guest-policyprobe"
    maps = _smaps_kb(probe / "smaps.txt")
    exe = [m for m in maps if m[1].endswith("/usr/bin/policyprobe")]
    assert [m[1].split()[0] for m in exe] == ["r-xp", "r--p", "rw-p"]
    # The bss is the anonymous mapping right after the file's rw mapping.
    after_rw = maps[maps.index(exe[-1]) + 1]
    assert after_rw[1] == "rw-p" and after_rw[2]["Referenced"] >= 4096
    pol = analyze(probe, Options()).policy
    regions = {m["region"] for m in pol["mlock"]}
    assert {"text", "data"} <= regions and "heap" not in regions
    ev = {r["region"]: r for r in pol["evidence"]["mlock"]["regions"]}
    assert ev["data"]["kb"]["Referenced"] >= after_rw[2]["Referenced"]
    # text: the read-only mappings of the file (code, and the RELRO page after it)
    assert ev["text"]["kb"]["Rss"] == exe[0][2]["Rss"] + exe[1][2]["Rss"]
    policy.normalize(pol)  # schema-valid
