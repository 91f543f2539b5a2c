"""sorto.hookfs on a real record block of the module (tests/data/hookfs/, see tests/data/README.md)."""

from __future__ import annotations

import pytest

from sorto import hookfs, policy
from sorto.errors import SortoError

from .conftest import EVERY_FIELD, REPO

BLOCK = (REPO / "tests" / "data" / "hookfs" / "records-demo-6.12.txt").read_text()


def test_real_block_policy_privs_and_actions() -> None:
    (rec,) = hookfs.parse_records(BLOCK)
    assert (rec.seq, rec.comm, rec.file, rec.result, rec.length) == (1, "demo", "/usr/bin/demo", "ok", 304)
    demo = policy.load(EVERY_FIELD)
    assert rec.policy["sched"] == demo["sched"] and rec.policy["irq_defer"] == demo["irq_defer"]
    assert rec.privs == {"uid": 0, "secure": False, "cap_sys_nice": True, "cap_ipc_lock": True,
                         "rlimit_rtprio": 0, "rlimit_memlock": 8388608}
    assert [(a["kind"], a["target"], a["result"]) for a in rec.actions] == [
        ("mlock", "text", "applied"), ("mlock", "data", "applied"), ("mlock", "heap", "applied"),
        ("mlock", "stack", "applied"), ("mlock", "file:libc.so.6", "skipped"), ("sched", "cpus", "applied"),
        ("sched", "policy", "applied"), ("irq", "37", "skipped"), ("irq", "virtio0", "skipped")]
    assert rec.action("mlock", "stack")["applied"] == "65536"  # max_bytes of the policy
    assert rec.action("sched", "policy")["applied"] == "fifo:10:0"
    assert not rec.actions_truncated
    with pytest.raises(KeyError):
        rec.action("mlock", "all")


@pytest.mark.parametrize("line,msg", [
    (" action kind=mlock target=text asked=1 applied=1 result=applied", "action without reason"),
    (" action kind=mlock target text", "token without '='"),
])
def test_bad_action_line_names_the_line(line: str, msg: str) -> None:
    lines = BLOCK.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith(" action"))
    lines[at] = line
    with pytest.raises(SortoError, match=rf"records:{at + 1}: .*{msg}"):
        hookfs.parse_records("\n".join(lines) + "\n")
