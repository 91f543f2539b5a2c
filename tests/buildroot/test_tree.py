"""The br2-external tree under Buildroot's own make, offline (snapshot in ../shared/buildroot).

What a build does before it downloads anything: Kconfig loads each defconfig
and writes it back unchanged, the package infrastructure resolves the
packages, their dependencies, sites, hash files and the kernel's patch list,
and Buildroot's linter accepts every file.  A real build needs the network.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import REPO, need
from . import buildroot
from .buildroot import DEFCONFIGS, EXTERNAL

pytestmark = pytest.mark.xdist_group("buildroot")

LAYER_LIB = REPO / "meta-sorto" / "lib"
MODULE_SOURCES = REPO / "meta-sorto" / "recipes-kernel" / "sorto-hook" / "files"


def test_defconfigs_exist() -> None:
    assert DEFCONFIGS == ["sorto_qemu_arm_vexpress_4_14_defconfig", "sorto_qemu_arm_vexpress_defconfig"]


def test_check_package_clean(br_tree: Path) -> None:
    """``utils/check-package --br2-external`` over every file of the tree: zero warnings.

    It runs shellcheck on the scripts and flake8 on Python files, and asks
    each defconfig for BR2_DOWNLOAD_FORCE_CHECK_HASHES.
    """
    need("shellcheck")
    files = sorted(str(p.relative_to(EXTERNAL)) for p in EXTERNAL.rglob("*") if p.is_file())
    env = buildroot.env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])  # flake8 of the venv
    proc = subprocess.run([sys.executable, str(br_tree / "utils" / "check-package"), "--br2-external", "-b", *files],
                          cwd=EXTERNAL, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "0 warnings generated" in out, out
    lines = int(re.search(r"(\d+) lines processed", out).group(1))
    assert lines > 200, out  # every file was read, not skipped


@pytest.mark.parametrize("name", DEFCONFIGS)
def test_defconfig_round_trip(name: str, br_tree: Path, loaded: Callable[[str], Path]) -> None:
    """Each defconfig loads, and ``savedefconfig`` gives back the same file: no option dropped or reordered."""
    out = loaded(name)
    saved = out / "saved_defconfig"
    buildroot.check(br_tree, out, "savedefconfig", f"BR2_DEFCONFIG={saved}")
    assert saved.read_text() == (EXTERNAL / "configs" / name).read_text()
    cfg = buildroot.dotconfig(out)
    for opt in ("BR2_PACKAGE_SORTO_HOOK", "BR2_PACKAGE_HOST_PYTHON_SORTO", "BR2_LINUX_KERNEL",
                "BR2_DOWNLOAD_FORCE_CHECK_HASHES"):
        assert cfg.get(opt) == "y", opt
    assert cfg["BR2_ROOTFS_POST_BUILD_SCRIPT"] == '"$(BR2_EXTERNAL_SORTO_PATH)/board/sorto/post-build.sh"'
    assert cfg["BR2_ROOTFS_POST_FAKEROOT_SCRIPT"] == '"$(BR2_EXTERNAL_SORTO_PATH)/board/sorto/post-fakeroot.sh"'
    # the marking options exist, with the layer's defaults
    assert cfg["BR2_PACKAGE_HOST_PYTHON_SORTO_EXCLUDE_DIRS"] == '"/boot /lib/firmware /usr/lib/debug"'
    assert cfg["BR2_PACKAGE_HOST_PYTHON_SORTO_QA_SKIP"] == '""'


@pytest.mark.parametrize("name", DEFCONFIGS)
def test_show_info_lists_the_packages(name: str, br_tree: Path, loaded: Callable[[str], Path]) -> None:
    """``show-info``: both packages, built from the repository's own sources, and no Rust anywhere."""
    info = buildroot.show_info(br_tree, loaded(name))
    hook = info["sorto-hook"]
    assert hook["type"] == "target" and hook["install_target"]
    assert {"linux", "toolchain"} <= set(hook["dependencies"])
    (site,) = hook["downloads"][0]["uris"][:1]
    assert site.startswith("local+") and Path(site[len("local+"):]).resolve() == MODULE_SOURCES
    tool = info["host-python-sorto"]
    assert tool["type"] == "host"
    assert {"host-python3", "host-python-pyelftools", "host-python-pyyaml"} <= set(tool["dependencies"])
    (site,) = tool["downloads"][0]["uris"][:1]
    assert Path(site[len("local+"):]).resolve() == REPO / "scripts"
    # jsonschema would bring rpds-py and a Rust compiler: nothing of the kind in the whole configuration
    assert not [p for p in info if re.search(r"rust|rpds|jsonschema|maturin", p)], sorted(info)
    # the tree holds no second copy of the module
    assert not list(EXTERNAL.rglob("*.c"))


@pytest.mark.parametrize("name", DEFCONFIGS)
def test_kernel_patches_and_hashes(name: str, br_tree: Path, loaded: Callable[[str], Path]) -> None:
    """``printvars``: the kernel gets kernel-patches/<its series>/, and its tarball a hash Buildroot will check."""
    sys.path.insert(0, str(LAYER_LIB))
    try:
        from sorto_layer.kernel import series_of
    finally:
        sys.path.remove(str(LAYER_LIB))
    out = loaded(name)
    v = buildroot.printvars(br_tree, out, "LINUX_VERSION", "LINUX_SOURCE", "LINUX_PATCHES", "LINUX_HASH_FILES",
                            "LINUX_HEADERS_VERSION", "LINUX_HEADERS_HASH_FILES", "SORTO_HOOK_LINUX_CONFIG_FIXUPS",
                            "SORTO_TARGET_OBJCOPY", "LINUX_NEEDS_MODULES")
    series = series_of(v["LINUX_VERSION"])
    assert series == ("4.14" if "4_14" in name else "6.12")
    (patch_dir,) = v["LINUX_PATCHES"].split()
    assert Path(patch_dir).resolve() == REPO / "kernel-patches" / series
    patches = sorted(p.name for p in Path(patch_dir).glob("*.patch"))  # what linux.mk applies, in this order
    assert len(patches) == 8 and patches[0].startswith("0001-binfmt_elf-add-an-ELF-section-hook")
    for var, pkg in (("LINUX_HASH_FILES", "linux"), ("LINUX_HEADERS_HASH_FILES", "linux-headers")):
        ours = [Path(f) for f in v[var].split() if f.startswith(str(EXTERNAL))]
        assert ours == [EXTERNAL / "board/sorto/patches" / pkg / v["LINUX_VERSION"] / f"{pkg}.hash"], v[var]
        listed = [line.split()[2] for line in ours[0].read_text().splitlines() if line and not line.startswith("#")]
        assert v["LINUX_SOURCE"] in listed and "COPYING" in listed
    assert v["LINUX_HEADERS_VERSION"] == v["LINUX_VERSION"]
    fixups = v["SORTO_HOOK_LINUX_CONFIG_FIXUPS"]
    assert "CONFIG_BINFMT_ELF_HOOK=y" in fixups and "CONFIG_DEBUG_FS=y" in fixups
    assert v["LINUX_NEEDS_MODULES"] == "y"
    assert v["SORTO_TARGET_OBJCOPY"] == f"{out}/host/bin/arm-buildroot-linux-gnueabihf-objcopy"
