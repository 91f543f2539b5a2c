/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sorto_hook: applying a decoded policy to the process being exec'ed.
 *
 * Every decision is written as one "action" line into the record of the
 * exec (debugfs records), so that what was asked, what was applied, what
 * was clamped and why can be read back per process; see docs/security.md.
 */
#ifndef SORTO_ACT_H
#define SORTO_ACT_H

#include <linux/binfmts.h>
#include <linux/seq_file.h>
#include <linux/mm_types.h>
#include <linux/types.h>

#include "sorto_decode.h"
#include "sorto_kcompat.h"

enum sorto_result {
	SORTO_APPLIED,		/* done as asked */
	SORTO_CLAMPED,		/* done, but less than asked */
	SORTO_REFUSED,		/* not done: not allowed */
	SORTO_FAILED,		/* not done: the kernel said no */
	SORTO_SKIPPED,		/* nothing to do (absent, not threaded...) */
	SORTO_NR_RESULTS
};

/*
 * Room for the actions of a full policy: 32 scratchpad lines of up to 170
 * bytes, plus mlock, sched and irq lines.  Only a policy at every limit at
 * once with the longest names overflows it, and then whole lines are
 * dropped and the record says actions_truncated.  The record (decoded
 * policy included) stays within the kmalloc-16k slab.
 */
#define SORTO_ACTLOG_SIZE	8192
#define SORTO_VAL_MAX		48	/* asked=/applied= values */

/* The action lines of one exec, in the order the decisions were made. */
struct sorto_actlog {
	unsigned int len;
	bool truncated;
	char buf[SORTO_ACTLOG_SIZE];
};

/*
 * What the new program owns, read once past the point of no return: a
 * policy gets nothing beyond it (sorto_trust.c).  For the record; the
 * actions check the same through the system calls' own paths.
 */
struct sorto_privs {
	uid_t uid;			/* real uid, in the initial namespace */
	bool secure;			/* AT_SECURE: setuid, setgid or file caps */
	bool cap_sys_nice;
	bool cap_ipc_lock;
	long rlimit_rtprio;		/* -1: unlimited */
	long rlimit_memlock;		/* bytes; -1: unlimited */
};

/*
 * Administrator limits, module parameters writable by root under
 * /sys/module/sorto_hook/parameters/ (sorto_trust.c).
 */
extern bool sorto_mlock_enable;
extern bool sorto_sched_enable;
extern bool sorto_irq_enable;
extern int sorto_max_rt_prio;
extern unsigned long sorto_max_locked_bytes;
extern unsigned long sorto_max_user_locked_bytes;

/* Append one action line; values must not contain spaces. */
void sorto_action(struct sorto_actlog *log, const char *kind,
		  const char *target, const char *asked, const char *applied,
		  enum sorto_result res, const char *reason);
const char *sorto_result_name(enum sorto_result res);
void sorto_count_result(enum sorto_result res);
u64 sorto_result_count(enum sorto_result res);

void sorto_privs_read(const struct linux_binprm *bprm, struct sorto_privs *pv);
bool sorto_irq_allowed(unsigned int irq, const char *name);

void sorto_apply_mlock(const struct sorto_policy *pol,
		       const struct sorto_privs *pv, struct sorto_actlog *log);
void sorto_apply_sched(const struct sorto_sched *s, struct sorto_actlog *log);
void sorto_apply_irq(const struct sorto_policy *pol,
		     const struct sorto_privs *pv, struct sorto_actlog *log);
void sorto_apply_scratch(const struct sorto_policy *pol,
			 struct sorto_actlog *log);

/* Interrupt deferral state: set up, torn down, and shown in debugfs. */
int sorto_irq_init(void);
void sorto_irq_exit(void);
void sorto_irq_forget_current(void);
void sorto_irq_show(struct seq_file *m);
u64 sorto_irq_restored(void);
u64 sorto_irq_restore_failed(void);
unsigned int sorto_irq_active(void);

/* Keep [A-Za-z0-9_.:+@/-], replace anything else by '?'. */
void sorto_sanitize(char *dst, size_t size, const char *src);

#endif /* SORTO_ACT_H */
