"""Buildroot's own make, offline, over the SORTO br2-external tree.

CI has no network for a Buildroot build, so what runs is what Buildroot does
without downloading (``../shared/buildroot/README.md`` lists it): loading a
defconfig, ``savedefconfig``, ``show-info``, ``printvars`` and
``utils/check-package``.  The snapshot (``git archive`` of a release, next to
the repository) is unpacked once into ``$SORTO_CACHE/buildroot/src/<name>-<hash>``,
keyed by the tarball's digest like the guest and Yocto caches, and renamed into place
only when complete.  Output folders (``O=``) are per test session, under
pytest's temporary folder.

Buildroot runs as whoever runs the tests: unlike BitBake it does not check
who runs it (neither its Makefile nor support/dependencies/ looks at the
user), so there is no unprivileged user to switch to as tests/layer does.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

from ..conftest import REPO, SHARED

SNAPSHOTS = SHARED / "buildroot"
EXTERNAL = REPO / "br2-external"
DEFCONFIGS = sorted(p.name for p in (EXTERNAL / "configs").glob("*_defconfig"))
# The environment Buildroot sees: the caller's minus what it refuses or what
# would change its answers (a venv's PYTHONPATH, a user's BR2_* settings).
_DROP = ("PYTHONPATH", "PERL_MM_OPT", "CDPATH", "CONFIG_SITE", "BR2_DL_DIR", "BR2_EXTERNAL", "O")


class SetupError(RuntimeError):
    """The snapshot is missing or does not unpack; the message says which."""


def snapshot() -> Path:
    """The one Buildroot tarball in ``../shared/buildroot``."""
    found = sorted(SNAPSHOTS.glob("buildroot-*.tar.xz"))
    if len(found) != 1:
        raise SetupError(f"expected one buildroot-*.tar.xz in {SNAPSHOTS}, found {len(found)}")
    return found[0]


def unpack() -> Path:
    """The unpacked Buildroot tree (``.../buildroot``), unpacked once per snapshot hash."""
    from sorto.guest.build import cache_root, input_digest

    tarball = snapshot()
    src = cache_root() / "buildroot" / "src"
    src.mkdir(parents=True, exist_ok=True)
    tree = src / f"{tarball.name.removesuffix('.tar.xz')}-{input_digest(tarball.name, tarball.read_bytes())}"
    with (src / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not tree.is_dir():
            tmp = tree.with_name(tree.name + ".partial")
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
            proc = subprocess.run(["tar", "-xJf", str(tarball), "-C", str(tmp)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SetupError(f"tar -xJf {tarball}: {proc.stderr.strip()}")
            tmp.rename(tree)
    top = tree / "buildroot"
    if not (top / "Makefile").is_file():
        raise SetupError(f"{tree}: no buildroot/Makefile in the snapshot")
    return top


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in _DROP}
    out["LC_ALL"] = "C"
    return out


def make(tree: Path, out: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``make O=<out> BR2_EXTERNAL=<tree> <args>`` in the Buildroot tree; output captured as text."""
    cmd = ["make", f"O={out}", f"BR2_EXTERNAL={EXTERNAL}", *args]
    return subprocess.run(cmd, cwd=tree, env=env(), capture_output=True, text=True, timeout=timeout)


def check(tree: Path, out: Path, *args: str) -> str:
    """:func:`make`, failing with its output when it fails; return stdout."""
    proc = make(tree, out, *args)
    if proc.returncode != 0:
        raise AssertionError(f"make {' '.join(args)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc.stdout


def printvars(tree: Path, out: Path, *names: str) -> dict[str, str]:
    """``make printvars`` of exactly ``names``, as a dict (values as Buildroot expands them)."""
    text = check(tree, out, "-s", "printvars", f"VARS={' '.join(names)}")
    values: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in names:
            current, values[name] = name, value
        elif current is not None:  # a define's later lines
            values[current] += "\n" + line
    return values


def show_info(tree: Path, out: Path) -> dict:
    """``make show-info``: every package of the configuration with its details."""
    return json.loads(check(tree, out, "-s", "show-info"))


def dotconfig(out: Path) -> dict[str, str]:
    """The options set in ``<out>/.config`` (quotes kept, as Kconfig writes them)."""
    values = {}
    for line in (out / ".config").read_text().splitlines():
        if line.startswith("BR2_") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
    return values
