"""`sorto optimize --ssh`: the loop on a board reached over SSH, the board being the guest with a network.

The board flavour of the guest (the release kernel plus IPv4 on virtio-net)
boots with QEMU's user networking forwarding a free host port to its port
22, where Debian's dropbear (armhf) serves root with a key made for the test.
Then `sorto optimize --ssh root@127.0.0.1` runs as a user would run it
against a board: no --binary (the executable is copied home from the board
over ssh, so the file marked is the file that runs), the module loaded
through --module, every tracer and every measured run over ssh.  Checked:
the copy is the board's file, and each step's output feeds the next (the
trace's digest in the policy, the policy in the marked binary, the kernel's
record of the marked run over ssh).  No timing is asserted.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sorto import codec, elfsection, policy
from sorto.analyze import load
from sorto.guest import build
from sorto.guest.harness import Guest
from sorto.trace.ssh import SshTarget

from ..conftest import free_port
from .test_act import THREADIRQS_BOOT_WARNING

pytestmark = pytest.mark.qemu

SERIES = "6.12"  # one series: the flavour costs a kernel build, and the ssh path does not depend on it


@pytest.fixture
def board(tmp_path: Path, pytestconfig: pytest.Config):
    """The board guest booted, dropbear serving root on a forwarded host port; yields the ssh options."""
    if SERIES not in pytestconfig.getoption("--kernels").split(","):
        pytest.skip(f"the board guest is built for {SERIES} only, which --kernels leaves out")
    art = build.build_guest(SERIES, progress=True, flavour="board")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    files = {"/root/.ssh/authorized_keys": key.with_suffix(".pub")}
    cpio = build.payload_cpio(art, files, tmp_path / "keys.cpio.gz")
    port = free_port()
    net = ["-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device", "virtio-net-device,netdev=n0"]
    with Guest(art.zimage, [art.initramfs, cpio], tmp_path / "console.log", append="threadirqs", smp=1,
               extra_args=net, boot_timeout=600) as g:
        g.check("mkdir -p /etc && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && chmod 700 /root/.ssh")
        g.check("ifconfig lo 127.0.0.1 up && ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up && "
                "route add default gw 10.0.2.2")
        g.check("mkdir -p /etc/dropbear && dropbear -R -s -p 22 -P /tmp/dropbear.pid")
        options = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"]
        opts = ["--ssh-port", str(port), "--ssh-key", str(key)]
        for o in options:
            opts += ["--ssh-option", o]
        yield {"guest": g, "art": art, "opts": opts, "ssh": SshTarget("root@127.0.0.1", port, str(key), options)}
        problems = g.kernel_problems(known=(THREADIRQS_BOOT_WARNING,))
        assert not problems, "kernel reported problems:\n" + "\n".join(problems) + "\n" + g.tail()


def test_optimize_over_ssh(board: dict, tmp_path: Path) -> None:
    # the board answers over ssh, and the module is not loaded yet: --module loads it
    rc, text = board["ssh"].run("grep -c '^sorto_hook ' /proc/modules")
    assert (rc, text.strip()) == (1, "0"), (rc, text)
    out = tmp_path / "opt"
    cmd = [sys.executable, "-m", "sorto", "optimize", "--ssh", "root@127.0.0.1", *board["opts"],
           "--module", "/lib/modules/sorto_hook.ko", "--out", str(out), "--rounds", "1", "--tune", "1",
           "--load", "hackbench -p -g 2 -l 1000000", "--baseline", "chrt -f 80 taskset -c 0", "--sram-budget", "0",
           "--quiet", "--", "cyclictest", "-q", "-i", "1000", "-l", "300"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    assert r.returncode == 0, f"{shlex.join(cmd)}\n{r.stdout}\n{r.stderr}\n{board['guest'].tail()}"
    res = json.loads((out / "results.json").read_text())

    # the executable marked is the board's own, copied home over ssh
    fetched = out / "board" / "cyclictest"
    assert fetched.read_bytes() == build.base_image_file(board["art"], "/usr/bin/cyclictest").read_bytes()
    # trace -> policy -> binary -> kernel, all over ssh
    digest = load.load(out / "trace-before").digest()
    manifest = json.loads((out / "trace-before" / "manifest.json").read_text())
    assert manifest["target"].startswith("ssh:"), manifest["target"]
    pol = policy.load(out / "policy.json")
    assert pol["profile"]["status"] == "profiled" and pol["profile"]["trace_sha256"] == digest
    assert codec.decode(elfsection.read_section(out / "bin" / "cyclictest")) == codec.decode(codec.encode(pol))
    rec = res["kernel_record"]
    assert rec["file"] == "/opt/sorto-optimize/bin/cyclictest" and rec["result"] == "ok", rec
    assert rec["trace_sha256"] == digest
    # Every action applied, except interrupt deferrals: no --module-args irq_allow=, so the administrator's
    # list refuses them (here it keeps the NIC carrying the ssh session undeferred).
    assert rec["actions"], rec
    for a in rec["actions"]:
        want = ("refused", "not-in-irq_allow") if a["kind"] == "irq" else ("applied", a["reason"])
        assert (a["result"], a["reason"]) == want, rec["actions"]
    assert any(a["kind"] != "irq" for a in rec["actions"]), rec["actions"]
    # a load the tuning marked was copied home from the board too, and ran marked
    hb = next(ld for ld in res["loads"] if ld["command"].startswith("hackbench"))
    if res["tune"] is not None:
        assert (out / "board" / "hackbench").read_bytes() == build.base_image_file(
            board["art"], "/usr/bin/hackbench").read_bytes()
        rec_hb = res["tune"]["load_records"][hb["command"]]
        assert rec_hb is not None and rec_hb["result"] == "ok", res["tune"]
    # both sides measured over ssh
    assert res["sides"] == ["without metadata", "chrt -f 80 taskset -c 0", "with metadata"]
    for side in res["sides"]:
        assert len(res["metrics"]["max latency"]["sides"][side]["values"]) == 1
    assert res["target"].startswith("ssh root@127.0.0.1"), res["target"]
