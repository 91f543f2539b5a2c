// SPDX-License-Identifier: GPL-2.0-only
/*
 * sorto_hook: scheduling class, priority, nice value and CPU affinity of
 * the new program, set at exec.
 *
 * The policy asks, the program's own credentials decide.  Both changes go
 * through the checks of the system calls, elf_hook_sched_setattr() and
 * elf_hook_sched_setaffinity() from the kernel series, against the
 * credentials and rlimits of the new program (the hook runs past the point
 * of no return): a policy gets what the program could have taken for itself
 * with sched_setattr(2) and sched_setaffinity(2) at its first instruction,
 * security module and real-time bandwidth checks included, never more.
 *
 * Before the call, a request above what RLIMIT_RTPRIO, RLIMIT_NICE and
 * CAP_SYS_NICE allow is lowered to what they allow (result "clamped"), and
 * max_rt_prio caps every real-time priority.  The system call checks have
 * the last word: what they refuse is "failed" with their error (leaving
 * SCHED_IDLE without the right to, a security module's veto).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/capability.h>
#include <linux/cpumask.h>
#include <linux/elf_hook.h>
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "sorto_act.h"

static bool sorto_rt(unsigned int policy)
{
	return policy == SORTO_POLICY_FIFO || policy == SORTO_POLICY_RR;
}

/* The CPUs of the request as a bitmap of unsigned longs, for %*pbl. */
static void sorto_cpus_bitmap(const struct sorto_sched *s,
			      unsigned long *bits, unsigned int nbits)
{
	unsigned int cpu;

	bitmap_zero(bits, nbits);
	for (cpu = 0; cpu < s->ncpu_bytes * 8 && cpu < nbits; cpu++)
		if (s->cpus[cpu / 8] & (1U << (cpu % 8)))
			__set_bit(cpu, bits);
}

static void sorto_apply_cpus(const struct sorto_sched *s,
			     struct sorto_actlog *log)
{
	DECLARE_BITMAP(bits, SORTO_MAX_CPU_BYTES * 8);
	char asked[SORTO_VAL_MAX], applied[SORTO_VAL_MAX];
	unsigned int cpu, nbits = s->ncpu_bytes * 8;
	enum sorto_result res = SORTO_APPLIED;
	cpumask_var_t want, mask;
	const char *why = "-";
	bool absent = false;
	long err;

	if (!s->ncpu_bytes)
		return;
	if (!zalloc_cpumask_var(&want, GFP_KERNEL))
		return;
	if (!zalloc_cpumask_var(&mask, GFP_KERNEL)) {
		free_cpumask_var(want);
		return;
	}
	sorto_cpus_bitmap(s, bits, SORTO_MAX_CPU_BYTES * 8);
	for_each_set_bit(cpu, bits, nbits) {
		if (cpu < nr_cpu_ids)
			cpumask_set_cpu(cpu, want);
		else
			absent = true;
	}
	cpumask_and(mask, want, cpu_online_mask);
	cpumask_and(mask, mask, sorto_task_cpus(current));
	if (absent || !cpumask_equal(mask, want))
		why = "cpu-absent-offline-or-outside-cpuset";
	snprintf(asked, sizeof(asked), "%*pbl", nbits, bits);
	if (cpumask_empty(mask)) {
		res = SORTO_REFUSED;
		why = "no-usable-cpu";
		snprintf(applied, sizeof(applied), "-");
	} else {
		err = elf_hook_sched_setaffinity(mask);
		if (err) {
			res = SORTO_FAILED;
			why = "sched_setaffinity";
			snprintf(applied, sizeof(applied), "error%ld", err);
		} else {
			if (strcmp(why, "-"))
				res = SORTO_CLAMPED;
			snprintf(applied, sizeof(applied), "%*pbl",
				 cpumask_pr_args(sorto_task_cpus(current)));
		}
	}
	sorto_action(log, "sched", "cpus", asked, applied, res, why);
	free_cpumask_var(mask);
	free_cpumask_var(want);
}

static int sorto_kernel_policy(unsigned int policy)
{
	switch (policy) {
	case SORTO_POLICY_FIFO:
		return SCHED_FIFO;
	case SORTO_POLICY_RR:
		return SCHED_RR;
	case SORTO_POLICY_BATCH:
		return SCHED_BATCH;
	case SORTO_POLICY_IDLE:
		return SCHED_IDLE;
	default:
		return SCHED_NORMAL;
	}
}

void sorto_apply_sched(const struct sorto_sched *s, struct sorto_actlog *log)
{
	char asked[SORTO_VAL_MAX], applied[SORTO_VAL_MAX];
	bool cap_nice = sorto_capable(CAP_SYS_NICE);
	unsigned int policy = s->policy;
	int prio = s->priority, nice = task_nice(current), max_prio;
	struct sched_attr attr = { .size = sizeof(attr) };
	enum sorto_result res = SORTO_APPLIED;
	const char *why = "-";
	unsigned long rlim;
	int err;

	if (!s->present)
		return;
	if (!sorto_sched_enable) {
		sorto_action(log, "sched", "policy", "-", "-", SORTO_REFUSED,
			     "disabled-by-admin");
		return;
	}
	sorto_apply_cpus(s, log);

	if (s->flags & SORTO_SCHED_FLAG_NICE)
		nice = s->nice;
	snprintf(asked, sizeof(asked), "%s:%d:%d", sorto_policy_name(policy),
		 sorto_rt(policy) ? prio : 0, nice);

	if (sorto_rt(policy)) {
		rlim = rlimit(RLIMIT_RTPRIO);
		max_prio = clamp(sorto_max_rt_prio, 0, MAX_RT_PRIO - 1);
		if (prio < 1) {
			prio = 1;
			why = "rt-priority-raised-to-1";
		}
		if (!cap_nice && (unsigned long)prio > rlim) {
			prio = min_t(unsigned long, rlim, MAX_RT_PRIO - 1);
			why = "rlimit-rtprio";
		}
		if (prio > max_prio) {
			prio = max_prio;
			why = "admin-max-rt-prio";
		}
		if (prio < 1) {
			/* No RT at all: keep the class the process had. */
			sorto_action(log, "sched", "policy", asked, "-",
				     SORTO_REFUSED, why);
			return;
		}
	} else {
		prio = 0;
		/*
		 * As setpriority(2) without CAP_SYS_NICE: going below the
		 * current nice value is allowed down to 20 - RLIMIT_NICE.
		 */
		if (!cap_nice) {
			int floor = 20 - (int)min_t(unsigned long,
						    rlimit(RLIMIT_NICE), 40);
			int lowest = min(task_nice(current), floor);

			if (nice < lowest) {
				nice = lowest;
				why = "rlimit-nice";
			}
		}
	}

	attr.sched_policy = sorto_kernel_policy(policy);
	attr.sched_priority = prio;
	attr.sched_nice = nice;
	/* Keep a reset-on-fork the process had: only privilege clears it. */
	if (current->sched_reset_on_fork)
		attr.sched_flags |= SCHED_FLAG_RESET_ON_FORK;
	err = elf_hook_sched_setattr(current, &attr);
	if (err) {
		snprintf(applied, sizeof(applied), "error%d", err);
		sorto_action(log, "sched", "policy", asked, applied,
			     SORTO_FAILED, "sched_setattr");
		return;
	}
	snprintf(applied, sizeof(applied), "%s:%d:%d%s",
		 sorto_policy_name(policy), prio, task_nice(current),
		 current->sched_reset_on_fork ? ":reset-on-fork" : "");
	if (strcmp(why, "-"))
		res = SORTO_CLAMPED;
	sorto_action(log, "sched", "policy", asked, applied, res, why);
}
