// SPDX-License-Identifier: GPL-2.0-only
/*
 * sorto_hook: the trust model and the administrator's limits.
 *
 * A policy rides in the executable, and anybody can write an executable.
 * Privileged requests (real-time priority, locking beyond the caller's
 * RLIMIT_MEMLOCK, interrupt changes) are therefore honoured only when the
 * file is as trustworthy as a setuid-root binary would have to be: owned
 * by root, writable by nobody else, on a mount that honours setuid, under
 * a path the administrator lists, and not exec'ed under ptrace or with
 * no_new_privs.  Everything else is clamped to what the calling user could
 * do with its own rlimits.  docs/security.md is the user-facing version.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/binfmts.h>
#include <linux/cred.h>
#include <linux/ctype.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/security.h>
#include <linux/slab.h>
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
		 "highest SCHED_FIFO/RR priority a trusted binary gets (0: none; default 49, below the default interrupt threads)");

unsigned long sorto_max_locked_bytes = 32UL << 20;
module_param_named(max_locked_bytes, sorto_max_locked_bytes, ulong, 0644);
MODULE_PARM_DESC(max_locked_bytes,
		 "bytes a trusted binary may lock beyond RLIMIT_MEMLOCK (default 32 MiB)");

#define SORTO_LIST_MAX 256
static char sorto_trusted_paths[SORTO_LIST_MAX] =
	"/bin:/sbin:/usr/bin:/usr/sbin:/usr/libexec:/usr/local/bin";
module_param_string(trusted_paths, sorto_trusted_paths,
		    sizeof(sorto_trusted_paths), 0644);
MODULE_PARM_DESC(trusted_paths,
		 "colon-separated directories whose root-owned binaries are trusted");

static char sorto_irq_allow[SORTO_LIST_MAX];
module_param_string(irq_allow, sorto_irq_allow, sizeof(sorto_irq_allow), 0644);
MODULE_PARM_DESC(irq_allow,
		 "comma-separated interrupt numbers or action names that trusted binaries may defer (default: none)");

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

/* True if @path is @dir or lies below it ("/usr/bin" holds "/usr/bin/x"). */
static bool sorto_under(const char *path, const char *dir, size_t dlen)
{
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	if (dlen == 1 && dir[0] == '/')
		return path[0] == '/';
	return strncmp(path, dir, dlen) == 0 && path[dlen] == '/';
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

static bool sorto_path_allowed(const char *path)
{
	const char *list = sorto_trusted_paths, *dir;
	bool ok = false;
	size_t len;

	kernel_param_lock(THIS_MODULE);
	while (!ok && (dir = sorto_token(&list, ":", &len)))
		ok = dir[0] == '/' && sorto_under(path, dir, len);
	kernel_param_unlock(THIS_MODULE);
	return ok;
}

static const char *sorto_untrusted_reason(struct linux_binprm *bprm)
{
	struct file *file = bprm->file;
	struct inode *inode = file_inode(file);
	const char *why = NULL;
	char *buf, *path;

	if (bprm->unsafe & LSM_UNSAFE_PTRACE)
		return "traced";
	if (bprm->unsafe & LSM_UNSAFE_NO_NEW_PRIVS)
		return "no-new-privs";
	if (bprm->unsafe)
		return "shared-fs-or-files";
	if (current_user_ns() != &init_user_ns)
		return "user-namespace";
	if (!uid_eq(inode->i_uid, GLOBAL_ROOT_UID))
		return "owner-not-root";
	if (inode->i_mode & 0022)	/* group or other may write */
		return "writable-by-group-or-others";
	if (file->f_path.mnt->mnt_flags & MNT_NOSUID)
		return "nosuid-mount";
	if (inode->i_sb->s_user_ns != &init_user_ns)
		return "user-namespace-mount";

	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return "no-memory";
	path = d_path(&file->f_path, buf, PATH_MAX);
	if (IS_ERR(path))
		why = "path-unknown";
	else if (!sorto_path_allowed(path))
		why = "path-not-allowed";
	kfree(buf);
	return why;
}

void sorto_trust_check(struct linux_binprm *bprm, struct sorto_trust *t)
{
	t->why = sorto_untrusted_reason(bprm);
	t->trusted = !t->why;
	if (t->trusted)
		t->why = "-";
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
