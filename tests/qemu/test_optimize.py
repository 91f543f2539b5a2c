"""The loop closes by itself in the guest: each step's output feeds the next (no timing is asserted).

One run of `make demo`'s loop (cyclictest beside hackbench and a virtio RNG
reader, one round) per kernel: the trace manifest's digest is in the policy's
profile, the policy is in the marked binary, the kernel's record of the
marked run carries the same digest and every action applied, the load is
marked exactly when its evidence says so (and then the kernel's record says
SCHED_BATCH was applied), and the report and results hold both sides.
Gains are `make bench`'s and the demo's, never asserted here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sorto import codec, demo, elfsection, policy
from sorto.analyze import load

pytestmark = pytest.mark.qemu


def test_loop_on_cyclictest(release_art, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    # make demo's run, with one round of each side and one tuning run of each candidate
    assert demo.run(release_art.kernel_series, out, rounds=1, opts=demo.options(out, rounds=1, tune=1)) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())

    # trace -> policy: the policy names the profile it came from
    digest = load.load(out / "trace-before").digest()
    pol = policy.load(out / "policy.json")
    assert pol["profile"]["status"] == "profiled" and pol["profile"]["trace_sha256"] == digest
    assert res["trace_sha256"] == digest
    # policy -> binary: the marked copy carries exactly that policy
    marked = out / "bin" / "cyclictest"
    assert codec.decode(elfsection.read_section(marked)) == codec.decode(codec.encode(pol))
    # binary -> kernel: the record of the marked run carries the same profile, and every action applied
    rec = res["kernel_record"]
    assert rec["file"] == "/opt/sorto-optimize/bin/cyclictest" and rec["result"] == "ok", rec
    assert rec["trace_sha256"] == digest
    assert rec["actions"], rec
    assert all(a["result"] == "applied" for a in rec["actions"]), rec["actions"]
    # (whether the virtio interrupt is deferred depends on whether it preempted cyclictest twice in the
    # profile: seen in some runs, not in others, so not asserted)
    # The load's decision follows its evidence (how long it held the CPU while cyclictest waited; that
    # share varies between runs, from under 1% to over 10%), and the marking and the kernel follow the
    # decision: SCHED_BATCH nice 19 -> a marked copy and the kernel's record of it; "other" -> no copy.
    hb = next(ld for ld in res["loads"] if ld["command"].startswith("hackbench"))
    # (the policy file as written: policy.load drops the evidence)
    hb_ev = json.loads((out / "policy-hackbench.json").read_text())["evidence"]["sched"]
    assert hb_ev["status"] == "decided" and hb_ev["latency_sensitive"] == "cyclictest", hb_ev
    # With a policy, tuning ran cyclictest beside hackbench as it is and marked, and kept the better
    # median: the marked copy is then in bin/ (and ran on the metadata side) or in tune/bin/.
    tune = res["tune"]
    if hb_ev["share"] >= hb_ev["threshold_share"] and hb_ev["victim_wait_us"] > 0:
        assert hb["policy"]["sched"] == {"policy": "batch", "nice": 19}, hb
        assert tune["candidates"] == ["application only", "application + marked loads"], tune
        assert all(len(v) == 1 for v in tune["values"].values()) and tune["chosen"] in tune["candidates"], tune
        best = min(tune["candidates"], key=lambda c: (tune["values"][c][0], c != "application only"))
        assert tune["chosen"] == best, tune
        chosen = tune["chosen"] == "application + marked loads"
        copy = out / ("bin" if chosen else "tune/bin") / "hackbench"
        assert hb["marked"] == chosen and not (out / ("tune/bin" if chosen else "bin") / "hackbench").exists(), hb
        hb_pol = codec.decode(codec.encode(policy.load(out / "policy-hackbench.json")))
        assert codec.decode(elfsection.read_section(copy)) == hb_pol
        recs = [tune["load_records"][hb["command"]]] + hb["kernel_records"]
        assert len(recs) == (2 if chosen else 1), recs
        for r in recs:
            assert {(a["kind"], a["result"], a["applied"].split(":")[0]) for a in r["actions"]} == {
                ("sched", "applied", "batch")
            }, r
    else:
        assert tune is None  # nothing to choose between
        assert hb["policy"]["sched"] == {"policy": "other"}, hb
        assert not hb["marked"] and hb["kernel_records"] == [] and not (out / "bin" / "hackbench").exists(), hb
        assert "< --background-share" in hb["decision"] or "never waited" in hb["decision"], hb
    # The RNG reader is a busybox applet: never marked. When its evidence asks for a change anyway (it
    # held the CPU long enough in some profiles), the run goes on and says why it stayed unmarked.
    cat = next(ld for ld in res["loads"] if ld["command"].startswith("cat"))
    assert not cat["marked"] and not (out / "bin" / "busybox").exists(), cat
    if cat["policy"]["sched"].get("policy", "other") != "other":
        assert cat["not_marked"] == "cat: not a program of the guest's base image; give its path", cat
        assert f"The load `{cat['command']}` got a policy" in printed
    else:
        assert cat["not_marked"] is None, cat
    # both sides measured, and reported
    assert res["sides"] == ["without metadata", "chrt -f 80 taskset -c 0", "with metadata"]
    for m in ("max latency", "avg latency", "min latency"):
        for side in res["sides"]:
            assert len(res["metrics"][m]["sides"][side]["values"]) == 1
    html = (out / "report.html").read_text()
    assert "without metadata" in html and "with metadata" in html and "data:image/png;base64," in html
    # the kernel's action lines, as the module wrote them (results.json sorts the keys, so compare token sets)
    # (tags dropped: the last line of the <pre> block ends in "</pre>")
    lines = [set(re.sub(r"<[^>]+>", " ", ln).split()) for ln in html.splitlines()]
    for a in rec["actions"]:
        assert {f"{k}={v}" for k, v in a.items()} in lines, a
    assert "== what changed" in printed and "max latency" in printed
