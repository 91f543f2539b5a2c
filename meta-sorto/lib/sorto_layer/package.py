"""Mark every executable of a target tree with its policy, and check it: Yocto's and Buildroot's one logic.

sorto.bbclass calls :func:`inject_tree` on ``${PKGD}`` during ``do_package``,
after oe-core has split debug information and stripped the files and before
``populate_packages`` hard-links them into the per-package trees, and
:func:`find_unmarked` from its package QA check on ``${PKGDEST}/<pkg>``.
The Buildroot post-build script (``br2-external/board/sorto/post-build.sh``)
calls the same two functions on ``${TARGET_DIR}`` after Buildroot's strip,
through :mod:`sorto_layer.buildroot`, which only builds the :class:`Config`
from Buildroot's configuration instead of a datastore.

Both take plain paths and a :class:`Config` (:func:`read_config` builds one
from anything with a BitBake-style ``getVar``), so tests drive them with a real
datastore over a real tree, without a build.

BitBake imports this module through ``BBIMPORTS`` (see ``__init__.py``) and
reads the source of every public callable it finds here, so the module binds
no foreign callable at top level: standard-library names are reached through
their modules (``pathlib.Path``, ``dataclasses.dataclass``) and typing-only
names live under ``TYPE_CHECKING``.

What is touched, and why:

* regular files with an execute bit whose ELF machine is the target's and whose
  type is "executable" as file(1) and oe-core's ``is_elf()`` define it (static,
  dynamic and PIE executables).  The kernel hook reads the section of the file
  being exec'ed only, so shared libraries, kernel modules and objects gain
  nothing and are left byte-identical;
* not symlinks (their target is handled), not non-ELF files (scripts), not ELF
  files of another machine (firmware for a companion core, test data), not
  anything under ``SORTO_EXCLUDE_DIRS`` (debug files, /boot, firmware).

Every hard-link group is injected once, through its first path in sorted
order, and the other names are linked back to the new inode, so a package keeps
its links and the work is done once per inode.  Files are visited in sorted
order and ``sorto`` encodes deterministically, so the same inputs give the same
bytes (hash equivalence, reproducible builds).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import stat
import subprocess
import typing

from . import elf

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    Runner = Callable[..., subprocess.CompletedProcess]

POLICY_SUFFIXES = (".yaml", ".yml", ".json")
EXEC_MASK = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH


class SortoLayerError(Exception):
    """A failure that must stop the recipe; the message names the file and the problem."""


class DataStore(typing.Protocol):
    """The part of a BitBake datastore this module uses."""

    def getVar(self, name: str, expand: bool = True) -> str | None: ...  # noqa: N802 (BitBake's name)

    def getVarFlag(self, name: str, flag: str, expand: bool = True) -> str | None: ...  # noqa: N802


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything the injection needs, read once from the build's configuration.

    For each executable the folders searched, in order, for ``<path under the
    root>`` then ``<basename>`` with a ``.yaml``, ``.yml`` or ``.json`` suffix,
    are ``site_dir/<owner>`` and then ``policy_dirs``.  The owner is the
    package that installed the file: ``owners`` maps a path to it when one
    tree holds many packages (Buildroot's target folder), ``owner`` names it
    when the tree is one package's (Yocto's PKGD, ``PN``).  So one site folder
    laid out ``<package>/<executable>.yaml`` serves both build systems.
    """

    machine: int
    objcopy: str
    default_policy: pathlib.Path
    policy_dirs: tuple[pathlib.Path, ...] = ()
    exclude_dirs: tuple[str, ...] = ()
    sorto: str = "sorto"
    path: str | None = None
    site_dir: pathlib.Path | None = None
    owner: str = ""
    owners: dict[str, str] = dataclasses.field(default_factory=dict)


def elf_machine(arch: str, forced: str, arch_var: str, forced_var: str) -> int:
    """The ELF ``e_machine`` to mark: ``forced`` (a number) when set, else the one of ``arch``.

    The variable names are those of the calling build system, for the message.
    """
    if forced.strip():
        try:
            return int(forced.strip(), 0)
        except ValueError:
            raise SortoLayerError(f"sorto: {forced_var} '{forced}' is not a number") from None
    if arch in elf.MACHINE_BY_ARCH:
        return elf.MACHINE_BY_ARCH[arch]
    raise SortoLayerError(f"sorto: no ELF machine known for {arch_var} '{arch}'; set {forced_var}")


def default_policy(path: str, var: str) -> pathlib.Path:
    """``path`` as the default policy, or the error naming ``var`` when the file does not exist."""
    if not path or not pathlib.Path(path).is_file():
        raise SortoLayerError(f"sorto: default policy '{path}' ({var}) does not exist")
    return pathlib.Path(path)


def read_config(d: DataStore) -> Config:
    """Build the :class:`Config` of a recipe from its variables.

    A module-level function, called by its full name from sorto.bbclass, so
    that BitBake's codeparser (BBIMPORTS) links it to sorto_package_inject: the
    variables read here then enter do_package's signature by themselves.  The
    names are literal for the same reason (the codeparser cannot follow
    ``d.getVar(name)`` with a computed name).

    ``SORTO_POLICY_DIR/<PN>`` (the user's policies, e.g. from a profiling run
    of the product) comes before the recipe's own ``sorto-policy/`` from
    SRC_URI: the site knows its workload better than the recipe.
    """
    machine = elf_machine(d.getVar("HOST_ARCH") or "", d.getVar("SORTO_ELF_MACHINE") or "", "HOST_ARCH",
                          "SORTO_ELF_MACHINE")
    objcopy = d.getVar("OBJCOPY") or ""
    if not objcopy:
        raise SortoLayerError("sorto: OBJCOPY is empty")
    default = default_policy(d.getVar("SORTO_DEFAULT_POLICY") or "", "SORTO_DEFAULT_POLICY")
    dirs: list[pathlib.Path] = []
    for base in (d.getVar("UNPACKDIR"), d.getVar("WORKDIR")):
        if base and pathlib.Path(base) / "sorto-policy" not in dirs:
            dirs.append(pathlib.Path(base) / "sorto-policy")
    user_dir = d.getVar("SORTO_POLICY_DIR") or ""
    return Config(
        machine=machine,
        objcopy=objcopy,
        default_policy=default,
        policy_dirs=tuple(dirs),
        exclude_dirs=tuple((d.getVar("SORTO_EXCLUDE_DIRS") or "").split()),
        sorto=d.getVar("SORTO_CMD") or "sorto",
        path=d.getVar("PATH"),
        site_dir=pathlib.Path(user_dir) if user_dir else None,
        owner=d.getVar("PN") or "",
    )


@dataclasses.dataclass
class Marked:
    """One inode that received a section."""

    path: str  # relative to the tree root, first name in sorted order
    policy: pathlib.Path
    default: bool
    links: list[str] = dataclasses.field(default_factory=list)  # other names of the same inode


@dataclasses.dataclass
class Report:
    """What :func:`inject_tree` did: marked inodes and skipped files with the reason."""

    marked: list[Marked] = dataclasses.field(default_factory=list)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)


def _walk(root: pathlib.Path) -> Iterator[pathlib.Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield pathlib.Path(dirpath) / name


def _excluded(rel: str, exclude_dirs: Iterable[str]) -> bool:
    parts = rel.split("/")
    if ".debug" in parts[:-1]:
        return True
    for ex in exclude_dirs:
        ex = ex.strip("/")
        if ex and (rel == ex or rel.startswith(ex + "/")):
            return True
    return False


def classify(path: pathlib.Path, rel: str, cfg: Config) -> str | None:
    """Return None when ``path`` must carry a section, else why it is left alone."""
    if _excluded(rel, cfg.exclude_dirs):
        return "excluded directory"
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if not st.st_mode & EXEC_MASK:
        return "not executable (mode)"
    info = elf.read_info(path)
    if info is None:
        return "not ELF"
    if info.machine != cfg.machine:
        return f"ELF machine {info.machine}, target is {cfg.machine}"
    if not info.is_executable:
        return "ELF but not an executable (library, module or object)"
    return None


def find_policy(rel: str, cfg: Config) -> tuple[pathlib.Path, bool]:
    """Return (policy file, is_default) for the executable at ``rel``."""
    base = rel.rsplit("/", 1)[-1]
    owner = cfg.owners.get(rel, cfg.owner)
    site = [cfg.site_dir / owner] if cfg.site_dir is not None and owner else []
    for pdir in [*site, *cfg.policy_dirs]:
        for stem in (rel, base):
            for suffix in POLICY_SUFFIXES:
                cand = pdir / (stem + suffix)
                if cand.is_file():
                    return cand, False
    return cfg.default_policy, True


def _candidates(root: pathlib.Path, cfg: Config, report: Report | None) -> dict[tuple[int, int], list[str]]:
    groups: dict[tuple[int, int], list[str]] = {}
    for p in _walk(root):
        rel = p.relative_to(root).as_posix()
        why = classify(p, rel, cfg)
        if why is not None:
            if report is not None:
                report.skipped[rel] = why
            continue
        st = p.stat()
        groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
    return groups


def _tool_env(cfg: Config) -> dict[str, str]:
    env = dict(os.environ)
    env["OBJCOPY"] = cfg.objcopy
    if cfg.path:
        env["PATH"] = cfg.path
    return env


def _run_tool(cmd: list[str], cfg: Config, run: Runner, stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        return run(cmd, input=stdin, capture_output=True, text=True, env=_tool_env(cfg), check=False)
    except OSError as exc:
        raise SortoLayerError(f"sorto: cannot run '{cfg.sorto}': {exc.strerror}") from exc


def _failure(proc: subprocess.CompletedProcess) -> str:
    return (proc.stderr or proc.stdout or "").strip() or f"exit status {proc.returncode}"


@dataclasses.dataclass(frozen=True)
class _Saved:
    """What replacing a file by rename loses: owner (pseudo records it), capabilities, timestamps."""

    st: os.stat_result
    xattrs: dict[str, bytes]

    @classmethod
    def of(cls, path: pathlib.Path) -> _Saved:
        xattrs: dict[str, bytes] = {}
        if hasattr(os, "listxattr"):
            try:
                xattrs = {k: os.getxattr(path, k) for k in os.listxattr(path)}
            except OSError:
                xattrs = {}
        return cls(path.stat(), xattrs)

    def restore(self, path: pathlib.Path) -> None:
        try:
            os.chown(path, self.st.st_uid, self.st.st_gid)
        except PermissionError:
            pass
        os.chmod(path, stat.S_IMODE(self.st.st_mode))  # chown clears set-id bits
        for key, val in self.xattrs.items():
            try:
                os.setxattr(path, key, val)
            except OSError:
                pass
        os.utime(path, ns=(self.st.st_atime_ns, self.st.st_mtime_ns))


def inject_tree(root: str | pathlib.Path, cfg: Config, run: Runner = subprocess.run) -> Report:
    """Give every target executable under ``root`` its section; return what was done.

    One ``sorto inject-many`` process marks the whole tree, in parallel: a
    ``sorto inject`` per file spent most of its time starting Python.  It
    checks every policy before the first file is touched, so a policy that
    does not validate stops the recipe (the message names the file and the
    field) and leaves the tree as it was: Buildroot's target folder, unlike
    Yocto's PKGD, is not rebuilt from scratch on the next run.  Hard links
    are marked once and linked again; owner, capabilities and timestamps
    are restored after the rename.
    """
    root = pathlib.Path(root)
    report = Report()
    plan = [(rels, *find_policy(rels[0], cfg)) for rels in sorted(_candidates(root, cfg, report).values())]
    if not plan:
        return report
    saved = {rels[0]: _Saved.of(root / rels[0]) for rels, _, _ in plan}
    lines = "".join(f"{os.path.abspath(root / rels[0])}\t{os.path.abspath(policy)}\n" for rels, policy, _ in plan)
    cmd = [cfg.sorto, "inject-many", "-", "--objcopy", cfg.objcopy, "--quiet"]
    proc = _run_tool(cmd, cfg, run, stdin=lines)
    for first, kept in saved.items():  # also after a failure: the files it did mark keep their owner
        kept.restore(root / first)
    if proc.returncode != 0:
        # name the files as they are in the image (/usr/bin/x), not by the build folder's path
        raise SortoLayerError(_failure(proc).replace(os.path.abspath(root) + os.sep, "/"))
    for rels, policy, is_default in plan:
        first, others = rels[0], rels[1:]
        for other in others:
            link = root / other
            link.unlink()
            os.link(root / first, link)
        report.marked.append(Marked(path=first, policy=policy, default=is_default, links=list(others)))
    return report


def find_unmarked(root: str | pathlib.Path, cfg: Config) -> list[str]:
    """Return the target executables under ``root`` that lack the section (the QA check)."""
    root = pathlib.Path(root)
    missing = []
    for rels in _candidates(root, cfg, None).values():
        for rel in rels:
            info = elf.read_info(root / rel)
            if info is None or not info.has_section:
                missing.append(rel)
    return sorted(missing)


def enabled(d: DataStore) -> bool:
    """True when the build asked for sorto: the distro feature on a target recipe."""
    return "sorto" in (d.getVar("DISTRO_FEATURES") or "").split() and d.getVar("CLASSOVERRIDE") == "class-target"


def file_checksums(d: DataStore) -> str:
    """``do_package[file-checksums]`` entries for the inputs of the marking outside SRC_URI.

    SRC_URI policies are already covered by do_unpack's signature; the user's
    folder and the default policy are not, so their contents (not their
    absolute paths, which differ between build hosts) enter the task hash.

    So do the sources of this library: BitBake 2.8 (scarthgap) hashes no
    module code into signatures, and later releases only the public functions
    a task calls by name, not the helpers behind them.  A fix in how files are
    classified must repackage, so every ``.py`` file of the package is listed.
    """
    entries = [f"{src}:True" for src in sorted(pathlib.Path(__file__).resolve().parent.glob("*.py"))]
    default = d.getVar("SORTO_DEFAULT_POLICY") or ""
    if default:
        entries.append(f"{default}:{os.path.exists(default)}")
    user_dir = d.getVar("SORTO_POLICY_DIR") or ""
    pn = d.getVar("PN") or ""
    if user_dir and pn:
        pdir = os.path.join(user_dir, pn)
        entries.append(f"{pdir}:{os.path.isdir(pdir)}")
    return " ".join(entries)
