"""`sorto trace --ssh` against a real OpenSSH server: a private sshd on 127.0.0.1 serving this machine.

This machine stands in for a board: the same shell lines run through ssh,
host files are copied over the ssh channel, and what the kernel here refuses
(this host's kernel forbids the function tracers) must come back as skipped
passes, not as failures or empty logs.  Needs root (sshd, tracefs) and
OpenSSH (``make deps`` installs it); skipped otherwise.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sorto.trace.manifest import sha256

from .conftest import free_port

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path(SSHD).exists() or not shutil.which("ssh"),
                                reason="needs root and OpenSSH (make deps)")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    d = tmp_path_factory.mktemp("sshd")
    d.chmod(0o700)
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    (d / "authorized_keys").chmod(0o600)
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        f"PidFile {d / 'sshd.pid'}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    options = ["StrictHostKeyChecking=no", f"UserKnownHostsFile={d / 'known_hosts'}"]
    opts = ["--ssh-port", str(port), "--ssh-key", str(d / "client")]
    for o in options:
        opts += ["--ssh-option", o]
    try:
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            proc.kill()
            pytest.fail("sshd did not start: " + proc.stdout.read().decode(errors="replace"))
        yield {"opts": opts, "dir": d, "port": port, "key": str(d / "client"), "options": options}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_trace_over_ssh(sshd: dict, tmp_path: Path) -> None:
    # A host file given by relative path is copied to the board and run there.  It runs long enough
    # (about 0.1 s of CPU in the kernel, reading /dev/urandom) for perf's 1 kHz sampling to catch it:
    # a run of a few ms once gave an empty perf script, which sorto parse rejects.
    prog = tmp_path / "work.sh"
    prog.write_text("#!/bin/sh\nfor i in 1 2 3 4 5; do cat /proc/self/status > /dev/null; done\n"
                    "dd if=/dev/urandom of=/dev/null bs=64k count=1000 2>/dev/null\necho work-done\n")
    prog.chmod(0o755)
    out = tmp_path / "trace"
    proc = subprocess.run([sys.executable, "-m", "sorto", "trace", "--ssh", "root@127.0.0.1", *sshd["opts"],
                           "--out", str(out), "-q", "--", "./work.sh"], cwd=tmp_path, capture_output=True,
                          text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    m = json.loads((out / "manifest.json").read_text())
    assert m["target"] == "ssh:root@127.0.0.1" and m["kernel_release"] == os.uname().release
    assert m["command"] == ["/tmp/sorto-trace/bin/work.sh"]
    assert m["command_host_files"] == {"/tmp/sorto-trace/bin/work.sh": str(prog)}
    status = {t["tracer"]: t for t in m["tracers"]}
    # Whatever this kernel refuses is skipped with a reason, never an empty "ok".
    for t in status.values():
        assert t["status"] in ("ok", "skipped"), t
        if t["status"] == "skipped":
            assert t["reason"], t
    for name in ("events", "strace_summary", "strace_timestamps", "perf_script", "perf_sched", "memory"):
        assert status[name]["status"] == "ok", status[name]
    # The host's per-CPU ring buffer stats were read: a count, not a guess.
    assert isinstance(status["events"]["ring_overrun"], int) and status["events"]["ring_overrun"] >= 0
    # This kernel took the events pass's filters on the command's name (read back from tracefs).
    assert status["events"]["event_filters"] == {
        "sched/sched_switch": 'prev_comm == "work.sh" || next_comm == "work.sh"',
        "sched/sched_wakeup": 'comm == "work.sh"'}
    assert "work-done" in (out / "command_output.txt").read_text()
    for f in m["files"]:
        assert sha256(out / f["name"]) == f["sha256"]

    logs = ["strace_summary.txt", "strace_timestamps.txt", "ftrace_events.txt", "perf_script.txt",
            "perf_sched_latency.txt", "perf_sched_timehist.txt"]
    parsed = subprocess.run([sys.executable, "-m", "sorto", "parse", *[str(out / n) for n in logs],
                             "--out", str(tmp_path / "tables"), "--json"], capture_output=True, text=True, check=True)
    results = {r["type"]: r for r in json.loads(parsed.stdout)}
    assert set(results) == {"strace_summary", "strace_timestamps", "ftrace_events", "perf_script",
                            "perf_sched_latency", "perf_sched_timehist"}
    assert all(r["rows"] > 0 for r in results.values()), results
    with open(results["strace_summary"]["output"]) as fh:
        calls = {r["syscall"]: int(r["calls"]) for r in csv.DictReader(fh)}
    # The script's children ran under -f: five cats opened /proc/self/status, dd read 300 blocks.
    assert calls["total"] == sum(n for k, n in calls.items() if k != "total")
    assert calls["read"] >= 300
    stat = (out / "proc_stat.txt").read_text().splitlines()
    assert stat and " T " in stat[0]  # first sample: stopped before it ran


def test_unreachable_board_fails_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "never"
    port = free_port()  # nothing listens there
    proc = subprocess.run([sys.executable, "-m", "sorto", "trace", "--ssh", "root@127.0.0.1", "--ssh-port",
                           str(port), "--out", str(out), "-q", "--", "true"],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "ssh root@127.0.0.1: cannot run commands" in proc.stderr
    assert not out.exists()


def test_board_executable_copied_home(sshd: dict, tmp_path: Path) -> None:
    """`sorto optimize --ssh` without --binary marks the board's own file: every byte of it, copied home."""
    from sorto.errors import SortoError
    from sorto.optimize import BoardTarget

    board = BoardTarget("root@127.0.0.1", sshd["port"], sshd["key"], sshd["options"], fetch_dir=tmp_path / "board")
    exe = board.resolve("true")  # as the loop does: the board's shell finds the command
    got = board.host_copy(exe)
    assert got == tmp_path / "board" / Path(exe).name and os.access(got, os.X_OK)
    assert got.read_bytes() == Path(exe).read_bytes()
    # all 256 byte values survive the channel (no tty, no text decoding)
    blob = tmp_path / "blob"
    blob.write_bytes(b"\x7fELF" + bytes(range(256)) * 64 + b"\r\n\n\x00")
    assert board.host_copy(str(blob)).read_bytes() == blob.read_bytes()
    # a script is no executable to mark; a missing file names the board and the path
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(SortoError, match=r"root@127\.0\.0\.1:.*run\.sh: not an ELF executable"):
        board.host_copy(str(script))
    with pytest.raises(SortoError, match=r"cannot read /nonexistent/prog \(status 1\): cat: /nonexistent/prog"):
        board.host_copy("/nonexistent/prog")


def test_board_resolves_commands_in_its_path(sshd: dict) -> None:
    """A bare name is the board's file in its PATH, even when the shell has a builtin of that name."""
    from sorto.errors import SortoError
    from sorto.optimize import BoardTarget

    board = BoardTarget("root@127.0.0.1", sshd["port"], sshd["key"], sshd["options"])
    r = subprocess.run(["sh", "-c", "command -v true"], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "true"  # the builtin, as `command -v` answers it
    got = board.resolve("true")
    assert got.startswith("/") and got.endswith("/true") and os.path.samefile(got, shutil.which("true")), got
    assert board.resolve("/opt/x/prog") == "/opt/x/prog"  # a path is the board's as given
    with pytest.raises(SortoError, match=r"no-such-prog: no executable of that name in the PATH of root@"):
        board.resolve("no-such-prog")


def test_board_lines_share_one_connection(sshd: dict) -> None:
    """Every line of a run goes over one ssh connection (a master), which close() stops and cleans up."""
    from sorto.optimize import BoardTarget

    board = BoardTarget("root@127.0.0.1", sshd["port"], sshd["key"], sshd["options"])
    conn = board._ssh()
    assert board._ssh() is conn
    pids = {conn.check("echo $PPID").strip() for _ in range(3)}
    check = [*conn.argv[:-1], "-O", "check", conn.argv[-1]]
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0  # a master runs
    # each line's shell is a child of the one sshd session process of that connection
    assert len(pids) == 1, pids
    folder = Path(next(o for o in conn.argv if o.startswith("ControlPath=")).split("=", 1)[1]).parent
    assert folder.is_dir()
    conn.close()
    assert subprocess.run(check, capture_output=True, check=False).returncode != 0 and not folder.exists()
