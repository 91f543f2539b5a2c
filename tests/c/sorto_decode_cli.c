// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * sorto-decode: run the C record decoder (the one built into the kernel
 * module) on a file or stdin and print the result.
 *
 *   sorto-decode [FILE|-]
 *
 * On success prints the policy as JSON, byte for byte what
 *   json.dumps(codec.decode(data), sort_keys=True)
 * prints in Python, then a newline, and exits 0.  On a decode error prints
 * "error <code> <message>" and exits 1.  Usage or I/O problems exit 2.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sorto_decode.h"

static unsigned char *read_all(FILE *f, size_t *len)
{
	size_t cap = 8192, n = 0, got;
	unsigned char *buf = malloc(cap), *nbuf;

	if (!buf)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				free(buf);
				return NULL;
			}
			buf = nbuf;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* Names hold only [A-Za-z0-9_.:+@/-]: nothing needs JSON escaping. */
static void put_str(const char *s)
{
	printf("\"%s\"", s);
}

static void print_profile(const struct sorto_policy *p)
{
	int i;

	printf("\"profile\": {");
	if (p->has_duration)
		printf("\"duration_ms\": %lu, ", (unsigned long)p->duration_ms);
	if (p->has_kernel) {
		printf("\"kernel\": ");
		put_str(p->kernel.s);
		printf(", ");
	}
	if (p->has_source) {
		printf("\"source\": ");
		put_str(p->source.s);
		printf(", ");
	}
	printf("\"status\": ");
	put_str(sorto_status_name(p->flags & SORTO_FLAG_STATUS_MASK));
	if (p->has_digest) {
		printf(", \"trace_sha256\": \"");
		for (i = 0; i < SORTO_DIGEST_SIZE; i++)
			printf("%02x", p->digest[i]);
		printf("\"");
	}
	printf("}");
}

static void print_mlock(const struct sorto_policy *p)
{
	int i;

	printf("\"mlock\": [");
	for (i = 0; i < p->n_mlock; i++) {
		const struct sorto_mlock *m = &p->mlock[i];

		printf("%s{\"max_bytes\": %lu, ", i ? ", " : "",
		       (unsigned long)m->max_bytes);
		if (m->region == SORTO_REGION_FILE) {
			printf("\"name\": ");
			put_str(m->name.s);
			printf(", ");
		}
		printf("\"region\": ");
		put_str(sorto_region_name(m->region));
		printf("}");
	}
	printf("]");
}

static void print_sched(const struct sorto_sched *s)
{
	int byte, bit, first = 1;

	printf("\"sched\": {\"cpus\": [");
	for (byte = 0; byte < s->ncpu_bytes; byte++)
		for (bit = 0; bit < 8; bit++)
			if (s->cpus[byte] >> bit & 1) {
				printf("%s%d", first ? "" : ", ",
				       byte * 8 + bit);
				first = 0;
			}
	printf("]");
	if (s->flags & SORTO_SCHED_FLAG_NICE)
		printf(", \"nice\": %d", s->nice);
	printf(", \"policy\": ");
	put_str(sorto_policy_name(s->policy));
	if (s->flags & SORTO_SCHED_FLAG_PRIORITY)
		printf(", \"priority\": %d", s->priority);
	printf("}");
}

static void print_irq(const struct sorto_policy *p)
{
	int i;

	printf("\"irq_defer\": [");
	for (i = 0; i < p->n_irq; i++) {
		const struct sorto_irq *q = &p->irq[i];

		printf("%s{\"away\": %s, ", i ? ", " : "",
		       q->flags & SORTO_IRQ_FLAG_AWAY ? "true" : "false");
		if (q->selector == SORTO_IRQ_BY_NUMBER) {
			printf("\"irq\": %lu}", (unsigned long)q->irq);
		} else {
			printf("\"name\": ");
			put_str(q->name.s);
			printf("}");
		}
	}
	printf("]");
}

static void print_scratch(const struct sorto_policy *p)
{
	int i;

	printf("\"scratchpad\": [");
	for (i = 0; i < p->n_scratch; i++) {
		printf("%s{\"function\": ", i ? ", " : "");
		put_str(p->scratch[i].function.s);
		printf(", \"weight\": %lu}",
		       (unsigned long)p->scratch[i].weight);
	}
	printf("]");
}

static void print_policy(const struct sorto_policy *p)
{
	printf("{");
	print_irq(p);
	printf(", ");
	print_mlock(p);
	printf(", ");
	print_profile(p);
	if (p->sched.present) {
		printf(", ");
		print_sched(&p->sched);
	}
	printf(", ");
	print_scratch(p);
	if (p->unknown_fields)
		printf(", \"unknown_fields\": %lu",
		       (unsigned long)p->unknown_fields);
	printf(", \"version\": %d}\n", SORTO_VERSION);
}

int main(int argc, char **argv)
{
	struct sorto_policy *pol;
	unsigned char *buf;
	size_t len = 0;
	FILE *f = stdin;
	int err;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-' && argv[1][1])) {
		fprintf(stderr, "usage: %s [FILE|-]\n", argv[0]);
		return 2;
	}
	if (argc == 2 && strcmp(argv[1], "-")) {
		f = fopen(argv[1], "rb");
		if (!f) {
			fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1],
				strerror(errno));
			return 2;
		}
	}
	buf = read_all(f, &len);
	if (f != stdin)
		fclose(f);
	pol = malloc(sizeof(*pol));
	if (!buf || !pol) {
		fprintf(stderr, "%s: cannot read input\n", argv[0]);
		return 2;
	}
	err = sorto_decode(buf, len, pol);
	if (err) {
		printf("error %d %s\n", -err, sorto_strerror(err));
		free(buf);
		free(pol);
		return 1;
	}
	print_policy(pol);
	free(buf);
	free(pol);
	return 0;
}
