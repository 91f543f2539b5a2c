// SPDX-License-Identifier: GPL-2.0-only
/*
 * sorto_hook: scheduling class, priority, nice value and CPU affinity of
 * the new program, set at exec.
 *
 * Real-time classes and a nice value below what RLIMIT_NICE allows are
 * privileged.  A trusted binary (see sorto_trust.c) gets them, with the
 * real-time priority capped at max_rt_prio and SCHED_RESET_ON_FORK set, so
 * children do not inherit a priority their user could not set.  Any other
 * binary gets exactly what its user could ask for with its own rlimits
 * (RLIMIT_RTPRIO, RLIMIT_NICE): capabilities of the caller are deliberately
 * not used, since the request comes from the file, not from the caller.
 * Affinity is clamped to CPUs that exist, are online and are allowed by the
 * process's cpuset.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "sorto_act.h"

static bool sorto_rt(unsigned int policy)
{
	return policy == SORTO_POLICY_FIFO || policy == SORTO_POLICY_RR;
}

static void sorto_apply_cpus(const struct sorto_sched *s,
			     struct sorto_actlog *log)
{
	char asked[SORTO_VAL_MAX], applied[SORTO_VAL_MAX];
	cpumask_var_t want, mask;
	enum sorto_result res = SORTO_APPLIED;
	const char *why = "-";
	unsigned int cpu, nbits = s->ncpu_bytes * 8;
	bool absent = false;
	int err;

	if (!s->ncpu_bytes)
		return;
	if (!zalloc_cpumask_var(&want, GFP_KERNEL))
		return;
	if (!zalloc_cpumask_var(&mask, GFP_KERNEL)) {
		free_cpumask_var(want);
		return;
	}
	for (cpu = 0; cpu < nbits; cpu++) {
		if (!(s->cpus[cpu / 8] & (1U << (cpu % 8))))
			continue;
		if (cpu < nr_cpu_ids)
			cpumask_set_cpu(cpu, want);
		else
			absent = true;
	}
	cpumask_and(mask, want, cpu_online_mask);
	cpumask_and(mask, mask, sorto_task_cpus(current));
	if (absent || !cpumask_equal(mask, want))
		why = "cpu-absent-offline-or-outside-cpuset";
	snprintf(asked, sizeof(asked), "%*pbl", nbits, s->cpus);
	if (cpumask_empty(mask)) {
		res = SORTO_REFUSED;
		why = "no-usable-cpu";
		snprintf(applied, sizeof(applied), "-");
	} else {
		err = set_cpus_allowed_ptr(current, mask);
		if (err) {
			res = SORTO_FAILED;
			snprintf(applied, sizeof(applied), "error%d", err);
		} else {
			if (strcmp(why, "-"))
				res = SORTO_CLAMPED;
			snprintf(applied, sizeof(applied), "%*pbl",
				 cpumask_pr_args(mask));
		}
	}
	sorto_action(log, "sched", "cpus", asked, applied, res, why);
	free_cpumask_var(mask);
	free_cpumask_var(want);
}

void sorto_apply_sched(const struct sorto_sched *s,
		       const struct sorto_trust *t, struct sorto_actlog *log)
{
	char asked[SORTO_VAL_MAX], applied[SORTO_VAL_MAX];
	unsigned int policy = s->policy;
	int prio = s->priority, nice = task_nice(current), max_prio;
	unsigned long rlim;
	enum sorto_result res = SORTO_APPLIED;
	const char *why = "-";
	bool reset = false;
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
		if (prio < 1) {
			prio = 1;
			why = "rt-priority-raised-to-1";
		}
		if (t->trusted) {
			max_prio = clamp(sorto_max_rt_prio, 0, 99);
			if (prio > max_prio) {
				prio = max_prio;
				why = "admin-max-rt-prio";
			}
			/* Children get SCHED_OTHER unless the user could do more. */
			reset = (unsigned long)prio > rlim;
		} else if ((unsigned long)prio > rlim) {
			prio = min_t(unsigned long, rlim, 99);
			why = "untrusted-rlimit-rtprio";
		}
		if (prio < 1) {
			/* No RT at all: keep the class the process had. */
			sorto_action(log, "sched", "policy", asked, "-",
				     SORTO_REFUSED, t->trusted ?
				     "admin-max-rt-prio-0" : "untrusted");
			return;
		}
	} else {
		prio = 0;
	}

	if (!sorto_rt(policy) && !t->trusted) {
		/*
		 * As setpriority(2) without CAP_SYS_NICE: going below the
		 * current nice value is allowed down to 20 - RLIMIT_NICE.
		 */
		int floor = 20 - (int)min_t(unsigned long,
					    rlimit(RLIMIT_NICE), 40);
		int lowest = min(task_nice(current), floor);

		if (nice < lowest) {
			nice = lowest;
			why = "untrusted-rlimit-nice";
		}
	}

	err = sorto_sched_set(current, policy, prio, nice, reset);
	if (err) {
		snprintf(applied, sizeof(applied), "error%d", err);
		sorto_action(log, "sched", "policy", asked, applied,
			     SORTO_FAILED, "setscheduler");
		return;
	}
	snprintf(applied, sizeof(applied), "%s:%d:%d%s",
		 sorto_policy_name(policy), prio, task_nice(current),
		 reset ? ":reset-on-fork" : "");
	if (strcmp(why, "-"))
		res = SORTO_CLAMPED;
	sorto_action(log, "sched", "policy", asked, applied, res, why);
}
