"""BitBake's own parser over meta-sorto, offline, with stand-ins for oe-core.

Used where the real parses of test_yocto.py cannot reach (see test_parse.py)
and to give test_package_class.py a datastore with the layer's configuration.

PyPI's ``bitbake-setup`` ships ``bb`` without ``hashserv``: empty modules take
its place (the parser never calls it).  Classes and files the layer takes from
openembedded-core are written as empty stand-ins into a temporary BBPATH
entry, so the parse reaches every line of the layer's own files; what those
classes do is not modelled, except the class override native/nativesdk set.
"""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

for _name in ("hashserv", "hashserv.client"):
    sys.modules.setdefault(_name, types.ModuleType(_name))

import bb  # noqa: E402  (after the hashserv stand-ins)
import bb.data  # noqa: E402
import bb.parse  # noqa: E402
import bb.parse.parse_py.BBHandler  # noqa: E402
import bb.siggen  # noqa: E402

from ..conftest import REPO  # noqa: E402

LAYER = REPO / "meta-sorto"

# oe-core classes the layer inherits; native/nativesdk set what BBCLASSEXTEND relies on.
STUB_CLASSES = {
    "base": "",
    "module": "",
    "kernel": "",
    "python_setuptools_build_meta": "",
    "native": 'CLASSOVERRIDE = "class-native"\n',
    "nativesdk": 'CLASSOVERRIDE = "class-nativesdk"\n',
}
# oe-core files the layer requires.
STUB_FILES = {
    "recipes-kernel/linux/linux-yocto.inc": "",
}


def write_stubs(root: Path) -> Path:
    """Create the stand-in BBPATH entry under ``root`` and return it."""
    (root / "classes").mkdir(parents=True, exist_ok=True)
    for name, text in STUB_CLASSES.items():
        (root / "classes" / f"{name}.bbclass").write_text(text)
    for rel, text in STUB_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


class LogCapture(logging.Handler):
    """Collect BitBake's log records (bb.fatal logs, then raises)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def base_datastore(stubs: Path, distro_features: str = "sorto", inherit_class: bool = True,
                   extra: dict[str, str] | None = None) -> bb.data_smart.DataSmart:
    """A configuration datastore: layer.conf parsed as BitBake does, plus bitbake.conf basics."""
    d = bb.data.init()
    d.setVar("BBPATH", str(stubs))
    d.setVar("LAYERDIR", str(LAYER))
    d.setVar("LAYERDIR_RE", str(LAYER))
    bb.parse.handle(str(LAYER / "conf" / "layer.conf"), d, baseconfig=True)
    d.expandVarref("LAYERDIR")
    d.expandVarref("LAYERDIR_RE")
    d.delVar("LAYERDIR")
    d.setVar("__bbclasstype", "recipe")
    # what bitbake.conf provides and the layer's files read
    d.setVar("PN", "${@bb.parse.vars_from_file(d.getVar('FILE', False), d)[0] or 'defaultpkgname'}")
    d.setVar("PV", "${@bb.parse.vars_from_file(d.getVar('FILE', False), d)[1] or '1.0'}")
    d.setVar("CLASSOVERRIDE", "class-target")
    d.setVar("OVERRIDES", "${CLASSOVERRIDE}:pn-${PN}")
    d.setVar("THISDIR", "${@os.path.dirname(d.getVar('FILE', True))}")
    d.setVar("COMMON_LICENSE_DIR", "/common-licenses")
    d.setVar("DISTRO_FEATURES", distro_features)
    d.setVar("ERROR_QA", "already-stripped")
    for k, v in (extra or {}).items():
        d.setVar(k, v)
    bb.parse.siggen = bb.siggen.init(d)
    if inherit_class:
        # INHERIT += "sorto", as cookerdata does for configuration INHERITs
        bb.parse.BBHandler.inherit("sorto", "configuration INHERITs", 0, d)
    return d


def parse_recipe(base: bb.data_smart.DataSmart, recipe: Path, appends: list[Path] | None = None) -> dict:
    """Parse ``recipe`` (and its appends) like the cooker; return the datastores by variant."""
    d = bb.data.createCopy(base)
    if appends:
        d.setVar("__BBAPPEND", " ".join(str(a) for a in appends))
    return bb.parse.handle(str(recipe), d, False)
