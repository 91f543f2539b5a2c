"""Which patch series a kernel recipe gets, and what its scratchpad is chosen from: linux-sorto.inc's logic.

Kept out of the .inc so a test can check it without a build, and so vendor
kernel appends that ``require linux-sorto.inc`` share one rule.

Imported by BitBake through ``BBIMPORTS``: like package.py, it binds no
foreign callable at top level (``package.SortoLayerError``, not a re-export).
"""

from __future__ import annotations

import os
import typing

from . import package

if typing.TYPE_CHECKING:
    from .package import DataStore


def series_of(version: str) -> str:
    """Return ``major.minor`` of a kernel version such as ``6.12.58+git`` or ``4.14.336``."""
    parts = version.split(".")
    if len(parts) < 2 or not parts[0].isdigit():
        raise package.SortoLayerError(f"sorto: cannot read a kernel version from LINUX_VERSION '{version}'")
    minor = ""
    for ch in parts[1]:
        if not ch.isdigit():
            break
        minor += ch
    if not minor:
        raise package.SortoLayerError(f"sorto: cannot read a kernel version from LINUX_VERSION '{version}'")
    return f"{parts[0]}.{minor}"


def patch_uris(d: DataStore) -> tuple[str, list[str]]:
    """Return (series, SRC_URI entries) for the recipe's LINUX_VERSION.

    Raises :class:`package.SortoLayerError` with the supported list when the series
    has no patches in this layer.
    """
    version = d.getVar("LINUX_VERSION") or ""
    series = series_of(version)
    supported = (d.getVar("SORTO_KERNEL_SERIES") or "").split()
    if series not in supported:
        pn = d.getVar("PN") or "kernel"
        raise package.SortoLayerError(
            f"meta-sorto: {pn} is Linux {version} (series {series}); the ELF hook patch series exists "
            f"for {', '.join(supported)} only. Select a supported kernel or drop 'sorto' from DISTRO_FEATURES."
        )
    names = (d.getVarFlag("SORTO_KERNEL_PATCHES", series) or "").split()
    if not names:
        raise package.SortoLayerError(f"meta-sorto: SORTO_KERNEL_PATCHES[{series}] is empty")
    return series, [f"file://{series}/{name}" for name in names]


def scratchpad_bytes(d: DataStore) -> str:
    """``SORTO_SCRATCHPAD_SIZE`` (65536, 0x10000, 64K) as the hex CONFIG_ARM_SCRATCHPAD_SIZE takes.

    Empty when unset (``bitbake -e`` expands the task's function even then).
    """
    text = (d.getVar("SORTO_SCRATCHPAD_SIZE") or "").strip()
    if not text:
        return ""
    mult = 1
    digits = text
    if text[-1:] in ("K", "k"):
        mult, digits = 1024, text[:-1]
    elif text[-1:] in ("M", "m"):
        mult, digits = 1024 * 1024, text[:-1]
    try:
        value = int(digits, 0) * mult
    except ValueError:
        value = 0
    if value < 0x1000 or value > 0x200000 or value % 0x1000:
        raise package.SortoLayerError(
            f"meta-sorto: SORTO_SCRATCHPAD_SIZE '{text}' is not a size between 4K and 2M in whole 4K pages"
        )
    return hex(value)


def scratchpad_policies(d: DataStore) -> str:
    """The policy folders the kernel's scratchpad list is chosen from.

    The kernel is built before any image decides its packages, so it cannot
    ask which executables the image will hold.  It takes what the marking
    would use: the user's ``SORTO_POLICY_DIR`` and every ``sorto-policy/``
    folder of the recipes in the build's layers.  Set
    ``SORTO_SCRATCHPAD_POLICIES`` to narrow it.
    """
    found: list[str] = []
    user = d.getVar("SORTO_POLICY_DIR") or ""
    if user and os.path.isdir(user):
        found.append(user)
    for layer in (d.getVar("BBLAYERS") or "").split():
        for root, dirs, _files in os.walk(layer):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            if os.path.basename(root) == "sorto-policy":
                found.append(root)
                dirs[:] = []
    return " ".join(found)


def scratchpad_checksums(d: DataStore) -> str:
    """``[file-checksums]`` of the scratchpad task: the policy files, whose paths are not signed."""
    entries = []
    for folder in (d.getVar("SORTO_SCRATCHPAD_POLICIES") or "").split():
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            wanted = sorted(f for f in files if f.endswith((".yaml", ".yml", ".json")))
            entries += [f"{os.path.join(root, f)}:True" for f in wanted]
    return " ".join(entries)
