"""The Buildroot side of the marking: a :class:`package.Config` from Buildroot's configuration, and a CLI.

``br2-external/board/sorto/post-build.sh`` runs ``python3 -m sorto_layer.buildroot
mark TARGET_DIR`` after Buildroot has stripped the target (its Makefile strips,
then runs the post-build scripts), and ``post-fakeroot.sh`` runs ``check`` on
each filesystem's copy of the target just before the image is made, after
every later post-build script.  Which files are marked, with which policy, and
what the check accepts is decided by :mod:`sorto_layer.package`, the module
sorto.bbclass runs: this one only reads Buildroot's inputs, which are

* ``BR2_CONFIG`` (the ``.config``): ``BR2_ARCH`` and the options of the
  ``host-python-sorto`` package (policy folder, default policy, excluded
  folders, waivers);
* ``HOST_DIR``: the ``sorto`` command that host package installs;
* ``SORTO_TARGET_OBJCOPY``: the target's objcopy, exported by the tree's
  ``external.mk`` (Buildroot passes no cross prefix to these scripts);
* ``BUILD_DIR/packages-file-list.txt``: which package installed each file,
  written by Buildroot just before the post-build scripts, so that a
  policy folder laid out ``<package>/<executable>.yaml`` works as
  ``SORTO_POLICY_DIR`` does for Yocto recipes.

Not imported by BitBake (it is not in ``BBIMPORTS``), but it keeps to the
standard library like the rest of the package, so any Python 3.9 runs it,
Buildroot's host-python3 or the build machine's own.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import os
import pathlib
import re
import sys
import typing

from . import package

if typing.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

PREFIX = "BR2_PACKAGE_HOST_PYTHON_SORTO_"
LAYER_DEFAULT_POLICY = pathlib.Path(__file__).resolve().parents[2] / "files" / "sorto-default-policy.yaml"
_LINE = re.compile(r'^(BR2_\w+)=(.*)$')
_MAKE_VAR = re.compile(r"\$\((\w+)\)|\$\{(\w+)\}")


@dataclasses.dataclass(frozen=True)
class Setup:
    """What the marking and the check need: the shared :class:`package.Config` and Buildroot's waivers."""

    config: package.Config
    skip_packages: frozenset[str]
    skip_paths: tuple[str, ...]


def read_dotconfig(path: pathlib.Path) -> dict[str, str]:
    """The set options of a Buildroot ``.config``, strings unquoted (Kconfig's own quoting undone)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise package.SortoLayerError(f"sorto: cannot read BR2_CONFIG '{path}': {exc}") from exc
    values: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        value = m.group(2)
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        values[m.group(1)] = value
    return values


def expand(value: str, env: Mapping[str, str], option: str) -> str:
    """Expand ``$(VAR)`` in an option as make would, from the environment Buildroot exports.

    ``.config`` keeps ``$(BR2_EXTERNAL_SORTO_PATH)`` unexpanded; make
    expands it for the options it reads itself, this script must do it.  Only
    variables the environment holds can be expanded (those Buildroot exports,
    such as ``BR2_EXTERNAL_SORTO_PATH`` and ``HOST_DIR``): naming any other
    make variable is an error rather than a path that silently does not exist.
    """

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in env:
            raise package.SortoLayerError(f"sorto: {option} uses $({name}), which is not in the environment")
        return env[name]

    return _MAKE_VAR.sub(one, value)


def read_owners(file_list: pathlib.Path) -> dict[str, str]:
    """Map target paths to the package that installed them, from ``packages-file-list.txt``.

    Lines are ``<package>,./<path>``; a file several packages touched belongs
    to the last one, which wrote the bytes the target holds.
    """
    owners: dict[str, str] = {}
    if not file_list.is_file():
        return owners
    for line in file_list.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        pkg, sep, rel = line.partition(",")
        if sep and rel.startswith("./"):
            owners[rel[2:]] = pkg
    return owners


def setup(env: Mapping[str, str], marking: bool = True) -> Setup:
    """Build the :class:`Setup` from the environment of a Buildroot post-build or fakeroot script.

    ``marking`` is False for the check, which reads ELF headers only: the
    tool, objcopy and policies are neither needed nor looked at.
    """
    cfg_path = env.get("BR2_CONFIG", "")
    if not cfg_path:
        raise package.SortoLayerError("sorto: BR2_CONFIG is not set: run from Buildroot's post-build step")
    opts = read_dotconfig(pathlib.Path(cfg_path))

    def option(name: str) -> str:
        return expand(opts.get(PREFIX + name, ""), env, PREFIX + name).strip()

    machine = package.elf_machine(opts.get("BR2_ARCH", ""), option("ELF_MACHINE"), "BR2_ARCH", PREFIX + "ELF_MACHINE")
    host_dir = env.get("HOST_DIR", "")
    sorto = str(pathlib.Path(host_dir) / "bin" / "sorto") if host_dir else ""
    objcopy = env.get("SORTO_TARGET_OBJCOPY", "")
    default, site = LAYER_DEFAULT_POLICY, ""
    if marking:
        if opts.get("BR2_PACKAGE_HOST_PYTHON_SORTO") != "y" or not os.access(sorto, os.X_OK):
            raise package.SortoLayerError(
                f"sorto: '{sorto or 'HOST_DIR/bin/sorto'}' not found: select BR2_PACKAGE_HOST_PYTHON_SORTO")
        if not objcopy:
            raise package.SortoLayerError(
                "sorto: SORTO_TARGET_OBJCOPY is not set: add the SORTO br2-external tree (its external.mk sets it)")
        default = package.default_policy(option("DEFAULT_POLICY") or str(LAYER_DEFAULT_POLICY),
                                         PREFIX + "DEFAULT_POLICY")
        site = option("POLICY_DIR")
        if site and not pathlib.Path(site).is_dir():
            raise package.SortoLayerError(f"sorto: policy folder '{site}' ({PREFIX}POLICY_DIR) does not exist")
    build_dir = env.get("BUILD_DIR", "")
    owners = read_owners(pathlib.Path(build_dir) / "packages-file-list.txt") if build_dir else {}
    skips = option("QA_SKIP").split()
    config = package.Config(
        machine=machine,
        objcopy=objcopy,
        default_policy=default,
        exclude_dirs=tuple(option("EXCLUDE_DIRS").split()),
        sorto=sorto,
        path=env.get("PATH"),
        site_dir=pathlib.Path(site) if site else None,
        owners=owners,
    )
    return Setup(config=config, skip_packages=frozenset(s for s in skips if not s.startswith("/")),
                 skip_paths=tuple(s.strip("/") for s in skips if s.startswith("/")))


def waived(rel: str, s: Setup) -> bool:
    """True when the executable at ``rel`` may lack the section (its package or its path is listed)."""
    if s.config.owners.get(rel) in s.skip_packages:
        return True
    return any(fnmatch.fnmatchcase(rel, pattern) for pattern in s.skip_paths)


def unmarked(target: pathlib.Path, s: Setup) -> list[str]:
    """The QA check: executables of ``target`` without the section and not waived."""
    return [rel for rel in package.find_unmarked(target, s.config) if not waived(rel, s)]


def _report_unmarked(missing: list[str], s: Setup) -> int:
    for rel in missing:
        owner = s.config.owners.get(rel)
        by = f" (package {owner})" if owner else ""
        print(f"sorto: ERROR: /{rel}{by} is an executable without the .elf_hook_module_data section",
              file=sys.stderr)
    if missing:
        print(f"sorto: waive with {PREFIX}QA_SKIP (a package name or a /path)", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """``mark TARGET_DIR`` (post-build) or ``check TARGET_DIR`` (post-fakeroot); exit 2 on bad input, 1 on QA."""
    ap = argparse.ArgumentParser(prog="python3 -m sorto_layer.buildroot",
                                 description="Mark the executables of a Buildroot target folder, or check them.")
    ap.add_argument("command", choices=["mark", "check"])
    ap.add_argument("target", type=pathlib.Path, help="TARGET_DIR, the first argument Buildroot gives the script")
    ap.add_argument("--verbose", action="store_true", help="also list the files left alone and why")
    args = ap.parse_args(argv)
    env = os.environ if env is None else env
    if not args.target.is_dir():
        print(f"sorto: target folder '{args.target}' does not exist", file=sys.stderr)
        return 2
    try:
        s = setup(env, marking=args.command == "mark")
        if args.command == "mark":
            report = package.inject_tree(args.target, s.config)
            for m in report.marked:
                kind = "default policy" if m.default else f"policy {m.policy}"
                links = f" (hard links: {' '.join(m.links)})" if m.links else ""
                print(f"sorto: /{m.path} marked with {kind}{links}")
            if args.verbose:
                for rel, why in sorted(report.skipped.items()):
                    print(f"sorto: /{rel} left alone: {why}")
        missing = unmarked(args.target, s)
    except package.SortoLayerError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return _report_unmarked(missing, s)


if __name__ == "__main__":
    sys.exit(main())
