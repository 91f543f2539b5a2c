"""Where ``sorto optimize`` runs the application: the QEMU test guest, or a board over SSH.

A session is a running target prepared the same way for every phase: the
sorto_hook module loaded, the background load started, the marked copy of
the executable in place.  The guest needs two boots, because files reach it
only in the initramfs: the profile boot, then the measure boot that carries
the marked copy.  A board needs one SSH target: the copy is written over the
ssh channel.  Both sides of the comparison always run in one session, so the
kernel, the load and the interrupt source are the same for both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import SortoError
from ..trace.run import Target

DBG = "/sys/kernel/debug/sorto_hook"
#: Where the marked copy goes on the target, under the executable's own name.
MARKED_DIR = "/opt/sorto-optimize/bin"


@dataclasses.dataclass
class Setup:
    """What every session of one run does before the application runs."""

    loads: list[str]
    module_args: str = ""
    marked: Path | None = None  # host path of the marked copy (measure sessions)
    extra: list[Path] = dataclasses.field(default_factory=list)  # marked copies of load programs

    def marked_path(self) -> str:
        """The target path of the marked copy."""
        if self.marked is None:
            raise SortoError("no marked copy in this session")
        return f"{MARKED_DIR}/{self.marked.name}"


def prepare(g: Target, setup: Setup, module_path: str | None) -> None:
    """Load the module (when a path is given), then start each load in a restart loop, in the background."""
    if module_path is not None:
        rc, out = g.run("grep -q '^sorto_hook ' /proc/modules")
        if rc != 0:
            g.check(f"insmod {module_path} {setup.module_args}".strip())
    rc, out = g.run(f"[ -d {DBG} ]")
    if rc != 0:
        raise SortoError(f"{DBG} is missing on the target: load sorto_hook (and mount debugfs) first")
    start_loads(g, setup.loads)


def start_loads(g: Target, lines: list[str]) -> None:
    """Start each load line in a restart loop, in the background, its loop's pid in a file."""
    for i, line in enumerate(lines):
        # A restart loop: a load that ends (hackbench -l N) must not leave the second side unloaded.
        g.check(f"(while :; do {line}; done) >/dev/null 2>&1 </dev/null & echo $! > /tmp/sorto-load-{i}.pid")


class PausedReads:
    """A target whose loads stop (SIGSTOP) while a trace log comes home, and go on (SIGCONT) after.

    The loads are there to shape what the application sees while it runs;
    while ``sorto trace`` copies a log over the console they would only slow
    the copy (by several times on one emulated CPU).  Only the log reads
    (``ftrace.read_line``) are wrapped; the traced runs keep their load.
    """

    def __init__(self, g: Target, loads: list[str]) -> None:
        self.g = g
        self.release = g.release
        self.names = " ".join(sorted({shlex.quote(ld.split()[0].rsplit("/", 1)[-1]) for ld in loads}))

    def _wrap(self, cmd: str) -> str:
        if not self.names or "SORTO-CUT" not in cmd:
            return cmd
        return (f"killall -STOP {self.names} 2>/dev/null; {cmd}; rc=$?; killall -CONT {self.names} 2>/dev/null; "
                "exit $rc")

    def run(self, cmd: str, timeout: float = 60.0) -> tuple[int, str]:
        return self.g.run(self._wrap(cmd), timeout)

    def check(self, cmd: str, timeout: float = 60.0) -> str:
        return self.g.check(self._wrap(cmd), timeout)


def stop_loads(g: Target, lines: list[str]) -> None:
    """Stop the restart loops of :func:`start_loads` and the programs they started (best effort)."""
    for i, line in enumerate(lines):
        g.run(f"kill $(cat /tmp/sorto-load-{i}.pid) 2>/dev/null; "
              f"killall {shlex.quote(line.split()[0].rsplit('/', 1)[-1])} 2>/dev/null; sleep 0.2; true")


@dataclasses.dataclass
class QemuTarget:
    """The cached test guest: kernel series, flavour, boot parameters and extra QEMU arguments."""

    kernel: str = "6.12"
    flavour: str = "release"
    append: str = "threadirqs"
    qemu_args: list[str] = dataclasses.field(default_factory=list)
    smp: int = 1
    icount: bool = True
    cache: str | None = None
    progress: bool = True
    console_dir: Path | None = None
    _art: object = dataclasses.field(default=None, repr=False)

    def artifacts(self):  # noqa: ANN201 (GuestArtifacts, imported late)
        """The guest, built or found in the cache once per run."""
        from ..guest import build

        if self._art is None:
            self._art = build.build_guest(self.kernel, cache=self.cache, progress=self.progress, flavour=self.flavour)
        return self._art

    def host_copy(self, guest_path: str) -> Path:
        """The host file behind a program of the base image (the executable to mark)."""
        from ..guest import build

        art = self.artifacts()
        found = build.base_image_file(art, guest_path)
        if found is None:
            raise SortoError(f"{guest_path}: not a program of the guest's base image; give its host copy "
                             "with --binary")
        return found

    def resolve(self, name: str) -> str:
        """A bare command name as the guest's shell finds it (its PATH is /bin:/usr/bin)."""
        if "/" in name:
            return name
        from ..guest import build

        art = self.artifacts()
        for folder in ("/usr/bin", "/bin"):
            if build.base_image_file(art, f"{folder}/{name}") is not None:
                return f"{folder}/{name}"
        raise SortoError(f"{name}: not a program of the guest's base image; give its path")

    @contextlib.contextmanager
    def session(self, name: str, setup: Setup) -> Iterator[Target]:
        from ..guest import build
        from ..guest.harness import Guest

        art = self.artifacts()
        with tempfile.TemporaryDirectory(prefix="sorto-optimize-") as td:
            parts: list[Path] = [art.initramfs]
            if setup.marked is not None:
                files = {f"{MARKED_DIR}/{p.name}": p for p in setup.extra}
                files[setup.marked_path()] = setup.marked
                parts.append(build.payload_cpio(art, files, Path(td) / "p.cpio.gz"))
            log = (self.console_dir or Path(td)) / f"console-{name}.log"
            with Guest(art.zimage, parts, log, append=self.append, smp=self.smp, machine=art.machine,
                       dtb=art.dtb, extra_args=self.qemu_args, boot_timeout=600, icount=self.icount) as g:
                prepare(g, setup, "/lib/modules/sorto_hook.ko")
                try:
                    yield g
                finally:
                    stop_loads(g, setup.loads)

    def vmlinux(self) -> Path:
        return self.artifacts().kernel_tree / "vmlinux"

    def describe(self) -> str:
        art = self.artifacts()
        clock = "-icount (guest clock = executed instructions)" if self.icount else "host clock"
        return (f"QEMU -M {art.machine} -smp {self.smp} (TCG, {clock}), Linux {art.release} ({self.flavour}), "
                f"kernel command line: {self.append}")


@dataclasses.dataclass
class BoardTarget:
    """A board over SSH, with sorto_hook already loaded by its administrator (or --module PATH)."""

    dest: str
    port: int | None = None
    key: str | None = None
    options: list[str] = dataclasses.field(default_factory=list)
    module: str | None = None
    system_map: Path | None = None
    #: Where the board's executables are copied to be marked (the loop sets OUT/board).
    fetch_dir: Path | None = None

    _conn: object = dataclasses.field(default=None, repr=False)

    def _ssh(self):  # noqa: ANN202 (SshTarget, imported late)
        """One SshTarget for the whole run: its lines share one connection."""
        from ..trace.ssh import SshTarget

        if self._conn is None:
            self._conn = SshTarget(self.dest, self.port, self.key, self.options)
        return self._conn

    def host_copy(self, guest_path: str) -> Path:
        """The board's own executable, copied home over ssh: the file that runs is the file marked."""
        if self.fetch_dir is None:
            raise SortoError(f"{guest_path}: no folder to copy the board's executable into")
        data = self._ssh().fetch(guest_path)
        if data[:4] != b"\x7fELF":
            raise SortoError(f"{self.dest}:{guest_path}: not an ELF executable (a script or a wrapper?); give the "
                             "executable's path, or its host copy with --binary")
        self.fetch_dir.mkdir(parents=True, exist_ok=True)
        dest = self.fetch_dir / guest_path.rsplit("/", 1)[-1]
        dest.write_bytes(data)
        dest.chmod(0o755)
        return dest

    def resolve(self, name: str) -> str:
        if "/" in name:
            return name
        # The board's PATH searched for a file, not `command -v`: that answers a shell builtin's bare
        # name (true, echo, kill), and the loop needs the executable to copy home and mark.
        q = shlex.quote(name)
        rc, out = self._ssh().run(f'IFS=:; for d in $PATH; do [ -f "$d"/{q} ] && [ -x "$d"/{q} ] && '
                                  f'{{ echo "$d"/{q}; exit 0; }}; done; exit 1')
        found = out.strip().splitlines()[-1:] if rc == 0 else []
        if not found or not found[0].startswith("/"):
            raise SortoError(f"{name}: no executable of that name in the PATH of {self.dest}")
        return found[0]

    @contextlib.contextmanager
    def session(self, name: str, setup: Setup) -> Iterator[Target]:
        g = self._ssh()
        g.run("[ -e /sys/kernel/debug/tracing ] || mount -t debugfs nodev /sys/kernel/debug")
        if setup.marked is not None:
            g.put(setup.marked, setup.marked_path())
            for p in setup.extra:
                g.put(p, f"{MARKED_DIR}/{p.name}")
        prepare(g, setup, self.module)
        try:
            yield g
        finally:
            stop_loads(g, setup.loads)

    def vmlinux(self) -> Path | None:
        return None

    def describe(self) -> str:
        return f"ssh {self.dest}"
