"""``sorto parse`` on real captured logs (tests/data, provenance in tests/data/README.md).

Row counts are exact and were checked against the sources by independent
counting (header lines, blank-line blocks, unfinished/resumed pairs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sorto.cli import main

from .test_parse_helpers import DATA, check_fixture, parse

# file, type, rows
FIXTURES = [
    ("strace/c.txt", "strace_summary", 31),
    ("strace/c_f.txt", "strace_summary", 45),
    ("strace/c_w.txt", "strace_summary", 31),
    ("strace/c_S_calls.txt", "strace_summary", 31),
    ("strace/c_noerrors.txt", "strace_summary", 17),
    ("strace/c_U.txt", "strace_summary", 31),
    ("strace/r.txt", "strace_timestamps", 91),
    ("strace/t.txt", "strace_timestamps", 91),
    ("strace/tt.txt", "strace_timestamps", 91),
    ("strace/ttt_T.txt", "strace_timestamps", 91),
    ("strace/f_r.txt", "strace_timestamps", 646 - 11),  # 11 unfinished/resumed pairs joined
    ("strace/f_tt_T.txt", "strace_timestamps", 647 - 12),
    ("perf/script_cpu_clock.txt", "perf_script", 169),
    ("perf/script_callchain.txt", "perf_script", 157),
    ("perf/script_tracepoints.txt", "perf_script", 65),
    ("perf/sched_latency.txt", "perf_sched_latency", 12),
    ("perf/sched_timehist.txt", "perf_sched_timehist", 49 - 3),
    ("perf/sched_timehist_w.txt", "perf_sched_timehist", 76 - 3),
    ("ftrace/events.txt", "ftrace_events", 148 - 12),
    ("ftrace/events_tgid.txt", "ftrace_events", 160 - 12),
    ("ftrace/events_noirqinfo.txt", "ftrace_events", 157 - 6),
]


@pytest.mark.parametrize("name,kind,rows", FIXTURES)
def test_fixture_detected_and_counted(name: str, kind: str, rows: int, tmp_path: Path) -> None:
    check_fixture(DATA / name, kind, rows, tmp_path)


def _table(name: str, tmp: Path) -> list[dict[str, str]]:
    return parse(DATA / name, tmp)[1]


@pytest.mark.parametrize("name", ["strace/c.txt", "strace/c_f.txt", "strace/c_w.txt", "strace/c_S_calls.txt",
                                  "strace/c_noerrors.txt", "strace/c_U.txt"])
def test_strace_summary_total_is_sum(name: str, tmp_path: Path) -> None:
    rows = _table(name, tmp_path)
    body = [r for r in rows if r["is_total"] == "false"]
    total = [r for r in rows if r["is_total"] == "true"]
    assert len(total) == 1 and total[-1]["syscall"] == "total"
    assert sum(int(r["calls"]) for r in body) == int(total[0]["calls"])
    if total[0]["errors"]:
        assert sum(int(r["errors"]) for r in body) == int(total[0]["errors"])
    assert sum(float(r["seconds"]) for r in body) == pytest.approx(float(total[0]["seconds"]), abs=1e-5)


def test_strace_summary_values(tmp_path: Path) -> None:
    rows = {r["syscall"]: r for r in _table("strace/c.txt", tmp_path)}
    assert rows["wait4"]["calls"] == "7" and rows["wait4"]["errors"] == "3"
    assert rows["wait4"]["seconds"] == "0.001919" and rows["wait4"]["usecs_per_call"] == "274.0"
    assert rows["read"]["errors"] == "0"  # blank errors cell means none
    assert rows["total"]["calls"] == "86" and rows["total"]["errors"] == "22"
    u = {r["syscall"]: r for r in _table("strace/c_U.txt", tmp_path)}
    assert u["newfstatat"]["calls"] == "22" and u["newfstatat"]["time_pct"] == "25.17"
    assert u["newfstatat"]["errors"] == ""  # -U without an errors column: unknown, not zero
    assert _table("strace/c_S_calls.txt", tmp_path)[0]["syscall"] == "newfstatat"


def test_strace_timestamps_values(tmp_path: Path) -> None:
    r = _table("strace/r.txt", tmp_path)
    assert r[0]["syscall"] == "execve" and r[0]["time"] == "0.0" and r[0]["pid"] == ""
    assert r[1]["syscall"] == "brk" and r[1]["time"] == "0.00088" and r[1]["retval"] == "0x55fdf24fd000"
    assert r[3]["errno"] == "ENOENT" and r[3]["error_text"] == "No such file or directory"
    assert r[3]["return_int"] == "-1"
    t = _table("strace/t.txt", tmp_path)
    assert t[0]["timestamp"] == "11:28:56" and float(t[0]["time"]) == 11 * 3600 + 28 * 60 + 56
    tt = _table("strace/tt.txt", tmp_path)
    assert tt[0]["timestamp"] == "11:28:56.649071"
    ttt = _table("strace/ttt_T.txt", tmp_path)
    assert ttt[0]["time"] == "1795778936.752813" and ttt[0]["duration"] == "0.000684"
    assert ttt[-1]["kind"] == "exit" and ttt[-1]["return_int"] == "0"


def test_strace_unfinished_resumed_joined(tmp_path: Path) -> None:
    rows = _table("strace/f_r.txt", tmp_path)
    vfork = [r for r in rows if r["line"] == "59"][0]
    assert (vfork["pid"], vfork["syscall"], vfork["retval"], vfork["end_line"], vfork["joined"]) == (
        "2749", "vfork", "2750", "62", "true")
    wait4 = [r for r in rows if r["line"] == "64"][0]
    assert wait4["args"] == "-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 2}], 0, NULL"
    assert wait4["end_line"] == "362" and wait4["return_int"] == "2750"
    assert {r["pid"] for r in rows} >= {"2749", "2750"}
    assert [r for r in rows if r["kind"] == "signal"][0]["syscall"] == "SIGCHLD"
    assert all(r["complete"] == "true" for r in rows)
    ft = _table("strace/f_tt_T.txt", tmp_path)
    assert ft[0]["pid"] == "2756" and ft[0]["duration"] == "0.000637"


def test_perf_script_values(tmp_path: Path) -> None:
    s = _table("perf/script_cpu_clock.txt", tmp_path)
    assert (s[0]["comm"], s[0]["pid"], s[0]["time"], s[0]["period"], s[0]["event"]) == (
        "dd", "2789", "4226.194973", "500000", "cpu-clock")
    assert (s[0]["symbol"], s[0]["offset"], s[0]["dso"]) == ("__d_lookup_rcu", "0x32", "[kernel.kallsyms]")
    c = _table("perf/script_callchain.txt", tmp_path)
    assert c[0]["callchain_depth"] == "17" and c[0]["symbol"] == "mast_fill_bnode"
    assert c[0]["callchain"].startswith("_dl_start_user;") and c[0]["callchain"].endswith(";mast_fill_bnode")
    assert sum(int(r["callchain_depth"]) for r in c) == 909 - 2 * 157  # frame lines = all - headers - blanks
    tp = _table("perf/script_tracepoints.txt", tmp_path)
    assert (tp[0]["comm"], tp[0]["cpu"], tp[0]["event"]) == ("perf", "0", "sched:sched_wakeup")
    assert tp[0]["details"] == "comm=migration/0 pid=18 prio=0 target_cpu=000" and tp[0]["period"] == ""
    assert {r["event"] for r in tp} == {"sched:sched_switch", "sched:sched_wakeup"}


def test_perf_sched_latency_values_and_total(tmp_path: Path) -> None:
    rows = _table("perf/sched_latency.txt", tmp_path)
    first = rows[0]
    assert (first["task"], first["pid"], first["runtime_ms"], first["avg_delay_ms"]) == ("perf", "2867", "0.347",
                                                                                        "1.501")
    assert first["max_delay_start"] == "4230.529514" and first["max_delay_end"] == "4230.531014"
    cc1 = [r for r in rows if r["task"] == "cc1"][0]
    assert cc1["threads"] == "2" and cc1["pid"] == ""
    assert [r for r in rows if r["task"] == "memfd:sealed-91"][0]["threads"] == "3"
    total = rows[-1]
    assert total["is_total"] == "true"
    assert sum(int(r["switches"]) for r in rows[:-1]) == int(total["switches"]) == 27
    assert sum(float(r["runtime_ms"]) for r in rows[:-1]) == pytest.approx(float(total["runtime_ms"]), abs=0.01)


def test_perf_sched_timehist_values(tmp_path: Path) -> None:
    rows = _table("perf/sched_timehist.txt", tmp_path)
    assert (rows[1]["time"], rows[1]["cpu"], rows[1]["task"], rows[1]["tid"]) == ("4230.529395", "0",
                                                                                 "migration/0", "18")
    assert (rows[1]["wait_ms"], rows[1]["sch_delay_ms"], rows[1]["run_ms"]) == ("0.0", "0.008", "0.022")
    w = _table("perf/sched_timehist_w.txt", tmp_path)
    wake = [r for r in w if r["event"] == "wakeup"]
    text = (DATA / "perf/sched_timehist_w.txt").read_text()
    assert len(wake) == text.count("awakened:")
    assert wake[0]["task"] == "perf" and wake[0]["other"] == "migration/0[18]"


def test_ftrace_events_values(tmp_path: Path) -> None:
    rows = _table("ftrace/events.txt", tmp_path)
    assert {r["event"] for r in rows} >= {"sched_switch", "sched_wakeup", "softirq_entry", "softirq_exit"}
    assert all(r["flags"] and r["cpu"] in ("0", "1") for r in rows)
    tg = _table("ftrace/events_tgid.txt", tmp_path)
    assert tg[0]["task"] == "capture_host.sh" and tg[0]["pid"] == "2652" and tg[0]["tgid"] == "2652"
    assert tg[0]["timestamp"] == "4232.302246" and tg[0]["event"] == "sched_switch"
    ni = _table("ftrace/events_noirqinfo.txt", tmp_path)
    assert ni[0]["flags"] == "" and ni[0]["timestamp"] == "4232.441524" and ni[0]["task"] == "cc1"
    assert ni[0]["details"] == "comm=memfd:sealed-91 pid=32022 prio=120 target_cpu=001"


def test_cli_json_over_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(DATA / "strace"), str(DATA / "perf"), "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 18
    assert all({"file", "type", "rows", "output"} <= set(r) for r in out)
    assert all(Path(r["output"]).is_file() for r in out)
    assert {r["type"] for r in out} == {"strace_summary", "strace_timestamps", "perf_script",
                                        "perf_sched_latency", "perf_sched_timehist"}


def test_cli_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    assert main(["parse", str(DATA / "strace/c.txt"), "--out", str(tmp_path), "--format", "parquet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)[0]
    table = pq.read_table(out["output"])
    assert table.num_rows == 31 and out["output"].endswith(".parquet")
    assert table.column("calls").to_pylist()[-1] == 86
