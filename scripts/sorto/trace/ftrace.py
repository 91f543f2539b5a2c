"""Guest-side shell lines for the ftrace passes of ``sorto trace``.

Each tracer gets its own run of the command, because the function tracer,
the function_graph tracer and the function profiler share ftrace's
callback machinery and would distort each other:

* ``function_profile``: ``function_profile_enabled`` on for exactly the
  command's lifetime, then ``trace_stat/function<CPU>``.  The profiler
  ignores ``set_ftrace_pid``: it counts every kernel function hit on any
  CPU while the command runs (with the default ``graph-time`` option the
  time of a function includes its children).
* ``function`` and ``function_graph``: restricted to the command's pid and
  its children (``set_ftrace_pid`` written by a wrapper shell that then
  ``exec``\\ s the command, ``options/function-fork`` on).
* ``events``: the irq events system-wide (which interrupts came, and whether
  they preempted the command or woke it), and the sched events that name
  the command (``sched_switch`` from or to it, ``sched_wakeup`` of it, by
  an event filter on its task name): who delayed it, and for how long.
  The rest of the system's switches (a busy load makes tens of thousands
  a second) would overwrite the ring buffer and leave only the end of the
  run; nop tracer.

Logs stay bounded: ``buffer_size_kb`` is small (the ring buffer overwrites,
so the end of the run is kept) and at most ``max_lines`` lines of each log
are read back.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

T = "/sys/kernel/tracing"
TASK_COMM_LEN = 16  # the kernel keeps 15 characters of a task's name
# Characters a task name may have to go into an event filter's string unquoted-safe: no quote,
# backslash or glob character (``==`` on a string field matches globs).
#: The events the events pass filters on the command's name (set, read back and cleared together).
FILTERED_EVENTS = ("sched/sched_switch", "sched/sched_wakeup")
_FILTER_SAFE = re.compile(r"^[A-Za-z0-9_.+@%:=,-]+$")
EVENTS = ("irq:irq_handler_entry", "irq:irq_handler_exit", "irq:softirq_entry", "irq:softirq_exit",
          "sched:sched_switch", "sched:sched_wakeup")


@dataclass(frozen=True)
class Pass:
    """One traced run of the command and the logs it yields."""

    name: str  # tracer name as recorded in the manifest
    needs: str  # what the guest must offer: a tracer name, "profile" or "events"
    setup: str  # shell line run before the command
    run_prefix: str  # shell text that precedes the quoted command
    after: str  # shell text run right after the command in the same line
    logs: tuple[tuple[str, str], ...]  # (output file name, guest file) pairs


def probe_line() -> str:
    """One line printing what the guest's tracefs offers, as ``key=value`` lines."""
    checks = [f"echo tracers=$(cat {T}/available_tracers 2>/dev/null)",
              f"[ -e {T}/function_profile_enabled ] && echo profile=$(ls {T}/trace_stat 2>/dev/null"
              " | grep '^function' | tr '\\n' ' ')",
              *[f"[ -d {T}/events/{e.replace(':', '/')} ] && echo event={e}" for e in EVENTS],
              "echo release=$(uname -r)"]
    return "; ".join(checks) + "; true"


def parse_probe(text: str) -> dict:
    """Turn the probe's output into ``{"tracers", "profile_cpus", "events", "release"}``."""
    out: dict = {"tracers": [], "profile_files": [], "events": [], "release": ""}
    for ln in text.splitlines():
        key, _, val = ln.partition("=")
        if key == "tracers":
            out["tracers"] = val.split()
        elif key == "profile":
            out["profile_files"] = val.split()
        elif key == "event":
            out["events"].append(val.strip())
        elif key == "release":
            out["release"] = val.strip()
    return out


def comm_of(argv0: str) -> str:
    """The name the kernel gives a task exec'ed from ``argv0``: its base name, cut to 15 characters."""
    return argv0.rstrip("/").rsplit("/", 1)[-1][: TASK_COMM_LEN - 1]


def event_filters(comm: str) -> dict[str, str]:
    """The events pass's filters, by event, for a command named ``comm``; none when the name is unsafe.

    A name with a quote, a backslash or a glob character would change the
    filter's meaning, so such a command's sched events stay unfiltered.
    """
    if not _FILTER_SAFE.match(comm):
        return {}
    switch, wakeup = FILTERED_EVENTS
    return {switch: f'prev_comm == "{comm}" || next_comm == "{comm}"', wakeup: f'comm == "{comm}"'}


def reset_line(buffer_kb: int) -> str:
    """Put tracefs in a known quiet state with a small per-CPU buffer."""
    clear = "; ".join(f"echo 0 > {T}/events/{e}/filter 2>/dev/null" for e in FILTERED_EVENTS)
    return (f"echo 0 > {T}/tracing_on; echo 0 > {T}/function_profile_enabled 2>/dev/null; "
            f"echo nop > {T}/current_tracer; echo > {T}/set_event; echo > {T}/set_ftrace_pid; "
            f"{clear}; "
            f"echo > {T}/set_ftrace_filter; echo {buffer_kb} > {T}/buffer_size_kb; echo > {T}/trace")


def _pid_wrapper() -> str:
    # The wrapper shell puts its own pid in set_ftrace_pid, turns tracing on
    # and becomes the command, so the command's pid is the traced pid.
    inner = f"echo $$ > {T}/set_ftrace_pid; echo 1 > {T}/tracing_on; exec \"$@\""
    return f"sh -c {shlex.quote(inner)} sorto"


def passes(profile_files: list[str], comm: str = "") -> list[Pass]:
    """The tracer passes in the order they run; ``comm``: the command's task name (event filters)."""
    stop = f"echo 0 > {T}/tracing_on"
    fork = f"echo 1 > {T}/options/function-fork 2>/dev/null"
    events = " ".join(e.replace(":", "/") for e in EVENTS)
    # Each setup ends with a check that the kernel took it: a tracer can be
    # listed yet refused (lockdown, a distribution kernel's policy), and the
    # pass must then be skipped rather than return an empty "ok" log.
    return [
        Pass("function_profile", "profile",
             f"echo 1 > {T}/function_profile_enabled && echo 0 > {T}/function_profile_enabled",
             f"echo 1 > {T}/function_profile_enabled; ",
             f"echo 0 > {T}/function_profile_enabled",
             tuple((f"ftrace_function_profile.{f}.txt", f"{T}/trace_stat/{f}") for f in profile_files)),
        Pass("function", "function",
             f"echo function > {T}/current_tracer; {fork}; grep -qx function {T}/current_tracer",
             _pid_wrapper() + " ", stop, (("ftrace_function.txt", f"{T}/trace"),)),
        Pass("function_graph", "function_graph",
             f"echo function_graph > {T}/current_tracer; {fork}; grep -qx function_graph {T}/current_tracer",
             _pid_wrapper() + " ", stop, (("ftrace_function_graph.txt", f"{T}/trace"),)),
        Pass("events", "events",
             "; ".join([*(f"echo 1 > {T}/events/{e}/enable" for e in events.split()),
                        *(f"echo {shlex.quote(f)} > {T}/events/{e}/filter" for e, f in event_filters(comm).items())])
             + f"; grep -q . {T}/set_event",
             f"echo 1 > {T}/tracing_on; ", stop, (("ftrace_events.txt", f"{T}/trace"),)),
    ]


def available(p: Pass, probe: dict) -> str | None:
    """None when the guest can run pass ``p``, else why it is skipped."""
    if p.needs == "profile":
        if not probe["profile_files"]:
            return "no function profiler (function_profile_enabled / trace_stat/function*)"
        return None
    if p.needs == "events":
        return None if probe["events"] else "none of the irq/sched events exist"
    return None if p.needs in probe["tracers"] else f"tracer {p.needs} not in available_tracers"


def command_line(p: Pass, argv: list[str]) -> str:
    """The guest line that runs ``argv`` under pass ``p`` and exits with the command's status."""
    cmd = " ".join(shlex.quote(a) for a in argv)
    return f"{p.run_prefix}{cmd}; rc=$?; {p.after}; exit $rc"


def read_line(guest_file: str, max_lines: int) -> str:
    """Print the line count of ``guest_file``, a separator, then at most ``max_lines`` of its lines.

    A file the pass did not produce (a program too short for the memory
    sampler, a tool that failed) prints ``missing`` instead of a count.
    """
    return (f"if [ -e {guest_file} ]; then wc -l < {guest_file}; echo SORTO-CUT; head -n {max_lines} {guest_file}; "
            "else echo missing; echo SORTO-CUT; fi")


def overrun_line() -> str:
    """One line printing each CPU ring buffer's ``overrun:`` count (events overwritten since the reset)."""
    return f"cat {T}/per_cpu/cpu*/stats 2>/dev/null | grep '^overrun:'; true"


def parse_overrun(text: str) -> int | None:
    """Sum ``overrun_line``'s counts over the CPUs; None when the kernel printed none (no per-CPU stats)."""
    counts = [int(ln.split(":", 1)[1]) for ln in text.splitlines()
              if ln.startswith("overrun:") and ln.split(":", 1)[1].strip().isdigit()]
    return sum(counts) if counts else None


def split_read(text: str) -> tuple[int, str]:
    """Split ``read_line`` output into (total lines in the guest file, text brought home); -1 if missing."""
    count, sep, body = text.partition("SORTO-CUT\n")
    if not sep:
        raise ValueError("no SORTO-CUT separator in the guest's answer")
    if count.strip() == "missing":
        return -1, ""
    return int(count.strip() or 0), body
