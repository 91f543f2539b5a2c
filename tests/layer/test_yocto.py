"""meta-sorto under the real BitBake of scarthgap and wrynose, offline (marker ``yocto``).

Each release is a build dir (tests/layer/yocto.py) with the release's own
layers plus meta-oe and meta-python, MACHINE = "qemuarm", BB_NO_NETWORK.  Per
release, in this order (one full parse per configuration, cached across
sessions):

* sorto off: ``bitbake-layers add-layer``, ``bitbake -p`` clean, and no recipe
  of another layer changes (each one an append of ours applies to, parsed with
  and without it);
* sorto on (``DISTRO_FEATURES:append = " sorto"``, ``INHERIT += "sorto"``):
  ``bitbake -p`` clean; ``bitbake -e`` of linux-yocto (the series of its
  LINUX_VERSION and sorto.cfg, each file found) and of a target recipe (the
  class's function placed after split/strip); the dependency data BitBake
  signs for do_package; linux-sorto-4.14 selected as virtual/kernel; an
  unsupported kernel stopping the parse with its name and the supported
  series; ``bitbake -n sorto-image-minimal``.

test_yocto_check_layer.py runs scarthgap's yocto-check-layer.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from . import yocto

# One xdist worker (make test: --dist loadgroup) runs all of them: they share build dirs, servers and a lock.
pytestmark = [pytest.mark.yocto, pytest.mark.xdist_group("yocto")]

SUPPORTED = "6.18, 6.12, 6.6, 6.1, 4.14"
PATCH_NAMES = [
    "0001-binfmt_elf-add-an-ELF-section-hook-for-one-loadable-.patch",
    "0002-binfmt_elf-call-the-ELF-section-hook-from-load_elf_b.patch",
    "0003-binfmt_elf-add-the-elf_hook-boot-parameter.patch",
    "0004-mm-mlock-let-the-ELF-section-hook-lock-parts-of-a-ne.patch",
    "0005-binfmt_elf-let-the-ELF-section-hook-set-scheduling-t.patch",
    "0006-binfmt_elf-read-the-ELF-section-hook-s-ops-only-unde.patch",
    "0007-ARM-link-the-scratchpad-functions-into-one-page-alig.patch",
    "0008-ARM-run-the-scratchpad-block-from-on-chip-SRAM.patch",
]
# A BSP layer's kernel recipe (inherit kernel, not linux-yocto.inc, like linux-imx) on a series without
# patches, taking linux-sorto.inc the way docs/yocto.md tells vendors to (there from a bbappend).
VENDOR_RECIPE = """SUMMARY = "A vendor kernel on a series meta-sorto has no patches for"
LICENSE = "GPL-2.0-only"
inherit kernel
require recipes-kernel/linux/linux-sorto.inc
LINUX_VERSION = "5.10.240"
PV = "${LINUX_VERSION}"
SRC_URI = "git://git.example.com/linux.git;protocol=https;branch=v5.10"
SRCREV = "0123456789abcdef0123456789abcdef01234567"
"""
VENDOR_ERROR = ("meta-sorto: linux-vendor is Linux 5.10.240 (series 5.10); the ELF hook patch series exists for "
                f"{SUPPORTED} only. Select a supported kernel or drop 'sorto' from DISTRO_FEATURES.")


def assert_clean(res: yocto.Result) -> None:
    """Exit 0, and not one ERROR or WARNING line from any layer."""
    noise = res.lines("ERROR") + res.lines("WARNING")
    assert res.returncode == 0 and not noise, res.describe()


def assert_parsed(res: yocto.Result) -> None:
    """``bitbake -p`` clean: every recipe parsed (or taken from the parse cache BitBake validated)."""
    assert_clean(res)
    summary = re.search(r"Parsing of (\d+) \.bb files complete .* (\d+) errors\.", res.output)
    if summary:
        assert int(summary.group(1)) > 1000 and summary.group(2) == "0", res.describe()
    else:  # nothing changed since the last parse of this configuration
        cached = re.search(r"^Loaded (\d+) entries from dependency cache\.$", res.output, re.M)
        assert cached and int(cached.group(1)) > 1000, res.describe()


def file_uris(src_uri: str) -> list[str]:
    return [u.split(";")[0][len("file://"):] for u in src_uri.split() if u.startswith("file://")]


def find_in(filespath: str, name: str) -> Path | None:
    """Where the fetcher finds file://name: the first FILESPATH entry holding it."""
    for entry in filespath.split(":"):
        if entry and (Path(entry) / name).exists():
            return Path(entry) / name
    return None


def vendor_recipe(build: yocto.Build) -> Path:
    """Write the vendor kernel recipe into the build dir (readable by the BitBake user)."""
    d = build.dir / "sorto-test"
    d.mkdir(exist_ok=True)
    recipe = d / "linux-vendor_5.10.bb"
    recipe.write_text(VENDOR_RECIPE)
    build.ident.own(d)
    return recipe


# -- sorto off -----------------------------------------------------------------------------------


def test_add_layer(build: yocto.Build) -> None:
    """``bitbake-layers add-layer`` accepts the layer (scarthgap's BitBake 2.8 used to fail in inspect)."""
    assert build.add_layer is not None
    assert build.add_layer.returncode == 0 and not build.add_layer.lines("ERROR"), build.add_layer.describe()
    res = build.check("bitbake-layers", "show-layers")
    rows = [line.split() for line in res.output.splitlines()]
    assert ["sorto", str(build.layer), "6"] in rows, res.output
    assert any(r[:1] == ["openembedded-layer"] for r in rows), res.output


def test_parse_sorto_off(build: yocto.Build) -> None:
    build.configure(sorto=False)
    assert_parsed(build.run("bitbake", "-p", label="parse-off"))


def test_sorto_off_changes_no_recipe(build: yocto.Build) -> None:
    """With the feature off, every recipe of another layer we append parses exactly as without us."""
    build.configure(sorto=False)
    ans = build.query({"query": "appends", "layer": str(build.layer)})
    assert sorted(Path(a).name for a in ans["ours"]) == ["linux-yocto_%.bbappend",
                                                         "packagegroup-sorto-profiling.bbappend"]
    recipes = ans["recipes"]
    assert recipes and all(Path(fn).name.startswith("linux-yocto_") for fn in recipes), sorted(recipes)
    for fn, info in recipes.items():
        assert set(info["differs"]) <= set(info["bookkeeping"]), (fn, info["differs"])
        assert "sorto" not in info["src_uri"] and ".patch" not in info["src_uri"], fn
    # the include a vendor kernel requires is inert too, even for a series without patches
    ans = build.query({"query": "variants", "cases": {"vendor-off": {
        "file": str(vendor_recipe(build)), "vars": ["SRC_URI", "FILESEXTRAPATHS"],
        "settings": {"PREFERRED_PROVIDER_virtual/kernel": "linux-vendor"}, "appends": False}}})
    case = ans["vendor-off"]
    assert "failed" not in case and not case["values"]["__SKIPPED"], case
    assert case["values"]["SRC_URI"] == "git://git.example.com/linux.git;protocol=https;branch=v5.10", case
    assert "kernel-patches" not in (case["values"]["FILESEXTRAPATHS"] or ""), case


# -- sorto on ------------------------------------------------------------------------------------


def test_parse_sorto_on(build: yocto.Build) -> None:
    build.configure(sorto=True)
    assert_parsed(build.run("bitbake", "-p", label="parse-on"))


def test_linux_yocto_gets_its_series(build: yocto.Build) -> None:
    """bitbake -e linux-yocto: kernel-patches/<its major.minor> in order, then sorto.cfg, all found."""
    build.configure(sorto=True)
    env = build.bitbake_e("linux-yocto")
    series = build.release.kernel_series
    assert env["LINUX_VERSION"].startswith(series + "."), env["LINUX_VERSION"]
    uris = file_uris(env["SRC_URI"])
    ours = [u for u in uris if u.startswith(series + "/")]
    staged = sorted(p.name for p in (build.layer.parent / "kernel-patches" / series).glob("*.patch"))
    assert ours == [f"{series}/{n}" for n in PATCH_NAMES] and staged == PATCH_NAMES, (ours, staged)
    assert uris.index("sorto.cfg") > uris.index(ours[-1])
    for name in [*ours, "sorto.cfg"]:
        found = find_in(env["FILESPATH"], name)
        assert found is not None, f"{name} is not on FILESPATH"
    assert find_in(env["FILESPATH"], ours[0]).resolve().parent.parent == build.layer.parent / "kernel-patches"
    cfg = find_in(env["FILESPATH"], "sorto.cfg").read_text()
    assert "CONFIG_BINFMT_ELF_HOOK=y" in cfg and "CONFIG_DEBUG_FS=y" in cfg


def test_inject_runs_after_split_and_strip(build: yocto.Build) -> None:
    """bitbake -e of a target recipe: the class's function opens PACKAGESPLITFUNCS, which do_package
    runs after oe-core's split_and_strip_files and fixup_perms; native variants do not run it."""
    build.configure(sorto=True)
    env = build.bitbake_e("sorto-hook")
    funcs = env["PACKAGESPLITFUNCS"].split()
    assert funcs[0] == "sorto_package_inject" and funcs[-1] == "populate_packages", funcs
    assert "sorto_package_inject" not in env.get("PACKAGE_PREPROCESS_FUNCS", "").split()
    body = env["do_package()"]
    order = [body.index(s) for s in ("oe.package.process_split_and_strip_files(d)", "oe.package.fixup_perms(d)",
                                     "d.getVar('PACKAGESPLITFUNCS')")]
    assert order == sorted(order), body
    assert "sorto_layer.package.inject_tree(" in env["sorto_package_inject()"]
    assert "sorto-section" in env["ERROR_QA"].split()
    ans = build.query({"query": "variants", "cases": {
        "target": {"pn": "sorto-hook", "vars": [], "flags": [["do_package", "depends"],
                                                              ["do_package", "file-checksums"],
                                                              ["do_package_qa", "file-checksums"]]},
        "native": {"pn": "python3-sorto-native", "vars": ["PACKAGESPLITFUNCS", "ERROR_QA"],
                   "flags": [["do_package", "depends"]]},
    }})
    target, native = ans["target"]["flags"], ans["native"]
    assert "python3-sorto-native:do_populate_sysroot" in target["do_package[depends]"].split()
    lib = sorted(str(p) for p in (build.layer / "lib" / "sorto_layer").glob("*.py"))
    for flag in ("do_package[file-checksums]", "do_package_qa[file-checksums]"):
        listed = [e.rsplit(":", 1)[0] for e in target[flag].split()]
        assert set(lib) <= set(listed), (flag, target[flag])
        assert str(build.layer / "files" / "sorto-default-policy.yaml") in listed
    assert "sorto_package_inject" not in native["values"]["PACKAGESPLITFUNCS"].split()
    assert "sorto-section" not in native["values"]["ERROR_QA"].split()
    assert "python3-sorto-native" not in native["flags"]["do_package[depends]"]


def test_do_package_signature_covers_layer_code(build: yocto.Build) -> None:
    """What BitBake signs for sorto-hook's do_package: the library functions the class calls by name,
    the variables they read (host paths excluded), and the library's sources as file checksums.

    Signing happens in a build dir of its own, where only `bitbake -S` runs.  BitBake keeps the
    parse data `-S` needs (RECIPE_SIGGEN_INFO) in a cache file of its own, written only by `-S`
    servers: after another command reparsed a recipe that changed (linux-yocto, when the layer's
    patch list grew), BitBake 2.8 loaded that file stale and stopped with "Basehash mismatch"; 2.18
    instead reparses every recipe (4-5 minutes) each time a server switches feature sets.
    """
    signer = yocto.Build(build.release, build.root, build.ident, build.layer, variant="sign")
    signer.prepare()  # the layer's switches left out until the layer is in BBLAYERS
    signer.check("bitbake-layers", "add-layer", str(build.layer), label="add-layer-meta-sorto")
    signer.configure(sorto=True)
    try:
        signer.check("bitbake", "-S", "none", "sorto-hook:do_package", label="sign-sorto-hook")
    finally:
        signer.stop_server()
    ans = signer.sigdata("sorto-hook", "do_package")
    deps = ans["taskdeps"]
    for fn in ("sorto_package_inject", "sorto_layer.package.enabled", "sorto_layer.package.read_config",
               "sorto_layer.package.inject_tree"):
        assert fn in deps, sorted(d for d in deps if "sorto" in d)
    refs = set(ans["gendeps"]["sorto_layer.package.read_config"])
    assert {"HOST_ARCH", "OBJCOPY", "SORTO_ELF_MACHINE", "SORTO_EXCLUDE_DIRS", "SORTO_CMD", "PN"} <= refs, refs
    assert not refs & {"SORTO_POLICY_DIR", "SORTO_DEFAULT_POLICY", "PATH", "WORKDIR", "UNPACKDIR"}, refs
    assert "SORTO_LAYERDIR" not in deps
    # sigdata keeps file names without their (host-specific) folders
    lib = {p.name for p in (build.layer / "lib" / "sorto_layer").glob("*.py")}
    summed = {Path(f).name for f, cs in ans["file_checksums"] if cs}
    assert lib | {"sorto-default-policy.yaml"} <= summed, ans["file_checksums"]


def test_linux_sorto_4_14_selected(build: yocto.Build) -> None:
    """PREFERRED_PROVIDER_virtual/kernel = "linux-sorto-4.14": that recipe carries kernel-patches/4.14."""
    build.configure(sorto=True)
    settings = {"PREFERRED_PROVIDER_virtual/kernel": "linux-sorto-4.14"}
    names = ["SRC_URI", "FILESPATH", "S", "LINUX_VERSION", "COMPATIBLE_MACHINE", "KBUILD_DEFCONFIG"]
    ans = build.query({"query": "variants", "cases": {
        # by file: in the build's own configuration linux-yocto.inc skips it ("Set PREFERRED_PROVIDER_virtual/kernel")
        "k414": {"file": str(build.layer / "recipes-kernel" / "linux" / "linux-sorto-4.14_4.14.336.bb"),
                 "settings": settings, "vars": names, "flags": [["SRC_URI", "sha256sum"]]},
        "linux-yocto": {"pn": "linux-yocto", "settings": settings, "vars": ["SRC_URI"]},
    }})
    k = ans["k414"]
    assert "failed" not in k and not k["values"]["__SKIPPED"], k
    v = k["values"]
    assert v["LINUX_VERSION"] == "4.14.336" and v["COMPATIBLE_MACHINE"] == "qemuarm", v
    assert v["KBUILD_DEFCONFIG"] == "multi_v7_defconfig" and v["S"].endswith("/linux-4.14.336"), v
    uris = v["SRC_URI"].split()
    assert uris[0].endswith("/linux/kernel/v4.x/linux-4.14.336.tar.xz"), uris
    assert re.fullmatch(r"[0-9a-f]{64}", k["flags"]["SRC_URI[sha256sum]"] or ""), k["flags"]
    files = file_uris(v["SRC_URI"])
    assert [f for f in files if f.startswith("4.14/")] == [f"4.14/{n}" for n in PATCH_NAMES], files
    assert {"qemuarm-virt.cfg", "sorto.cfg"} <= set(files)
    for name in files:
        assert find_in(v["FILESPATH"], name) is not None, name
    # linux-yocto, no longer selected, is skipped by oe-core's own rule, not stopped by ours
    y = ans["linux-yocto"]
    assert "failed" not in y, y
    assert y["values"]["__SKIPPED"] == "Set PREFERRED_PROVIDER_virtual/kernel to linux-yocto to enable it", y


def test_unsupported_kernel_is_named(build: yocto.Build) -> None:
    """With sorto on, a selected kernel without a series stops the parse naming it and the series;
    not selected, it is skipped with the same words (so unused kernels do not break a build)."""
    build.configure(sorto=True)
    recipe = str(vendor_recipe(build))
    ans = build.query({"query": "variants", "cases": {
        "selected": {"file": recipe, "appends": False, "vars": ["SRC_URI"],
                     "settings": {"PREFERRED_PROVIDER_virtual/kernel": "linux-vendor"}},
        "not-selected": {"file": recipe, "appends": False, "vars": ["SRC_URI"]},
    }})
    sel = ans["selected"]
    assert "failed" in sel, sel
    assert any(VENDOR_ERROR in m for m in sel["log"]), sel["log"]
    skipped = ans["not-selected"]
    assert "failed" not in skipped and skipped["values"]["__SKIPPED"] == VENDOR_ERROR, skipped


def test_image_dependencies_resolve(build: yocto.Build) -> None:
    """``bitbake -g sorto-image-minimal``: every build and runtime dependency of the image, the kernel,
    sorto-hook and python3-sorto (and of the marking tool, python3-sorto-native) has a provider.

    -g resolves providers exactly as a build or ``bitbake -n`` does (task data and
    runqueue preparation, failing on "Nothing (R)PROVIDES") and writes the
    task graph; -n would go on to walk all ~5400 tasks one by one, which
    BitBake does at about 7 tasks a second, 12 minutes per release.
    """
    build.configure(sorto=True)
    for name in ("pn-buildlist", "task-depends.dot"):
        (build.dir / name).unlink(missing_ok=True)
    res = build.run("bitbake", "-g", "sorto-image-minimal", label="depgraph-image")
    assert_clean(res)
    pns = set((build.dir / "pn-buildlist").read_text().split())
    wanted = {"sorto-image-minimal", "packagegroup-sorto-profiling", "sorto-hook", "python3-sorto",
              "python3-sorto-native", "linux-yocto", "strace", "perf",
              # meta-oe is in the build: dynamic-layers/ adds trace-cmd to the packagegroup
              "trace-cmd",
              # what python3-sorto-native needs to run the marking in do_package
              "python3-pyelftools-native", "python3-pyyaml-native", "python3-jinja2-native"}
    assert wanted <= pns, sorted(wanted - pns)
    # no jsonschema (its rpds-py is Rust): the marking needs no Rust toolchain
    assert not {"python3-jsonschema-native", "python3-rpds-py-native", "rust-native"} & pns
    dot = (build.dir / "task-depends.dot").read_text()
    edges = set(re.findall(r'^"([^"]+)" -> "([^"]+)"$', dot, re.M))
    assert ("sorto-hook.do_package", "python3-sorto-native.do_populate_sysroot") in edges
    rootfs = {b.split(".")[0] for a, b in edges if a == "sorto-image-minimal.do_rootfs"}
    assert {"sorto-hook", "python3-sorto", "packagegroup-sorto-profiling", "trace-cmd", "linux-yocto"} <= rootfs
    # the node label ends with the recipe file: virtual/kernel resolved to the release's linux-yocto
    label = next(line for line in dot.splitlines() if line.startswith('"linux-yocto.do_fetch" [label='))
    recipe = Path(label.rsplit("\\n", 1)[1].removesuffix('"]'))
    assert recipe.name == f"linux-yocto_{build.release.kernel_series}.bb", label


def tasks(value: str | list[str]) -> list[str]:
    """__BBTASKS: a list in the datastore, a string once through some BitBake versions' expansion."""
    return value.split() if isinstance(value, str) else list(value)


def test_scratchpad_task_chooses_the_list_between_configure_and_compile(build: yocto.Build) -> None:
    """SORTO_SCRATCHPAD_SIZE set: linux-yocto gets do_sorto_scratchpad after do_configure (whose postfunc turns
    the feature on with an empty list) and before do_compile, run by python3-sorto-native, on the user's policy
    folder; a bad size stops the parse naming it; unset, nothing of it is there."""
    build.configure(sorto=True)
    pols = build.dir / "sorto-policies"
    (pols / "someapp").mkdir(parents=True, exist_ok=True)
    (pols / "someapp" / "someapp.yaml").write_text("version: 1\nscratchpad:\n  - {function: sys_getppid, weight: 9}\n")
    subprocess.run(["chmod", "-R", "a+rX", str(pols)], check=True)
    names = ["__BBTASKS", "SRC_URI", "SORTO_SCRATCHPAD_POLICIES", "sorto_scratchpad_config", "do_sorto_scratchpad"]
    flags = [["do_sorto_scratchpad", "deps"], ["do_compile", "deps"], ["do_configure", "postfuncs"],
             ["do_sorto_scratchpad", "depends"], ["do_sorto_scratchpad", "file-checksums"]]
    ans = build.query({"query": "variants", "cases": {
        "on": {"pn": "linux-yocto", "vars": names, "flags": flags,
               "settings": {"SORTO_SCRATCHPAD_SIZE": "64K", "SORTO_POLICY_DIR": str(pols)}},
        "bad": {"pn": "linux-yocto", "vars": ["SRC_URI"], "settings": {"SORTO_SCRATCHPAD_SIZE": "5000"}},
        "off": {"pn": "linux-yocto", "vars": names, "flags": flags},
    }})
    on = ans["on"]
    assert "failed" not in on, on
    v, f = on["values"], on["flags"]
    assert "do_sorto_scratchpad" in tasks(v["__BBTASKS"])
    assert {"do_configure", "do_kernel_configcheck"} <= set(f["do_sorto_scratchpad[deps]"])
    assert "do_sorto_scratchpad" in f["do_compile[deps]"]
    assert "sorto_scratchpad_config" in f["do_configure[postfuncs]"].split()
    assert "python3-sorto-native:do_populate_sysroot" in f["do_sorto_scratchpad[depends]"].split()
    assert f"{pols / 'someapp' / 'someapp.yaml'}:True" in f["do_sorto_scratchpad[file-checksums]"].split()
    assert v["SORTO_SCRATCHPAD_POLICIES"].split()[0] == str(pols)
    assert "sorto-scratchpad.cfg" in file_uris(v["SRC_URI"])
    assert "--set-val ARM_SCRATCHPAD_SIZE 0x10000" in v["sorto_scratchpad_config"]
    assert "scratchpad-list --kernel" in v["do_sorto_scratchpad"] and "--size 64K" in v["do_sorto_scratchpad"]
    bad = ans["bad"]
    assert "failed" in bad and any("SORTO_SCRATCHPAD_SIZE '5000'" in m for m in bad["log"]), bad
    off = ans["off"]
    assert "failed" not in off, off
    assert "do_sorto_scratchpad" not in tasks(off["values"]["__BBTASKS"])
    assert "sorto_scratchpad_config" not in (off["flags"]["do_configure[postfuncs]"] or "")
    assert "sorto-scratchpad.cfg" not in file_uris(off["values"]["SRC_URI"])
