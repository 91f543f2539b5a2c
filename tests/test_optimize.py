"""sorto optimize's pieces without a target: metrics from real output shapes, sides, and the background rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sorto import cli, codec, elfsection, policy
from sorto.errors import SortoError
from sorto.optimize import loop, measure, summary

REPO = Path(__file__).resolve().parents[1]

# cyclictest 2.4 -q, two threads (the shape rt-tests prints; values from a guest run)
CYCLICTEST_OUT = """# /dev/cpu_dma_latency set to 0us
T: 0 (  181) P: 0 I:1000 C:    500 Min:     14 Act:   71 Avg:   67 Max:    1032
T: 1 (  182) P: 0 I:1500 C:    334 Min:     12 Act:   40 Avg:   41 Max:     977
"""


def test_cyclictest_metrics_read_the_worst_and_mean_thread() -> None:
    got = {m.name: m.read(CYCLICTEST_OUT) for m in measure.metrics_for(["/usr/bin/cyclictest", "-q"], [])}
    assert got == {"max latency": 1032.0, "avg latency": 54.0, "min latency": 12.0}


def test_cyclictest_without_summary_is_named() -> None:
    with pytest.raises(SortoError, match="no cyclictest summary line"):
        measure.CYCLICTEST[0].read("policy: other: loadavg: 1.0\n")


def test_user_metric_and_direction() -> None:
    m = measure.parse_metric(r"ops=(?P<value>\d+) ops/s:higher")
    assert not m.lower_is_better and m.read("total 120 ops/s\n") == 120.0
    assert measure.parse_metric(r"t=took (\d+\.\d+) s").read("took 1.50 s") == 1.5
    for bad in ("noequals", "x=(", "x=no-group", "=(\\d+)"):
        with pytest.raises(SortoError, match="--metric"):
            measure.parse_metric(bad)
    with pytest.raises(SortoError, match="give --metric"):
        measure.metrics_for(["/bin/true"], [])


def test_side_commands() -> None:
    args = ["-q", "-l", "10"]
    assert loop.side_command(loop.WITHOUT, "/usr/bin/cyclictest", "/m/cyclictest", args) == \
        "/usr/bin/cyclictest -q -l 10"
    assert loop.side_command(loop.WITH, "/usr/bin/cyclictest", "/m/cyclictest", args) == "/m/cyclictest -q -l 10"
    assert loop.side_command("chrt -f 80 taskset -c 0", "/usr/bin/cyclictest", "/m/c", args) == \
        "chrt -f 80 taskset -c 0 /usr/bin/cyclictest -q -l 10"
    assert loop.side_command("{cmd} -p 80", "/usr/bin/cyclictest", "/m/c", args) == \
        "/usr/bin/cyclictest -q -l 10 -p 80"


def _events(tmp_path: Path) -> Path:
    """cyc waits three times: twice behind the hog (500 us each), once behind the idle task (10 us)."""
    head = ("# tracer: nop\n#\n#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
            "#              | |         |   |||||     |         |\n")
    lines = []
    t = 100.0
    for n in range(3):
        holder, hpid = ("hog", 300) if n < 2 else ("<idle>", 0)
        wait = 0.0005 if n < 2 else 0.00001
        lines.append(f" {holder}-{hpid}  [000] dNh2.  {t:.6f}: sched_wakeup: comm=cyc pid=200 prio=120 target_cpu=000")
        lines.append(f" {holder}-{hpid}  [000] d..2.  {t + wait:.6f}: sched_switch: prev_comm={holder} prev_pid={hpid} "
                     "prev_prio=120 prev_state=R ==> next_comm=cyc next_pid=200 next_prio=120")
        lines.append(f" cyc-200  [000] d..2.  {t + wait + 0.00002:.6f}: sched_switch: prev_comm=cyc prev_pid=200 "
                     f"prev_prio=120 prev_state=S ==> next_comm={holder} next_pid={hpid} next_prio=120")
        lines.append(f" quiet-400  [000] d..2.  {t + 0.0009:.6f}: sched_switch: prev_comm=quiet prev_pid=400 "
                     "prev_prio=120 prev_state=S ==> next_comm=hog next_pid=300 next_prio=120")
        t += 0.001
    d = tmp_path / "trace"
    d.mkdir()
    (d / "ftrace_events.txt").write_text(head + "\n".join(lines) + "\n")
    return d


def test_background_program_that_held_the_cpu_gets_batch_nice_19(tmp_path: Path) -> None:
    d = _events(tmp_path)
    out = tmp_path / "hog.json"
    assert cli.main(["analyze", str(d), "-o", str(out), "--comm", "hog", "--background-for", "cyc", "-q"]) == 0
    pol = json.loads(out.read_text())
    ev = pol["evidence"]["sched"]
    assert pol["sched"] == {"policy": "batch", "nice": 19}, ev
    assert ev["delayed_by_us"] == {"hog": 1000.0, "<idle>": 10.0} and ev["share"] == pytest.approx(1000 / 1010)
    assert pol["profile"]["source"] == "hog"
    # a background program gets nothing but its scheduling
    assert pol["mlock"] == pol["irq_defer"] == pol["scratchpad"] == []
    assert "background program of cyc" in pol["evidence"]["skipped_decisions"]["irq_defer"]
    # a program that never held the CPU while cyc waited stays as it is
    quiet = tmp_path / "quiet.json"
    assert cli.main(["analyze", str(d), "-o", str(quiet), "--comm", "quiet", "--background-for", "cyc", "-q"]) == 0
    assert json.loads(quiet.read_text())["sched"] == {"policy": "other"}


def test_background_needs_a_program_and_a_victim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _events(tmp_path)
    out = tmp_path / "x.json"
    assert cli.main(["analyze", str(d), "-o", str(out), "--comm", "hog", "--background-for", "", "-q"]) == 2
    assert "--background-for needs a task name" in capsys.readouterr().err
    assert cli.main(["analyze", str(d), "-o", str(out), "--comm", "hog", "--background-for", "nosuch", "-q"]) == 0
    ev = json.loads(out.read_text())["evidence"]["sched"]
    assert ev["status"] == "skipped" and "nosuch" in ev["reason"]
    assert cli.main(["analyze", str(d), "-o", str(out), "--comm", "hog", "--background-for", "cyc",
                     "--background-share", "1.5", "-q"]) == 2


def test_a_program_that_sets_its_own_policy_is_noted(tmp_path: Path) -> None:
    d = _events(tmp_path)
    # strace -f -r of cyclictest without -p (the measuring thread resets itself to SCHED_OTHER)
    (d / "strace_r.txt").write_text("192        0.000116 sched_setscheduler(0, SCHED_FIFO, [1]) = 0\n"
                                    "193        0.000043 sched_setscheduler(0, SCHED_OTHER, [0]) = 0\n"
                                    "193        0.000040 sched_setscheduler(0, SCHED_RR, [1]) = -1 EPERM "
                                    "(Operation not permitted)\n")
    out = tmp_path / "cyc.json"
    assert cli.main(["analyze", str(d), "-o", str(out), "--comm", "cyc", "--sched-latency-us", "100", "-q"]) == 0
    pol = json.loads(out.read_text())
    ev = pol["evidence"]["sched"]
    assert pol["sched"]["policy"] == "fifo"
    assert [c["call"] for c in ev["sets_own_policy"]] == ["sched_setscheduler(0, SCHED_FIFO, [1])",
                                                          "sched_setscheduler(0, SCHED_OTHER, [0])"]
    assert "sets its own scheduling" in ev["reason"]


def test_summary_says_when_a_load_policy_was_not_injected() -> None:
    # The results of the run kept in examples/, with the load's policy as SCHED_BATCH nice 19, once
    # marked (--mark-loads) and once as a run without --mark-loads has it: decided, written, not injected.
    res = json.loads((REPO / "examples" / "cyclictest" / "results.json").read_text())
    hb = next(ld for ld in res["loads"] if ld["command"].startswith("hackbench"))
    hb["policy"]["sched"], hb["marked"] = {"policy": "batch", "nice": 19}, True
    text = summary.words(res)
    assert f"The load `{hb['command']}` was marked too" in text
    hb["marked"], hb["kernel_records"] = False, []
    text = summary.words(res)
    assert "was marked too" not in text
    assert f"The load `{hb['command']}` got a policy ({hb['decision']}); not injected (--mark-loads)." in text


@pytest.mark.parametrize(("tune", "mark", "msg"),
                         [(-1, False, "--tune must be 0"), (2, True, "leave out --mark-loads")])
def test_tune_options_are_checked_before_anything_runs(tmp_path: Path, tune: int, mark: bool, msg: str) -> None:
    opts = loop.Options(argv=["cyclictest"], out=tmp_path / "o", tune=tune, mark_loads=mark)
    with pytest.raises(SortoError, match=msg):
        loop.run(object(), opts)
    assert not (tmp_path / "o").exists()


def test_summary_shows_the_tuning_and_its_pick() -> None:
    res = json.loads((REPO / "examples" / "cyclictest" / "results.json").read_text())
    res["tune"] = {"rounds": 3, "metric": "max latency", "candidates": [loop.APP_ONLY, loop.APP_LOADS],
                   "values": {loop.APP_ONLY: [7000.0, 6500.0, 9000.0], loop.APP_LOADS: [1200.0, 900.0, 30000.0]},
                   "medians": {loop.APP_ONLY: 7000.0, loop.APP_LOADS: 1200.0}, "chosen": loop.APP_LOADS,
                   "load_records": {}}
    text = summary.words(res)
    assert ("Tuning (3 run(s) of each candidate, before and apart from the runs above), max latency: "
            "application only: median 7000 us; application + marked loads: median 1200 us; "
            "kept: application + marked loads.") in text


class _Target:
    """The two calls of a target that marking a load makes: resolve a name, copy the executable home."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def resolve(self, name: str) -> str:
        for path in self.files:
            if path.rsplit("/", 1)[-1] == name or path == name:
                return path
        raise SortoError(f"{name}: not a program of the guest's base image; give its path")

    def host_copy(self, guest_path: str) -> Path:
        return self.files[guest_path]


@pytest.fixture()
def load_policy(tmp_path: Path) -> Path:
    pol = tmp_path / "policy-load.json"
    pol.write_text((REPO / "examples" / "cyclictest" / "policy-hackbench.json").read_text())
    return pol


def test_a_load_that_cannot_be_marked_runs_as_it_is(tmp_path: Path, load_policy: Path) -> None:
    # `cat` of the guest is a busybox applet: no file of its own in the base image. The profile
    # decides whether a load gets a policy, so this must not abort a run (it once did, with --tune).
    ld = loop.Load("cat /dev/hwrng", "cat")
    loop._mark_load(_Target({}), ld, load_policy, tmp_path / "bin")
    assert ld.marked is None
    assert ld.not_marked == "cat: not a program of the guest's base image; give its path"
    assert not (tmp_path / "bin").exists()


def test_a_busybox_applet_with_a_path_is_not_marked(tmp_path: Path, load_policy: Path, arm_hello: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(arm_hello.read_bytes())
    ld = loop.Load("/bin/cat /dev/hwrng", "/bin/cat")
    loop._mark_load(_Target({"/bin/cat": busybox}), ld, load_policy, tmp_path / "bin")
    assert ld.marked is None
    assert ld.not_marked == "/bin/cat is a busybox applet; marking busybox would mark every applet"
    assert elfsection.read_section(busybox) is None


def test_a_load_with_its_own_executable_is_marked(tmp_path: Path, load_policy: Path, arm_hello: Path) -> None:
    ld = loop.Load("hello -l 5", "hello")
    loop._mark_load(_Target({"/usr/bin/hello": arm_hello}), ld, load_policy, tmp_path / "bin")
    assert ld.not_marked is None
    assert ld.marked == tmp_path / "bin" / "hello"
    assert elfsection.read_section(ld.marked) == codec.encode(policy.load(load_policy))
    assert ld.line(True) == "/opt/sorto-optimize/bin/hello -l 5"
    assert elfsection.read_section(arm_hello) is None


def test_summary_says_why_a_load_was_not_marked() -> None:
    res = json.loads((REPO / "examples" / "cyclictest" / "results.json").read_text())
    ld = next(x for x in res["loads"] if x["command"].startswith("cat"))
    ld["policy"]["sched"], ld["marked"] = {"policy": "batch", "nice": 19}, False
    ld["not_marked"] = "cat: not a program of the guest's base image; give its path"
    text = summary.words(res)
    assert (f"The load `{ld['command']}` got a policy ({ld['decision']}); not marked: cat: not a program of "
            "the guest's base image; give its path.") in text
