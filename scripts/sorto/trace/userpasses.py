"""Guest-side shell lines for the passes of ``sorto trace`` that need no tracefs.

* ``strace_summary`` and ``strace_timestamps``: the command under
  ``strace -f -c`` and ``strace -f -r`` (the two views the analyzer and the
  report use: time per syscall, and the sequence with relative times).
  Skipped when the target has no strace.
* ``perf_script`` and ``perf_sched``: ``perf record -e cpu-clock -g`` then
  ``perf script`` (where the CPU time goes, user and kernel stacks), and
  ``perf sched record`` then ``perf sched latency`` and ``perf sched
  timehist`` (wake-up and scheduling delays).  Software events only: the
  ARM virt machine has no hardware counters.  Skipped without perf.
* ``memory``: ``/proc/PID/smaps`` and ``/proc/PID/stat`` (fault counters)
  sampled around the run, for memory-locking decisions.  The command starts
  stopped (a wrapper shell stops itself, then execs it), the first sample is
  taken before it runs, then every ``SAMPLE_S`` while it runs; the last
  non-empty smaps is kept, and every stat line (fields 10 and 12 are the
  minor and major fault counts) is appended.
"""

from __future__ import annotations

from .ftrace import Pass

SAMPLE_S = 0.1
STRACE_C = "/tmp/sorto-strace-c.txt"
STRACE_R = "/tmp/sorto-strace-r.txt"
PERF_DATA = "/tmp/sorto-perf.data"
PERF_SCRIPT = "/tmp/sorto-perf-script.txt"
SCHED_DATA = "/tmp/sorto-perf-sched.data"
SCHED_LAT = "/tmp/sorto-perf-sched-latency.txt"
SCHED_HIST = "/tmp/sorto-perf-sched-timehist.txt"
SMAPS = "/tmp/sorto-smaps.txt"
STAT = "/tmp/sorto-stat.txt"


def probe_line() -> str:
    """One line printing ``strace=1``, ``perf=1`` and ``proc=1`` for what the target has."""
    return ("command -v strace >/dev/null 2>&1 && echo strace=1; "
            "perf --version >/dev/null 2>&1 && echo perf=1; "
            "[ -r /proc/self/smaps ] && echo proc=1; true")


def parse_probe(text: str, probe: dict) -> None:
    """Add ``strace``, ``perf`` and ``proc`` (booleans) from the probe's answer to ``probe``."""
    lines = {ln.strip() for ln in text.splitlines()}
    for key in ("strace", "perf", "proc"):
        probe[key] = f"{key}=1" in lines


def _sampler() -> str:
    # A shell function: start the command stopped, sample, let it go, sample
    # until it is a zombie, then reap it and return its status.
    state = "sed -n 's/^State:[[:space:]]*\\(.\\).*/\\1/p' /proc/$P/status 2>/dev/null"
    return (
        "sorto_sample() { "
        f"rm -f {SMAPS} {STAT}; "
        "sh -c 'kill -STOP $$; exec \"$@\"' sorto \"$@\" & P=$!; "
        f"while [ \"$({state})\" != T ]; do sleep 0.01; done; "
        f"cat /proc/$P/stat >> {STAT}; kill -CONT $P; "
        f"while [ -e /proc/$P ] && [ \"$({state})\" != Z ]; do "
        f"cat /proc/$P/smaps > {SMAPS}.new 2>/dev/null; [ -s {SMAPS}.new ] && mv {SMAPS}.new {SMAPS}; "
        f"cat /proc/$P/stat >> {STAT} 2>/dev/null; sleep {SAMPLE_S}; done; "
        "wait $P; }; sorto_sample ")


def passes() -> list[Pass]:
    """The passes in the order they run (after the ftrace passes)."""
    return [
        Pass("strace_summary", "strace", "true", f"strace -f -c -o {STRACE_C} ", "true",
             (("strace_summary.txt", STRACE_C),)),
        Pass("strace_timestamps", "strace", "true", f"strace -f -r -o {STRACE_R} ", "true",
             (("strace_timestamps.txt", STRACE_R),)),
        Pass("perf_script", "perf", f"rm -f {PERF_DATA}",
             f"perf record -q -e cpu-clock -F 1000 -g -o {PERF_DATA} -- ",
             f"perf script -i {PERF_DATA} > {PERF_SCRIPT} 2>/dev/null",
             (("perf_script.txt", PERF_SCRIPT),)),
        Pass("perf_sched", "perf", f"rm -f {SCHED_DATA}", f"perf sched record -q -o {SCHED_DATA} -- ",
             f"perf sched latency -i {SCHED_DATA} > {SCHED_LAT} 2>/dev/null; "
             f"perf sched timehist -i {SCHED_DATA} > {SCHED_HIST} 2>/dev/null",
             (("perf_sched_latency.txt", SCHED_LAT), ("perf_sched_timehist.txt", SCHED_HIST))),
        Pass("memory", "proc", "true", _sampler(), "true",
             (("smaps.txt", SMAPS), ("proc_stat.txt", STAT))),
    ]


def available(p: Pass, probe: dict) -> str | None:
    """None when the target can run pass ``p``, else why it is skipped."""
    if p.needs == "strace":
        return None if probe.get("strace") else "strace is not installed on the target"
    if p.needs == "perf":
        return None if probe.get("perf") else "perf is not installed on the target"
    if p.needs == "proc":
        return None if probe.get("proc") else "no /proc/PID/smaps on the target"
    return f"unknown need {p.needs!r}"
