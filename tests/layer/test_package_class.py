"""sorto.bbclass's module over a packages tree of real cross-built ARM binaries.

The tree is what do_package holds in PKGD when the class runs: files
installed, debug info split, then stripped with the commands oe-core's
``runstrip()`` (meta/lib/oe/package.py) uses, hard links handled like its
``strip_execs()``.  The module then runs with a real BitBake datastore that has
the layer configuration and the class parsed into it.  Every marked executable
must decode with ``sorto show`` and behave the same under qemu-arm; everything
else must stay byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import CROSS_GCC, EVERY_FIELD, need, run_arm
from . import bbparse
from .bbparse import LAYER

# `make test` runs the venv's python without activating the venv: find the
# sorto console script next to the interpreter first.
TOOL_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
STRIP = "arm-linux-gnueabihf-strip"
OBJCOPY = "arm-linux-gnueabihf-objcopy"

HELLO = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    printf("%s argc=%d name=%s\n", GREETING, argc, strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0]);
    return EXIT;
}
"""
LIBFOO = "int foo(int x) { return x * 3; }\n"
SCRIPT = "#!/bin/sh\necho script\n"


def oe_is_elf(path: Path) -> int:
    """oe.package.is_elf(): the bit pattern from file(1)."""
    out = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True, check=True).stdout
    t = 0
    if "ELF" in out:
        t |= 1
        if "not stripped" not in out:
            t |= 2
        if "executable" in out:
            t |= 4
        if "shared" in out:
            t |= 8
    return t


def oe_runstrip(path: Path, elftype: int) -> None:
    """oe.package.runstrip() for the types in this tree (no kernel modules)."""
    cmd = [STRIP]
    if ".so" in path.name and elftype & 8:
        cmd += ["--remove-section=.comment", "--remove-section=.note", "--strip-unneeded"]
    elif elftype & 8 or elftype & 4:
        cmd += ["--remove-section=.comment", "--remove-section=.note"]
    cmd.append(str(path))
    subprocess.run(cmd, check=True, capture_output=True)


def oe_strip_execs(root: Path) -> None:
    """oe.package.strip_execs(): executables by mode, .so under lib; one strip per inode."""
    inodes: dict[int, Path] = {}
    mask = 0o111
    for p in sorted(root.rglob("*")):
        if p.is_symlink() or not p.is_file():
            continue
        st = p.lstat()
        if not (st.st_mode & mask or ("/lib/" in str(p) and ".so" in p.name)):
            continue
        if ".debug" in p.parts:  # split before stripping; oe-core strips only the files it scanned
            continue
        t = oe_is_elf(p)
        if not t & 1 or t & 2:  # not ELF, or already stripped (oe-core warns and skips)
            continue
        if st.st_ino in inodes:
            p.unlink()
            os.link(inodes[st.st_ino], p)
            continue
        inodes[st.st_ino] = p
        oe_runstrip(p, t)


def cc(out: Path, src: str, *flags: str) -> Path:
    c = out.with_suffix(".c")
    c.write_text(src)
    subprocess.run([CROSS_GCC, "-O2", "-o", str(out), str(c), *flags], check=True)
    c.unlink()
    return out


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def sorto_show(p: Path) -> dict:
    proc = subprocess.run([SORTO, "show", "--json", str(p)], capture_output=True, text=True)
    assert proc.returncode == 0, f"sorto show {p}: {proc.stderr}"
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def tools() -> None:
    for tool in (CROSS_GCC, STRIP, OBJCOPY, "qemu-arm", "file"):
        need(tool)
    global SORTO
    found = shutil.which("sorto", path=TOOL_PATH)
    if found is None:
        pytest.fail("sorto not found next to the interpreter or on PATH: run 'make deps'")
    SORTO = found


SORTO = "sorto"


@pytest.fixture()
def tree(tools: None, tmp_path: Path) -> dict:
    """WORKDIR with a PKGD tree, recipe policies, a user policy folder; stripped like do_package."""
    work = tmp_path / "work"
    pkgd = work / "package"
    bindir = pkgd / "usr" / "bin"
    libdir = pkgd / "usr" / "lib"
    bindir.mkdir(parents=True)
    libdir.mkdir(parents=True)
    build = tmp_path / "build"
    build.mkdir()

    cc(bindir / "hello-dyn", HELLO, '-DGREETING="dyn"', "-DEXIT=3")
    cc(bindir / "hello-static", HELLO, '-DGREETING="static"', "-DEXIT=4", "-static")
    cc(bindir / "tool", HELLO, '-DGREETING="tool"', "-DEXIT=0")
    os.link(bindir / "tool", bindir / "tool-alias")
    cc(libdir / "libfoo.so.1", LIBFOO, "-shared", "-fPIC", "-Wl,-soname,libfoo.so.1")
    os.chmod(libdir / "libfoo.so.1", 0o755)
    (libdir / "libfoo.so").symlink_to("libfoo.so.1")
    (bindir / "script.sh").write_text(SCRIPT)
    os.chmod(bindir / "script.sh", 0o755)
    shutil.copy2("/bin/true", bindir / "x86-true")
    (bindir / "hello-link").symlink_to("hello-dyn")
    # the debug split oe-core does before stripping (an ELF "executable", mode kept)
    (bindir / ".debug").mkdir()
    subprocess.run([OBJCOPY, "--only-keep-debug", str(bindir / "hello-dyn"), str(bindir / ".debug" / "hello-dyn")],
                   check=True)
    # firmware for another core: ARM ELF executable under an excluded directory
    fw = pkgd / "lib" / "firmware"
    fw.mkdir(parents=True)
    shutil.copy2(bindir / "hello-static", fw / "m4-fw.elf")

    oe_strip_execs(pkgd)
    for rel in ("usr/bin/hello-dyn", "usr/bin/hello-static", "usr/bin/tool", "usr/lib/libfoo.so.1"):
        assert oe_is_elf(pkgd / rel) & 2, f"{rel} was not stripped"
    assert not oe_is_elf(bindir / ".debug" / "hello-dyn") & 2

    # recipe policy from SRC_URI (unpacked in WORKDIR/sorto-policy), user folder for PN
    (work / "sorto-policy").mkdir()
    shutil.copy(EVERY_FIELD, work / "sorto-policy" / "hello-dyn.yaml")
    user = tmp_path / "policies"
    (user / "demo").mkdir(parents=True)
    (user / "demo" / "tool.yaml").write_text(
        "version: 1\nprofile:\n  status: manual\n  source: site-policy\nsched:\n  policy: batch\n  nice: 5\n")

    d = bbparse.base_datastore(bbparse.write_stubs(tmp_path / "stubs"))
    d.setVar("PN", "demo")
    d.setVar("WORKDIR", str(work))
    d.setVar("PKGD", str(pkgd))
    d.setVar("HOST_ARCH", "arm")
    d.setVar("OBJCOPY", OBJCOPY)
    d.setVar("SORTO_POLICY_DIR", str(user))
    d.setVar("prefix", "/usr")
    d.setVar("nonarch_base_libdir", "/lib")
    d.setVar("PATH", TOOL_PATH)
    return {"d": d, "pkgd": pkgd, "work": work, "user": user}


def snapshot(pkgd: Path) -> dict[str, str]:
    return {p.relative_to(pkgd).as_posix(): sha(p) for p in sorted(pkgd.rglob("*"))
            if p.is_file() and not p.is_symlink()}


EXECS = {"usr/bin/hello-dyn": (3, b"dyn"), "usr/bin/hello-static": (4, b"static"), "usr/bin/tool": (0, b"tool"),
         "usr/bin/tool-alias": (0, b"tool")}


def test_inject_tree(tree: dict) -> None:
    import sorto_layer.package as sp

    d, pkgd = tree["d"], tree["pkgd"]
    before_runs = {rel: run_arm(pkgd / rel, "a", "b") for rel in EXECS}
    for rel, (code, word) in EXECS.items():
        assert before_runs[rel].returncode == code and word in before_runs[rel].stdout, before_runs[rel]
    before = snapshot(pkgd)
    ino_before = {rel: (pkgd / rel).stat().st_ino for rel in before}
    modes = {rel: (pkgd / rel).stat().st_mode for rel in before}

    cfg = sp.read_config(d)
    assert cfg.default_policy == LAYER / "files" / "sorto-default-policy.yaml"
    report = sp.inject_tree(pkgd, cfg)

    marked = {m.path: m for m in report.marked}
    assert sorted(marked) == ["usr/bin/hello-dyn", "usr/bin/hello-static", "usr/bin/tool"]
    assert marked["usr/bin/tool"].links == ["usr/bin/tool-alias"]
    assert marked["usr/bin/hello-dyn"].policy == tree["work"] / "sorto-policy" / "hello-dyn.yaml"
    assert marked["usr/bin/tool"].policy == tree["user"] / "demo" / "tool.yaml"
    assert marked["usr/bin/hello-static"].default

    # every executable carries a section sorto decodes, with the expected policy
    assert sorto_show(pkgd / "usr/bin/hello-dyn")["profile"]["status"] == "profiled"
    assert sorto_show(pkgd / "usr/bin/hello-static")["profile"]["status"] == "unprofiled"
    shown = sorto_show(pkgd / "usr/bin/tool")
    assert shown["profile"]["status"] == "manual" and shown["sched"]["policy"] == "batch"
    assert sorto_show(pkgd / "usr/bin/tool-alias") == shown

    # and runs as before under qemu-arm
    for rel in EXECS:
        after = run_arm(pkgd / rel, "a", "b")
        assert (after.returncode, after.stdout) == (before_runs[rel].returncode, before_runs[rel].stdout), rel
        assert (pkgd / rel).stat().st_mode == modes[rel]

    # hard links are still hard links
    a, b = (pkgd / "usr/bin/tool").stat(), (pkgd / "usr/bin/tool-alias").stat()
    assert a.st_ino == b.st_ino and a.st_nlink == 2

    # everything else is untouched: same bytes, same inode
    after = snapshot(pkgd)
    untouched = set(before) - set(EXECS)
    assert untouched == {"usr/lib/libfoo.so.1", "usr/bin/script.sh", "usr/bin/x86-true",
                         "usr/bin/.debug/hello-dyn", "lib/firmware/m4-fw.elf"}
    for rel in untouched:
        assert after[rel] == before[rel], rel
        assert (pkgd / rel).stat().st_ino == ino_before[rel], rel
    assert os.readlink(pkgd / "usr/bin/hello-link") == "hello-dyn"
    assert report.skipped["usr/bin/x86-true"].startswith("ELF machine 62")
    assert report.skipped["usr/bin/script.sh"] == "not ELF"
    assert report.skipped["usr/lib/libfoo.so.1"].startswith("ELF but not an executable")
    assert report.skipped["usr/bin/hello-link"] == "symlink"

    # the QA check finds nothing to complain about
    assert sp.find_unmarked(pkgd, cfg) == []

    # deterministic: a second run gives the same bytes (update in place, same record)
    sp.inject_tree(pkgd, cfg)
    assert snapshot(pkgd) == after


def test_qa_flags_executable_without_section(tree: dict) -> None:
    import sorto_layer.package as sp

    pkgd = tree["pkgd"]
    cfg = sp.read_config(tree["d"])
    assert sorted(sp.find_unmarked(pkgd, cfg)) == sorted(EXECS)
    sp.inject_tree(pkgd, cfg)
    cc(pkgd / "usr/bin/late", HELLO, '-DGREETING="late"', "-DEXIT=0")
    subprocess.run([STRIP, "--remove-section=.comment", "--remove-section=.note", str(pkgd / "usr/bin/late")],
                   check=True)
    assert sp.find_unmarked(pkgd, cfg) == ["usr/bin/late"]


def test_bad_policy_stops_with_file_and_field(tree: dict) -> None:
    import sorto_layer.package as sp

    bad = tree["work"] / "sorto-policy" / "hello-static.yaml"
    bad.write_text("version: 1\nsched:\n  policy: fifo\n  priority: 500\n")
    before = snapshot(tree["pkgd"])
    with pytest.raises(sp.SortoLayerError) as exc:
        sp.inject_tree(tree["pkgd"], sp.read_config(tree["d"]))
    msg = str(exc.value)
    assert "hello-static.yaml" in msg and "sched.priority" in msg and "/usr/bin/hello-static" in msg, msg
    # every policy is checked before the first file is touched: hello-dyn, first in order, is unmarked too
    assert snapshot(tree["pkgd"]) == before


def test_unknown_arch_needs_machine(tree: dict) -> None:
    import sorto_layer.package as sp

    d = tree["d"]
    d.setVar("HOST_ARCH", "or1k")
    with pytest.raises(sp.SortoLayerError, match="SORTO_ELF_MACHINE"):
        sp.read_config(d)
    d.setVar("SORTO_ELF_MACHINE", "40")
    assert sp.read_config(d).machine == 40


def test_file_checksums_and_enabled(tree: dict) -> None:
    import sorto_layer.package as sp

    d = tree["d"]
    assert sp.enabled(d)
    entries = sp.file_checksums(d).split()
    assert f"{LAYER / 'files' / 'sorto-default-policy.yaml'}:True" in entries
    # the library's own sources: what the codeparser does not hash (helpers; all code on BitBake 2.8)
    lib = sorted((LAYER / "lib" / "sorto_layer").glob("*.py"))
    assert [e for e in entries if "/lib/sorto_layer/" in e] == [f"{p.resolve()}:True" for p in lib]
    assert {p.name for p in lib} >= {"__init__.py", "elf.py", "kernel.py", "package.py"}
    assert f"{tree['user'] / 'demo'}:True" in entries
    d.setVar("CLASSOVERRIDE", "class-native")
    assert not sp.enabled(d)
