// SPDX-License-Identifier: GPL-2.0-only
/*
 * sorto_hook: defer the bottom halves of interrupts a program does not
 * need while it runs.
 *
 * With threaded interrupts ("threadirqs" on the command line, or always on
 * PREEMPT_RT) the bottom half of an interrupt runs in a kernel thread named
 * "irq/<number>-<action>", SCHED_FIFO 50 by default.  For every interrupt a
 * program's policy lists (and the administrator allows in irq_allow), its
 * threads are moved below the program while the program runs: SCHED_FIFO
 * one below the program's real-time priority, or SCHED_OTHER nice 19 when
 * the program is not real-time (or at priority 1), and, for "away"
 * entries, off the program's CPUs (within the interrupt's affinity).  The
 * hard interrupt handler is not touched: only the threaded part is
 * deferred.  Only a program that could do this itself gets it: changing
 * the scheduling of another user's task (chrt -p on the thread) needs
 * CAP_SYS_NICE, and the change goes through the checks of
 * sched_setattr(2) (elf_hook_sched_setattr()).
 *
 * The threads' original policy, priority, nice value and CPU mask are
 * saved when the first program takes them and restored when the last
 * one lets go: when it exits (the sched_process_exit tracepoint, handled
 * in a work item, since the tracepoint runs in atomic context; the probe
 * only takes a raw spinlock, which stays a spinning lock on PREEMPT_RT), when it
 * execs another program, or when this module is unloaded.  Overlapping
 * programs get the lowest of their wishes.  Without threaded interrupts
 * there are no such threads: the request is recorded as skipped and
 * nothing is changed.  A kernel without CONFIG_TRACEPOINTS (selected by
 * any tracer) cannot tell the module when a program exits: deferral is
 * then off and every request is refused with "no-exit-tracepoint".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/ctype.h>
#include <linux/elf_hook.h>
#include <linux/irq.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/ratelimit.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/workqueue.h>

#include "sorto_act.h"

#define SORTO_THREADS_PER_IRQ	4
#define SORTO_HOLDER_MAX	(SORTO_MAX_IRQ * SORTO_THREADS_PER_IRQ)

/* One interrupt thread taken by at least one program. */
struct sorto_ithread {
	struct list_head node;
	struct task_struct *task;	/* reference held */
	unsigned int irq;
	char comm[TASK_COMM_LEN];	/* sanitized */
	unsigned int refs;		/* holders using it */
	int saved_policy, saved_prio, saved_nice;
	cpumask_var_t saved_cpus;
};

/* One running program that deferred interrupt threads. */
struct sorto_holder {
	struct list_head node;
	struct pid *tgid;		/* reference held */
	bool dead;			/* set by the exit probe */
	int rt_prio;			/* its RT priority, 0 if not RT */
	cpumask_var_t cpus;		/* its CPUs after exec */
	unsigned int n;
	struct sorto_ithread *threads[SORTO_HOLDER_MAX];
	bool away[SORTO_HOLDER_MAX];
};

/* Candidate thread found by name, before it is taken. */
struct sorto_found {
	struct task_struct *task;
	unsigned int irq;
	char comm[TASK_COMM_LEN];
	const char *action;		/* points into comm */
};

static DEFINE_MUTEX(sorto_irq_lock);		/* lists, holders, threads */
static DEFINE_RAW_SPINLOCK(sorto_holders_lock);	/* holder list vs exit probe */
static LIST_HEAD(sorto_holders);
static LIST_HEAD(sorto_ithreads);
static atomic_t sorto_nholders = ATOMIC_INIT(0);
static atomic64_t sorto_restored_count = ATOMIC64_INIT(0);
static atomic64_t sorto_restore_failed_count = ATOMIC64_INIT(0);
static unsigned int sorto_nthreads;
static struct tracepoint *sorto_exit_tp;

static void sorto_release_work_fn(struct work_struct *work);
static DECLARE_WORK(sorto_release_work, sorto_release_work_fn);

/*
 * Move interrupt thread @p.  @checked: on behalf of the program being
 * exec'ed, through the checks of sched_setattr(2) (its credentials decide);
 * otherwise a change back towards what was saved, which needs no privilege.
 * The CPUs change only when the scheduling change went through.
 */
static int sorto_set_task(struct task_struct *p, int policy, int prio,
			  int nice, const struct cpumask *mask, bool checked)
{
	struct sched_attr attr = {
		.size = sizeof(attr),
		.sched_policy = policy,
		.sched_priority = prio,
		.sched_nice = nice,
	};
	int err;

	if (checked)
		err = elf_hook_sched_setattr(p, &attr);
	else
		err = sorto_sched_set(p, policy, prio, nice, false);
	if (err)
		return err;
	/* A real-time class keeps the nice value: set it for the way back. */
	set_user_nice(p, nice);
	return set_cpus_allowed_ptr(p, mask);
}

/*
 * "irq/<n>-<action>" or "irq/<n>-s-<action>" (a secondary thread): return
 * the action part and set *irq, or NULL for any other name.
 */
static const char *sorto_irq_comm(const char *comm, unsigned int *irq)
{
	const char *p = comm + 4;
	unsigned int n = 0;

	if (strncmp(comm, "irq/", 4) || !isdigit(*p))
		return NULL;
	for (; isdigit(*p); p++) {
		if (n > 100000000)
			return NULL;
		n = n * 10 + (*p - '0');
	}
	if (*p != '-')
		return NULL;
	p++;
	if (!strncmp(p, "s-", 2))
		p += 2;
	*irq = n;
	return p;
}

/* Thread names are cut to TASK_COMM_LEN - 1: a full one may be a prefix. */
static bool sorto_action_matches(const char *comm, const char *action,
				 const char *want)
{
	size_t len = strlen(action);

	if (!strcmp(action, want))
		return true;
	return strlen(comm) == TASK_COMM_LEN - 1 && len &&
	       !strncmp(action, want, len);
}

static int sorto_find_threads(const struct sorto_irq *q,
			      struct sorto_found *out, int max)
{
	struct task_struct *p;
	const char *action;
	unsigned int irq;
	int n = 0;

	rcu_read_lock();
	for_each_process(p) {
		char comm[TASK_COMM_LEN];
		bool match;

		/* User space can name itself "irq/..."; kernel threads only. */
		if (!(p->flags & PF_KTHREAD) || n >= max)
			continue;
		strscpy(comm, p->comm, sizeof(comm));
		action = sorto_irq_comm(comm, &irq);
		if (!action)
			continue;
		if (q->selector == SORTO_IRQ_BY_NUMBER)
			match = irq == q->irq;
		else
			match = sorto_action_matches(comm, action, q->name.s);
		if (!match)
			continue;
		get_task_struct(p);
		out[n].task = p;
		out[n].irq = irq;
		memcpy(out[n].comm, comm, sizeof(comm));
		out[n].action = out[n].comm + (action - comm);
		n++;
	}
	rcu_read_unlock();
	return n;
}

static struct sorto_ithread *sorto_take_thread(struct sorto_found *f)
{
	struct sorto_ithread *it;

	list_for_each_entry(it, &sorto_ithreads, node)
		if (it->task == f->task) {
			put_task_struct(f->task);
			it->refs++;
			return it;
		}
	it = kzalloc(sizeof(*it), GFP_KERNEL);
	if (!it)
		goto fail;
	if (!alloc_cpumask_var(&it->saved_cpus, GFP_KERNEL)) {
		kfree(it);
		goto fail;
	}
	it->task = f->task;
	it->irq = f->irq;
	sorto_sanitize(it->comm, sizeof(it->comm), f->comm);
	it->saved_policy = f->task->policy;
	it->saved_prio = f->task->rt_priority;
	it->saved_nice = task_nice(f->task);
	cpumask_copy(it->saved_cpus, sorto_task_cpus(f->task));
	it->refs = 1;
	list_add_tail(&it->node, &sorto_ithreads);
	sorto_nthreads++;
	return it;
fail:
	put_task_struct(f->task);
	return NULL;
}

/*
 * What @it should be now: below every holder, away from their CPUs.
 * @checked as for sorto_set_task().
 */
static int sorto_retarget(struct sorto_ithread *it, char *desc, size_t size,
			  bool checked)
{
	const struct cpumask *aff;
	struct sorto_holder *h;
	cpumask_var_t mask, away;
	int lowest = INT_MAX, policy, prio, nice, err;
	bool any_away = false;
	unsigned int i;

	if (!zalloc_cpumask_var(&away, GFP_KERNEL))
		return -ENOMEM;
	if (!alloc_cpumask_var(&mask, GFP_KERNEL)) {
		free_cpumask_var(away);
		return -ENOMEM;
	}
	list_for_each_entry(h, &sorto_holders, node)
		for (i = 0; i < h->n; i++) {
			if (h->threads[i] != it)
				continue;
			lowest = min(lowest, h->rt_prio);
			if (h->away[i]) {
				any_away = true;
				cpumask_or(away, away, h->cpus);
			}
		}
	if (lowest != INT_MAX && lowest >= 2) {
		policy = SCHED_FIFO;
		prio = lowest - 1;
		nice = 0;
	} else {
		policy = SCHED_NORMAL;
		prio = 0;
		nice = 19;
	}
	cpumask_copy(mask, it->saved_cpus);
	if (any_away) {
		/*
		 * Away within the interrupt's own affinity (its smp_affinity,
		 * which the administrator sets to keep interrupts off
		 * isolated CPUs), never onto CPUs it excludes.
		 */
		aff = irq_get_affinity_mask(it->irq);
		cpumask_andnot(mask, aff ? aff : cpu_online_mask, away);
		cpumask_and(mask, mask, cpu_online_mask);
		/* Nowhere else to go: stay where it was. */
		if (cpumask_empty(mask))
			cpumask_copy(mask, it->saved_cpus);
	}
	err = sorto_set_task(it->task, policy, prio, nice, mask, checked);
	if (desc)
		snprintf(desc, size, "%s:%s:%d:%d@%*pbl", it->comm,
			 policy == SCHED_FIFO ? "fifo" : "other", prio, nice,
			 cpumask_pr_args(mask));
	free_cpumask_var(mask);
	free_cpumask_var(away);
	return err;
}

/*
 * Put @it back as it was.  A saved CPU set that went offline meanwhile
 * falls back to the online CPUs, where the scheduler would have moved the
 * thread anyway.  Failures are counted and logged: the thread may be left
 * deferred, and the administrator has to know.
 */
static void sorto_restore(struct sorto_ithread *it)
{
	cpumask_var_t mask;
	int err;

	if (!alloc_cpumask_var(&mask, GFP_KERNEL)) {
		err = -ENOMEM;
		goto fail;
	}
	cpumask_and(mask, it->saved_cpus, cpu_online_mask);
	if (cpumask_empty(mask))
		cpumask_copy(mask, cpu_online_mask);
	err = sorto_set_task(it->task, it->saved_policy, it->saved_prio,
			     it->saved_nice, mask, false);
	free_cpumask_var(mask);
	if (!err) {
		atomic64_inc(&sorto_restored_count);
		return;
	}
fail:
	atomic64_inc(&sorto_restore_failed_count);
	pr_warn_ratelimited("cannot restore interrupt thread pid %d (%s): %d\n",
			    task_pid_nr(it->task), it->comm, err);
}

static void sorto_put_thread(struct sorto_ithread *it)
{
	if (--it->refs) {
		sorto_retarget(it, NULL, 0, false);
		return;
	}
	sorto_restore(it);
	list_del(&it->node);
	sorto_nthreads--;
	put_task_struct(it->task);
	free_cpumask_var(it->saved_cpus);
	kfree(it);
}

/* Called with sorto_irq_lock held. */
static void sorto_release(struct sorto_holder *h)
{
	unsigned int i;

	raw_spin_lock(&sorto_holders_lock);
	list_del(&h->node);
	raw_spin_unlock(&sorto_holders_lock);
	atomic_dec(&sorto_nholders);
	for (i = 0; i < h->n; i++)
		sorto_put_thread(h->threads[i]);
	put_pid(h->tgid);
	free_cpumask_var(h->cpus);
	kfree(h);
}

static void sorto_release_work_fn(struct work_struct *work)
{
	struct sorto_holder *h, *tmp;

	mutex_lock(&sorto_irq_lock);
	list_for_each_entry_safe(h, tmp, &sorto_holders, node)
		if (READ_ONCE(h->dead))
			sorto_release(h);
	mutex_unlock(&sorto_irq_lock);
}

/* Runs for every exiting task, in atomic context: mark, do not sleep. */
static void sorto_exit_probe(void *data, struct task_struct *p)
{
	struct sorto_holder *h;
	bool found = false;

	if (!atomic_read(&sorto_nholders) || atomic_read(&p->signal->live))
		return;
	raw_spin_lock(&sorto_holders_lock);
	list_for_each_entry(h, &sorto_holders, node)
		if (h->tgid == task_tgid(p)) {
			WRITE_ONCE(h->dead, true);
			found = true;
		}
	raw_spin_unlock(&sorto_holders_lock);
	if (found)
		schedule_work(&sorto_release_work);
}

/* A new exec ends whatever the process's previous program had deferred. */
void sorto_irq_forget_current(void)
{
	struct pid *tgid = task_tgid(current);
	struct sorto_holder *h, *tmp;

	if (!atomic_read(&sorto_nholders))
		return;
	mutex_lock(&sorto_irq_lock);
	list_for_each_entry_safe(h, tmp, &sorto_holders, node)
		if (h->tgid == tgid)
			sorto_release(h);
	mutex_unlock(&sorto_irq_lock);
}

static void sorto_irq_target(const struct sorto_irq *q, char *buf, size_t size)
{
	if (q->selector == SORTO_IRQ_BY_NUMBER)
		snprintf(buf, size, "%u", q->irq);
	else
		snprintf(buf, size, "%s", q->name.s);
}

/* Take the allowed threads of @q into @h; log each decision. */
static void sorto_take_entry(struct sorto_holder *h, const struct sorto_irq *q,
			     struct sorto_actlog *log)
{
	struct sorto_found found[SORTO_THREADS_PER_IRQ];
	char target[SORTO_MAX_NAME + 1], asked[SORTO_VAL_MAX];
	bool away = q->flags & SORTO_IRQ_FLAG_AWAY;
	struct sorto_ithread *it;
	unsigned int j;
	int i, n;

	sorto_irq_target(q, target, sizeof(target));
	snprintf(asked, sizeof(asked), "defer%s", away ? "+away" : "");
	n = sorto_find_threads(q, found, ARRAY_SIZE(found));
	if (!n) {
		sorto_action(log, "irq", target, asked, "-", SORTO_SKIPPED,
			     "no-irq-thread-need-threadirqs");
		return;
	}
	for (i = 0; i < n; i++) {
		if (!sorto_irq_allowed(found[i].irq, found[i].action)) {
			sorto_action(log, "irq", target, asked, "-",
				     SORTO_REFUSED, "not-in-irq_allow");
			put_task_struct(found[i].task);
			continue;
		}
		for (j = 0; j < h->n; j++)
			if (h->threads[j]->task == found[i].task)
				break;
		if (j < h->n) {		/* listed twice: one reference */
			h->away[j] |= away;
			put_task_struct(found[i].task);
			continue;
		}
		if (h->n >= SORTO_HOLDER_MAX) {
			put_task_struct(found[i].task);
			continue;
		}
		it = sorto_take_thread(&found[i]);
		if (!it) {
			sorto_action(log, "irq", target, asked, "-",
				     SORTO_FAILED, "no-memory");
			continue;
		}
		h->threads[h->n] = it;
		h->away[h->n] = away;
		h->n++;
	}
}

void sorto_apply_irq(const struct sorto_policy *pol,
		     const struct sorto_privs *pv, struct sorto_actlog *log)
{
	char target[SORTO_MAX_NAME + 1], desc[SORTO_VAL_MAX];
	struct sorto_holder *h;
	const char *why = NULL;
	unsigned int i;
	int err;

	if (!pol->n_irq)
		return;
	if (!sorto_irq_enable)
		why = "disabled-by-admin";
	else if (!pv->cap_sys_nice)
		why = "needs-cap-sys-nice";
	else if (!sorto_exit_tp)
		why = "no-exit-tracepoint";
	if (why) {
		for (i = 0; i < pol->n_irq; i++) {
			sorto_irq_target(&pol->irq[i], target, sizeof(target));
			sorto_action(log, "irq", target, "defer", "-",
				     SORTO_REFUSED, why);
		}
		return;
	}

	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h || !alloc_cpumask_var(&h->cpus, GFP_KERNEL)) {
		kfree(h);
		sorto_action(log, "irq", "-", "defer", "-", SORTO_FAILED,
			     "no-memory");
		return;
	}
	h->tgid = get_pid(task_tgid(current));
	h->rt_prio = current->policy == SCHED_FIFO || current->policy == SCHED_RR ?
		      current->rt_priority : 0;
	cpumask_copy(h->cpus, sorto_task_cpus(current));

	mutex_lock(&sorto_irq_lock);
	for (i = 0; i < pol->n_irq; i++)
		sorto_take_entry(h, &pol->irq[i], log);
	if (!h->n) {
		mutex_unlock(&sorto_irq_lock);
		put_pid(h->tgid);
		free_cpumask_var(h->cpus);
		kfree(h);
		return;
	}
	raw_spin_lock(&sorto_holders_lock);
	list_add_tail(&h->node, &sorto_holders);
	raw_spin_unlock(&sorto_holders_lock);
	atomic_inc(&sorto_nholders);
	for (i = 0; i < h->n; i++) {
		err = sorto_retarget(h->threads[i], desc, sizeof(desc), true);
		snprintf(target, sizeof(target), "%u", h->threads[i]->irq);
		sorto_action(log, "irq", target,
			     h->away[i] ? "defer+away" : "defer",
			     err ? "-" : desc,
			     err ? SORTO_FAILED : SORTO_APPLIED,
			     err ? "setscheduler" : "-");
	}
	mutex_unlock(&sorto_irq_lock);
}

void sorto_irq_show(struct seq_file *m)
{
	struct sorto_ithread *it;
	struct sorto_holder *h;

	mutex_lock(&sorto_irq_lock);
	list_for_each_entry(it, &sorto_ithreads, node)
		seq_printf(m, "thread pid=%d comm=%s irq=%u refs=%u saved=%d:%d:%d saved_cpus=%*pbl\n",
			   task_pid_nr(it->task), it->comm, it->irq, it->refs,
			   it->saved_policy, it->saved_prio, it->saved_nice,
			   cpumask_pr_args(it->saved_cpus));
	list_for_each_entry(h, &sorto_holders, node)
		seq_printf(m, "holder tgid=%d rt_prio=%d threads=%u dead=%d cpus=%*pbl\n",
			   pid_nr(h->tgid), h->rt_prio, h->n,
			   READ_ONCE(h->dead) ? 1 : 0, cpumask_pr_args(h->cpus));
	mutex_unlock(&sorto_irq_lock);
}

u64 sorto_irq_restored(void)
{
	return atomic64_read(&sorto_restored_count);
}

u64 sorto_irq_restore_failed(void)
{
	return atomic64_read(&sorto_restore_failed_count);
}

unsigned int sorto_irq_active(void)
{
	return READ_ONCE(sorto_nthreads);
}

static void sorto_find_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_process_exit"))
		*(struct tracepoint **)priv = tp;
}

int sorto_irq_init(void)
{
	struct tracepoint *tp = NULL;
	int err;

	/*
	 * Without tracepoints the kernel exports no tracepoint API: the
	 * constant condition drops every call to it, so the module still
	 * links and loads, with interrupt deferral off.
	 */
	if (!IS_ENABLED(CONFIG_TRACEPOINTS)) {
		pr_warn("kernel without CONFIG_TRACEPOINTS: interrupt deferral off\n");
		return 0;
	}
	for_each_kernel_tracepoint(sorto_find_tp, &tp);
	if (!tp) {
		pr_warn("no sched_process_exit tracepoint: interrupt deferral off\n");
		return 0;
	}
	err = tracepoint_probe_register(tp, sorto_exit_probe, NULL);
	if (err) {
		pr_warn("cannot watch process exits (%d): interrupt deferral off\n",
			err);
		return 0;
	}
	sorto_exit_tp = tp;
	return 0;
}

void sorto_irq_exit(void)
{
	struct sorto_holder *h, *tmp;
	int err;

	if (IS_ENABLED(CONFIG_TRACEPOINTS) && sorto_exit_tp) {
		err = tracepoint_probe_unregister(sorto_exit_tp,
						  sorto_exit_probe, NULL);
		if (err)
			pr_warn("cannot stop watching process exits (%d)\n",
				err);
		tracepoint_synchronize_unregister();
	}
	cancel_work_sync(&sorto_release_work);
	mutex_lock(&sorto_irq_lock);
	list_for_each_entry_safe(h, tmp, &sorto_holders, node)
		sorto_release(h);
	mutex_unlock(&sorto_irq_lock);
}
