// SPDX-License-Identifier: GPL-2.0-only
/*
 * sorto_hook: lock regions of the new image in memory at exec.
 *
 * The regions are found here, from the new mm (start_code/end_code,
 * start_data, start_stack and the VMAs around them); the locking itself is
 * elf_hook_mlock() from the kernel patch series, which is mlock(2) with a
 * limit chosen by this module.  That limit is what mlock(2) would allow the
 * new program (RLIMIT_MEMLOCK, none with CAP_IPC_LOCK), lowered by the
 * administrator: max_locked_bytes per program and max_user_locked_bytes for
 * all processes of the user together.  A request larger than what is left
 * under the limit is clamped, never refused: as much of the region as fits
 * is locked and the record says so.
 *
 * A growing stack is never locked whole: its lowest page stays unlocked, so
 * the mapping that grows is not a locked one and growing never has to fit
 * under RLIMIT_MEMLOCK (a locked stack that cannot grow kills the program
 * with SIGSEGV long after exec).
 *
 * Locked pages stay resident and are never faulted again; that is all
 * mlock means.  It says nothing about CPU caches.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/elf_hook.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/path.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "sorto_act.h"

#define SORTO_MAX_RANGES 16

struct sorto_range {
	unsigned long start, end;
};

/* Does @vma map a file called @name (a base name, or a path with a '/')? */
static bool sorto_vma_named(struct vm_area_struct *vma, const char *name,
			    char *buf)
{
	struct file *file = vma->vm_file;
	struct dentry *dentry;
	bool match;
	char *p;

	if (!file)
		return false;
	if (strchr(name, '/')) {
		p = d_path(&file->f_path, buf, PATH_MAX);
		return !IS_ERR(p) && !strcmp(p, name);
	}
	dentry = file->f_path.dentry;
	spin_lock(&dentry->d_lock);
	match = !strcmp((const char *)dentry->d_name.name, name);
	spin_unlock(&dentry->d_lock);
	return match;
}

/* VMAs that mlock_fixup() would not lock anyway: leave them out. */
static bool sorto_vma_special(struct vm_area_struct *vma)
{
	return vma->vm_flags & (VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_MIXEDMAP);
}

/*
 * The part of @vma that may be locked: all of it, except the page at the
 * growing end of a stack.  Growing a locked mapping must fit under
 * RLIMIT_MEMLOCK (acct_stack_growth()); an unlocked page at the end keeps
 * the growing mapping unlocked.  False when nothing is left.
 */
static bool sorto_lockable(struct vm_area_struct *vma, struct sorto_range *r)
{
	r->start = vma->vm_start;
	r->end = vma->vm_end;
	if (vma->vm_flags & VM_GROWSDOWN)
		r->start += PAGE_SIZE;
	if (vma->vm_flags & VM_GROWSUP)
		r->end -= PAGE_SIZE;
	return r->start < r->end;
}

/*
 * The data and bss of the executable: the mapping holding start_data, the
 * mappings of the same file right after it (a RELRO split), then the
 * anonymous mappings right after those (bss), up to start_brk.
 */
static int sorto_data_range(struct mm_struct *mm, struct sorto_range *r)
{
	struct vm_area_struct *vma, *next;
	unsigned long start = mm->start_data & PAGE_MASK;
	bool anon_seen = false;
	int n;

	vma = find_vma(mm, start);
	if (!vma || vma->vm_start > start || !vma->vm_file)
		return 0;
	r->start = start;
	r->end = vma->vm_end;
	for (n = 0; n < 8; n++) {
		next = find_vma(mm, r->end);
		if (!next || next->vm_start != r->end || sorto_vma_special(next))
			break;
		if (next->vm_file != vma->vm_file && next->vm_file)
			break;
		if (next->vm_file && anon_seen)
			break;
		if (mm->start_brk > start && next->vm_end > mm->start_brk)
			break;
		if (next->vm_start <= mm->start_stack &&
		    mm->start_stack < next->vm_end)
			break;
		anon_seen |= !next->vm_file;
		r->end = next->vm_end;
	}
	return 1;
}

/* Find the ranges of @ml in the new mm; returns how many (at most @max). */
static int sorto_collect(struct mm_struct *mm, const struct sorto_mlock *ml,
			 struct sorto_range *r, int max, char *buf)
{
	struct vm_area_struct *vma;
	struct sorto_range one;
	int n = 0;

	sorto_mmap_read_lock(mm);
	switch (ml->region) {
	case SORTO_REGION_TEXT:
		if (mm->end_code > mm->start_code) {
			r[0].start = mm->start_code & PAGE_MASK;
			r[0].end = PAGE_ALIGN(mm->end_code);
			n = 1;
		}
		break;
	case SORTO_REGION_DATA:
		n = sorto_data_range(mm, &r[0]);
		break;
	case SORTO_REGION_STACK:
		vma = find_vma(mm, mm->start_stack);
		if (vma && vma->vm_start <= mm->start_stack &&
		    sorto_lockable(vma, &r[0]))
			n = 1;
		break;
	case SORTO_REGION_ALL:
	case SORTO_REGION_FILE:
		for (vma = find_vma(mm, 0); vma && n < max;
		     vma = find_vma(mm, vma->vm_end)) {
			if (sorto_vma_special(vma))
				continue;
			if (ml->region == SORTO_REGION_FILE &&
			    !sorto_vma_named(vma, ml->name.s, buf))
				continue;
			if (!sorto_lockable(vma, &one))
				continue;
			/* Adjacent mappings become one range. */
			if (n && r[n - 1].end == one.start) {
				r[n - 1].end = one.end;
				continue;
			}
			r[n++] = one;
		}
		break;
	}
	sorto_mmap_read_unlock(mm);
	return n;
}

/*
 * Lock future mappings (the heap as it grows, libraries loaded later), as
 * mlockall(MCL_FUTURE) does.  Only done where it cannot make a later
 * mmap() or brk() of the program fail: Linux checks every future locked
 * mapping against RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK.
 */
static enum sorto_result sorto_lock_future(struct mm_struct *mm,
					   const struct sorto_privs *pv,
					   const char **why)
{
	if (pv->rlimit_memlock != -1 && !pv->cap_ipc_lock) {
		*why = "future-needs-cap-ipc-lock-or-unlimited-rlimit-memlock";
		return SORTO_REFUSED;
	}
	sorto_mmap_write_lock(mm);
	mm->def_flags |= VM_LOCKED;
	sorto_mmap_write_unlock(mm);
	return SORTO_APPLIED;
}

static void sorto_lock_one(struct mm_struct *mm, const struct sorto_mlock *ml,
			   const struct sorto_privs *pv, unsigned long limit,
			   const char *limit_why, struct sorto_actlog *log,
			   char *buf)
{
	struct sorto_range r[SORTO_MAX_RANGES];
	unsigned long asked = 0, done = 0, cap, room, len, start;
	enum sorto_result res = SORTO_APPLIED;
	char target[SORTO_MAX_NAME + 8], a[SORTO_VAL_MAX], d[SORTO_VAL_MAX];
	const char *why = "-", *fwhy = "-";
	bool future = ml->region == SORTO_REGION_HEAP ||
		      ml->region == SORTO_REGION_ALL;
	int i, n, err;

	if (ml->region == SORTO_REGION_FILE)
		snprintf(target, sizeof(target), "file:%s", ml->name.s);
	else
		snprintf(target, sizeof(target), "%s",
			 sorto_region_name(ml->region));

	n = sorto_collect(mm, ml, r, SORTO_MAX_RANGES, buf);
	/* PAGE_ALIGN() of a size near ULONG_MAX wraps to 0: saturate. */
	if (!ml->max_bytes || ml->max_bytes > (ULONG_MAX & PAGE_MASK))
		cap = ULONG_MAX & PAGE_MASK;
	else
		cap = PAGE_ALIGN(ml->max_bytes);
	for (i = 0; i < n; i++)
		asked += r[i].end - r[i].start;
	asked = min(asked, cap);

	for (i = 0; i < n && done < cap; i++) {
		len = min(r[i].end - r[i].start, cap - done);
		room = ((unsigned long)READ_ONCE(mm->locked_vm)) << PAGE_SHIFT;
		room = limit > room ? (limit - room) & PAGE_MASK : 0;
		if (len > room) {
			len = room;
			why = limit_why;
		}
		if (!len)
			break;
		/* A stack is kept from its top, everything else from its start. */
		start = ml->region == SORTO_REGION_STACK ?
			r[i].end - len : r[i].start;
		err = elf_hook_mlock(start, len, limit);
		if (err) {
			res = SORTO_FAILED;
			snprintf(d, sizeof(d), "error%d", err);
			why = d;
			break;
		}
		done += len;
	}
	if (res != SORTO_FAILED && done < asked)
		res = SORTO_CLAMPED;

	if (future && res != SORTO_FAILED) {
		enum sorto_result fres = sorto_lock_future(mm, pv, &fwhy);

		if (fres != SORTO_APPLIED) {
			/* The heap is empty at exec: future locking is all it asks. */
			if (ml->region == SORTO_REGION_HEAP)
				res = fres;
			else if (res == SORTO_APPLIED)
				res = SORTO_CLAMPED;
			why = fwhy;
		}
	}
	if (!n && !future) {
		res = SORTO_SKIPPED;
		why = ml->region == SORTO_REGION_FILE ? "not-mapped-at-exec" :
							"region-empty";
	}

	snprintf(a, sizeof(a), "%lu", asked);
	if (future)
		snprintf(a, sizeof(a), "%lu+future", asked);
	if (res != SORTO_FAILED) {
		if (future && !strcmp(fwhy, "-"))
			snprintf(d, sizeof(d), "%lu+future", done);
		else
			snprintf(d, sizeof(d), "%lu", done);
	}
	sorto_action(log, "mlock", target, a,
		     res == SORTO_FAILED ? "0" : d, res, why);
}

/*
 * Bytes locked by the other processes of user @uid (their VmLck): the
 * per-user cap counts them, whatever locked them.  A walk of the process
 * list, done only for an exec whose policy locks memory.
 */
static unsigned long sorto_user_locked(kuid_t uid)
{
	unsigned long pages = 0;
	struct task_struct *p;

	rcu_read_lock();
	for_each_process(p) {
		if ((p->flags & PF_KTHREAD) || same_thread_group(p, current) ||
		    !uid_eq(task_uid(p), uid))
			continue;
		task_lock(p);
		if (p->mm)
			pages += READ_ONCE(p->mm->locked_vm);
		task_unlock(p);
	}
	rcu_read_unlock();
	return pages > (ULONG_MAX >> PAGE_SHIFT) ? ULONG_MAX :
						   pages << PAGE_SHIFT;
}

void sorto_apply_mlock(const struct sorto_policy *pol,
		       const struct sorto_privs *pv, struct sorto_actlog *log)
{
	struct mm_struct *mm = current->mm;
	unsigned long limit, mine, others, room;
	const char *limit_why = "rlimit-memlock";
	bool need_path = false;
	char *buf;
	int i;

	if (!pol->n_mlock || !mm)
		return;
	if (!sorto_mlock_enable) {
		for (i = 0; i < pol->n_mlock; i++)
			sorto_action(log, "mlock",
				     sorto_region_name(pol->mlock[i].region),
				     "-", "0", SORTO_REFUSED,
				     "disabled-by-admin");
		return;
	}
	/* What mlock(2) would allow the new program... */
	limit = pv->cap_ipc_lock ? ULONG_MAX : rlimit(RLIMIT_MEMLOCK);
	/* ...lowered by the administrator, per program... */
	if (limit > sorto_max_locked_bytes) {
		limit = sorto_max_locked_bytes;
		limit_why = "admin-max-locked-bytes";
	}
	/* ...and for the user's processes together. */
	others = sorto_user_locked(current_uid());
	mine = READ_ONCE(mm->locked_vm) << PAGE_SHIFT;
	room = sorto_max_user_locked_bytes > others ?
	       sorto_max_user_locked_bytes - others : 0;
	if (room < ULONG_MAX - mine && limit > mine + room) {
		limit = mine + room;
		limit_why = "admin-max-user-locked-bytes";
	}
	/* A path buffer only for file regions named by path (d_path()). */
	for (i = 0; i < pol->n_mlock; i++)
		need_path |= pol->mlock[i].region == SORTO_REGION_FILE &&
			     strchr(pol->mlock[i].name.s, '/');
	buf = need_path ? kmalloc(PATH_MAX, GFP_KERNEL) : NULL;
	if (need_path && !buf) {
		sorto_action(log, "mlock", "-", "-", "0", SORTO_FAILED,
			     "no-memory");
		return;
	}
	for (i = 0; i < pol->n_mlock; i++)
		sorto_lock_one(mm, &pol->mlock[i], pv, limit, limit_why, log,
			       buf);
	kfree(buf);
}
