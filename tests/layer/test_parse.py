"""What only the stand-in parse can check: BitBake's own parser, oe-core replaced by empty classes.

The real parses (test_yocto.py, scarthgap and wrynose) prove the layer's
wiring in a build: every file parses, linux-yocto gets its series, the
4.14 recipe, the unsupported-kernel message, the class's place in
do_package, the image's dependencies.  What they cannot see is kept here:

* the series those releases do not build (6.12, 6.1): each series listed in
  SORTO_KERNEL_PATCHES names exactly the files of kernel-patches/<series>/;
* LIC_FILES_CHKSUM recomputed over the sources (a real build checks it only in
  do_populate_lic, which needs no network but a full build);
* sorto-hook's SRC_URI against its files/ folder, and SORTO_HOOK_OPTIONS;
* python3-sorto's runtime dependencies per variant;
* ``INHERIT += "sorto"`` without the distro feature (the real configurations
  set both switches or neither).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ..conftest import REPO
from . import bbparse
from .bbparse import LAYER

KERNEL_PATCHES = REPO / "kernel-patches"
APPEND = LAYER / "recipes-kernel" / "linux" / "linux-yocto_%.bbappend"
SUPPORTED = ["6.18", "6.12", "6.6", "6.1", "4.14"]


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bbparse.write_stubs(tmp_path_factory.mktemp("oe-core-stubs"))


def file_uris(d) -> list[str]:
    return [u.split(";")[0][len("file://"):] for u in d.getVar("SRC_URI").split() if u.startswith("file://")]


def test_every_series_listed_completely(stubs: Path) -> None:
    """SORTO_KERNEL_PATCHES[<series>] names exactly the files of kernel-patches/<series>/, for every series."""
    recipe = stubs / "recipes-kernel" / "linux" / "linux-yocto_6.12.bb"
    recipe.write_text('inherit kernel\nrequire recipes-kernel/linux/linux-yocto.inc\nLINUX_VERSION = "6.12.58"\n')
    d = bbparse.parse_recipe(bbparse.base_datastore(stubs), recipe, [APPEND])[""]
    assert d.getVar("SORTO_KERNEL_SERIES").split() == SUPPORTED
    on_disk = sorted(p.name for p in KERNEL_PATCHES.iterdir() if p.is_dir())
    assert sorted(SUPPORTED) == on_disk
    for series in SUPPORTED:
        listed = d.getVarFlag("SORTO_KERNEL_PATCHES", series).split()
        assert listed == sorted(p.name for p in (KERNEL_PATCHES / series).glob("*.patch")), series
        for name in listed:
            assert (Path(d.getVar("SORTO_PATCHES_DIR")) / series / name).is_file()
    # and this stand-in 6.12 recipe got that series (the same code path the real parses prove for 6.6/6.18)
    assert [u for u in file_uris(d) if u.startswith("6.12/")] == [
        f"6.12/{n}" for n in d.getVarFlag("SORTO_KERNEL_PATCHES", "6.12").split()]


def check_lic_files(d, srcdir: Path) -> None:
    """Recompute each LIC_FILES_CHKSUM entry in the layout of S (as oe-core's license check does)."""
    for entry in d.getVar("LIC_FILES_CHKSUM").split():
        if "COMMON_LICENSE_DIR" in entry or "/common-licenses" in entry:
            continue
        path, *params = entry[len("file://"):].split(";")
        p = dict(x.split("=", 1) for x in params)
        lines = (srcdir / path).read_bytes().splitlines(keepends=True)
        begin = int(p.get("beginline", 1))
        end = int(p.get("endline", len(lines)))
        digest = hashlib.md5(b"".join(lines[begin - 1:end])).hexdigest()
        assert digest == p["md5"], f"{entry}: md5 of the text is {digest}"


def test_sorto_hook_recipe(stubs: Path) -> None:
    recipe = LAYER / "recipes-kernel" / "sorto-hook" / "sorto-hook.bb"
    d = bbparse.parse_recipe(bbparse.base_datastore(stubs), recipe)[""]
    files = LAYER / "recipes-kernel" / "sorto-hook" / "files"
    # Every source of the module is in SRC_URI, and nothing else.
    assert sorted(file_uris(d)) == sorted(p.name for p in files.iterdir() if p.is_file())
    assert "sorto_hook" in d.getVar("KERNEL_MODULE_AUTOLOAD").split()
    # No options by default: no modprobe.d file, the module's safe defaults.
    assert "sorto_hook" not in (d.getVar("KERNEL_MODULE_PROBECONF") or "").split()
    assert not d.getVar("module_conf_sorto_hook")
    opt = bbparse.parse_recipe(bbparse.base_datastore(stubs, extra={"SORTO_HOOK_OPTIONS": "irq_allow=virtio0 "}),
                               recipe)[""]
    assert "sorto_hook" in opt.getVar("KERNEL_MODULE_PROBECONF").split()
    assert opt.getVar("module_conf_sorto_hook") == "options sorto_hook irq_allow=virtio0"
    check_lic_files(d, files)
    assert "modules_install" in (files / "Makefile").read_text()


def test_python3_sorto(stubs: Path) -> None:
    recipe = LAYER / "recipes-devtools" / "python" / "python3-sorto_0.1.0.bb"
    dss = bbparse.parse_recipe(bbparse.base_datastore(stubs), recipe)
    d = dss[""]
    rdeps = d.getVar("RDEPENDS:python3-sorto").split()
    for dep in ["python3-pyelftools", "python3-pyyaml", "python3-jinja2", "strace", "perf"]:
        assert dep in rdeps
    # policies are checked by sorto.schemacheck: no jsonschema, so no rpds-py and no Rust for the native tool
    assert "python3-jsonschema" not in rdeps
    # the tool drives tracefs itself: nothing from meta-oe, so the layer depends on core only
    assert "trace-cmd" not in rdeps
    assert "strace" not in (dss["native"].getVar("RDEPENDS:python3-sorto") or "").split()
    src = Path(d.getVar("SORTO_SRC_DIR"))
    assert src.resolve() == (REPO / "scripts").resolve()
    check_lic_files(d, src)


def test_class_is_inert_without_feature(stubs: Path) -> None:
    """INHERIT += "sorto" alone changes nothing do_package depends on."""
    recipe = LAYER / "recipes-kernel" / "sorto-hook" / "sorto-hook.bb"
    for features in ("", "sorto"):
        d = bbparse.parse_recipe(bbparse.base_datastore(stubs, distro_features=features), recipe)[""]
        on = features == "sorto"
        assert ("sorto_package_inject" in (d.getVar("PACKAGESPLITFUNCS") or "")) is on
        assert ("python3-sorto-native:do_populate_sysroot" in (d.getVarFlag("do_package", "depends") or "")) is on
        assert ("sorto-section" in d.getVar("ERROR_QA").split()) is on
        assert d.getVarFlag("QAPKGTEST", "sorto-section") == "package_qa_check_sorto_section"
        for task in ("do_package", "do_package_qa"):
            checks = d.getVarFlag(task, "file-checksums") or ""
            assert ("sorto-default-policy.yaml:True" in checks) is on
            assert ("/lib/sorto_layer/package.py:True" in checks) is on
