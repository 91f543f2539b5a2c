// SPDX-License-Identifier: GPL-2.0-only
/*
 * sorto_hook: reads the meta-sorto metadata record that the kernel's ELF
 * hook (include/linux/elf_hook.h) finds in section .elf_hook_module_data
 * at exec, decodes and validates it, counts, and keeps the last
 * SORTO_RING_SIZE decoded records for inspection under debugfs:
 *
 *   /sys/kernel/debug/sorto_hook/stats    counters, one "key value" a line
 *   /sys/kernel/debug/sorto_hook/records  the ring, oldest first
 *   /sys/kernel/debug/sorto_hook/clear    write 1 to empty the ring
 *
 *   /sys/kernel/debug/sorto_hook/deferred interrupt threads deferred now
 *
 * A record that decodes is then applied to the new process: memory
 * locking (sorto_mlock.c), scheduling (sorto_sched.c) and interrupt
 * deferral (sorto_irq.c), each decision checked against what the new
 * program owns and the administrator's limits (sorto_trust.c) and
 * written into the record as an "action" line.  Scratchpad entries are
 * only reported: whether each function runs from SRAM (sorto_scratch.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/binfmts.h>
#include <linux/debugfs.h>
#include <linux/elf_hook.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/printk.h>
#include <linux/ratelimit.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include "sorto_act.h"
#include "sorto_decode.h"

#define SORTO_RING_SIZE	32
#define SORTO_FILE_MAX	127

struct sorto_rec {
	u64 seq;
	pid_t pid;
	int err;			/* 0 or -SORTO_E_* */
	size_t len;			/* size of the record in the ELF */
	char comm[TASK_COMM_LEN];	/* sanitized */
	char file[SORTO_FILE_MAX + 1];	/* sanitized, truncated */
	struct sorto_policy pol;	/* valid when err == 0 */
	struct sorto_privs privs;	/* when err == 0 */
	struct sorto_actlog acts;	/* what was applied, when err == 0 */
};

static atomic64_t sorto_execs_seen = ATOMIC64_INIT(0);
static atomic64_t sorto_with_metadata = ATOMIC64_INIT(0);
static atomic64_t sorto_no_section = ATOMIC64_INIT(0);
static atomic64_t sorto_kernel_rejected = ATOMIC64_INIT(0);
static atomic64_t sorto_decode_rejected = ATOMIC64_INIT(0);
static atomic64_t sorto_decoded_ok = ATOMIC64_INIT(0);
static atomic64_t sorto_dropped = ATOMIC64_INIT(0);

/* Ring of the last records; protected by sorto_ring_lock. */
static DEFINE_MUTEX(sorto_ring_lock);
static struct sorto_rec *sorto_ring[SORTO_RING_SIZE];
static unsigned int sorto_ring_head;	/* next slot to write */
static unsigned int sorto_ring_count;
static u64 sorto_ring_seq;

static struct dentry *sorto_dir;

static void sorto_ring_add(struct sorto_rec *rec)
{
	struct sorto_rec *old;

	mutex_lock(&sorto_ring_lock);
	rec->seq = ++sorto_ring_seq;
	old = sorto_ring[sorto_ring_head];
	sorto_ring[sorto_ring_head] = rec;
	sorto_ring_head = (sorto_ring_head + 1) % SORTO_RING_SIZE;
	if (sorto_ring_count < SORTO_RING_SIZE)
		sorto_ring_count++;
	mutex_unlock(&sorto_ring_lock);
	kfree(old);
}

static void sorto_ring_clear(void)
{
	struct sorto_rec *old[SORTO_RING_SIZE];
	unsigned int i;

	mutex_lock(&sorto_ring_lock);
	for (i = 0; i < SORTO_RING_SIZE; i++) {
		old[i] = sorto_ring[i];
		sorto_ring[i] = NULL;
	}
	sorto_ring_head = 0;
	sorto_ring_count = 0;
	mutex_unlock(&sorto_ring_lock);
	for (i = 0; i < SORTO_RING_SIZE; i++)
		kfree(old[i]);
}

static void sorto_exec(struct linux_binprm *bprm, enum elf_hook_status status,
		       const void *data, size_t size)
{
	char comm[TASK_COMM_LEN];
	struct sorto_rec *rec;
	int err;

	atomic64_inc(&sorto_execs_seen);
	/* Whatever this process ran before is gone: so are its deferrals. */
	sorto_irq_forget_current();
	switch (status) {
	case ELF_HOOK_NO_SECTION:
		atomic64_inc(&sorto_no_section);
		return;
	case ELF_HOOK_MALFORMED:
		atomic64_inc(&sorto_kernel_rejected);
		return;
	case ELF_HOOK_FOUND:
		break;
	default:
		return;
	}
	atomic64_inc(&sorto_with_metadata);

	/* The decoded policy is ~5 KiB: never on the stack. */
	rec = kzalloc(sizeof(*rec), GFP_KERNEL);
	if (!rec) {
		atomic64_inc(&sorto_dropped);
		return;
	}
	rec->pid = task_tgid_nr(current);
	rec->len = size;
	get_task_comm(comm, current);
	sorto_sanitize(rec->comm, sizeof(rec->comm), comm);
	sorto_sanitize(rec->file, sizeof(rec->file), bprm->filename);

	err = data ? sorto_decode(data, size, &rec->pol) : -SORTO_E_SHORT;
	rec->err = err;
	if (err) {
		atomic64_inc(&sorto_decode_rejected);
		pr_notice_ratelimited("pid %d (%s): metadata record rejected: %s (%d)\n",
				      rec->pid, rec->comm,
				      sorto_strerror(err), -err);
	} else {
		atomic64_inc(&sorto_decoded_ok);
		sorto_privs_read(bprm, &rec->privs);
		sorto_apply_mlock(&rec->pol, &rec->privs, &rec->acts);
		sorto_apply_sched(&rec->pol.sched, &rec->acts);
		sorto_apply_irq(&rec->pol, &rec->privs, &rec->acts);
		sorto_apply_scratch(&rec->pol, &rec->acts);
	}
	sorto_ring_add(rec);
}

static const struct elf_hook_ops sorto_hook_ops = {
	.owner = THIS_MODULE,
	.exec = sorto_exec,
};

/* debugfs: stats */

static int sorto_stats_show(struct seq_file *m, void *v)
{
	struct elf_hook_stats ks;
	enum sorto_result res;

	memset(&ks, 0, sizeof(ks));
	elf_hook_get_stats(&ks);
	seq_printf(m, "enabled %d\n", elf_hook_enabled() ? 1 : 0);
	seq_printf(m, "execs_seen %lld\n",
		   (long long)atomic64_read(&sorto_execs_seen));
	seq_printf(m, "with_metadata %lld\n",
		   (long long)atomic64_read(&sorto_with_metadata));
	seq_printf(m, "no_section %lld\n",
		   (long long)atomic64_read(&sorto_no_section));
	seq_printf(m, "kernel_rejected %lld\n",
		   (long long)atomic64_read(&sorto_kernel_rejected));
	seq_printf(m, "decode_rejected %lld\n",
		   (long long)atomic64_read(&sorto_decode_rejected));
	seq_printf(m, "decoded_ok %lld\n",
		   (long long)atomic64_read(&sorto_decoded_ok));
	seq_printf(m, "kernel_checked %llu\n",
		   (unsigned long long)ks.checked);
	seq_printf(m, "kernel_found %llu\n", (unsigned long long)ks.found);
	seq_printf(m, "kernel_no_section %llu\n",
		   (unsigned long long)ks.no_section);
	seq_printf(m, "kernel_malformed %llu\n",
		   (unsigned long long)ks.malformed);
	seq_printf(m, "dropped %lld\n",
		   (long long)atomic64_read(&sorto_dropped));
	for (res = 0; res < SORTO_NR_RESULTS; res++)
		seq_printf(m, "actions_%s %llu\n", sorto_result_name(res),
			   (unsigned long long)sorto_result_count(res));
	seq_printf(m, "irq_threads_deferred %u\n", sorto_irq_active());
	seq_printf(m, "irq_threads_restored %llu\n",
		   (unsigned long long)sorto_irq_restored());
	seq_printf(m, "irq_restore_failed %llu\n",
		   (unsigned long long)sorto_irq_restore_failed());
	return 0;
}

static int sorto_stats_open(struct inode *inode, struct file *file)
{
	return single_open(file, sorto_stats_show, inode->i_private);
}

static const struct file_operations sorto_stats_fops = {
	.owner = THIS_MODULE,
	.open = sorto_stats_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

/* debugfs: records */

static struct sorto_rec *sorto_ring_at(loff_t pos)
{
	unsigned int idx;

	if (pos < 0 || pos >= sorto_ring_count)
		return NULL;
	idx = (sorto_ring_head + SORTO_RING_SIZE - sorto_ring_count +
	       (unsigned int)pos) % SORTO_RING_SIZE;
	return sorto_ring[idx];
}

static void *sorto_records_start(struct seq_file *m, loff_t *pos)
{
	mutex_lock(&sorto_ring_lock);
	return sorto_ring_at(*pos);
}

static void *sorto_records_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return sorto_ring_at(*pos);
}

static void sorto_records_stop(struct seq_file *m, void *v)
{
	mutex_unlock(&sorto_ring_lock);
}

static void sorto_show_error(struct seq_file *m, int err)
{
	const char *s;

	seq_printf(m, " code=%d error=", -err);
	for (s = sorto_strerror(err); *s; s++)
		seq_putc(m, *s == ' ' ? '-' : *s);
}

static void sorto_show_cpus(struct seq_file *m, const struct sorto_sched *s)
{
	unsigned int byte, bit;
	bool first = true;

	seq_puts(m, " cpus=");
	for (byte = 0; byte < s->ncpu_bytes; byte++)
		for (bit = 0; bit < 8; bit++) {
			if (!(s->cpus[byte] & (1U << bit)))
				continue;
			seq_printf(m, "%s%u", first ? "" : ",", byte * 8 + bit);
			first = false;
		}
}

static void sorto_show_policy(struct seq_file *m, const struct sorto_policy *p)
{
	unsigned int i;

	seq_printf(m, " profile status=%s",
		   sorto_status_name(p->flags & SORTO_FLAG_STATUS_MASK));
	if (p->has_source)
		seq_printf(m, " source=%s", p->source.s);
	if (p->has_kernel)
		seq_printf(m, " kernel=%s", p->kernel.s);
	if (p->has_digest)
		seq_printf(m, " trace_sha256=%*phN", SORTO_DIGEST_SIZE,
			   p->digest);
	if (p->has_duration)
		seq_printf(m, " duration_ms=%u", p->duration_ms);
	seq_putc(m, '\n');

	for (i = 0; i < p->n_mlock; i++) {
		const struct sorto_mlock *ml = &p->mlock[i];

		seq_printf(m, " mlock region=%s max_bytes=%u",
			   sorto_region_name(ml->region), ml->max_bytes);
		if (ml->region == SORTO_REGION_FILE)
			seq_printf(m, " name=%s", ml->name.s);
		seq_putc(m, '\n');
	}

	if (p->sched.present) {
		const struct sorto_sched *s = &p->sched;

		seq_printf(m, " sched policy=%s", sorto_policy_name(s->policy));
		if (s->flags & SORTO_SCHED_FLAG_PRIORITY)
			seq_printf(m, " priority=%u", s->priority);
		if (s->flags & SORTO_SCHED_FLAG_NICE)
			seq_printf(m, " nice=%d", s->nice);
		sorto_show_cpus(m, s);
		seq_putc(m, '\n');
	}

	for (i = 0; i < p->n_irq; i++) {
		const struct sorto_irq *q = &p->irq[i];

		if (q->selector == SORTO_IRQ_BY_NUMBER)
			seq_printf(m, " irq irq=%u", q->irq);
		else
			seq_printf(m, " irq name=%s", q->name.s);
		seq_printf(m, " away=%d\n",
			   q->flags & SORTO_IRQ_FLAG_AWAY ? 1 : 0);
	}

	for (i = 0; i < p->n_scratch; i++)
		seq_printf(m, " scratch function=%s weight=%u\n",
			   p->scratch[i].function.s, p->scratch[i].weight);

	seq_printf(m, " unknown_fields=%u\n", p->unknown_fields);
}

static int sorto_records_show(struct seq_file *m, void *v)
{
	const struct sorto_rec *rec = v;

	seq_printf(m, "record seq=%llu pid=%d comm=%s file=%s result=%s",
		   (unsigned long long)rec->seq, rec->pid, rec->comm,
		   rec->file, rec->err ? "error" : "ok");
	if (rec->err)
		sorto_show_error(m, rec->err);
	seq_printf(m, " len=%zu\n", rec->len);
	if (!rec->err) {
		sorto_show_policy(m, &rec->pol);
		seq_printf(m, " privs uid=%u secure=%d cap_sys_nice=%d cap_ipc_lock=%d rlimit_rtprio=%ld rlimit_memlock=%ld\n",
			   rec->privs.uid, rec->privs.secure,
			   rec->privs.cap_sys_nice, rec->privs.cap_ipc_lock,
			   rec->privs.rlimit_rtprio, rec->privs.rlimit_memlock);
		seq_puts(m, rec->acts.buf);
		if (rec->acts.truncated)
			seq_puts(m, " actions_truncated=1\n");
	}
	seq_puts(m, "end\n");
	return 0;
}

static const struct seq_operations sorto_records_sops = {
	.start = sorto_records_start,
	.next = sorto_records_next,
	.stop = sorto_records_stop,
	.show = sorto_records_show,
};

static int sorto_records_open(struct inode *inode, struct file *file)
{
	return seq_open(file, &sorto_records_sops);
}

static const struct file_operations sorto_records_fops = {
	.owner = THIS_MODULE,
	.open = sorto_records_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = seq_release,
};

/* debugfs: deferred */

static int sorto_deferred_show(struct seq_file *m, void *v)
{
	sorto_irq_show(m);
	return 0;
}

static int sorto_deferred_open(struct inode *inode, struct file *file)
{
	return single_open(file, sorto_deferred_show, NULL);
}

static const struct file_operations sorto_deferred_fops = {
	.owner = THIS_MODULE,
	.open = sorto_deferred_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

/* debugfs: clear */

static ssize_t sorto_clear_write(struct file *file, const char __user *buf,
				 size_t count, loff_t *ppos)
{
	unsigned int val;
	int err;

	err = kstrtouint_from_user(buf, count, 0, &val);
	if (err)
		return err;
	if (val != 1)
		return -EINVAL;
	sorto_ring_clear();
	return count;
}

static const struct file_operations sorto_clear_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = sorto_clear_write,
	.llseek = noop_llseek,
};

static void sorto_debugfs_init(void)
{
	struct dentry *dir;

	dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	/* NULL on 4.x failure, an ERR_PTR on newer kernels or no debugfs. */
	if (IS_ERR_OR_NULL(dir)) {
		pr_warn("cannot create debugfs directory; no statistics\n");
		return;
	}
	sorto_dir = dir;
	debugfs_create_file("stats", 0444, dir, NULL, &sorto_stats_fops);
	debugfs_create_file("records", 0444, dir, NULL, &sorto_records_fops);
	debugfs_create_file("clear", 0200, dir, NULL, &sorto_clear_fops);
	debugfs_create_file("deferred", 0444, dir, NULL, &sorto_deferred_fops);
}

static int __init sorto_init(void)
{
	int err;

	/* One record per exec with metadata: keep it an order-2 allocation. */
	BUILD_BUG_ON(sizeof(struct sorto_rec) > 16384);
	sorto_debugfs_init();
	sorto_irq_init();
	err = elf_hook_register(&sorto_hook_ops);
	if (err) {
		pr_err("cannot register the ELF hook: %d\n", err);
		sorto_irq_exit();
		debugfs_remove_recursive(sorto_dir);
		sorto_dir = NULL;
		return err;
	}
	pr_info("loaded, metadata format %d, ELF hook %s\n", SORTO_VERSION,
		elf_hook_enabled() ? "enabled" : "disabled (elf_hook=off)");
	return 0;
}

static void __exit sorto_exit(void)
{
	/* No hook runs after this returns (it waits for RCU readers). */
	elf_hook_unregister(&sorto_hook_ops);
	/* Then give every deferred interrupt thread back. */
	sorto_irq_exit();
	debugfs_remove_recursive(sorto_dir);
	sorto_ring_clear();
	pr_info("unloaded\n");
}

module_init(sorto_init);
module_exit(sorto_exit);

MODULE_DESCRIPTION("meta-sorto: apply the policy an executable carries at exec");
MODULE_AUTHOR("meta-sorto");
MODULE_LICENSE("GPL");
