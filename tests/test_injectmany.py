"""`sorto inject-many` on a tree of Debian armhf executables, with the real cross objcopy and readelf."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sorto import codec, elfsection, policy
from sorto.guest import build

from .conftest import EVERY_FIELD, need, run_arm

SCHED = "version: 1\nsched:\n  policy: fifo\n  priority: 20\n"


def sorto(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sorto", *args], capture_output=True, text=True,
                          input=stdin, env=dict(os.environ), check=False)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def is_elf(p: Path) -> bool:
    with p.open("rb") as fh:
        return fh.read(4) == b"\x7fELF"


@pytest.fixture
def tree(tmp_path: Path) -> list[Path]:
    """The executables of a few Debian armhf packages (hello, strace, util-linux, rt-tests), unpacked."""
    debs = build.cache_root() / "guest" / "debs"
    for name in ("hello", "strace", "util-linux", "rt-tests"):
        found = sorted(debs.glob(f"{name}_*_armhf.deb"))
        assert found, f"{name}:armhf not downloaded: run 'make deps'"
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(tmp_path / "root")], check=True)
    files = sorted(p for p in (tmp_path / "root").rglob("*")
                   if p.is_file() and not p.is_symlink() and os.access(p, os.X_OK) and is_elf(p))
    assert len(files) > 40, files
    return files


def test_marks_a_tree_like_inject_does(tree: list[Path], tmp_path: Path) -> None:
    sched = tmp_path / "sched.yaml"
    sched.write_text(SCHED)
    plan = tmp_path / "plan"
    want = {f: (EVERY_FIELD if i % 3 == 0 else sched) for i, f in enumerate(tree)}
    plan.write_text("".join(f"{f}\t{p}\n" for f, p in want.items()))
    # the single-file command on a copy of the first file: the batch must write the same bytes
    single = tmp_path / "single"
    single.write_bytes(tree[0].read_bytes())
    assert sorto("inject", str(single), "--policy", str(EVERY_FIELD), "-q").returncode == 0
    modes = {f: f.stat().st_mode for f in tree}

    r = sorto("inject-many", str(plan), "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{len(tree)} executables marked"
    assert sha(tree[0]) == sha(single)
    readelf = need("arm-linux-gnueabihf-readelf")
    for f, pol in want.items():
        assert codec.decode(elfsection.read_section(f)) == codec.decode(codec.encode(policy.load(pol))), f
        assert f.stat().st_mode == modes[f], f
        out = subprocess.run([readelf, "-S", "-W", str(f)], capture_output=True, text=True, check=True).stdout
        assert ".elf_hook_module_data" in out and not subprocess.run(
            [readelf, "-S", "-W", str(f)], capture_output=True, text=True).stderr, f
    # still programs: hello greets, strace and cyclictest print their versions
    hello = next(f for f in tree if f.name == "hello")
    assert run_arm(hello, "--greeting=marked").stdout == b"marked\n"
    strace = next(f for f in tree if f.name == "strace")
    assert b"strace -- version" in run_arm(strace, "-V").stdout
    # a second run replaces the sections in place: same bytes
    before = {f: sha(f) for f in tree}
    assert sorto("inject-many", str(plan), "-q").returncode == 0
    assert {f: sha(f) for f in tree} == before


def test_bad_policy_touches_nothing(tree: list[Path], tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(SCHED)
    bad.write_text("version: 1\nsched:\n  policy: fifo\n  priority: 500\n")
    # the bad policy comes last: the files before it in the plan must stay untouched too
    text = "".join(f"{f}\t{good}\n" for f in tree[:-1]) + f"{tree[-1]}\t{bad}\n"
    before = {f: sha(f) for f in tree}
    r = sorto("inject-many", "-", stdin=text)
    assert r.returncode == 2
    msg = r.stderr.strip()
    assert msg.startswith(f"sorto: policy for {tree[-1]}: {bad}:4") and "sched.priority" in msg, msg
    assert {f: sha(f) for f in tree} == before


def test_bad_file_is_reported_the_others_are_marked(tree: list[Path], tmp_path: Path) -> None:
    text_file = tmp_path / "script"
    text_file.write_text("#!/bin/sh\necho hi\n")
    files = [tree[0], text_file, tree[1]]
    r = sorto("inject-many", "-", stdin="".join(f"{f}\t{EVERY_FIELD}\n" for f in files))
    assert r.returncode == 2
    assert r.stderr.strip() == f"sorto: {text_file}: not an ELF file", r.stderr
    assert text_file.read_text() == "#!/bin/sh\necho hi\n"
    assert elfsection.read_section(tree[0]) and elfsection.read_section(tree[1])


@pytest.mark.parametrize("line, why", [
    ("onlyone", "expected BINARY<TAB>POLICY"),
    ("a\tb\tc", "expected BINARY<TAB>POLICY"),
    ("\tpolicy.yaml", "expected BINARY<TAB>POLICY"),
])
def test_bad_plan_line_names_plan_and_line(tmp_path: Path, line: str, why: str) -> None:
    plan = tmp_path / "plan"
    plan.write_text(f"/bin/x\t{EVERY_FIELD}\n\n{line}\n")
    r = sorto("inject-many", str(plan))
    assert r.returncode == 2 and r.stderr.startswith(f"sorto: {plan}:3: {why}"), r.stderr


def test_same_binary_twice_is_refused(tmp_path: Path) -> None:
    r = sorto("inject-many", "-", stdin=f"/bin/x\t{EVERY_FIELD}\n/bin/x\t{EVERY_FIELD}\n")
    assert r.returncode == 2 and "<stdin>:2: /bin/x is already planned at line 1" in r.stderr, r.stderr


def test_unreadable_plan(tmp_path: Path) -> None:
    r = sorto("inject-many", str(tmp_path / "missing"))
    assert r.returncode == 2 and f"{tmp_path / 'missing'}: cannot read the plan" in r.stderr
