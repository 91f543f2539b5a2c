"""Shared fixtures: repository paths, cross-built ARM binaries, tool checks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The folder of release snapshots shared with the project (../shared next to
# the checkout, read-only on CI).  SORTO_SHARED names it for a checkout that
# does not sit next to it, such as a git worktree.
SHARED = Path(os.environ.get("SORTO_SHARED") or REPO.parent / "shared")
CROSS_GCC = "arm-linux-gnueabihf-gcc"
EXAMPLES = REPO / "examples"
#: A hand-written policy that uses every field of the format (codec and decoder tests).
EVERY_FIELD = REPO / "tests" / "data" / "every-field-policy.yaml"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (a private sshd's, or a guest's forward)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

# Tools installed by pip with the test extra (ruff, oelint-adv, kas, the
# bitbake-setup scripts) live next to the interpreter running the tests, in
# .venv/bin, which `make test` does not put on PATH: find them there first,
# for shutil.which and for every subprocess the tests start.
_ENV_BIN = str(Path(sys.executable).parent)
if _ENV_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_ENV_BIN, os.environ.get("PATH", "")])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-time", type=int, default=20, help="seconds of libFuzzer in the fuzz test")
    parser.addoption("--kernels", default="6.12,6.1", help="guest kernels for the qemu tests")
    parser.addoption("--guest-flavour", default="debug", choices=["debug", "release", "scratchpad"],
                     help="guest the kernel-path and attack tests boot (default debug: KASAN, lockdep); "
                     "scratchpad runs them on -M vexpress-a15 with the block in SRAM")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the long xdist groups first: each kernel's guests, then the real BitBake.

    With ``--dist loadgroup`` a group goes to one worker as a whole, and each
    worker is handed two work units up front, in collection order.  Collected
    in file order, the BitBake group and both kernels could end up queued on
    one worker while the other ran out of work (a serial cold run).  First in
    the queue, the first two go to different workers and the third follows
    the shorter one's (runs after the other hooks have added the markers).
    """
    kernels = [k for k in config.getoption("--kernels").split(",") if k]
    rank = {f"kernel-{k}": i for i, k in enumerate(kernels)}
    rank["yocto"] = len(kernels)

    def key(pair: tuple[int, pytest.Item]) -> tuple[int, int]:
        index, item = pair
        marker = item.get_closest_marker("xdist_group")
        group = (marker.args[0] if marker.args else marker.kwargs.get("name")) if marker else None
        return (rank.get(group, len(rank)), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]


def need(tool: str) -> str:
    """Return the tool's path; fail (not skip) when it is missing: make deps installs it."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: run 'make deps'")
    return path


@pytest.fixture(scope="session")
def arm_hello(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dynamically linked ARM executable built by the cross compiler."""
    need(CROSS_GCC)
    d = tmp_path_factory.mktemp("arm")
    src = d / "hello.c"
    src.write_text('#include <stdio.h>\nint main(int c, char **v){printf("hi %d\\n", c); return 3;}\n')
    out = d / "hello"
    subprocess.run([CROSS_GCC, "-O2", "-o", str(out), str(src)], check=True)
    return out


def run_arm(binary: Path, *args: str) -> subprocess.CompletedProcess:
    """Run an ARM binary under qemu-arm with the cross sysroot."""
    need("qemu-arm")
    return subprocess.run(["qemu-arm", "-L", "/usr/arm-linux-gnueabihf", str(binary), *args],
                          capture_output=True, check=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kernel" in metafunc.fixturenames:
        kernels = [k for k in metafunc.config.getoption("--kernels").split(",") if k]
        # Under pytest-xdist (--dist loadgroup) each kernel's tests stay on one
        # worker, which builds and boots that kernel's guests once.  The mark
        # rides on the parameter, so it exists before any collection hook
        # (xdist's, which turns it into the scheduling group, included).
        params = [pytest.param(k, marks=pytest.mark.xdist_group(f"kernel-{k}")) for k in kernels]
        metafunc.parametrize("kernel", params, scope="session")
