"""``sorto trace --ssh USER@HOST``: trace a command on a board (or any Linux machine) over SSH.

The same passes as in the QEMU guest run through OpenSSH's client, one
``ssh`` per shell line, in batch mode (keys or an agent, never a password
prompt).  Host files named by the command or ``--put`` are copied first into
``BOARD_BIN`` on the target.  tracefs is mounted at /sys/kernel/tracing if
it is not (ftrace passes need root on the target; the strace and memory
passes do not).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from ..errors import SortoError
from . import ftrace
from .manifest import OutDir
from .qemu import payload_files
from .run import TraceOptions, log, run_passes

BOARD_BIN = "/tmp/sorto-trace/bin"


def _close_master(argv: list[str], folder: str) -> None:
    """Stop the connection master (if one runs) and remove its socket's folder."""
    try:
        subprocess.run([*argv[:-1], "-O", "exit", argv[-1]], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass
    shutil.rmtree(folder, ignore_errors=True)


class SshTarget:
    """A shell on ``user@host`` through ssh; the same interface as the QEMU console harness.

    Every shell line is one ``ssh`` run, over one shared connection
    (OpenSSH's ControlMaster, its socket in a private folder): a trace runs
    hundreds of short lines, and a key exchange on a small board costs more
    than the line (0.29 s a line without, 0.07 s with, on the QEMU board
    guest).  Options given by the user come first, and ssh keeps the first
    value of an option, so ``ControlMaster=no`` turns it off.
    """

    def __init__(self, dest: str, port: int | None = None, key: str | None = None,
                 options: list[str] | None = None, connect_timeout: int = 15) -> None:
        self.dest = dest
        self.argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}"]
        if port:
            self.argv += ["-p", str(port)]
        if key:
            self.argv += ["-i", key]
        for o in options or []:
            self.argv += ["-o", o]
        folder = tempfile.mkdtemp(prefix="sorto-ssh-")
        self.argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={folder}/%C", "-o", "ControlPersist=60"]
        self.argv.append(dest)
        self._finalizer = weakref.finalize(self, _close_master, list(self.argv), folder)
        rc, out = self.run("uname -r")
        if rc != 0:
            raise SortoError(f"ssh {dest}: cannot run commands (status {rc}): {out.strip()[-500:]}")
        self.release = out.strip().splitlines()[-1] if out.strip() else "unknown"

    def _ssh(self, remote: str, what: str, timeout: float, stdin: bytes, stderr: int) -> subprocess.CompletedProcess:
        """One ``ssh`` run of ``remote``; ``what`` names it in the timeout message."""
        try:
            return subprocess.run([*self.argv, remote], input=stdin, stdout=subprocess.PIPE, stderr=stderr,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise SortoError(f"ssh {self.dest}: no answer within {timeout:.0f} s {what}") from exc
        except OSError as exc:
            raise SortoError(f"ssh: cannot run the OpenSSH client: {exc}") from exc

    def run(self, cmd: str, timeout: float = 60.0, stdin: bytes | None = None) -> tuple[int, str]:
        """Run ``cmd`` with the target's /bin/sh; return (status, stdout and stderr together)."""
        r = self._ssh("sh -c " + shlex.quote(cmd), f"to: {cmd[:200]}", timeout, stdin if stdin is not None else b"",
                      subprocess.STDOUT)
        return r.returncode, r.stdout.decode("utf-8", errors="replace")

    def check(self, cmd: str, timeout: float = 60.0) -> str:
        """Run ``cmd``; raise with its output if it exits non-zero."""
        rc, out = self.run(cmd, timeout)
        if rc != 0:
            raise SortoError(f"ssh {self.dest}: command failed with status {rc}: {cmd[:200]}\n{out[-2000:]}")
        return out

    def close(self) -> None:
        """Stop the shared connection now (it also stops when this object goes, or 60 s after its last use)."""
        self._finalizer()

    def fetch(self, path: str, timeout: float = 300.0) -> bytes:
        """The bytes of the target's file ``path``, through the ssh channel itself (no scp on small boards)."""
        r = self._ssh("cat " + shlex.quote(path), f"reading {path}", timeout, b"", subprocess.PIPE)
        if r.returncode != 0:
            err = r.stderr.decode("utf-8", errors="replace").strip()[-500:]
            raise SortoError(f"ssh {self.dest}: cannot read {path} (status {r.returncode}): {err}")
        return r.stdout

    def put(self, host: Path, path: str) -> None:
        """Copy a host file to ``path`` on the target, executable, through the ssh channel itself."""
        folder = path.rsplit("/", 1)[0] or "/"
        rc, out = self.run(f"mkdir -p {shlex.quote(folder)} && cat > {shlex.quote(path)} && chmod 755 "
                           f"{shlex.quote(path)}", timeout=300, stdin=host.read_bytes())
        if rc != 0:
            raise SortoError(f"ssh {self.dest}: cannot write {path}: {out.strip()[-500:]}")


def trace_ssh(opts: TraceOptions) -> tuple[Path, dict]:
    """Run every pass the board supports; return the output folder and the manifest."""
    if not opts.argv:
        raise SortoError("no command to trace (give it after --)")
    if not opts.ssh:
        raise SortoError("--ssh needs USER@HOST")
    out = OutDir(opts.out)
    try:
        t0 = time.monotonic()
        target = SshTarget(opts.ssh, opts.ssh_port, opts.ssh_key, opts.ssh_options)
        connect_s = time.monotonic() - t0
        files, argv = payload_files(opts, BOARD_BIN)
        for path, host in sorted(files.items()):
            log(opts, f"copying {host} to {opts.ssh}:{path}")
            target.put(host, path)
        # ftrace passes need tracefs; a board may only have debugfs mounted.
        target.run(f"[ -e {ftrace.T}/trace ] || mount -t tracefs nodev {ftrace.T}")
        manifest = run_passes(target, opts, argv, out, target=f"ssh:{opts.ssh}", kernel_series=None, files=files)
        manifest["connect_s"] = round(connect_s, 3)
        final = out.commit(manifest)
        target.close()
    except BaseException:
        out.discard()
        raise
    return final, manifest
