"""In QEMU: policies that act (memory locking, scheduling, interrupt deferral) and the trust model.

One guest per kernel, booted with ``threadirqs`` and a virtio-rng device, so
the virtio interrupt has a thread ("irq/N-virtio0") that a policy can defer.
The programs report from inside what they got (VmLck, sched_getscheduler,
sched_getparam, sched_getaffinity, getrusage page faults); the module's
records say what was asked, applied, clamped and why.  Expected region sizes
come from the ELF program headers, read on the host with pyelftools.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from sorto import codec, elfsection, hookfs, policy
from sorto import format as F
from sorto.guest import build
from sorto.guest.harness import Guest

from .. import hostile_elf

DBG = "/sys/kernel/debug/sorto_hook"
PARAMS = "/sys/module/sorto_hook/parameters"
PAGE = 4096
SCHED_RESET_ON_FORK = 0x40000000
# Debian's 6.1/6.12 on 32-bit ARM warn once at boot when "threadirqs" is on
# the command line: the early parameter enables a static key before
# jump_label_init().  The key still takes effect (the threads exist).
THREADIRQS_BOOT_WARNING = "setup_forced_irqthreads"
INSMOD = "insmod /lib/modules/sorto_hook.ko irq_allow=virtio0"
TRACE_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "guest-policyprobe"

MLOCK = [{"region": "text"}, {"region": "data"}, {"region": "stack"}]
FIFO = {"policy": "fifo", "priority": 30, "cpus": [1]}
# The virtio interrupt thread starts on CPU 0 or on both: programs that defer
# it run on CPU 0, so "away" visibly moves it to CPU 1 alone.
FIFO0 = {"policy": "fifo", "priority": 30, "cpus": [0]}
POLICIES: dict[str, dict] = {
    "pp-mlock": {"mlock": MLOCK},
    "pp-fifo": {"sched": FIFO},
    "pp-batch": {"sched": {"policy": "batch", "nice": 5, "cpus": [0]}},
    "pp-irq": {"sched": FIFO0, "irq_defer": [{"name": "virtio0", "away": True}]},
    "pp-irq-low": {"sched": {"policy": "fifo", "priority": 20, "cpus": [0]}, "irq_defer": [{"name": "virtio0"}]},
    "pp-full": {"mlock": MLOCK, "sched": FIFO0, "irq_defer": [{"name": "virtio0", "away": True}]},
    "pp-nonsense": {
        "mlock": [{"region": "file", "name": "nosuch.so"}, {"region": "heap"}],
        "sched": {"policy": "rr", "priority": 99, "cpus": [3, 200]},
        "irq_defer": [{"irq": 99999}, {"name": "nosuchirq"}],
    },
}


def elf_regions(path: Path) -> dict[str, int]:
    """Page-rounded text and data+bss sizes from the PT_LOAD headers, as the loader maps them."""
    out = {}
    with path.open("rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg["p_type"] != "PT_LOAD":
                continue
            lo = seg["p_vaddr"] // PAGE * PAGE
            if seg["p_flags"] & P_FLAGS.PF_X:
                out["text"] = -(-(seg["p_vaddr"] + seg["p_filesz"]) // PAGE) * PAGE - lo
            elif seg["p_flags"] & P_FLAGS.PF_W:
                out["data"] = -(-(seg["p_vaddr"] + seg["p_memsz"]) // PAGE) * PAGE - lo
    return out


def inject(src: Path, pol: dict, out: Path) -> None:
    p = out.with_suffix(".json")
    p.write_text(json.dumps({"version": 1, **pol}))
    subprocess.run([sys.executable, "-m", "sorto", "inject", str(src), "--policy", str(p), "-o", str(out), "-q"],
                   check=True)


# Session scope, as the guest of conftest.py: pytest then runs all tests of
# one kernel before the other, and each kernel's guest boots once.
@pytest.fixture(scope="session")
def act_files(guest_art, tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp(f"act-{guest_art.kernel_series}")
    progs = guest_art.programs
    files: dict[str, Path] = {}
    for name in ["policyprobe", "runas", "wakelat"]:
        files[f"/usr/bin/{name}"] = progs / name
    for name, pol in POLICIES.items():
        inject(progs / "policyprobe", pol, d / name)
        files[f"/usr/bin/{name}"] = d / name
    inject(progs / "policyprobe-dyn-pie", POLICIES["pp-mlock"], d / "pp-dyn-mlock")
    files["/usr/bin/pp-dyn-mlock"] = d / "pp-dyn-mlock"
    shutil.copy2(progs / "policyprobe-dyn-pie", d / "pp-dyn-plain")
    files["/usr/bin/pp-dyn-plain"] = d / "pp-dyn-plain"
    inject(progs / "hello-static", POLICIES["pp-irq"], d / "hello-irq")
    files["/usr/bin/hello-irq"] = d / "hello-irq"
    # The loop closed: the policy `sorto analyze` derives from a real guest
    # trace of policyprobe (tests/data/guest-policyprobe), injected back.
    analyzed = d / "analyzed.json"
    subprocess.run([sys.executable, "-m", "sorto", "analyze", str(TRACE_FIXTURE), "-o", str(analyzed), "-q"],
                   check=True)
    subprocess.run([sys.executable, "-m", "sorto", "inject", str(progs / "policyprobe"), "--policy", str(analyzed),
                    "-o", str(d / "pp-analyzed"), "-q"], check=True)
    files["/usr/bin/pp-analyzed"] = d / "pp-analyzed"
    # Outside trusted_paths: the same bytes, never trusted.
    files["/t/pp-mlock"] = d / "pp-mlock"
    files["/t/pp-fifo"] = d / "pp-fifo"
    # A priority the schema cannot express (200): only a hand-made record has it.
    rec = bytearray(codec.encode(policy.normalize({"version": 1, "sched": {"policy": "fifo", "priority": 99}})))
    assert struct.unpack_from("<H", rec, F.HEADER_SIZE)[0] == F.FIELD_SCHED
    rec[F.HEADER_SIZE + F.FIELD_HEADER_SIZE + 1] = 200
    elfsection.write_section(progs / "policyprobe", hostile_elf.reseal(rec), d / "pp-badprio")
    files["/usr/bin/pp-badprio"] = d / "pp-badprio"
    cpio = build.payload_cpio(guest_art, files, d / "act.cpio.gz")
    sizes = {"static": elf_regions(progs / "policyprobe"), "dyn": elf_regions(progs / "policyprobe-dyn-pie")}
    return {"cpio": cpio, "sizes": sizes}


@pytest.fixture(scope="session")
def g(guest_art, act_files, tmp_path_factory) -> Iterator[Guest]:
    log = tmp_path_factory.mktemp("console") / f"act-{guest_art.kernel_series}.log"
    guest = Guest(guest_art.zimage, [guest_art.initramfs, act_files["cpio"]], log, append="threadirqs",
                  extra_args=["-device", "virtio-rng-device"])
    try:
        guest.check(INSMOD)
        yield guest
        problems = guest.kernel_problems(known=(THREADIRQS_BOOT_WARNING,))
        assert not problems, "kernel reported problems:\n" + "\n".join(problems) + "\n" + guest.tail()
    finally:
        guest.close()


def probe(g: Guest, cmd: str) -> dict[str, str]:
    out = g.check(cmd)
    m = re.search(r"^policyprobe (.*)$", out, re.M)
    assert m, out
    return dict(t.split("=", 1) for t in m.group(1).split())


def last_record(g: Guest, path: str) -> hookfs.HookRecord:
    recs = [r for r in hookfs.parse_records(g.check(f"cat {DBG}/records")) if r.file == path]
    assert recs, f"no record for {path}"
    return recs[-1]


def stats(g: Guest) -> dict[str, int]:
    return hookfs.parse_stats(g.check(f"cat {DBG}/stats"))


IRQ_STATE = ("T=$(ps -o pid,comm | awk '/irq\\/[0-9]+-virtio0/ {print $1}'); "
             "echo irqstate $(cut -d' ' -f19,40,41 /proc/$T/stat) $(grep Cpus_allowed_list /proc/$T/status | cut -f2)")


def irq_states(out: str) -> list[tuple[int, int, int, str]]:
    """(nice, rt_priority, policy, cpus) of the virtio0 thread, one per irqstate line."""
    return [(int(a), int(b), int(c), d) for a, b, c, d in re.findall(r"^irqstate (\S+) (\S+) (\S+) (\S+)", out, re.M)]


def settled_irq_state(g: Guest, want: tuple, tries: int = 25) -> tuple:
    """Restoring runs in a work item after the exit: poll briefly for it."""
    for _ in range(tries):
        got = irq_states(g.check(IRQ_STATE))[0]
        if got == want:
            return got
        time.sleep(0.2)
    return got


@pytest.fixture()
def irq_orig(g: Guest) -> tuple:
    state = irq_states(g.check(IRQ_STATE))
    assert len(state) == 1, "no virtio0 interrupt thread: threadirqs or virtio-rng missing"
    nice, prio, pol, cpus = state[0]
    # SCHED_FIFO 50, the kernel's default for irq threads; its CPUs follow the
    # interrupt's (effective) affinity: "0" on 6.x's GIC, "0-1" on 4.14.
    assert (nice, prio, pol) == (0, 50, 1) and cpus in ("0", "0-1"), state
    return state[0]


@pytest.mark.parametrize("variant", ["static", "dyn"])
def test_mlock_regions_resident_and_fault_free(g: Guest, act_files: dict, variant: str) -> None:
    plain, meta = ("/usr/bin/policyprobe", "/usr/bin/pp-mlock") if variant == "static" else \
        ("/usr/bin/pp-dyn-plain", "/usr/bin/pp-dyn-mlock")
    before = probe(g, plain)
    assert int(before["vmlck_kb"]) == 0
    # 4 MiB of bss alone is 1024 pages: without locking, each one faults.
    assert int(before["faults"]) >= 1024, before
    after = probe(g, meta)
    rec = last_record(g, meta)
    assert rec.trust == {"trusted": True, "reason": "-"}
    sizes = act_files["sizes"][variant]
    for region in ("text", "data"):
        a = rec.action("mlock", region)
        assert (a["result"], int(a["asked"]), int(a["applied"])) == ("applied", sizes[region], sizes[region]), a
    stack = rec.action("mlock", "stack")
    assert stack["result"] == "applied" and int(stack["applied"]) >= 128 * 1024, stack
    locked = sizes["text"] + sizes["data"] + int(stack["applied"])
    assert int(after["vmlck_kb"]) * 1024 == locked, (after, rec.actions)
    assert int(after["faults"]) == 0, after


def test_policy_from_analyze_removes_the_faults(g: Guest) -> None:
    """trace -> analyze -> inject -> run: the program the trace was taken of no longer faults on its memory."""
    before = probe(g, "/usr/bin/policyprobe")
    after = probe(g, "/usr/bin/pp-analyzed")
    assert int(before["faults"]) >= 1024 and int(after["faults"]) == 0, (before, after)
    rec = last_record(g, "/usr/bin/pp-analyzed")
    assert rec.policy["profile"]["status"] == "profiled"
    locked = {a["target"] for a in rec.actions if a["kind"] == "mlock" and a["result"] == "applied"}
    assert {"text", "data"} <= locked, rec.actions


@pytest.mark.parametrize("name,want", [
    ("pp-fifo", (1, 30, 0, "1")),
    ("pp-batch", (3, 0, 5, "0")),
])
def test_sched_read_back_from_inside(g: Guest, name: str, want: tuple) -> None:
    got = probe(g, f"/usr/bin/{name}")
    policy_nr = int(got["policy"]) & ~SCHED_RESET_ON_FORK
    assert (policy_nr, int(got["prio"]), int(got["nice"]), got["cpus"]) == want, got
    rec = last_record(g, f"/usr/bin/{name}")
    assert rec.action("sched", "policy")["result"] == "applied"
    assert rec.action("sched", "cpus")["applied"] == want[3]


def test_irq_thread_deferred_while_running_then_restored(g: Guest, irq_orig: tuple) -> None:
    base = stats(g)
    out = g.check(f"/usr/bin/pp-irq 5000 > /tmp/o & sleep 1; {IRQ_STATE}; cat {DBG}/deferred; wait; cat /tmp/o",
                  timeout=120)
    during = irq_states(out)[0]
    # The program runs SCHED_FIFO 30 on CPU 0: the thread goes to FIFO 29, off CPU 0.
    assert during == (0, 29, 1, "1"), out
    assert re.search(r"^thread pid=\d+ comm=irq/\d+-virtio0 irq=\d+ refs=1 saved=1:50:0", out, re.M), out
    assert settled_irq_state(g, irq_orig) == irq_orig
    st = stats(g)
    assert st["irq_threads_deferred"] == 0
    assert st["irq_threads_restored"] == base["irq_threads_restored"] + 1
    a = last_record(g, "/usr/bin/pp-irq").actions[-1]
    assert (a["kind"], a["asked"], a["result"]) == ("irq", "defer+away", "applied"), a
    assert a["applied"].endswith(":fifo:29:0@1"), a


def test_overlapping_programs_get_the_lowest_and_restore_once(g: Guest, irq_orig: tuple) -> None:
    # Generous margins: sampling the thread forks and execs a few programs,
    # which takes seconds on a slow emulated guest (KASAN, lockdep).
    cmd = (f"/usr/bin/pp-irq 12000 > /dev/null & sleep 0.5; /usr/bin/pp-irq-low 3000 > /dev/null & sleep 2; "
           f"{IRQ_STATE}; sleep 5; {IRQ_STATE}; wait")
    out = g.check(cmd, timeout=180)
    both, only_first = irq_states(out)
    assert both == (0, 19, 1, "1"), out  # below the lower of FIFO 30 and FIFO 20, away from CPU 0
    assert only_first == (0, 29, 1, "1"), out
    assert settled_irq_state(g, irq_orig) == irq_orig


def test_thousand_short_runs_leave_nothing_behind(g: Guest, irq_orig: tuple) -> None:
    base = stats(g)
    g.check("i=0; while [ $i -lt 1000 ]; do /usr/bin/hello-irq > /dev/null || exit 1; i=$((i+1)); done",
            timeout=900)
    assert settled_irq_state(g, irq_orig) == irq_orig
    st = stats(g)
    assert st["irq_threads_restored"] - base["irq_threads_restored"] == 1000
    assert st["irq_threads_deferred"] == 0
    assert g.check(f"cat {DBG}/deferred").strip() == ""


def test_unload_while_deferred_restores(g: Guest, irq_orig: tuple) -> None:
    out = g.check(f"/usr/bin/pp-irq 6000 > /dev/null & sleep 1; {IRQ_STATE}; rmmod sorto_hook; {IRQ_STATE}; wait",
                  timeout=120)
    during, after_rmmod = irq_states(out)
    assert during == (0, 29, 1, "1") and after_rmmod == irq_orig, out
    g.check(INSMOD)


@pytest.mark.parametrize("setup,run,reason", [
    ("cp /usr/bin/pp-full /usr/bin/u-owner && chown 1000 /usr/bin/u-owner", "/usr/bin/u-owner", "owner-not-root"),
    ("cp /usr/bin/pp-full /usr/bin/u-gw && chmod 775 /usr/bin/u-gw", "/usr/bin/u-gw", "writable-by-group-or-others"),
    ("true", "strace -f -o /tmp/strace.log /usr/bin/pp-full", "traced"),
])
def test_untrusted_binary_gets_no_privileged_action(g: Guest, irq_orig: tuple, setup: str, run: str,
                                                     reason: str) -> None:
    g.check(setup)
    out = g.check(f"{run} 4000 > /tmp/o & sleep 1; {IRQ_STATE}; wait; cat /tmp/o", timeout=120)
    assert irq_states(out)[0] == irq_orig, out  # the interrupt thread was never touched
    got = dict(t.split("=", 1) for t in re.search(r"^policyprobe (.*)$", out, re.M).group(1).split())
    assert int(got["policy"]) == 0 and int(got["prio"]) == 0, got  # no real-time class
    rec = last_record(g, run.split()[-1])
    assert rec.trust == {"trusted": False, "reason": reason}
    assert rec.action("sched", "policy")["result"] == "refused"
    assert rec.action("irq", "virtio0")["reason"] == "untrusted"


def test_unprivileged_user_small_memlock_is_clamped_not_refused(g: Guest) -> None:
    got = probe(g, "/usr/bin/runas 1000 1048576 0 /t/pp-mlock")
    assert int(got["vmlck_kb"]) == 1024, got  # exactly the user's RLIMIT_MEMLOCK
    rec = last_record(g, "/t/pp-mlock")
    assert rec.trust == {"trusted": False, "reason": "path-not-allowed"}
    applied = sum(int(a["applied"]) for a in rec.actions if a["kind"] == "mlock")
    assert applied == 1048576, rec.actions
    clamped = [a for a in rec.actions if a["kind"] == "mlock" and a["result"] == "clamped"]
    assert clamped and all(a["reason"] == "rlimit-memlock" for a in clamped), rec.actions


def test_untrusted_rt_clamped_to_the_users_rlimit(g: Guest) -> None:
    got = probe(g, "/usr/bin/runas 1000 65536 10 /t/pp-fifo")
    assert (int(got["policy"]), int(got["prio"])) == (1, 10), got  # no reset-on-fork: the user may do this
    a = last_record(g, "/t/pp-fifo").action("sched", "policy")
    assert (a["result"], a["reason"], a["applied"]) == ("clamped", "untrusted-rlimit-rtprio", "fifo:10:0"), a


def test_trusted_binary_for_a_normal_user(g: Guest, act_files: dict) -> None:
    got = probe(g, "/usr/bin/runas 1000 65536 0 /usr/bin/pp-fifo")
    # Granted by trust beyond the user's rlimit: children start as SCHED_OTHER.
    assert int(got["policy"]) == 1 | SCHED_RESET_ON_FORK and int(got["prio"]) == 30, got
    got = probe(g, "/usr/bin/runas 1000 65536 0 /usr/bin/pp-mlock")
    sizes = act_files["sizes"]["static"]
    assert int(got["vmlck_kb"]) * 1024 > sizes["text"] + sizes["data"] and int(got["faults"]) == 0, got


def test_nonsense_is_clamped_or_ignored_and_the_program_runs(g: Guest) -> None:
    got = probe(g, "/usr/bin/pp-nonsense")
    assert (int(got["policy"]) & ~SCHED_RESET_ON_FORK, int(got["prio"])) == (2, 49), got
    rec = last_record(g, "/usr/bin/pp-nonsense")
    assert rec.action("sched", "policy")["reason"] == "admin-max-rt-prio"
    assert (rec.action("sched", "cpus")["result"], rec.action("sched", "cpus")["reason"]) == \
        ("refused", "no-usable-cpu")
    assert rec.action("irq", "99999")["result"] == "skipped"
    assert rec.action("irq", "nosuchirq")["result"] == "skipped"
    assert rec.action("mlock", "file:nosuch.so")["reason"] == "not-mapped-at-exec"
    # Root runs it and has CAP_IPC_LOCK: locking future mappings cannot fail later.
    assert rec.action("mlock", "heap")["applied"] == "0+future"
    # Priority 200 does not decode: the record is rejected, the program still runs.
    got = probe(g, "/usr/bin/pp-badprio")
    assert int(got["policy"]) == 0
    bad = last_record(g, "/usr/bin/pp-badprio")
    assert (bad.result, bad.error_code, bad.actions) == ("error", 17, [])


def test_admin_limits(g: Guest) -> None:
    try:
        g.check(f"echo 10 > {PARAMS}/max_rt_prio && echo N > {PARAMS}/mlock")
        got = probe(g, "/usr/bin/pp-fifo")
        assert int(got["prio"]) == 10, got
        assert last_record(g, "/usr/bin/pp-fifo").action("sched", "policy")["reason"] == "admin-max-rt-prio"
        got = probe(g, "/usr/bin/pp-mlock")
        assert int(got["vmlck_kb"]) == 0, got
        assert last_record(g, "/usr/bin/pp-mlock").action("mlock", "text")["reason"] == "disabled-by-admin"
    finally:
        g.check(f"echo 49 > {PARAMS}/max_rt_prio && echo Y > {PARAMS}/mlock")
