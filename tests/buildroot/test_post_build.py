"""board/sorto/post-build.sh and post-fakeroot.sh over a real armhf target tree.

The tree is what Buildroot's TARGET_DIR holds when post-build scripts run:
Debian's armhf busybox-static, hello, strace and util-linux (static, dynamic
PIE and set-uid executables, shell scripts), the cross toolchain's libc and
dynamic loader in /lib, stripped with the two commands of Buildroot's
``target-finalize`` (Makefile: STRIP_FIND_CMD and STRIP_FIND_SPECIAL_LIBS_CMD),
and ``packages-file-list.txt`` saying which package installed what.  The
scripts run with the environment Buildroot gives them (TARGET_DIR as $1,
BR2_CONFIG, HOST_DIR, BUILD_DIR, BR2_EXTERNAL_SORTO_PATH, PATH) and a .config
that Buildroot's Kconfig wrote from the tree's defconfig.

Two stand-ins, because nothing is built offline: HOST_DIR holds a Python
with only what host-python-sorto depends on (pyelftools, PyYAML) and the
``sorto`` package with its console script, as the host package installs it;
SORTO_TARGET_OBJCOPY, which external.mk points at Buildroot's cross objcopy,
is Debian's arm-linux-gnueabihf-objcopy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..conftest import EVERY_FIELD, REPO, need
from . import buildroot
from .buildroot import EXTERNAL

pytestmark = pytest.mark.xdist_group("buildroot")

CROSS = "arm-linux-gnueabihf-"
CROSS_LIB = Path("/usr/arm-linux-gnueabihf/lib")
DEFCONFIG = "sorto_qemu_arm_vexpress_defconfig"
# Debian package -> (a file in it, the Buildroot package that installs the same)
DEBS = {"busybox-static": ("bin/busybox", "busybox"), "hello": ("usr/bin/hello", "hello"),
        "strace": ("usr/bin/strace", "strace"), "util-linux": ("usr/bin/getopt", "util-linux")}
# what each program prints, before and after marking, under qemu-arm with the tree as its root
RUNS: dict[str, tuple[list[str], bytes]] = {
    "bin/busybox": (["echo", "static"], b""),
    "usr/bin/hello": ([], b""),
    "usr/bin/hello-again": ([], b""),
    "usr/bin/strace": (["-V"], b""),
    "usr/bin/rev": ([], b"deifram\n"),
    "usr/bin/getopt": (["-o", "ab:", "--", "-a", "-b", "x", "y"], b""),
}
HELLO_POLICY = "version: 1\nprofile:\n  status: manual\n  source: site-policy\nsched:\n  policy: batch\n  nice: 5\n"
DECOY_POLICY = "version: 1\nprofile:\n  status: manual\n  source: decoy\n"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Bytes and mode of every regular file; symlinks by target."""
    out: dict[str, tuple[str, int]] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = (os.readlink(p), 0)
        elif p.is_file():
            out[rel] = (sha(p), stat.S_IMODE(p.lstat().st_mode))
    return out


def arm_executables(root: Path) -> set[str]:
    """What must be marked, by file(1): regular files with an execute bit that are ARM ELF executables."""
    found = set()
    for p in sorted(root.rglob("*")):
        if p.is_symlink() or not p.is_file() or not p.stat().st_mode & 0o111:
            continue
        desc = subprocess.run(["file", "-b", str(p)], capture_output=True, text=True, check=True).stdout
        if "ELF 32-bit LSB" in desc and ", ARM," in desc and "executable" in desc:  # "setuid ELF ..." too
            found.add(p.relative_to(root).as_posix())
    return found


def run_in(root: Path, rel: str) -> subprocess.CompletedProcess:
    args, stdin = RUNS[rel]
    return subprocess.run(["qemu-arm", "-L", str(root), str(root / rel), *args], input=stdin, capture_output=True,
                          timeout=60)


def has_section(path: Path) -> bool:
    out = subprocess.run([f"{CROSS}readelf", "-S", "-W", str(path)], capture_output=True, text=True)
    return out.returncode == 0 and ".elf_hook_module_data" in out.stdout


@pytest.fixture(scope="session")
def host_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOST_DIR as host-python-sorto leaves it: python3 with pyelftools, PyYAML and sorto, bin/sorto."""
    import tomllib  # Python 3.11, as the tests run; the tool itself supports 3.9

    host = tmp_path_factory.mktemp("host")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(host)], check=True)
    py = host / "bin" / "python3"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    ours = Path(sysconfig.get_paths()["purelib"])
    for name in ("elftools", "yaml", "_yaml"):
        if (ours / name).exists():
            (site / name).symlink_to(ours / name)
    (site / "sorto").symlink_to(REPO / "scripts" / "sorto")
    entry = tomllib.loads((REPO / "scripts" / "pyproject.toml").read_text())["project"]["scripts"]["sorto"]
    module, func = entry.split(":")
    script = host / "bin" / "sorto"
    script.write_text(f"#!{py}\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n")
    script.chmod(0o755)
    probe = subprocess.run([str(py), "-c", "import importlib.util as u; print([m for m in "
                            "('jsonschema', 'jinja2', 'rpds') if u.find_spec(m)])"], capture_output=True, text=True)
    assert probe.stdout.strip() == "[]", probe  # only what the Buildroot package depends on
    return host


@pytest.fixture(scope="session")
def base_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(TARGET_DIR, BUILD_DIR): the Debian packages' files, libc, stripped like target-finalize, file list."""
    for tool in ("qemu-arm", "file", f"{CROSS}strip", f"{CROSS}objcopy", f"{CROSS}readelf", "dpkg-deb"):
        need(tool)
    from sorto.guest.build import cache_root, guest_deb_file

    top = tmp_path_factory.mktemp("buildroot-out")
    target, build = top / "target", top / "build"
    target.mkdir()
    build.mkdir()
    lines = []
    for deb, (member, pkg) in DEBS.items():
        unpacked = guest_deb_file(cache_root() / "guest", deb, member, progress=False)
        src = Path(str(unpacked)[: -len(member)])
        subprocess.run(["cp", "-a", f"{src}/.", str(target)], check=True)
        lines += [f"{pkg},./{p.relative_to(src).as_posix()}" for p in sorted(src.rglob("*"))
                  if p.is_file() or p.is_symlink()]
    (target / "lib").mkdir(exist_ok=True)
    for lib in ("libc.so.6", "ld-linux-armhf.so.3"):
        shutil.copy2(CROSS_LIB / lib, target / "lib" / lib)
        lines.append(f"glibc,./lib/{lib}")
    os.link(target / "usr/bin/hello", target / "usr/bin/hello-again")  # a package installing a hard link
    lines.append("hello,./usr/bin/hello-again")
    (build / "packages-file-list.txt").write_text("\n".join(lines) + "\n")
    # Buildroot's strip, as target-finalize runs it (Makefile, STRIPCMD of package/Makefile.in)
    strip = f"{CROSS}strip --remove-section=.comment --remove-section=.note"
    subprocess.run(["sh", "-c", f"find {target} -type f \\( -perm /111 -o -name '*.so*' \\) "
                    "-not \\( -name 'libpthread*.so*' -o -name 'ld-*.so*' -o -name '*.ko' \\) -print0 "
                    f"| xargs -0 {strip} 2>/dev/null || true; "
                    f"find {target} \\( -name 'ld-*.so*' -o -name 'libpthread*.so*' \\) -print0 "
                    f"| xargs -0 -r {strip} --strip-debug 2>/dev/null || true"], check=True)
    return target, build


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site policy folder laid out <package>/<path or name>.yaml."""
    root = tmp_path_factory.mktemp("policies")
    (root / "hello").mkdir()
    (root / "hello" / "hello.yaml").write_text(HELLO_POLICY)
    (root / "strace" / "usr" / "bin").mkdir(parents=True)
    shutil.copy(EVERY_FIELD, root / "strace" / "usr" / "bin" / "strace.yaml")
    (root / "busybox").mkdir()
    (root / "busybox" / "hello.yaml").write_text(DECOY_POLICY)  # busybox's, so never hello's
    return root


@pytest.fixture(scope="session")
def config(br_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``config(**options)``: a .config Kconfig wrote from the tree's defconfig plus host-python-sorto options."""
    out = tmp_path_factory.mktemp("kconfig")
    made: dict[tuple, Path] = {}

    def load(**options: str) -> Path:
        key = tuple(sorted(options.items()))
        if key not in made:
            extra = "".join(f'BR2_PACKAGE_HOST_PYTHON_SORTO_{k}="{v}"\n' for k, v in options.items())
            defconfig = out / f"defconfig-{len(made)}"
            defconfig.write_text((EXTERNAL / "configs" / DEFCONFIG).read_text() + extra)
            buildroot.check(br_tree, out, "defconfig", f"BR2_DEFCONFIG={defconfig}")
            made[key] = out / f"config-{len(made)}"
            shutil.copy(out / ".config", made[key])
            text = made[key].read_text()
            for k, v in options.items():  # Kconfig kept every option: they exist and are spelled right
                assert f'BR2_PACKAGE_HOST_PYTHON_SORTO_{k}="{v}"\n' in text, k
        return made[key]

    return load


def run_script(script: str, target: Path, build: Path, cfg: Path, host: Path,
               extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a board script as Buildroot does: ``<script> TARGET_DIR`` with its environment."""
    env = {"PATH": f"{host}/bin:{host}/sbin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "BR2_CONFIG": str(cfg),
           "HOST_DIR": str(host), "TARGET_DIR": str(target), "BUILD_DIR": str(build),
           "BR2_EXTERNAL_SORTO_PATH": str(EXTERNAL), "SORTO_TARGET_OBJCOPY": f"{CROSS}objcopy",
           "LC_ALL": "C", **(extra_env or {})}
    return subprocess.run([str(EXTERNAL / "board" / "sorto" / script), str(target)], env=env, capture_output=True,
                          text=True, timeout=600)


def fresh(base: Path, dest: Path) -> Path:
    """A copy of ``base`` keeping modes, links and hard links (cp -a)."""
    subprocess.run(["cp", "-a", str(base), str(dest)], check=True)
    return dest


@pytest.fixture(scope="session")
def marked(base_tree: tuple[Path, Path], host_dir: Path, site: Path, config: Callable[..., Path],
           tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tree after post-build.sh, with what it held before."""
    target = fresh(base_tree[0], tmp_path_factory.mktemp("marked") / "target")
    before = snapshot(target)
    runs = {rel: run_in(target, rel) for rel in RUNS}
    cfg = config(POLICY_DIR="$(SORTO_TEST_SITE)")
    proc = run_script("post-build.sh", target, base_tree[1], cfg, host_dir, {"SORTO_TEST_SITE": str(site)})
    return {"target": target, "before": before, "runs": runs, "proc": proc, "cfg": cfg}


def test_post_build_marks_every_executable(marked: dict, base_tree: tuple[Path, Path], host_dir: Path) -> None:
    proc, target = marked["proc"], marked["target"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = arm_executables(fresh(base_tree[0], target.parent / "unmarked"))
    assert len(expected) > 70 and {"bin/busybox", "usr/bin/hello", "usr/bin/strace", "bin/su"} <= expected
    # every ARM executable now carries the section, and nothing else does
    have = {rel for rel in marked["before"] if (target / rel).is_file() and not (target / rel).is_symlink()
            and has_section(target / rel)}
    assert have == expected
    # one line per inode: hello-again is hello's hard link, and still is
    said = [line.split()[1][1:] for line in proc.stdout.splitlines() if " marked with " in line]
    assert sorted(said) == sorted(expected - {"usr/bin/hello-again"}), proc.stdout
    assert (target / "usr/bin/hello").stat().st_ino == (target / "usr/bin/hello-again").stat().st_ino
    after = snapshot(target)
    for rel, (digest, mode) in marked["before"].items():
        if rel in expected:
            assert after[rel][1] == mode, rel  # su keeps 04755
        else:
            assert after[rel] == (digest, mode), rel  # libc, ld.so, scripts, symlinks: untouched
    assert after["bin/su"][1] == 0o4755
    # the per-package policy lookup of the Yocto class, with Buildroot's package names
    from sorto import codec, elfsection

    shown = {rel: codec.to_json_obj(codec.decode(elfsection.read_section(target / rel))) for rel in sorted(expected)}
    for rel in ("bin/busybox", "usr/bin/hello", "usr/bin/strace", "bin/su"):  # the command, as on the build host
        out = subprocess.run([str(host_dir / "bin" / "sorto"), "show", "--json", str(target / rel)],
                             capture_output=True, text=True)
        assert out.returncode == 0, (rel, out.stderr)
        assert json.loads(out.stdout) == shown[rel], rel
    assert shown["usr/bin/hello"]["profile"] == {"status": "manual", "source": "site-policy"}
    assert shown["usr/bin/hello"]["sched"]["policy"] == "batch"
    assert shown["usr/bin/strace"]["profile"]["status"] == "profiled"
    assert shown["usr/bin/strace"]["sched"]["policy"] == "fifo"
    rest = {rel: s["profile"] for rel, s in shown.items() if rel not in ("usr/bin/hello", "usr/bin/hello-again",
                                                                         "usr/bin/strace")}
    assert all(p == {"status": "unprofiled", "source": "meta-sorto"} for p in rest.values()), rest
    # readelf reads every marked file without a complaint
    for rel in sorted(expected):
        out = subprocess.run([f"{CROSS}readelf", "-S", "-W", str(target / rel)], capture_output=True, text=True)
        assert out.returncode == 0 and not out.stderr, (rel, out.stderr)
    # and the programs behave exactly as before
    for rel, before in marked["runs"].items():
        assert before.returncode == 0, (rel, before.stderr)
        after_run = run_in(target, rel)
        assert (after_run.returncode, after_run.stdout, after_run.stderr) == \
            (before.returncode, before.stdout, before.stderr), rel
    # the fakeroot check finds nothing to complain about
    check = run_script("post-fakeroot.sh", target, base_tree[1], marked["cfg"], host_dir)
    assert check.returncode == 0, check.stderr


def test_marking_twice_changes_nothing(marked: dict, base_tree: tuple[Path, Path], host_dir: Path,
                                       site: Path) -> None:
    """A second ``make`` runs post-build.sh again over the marked tree: the same bytes.

    On a part of the tree (static, dynamic, a hard link, libraries): each file is marked alone.
    """
    target = marked["target"].parent / "again"
    for rel in ("bin/busybox", "usr/bin/strace", "lib/libc.so.6", "lib/ld-linux-armhf.so.3"):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(marked["target"] / rel, target / rel)
    shutil.copy2(marked["target"] / "usr/bin/hello", target / "usr/bin/hello")
    os.link(target / "usr/bin/hello", target / "usr/bin/hello-again")
    first = snapshot(target)
    proc = run_script("post-build.sh", target, base_tree[1], marked["cfg"], host_dir, {"SORTO_TEST_SITE": str(site)})
    assert proc.returncode == 0, proc.stderr
    assert snapshot(target) == first


def test_unmarked_executable_fails_the_check_unless_waived(marked: dict, base_tree: tuple[Path, Path],
                                                           host_dir: Path, config: Callable[..., Path]) -> None:
    """An executable added after post-build.sh (a later post-build script) fails post-fakeroot.sh; waivers work."""
    target = fresh(marked["target"], marked["target"].parent / "late")
    build = base_tree[1].parent / "build-late"
    shutil.copytree(base_tree[1], build)
    hello = Path(str(guest_hello()))
    shutil.copy2(hello, target / "usr/bin/late")           # from no package
    shutil.copy2(hello, target / "usr/bin/hello-extra")    # installed by hello
    with (build / "packages-file-list.txt").open("a") as fh:
        fh.write("hello,./usr/bin/hello-extra\n")
    plain = config()
    proc = run_script("post-fakeroot.sh", target, build, plain, host_dir)
    assert proc.returncode == 1
    assert "/usr/bin/late is an executable without the .elf_hook_module_data section" in proc.stderr
    assert "/usr/bin/hello-extra (package hello) is an executable without" in proc.stderr
    assert "BR2_PACKAGE_HOST_PYTHON_SORTO_QA_SKIP" in proc.stderr
    # waived by path (a pattern) and by package
    proc = run_script("post-fakeroot.sh", target, build, config(QA_SKIP="/usr/bin/l* hello"), host_dir)
    assert proc.returncode == 0, proc.stderr
    # one waiver is not the other's
    proc = run_script("post-fakeroot.sh", target, build, config(QA_SKIP="hello"), host_dir)
    assert proc.returncode == 1 and "/usr/bin/late" in proc.stderr and "hello-extra" not in proc.stderr


def guest_hello() -> Path:
    from sorto.guest.build import cache_root, guest_deb_file

    return guest_deb_file(cache_root() / "guest", "hello", "usr/bin/hello", progress=False)


@pytest.fixture()
def unmarked_copy(base_tree: tuple[Path, Path], tmp_path: Path) -> Iterator[tuple[Path, dict]]:
    target = fresh(base_tree[0], tmp_path / "target")
    before = snapshot(target)
    yield target, before
    assert snapshot(target) == before, "bad input changed the tree"


def test_bad_policy_names_the_file_and_writes_nothing(unmarked_copy: tuple[Path, dict], base_tree: tuple[Path, Path],
                                                      host_dir: Path, config: Callable[..., Path],
                                                      tmp_path: Path) -> None:
    target, _ = unmarked_copy
    bad = tmp_path / "policies"
    (bad / "hello").mkdir(parents=True)
    (bad / "hello" / "hello.yaml").write_text("version: 1\nsched:\n  policy: fifo\n  priority: 500\n")
    proc = run_script("post-build.sh", target, base_tree[1], config(POLICY_DIR="$(SORTO_TEST_SITE)"), host_dir,
                      {"SORTO_TEST_SITE": str(bad)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == f"sorto: policy for /usr/bin/hello: {bad}/hello/hello.yaml:4: invalid policy field " \
        "'sched.priority': 500 is greater than the maximum of 99\n"
    assert "marked with" not in proc.stdout


@pytest.mark.parametrize(("options", "env", "message"), [
    ({"POLICY_DIR": "$(SORTO_TEST_SITE)"}, {}, "POLICY_DIR uses $(SORTO_TEST_SITE), which is not in the environment"),
    ({"POLICY_DIR": "/nonexistent/policies"}, {}, "policy folder '/nonexistent/policies'"),
    ({"DEFAULT_POLICY": "/nonexistent/p.yaml"}, {}, "default policy '/nonexistent/p.yaml'"),
    ({}, {"SORTO_TARGET_OBJCOPY": ""}, "SORTO_TARGET_OBJCOPY is not set"),
    ({}, None, "select BR2_PACKAGE_HOST_PYTHON_SORTO"),
])
def test_bad_setup_is_refused(options: dict, env: dict | None, message: str, unmarked_copy: tuple[Path, dict],
                              base_tree: tuple[Path, Path], host_dir: Path, config: Callable[..., Path],
                              tmp_path: Path) -> None:
    """Each input the script needs, missing or wrong: exit 2 with one line saying which, nothing written.

    ``env`` None: a HOST_DIR with Buildroot's python3 but without host-python-sorto's command.
    """
    target, _ = unmarked_copy
    host = host_dir
    if env is None:
        host = tmp_path / "host-without-sorto"
        (host / "bin").mkdir(parents=True)
        (host / "bin" / "python3").symlink_to(host_dir / "bin" / "python3")
    proc = run_script("post-build.sh", target, base_tree[1], config(**options), host, env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
