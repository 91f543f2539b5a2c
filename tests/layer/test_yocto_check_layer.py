"""scarthgap's ``yocto-check-layer`` on meta-sorto, offline (marker ``yocto``).

The tool the Yocto Project Compatible programme uses: README contents, parse,
``bitbake -e``, ``bitbake -S none world`` (plain, and with the
yocto-check-layer class), LAYERSERIES_COMPAT, and the signature test: every
task signature of world is the same before and after the layer is added,
i.e. adding meta-sorto without opting in changes nothing.  It needs no
network: ``-S none`` computes signatures without fetching.  Its result is
cached by the hash of all its inputs (tests/layer/yocto.py, check_layer).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from . import yocto

# One xdist worker (make test: --dist loadgroup) runs all of them: they share build dirs, servers and a lock.
pytestmark = [pytest.mark.yocto, pytest.mark.xdist_group("yocto")]

HARNESS = [Path(yocto.__file__), Path(__file__)]
# Every test yocto-check-layer has for a software layer (checklayer/cases/common.py),
# with the status it must end with.  test_patches_upstream_status is marked
# expectedFailure upstream; the layer carries no .patch of its own (the
# series live in ../kernel-patches), so it reports an unexpected success,
# which the oeqa runner counts as a pass.
EXPECTED = {
    "test_readme": "ok",
    "test_parse": "ok",
    "test_show_environment": "ok",
    "test_world": "ok",
    "test_world_inherit_class": "ok",
    "test_signatures": "ok",
    "test_layerseries_compat": "ok",
    "test_patches_upstream_status": "unexpected success",
}


@pytest.fixture(scope="module")
def check_layer(yocto_env: tuple[Path, yocto.Identity, Path]) -> Iterator[dict]:
    root, ident, layer = yocto_env
    result = yocto.check_layer(root, ident, layer, HARNESS)
    yield result
    print(f"\n[yocto-check-layer] {'cached: ' + result['cached'] if result['cached'] else ''}"
          f" ran {result['seconds']}s")


def test_yocto_check_layer_passes(check_layer: dict) -> None:
    assert check_layer["returncode"] == 0, check_layer["tail"]
    assert check_layer["summary"] and check_layer["summary"][-1].endswith("meta-sorto ... PASS"), check_layer["tail"]
    assert check_layer["statuses"] == EXPECTED, check_layer["tail"]


def test_adding_layer_changes_no_signature(check_layer: dict) -> None:
    """The world signatures with the layer (sorto off) equal those without it."""
    assert check_layer["statuses"].get("test_signatures") == "ok", check_layer["tail"]
