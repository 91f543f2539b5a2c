"""``sorto trace --qemu``: trace a command in the cached QEMU test guest.

The guest is the one ``sorto guest build`` makes (built or reused here).  A
host file named as the command (or given with ``--put``) rides into the
guest in a cpio appended to the cached initramfs, as the QEMU tests do, so
the base image is never rebuilt for a new program.  Logs come home by
``cat`` over the serial console (``Guest.check`` returns the output).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import __version__
from ..errors import SortoError
from . import ftrace
from .manifest import OutDir

GUEST_BIN = "/t/bin"


@dataclasses.dataclass
class TraceOptions:
    argv: list[str]
    out: Path
    kernel: str = "6.12"
    cache: str | None = None
    buffer_kb: int = 256
    max_lines: int = 20000
    timeout: float = 300.0
    put: list[str] = dataclasses.field(default_factory=list)
    console_log: Path | None = None
    progress: bool = True


def _log(opts: TraceOptions, msg: str) -> None:
    if opts.progress:
        print(f"[sorto trace] {msg}", file=sys.stderr, flush=True)


def payload_files(opts: TraceOptions) -> tuple[dict[str, Path], list[str]]:
    """Host files to ship (guest path -> host path) and the argv as the guest sees it."""
    files: dict[str, Path] = {}
    for spec in opts.put:
        host, sep, gpath = spec.partition(":")
        hp = Path(host)
        if not hp.is_file():
            raise SortoError(f"--put {spec}: {host} is not a file")
        files[gpath if sep else f"{GUEST_BIN}/{hp.name}"] = hp.resolve()
    argv = list(opts.argv)
    first = Path(argv[0])
    # A relative path to a host file (./prog, build/prog) is shipped; an
    # absolute path or a bare name is the guest's own (/usr/bin/x, busybox ls).
    if "/" in argv[0] and not first.is_absolute() and first.is_file():
        gpath = f"{GUEST_BIN}/{first.name}"
        files[gpath] = first.resolve()
        argv[0] = gpath
    return files, argv


def _qemu_version() -> str:
    try:
        out = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    return out.splitlines()[0] if out else "unknown"


def trace_qemu(opts: TraceOptions) -> tuple[Path, dict]:
    """Run every available tracer pass; return the output folder and the manifest."""
    from ..guest import build  # late: pulls in the build machinery
    from ..guest.harness import Guest

    if not opts.argv:
        raise SortoError("no command to trace (give it after --)")
    out = OutDir(opts.out)
    try:
        art = build.build_guest(opts.kernel, cache=opts.cache, progress=opts.progress)
        files, argv = payload_files(opts)
        with tempfile.TemporaryDirectory(prefix="sorto-trace-") as td:
            parts: list[Path] = [art.initramfs]
            if files:
                parts.append(build.payload_cpio(art, files, Path(td) / "payload.cpio.gz"))
            log = opts.console_log or Path(td) / "console.log"
            _log(opts, f"booting the {opts.kernel} guest")
            t0 = time.monotonic()
            with Guest(art.zimage, parts, log) as g:
                boot_s = time.monotonic() - t0
                manifest = _run_passes(g, opts, argv, out)
                manifest["boot_s"] = round(boot_s, 3)
                manifest["command_host_files"] = {k: str(v) for k, v in sorted(files.items())}
                manifest["tools"]["qemu"] = _qemu_version()
                manifest["tools"]["sorto"] = __version__
        final = out.commit(manifest)
    except BaseException:
        out.discard()
        raise
    return final, manifest


def _run_passes(g, opts: TraceOptions, argv: list[str], out: OutDir) -> dict:
    probe = ftrace.parse_probe(g.check(ftrace.probe_line()))
    release = probe["release"] or g.release
    results: list[dict] = []
    t_start = time.monotonic()
    command_output = None
    for p in ftrace.passes(probe["profile_files"]):
        why = ftrace.available(p, probe)
        if why:
            _log(opts, f"{p.name}: skipped ({why})")
            results.append({"tracer": p.name, "status": "skipped", "reason": why})
            continue
        _log(opts, f"{p.name}: running {' '.join(argv)}")
        g.check(ftrace.reset_line(opts.buffer_kb))
        g.check(p.setup)
        t0 = time.monotonic()
        rc, text = g.run(ftrace.command_line(p, argv), timeout=opts.timeout)
        dur = time.monotonic() - t0
        g.check(f"echo 0 > {ftrace.T}/tracing_on")
        if command_output is None:
            command_output = text
        rec: dict = {"tracer": p.name, "status": "ok", "exit_status": rc, "duration_s": round(dur, 3),
                     "logs": []}
        for name, gfile in p.logs:
            total, body = ftrace.split_read(g.check(ftrace.read_line(gfile, opts.max_lines), timeout=opts.timeout))
            out.write_text(name, body)
            kept = body.count("\n")
            rec["logs"].append({"file": name, "source": gfile, "guest_lines": total, "lines": kept,
                                "truncated": kept < total})
        results.append(rec)
        g.check(ftrace.reset_line(opts.buffer_kb))
    results.append({"tracer": "strace", "status": "skipped", "reason": "strace is not in the guest image yet"})
    if command_output is not None:
        out.write_text("command_output.txt", command_output)
    duration = time.monotonic() - t_start
    ok = [r for r in results if r["status"] == "ok"]
    return {
        "sorto_trace": 1,
        "command": argv,
        "target": f"qemu:{release}",
        "kernel_release": release,
        "kernel_series": opts.kernel,
        "tools": {"ftrace": {"available_tracers": probe["tracers"], "events": probe["events"],
                             "trace_stat": probe["profile_files"]}},
        "settings": {"buffer_size_kb": opts.buffer_kb, "max_lines": opts.max_lines, "overwrite": True,
                     "function_profile_scope": "system-wide while the command ran",
                     "function_scope": "set_ftrace_pid = command pid, function-fork on",
                     "events_scope": "system-wide while the command ran"},
        "duration_s": round(duration, 3),
        "exit_status": next((r["exit_status"] for r in ok if r["exit_status"]), 0 if ok else None),
        "tracers": results,
    }
