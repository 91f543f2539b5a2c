// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kcache: model a level 1 instruction cache and count its misses, kernel
 * against user and inside address ranges.  Modelled on QEMU's
 * contrib/plugins/cache.c (lines indexed by the host address of the
 * instruction, which stands for the guest physical address; LRU
 * replacement).  Built against the qemu-plugin.h of the installed QEMU
 * (Debian 12: QEMU 7.2, plugin API version 1).
 *
 * One lookup is made per run of consecutive instructions of a block that
 * lie in the same line (the later ones cannot miss), so the misses equal a
 * per-instruction model's with line/insn fewer callbacks.
 *
 * Arguments (comma separated after the .so path):
 *   icachesize=32768 iassoc=2 iblksize=64    geometry (Cortex-A15 L1I)
 *   kbase=ADDR     addresses >= ADDR are kernel (default 0xbf000000,
 *                  TASK_SIZE of a 3G/1G split: modules count as kernel)
 *   range=LO-HI    also count lookups and misses in [LO, HI) (up to 16)
 *   setfile=PATH   count them also in the union of the ranges listed in
 *                  PATH, one "LO HI" (hex) per line: the functions of a
 *                  scratchpad list that is not built (a what-if)
 *   mark=ADDR      window boundary, as in kfetch (counts to PATH.markN,
 *                  then zeroed; the cache contents are kept)
 *   outfile=PATH   report written at exit (default: QEMU's log)
 *
 * The callback counters are not atomic: run the guest with -smp 1.
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <qemu-plugin.h>

#include "common.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

struct cache {
	int nsets, assoc, shift;
	uint64_t *tags;			/* nsets * assoc; 0 is an invalid way */
	uint64_t *lru;			/* same layout: stamp of the last use */
	uint64_t clock;
};

/* One line run of a translated block. */
struct run {
	uint64_t vaddr;			/* first instruction */
	uint64_t haddr;			/* cache address: host address, else vaddr */
	uint32_t ninsns;
	bool kernel;
	bool in_set;
	bool range[MAX_RANGES];
};

static int icachesize = 32768, iassoc = 2, iblksize = 64;
static struct {
	uint64_t insns;			/* inline counter */
	uint64_t lookups, misses;
} ranges[MAX_RANGES];			/* counts in common.range[] */
static GArray *set;			/* sorted, merged lo, hi pairs */
static uint64_t set_insns;		/* inline counter */
static uint64_t set_lookups, set_misses;

static struct cache *l1;		/* one per vCPU */
static int nvcpus;
static uint64_t insns[2];		/* inline: [user, kernel] */
static uint64_t lookups[2], misses[2];
static GHashTable *runs;
static GMutex lock;

static void report(const char *path, const char *title, bool reset);
static struct plugin_common common = {
	.name = "kcache", .kbase = 0xbf000000ULL, .report = report,
};

static bool cache_init(struct cache *c, int size, int assoc, int blk)
{
	if (blk <= 0 || assoc <= 0 || (blk & (blk - 1)) || size % (blk * assoc))
		return false;
	c->nsets = size / (blk * assoc);
	if (c->nsets & (c->nsets - 1))
		return false;
	c->assoc = assoc;
	c->shift = __builtin_ctz(blk);
	c->tags = g_new0(uint64_t, c->nsets * assoc);
	c->lru = g_new0(uint64_t, c->nsets * assoc);
	return true;
}

/* True on a hit; on a miss, fill the least recently used way. */
static bool cache_access(struct cache *c, uint64_t addr)
{
	uint64_t line = addr >> c->shift;
	int set = line & (c->nsets - 1);
	uint64_t tag = line | 1ULL << 63;
	uint64_t *t = &c->tags[set * c->assoc], *l = &c->lru[set * c->assoc];
	int victim = 0;

	c->clock++;
	for (int w = 0; w < c->assoc; w++) {
		if (t[w] == tag) {
			l[w] = c->clock;
			return true;
		}
		if (l[w] < l[victim])
			victim = w;
	}
	t[victim] = tag;
	l[victim] = c->clock;
	return false;
}

static void run_exec(unsigned int vcpu_index, void *udata)
{
	struct run *r = udata;
	bool hit = cache_access(&l1[vcpu_index % nvcpus], r->haddr);

	lookups[r->kernel]++;
	misses[r->kernel] += !hit;
	for (int i = 0; i < common.nranges; i++) {
		if (r->range[i]) {
			ranges[i].lookups++;
			ranges[i].misses += !hit;
		}
	}
	if (r->in_set) {
		set_lookups++;
		set_misses += !hit;
	}
}

static bool in_set(uint64_t a)
{
	guint lo = 0, hi = set ? set->len / 2 : 0;

	while (lo < hi) {
		guint mid = (lo + hi) / 2;

		if (a < g_array_index(set, uint64_t, 2 * mid))
			hi = mid;
		else if (a >= g_array_index(set, uint64_t, 2 * mid + 1))
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static gint cmp_pair(gconstpointer a, gconstpointer b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Read "LO HI" lines, sort them and merge overlaps so that in_set can bisect. */
static bool load_set(const char *path)
{
	FILE *f = fopen(path, "r");
	GArray *raw = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	char line[128];
	uint64_t lo, hi;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%" SCNx64 " %" SCNx64, &lo, &hi) == 2 && lo < hi) {
			g_array_append_val(raw, lo);
			g_array_append_val(raw, hi);
		}
	fclose(f);
	qsort(raw->data, raw->len / 2, 2 * sizeof(uint64_t), cmp_pair);
	set = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	for (guint i = 0; i < raw->len; i += 2) {
		lo = g_array_index(raw, uint64_t, i);
		hi = g_array_index(raw, uint64_t, i + 1);
		if (set->len && lo <= g_array_index(set, uint64_t, set->len - 1)) {
			uint64_t *last = &g_array_index(set, uint64_t, set->len - 1);

			*last = MAX(*last, hi);
		} else {
			g_array_append_val(set, lo);
			g_array_append_val(set, hi);
		}
	}
	g_array_free(raw, TRUE);
	return true;
}

static void report(const char *path, const char *title, bool reset)
{
	GString *s = g_string_new(NULL);

	g_mutex_lock(&lock);
	g_string_append_printf(s, "# kcache %s\n", title);
	g_string_append_printf(s, "l1i %d %d %d\n", icachesize, iassoc, iblksize);
	g_string_append(s, "# class insns lookups misses\n");
	for (int k = 1; k >= 0; k--)
		g_string_append_printf(s, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
				       k ? "kernel" : "user", insns[k], lookups[k], misses[k]);
	for (int i = 0; i < common.nranges; i++)
		g_string_append_printf(s, "range 0x%" PRIx64 "-0x%" PRIx64 " insns %" PRIu64
				       " lookups %" PRIu64 " misses %" PRIu64 "\n",
				       common.range[i].lo, common.range[i].hi, ranges[i].insns,
				       ranges[i].lookups, ranges[i].misses);
	if (set)
		g_string_append_printf(s, "set ranges %u insns %" PRIu64 " lookups %" PRIu64
				       " misses %" PRIu64 "\n", set->len / 2, set_insns, set_lookups,
				       set_misses);
	g_string_append(s, "end\n");
	if (reset) {
		memset(insns, 0, sizeof(insns));
		memset(lookups, 0, sizeof(lookups));
		memset(misses, 0, sizeof(misses));
		for (int i = 0; i < common.nranges; i++)
			ranges[i].insns = ranges[i].lookups = ranges[i].misses = 0;
		set_insns = set_lookups = set_misses = 0;
	}
	g_mutex_unlock(&lock);

	plugin_emit(&common, path, s);
}

static guint run_hash(gconstpointer p)
{
	const struct run *r = p;
	uint64_t k = r->vaddr ^ (r->haddr << 1) ^ ((uint64_t)r->ninsns << 56);

	return g_int64_hash(&k);
}

static gboolean run_equal(gconstpointer a, gconstpointer b)
{
	const struct run *x = a, *y = b;

	return x->vaddr == y->vaddr && x->haddr == y->haddr && x->ninsns == y->ninsns;
}

/* Runs live until exit: translated code keeps pointers to them. */
static struct run *get_run(uint64_t vaddr, uint64_t haddr, uint32_t n)
{
	struct run probe = { .vaddr = vaddr, .haddr = haddr, .ninsns = n }, *r;

	g_mutex_lock(&lock);
	r = g_hash_table_lookup(runs, &probe);
	if (!r) {
		r = g_new0(struct run, 1);
		*r = probe;
		r->kernel = vaddr >= common.kbase;
		r->in_set = in_set(vaddr);
		for (int i = 0; i < common.nranges; i++)
			r->range[i] = vaddr >= common.range[i].lo && vaddr < common.range[i].hi;
		g_hash_table_add(runs, r);
	}
	g_mutex_unlock(&lock);
	return r;
}

static uint64_t cache_addr(struct qemu_plugin_insn *insn)
{
	void *h = qemu_plugin_insn_haddr(insn);

	return h ? (uint64_t)(uintptr_t)h : qemu_plugin_insn_vaddr(insn);
}

static void vcpu_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	uint64_t tbva = qemu_plugin_tb_vaddr(tb);
	int shift = __builtin_ctz(iblksize);
	size_t i = 0;

	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 &insns[tbva >= common.kbase], n);
	while (i < n) {
		struct qemu_plugin_insn *first = qemu_plugin_tb_get_insn(tb, i);
		uint64_t ha = cache_addr(first);
		size_t j = i + 1;
		struct run *r;

		while (j < n && cache_addr(qemu_plugin_tb_get_insn(tb, j)) >> shift == ha >> shift)
			j++;
		r = get_run(qemu_plugin_insn_vaddr(first), ha, j - i);
		qemu_plugin_register_vcpu_insn_exec_cb(first, run_exec, QEMU_PLUGIN_CB_NO_REGS, r);
		for (int k = 0; k < common.nranges; k++)
			if (r->range[k])
				qemu_plugin_register_vcpu_insn_exec_inline(first,
									   QEMU_PLUGIN_INLINE_ADD_U64,
									   &ranges[k].insns, j - i);
		if (r->in_set)
			qemu_plugin_register_vcpu_insn_exec_inline(first, QEMU_PLUGIN_INLINE_ADD_U64,
								   &set_insns, j - i);
		i = j;
	}
	if (common.have_mark && tbva == common.mark_addr)
		qemu_plugin_register_vcpu_tb_exec_cb(tb, plugin_mark_exec,
						     QEMU_PLUGIN_CB_NO_REGS, &common);
}

static bool parse_int(const char *s, int *v)
{
	uint64_t x;

	if (!plugin_parse_u64(s, &x) || !x || x >= 1u << 30)
		return false;
	*v = x;
	return true;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char **kv = g_strsplit(argv[i], "=", 2);
		const char *k = kv[0], *v = kv[1];
		int ok = k && v ? plugin_common_arg(&common, k, v) : 0;

		if (ok >= 0)
			;
		else if (!strcmp(k, "icachesize"))
			ok = parse_int(v, &icachesize);
		else if (!strcmp(k, "iassoc"))
			ok = parse_int(v, &iassoc);
		else if (!strcmp(k, "iblksize"))
			ok = parse_int(v, &iblksize);
		else if (!strcmp(k, "setfile"))
			ok = !set && load_set(v);
		g_strfreev(kv);
		if (ok != 1) {
			fprintf(stderr, "kcache: bad argument '%s'\n", argv[i]);
			return -1;
		}
	}
	nvcpus = info->system_emulation ? info->system.max_vcpus : 1;
	l1 = g_new0(struct cache, nvcpus);
	for (int c = 0; c < nvcpus; c++) {
		if (!cache_init(&l1[c], icachesize, iassoc, iblksize)) {
			fprintf(stderr, "kcache: bad cache geometry\n");
			return -1;
		}
	}
	runs = g_hash_table_new_full(run_hash, run_equal, g_free, NULL);
	qemu_plugin_register_vcpu_tb_trans_cb(id, vcpu_tb_trans);
	qemu_plugin_register_atexit_cb(id, plugin_exit, &common);
	return 0;
}
