"""Build the QEMU TCG plugins against the plugin header of the installed QEMU.

Why at run time and not committed: QEMU refuses a plugin whose
``QEMU_PLUGIN_VERSION`` is newer than its own, and Debian ships neither the
plugins nor ``qemu-plugin.h``.  The exact header is in Debian's source
package of the installed ``qemu-system-arm``, so it is fetched from there
(``apt-get source --download-only`` and ``dpkg-source -x``, which applies
Debian's patches; a ``deb-src`` entry, dpkg-dev and libglib2.0-dev are
installed by ``make deps``).  Only the header is kept, under
``$SORTO_CACHE/plugins/qemu-<version>/``; the source tree (about 300 MB)
is deleted.  Each ``.so`` is cached under ``$SORTO_CACHE/plugins/<key>/``,
keyed by the QEMU source version, the plugin sources and the compiler, so
an upgrade of QEMU or an edit of a plugin rebuilds it and nothing else does.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import SortoError
from ..guest.build import _capture, _commit, _fresh, _prune, _run, _stamp_ok, cache_root, input_digest

HERE = Path(__file__).resolve().parent
PLUGINS = ("kfetch", "kcache")
RECIPE = "2"  # bump when the compile steps change
COMMON = ("common.h", "common.c")  # compiled into every plugin
QEMU_BINARY_PACKAGE = "qemu-system-arm"
HEADER = "include/qemu/qemu-plugin.h"
CFLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror", "-fPIC", "-fvisibility=hidden", "-shared"]


def qemu_source() -> tuple[str, str]:
    """The source package and version of the installed qemu-system-arm (a binNMU has the source's version)."""
    out = _capture(["dpkg-query", "-W", "-f=${source:Package} ${source:Version}", QEMU_BINARY_PACKAGE])
    pkg, _, version = out.partition(" ")
    if not pkg or not version:
        raise SortoError(f"dpkg-query gave no source version for {QEMU_BINARY_PACKAGE}: {out!r}")
    return pkg, version


def _safe(version: str) -> str:
    return version.replace(":", "_").replace("~", "_")


def plugin_header(root: Path | None = None) -> Path:
    """Return ``qemu-plugin.h`` of the installed QEMU's Debian source, fetching it once."""
    pkg, version = qemu_source()
    final = (root or cache_root() / "plugins") / f"{pkg}-{_safe(version)}"
    if _stamp_ok(final):
        return final / "qemu-plugin.h"
    tmp = _fresh(final)
    with tempfile.TemporaryDirectory(prefix="sorto-qemu-src-") as work:
        dl = subprocess.run(["apt-get", "source", "--download-only", f"{pkg}={version}"], cwd=work,
                            capture_output=True, text=True, check=False)
        dscs = sorted(Path(work).glob("*.dsc"))
        if dl.returncode != 0 or not dscs:
            shutil.rmtree(tmp, ignore_errors=True)
            tail = "\n".join((dl.stdout + dl.stderr).strip().splitlines()[-5:])
            raise SortoError(
                f"cannot get the QEMU plugin header: 'apt-get source --download-only {pkg}={version}' failed. "
                "It needs a deb-src entry for the machine's Debian mirror, then apt-get update, and dpkg-dev "
                f"(run 'make deps', which sets them up).\n{tail}")
        _run(["dpkg-source", "--no-check", "-x", str(dscs[0]), "src"], cwd=Path(work))
        header = Path(work) / "src" / HEADER
        if not header.is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            raise SortoError(f"{dscs[0].name}: the unpacked source has no {HEADER}")
        shutil.copy2(header, tmp / "qemu-plugin.h")
    (tmp / "version").write_text(f"{pkg} {version}\n")
    _commit(tmp, final)
    return final / "qemu-plugin.h"


def build_plugin(name: str, cache: str | Path | None = None) -> Path:
    """Return the path of plugin ``name`` (a key of :data:`PLUGINS`) built for the installed QEMU."""
    if name not in PLUGINS:
        raise SortoError(f"unknown plugin {name!r}: choose one of {', '.join(PLUGINS)}")
    root = cache_root(cache) / "plugins"
    root.mkdir(parents=True, exist_ok=True)
    src = HERE / f"{name}.c"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        header = plugin_header(root)
        glib = _capture(["pkg-config", "--cflags", "glib-2.0"]).split()
        gcc = _capture(["gcc", "--version"]).splitlines()[0]
        common = [(HERE / c).read_bytes() for c in COMMON]
        key = input_digest(RECIPE, qemu_source()[1], name, src.read_bytes(), *common, header.read_bytes(), gcc,
                           *glib)
        final = root / f"{name}-{key}"
        if _stamp_ok(final):
            return final / f"{name}.so"
        tmp = _fresh(final)
        _run(["gcc", *CFLAGS, *glib, f"-I{header.parent}", "-o", str(tmp / f"{name}.so"), str(src),
              str(HERE / "common.c")])
        _commit(tmp, final)
        _prune(root, f"{name}-", final, keep=2)
    return final / f"{name}.so"
