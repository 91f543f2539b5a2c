/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the sorto QEMU plugins (kfetch, kcache) share: the arguments both
 * take (outfile, kbase, range, mark), writing a report, and the windows a
 * mark block cuts the run into.  Each plugin .so is built from its own
 * source and common.c.
 */
#ifndef SORTO_PLUGIN_COMMON_H
#define SORTO_PLUGIN_COMMON_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include <qemu-plugin.h>

#define MAX_RANGES 16

struct plugin_common {
	const char *name;		/* plugin name, for messages */
	const char *outfile;		/* NULL: QEMU's log */
	uint64_t kbase;			/* addresses >= kbase are kernel */
	struct {
		uint64_t lo, hi;	/* [lo, hi) */
	} range[MAX_RANGES];
	int nranges;
	uint64_t mark_addr;
	bool have_mark;
	unsigned int nmarks;
	/* Write the counts to path (QEMU's log when NULL), zero them if reset. */
	void (*report)(const char *path, const char *title, bool reset);
};

bool plugin_parse_u64(const char *s, uint64_t *v);

/*
 * Take one of the shared arguments: 1 if it was one and its value is
 * good, 0 if its value is bad, -1 if the key is not a shared one.
 */
int plugin_common_arg(struct plugin_common *c, const char *key, const char *value);

/* Write s to path, or to QEMU's log when path is NULL or cannot be opened; free s. */
void plugin_emit(const struct plugin_common *c, const char *path, GString *s);

/*
 * Callback of the mark block (udata: the struct plugin_common): write the
 * window that ends here to outfile.markN and zero the counts.
 */
void plugin_mark_exec(unsigned int vcpu_index, void *udata);

/* At exit (udata: the struct plugin_common): the window after the last mark, or the whole run. */
void plugin_exit(qemu_plugin_id_t id, void *udata);

#endif
