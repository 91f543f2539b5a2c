"""Checks a full `kas build` would make, run without network.

* oelint-adv over every recipe, append, class and configuration of the layer,
  with the repository's .oelint.cfg (suppressions listed there with reasons);
* every kas file loaded by kas's own loader (JSON schema + format version),
  includes resolved and the merged result checked;
* every patch of kernel-patches/ carries Upstream-Status;
* the layer's Python library is ruff clean.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import REPO, SHARED, need
from .bbparse import LAYER

KAS_DIR = REPO / "kas"


def test_oelint_adv_no_findings() -> None:
    exe = shutil.which("oelint-adv")
    if exe is None:
        pytest.fail("oelint-adv not found: run 'make deps' (test extra of scripts/pyproject.toml)")
    files = sorted(str(p.relative_to(REPO)) for p in LAYER.rglob("*")
                   if p.suffix in {".bb", ".bbappend", ".bbclass", ".conf"} and "files" not in p.parts)
    assert any(f.endswith(".bbappend") for f in files) and any(f.endswith(".bbclass") for f in files)
    proc = subprocess.run([exe, "--quiet", "--relpaths", "--jobs", "1", *files], cwd=REPO,
                          capture_output=True, text=True)
    findings = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert proc.returncode == 0 and not findings, "\n".join(findings)


def test_oelint_cfg_suppressions_have_reasons() -> None:
    text = (REPO / ".oelint.cfg").read_text()
    block = text.split("suppress =", 1)[1]
    rules = [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
    comments = text.split("suppress =", 1)[0]
    for rule in rules:
        assert re.search(rf"#\s+{re.escape(rule)}\s+-", comments), f"{rule} has no reason in .oelint.cfg"


def kas_files() -> list[Path]:
    return sorted(KAS_DIR.rglob("*.yml"))


@pytest.mark.parametrize("path", kas_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_kas_schema(path: Path) -> None:
    from jsonschema.validators import validator_for
    from kas.configschema import CONFIGSCHEMA
    from kas.includehandler import ConfigFile

    data = yaml.safe_load(path.read_text())
    errors = [e.message for e in validator_for(CONFIGSCHEMA)(CONFIGSCHEMA).iter_errors(data)]
    assert not errors, errors
    ConfigFile.load(str(path))  # kas's own loader: schema and supported format version
    for inc in data["header"].get("includes", []):
        assert (REPO / inc).is_file(), f"{path.name}: include {inc} not found"


def merged(path: Path) -> dict:
    """Merge a kas file with its includes depth-first, as kas does (later wins)."""
    data = yaml.safe_load(path.read_text())
    out: dict = {}

    def merge(dst: dict, src: dict) -> None:
        for k, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                merge(dst[k], v)
            else:
                dst[k] = v

    for inc in data["header"].get("includes", []):
        merge(out, merged(REPO / inc))
    merge(out, data)
    return out


def test_kas_sorto_qemuarm() -> None:
    cfg = merged(KAS_DIR / "sorto-qemuarm.yml")
    assert cfg["machine"] == "qemuarm"
    assert cfg["target"] == ["sorto-image-minimal"]
    for name in ("poky", "meta-openembedded"):
        repo = cfg["repos"][name]
        assert re.fullmatch(r"[0-9a-f]{40}", repo["commit"]), f"{name} is not pinned by commit"
        assert repo["branch"] == "scarthgap"
    assert set(cfg["repos"]["meta-openembedded"]["layers"]) == {"meta-oe", "meta-python"}
    assert "url" not in (cfg["repos"]["meta-sorto"] or {})
    assert list(cfg["repos"]["meta-sorto"]["layers"]) == ["meta-sorto"]
    conf = "\n".join(cfg["local_conf_header"].values())
    assert 'DISTRO_FEATURES:append = " sorto"' in conf
    assert 'INHERIT += "sorto"' in conf
    for doc in (LAYER / "README.md", REPO / "docs" / "yocto.md"):
        assert "kas build kas/sorto-qemuarm.yml" in doc.read_text(), doc


def test_kas_sorto_qemuarm_wrynose() -> None:
    """wrynose has no poky: oe-core, BitBake as its sibling, meta-openembedded, all pinned."""
    cfg = merged(KAS_DIR / "sorto-qemuarm-wrynose.yml")
    assert cfg["machine"] == "qemuarm" and cfg["target"] == ["sorto-image-minimal"]
    assert cfg["distro"] == "nodistro"
    assert "poky" not in cfg["repos"]
    branches = {"bitbake": "2.18", "openembedded-core": "wrynose", "meta-openembedded": "wrynose"}
    for name, branch in branches.items():
        repo = cfg["repos"][name]
        assert re.fullmatch(r"[0-9a-f]{40}", repo["commit"]), f"{name} is not pinned by commit"
        assert repo["branch"] == branch, name
    # the commits are those of the snapshots the real parse runs against
    snapshots = " ".join(p.name for p in (SHARED / "yocto").glob("*.tar.xz"))
    for name in ("openembedded-core", "meta-openembedded"):
        assert f"{name}-wrynose-{cfg['repos'][name]['commit'][:8]}" in snapshots, name
    assert f"bitbake-2.18-{cfg['repos']['bitbake']['commit'][:8]}" in snapshots
    assert cfg["repos"]["bitbake"]["layers"] == {".": "disabled"}
    assert list(cfg["repos"]["openembedded-core"]["layers"]) == ["meta"]
    assert set(cfg["repos"]["meta-openembedded"]["layers"]) == {"meta-oe", "meta-python"}
    conf = "\n".join(cfg["local_conf_header"].values())
    assert 'DISTRO_FEATURES:append = " sorto"' in conf and 'INHERIT += "sorto"' in conf
    assert 'PREFERRED_PROVIDER_virtual/kernel = "linux-yocto"' in conf


def test_kas_scarthgap_pins_match_snapshots() -> None:
    cfg = merged(KAS_DIR / "sorto-qemuarm.yml")
    snapshots = " ".join(p.name for p in (SHARED / "yocto").glob("*.tar.xz"))
    for name in ("poky", "meta-openembedded"):
        assert f"{name}-scarthgap-{cfg['repos'][name]['commit'][:8]}" in snapshots, name


def test_kas_4_14_on_top() -> None:
    cfg = merged(KAS_DIR / "sorto-qemuarm-4.14.yml")
    assert yaml.safe_load((KAS_DIR / "sorto-qemuarm-4.14.yml").read_text())["header"]["includes"] == [
        "kas/sorto-qemuarm.yml"]
    assert 'PREFERRED_PROVIDER_virtual/kernel = "linux-sorto-4.14"' in cfg["local_conf_header"]["kernel"]
    assert cfg["machine"] == "qemuarm" and cfg["target"] == ["sorto-image-minimal"]


def test_patches_have_upstream_status() -> None:
    patches = sorted((REPO / "kernel-patches").rglob("*.patch"))
    assert patches
    for p in patches:
        head = p.read_text(errors="replace").split("\n---\n", 1)[0]
        assert re.search(r"^Upstream-Status: (Pending|Submitted \[.+\]|Accepted|Backport \[.+\]|Denied|"
                         r"Inactive-Upstream|Inappropriate \[.+\])", head, re.M), f"{p}: no Upstream-Status"


def test_layer_python_ruff_clean() -> None:
    need("ruff")
    proc = subprocess.run(["ruff", "check", "--config", str(REPO / "ruff.toml"), str(LAYER / "lib"),
                           str(Path(__file__).parent)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_layer_python_has_no_bitbake_import() -> None:
    """The module must load in any Python (tests, bitbake's), so it imports only the standard library."""
    for p in (LAYER / "lib" / "sorto_layer").glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names, f"{p.name}:{node.lineno} imports {name}"


def test_bbimports_modules_bind_only_their_own_callables() -> None:
    """Replay what BitBake does with BBIMPORTS, without BitBake.

    ``addpylib`` imports each module listed in ``sorto_layer.BBIMPORTS`` and
    hands every public callable of it to ``bb.codeparser.add_module_functions``,
    which on BitBake 2.8 (scarthgap) calls ``inspect.getsourcelines`` on each:
    a name bound by an import (``collections.abc.Callable``, a typing alias)
    has no source there and stopped every parse with "could not find class
    definition".  Every public callable must be defined in its own module.
    """
    import importlib
    import inspect

    lib = str(LAYER / "lib")
    if lib not in sys.path:
        sys.path.append(lib)
    pkg = importlib.import_module("sorto_layer")
    assert pkg.BBIMPORTS
    for name in pkg.BBIMPORTS:
        mod = importlib.import_module(f"sorto_layer.{name}")
        public = [a for a in dir(mod) if not a.startswith("_") and callable(getattr(mod, a))]
        assert public, name
        for attr in public:
            obj = getattr(mod, attr)
            assert inspect.getsourcefile(obj) == mod.__file__, f"sorto_layer.{name}.{attr} is not defined there"
            lines, _ = inspect.getsourcelines(obj)
            assert lines, f"sorto_layer.{name}.{attr}"
