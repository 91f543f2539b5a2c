// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * libFuzzer target for the record decoder shared with the kernel module.
 *
 * Besides the sanitizers catching any read outside the input, every
 * successful decode is checked against invariants (counts within caps,
 * names NUL-terminated and of the name set, values in range), decoding is
 * checked to be deterministic, and a record without unknown fields must
 * re-encode to exactly its input bytes (the format is canonical).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sorto_decode.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void check_name(const struct sorto_name *n, int present)
{
	size_t i;

	if (!present) {
		CHECK(n->len == 0 && n->s[0] == '\0');
		return;
	}
	CHECK(n->len >= 1 && n->len <= SORTO_MAX_NAME);
	CHECK(n->s[n->len] == '\0');
	CHECK(strlen(n->s) == n->len);
	for (i = 0; i < n->len; i++)
		CHECK(sorto_name_char((unsigned char)n->s[i]));
}

static void check_policy(const struct sorto_policy *p, size_t len)
{
	const struct sorto_sched *s = &p->sched;
	int i;

	CHECK(p->total_len == len);
	CHECK(len >= SORTO_HEADER_SIZE && len <= SORTO_MAX_RECORD);
	CHECK(!(p->flags & ~SORTO_FLAGS_KNOWN));
	CHECK(sorto_status_name(p->flags & SORTO_FLAG_STATUS_MASK));
	CHECK(p->nfields <= SORTO_MAX_FIELDS);
	CHECK(p->unknown_fields <= p->nfields);
	CHECK(p->n_mlock <= SORTO_MAX_MLOCK);
	CHECK(p->n_irq <= SORTO_MAX_IRQ);
	CHECK(p->n_scratch <= SORTO_MAX_SCRATCH);
	for (i = 0; i < p->n_mlock; i++) {
		CHECK(sorto_region_name(p->mlock[i].region));
		check_name(&p->mlock[i].name,
			   p->mlock[i].region == SORTO_REGION_FILE);
	}
	if (s->present) {
		CHECK(sorto_policy_name(s->policy));
		CHECK(!(s->flags & ~SORTO_SCHED_FLAGS_KNOWN));
		CHECK(s->priority <= SORTO_SCHED_PRIO_MAX);
		CHECK(s->nice >= SORTO_NICE_MIN && s->nice <= SORTO_NICE_MAX);
		CHECK((s->flags & SORTO_SCHED_FLAG_PRIORITY) || !s->priority);
		CHECK((s->flags & SORTO_SCHED_FLAG_NICE) || !s->nice);
		CHECK(s->ncpu_bytes <= SORTO_MAX_CPU_BYTES);
		CHECK(!s->ncpu_bytes || s->cpus[s->ncpu_bytes - 1]);
	}
	for (i = 0; i < p->n_irq; i++) {
		const struct sorto_irq *q = &p->irq[i];

		CHECK(!(q->flags & ~SORTO_IRQ_FLAGS_KNOWN));
		CHECK(q->selector == SORTO_IRQ_BY_NUMBER ||
		      q->selector == SORTO_IRQ_BY_NAME);
		check_name(&q->name, q->selector == SORTO_IRQ_BY_NAME);
		CHECK(q->selector == SORTO_IRQ_BY_NUMBER || !q->irq);
	}
	for (i = 0; i < p->n_scratch; i++) {
		CHECK(p->scratch[i].weight <= SORTO_MAX_WEIGHT);
		check_name(&p->scratch[i].function, 1);
	}
	check_name(&p->source, p->has_source);
	check_name(&p->kernel, p->has_kernel);
}

/* Minimal re-encoder, independent of the decoder's code paths. */
struct enc {
	u8 b[SORTO_MAX_RECORD + 256];
	size_t n;
	unsigned int nfields;
};

static void put(struct enc *e, const void *p, size_t len)
{
	CHECK(e->n + len <= sizeof(e->b));
	memcpy(e->b + e->n, p, len);
	e->n += len;
}

static void put8(struct enc *e, unsigned int v)
{
	u8 b = (u8)v;

	put(e, &b, 1);
}

static void put16(struct enc *e, unsigned int v)
{
	put8(e, v & 0xff);
	put8(e, v >> 8);
}

static void put32(struct enc *e, u32 v)
{
	put16(e, v & 0xffff);
	put16(e, v >> 16);
}

static size_t field_begin(struct enc *e, unsigned int type)
{
	size_t at = e->n;

	put16(e, type);
	put16(e, 0);
	e->nfields++;
	return at;
}

static void field_end(struct enc *e, size_t at)
{
	size_t vlen = e->n - at - SORTO_FIELD_HEADER_SIZE;

	e->b[at + 2] = vlen & 0xff;
	e->b[at + 3] = vlen >> 8;
	while (e->n % SORTO_ALIGN)
		put8(e, 0);
}

static void put_name(struct enc *e, const struct sorto_name *n)
{
	put(e, n->s, n->len);
}

static void reencode(const struct sorto_policy *p, struct enc *e)
{
	const struct sorto_sched *s = &p->sched;
	u32 crc;
	size_t at;
	int i;

	memset(e, 0, sizeof(*e));
	put(e, SORTO_MAGIC, SORTO_MAGIC_SIZE);
	put8(e, SORTO_VERSION);
	put8(e, SORTO_HEADER_SIZE);
	put16(e, p->flags);
	put16(e, 0);
	put16(e, 0);
	put32(e, 0);
	for (i = 0; i < p->n_mlock; i++) {
		at = field_begin(e, SORTO_FIELD_MLOCK);
		put8(e, p->mlock[i].region);
		put8(e, 0);
		put16(e, 0);
		put32(e, p->mlock[i].max_bytes);
		put_name(e, &p->mlock[i].name);
		field_end(e, at);
	}
	if (s->present) {
		at = field_begin(e, SORTO_FIELD_SCHED);
		put8(e, s->policy);
		put8(e, s->priority);
		put8(e, (u8)s->nice);
		put8(e, s->flags);
		put(e, s->cpus, s->ncpu_bytes);
		field_end(e, at);
	}
	for (i = 0; i < p->n_irq; i++) {
		at = field_begin(e, SORTO_FIELD_IRQ_DEFER);
		put8(e, p->irq[i].selector);
		put8(e, p->irq[i].flags);
		put16(e, 0);
		put32(e, p->irq[i].irq);
		put_name(e, &p->irq[i].name);
		field_end(e, at);
	}
	for (i = 0; i < p->n_scratch; i++) {
		at = field_begin(e, SORTO_FIELD_SCRATCHPAD);
		put32(e, p->scratch[i].weight);
		put_name(e, &p->scratch[i].function);
		field_end(e, at);
	}
	if (p->has_source) {
		at = field_begin(e, SORTO_FIELD_PROFILE_SOURCE);
		put_name(e, &p->source);
		field_end(e, at);
	}
	if (p->has_kernel) {
		at = field_begin(e, SORTO_FIELD_PROFILE_KERNEL);
		put_name(e, &p->kernel);
		field_end(e, at);
	}
	if (p->has_digest) {
		at = field_begin(e, SORTO_FIELD_PROFILE_DIGEST);
		put(e, p->digest, SORTO_DIGEST_SIZE);
		field_end(e, at);
	}
	if (p->has_duration) {
		at = field_begin(e, SORTO_FIELD_PROFILE_DURATION);
		put32(e, p->duration_ms);
		field_end(e, at);
	}
	e->b[SORTO_OFF_TOTAL] = e->n & 0xff;
	e->b[SORTO_OFF_TOTAL + 1] = e->n >> 8;
	e->b[SORTO_OFF_NFIELDS] = e->nfields & 0xff;
	e->b[SORTO_OFF_NFIELDS + 1] = e->nfields >> 8;
	crc = sorto_crc32(0, e->b, e->n);
	for (i = 0; i < 4; i++)
		e->b[SORTO_OFF_CRC + i] = (crc >> (8 * i)) & 0xff;
}

static struct sorto_policy pol_a, pol_b;
static struct enc enc;

static void one(const u8 *buf, size_t size)
{
	int err, err2;

	err = sorto_decode(buf, size, &pol_a);
	CHECK(err <= 0 && err >= -SORTO_E_MAX);
	CHECK(sorto_strerror(err)[0]);
	err2 = sorto_decode(buf, size, &pol_b);
	CHECK(err == err2);
	if (err)
		return;
	CHECK(!memcmp(&pol_a, &pol_b, sizeof(pol_a)));
	check_policy(&pol_a, size);
	if (!pol_a.unknown_fields) {
		reencode(&pol_a, &enc);
		CHECK(enc.n == size && !memcmp(enc.b, buf, size));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	u32 crc;
	u8 *copy;
	int i;

	/* Exact-size heap copy: ASan flags any read past the end. */
	copy = malloc(size ? size : 1);
	CHECK(copy);
	memcpy(copy, data, size);
	one(copy, size);

	/*
	 * Most mutations break the length or the CRC; repair both and decode
	 * again so that the fuzzer reaches the field decoders.
	 */
	if (size >= SORTO_HEADER_SIZE && size <= SORTO_MAX_RECORD) {
		copy[SORTO_OFF_TOTAL] = size & 0xff;
		copy[SORTO_OFF_TOTAL + 1] = size >> 8;
		memset(copy + SORTO_OFF_CRC, 0, 4);
		crc = sorto_crc32(0, copy, size);
		for (i = 0; i < 4; i++)
			copy[SORTO_OFF_CRC + i] = (crc >> (8 * i)) & 0xff;
		one(copy, size);
	}
	free(copy);
	return 0;
}
