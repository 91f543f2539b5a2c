// SPDX-License-Identifier: GPL-2.0-only
/*
 * sorto_hook: what a policy may ask for, and the administrator's limits.
 *
 * A policy rides in the executable, and whoever runs an executable that is
 * not a secure exec controls its code (LD_PRELOAD, ptrace, signals).  So a
 * policy never grants anything: each request is what the new program could
 * have done for itself with the matching system call at its first
 * instruction, checked against the new program's credentials and rlimits
 * (sorto_privs_read() below; the actions in sorto_mlock.c, sorto_sched.c
 * and sorto_irq.c).  The administrator's parameters below only ever lower
 * that.  docs/security.md is the user-facing version.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/binfmts.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>

#include "sorto_act.h"

bool sorto_mlock_enable = true;
module_param_named(mlock, sorto_mlock_enable, bool, 0644);
MODULE_PARM_DESC(mlock, "apply mlock requests (default Y)");

bool sorto_sched_enable = true;
module_param_named(sched, sorto_sched_enable, bool, 0644);
MODULE_PARM_DESC(sched, "apply scheduling requests (default Y)");

bool sorto_irq_enable = true;
module_param_named(irq, sorto_irq_enable, bool, 0644);
MODULE_PARM_DESC(irq, "apply interrupt deferral requests (default Y; see irq_allow)");

int sorto_max_rt_prio = 49;
module_param_named(max_rt_prio, sorto_max_rt_prio, int, 0644);
MODULE_PARM_DESC(max_rt_prio,
		 "highest SCHED_FIFO/RR priority any policy gets (0: none; default 49, below the default interrupt threads)");

unsigned long sorto_max_locked_bytes = 32UL << 20;
module_param_named(max_locked_bytes, sorto_max_locked_bytes, ulong, 0644);
MODULE_PARM_DESC(max_locked_bytes,
		 "most bytes one program may have locked through its policy (default 32 MiB)");

unsigned long sorto_max_user_locked_bytes = 64UL << 20;
module_param_named(max_user_locked_bytes, sorto_max_user_locked_bytes, ulong,
		   0644);
MODULE_PARM_DESC(max_user_locked_bytes,
		 "most bytes all processes of one user may have locked when a policy locks more (default 64 MiB)");

#define SORTO_LIST_MAX 256
static char sorto_irq_allow[SORTO_LIST_MAX];
module_param_string(irq_allow, sorto_irq_allow, sizeof(sorto_irq_allow), 0644);
MODULE_PARM_DESC(irq_allow,
		 "comma-separated interrupt numbers or action names a policy may defer (default: none)");

static atomic64_t sorto_results[SORTO_NR_RESULTS];

static const char * const sorto_result_names[SORTO_NR_RESULTS] = {
	[SORTO_APPLIED] = "applied",
	[SORTO_CLAMPED] = "clamped",
	[SORTO_REFUSED] = "refused",
	[SORTO_FAILED] = "failed",
	[SORTO_SKIPPED] = "skipped",
};

const char *sorto_result_name(enum sorto_result res)
{
	return res < SORTO_NR_RESULTS ? sorto_result_names[res] : "?";
}

void sorto_count_result(enum sorto_result res)
{
	if (res < SORTO_NR_RESULTS)
		atomic64_inc(&sorto_results[res]);
}

u64 sorto_result_count(enum sorto_result res)
{
	return res < SORTO_NR_RESULTS ? atomic64_read(&sorto_results[res]) : 0;
}

void sorto_sanitize(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src && src[i]; i++)
		dst[i] = sorto_name_char((unsigned char)src[i]) ? src[i] : '?';
	dst[i] = '\0';
}

void sorto_action(struct sorto_actlog *log, const char *kind,
		  const char *target, const char *asked, const char *applied,
		  enum sorto_result res, const char *reason)
{
	char line[256];
	int n;

	sorto_count_result(res);
	n = snprintf(line, sizeof(line),
		     " action kind=%s target=%s asked=%s applied=%s result=%s reason=%s\n",
		     kind, target, asked, applied, sorto_result_name(res),
		     reason);
	/* Whole lines only: a reader never sees half an action. */
	if (n < 0 || n >= sizeof(line) ||
	    log->len + n >= sizeof(log->buf)) {
		log->truncated = true;
		return;
	}
	memcpy(log->buf + log->len, line, n);
	log->len += n;
	log->buf[log->len] = '\0';
}

/*
 * Next token of the list at *@p, separated by any of @seps or white space
 * (a value written with echo ends in a newline); NULL at the end.
 */
static const char *sorto_token(const char **p, const char *seps, size_t *len)
{
	const char *s = *p, *start;

	while (*s && (strchr(seps, *s) || isspace(*s)))
		s++;
	if (!*s)
		return NULL;
	start = s;
	while (*s && !strchr(seps, *s) && !isspace(*s))
		s++;
	*len = s - start;
	*p = s;
	return start;
}

static long sorto_rlimit_show(unsigned int res)
{
	unsigned long v = rlimit(res);

	return v == RLIM_INFINITY ? -1 : (long)min_t(unsigned long, v, LONG_MAX);
}

void sorto_privs_read(const struct linux_binprm *bprm, struct sorto_privs *pv)
{
	/*
	 * Past the point of no return: current's credentials are the new
	 * program's, with whatever a setuid or file-capability binary was
	 * granted, and without it when the exec was traced or under
	 * no_new_privs (the exec code decided that, not this module).
	 */
	pv->uid = from_kuid_munged(&init_user_ns, current_uid());
	pv->secure = bprm->secureexec;
	pv->cap_sys_nice = sorto_capable(CAP_SYS_NICE);
	pv->cap_ipc_lock = sorto_capable(CAP_IPC_LOCK);
	pv->rlimit_rtprio = sorto_rlimit_show(RLIMIT_RTPRIO);
	pv->rlimit_memlock = sorto_rlimit_show(RLIMIT_MEMLOCK);
}

/* Is interrupt @irq, whose action is called @name, in irq_allow? */
bool sorto_irq_allowed(unsigned int irq, const char *name)
{
	const char *list = sorto_irq_allow, *tok;
	size_t nlen = strlen(name), len;
	bool ok = false;
	char num[12];

	snprintf(num, sizeof(num), "%u", irq);
	kernel_param_lock(THIS_MODULE);
	while (!ok && (tok = sorto_token(&list, ",", &len)))
		ok = (len == strlen(num) && !strncmp(tok, num, len)) ||
		     (nlen && len == nlen && !strncmp(tok, name, len));
	kernel_param_unlock(THIS_MODULE);
	return ok;
}
