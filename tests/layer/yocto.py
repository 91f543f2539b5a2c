"""Real BitBake over meta-sorto, offline: release snapshots, an unprivileged user, cached build dirs.

CI reaches no Yocto git server, so the metadata comes from ``git archive``
snapshots next to the repository (``../shared/yocto``, a read-only copy on CI;
its README says what each one is).  Everything BitBake writes lives under
``$SORTO_CACHE/yocto`` (default ``~/.cache/sorto/yocto``), never in the
repository:

* ``src/<release>-<hash>/``: the release's tarballs unpacked side by side,
  keyed by the sha256 of the tarballs, so a new snapshot gets a new tree;
* ``stage/repo/``: the files of this repository a build reads (the layer,
  ``kernel-patches/``, the sources ``python3-sorto`` packs).  BitBake runs as
  another user who may not read the checkout; the copy is synced file by file
  with the original modification times, so an unchanged recipe keeps its place
  in BitBake's parse cache, and it is what the yocto-check-layer result key
  hashes;
* ``build/<release>-<hash>/``: one build directory per release (conf, parse
  cache, TMPDIR, persistent cache).  Its two configurations (sorto off, sorto
  on) differ only in a managed block of local.conf; BitBake keeps one parse
  cache per configuration hash, so after the first run switching costs a cache
  load, not a reparse;
* ``results/``: yocto-check-layer outcomes keyed by the hash of all their inputs.

BitBake refuses to run as root and CI runs the tests as root, so commands run
as the system user ``sorto-bb`` through ``runuser`` with a clean environment
(created here when missing; given traverse-only ACLs on the cache's parents
when, as for ``/root``, it could not reach them).  Run by anyone else, BitBake
runs as that user.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ..conftest import REPO, SHARED

SNAPSHOTS = SHARED / "yocto"
USER = os.environ.get("SORTO_BB_USER", "sorto-bb")
LOCALE = "en_US.UTF-8"
HOST_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
# Seconds an idle BitBake server waits for the next command: long enough to
# carry one server (and its loaded recipe cache) from one test to the next.
SERVER_TIMEOUT = 300
# What a build reads from the repository (recipes reach ../kernel-patches and
# ../scripts from the layer), and what it must not see.
STAGED = ("meta-sorto", "kernel-patches", "scripts/pyproject.toml", "scripts/sorto")
SKIP_NAMES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info")
BEGIN, END = "# >>> meta-sorto tests (tests/layer/yocto.py): offline, qemuarm", "# <<< meta-sorto tests"


@dataclasses.dataclass(frozen=True)
class Release:
    """A Yocto release as the snapshots give it."""

    name: str
    tarballs: tuple[str, ...]  # glob patterns in SNAPSHOTS, one match each
    init: str  # oe-init-build-env, relative to the unpacked tree
    bitbake: str | None  # BitBake checkout for oe-init-build-env when not inside the core tree
    layers: tuple[str, ...]  # layers added next to the template's, relative to the unpacked tree
    kernel_series: str  # linux-yocto series the release builds for qemuarm


RELEASES = {
    "scarthgap": Release(
        "scarthgap", ("poky-scarthgap-*.tar.xz", "meta-openembedded-scarthgap-*.tar.xz"), "poky/oe-init-build-env",
        None, ("meta-openembedded/meta-oe", "meta-openembedded/meta-python"), "6.6"),
    "wrynose": Release(
        "wrynose", ("openembedded-core-wrynose-*.tar.xz", "bitbake-2.18-*.tar.xz",
                    "meta-openembedded-wrynose-*.tar.xz"), "openembedded-core/oe-init-build-env", "bitbake",
        ("meta-openembedded/meta-oe", "meta-openembedded/meta-python"), "6.18"),
}


def cache_dir() -> Path:
    """``$SORTO_CACHE/yocto``: the tool's own cache rule, so CI's cache covers it."""
    from sorto.guest.build import cache_root

    return cache_root() / "yocto"


def digest(*parts: bytes | str) -> str:
    """Short sha256 of length-prefixed parts, as the guest cache keys its builds."""
    from sorto.guest.build import input_digest

    return input_digest(*parts)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class SetupError(RuntimeError):
    """The host cannot run BitBake; the message says what `make deps` should have provided."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who runs BitBake: the ``sorto-bb`` user when the tests run as root, else the caller."""

    name: str
    uid: int
    gid: int
    drop: bool  # True: commands go through runuser

    def argv(self, cmd: list[str], env: dict[str, str]) -> list[str]:
        """``cmd`` with exactly ``env`` (env -i), as this identity."""
        pre = ["runuser", "-u", self.name, "--"] if self.drop else []
        return [*pre, "env", "-i", *[f"{k}={v}" for k, v in sorted(env.items())], *cmd]

    def own(self, path: Path, recursive: bool = True) -> None:
        """Give ``path`` (and what is under it) to this identity; a no-op when that is the caller."""
        if not self.drop:
            return
        deep = recursive and path.is_dir() and not path.is_symlink()
        for p in [path, *path.rglob("*")] if deep else [path]:
            st = p.lstat()
            if (st.st_uid, st.st_gid) != (self.uid, self.gid):
                os.lchown(p, self.uid, self.gid)


def identity() -> Identity:
    """Return who runs BitBake, creating the system user when running as root."""
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.geteuid())
        return Identity(pw.pw_name, pw.pw_uid, pw.pw_gid, drop=False)
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        if shutil.which("useradd") is None:
            raise SetupError("useradd not found: cannot create the BitBake user") from None
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", USER], check=True, capture_output=True)
        pw = pwd.getpwnam(USER)
    if shutil.which("runuser") is None:
        raise SetupError("runuser not found (util-linux): cannot run BitBake as another user")
    return Identity(USER, pw.pw_uid, pw.pw_gid, drop=True)


def _can_traverse(ident: Identity, path: Path) -> bool:
    st = path.stat()
    if st.st_uid == ident.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == ident.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def make_reachable(ident: Identity, path: Path) -> None:
    """Let the BitBake user reach ``path``: traverse-only ACL on each parent it could not pass.

    ``~/.cache/sorto`` of root sits in the 0700 ``/root``; an ACL entry for this
    one user (search, no listing) is narrower than opening the directory to all.
    """
    if not ident.drop:
        return
    for parent in reversed(path.parents):
        if not _can_traverse(ident, parent) and not _acl_grants(ident, parent):
            if shutil.which("setfacl") is None:
                raise SetupError(f"user {ident.name} cannot pass {parent} and setfacl is missing: run 'make deps'")
            subprocess.run(["setfacl", "-m", f"u:{ident.name}:x", str(parent)], check=True, capture_output=True)
    probe = subprocess.run(["runuser", "-u", ident.name, "--", "test", "-x", str(path)], capture_output=True)
    if probe.returncode != 0:
        raise SetupError(f"user {ident.name} cannot reach {path}")


def _acl_grants(ident: Identity, path: Path) -> bool:
    if shutil.which("getfacl") is None:
        return False
    out = subprocess.run(["getfacl", "-cp", str(path)], capture_output=True, text=True).stdout
    return any(line.startswith(f"user:{ident.name}:") and line.split(":")[2][2:3] == "x" for line in out.splitlines())


def locale_available() -> bool:
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower()
    return "en_us.utf8" in out.split()


@contextlib.contextmanager
def session_lock(root: Path) -> Iterator[None]:
    """Serialise test sessions on one cache: two sessions in one build dir would fight over its server."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def snapshot_paths(release: Release) -> list[Path]:
    """The release's tarballs; fail when one is missing or ambiguous."""
    out = []
    for pattern in release.tarballs:
        found = sorted(SNAPSHOTS.glob(pattern))
        if len(found) != 1:
            raise SetupError(f"{release.name}: expected one {pattern} in {SNAPSHOTS}, found {len(found)}")
        out.append(found[0])
    return out


def unpack(release: Release, root: Path, ident: Identity) -> tuple[Path, str]:
    """Unpack the release's snapshots once into ``src/<release>-<hash>``; return (tree, hash).

    Unpacked as the BitBake user (reading each tarball through stdin, so the
    user needs no access to the snapshot folder) and renamed into place only
    when complete, so an interrupted run never leaves a half tree behind.
    """
    tarballs = snapshot_paths(release)
    key = digest(*[f"{t.name}\0{file_sha256(t)}" for t in tarballs])
    tree = root / "src" / f"{release.name}-{key}"
    if tree.is_dir():
        return tree, key
    tmp = tree.with_name(tree.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    ident.own(tmp)
    for tarball in tarballs:
        with tarball.open("rb") as fh:
            subprocess.run(ident.argv(["tar", "-xJf", "-", "-C", str(tmp)], {"PATH": HOST_PATH}), stdin=fh,
                           check=True, capture_output=True)
    tmp.rename(tree)
    return tree, key


def _wanted(rel: Path) -> bool:
    return not any(part in SKIP_NAMES or part.endswith(SKIP_SUFFIXES) for part in rel.parts)


def stage(root: Path, ident: Identity) -> Path:
    """Sync what a build reads from the repository into ``stage/repo``; return that folder.

    Only changed files are copied (with their modification time), files gone
    from the repository are removed, so BitBake sees exactly the checkout and
    its parse cache stays valid for what did not change.
    """
    dest = root / "stage" / "repo"
    wanted: dict[Path, Path] = {}
    for item in STAGED:
        src = REPO / item
        if src.is_dir():
            for p in src.rglob("*"):
                rel = p.relative_to(REPO)
                if (p.is_file() or p.is_symlink()) and _wanted(rel):
                    wanted[rel] = p
        elif src.is_file():
            wanted[Path(item)] = src
    for rel, src in sorted(wanted.items()):
        out = dest / rel
        if out.is_file() and not out.is_symlink():
            a, b = src.stat(), out.stat()
            if a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns and stat.S_IMODE(a.st_mode) == \
                    stat.S_IMODE(b.st_mode) and src.read_bytes() == out.read_bytes():
                continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists() or out.is_symlink():
            out.unlink()
        shutil.copy2(src, out, follow_symlinks=False)
    if dest.is_dir():
        for p in sorted(dest.rglob("*"), reverse=True):
            rel = p.relative_to(dest)
            if not _wanted(rel):
                continue  # BitBake's own __pycache__ of the layer library: not ours to remove
            if p.is_dir() and not p.is_symlink():
                if not any(p.iterdir()):
                    p.rmdir()
            elif rel not in wanted:
                p.unlink()
    ident.own(root / "stage")
    return dest


def tree_digest(path: Path) -> str:
    """Hash of every file under ``path`` (name, mode, bytes); byte code BitBake leaves behind excluded."""
    parts = []
    for p in sorted(path.rglob("*")):
        if not _wanted(p.relative_to(path)):
            continue
        if p.is_file() and not p.is_symlink():
            parts.append(f"{p.relative_to(path)}\0{stat.S_IMODE(p.stat().st_mode):o}\0".encode() + p.read_bytes())
        elif p.is_symlink():
            parts.append(f"{p.relative_to(path)}\0->{os.readlink(p)}".encode())
    return digest(*parts)


@dataclasses.dataclass
class Result:
    """One BitBake command: its line, exit status, output (stdout and stderr interleaved) and time."""

    cmd: list[str]
    returncode: int
    output: str
    seconds: float

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith(prefix)]

    def describe(self, tail: int = 60) -> str:
        return f"$ {shlex.join(self.cmd)} -> {self.returncode} in {self.seconds:.0f}s\n" + \
            "\n".join(self.output.splitlines()[-tail:])


class Build:
    """One release's build directory, and BitBake commands run in it as the BitBake user."""

    def __init__(self, release: Release, root: Path, ident: Identity, layer: Path, variant: str = "",
                 layers: tuple[str, ...] | None = None, keep_server: bool = True) -> None:
        self.release = release
        self.root = root
        self.ident = ident
        self.layer = layer
        self.layers = release.layers if layers is None else layers
        self.keep_server = keep_server
        self.tree, self.src_key = unpack(release, root, ident)
        self.dir = root / "build" / "-".join(filter(None, (release.name, self.src_key, variant)))
        self.home = root / "home"
        self.log_dir = self.dir / "sorto-test-logs"
        self.sorto: bool | None = None
        self.timings: list[tuple[str, float]] = []
        self.add_layer: Result | None = None  # the session's `bitbake-layers add-layer meta-sorto`

    # -- environment ---------------------------------------------------
    def env(self) -> dict[str, str]:
        """A clean environment: nothing of the caller's (venv, pyenv, proxies) reaches BitBake."""
        return {"PATH": HOST_PATH, "HOME": str(self.home), "LANG": LOCALE, "LC_ALL": LOCALE, "USER": self.ident.name,
                "LOGNAME": self.ident.name, "SHELL": "/bin/bash", "TERM": "dumb"}

    def run(self, *cmd: str, label: str | None = None, stdin: str | None = None, extra_env: str = "",
            timeout: float = 3600) -> Result:
        """Run ``cmd`` in the build environment (oe-init-build-env sourced) and keep its log."""
        init = self.tree / self.release.init
        bitbake = str(self.tree / self.release.bitbake) if self.release.bitbake else ""
        script = ('init=$1; build=$2; bitbake=$3; shift 3; . "$init" "$build" $bitbake >/dev/null || exit 97; '
                  f'{extra_env} exec "$@"')
        argv = self.ident.argv(["bash", "-c", script, "bash", str(init), str(self.dir), bitbake, *cmd], self.env())
        start = time.monotonic()
        proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, cwd="/")
        res = Result(list(cmd), proc.returncode, proc.stdout, time.monotonic() - start)
        name = label or re.sub(r"[^A-Za-z0-9_.-]+", "_", " ".join(cmd))[:80]
        self.timings.append((name, res.seconds))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.log_dir / f"{name}.log").write_text(res.describe(tail=10**9) + "\n")
        return res

    def check(self, *cmd: str, **kw: object) -> Result:
        """Run ``cmd``; raise with its output when it fails."""
        res = self.run(*cmd, **kw)  # type: ignore[arg-type]
        if res.returncode != 0:
            raise AssertionError(res.describe())
        return res

    # -- set-up --------------------------------------------------------
    def prepare(self) -> None:
        """Create the build dir once (template conf + the release's other layers); reset BBLAYERS."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.ident.own(self.home)
        base = self.dir / "conf" / "bblayers.conf.base"
        if not base.is_file():
            if self.dir.exists():
                shutil.rmtree(self.dir)  # an interrupted creation
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            self.ident.own(self.dir.parent, recursive=False)
            self.check("true", label="oe-init-build-env")
            self._write_block(None)
            if self.layers:
                self.check("bitbake-layers", "add-layer", *[str(self.tree / p) for p in self.layers],
                           label="add-layer-base")
            shutil.copy2(self.dir / "conf" / "bblayers.conf", base)
        # Every session adds meta-sorto itself: start from the layers without it.
        shutil.copy2(base, self.dir / "conf" / "bblayers.conf")
        self.ident.own(self.dir / "conf")
        self._write_block(None)
        self.sorto = None

    def settings(self, sorto: bool | None) -> list[str]:
        """What the tests add to the template's local.conf; ``sorto`` None: the layer's switches left out."""
        lines = ['MACHINE = "qemuarm"', 'BB_NO_NETWORK = "1"',
                 # uninative fetches a tarball when a build starts (bitbake -S); offline it
                 # warns and turns itself off, changing the configuration under a running
                 # server, whose next command then reparses every recipe (BitBake 2.18).
                 'INHERIT:remove = "uninative"']
        if self.keep_server:
            lines.append(f'BB_SERVER_TIMEOUT = "{SERVER_TIMEOUT}"')
        if sorto is not None:
            # BitBake 2.8 does not reparse when a BBIMPORTS module changes (2.18
            # does): its digest in the configuration forces that.
            lines.append(f'SORTO_TEST_LIB_DIGEST = "{tree_digest(self.layer / "lib")}"')
        if sorto:
            lines += ['DISTRO_FEATURES:append = " sorto"', 'INHERIT += "sorto"']
        return lines

    def _write_block(self, sorto: bool | None) -> None:
        """Rewrite local.conf's managed block (the template's lines above it stay as they are)."""
        conf = self.dir / "conf" / "local.conf"
        text = conf.read_text()
        if BEGIN in text:
            text = text[:text.index(BEGIN)].rstrip("\n") + "\n"
        text += "\n".join([BEGIN, *self.settings(sorto), END, ""])
        conf.write_text(text)
        self.ident.own(conf)

    def configure(self, sorto: bool) -> None:
        """Switch local.conf's managed block to sorto on or off (only the block changes)."""
        if self.sorto is sorto:
            return
        self._write_block(sorto)
        self.sorto = sorto

    def stop_server(self) -> None:
        """End this build dir's BitBake server, so no later session talks to stale imported modules."""
        if (self.dir / "bitbake.lock").exists():
            self.run("bitbake", "-m", label="stop-server", timeout=300)

    # -- queries -------------------------------------------------------
    def bitbake_e(self, target: str) -> dict[str, str]:
        """``bitbake -e target`` as a dict of the final values (functions as their bodies)."""
        res = self.check("bitbake", "-e", target, label=f"bitbake-e-{target}")
        return parse_env(res.output)

    def sigdata(self, pn: str, task: str) -> dict:
        """The newest signature data of ``pn:task``, written by ``bitbake -S none`` in this build dir.

        Read here rather than through tinfoil: a tinfoil session lacks the
        feature ``-S`` switched on, which on BitBake 2.18 costs a full reparse.
        The format is BitBake's: zstd-compressed JSON, sets as ``{"_set_object": [...]}``.
        """
        files = list((self.dir / "tmp" / "stamps").glob(f"*/{pn}/*.{task}.sigdata.*"))
        if not files:
            raise AssertionError(f"no sigdata for {pn}:{task} under {self.dir / 'tmp' / 'stamps'}")
        newest = max(files, key=lambda p: p.stat().st_mtime_ns)
        raw = subprocess.run(["zstd", "-dc", str(newest)], capture_output=True, check=True).stdout
        data = json.loads(raw, object_hook=lambda o: sorted(o["_set_object"]) if "_set_object" in o else o)
        return {"file": str(newest), "taskdeps": sorted(data["taskdeps"]),
                "gendeps": {k: sorted(v) for k, v in data["gendeps"].items()},
                "file_checksums": [list(x) for x in data.get("file_checksum_values", [])]}

    def query(self, spec: dict) -> dict:
        """Run bbquery.py (tinfoil) with ``spec`` in BitBake's own Python; return its JSON answer."""
        script = (Path(__file__).parent / "bbquery.py").read_text()
        res = self.run("python3", "-", json.dumps(spec), stdin=script, label=f"bbquery-{spec['query']}")
        marker = "BBQUERY-JSON:"
        found = [line for line in res.output.splitlines() if line.startswith(marker)]
        if res.returncode != 0 or not found:
            raise AssertionError(res.describe())
        return json.loads(found[-1][len(marker):])


def parse_env(text: str) -> dict[str, str]:
    """Values of ``bitbake -e`` output: ``VAR="value"`` lines and ``name() {...}`` bodies."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    assign = re.compile(r'^(?:export )?([A-Za-z0-9_.+\-/${}:~]+)="(.*)"$')
    func = re.compile(r"^(?:python )?([A-Za-z0-9_.+\-${}:~]+)\s*\(\)\s*\{$")
    while i < len(lines):
        line = lines[i]
        m = assign.match(line)
        if m:
            out[m.group(1)] = m.group(2).replace('\\"', '"').replace("\\\\", "\\")
        else:
            m = func.match(line)
            if m:
                body = []
                i += 1
                while i < len(lines) and lines[i] != "}":
                    body.append(lines[i])
                    i += 1
                out[m.group(1) + "()"] = "\n".join(body)
        i += 1
    return out


def bitbake_python() -> str:
    """The host Python BitBake runs with (clean PATH), for the result keys."""
    out = subprocess.run(["env", "-i", f"PATH={HOST_PATH}", "python3", "-c", "import sys; print(sys.version)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or sys.version


CHECK_LAYER_LINE = re.compile(r"(test_\w+) \(([\w.]+)\)(?:\s*\n?.*?)?\s\.\.\.\s(.+)$", re.M)


def check_layer(root: Path, ident: Identity, layer: Path, harness: list[Path]) -> dict:
    """scarthgap's ``yocto-check-layer`` on the staged layer; its result cached by all its inputs.

    It runs in its own build dir holding only the template's layers (the layer
    must be absent from BBLAYERS, and is tested against openembedded-core
    alone, its only LAYERDEPENDS).  It parses the release four times (without
    the layer, with it, with it and OEBasicHash, with it and the
    yocto-check-layer class), about 8 minutes on 2 cores, so a passing result is
    kept under results/ keyed by: the snapshots, every staged file (layer,
    kernel patches, tool sources), the build configuration, the command, the
    test harness files, and the host Python BitBake runs with.  Any change to
    one of them runs it again; a failure is never cached.
    """
    b = Build(RELEASES["scarthgap"], root, ident, layer, variant="checklayer", layers=(), keep_server=False)
    b.prepare()
    log = b.dir / "yocto-check-layer.log"
    cmd = ["yocto-check-layer", "--no-auto", "--output-log", str(log), str(layer)]
    conf = [(b.dir / "conf" / n).read_text() for n in ("local.conf", "bblayers.conf.base")]
    key = digest(b.src_key, tree_digest(layer.parent), *conf, shlex.join(cmd), *[p.read_text() for p in harness],
                 bitbake_python(), ident.name)
    result_file = root / "results" / f"yocto-check-layer-scarthgap-{key}.json"
    if result_file.is_file():
        return {**json.loads(result_file.read_text()), "cached": str(result_file)}
    res = b.run(*cmd, label="yocto-check-layer", timeout=4 * 3600)
    statuses = {m.group(1): m.group(3).strip() for m in CHECK_LAYER_LINE.finditer(res.output)}
    summary = [line.strip() for line in res.output.splitlines() if re.search(r"\bmeta-sorto \.\.\. ", line)]
    out = {"returncode": res.returncode, "statuses": statuses, "summary": summary, "seconds": round(res.seconds),
           "tail": "\n".join(res.output.splitlines()[-80:]), "key": key}
    if res.returncode == 0:
        result_file.write_text(json.dumps(out, indent=1) + "\n")
    return {**out, "cached": ""}
