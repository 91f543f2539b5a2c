"""Session fixtures for the real-BitBake tests: one prepared build directory per release.

Session scope because everything here is expensive: a full parse of a release
with meta-oe is about 3 minutes on 2 cores.  Each release's build dir is set
up once per session and its BitBake server (BB_SERVER_TIMEOUT) carries over
from one test to the next; the release parameter groups the tests, so one
release's server is stopped before the next one starts.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import yocto


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "yocto: runs the real BitBake of a Yocto release snapshot (offline)")


@pytest.fixture(scope="session")
def yocto_env() -> Iterator[tuple[Path, yocto.Identity, Path]]:
    """(cache root, BitBake user, staged layer): host checks, user, lock, staged repository files."""
    missing = [t for t in ("chrpath", "diffstat", "gawk", "tar", "xz") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"host tools for BitBake missing: {' '.join(missing)}: run 'make deps'")
    if not yocto.locale_available():
        pytest.fail(f"locale {yocto.LOCALE} is not generated: run 'make deps'")
    if not yocto.SNAPSHOTS.is_dir():
        pytest.fail(f"Yocto snapshots not found in {yocto.SNAPSHOTS}")
    try:
        ident = yocto.identity()
        root = yocto.cache_dir()
        root.mkdir(parents=True, exist_ok=True)
        yocto.make_reachable(ident, root)
    except yocto.SetupError as exc:
        pytest.fail(str(exc))
    with yocto.session_lock(root):
        ident.own(root, recursive=False)
        for sub in ("src", "build", "stage", "home", "results"):
            (root / sub).mkdir(exist_ok=True)
            ident.own(root / sub, recursive=False)
        staged = yocto.stage(root, ident)
        yield root, ident, staged / "meta-sorto"


@pytest.fixture(scope="session", params=sorted(yocto.RELEASES))
def build(request: pytest.FixtureRequest, yocto_env: tuple[Path, yocto.Identity, Path]) -> Iterator[yocto.Build]:
    """The release's build dir with meta-sorto added by ``bitbake-layers add-layer`` (sorto off)."""
    root, ident, layer = yocto_env
    try:
        b = yocto.Build(yocto.RELEASES[request.param], root, ident, layer)
        b.prepare()
    except yocto.SetupError as exc:
        pytest.fail(str(exc))
    b.configure(sorto=False)
    b.add_layer = b.run("bitbake-layers", "add-layer", str(layer), label="add-layer-meta-sorto")
    try:
        yield b
    finally:
        b.stop_server()
        times = ", ".join(f"{name} {sec:.0f}s" for name, sec in b.timings)
        print(f"\n[yocto {b.release.name}] {times}")
