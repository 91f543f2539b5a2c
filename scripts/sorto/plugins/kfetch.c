// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kfetch: count a guest's instruction fetches, kernel against user, inside
 * address ranges, and per translated kernel block (to be symbolized with
 * the kernel's System.map, and with the host memory it was read from).  Built against the qemu-plugin.h of the
 * installed QEMU (Debian 12: QEMU 7.2, plugin API version 1).
 *
 * Every count is an inline add emitted into the translated code, never a
 * helper call, so the guest slows down little.  A block is counted whole
 * when it is entered: a block left early by an exception is over-counted.
 *
 * Arguments (comma separated after the .so path):
 *   outfile=PATH     report written at exit (default: QEMU's log, -d plugin)
 *   kbase=ADDR       addresses >= ADDR are kernel (default 0xbf000000,
 *                    TASK_SIZE of a 3G/1G split: modules count as kernel)
 *   range=LO-HI      also count fetches with LO <= address < HI (up to 16)
 *   mark=ADDR        each execution of the block at ADDR ends a window: the
 *                    counts since the previous mark are written to
 *                    PATH.markN and zeroed (ADDR = sys_sync, and the guest
 *                    runs "sync; program; sync")
 *
 * Kernel against user is told by the block's address only: API version 1
 * cannot read the CPU mode.  The kuser helpers in the vector page count as
 * kernel although user mode runs them.
 *
 * Inline adds are not atomic: run the guest with -smp 1 for exact counts.
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <qemu-plugin.h>

#include "common.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/*
 * One kernel block, keyed by its address, its number of instructions and
 * the host offset: the host address QEMU read its first instruction from,
 * minus its guest address.  Code of one guest memory region mapped
 * linearly (kernel text in DRAM) has one offset; the same addresses mapped
 * at another region (the scratchpad block in SRAM) have another.
 */
struct kblock {
	uint64_t vaddr;
	uint64_t hoff;
	uint32_t ninsns;
	uint32_t nbytes;
	uint64_t execs;			/* inline counter */
};

static uint64_t kernel_insns, user_insns;	/* inline counters */
static uint64_t range_insns[MAX_RANGES];	/* inline counters */

static GHashTable *kblocks;
static GMutex lock;

static void report(const char *path, const char *title, bool reset);
static struct plugin_common common = {
	.name = "kfetch", .kbase = 0xbf000000ULL, .report = report,
};

static guint kblock_hash(gconstpointer p)
{
	const struct kblock *b = p;

	return g_int64_hash(&b->vaddr) ^ g_int64_hash(&b->hoff) ^ (b->ninsns * 0x9e3779b1u);
}

static gboolean kblock_equal(gconstpointer a, gconstpointer b)
{
	const struct kblock *x = a, *y = b;

	return x->vaddr == y->vaddr && x->hoff == y->hoff && x->ninsns == y->ninsns;
}

static gint by_vaddr(gconstpointer a, gconstpointer b)
{
	const struct kblock *x = *(struct kblock *const *)a;
	const struct kblock *y = *(struct kblock *const *)b;

	if (x->vaddr != y->vaddr)
		return x->vaddr < y->vaddr ? -1 : 1;
	if (x->hoff != y->hoff)
		return x->hoff < y->hoff ? -1 : 1;
	return x->ninsns < y->ninsns ? -1 : x->ninsns > y->ninsns;
}

/* Write the counts to path (QEMU's log when NULL); zero them if reset. */
static void report(const char *path, const char *title, bool reset)
{
	GString *s = g_string_new(NULL);
	GHashTableIter it;
	GPtrArray *list;
	gpointer key;

	g_mutex_lock(&lock);
	g_string_append_printf(s, "# kfetch %s\n", title);
	g_string_append_printf(s, "kbase 0x%" PRIx64 "\n", common.kbase);
	g_string_append_printf(s, "kernel_insns %" PRIu64 "\n", kernel_insns);
	g_string_append_printf(s, "user_insns %" PRIu64 "\n", user_insns);
	for (int i = 0; i < common.nranges; i++)
		g_string_append_printf(s, "range 0x%" PRIx64 "-0x%" PRIx64 " insns %" PRIu64 "\n",
				       common.range[i].lo, common.range[i].hi, range_insns[i]);

	list = g_ptr_array_new();
	g_hash_table_iter_init(&it, kblocks);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		struct kblock *b = key;

		if (b->execs)
			g_ptr_array_add(list, b);
	}
	g_ptr_array_sort(list, by_vaddr);
	g_string_append(s, "# block vaddr ninsns nbytes execs hoff\n");
	for (guint i = 0; i < list->len; i++) {
		struct kblock *b = g_ptr_array_index(list, i);

		g_string_append_printf(s, "block 0x%08" PRIx64 " %u %u %" PRIu64 " 0x%" PRIx64 "\n",
				       b->vaddr, b->ninsns, b->nbytes, b->execs, b->hoff);
	}
	g_string_append(s, "end\n");
	g_ptr_array_free(list, TRUE);

	if (reset) {
		kernel_insns = user_insns = 0;
		for (int i = 0; i < common.nranges; i++)
			range_insns[i] = 0;
		g_hash_table_iter_init(&it, kblocks);
		while (g_hash_table_iter_next(&it, &key, NULL))
			((struct kblock *)key)->execs = 0;
	}
	g_mutex_unlock(&lock);

	plugin_emit(&common, path, s);
}

static void vcpu_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
	size_t n = qemu_plugin_tb_n_insns(tb);
	bool kernel = vaddr >= common.kbase;
	struct kblock probe = { .vaddr = vaddr, .ninsns = n }, *b;
	void *h = qemu_plugin_insn_haddr(qemu_plugin_tb_get_insn(tb, 0));

	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 kernel ? &kernel_insns : &user_insns, n);
	for (int i = 0; i < common.nranges; i++) {
		uint64_t inside = 0;

		for (size_t j = 0; j < n; j++) {
			uint64_t a = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, j));

			inside += a >= common.range[i].lo && a < common.range[i].hi;
		}
		if (inside)
			qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
								 &range_insns[i], inside);
	}
	if (!kernel)
		return;

	probe.hoff = h ? (uint64_t)(uintptr_t)h - vaddr : 0;
	g_mutex_lock(&lock);
	b = g_hash_table_lookup(kblocks, &probe);
	if (!b) {
		b = g_new0(struct kblock, 1);
		*b = probe;
		for (size_t j = 0; j < n; j++)
			b->nbytes += qemu_plugin_insn_size(qemu_plugin_tb_get_insn(tb, j));
		g_hash_table_add(kblocks, b);
	}
	g_mutex_unlock(&lock);
	/* Blocks live until exit: translated code keeps a pointer to execs. */
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->execs, 1);

	if (common.have_mark && vaddr == common.mark_addr)
		qemu_plugin_register_vcpu_tb_exec_cb(tb, plugin_mark_exec,
						     QEMU_PLUGIN_CB_NO_REGS, &common);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char **kv = g_strsplit(argv[i], "=", 2);
		int ok = kv[0] && kv[1] ? plugin_common_arg(&common, kv[0], kv[1]) : 0;

		g_strfreev(kv);
		if (ok != 1) {
			fprintf(stderr, "kfetch: bad argument '%s'\n", argv[i]);
			return -1;
		}
	}
	kblocks = g_hash_table_new_full(kblock_hash, kblock_equal, g_free, NULL);
	qemu_plugin_register_vcpu_tb_trans_cb(id, vcpu_tb_trans);
	qemu_plugin_register_atexit_cb(id, plugin_exit, &common);
	return 0;
}
