"""Session fixtures for the Buildroot tests: the unpacked snapshot and loaded defconfigs.

Session scope: unpacking takes seconds, loading a defconfig a few more (it
builds Kconfig's ``conf`` in each output folder), and every test of a
defconfig reads the same loaded configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from . import buildroot


@pytest.fixture(scope="session")
def br_tree() -> Path:
    """The Buildroot source tree, unpacked from ``../shared/buildroot``."""
    try:
        return buildroot.unpack()
    except buildroot.SetupError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def loaded(br_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``loaded(name)``: an output folder where ``make <name>`` ran (once per session)."""
    outs: dict[str, Path] = {}

    def load(name: str) -> Path:
        if name not in outs:
            out = tmp_path_factory.mktemp(name.removesuffix("_defconfig"))
            buildroot.check(br_tree, out, name)
            outs[name] = out
        return outs[name]

    return load
