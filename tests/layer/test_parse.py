"""Every BitBake file of meta-sorto through BitBake's own parser, values read back.

Stand-ins replace the oe-core classes (see bbparse.py), so these tests catch
syntax errors, bad overrides, wrong variable values and the parse-time logic
of the layer (kernel series selection, opt-in), not the behaviour of oe-core.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import bb
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


def layer_files(*suffixes: str) -> list[Path]:
    return sorted(p for p in LAYER.rglob("*") if p.suffix in suffixes and "files" not in p.parts)


def test_layer_conf(stubs: Path) -> None:
    d = bbparse.base_datastore(stubs, inherit_class=False)
    assert d.getVar("LAYERSERIES_COMPAT_sorto").split() == ["scarthgap", "walnascar", "whinlatter", "wrynose"]
    assert d.getVar("BBFILE_COLLECTIONS").split() == ["sorto"]
    assert d.getVar("LAYERDEPENDS_sorto") == "core"
    assert int(d.getVar("BBFILE_PRIORITY_sorto")) > 0
    assert d.getVar("BBFILE_PATTERN_sorto") == f"^{LAYER}/"
    assert str(LAYER) in d.getVar("BBPATH").split(":")
    assert Path(d.getVar("SORTO_LAYERDIR")) == LAYER
    # opt-in: the layer configuration inherits nothing and switches nothing on
    text = (LAYER / "conf" / "layer.conf").read_text()
    assert not re.search(r"^\s*(INHERIT|DISTRO_FEATURES|USER_CLASSES|IMAGE_CLASSES)\b", text, re.M)
    assert not d.getVar("INHERIT")


def test_every_file_parses(stubs: Path) -> None:
    """Each .bb, .bbappend, .bbclass, .inc and .conf of the layer goes through bb.parse."""
    seen = set()
    base = bbparse.base_datastore(stubs)
    seen.add(LAYER / "conf" / "layer.conf")
    seen.add(LAYER / "classes" / "sorto.bbclass")
    for recipe in layer_files(".bb"):
        appends = [APPEND] if recipe.name.startswith("linux-yocto_") else None
        dss = bbparse.parse_recipe(base, recipe)
        assert "" in dss, recipe
        seen.add(recipe)
        seen.update(Path(f) for f, _ in (dss[""].getVar("__depends") or []) if str(f).startswith(str(LAYER)))
        assert appends is None
    # the append, on a stand-in linux-yocto recipe
    dss = parse_linux_yocto(stubs, "6.12.58")
    seen.add(APPEND)
    seen.update(Path(f) for f, _ in (dss[""].getVar("__depends") or []) if str(f).startswith(str(LAYER)))
    every = set(layer_files(".bb", ".bbappend", ".bbclass", ".inc", ".conf"))
    assert every - seen == set(), f"not parsed: {sorted(every - seen)}"


def parse_linux_yocto(stubs: Path, version: str, features: str = "sorto",
                      provider: str = "linux-yocto") -> dict:
    recipe = stubs / "recipes-kernel" / "linux" / f"linux-yocto_{version.rsplit('.', 1)[0]}.bb"
    recipe.write_text(
        'inherit kernel\nrequire recipes-kernel/linux/linux-yocto.inc\n'
        f'LINUX_VERSION ?= "{version}"\nPV = "${{LINUX_VERSION}}+git"\n'
        'SRC_URI = "git://git.yoctoproject.org/linux-yocto.git;name=machine;branch=v6/standard/base"\n'
    )
    base = bbparse.base_datastore(stubs, distro_features=features,
                                  extra={"PREFERRED_PROVIDER_virtual/kernel": provider})
    return bbparse.parse_recipe(base, recipe, [APPEND])


def file_uris(d) -> list[str]:
    return [u.split(";")[0][len("file://"):] for u in d.getVar("SRC_URI").split() if u.startswith("file://")]


def resolve(d, name: str) -> Path | None:
    for entry in (d.getVar("FILESEXTRAPATHS") or "").split(":"):
        if entry and entry != "__default" and (Path(entry) / name).exists():
            return Path(entry) / name
    return None


@pytest.mark.parametrize("version", ["6.18.39", "6.12.58", "6.6.35", "6.1.158"])
def test_linux_yocto_gets_series(stubs: Path, version: str) -> None:
    d = parse_linux_yocto(stubs, version)[""]
    assert not d.getVar("__SKIPPED")
    series = version.rsplit(".", 1)[0]
    uris = file_uris(d)
    expected = sorted(p.name for p in (KERNEL_PATCHES / series).glob("*.patch"))
    assert [u.split("/", 1)[1] for u in uris if u.startswith(series + "/")] == expected
    assert "sorto.cfg" in uris
    for name in uris:
        found = resolve(d, name)
        assert found is not None, f"{name} is not reachable through FILESEXTRAPATHS"
    cfg = resolve(d, "sorto.cfg").read_text()
    assert "CONFIG_BINFMT_ELF_HOOK=y" in cfg and "CONFIG_DEBUG_FS=y" in cfg
    assert d.getVar("SRC_URI").startswith("git://")


def test_every_series_listed_completely(stubs: Path) -> None:
    """SORTO_KERNEL_PATCHES[<series>] names exactly the files of kernel-patches/<series>/."""
    d = parse_linux_yocto(stubs, "6.12.58")[""]
    assert d.getVar("SORTO_KERNEL_SERIES").split() == SUPPORTED
    on_disk = sorted(p.name for p in KERNEL_PATCHES.iterdir() if p.is_dir())
    assert sorted(SUPPORTED) == on_disk
    for series in SUPPORTED:
        listed = d.getVarFlag("SORTO_KERNEL_PATCHES", series).split()
        assert listed == sorted(p.name for p in (KERNEL_PATCHES / series).glob("*.patch"))
        for name in listed:
            assert (Path(d.getVar("SORTO_PATCHES_DIR")) / series / name).is_file()


def test_linux_yocto_untouched_without_feature(stubs: Path) -> None:
    d = parse_linux_yocto(stubs, "6.12.58", features="")[""]
    assert file_uris(d) == []
    assert "sorto" not in (d.getVar("FILESEXTRAPATHS") or "")
    # even an unsupported version parses: the append is inert
    d = parse_linux_yocto(stubs, "5.10.240", features="")[""]
    assert not d.getVar("__SKIPPED")


def test_unsupported_version_is_fatal_for_selected_kernel(stubs: Path) -> None:
    cap = bbparse.LogCapture()
    logger = bb.logging.getLogger("BitBake")
    logger.addHandler(cap)
    try:
        with pytest.raises(bb.BBHandledException):
            parse_linux_yocto(stubs, "5.10.240")
    finally:
        logger.removeHandler(cap)
    msg = "\n".join(cap.messages)
    assert "5.10" in msg and ", ".join(SUPPORTED) in msg, msg


def test_unsupported_version_skipped_when_not_selected(stubs: Path) -> None:
    d = parse_linux_yocto(stubs, "5.10.240", provider="linux-sorto-4.14")[""]
    assert ", ".join(SUPPORTED) in str(d.getVar("__SKIPPED"))


def test_linux_sorto_4_14(stubs: Path) -> None:
    recipe = LAYER / "recipes-kernel" / "linux" / "linux-sorto-4.14_4.14.336.bb"
    d = bbparse.parse_recipe(bbparse.base_datastore(stubs, distro_features=""), recipe)[""]
    assert d.getVar("PN") == "linux-sorto-4.14"
    assert d.getVar("LINUX_VERSION") == "4.14.336"
    assert d.getVar("COMPATIBLE_MACHINE") == "qemuarm"
    uris = d.getVar("SRC_URI").split()
    assert uris[0] == "${KERNELORG_MIRROR}/linux/kernel/v4.x/linux-4.14.336.tar.xz" or \
        uris[0].endswith("/linux/kernel/v4.x/linux-4.14.336.tar.xz")
    assert re.fullmatch(r"[0-9a-f]{64}", d.getVarFlag("SRC_URI", "sha256sum"))
    names = file_uris(d)
    assert [n for n in names if n.startswith("4.14/")] == [
        "4.14/" + p.name for p in sorted((KERNEL_PATCHES / "4.14").glob("*.patch"))]
    for name in names:
        assert resolve(d, name) is not None, name
    assert d.getVar("S").endswith("/linux-4.14.336")


def test_sorto_hook_recipe(stubs: Path) -> None:
    recipe = LAYER / "recipes-kernel" / "sorto-hook" / "sorto-hook.bb"
    d = bbparse.parse_recipe(bbparse.base_datastore(stubs), recipe)[""]
    assert d.getVar("LICENSE") == "GPL-2.0-only"
    assert "sorto_hook" in d.getVar("KERNEL_MODULE_AUTOLOAD").split()
    files = LAYER / "recipes-kernel" / "sorto-hook" / "files"
    names = file_uris(d)
    # Every source of the module is in SRC_URI, and nothing else.
    assert sorted(names) == sorted(p.name for p in files.iterdir() if p.is_file())
    # No options by default: no modprobe.d file, the module's safe defaults.
    assert "sorto_hook" not in (d.getVar("KERNEL_MODULE_PROBECONF") or "").split()
    assert not d.getVar("module_conf_sorto_hook")
    opt = bbparse.parse_recipe(bbparse.base_datastore(stubs, extra={"SORTO_HOOK_OPTIONS": "irq_allow=virtio0 "}),
                               recipe)[""]
    assert "sorto_hook" in opt.getVar("KERNEL_MODULE_PROBECONF").split()
    assert opt.getVar("module_conf_sorto_hook") == "options sorto_hook irq_allow=virtio0"
    for n in names:
        assert (files / n).is_file(), n
    check_lic_files(d, files)
    assert "modules_install" in (files / "Makefile").read_text()


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


def test_python3_sorto(stubs: Path) -> None:
    recipe = LAYER / "recipes-devtools" / "python" / "python3-sorto_0.1.0.bb"
    dss = bbparse.parse_recipe(bbparse.base_datastore(stubs), recipe)
    assert set(dss) == {"", "native", "nativesdk"}
    d = dss[""]
    rdeps = d.getVar("RDEPENDS:python3-sorto").split()
    for dep in ["python3-pyelftools", "python3-pyyaml", "python3-jsonschema", "python3-jinja2",
                "strace", "trace-cmd", "perf"]:
        assert dep in rdeps
    assert "strace" not in (dss["native"].getVar("RDEPENDS:python3-sorto") or "").split()
    src = Path(d.getVar("SORTO_SRC_DIR"))
    assert src.resolve() == (REPO / "scripts").resolve()
    for n in file_uris(d):
        assert resolve(d, n) is not None, n
    check_lic_files(d, src)
    assert d.getVar("BBCLASSEXTEND").split() == ["native", "nativesdk"]


def test_packagegroup_and_image(stubs: Path) -> None:
    base = bbparse.base_datastore(stubs)
    pg = bbparse.parse_recipe(base, LAYER / "recipes-core" / "packagegroups" / "packagegroup-sorto-profiling.bb")[""]
    assert {"sorto-hook", "python3-sorto", "strace", "trace-cmd", "perf"} <= set(
        pg.getVar("RDEPENDS:packagegroup-sorto-profiling").split())
    img = bbparse.parse_recipe(base, LAYER / "recipes-core" / "images" / "sorto-image-minimal.bb")[""]
    inst = img.getVar("IMAGE_INSTALL").split()
    assert {"packagegroup-core-boot", "sorto-hook", "packagegroup-sorto-profiling"} <= set(inst)


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
        checks = d.getVarFlag("do_package", "file-checksums") or ""
        assert ("sorto-default-policy.yaml:True" in checks) is on


def test_class_skips_native(stubs: Path) -> None:
    recipe = LAYER / "recipes-devtools" / "python" / "python3-sorto_0.1.0.bb"
    dss = bbparse.parse_recipe(bbparse.base_datastore(stubs), recipe)
    assert "sorto_package_inject" in dss[""].getVar("PACKAGESPLITFUNCS")
    for variant in ("native", "nativesdk"):
        assert "sorto_package_inject" not in (dss[variant].getVar("PACKAGESPLITFUNCS") or "")
        assert "python3-sorto-native" not in (dss[variant].getVarFlag("do_package", "depends") or "")
