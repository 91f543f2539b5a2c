/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sorto_hook: the kernel interfaces that differ between the series the
 * module is built for (4.14, 6.1, 6.12), in one place.  Everything else in
 * the module is written for all of them.
 */
#ifndef SORTO_KCOMPAT_H
#define SORTO_KCOMPAT_H

#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/version.h>
#include <uapi/linux/sched/types.h>	/* struct sched_param, sched_attr */

#if KERNEL_VERSION(5, 8, 0) > LINUX_VERSION_CODE
/* mmap_lock wrappers arrived in 5.8. */
#define sorto_mmap_read_lock(mm)	down_read(&(mm)->mmap_sem)
#define sorto_mmap_read_unlock(mm)	up_read(&(mm)->mmap_sem)
#define sorto_mmap_write_lock(mm)	down_write(&(mm)->mmap_sem)
#define sorto_mmap_write_unlock(mm)	up_write(&(mm)->mmap_sem)
#else
#define sorto_mmap_read_lock(mm)	mmap_read_lock(mm)
#define sorto_mmap_read_unlock(mm)	mmap_read_unlock(mm)
#define sorto_mmap_write_lock(mm)	mmap_write_lock(mm)
#define sorto_mmap_write_unlock(mm)	mmap_write_unlock(mm)
#endif

#if KERNEL_VERSION(5, 3, 0) > LINUX_VERSION_CODE
#define sorto_task_cpus(p)	(&(p)->cpus_allowed)
#else
#define sorto_task_cpus(p)	((p)->cpus_ptr)
#endif

#if KERNEL_VERSION(5, 9, 0) > LINUX_VERSION_CODE
/*
 * Up to 5.8, sched_setscheduler_nocheck() is exported and
 * sched_setattr_nocheck() is not (4.14 does not have it at all).
 */
static inline int sorto_sched_set(struct task_struct *p, int policy, int prio,
				  int nice, bool reset_on_fork)
{
	struct sched_param sp = { .sched_priority = prio };
	int err;

	err = sched_setscheduler_nocheck(p, policy |
					 (reset_on_fork ? SCHED_RESET_ON_FORK : 0),
					 &sp);
	if (!err && policy != SCHED_FIFO && policy != SCHED_RR)
		set_user_nice(p, nice);
	return err;
}
#else
/* 5.9 unexported sched_setscheduler*(); sched_setattr_nocheck() stays. */
static inline int sorto_sched_set(struct task_struct *p, int policy, int prio,
				  int nice, bool reset_on_fork)
{
	struct sched_attr attr = {
		.size = sizeof(attr),
		.sched_policy = policy,
		.sched_priority = prio,
		.sched_nice = nice,
		.sched_flags = reset_on_fork ? SCHED_FLAG_RESET_ON_FORK : 0,
	};

	return sched_setattr_nocheck(p, &attr);
}
#endif

/*
 * Whether current, already running with the new program's credentials,
 * has @cap, without an audit record for a refusal.  4.14 does not export
 * has_capability_noaudit(); ns_capable_noaudit() checks the same
 * credentials but also marks the task PF_SUPERPRIV when the answer is yes.
 */
#if KERNEL_VERSION(6, 1, 0) > LINUX_VERSION_CODE
#define sorto_capable(cap)	ns_capable_noaudit(&init_user_ns, (cap))
#else
#define sorto_capable(cap)	has_capability_noaudit(current, (cap))
#endif

#endif /* SORTO_KCOMPAT_H */
