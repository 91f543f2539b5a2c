"""`sorto inject/show/verify` on real ARM executables with the real objcopy."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sorto import codec, policy
from sorto.guest import build

from .conftest import EVERY_FIELD, run_arm

DEMO = EVERY_FIELD


def sorto(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sorto", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=False)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def hello(arm_hello: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "hello"
    shutil.copy2(arm_hello, dst)
    return dst


def test_inject_show_verify(hello: Path) -> None:
    before = run_arm(hello, "x")
    os.chmod(hello, 0o751)
    r = sorto("inject", str(hello), "--policy", str(DEMO))
    assert r.returncode == 0, r.stderr
    assert oct(hello.stat().st_mode & 0o777) == "0o751"
    after = run_arm(hello, "x")
    assert (after.returncode, after.stdout) == (before.returncode, before.stdout) == (3, b"hi 2\n")
    r = sorto("show", "--json", str(hello))
    assert r.returncode == 0
    assert json.loads(r.stdout) == policy.load(DEMO)
    assert sorto("verify", str(hello)).returncode == 0
    assert "status profiled" in sorto("show", str(hello)).stdout
    # the section really is there for binutils too
    out = subprocess.run(["arm-linux-gnueabihf-readelf", "-S", "-W", str(hello)], capture_output=True, text=True).stdout
    assert out.count(".elf_hook_module_data") == 1


def test_inject_is_idempotent_and_updates(hello: Path, tmp_path: Path) -> None:
    assert sorto("inject", str(hello), "--policy", str(DEMO)).returncode == 0
    first = sha(hello)
    assert sorto("inject", str(hello), "--policy", str(DEMO)).returncode == 0
    assert sha(hello) == first
    other = tmp_path / "other.yaml"
    other.write_text("version: 1\nsched: {policy: batch, nice: 5}\n")
    assert sorto("inject", str(hello), "--policy", str(other)).returncode == 0
    shown = json.loads(sorto("show", "--json", str(hello)).stdout)
    assert shown["sched"] == {"policy": "batch", "nice": 5, "cpus": []}
    out = subprocess.run(["arm-linux-gnueabihf-readelf", "-S", "-W", str(hello)], capture_output=True, text=True).stdout
    assert out.count(".elf_hook_module_data") == 1
    assert run_arm(hello).stdout == b"hi 1\n"


def test_output_leaves_original_alone(hello: Path, tmp_path: Path) -> None:
    orig = sha(hello)
    out = tmp_path / "out"
    assert sorto("inject", str(hello), "--policy", str(DEMO), "-o", str(out)).returncode == 0
    assert sha(hello) == orig
    assert sorto("verify", str(hello)).returncode == 1
    assert sorto("verify", str(out)).returncode == 0


def test_objcopy_override_and_env(hello: Path) -> None:
    r = sorto("inject", str(hello), "--policy", str(DEMO), "--objcopy", "no-such-objcopy")
    assert r.returncode == 2 and "no-such-objcopy" in r.stderr
    r = sorto("inject", str(hello), "--policy", str(DEMO), env={"OBJCOPY": "arm-linux-gnueabihf-objcopy"})
    assert r.returncode == 0


def test_survives_yocto_strip(hello: Path) -> None:
    assert sorto("inject", str(hello), "--policy", str(DEMO)).returncode == 0
    strip = "arm-linux-gnueabihf-strip"
    subprocess.run([strip, "--remove-section=.comment", "--remove-section=.note", str(hello)], check=True)
    assert sorto("verify", str(hello)).returncode == 0
    subprocess.run([strip, "--strip-all", str(hello)], check=True)
    assert json.loads(sorto("show", "--json", str(hello)).stdout) == policy.load(DEMO)
    assert run_arm(hello).returncode == 3


def test_third_party_busybox(tmp_path: Path) -> None:
    """Debian's busybox-static:armhf, a binary this project did not build."""
    bb = build.busybox(build.cache_root() / "guest", progress=False)
    target = tmp_path / "busybox"
    shutil.copy2(bb, target)
    before = run_arm(target, "echo", "third", "party")
    assert sorto("inject", str(target), "--policy", str(DEMO)).returncode == 0
    after = run_arm(target, "echo", "third", "party")
    assert after.stdout == before.stdout == b"third party\n"
    assert after.returncode == before.returncode == 0
    assert json.loads(sorto("show", "--json", str(target)).stdout) == policy.load(DEMO)


def test_third_party_dynamic_hello(tmp_path: Path) -> None:
    """Debian's GNU hello for armhf: a dynamically linked PIE the project did not build."""
    debs = sorted((build.cache_root() / "guest" / "debs").glob("hello_*_armhf.deb"))
    assert debs, "hello:armhf not downloaded: run 'make deps'"
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(tmp_path / "x")], check=True)
    target = tmp_path / "x" / "usr" / "bin" / "hello"
    before = run_arm(target, "--greeting=third party")
    assert sorto("inject", str(target), "--policy", str(DEMO)).returncode == 0
    after = run_arm(target, "--greeting=third party")
    assert after.stdout == before.stdout == b"third party\n"
    assert after.returncode == before.returncode == 0
    assert json.loads(sorto("show", "--json", str(target)).stdout) == policy.load(DEMO)
    assert sorto("verify", str(target)).returncode == 0


def _bad(r: subprocess.CompletedProcess, path: Path, needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(path) in lines[0] and needle in lines[0], lines[0]


def test_bad_inputs_exit_2_and_leave_file_alone(hello: Path, tmp_path: Path) -> None:
    text = tmp_path / "notelf"
    text.write_text("just text\n")
    _bad(sorto("inject", str(text), "--policy", str(DEMO)), text, "not an ELF")

    trunc = tmp_path / "trunc"
    trunc.write_bytes(hello.read_bytes()[:40])
    h = sha(trunc)
    _bad(sorto("inject", str(trunc), "--policy", str(DEMO)), trunc, "truncated")
    assert sha(trunc) == h

    sparc = tmp_path / "sparc"
    data = bytearray(hello.read_bytes())
    data[18:20] = (2).to_bytes(2, "little")  # EM_SPARC
    sparc.write_bytes(bytes(data))
    h = sha(sparc)
    _bad(sorto("inject", str(sparc), "--policy", str(DEMO)), sparc, "no objcopy found for machine")
    assert sha(sparc) == h

    ro = tmp_path / "ro"
    shutil.copy2(hello, ro)
    os.chmod(ro, 0o555)
    h = sha(ro)
    _bad(sorto("inject", str(ro), "--policy", str(DEMO)), ro, "read-only")
    assert sha(ro) == h

    badpol = tmp_path / "bad.yaml"
    badpol.write_text("version: 1\nsched:\n  policy: fifo\n  priority: 500\n")
    h = sha(hello)
    _bad(sorto("inject", str(hello), "--policy", str(badpol)), badpol, "sched.priority")
    assert sha(hello) == h

    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"SRTO" + b"\xff" * 60)
    junk = tmp_path / "junk"
    subprocess.run(["arm-linux-gnueabihf-objcopy", "--add-section", f".elf_hook_module_data={garbage}",
                    str(hello), str(junk)], check=True)
    _bad(sorto("show", str(junk)), junk, "does not decode")
    r = sorto("verify", str(junk))
    assert r.returncode == 1 and "does not decode" in r.stderr
    assert list(tmp_path.glob(".sorto-*")) == []


def test_record_written_is_the_encoding(hello: Path) -> None:
    assert sorto("inject", str(hello), "--policy", str(DEMO)).returncode == 0
    from sorto import elfsection

    assert elfsection.read_section(hello) == codec.encode(policy.load(DEMO))


def test_inject_writes_what_objcopy_add_and_update_write(hello: Path, tmp_path: Path) -> None:
    """inject runs objcopy --remove-section --add-section: byte for byte --add-section on an unmarked
    file and --update-section on a marked one."""
    oc = "arm-linux-gnueabihf-objcopy"
    sec = ".elf_hook_module_data"
    record = tmp_path / "record"
    record.write_bytes(codec.encode(policy.load(DEMO)))
    added = tmp_path / "added"
    subprocess.run([oc, "--add-section", f"{sec}={record}", "--set-section-flags", f"{sec}=readonly,contents",
                    str(hello), str(added)], check=True)
    plain = tmp_path / "plain"
    shutil.copy2(hello, plain)
    assert sorto("inject", str(plain), "--policy", str(DEMO), "-q").returncode == 0
    assert sha(plain) == sha(added)
    other = tmp_path / "other.yaml"
    other.write_text("version: 1\nsched:\n  policy: rr\n  priority: 3\n")
    record.write_bytes(codec.encode(policy.load(other)))
    updated = tmp_path / "updated"
    subprocess.run([oc, "--update-section", f"{sec}={record}", str(added), str(updated)], check=True)
    assert sorto("inject", str(plain), "--policy", str(other), "-q").returncode == 0
    assert sha(plain) == sha(updated)
