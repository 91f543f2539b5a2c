"""Which patch series a kernel recipe gets: the logic behind linux-sorto.inc.

Kept out of the .inc so a test can check it without a build, and so vendor
kernel appends that ``require linux-sorto.inc`` share one rule.

Imported by BitBake through ``BBIMPORTS``: like package.py, it binds no
foreign callable at top level (``package.SortoLayerError``, not a re-export).
"""

from __future__ import annotations

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
