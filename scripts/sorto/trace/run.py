"""Run the tracer passes on a target (the QEMU guest or a board over SSH) and write the manifest.

A target is anything with ``run(cmd, timeout) -> (status, output)``,
``check(cmd, timeout) -> output`` (raising on a non-zero status) and
``release``: the console harness's :class:`~sorto.guest.harness.Guest` and
:class:`~sorto.trace.ssh.SshTarget` both are.  Every pass is one run of the
command; a pass the target cannot run is recorded as skipped with the
reason, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Protocol

from .. import __version__
from . import ftrace, userpasses
from .manifest import OutDir


@dataclasses.dataclass
class TraceOptions:
    """What ``sorto trace`` was asked (see ``sorto trace --help``)."""

    argv: list[str]
    out: Path
    kernel: str = "6.12"
    flavour: str = "release"
    cache: str | None = None
    buffer_kb: int = 256
    max_lines: int = 20000
    timeout: float = 300.0
    put: list[str] = dataclasses.field(default_factory=list)
    console_log: Path | None = None
    progress: bool = True
    ssh: str | None = None
    ssh_port: int | None = None
    ssh_key: str | None = None
    ssh_options: list[str] = dataclasses.field(default_factory=list)


class Target(Protocol):
    release: str

    def run(self, cmd: str, timeout: float = 60.0) -> tuple[int, str]: ...

    def check(self, cmd: str, timeout: float = 60.0) -> str: ...


def log(opts: TraceOptions, msg: str) -> None:
    """Progress on stderr: each pass can take minutes on an emulated target."""
    if opts.progress:
        print(f"[sorto trace] {msg}", file=sys.stderr, flush=True)


def run_passes(g: Target, opts: TraceOptions, argv: list[str], out: OutDir, target: str,
               kernel_series: str | None, files: dict[str, Path]) -> dict:
    """Run every pass the target can run; write the logs into ``out``; return the manifest.

    ``target`` names it in the manifest; ``kernel_series`` is derived from the
    release when None; ``files`` are the host files shipped for the command.
    """
    probe = ftrace.parse_probe(g.check(ftrace.probe_line()))
    userpasses.parse_probe(g.check(userpasses.probe_line()), probe)
    release = probe["release"] or g.release
    results: list[dict] = []
    t_start = time.monotonic()
    command_output = None
    comm = ftrace.comm_of(argv[0])
    todo = [(p, ftrace.available(p, probe), True) for p in ftrace.passes(probe["profile_files"], comm)]
    todo += [(p, userpasses.available(p, probe), False) for p in userpasses.passes()]
    for p, why, uses_tracefs in todo:
        if why:
            log(opts, f"{p.name}: skipped ({why})")
            results.append({"tracer": p.name, "status": "skipped", "reason": why})
            continue
        log(opts, f"{p.name}: running {' '.join(argv)}")
        if uses_tracefs:
            g.check(ftrace.reset_line(opts.buffer_kb))
        rc, text = g.run(p.setup)
        if rc != 0:
            # A tracer can be listed and still refused (lockdown, a host
            # kernel that forbids the function tracer): skip, do not abort.
            why = f"setup failed with status {rc}: {text.strip()[-200:]}"
            log(opts, f"{p.name}: skipped ({why})")
            results.append({"tracer": p.name, "status": "skipped", "reason": why})
            if uses_tracefs:
                g.run(ftrace.reset_line(opts.buffer_kb))
            continue
        t0 = time.monotonic()
        rc, text = g.run(ftrace.command_line(p, argv), timeout=opts.timeout)
        dur = time.monotonic() - t0
        if uses_tracefs:
            g.check(f"echo 0 > {ftrace.T}/tracing_on")
        if command_output is None:
            command_output = text
        rec: dict = {"tracer": p.name, "status": "ok", "exit_status": rc, "duration_s": round(dur, 3),
                     "logs": []}
        if uses_tracefs and p.name != "function_profile":
            # The ring buffer overwrites: a count above 0 means the log holds only the end of the run.
            rec["ring_overrun"] = ftrace.parse_overrun(g.run(ftrace.overrun_line())[1])
        if p.name == "events":
            # What the kernel took, read back: "none" where a filter was refused or not asked for.
            rec["event_filters"] = {e: g.run(f"cat {ftrace.T}/events/{e}/filter")[1].strip()
                                    for e in ftrace.FILTERED_EVENTS}
        for name, gfile in p.logs:
            total, body = ftrace.split_read(g.check(ftrace.read_line(gfile, opts.max_lines), timeout=opts.timeout))
            if total < 0:
                rec["logs"].append({"file": name, "source": gfile, "missing": True})
                continue
            out.write_text(name, body)
            kept = body.count("\n")
            rec["logs"].append({"file": name, "source": gfile, "guest_lines": total, "lines": kept,
                                "truncated": kept < total})
        results.append(rec)
        if uses_tracefs:
            g.check(ftrace.reset_line(opts.buffer_kb))
    if command_output is not None:
        out.write_text("command_output.txt", command_output)
    duration = time.monotonic() - t_start
    ok = [r for r in results if r["status"] == "ok"]
    return {
        "sorto_trace": 1,
        "command": argv,
        "target": target,
        "kernel_release": release,
        "kernel_series": kernel_series or ".".join(release.split(".")[:2]),
        "tools": {"ftrace": {"available_tracers": probe["tracers"], "events": probe["events"],
                             "trace_stat": probe["profile_files"]},
                  "strace": probe["strace"], "perf": probe["perf"], "proc_smaps": probe["proc"],
                  "sorto": __version__},
        "settings": {"buffer_size_kb": opts.buffer_kb, "max_lines": opts.max_lines, "overwrite": True,
                     "function_profile_scope": "system-wide while the command ran",
                     "function_scope": "set_ftrace_pid = command pid, function-fork on",
                     "events_scope": "irq events system-wide while the command ran; sched_switch and "
                                     "sched_wakeup only those naming the command",
                     "strace": "strace -f -c and strace -f -r, one run each",
                     "perf": "perf record -e cpu-clock -F 1000 -g; perf sched record; one run each",
                     "memory_sampling_s": userpasses.SAMPLE_S},
        "duration_s": round(duration, 3),
        "exit_status": next((r["exit_status"] for r in ok if r["exit_status"]), 0 if ok else None),
        "tracers": results,
        "command_host_files": {k: str(v) for k, v in sorted(files.items())},
    }
