"""Thresholds and inputs of ``sorto analyze``, with their defaults in one place.

Why one dataclass: the command line, the evidence (which records every
threshold that shaped a decision) and the report all read the same values,
so a default changed here changes everywhere, ``--help`` included.  It sits
outside the ``analyze`` package so that building the command line (every
``sorto`` command) does not import the analyzer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: On-chip SRAM of the vexpress-a15 / Cortex-A15 boards the project targets (64 KiB).
DEFAULT_SRAM_BUDGET = 65536

#: Functions whose profiled time is mostly time off the CPU: the idle loop,
#: the scheduler's blocking entry points and kernel-thread main loops.  The
#: function profiler times a function from entry to return (children and,
#: with the default ``sleep-time`` option, sleeping included), so these would
#: otherwise top every ranking with time the CPU spent idle or asleep.
DEFAULT_EXCLUDE = (
    r"^(do_idle|cpu_startup_entry|secondary_start_kernel|start_kernel|rest_init|kernel_init"
    r"|arch_cpu_idle.*|cpu_idle_poll|default_idle_call|cpuidle_.*|schedule|__schedule|schedule_.*"
    r"|preempt_schedule.*|io_schedule.*|.*nanosleep.*|.*_sleep"
    r"|kthread|worker_thread|smpboot_thread_fn|ret_from_fork|rcu_gp_kthread|rcu_gp_fqs_loop"
    r"|sys_wait4|kernel_wait4|do_wait|.*wait_for_.*|.*wait_event.*|sys_pause|sys_rt_sigsuspend"
    r"|sys_epoll_wait|sys_epoll_pwait|sys_poll|sys_ppoll|sys_select|sys_pselect6.*|do_sys_poll"
    r"|sys_futex|do_futex|futex_wait.*)$"
)


@dataclass
class Options:
    """Everything that shapes a policy besides the trace itself."""

    sram_budget: int = DEFAULT_SRAM_BUDGET
    system_map: str | None = None
    vmlinux: str | None = None
    pids: list[int] = field(default_factory=list)
    comm: str | None = None
    exclude: str = DEFAULT_EXCLUDE
    scratch_min_share: float = 0.001
    scratch_max: int = 32
    irq_min_count: int = 2
    irq_min_share: float = 0.0
    irq_away_share: float = 0.02
    irq_softirqs: bool = False
    sched_latency_us: float = 1000.0
    sched_min_samples: int = 1
    sched_policy: str = "fifo"
    sched_priority: int = 40
    mlock_min_kb: int = 64
    background_for: str | None = None
    background_share: float = 0.1
    lenient: bool = False

    def evidence(self) -> dict[str, Any]:
        """The thresholds as recorded in the policy's evidence (paths reduced to file names)."""
        d = asdict(self)
        for key in ("system_map", "vmlinux"):
            if d[key]:
                d[key] = d[key].replace("\\", "/").rsplit("/", 1)[-1]
        return d


#: ``--help`` text of each threshold (the CLI appends the default).
HELP = {
    "background_for": "analyze the program as background load of COMM (the latency-sensitive program): only "
                      "its scheduling is decided, SCHED_BATCH nice 19 when its tasks held the CPU while COMM waited",
    "background_share": "with --background-for: SCHED_BATCH nice 19 when the program held the CPU for at least this "
                        "share (0..1) of the time COMM waited",
    "sram_budget": "scratchpad budget in bytes: the chosen functions' sizes add up to at most this",
    "exclude": "regular expression of kernel functions never placed in the scratchpad (idle loop, sleeping "
               "and blocking entry points whose profiled time is time off the CPU); '' excludes nothing",
    "scratch_min_share": "minimum time share (0..1) of a function to be placed in the scratchpad",
    "scratch_max": "at most this many scratchpad entries (the format allows 32)",
    "irq_min_count": "an interrupt or softirq must have preempted the application at least this many times",
    "irq_min_share": "... and taken at least this share (0..1) of the application's time on CPU",
    "irq_away_share": "set away (move off the application's CPUs) when a device interrupt seen on one CPU "
                      "takes at least this share of the application's time on CPU",
    "sched_latency_us": "suggest a real-time policy when the p99 scheduling delay (wake-up or preemption to "
                        "running) exceeds this many microseconds",
    "sched_min_samples": "decide on the scheduling policy only with at least this many delay samples",
    "sched_policy": "the real-time policy to suggest (fifo or rr)",
    "sched_priority": "the real-time priority to suggest (1-99; default below irq threads at 50)",
    "mlock_min_kb": "lock a memory region when smaps shows at least this many kB of it referenced",
}
