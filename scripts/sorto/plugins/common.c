// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Shared by the sorto QEMU plugins; see common.h.
 */
#include <stdio.h>
#include <string.h>

#include <qemu-plugin.h>

#include "common.h"

bool plugin_parse_u64(const char *s, uint64_t *v)
{
	char *end;

	*v = g_ascii_strtoull(s, &end, 0);
	return end != s && *end == '\0';
}

static bool parse_range(const char *s, uint64_t *lo, uint64_t *hi)
{
	char **lh = g_strsplit(s, "-", 2);
	bool ok = lh[0] && lh[1] && plugin_parse_u64(lh[0], lo) &&
		  plugin_parse_u64(lh[1], hi) && *lo < *hi;

	g_strfreev(lh);
	return ok;
}

int plugin_common_arg(struct plugin_common *c, const char *key, const char *value)
{
	if (!strcmp(key, "outfile")) {
		c->outfile = g_strdup(value);
		return 1;
	}
	if (!strcmp(key, "kbase"))
		return plugin_parse_u64(value, &c->kbase);
	if (!strcmp(key, "mark"))
		return c->have_mark = plugin_parse_u64(value, &c->mark_addr);
	if (!strcmp(key, "range")) {
		if (c->nranges >= MAX_RANGES ||
		    !parse_range(value, &c->range[c->nranges].lo, &c->range[c->nranges].hi))
			return 0;
		c->nranges++;
		return 1;
	}
	return -1;
}

void plugin_emit(const struct plugin_common *c, const char *path, GString *s)
{
	FILE *f = path ? fopen(path, "w") : NULL;

	if (f) {
		fputs(s->str, f);
		fclose(f);
	} else {
		if (path) {
			char *msg = g_strdup_printf("%s: cannot open the outfile\n", c->name);

			qemu_plugin_outs(msg);
			g_free(msg);
		}
		qemu_plugin_outs(s->str);
	}
	g_string_free(s, TRUE);
}

void plugin_mark_exec(unsigned int vcpu_index, void *udata)
{
	struct plugin_common *c = udata;
	char title[64], *path = NULL;

	c->nmarks++;
	snprintf(title, sizeof(title), "window ending at mark %u", c->nmarks);
	if (c->outfile)
		path = g_strdup_printf("%s.mark%u", c->outfile, c->nmarks);
	c->report(path, title, true);
	g_free(path);
}

void plugin_exit(qemu_plugin_id_t id, void *udata)
{
	struct plugin_common *c = udata;

	c->report(c->outfile, c->nmarks ? "window after the last mark, until exit" : "whole run", false);
}
