// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * Decoder of the meta-sorto metadata record (format version 1).
 *
 * Mirrors decode() in scripts/sorto/codec.py check for check: the same
 * bytes give the same error code in both.  Reads only buf[0..len), with
 * byte-wise little-endian accessors, so it behaves the same on any host,
 * any alignment and any kernel version.
 */
#include "sorto_decode.h"

static const char *const sorto_errors[] = SORTO_ERROR_STRINGS;

const char *sorto_strerror(int err)
{
	unsigned int e = err < 0 ? -(unsigned int)err : (unsigned int)err;

	if (e > SORTO_E_MAX)
		return "unknown error";
	return sorto_errors[e];
}

/* Nibble table for the reflected polynomial 0xEDB88320. */
static const u32 sorto_crc_nibble[16] = {
	0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
	0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
	0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
	0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

u32 sorto_crc32(u32 crc, const u8 *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		crc = (crc >> 4) ^ sorto_crc_nibble[crc & 15];
		crc = (crc >> 4) ^ sorto_crc_nibble[crc & 15];
	}
	return ~crc;
}

const char *sorto_status_name(unsigned int status)
{
	switch (status) {
	case SORTO_STATUS_MANUAL:
		return "manual";
	case SORTO_STATUS_PROFILED:
		return "profiled";
	case SORTO_STATUS_UNPROFILED:
		return "unprofiled";
	}
	return NULL;
}

const char *sorto_region_name(unsigned int region)
{
	switch (region) {
	case SORTO_REGION_TEXT:
		return "text";
	case SORTO_REGION_DATA:
		return "data";
	case SORTO_REGION_HEAP:
		return "heap";
	case SORTO_REGION_STACK:
		return "stack";
	case SORTO_REGION_ALL:
		return "all";
	case SORTO_REGION_FILE:
		return "file";
	}
	return NULL;
}

const char *sorto_policy_name(unsigned int policy)
{
	switch (policy) {
	case SORTO_POLICY_OTHER:
		return "other";
	case SORTO_POLICY_FIFO:
		return "fifo";
	case SORTO_POLICY_RR:
		return "rr";
	case SORTO_POLICY_BATCH:
		return "batch";
	case SORTO_POLICY_IDLE:
		return "idle";
	}
	return NULL;
}

int sorto_name_char(int c)
{
	const char *p;

	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	for (p = SORTO_NAME_PUNCT; *p; p++)
		if (c == *p)
			return 1;
	return 0;
}

/* codec._dname(): 1..SORTO_MAX_NAME characters of the name set. */
static int sorto_name(struct sorto_name *n, const u8 *p, size_t len)
{
	size_t i;

	if (len < 1 || len > SORTO_MAX_NAME)
		return -SORTO_E_NAME;
	for (i = 0; i < len; i++)
		if (!sorto_name_char(p[i]))
			return -SORTO_E_NAME;
	memcpy(n->s, p, len);
	n->s[len] = '\0';
	n->len = (u8)len;
	return 0;
}

static int sorto_field_mlock(const u8 *v, size_t len, struct sorto_policy *out)
{
	struct sorto_mlock *m;
	u8 region;
	int err;

	if (len < SORTO_MLOCK_FIXED)
		return -SORTO_E_FIELD_SIZE;
	region = v[0];
	if (v[1] || sorto_le16(v + 2))
		return -SORTO_E_RESERVED;
	if (!sorto_region_name(region))
		return -SORTO_E_RANGE;
	if (out->n_mlock >= SORTO_MAX_MLOCK)
		return -SORTO_E_TOO_MANY;
	m = &out->mlock[out->n_mlock];
	m->region = region;
	m->max_bytes = sorto_le32(v + 4);
	if (region == SORTO_REGION_FILE) {
		err = sorto_name(&m->name, v + SORTO_MLOCK_FIXED,
				 len - SORTO_MLOCK_FIXED);
		if (err)
			return err;
	} else if (len > SORTO_MLOCK_FIXED) {
		return -SORTO_E_FIELD_SIZE;
	}
	out->n_mlock++;
	return 0;
}

static int sorto_field_sched(const u8 *v, size_t len, struct sorto_policy *out)
{
	struct sorto_sched *s = &out->sched;
	u8 policy, prio, flags;
	int nice;
	size_t nbytes;

	if (len < SORTO_SCHED_FIXED ||
	    len > SORTO_SCHED_FIXED + SORTO_MAX_CPU_BYTES)
		return -SORTO_E_FIELD_SIZE;
	policy = v[0];
	prio = v[1];
	nice = v[2] & 0x80 ? (int)v[2] - 256 : (int)v[2];
	flags = v[3];
	if (flags & ~SORTO_SCHED_FLAGS_KNOWN)
		return -SORTO_E_RESERVED;
	if (!sorto_policy_name(policy) || prio > SORTO_SCHED_PRIO_MAX ||
	    nice < SORTO_NICE_MIN || nice > SORTO_NICE_MAX)
		return -SORTO_E_RANGE;
	if ((!(flags & SORTO_SCHED_FLAG_PRIORITY) && prio) ||
	    (!(flags & SORTO_SCHED_FLAG_NICE) && nice))
		return -SORTO_E_RESERVED;
	nbytes = len - SORTO_SCHED_FIXED;
	/* Canonical bitmap: no trailing zero bytes. */
	if (nbytes && v[len - 1] == 0)
		return -SORTO_E_FIELD_SIZE;
	s->present = 1;
	s->policy = policy;
	s->priority = prio;
	s->nice = (s8)nice;
	s->flags = flags;
	s->ncpu_bytes = (u8)nbytes;
	memcpy(s->cpus, v + SORTO_SCHED_FIXED, nbytes);
	return 0;
}

static int sorto_field_irq(const u8 *v, size_t len, struct sorto_policy *out)
{
	struct sorto_irq *q;
	u8 sel, flags;
	u32 irq;
	int err;

	if (len < SORTO_IRQ_FIXED)
		return -SORTO_E_FIELD_SIZE;
	sel = v[0];
	flags = v[1];
	irq = sorto_le32(v + 4);
	if (sorto_le16(v + 2) || (flags & ~SORTO_IRQ_FLAGS_KNOWN))
		return -SORTO_E_RESERVED;
	if (out->n_irq >= SORTO_MAX_IRQ)
		return -SORTO_E_TOO_MANY;
	q = &out->irq[out->n_irq];
	if (sel == SORTO_IRQ_BY_NUMBER) {
		if (len > SORTO_IRQ_FIXED)
			return -SORTO_E_FIELD_SIZE;
		q->irq = irq;
	} else if (sel == SORTO_IRQ_BY_NAME) {
		if (irq)
			return -SORTO_E_RESERVED;
		err = sorto_name(&q->name, v + SORTO_IRQ_FIXED,
				 len - SORTO_IRQ_FIXED);
		if (err)
			return err;
	} else {
		return -SORTO_E_RANGE;
	}
	q->selector = sel;
	q->flags = flags;
	out->n_irq++;
	return 0;
}

static int sorto_field_scratch(const u8 *v, size_t len,
			       struct sorto_policy *out)
{
	struct sorto_scratch *sp;
	u32 weight;
	int err;

	if (len < SORTO_SCRATCH_FIXED + 1)
		return -SORTO_E_FIELD_SIZE;
	weight = sorto_le32(v);
	if (weight > SORTO_MAX_WEIGHT)
		return -SORTO_E_RANGE;
	if (out->n_scratch >= SORTO_MAX_SCRATCH)
		return -SORTO_E_TOO_MANY;
	sp = &out->scratch[out->n_scratch];
	err = sorto_name(&sp->function, v + SORTO_SCRATCH_FIXED,
			 len - SORTO_SCRATCH_FIXED);
	if (err)
		return err;
	sp->weight = weight;
	out->n_scratch++;
	return 0;
}

static int sorto_field(unsigned int type, const u8 *v, size_t len,
		       struct sorto_policy *out)
{
	int err;

	switch (type) {
	case SORTO_FIELD_MLOCK:
		return sorto_field_mlock(v, len, out);
	case SORTO_FIELD_SCHED:
		return sorto_field_sched(v, len, out);
	case SORTO_FIELD_IRQ_DEFER:
		return sorto_field_irq(v, len, out);
	case SORTO_FIELD_SCRATCHPAD:
		return sorto_field_scratch(v, len, out);
	case SORTO_FIELD_PROFILE_SOURCE:
		err = sorto_name(&out->source, v, len);
		if (!err)
			out->has_source = 1;
		return err;
	case SORTO_FIELD_PROFILE_KERNEL:
		err = sorto_name(&out->kernel, v, len);
		if (!err)
			out->has_kernel = 1;
		return err;
	case SORTO_FIELD_PROFILE_DIGEST:
		if (len != SORTO_DIGEST_SIZE)
			return -SORTO_E_FIELD_SIZE;
		memcpy(out->digest, v, SORTO_DIGEST_SIZE);
		out->has_digest = 1;
		return 0;
	case SORTO_FIELD_PROFILE_DURATION:
		if (len != SORTO_DURATION_SIZE)
			return -SORTO_E_FIELD_SIZE;
		out->duration_ms = sorto_le32(v);
		out->has_duration = 1;
		return 0;
	}
	/* Unknown field types are skipped (newer writers), and counted. */
	out->unknown_fields++;
	return 0;
}

static int sorto_single_field(unsigned int type)
{
	return type < 16 && ((SORTO_SINGLE_FIELDS_MASK >> type) & 1);
}

int sorto_decode(const void *buf, size_t len, struct sorto_policy *out)
{
	static const u8 zero_crc[4];
	const u8 *d = buf;
	unsigned int flags, total, nfields, type, last_type = 0;
	unsigned int count = 0;
	size_t pos, flen, pad, i;
	u32 crc;
	int err;

	memset(out, 0, sizeof(*out));
	if (len < SORTO_HEADER_SIZE)
		return -SORTO_E_SHORT;
	if (memcmp(d, SORTO_MAGIC, SORTO_MAGIC_SIZE))
		return -SORTO_E_MAGIC;
	if (d[SORTO_OFF_VERSION] != SORTO_VERSION)
		return -SORTO_E_VERSION;
	if (d[SORTO_OFF_HEADER_SIZE] != SORTO_HEADER_SIZE)
		return -SORTO_E_HEADER_SIZE;
	flags = sorto_le16(d + SORTO_OFF_FLAGS);
	if ((flags & ~SORTO_FLAGS_KNOWN) ||
	    !sorto_status_name(flags & SORTO_FLAG_STATUS_MASK))
		return -SORTO_E_FLAGS;
	if (len > SORTO_MAX_RECORD)
		return -SORTO_E_TOO_BIG;
	total = sorto_le16(d + SORTO_OFF_TOTAL);
	if (total != len)
		return -SORTO_E_LENGTH;
	nfields = sorto_le16(d + SORTO_OFF_NFIELDS);

	/* CRC over the whole record, its own four bytes taken as zero. */
	crc = sorto_crc32(0, d, SORTO_OFF_CRC);
	crc = sorto_crc32(crc, zero_crc, sizeof(zero_crc));
	crc = sorto_crc32(crc, d + SORTO_OFF_CRC + 4,
			  total - SORTO_OFF_CRC - 4);
	if (crc != sorto_le32(d + SORTO_OFF_CRC))
		return -SORTO_E_CRC;

	out->flags = (u16)flags;
	out->total_len = (u16)total;
	out->nfields = (u16)nfields;

	pos = SORTO_HEADER_SIZE;
	while (pos < total) {
		if (total - pos < SORTO_FIELD_HEADER_SIZE)
			return -SORTO_E_FIELD_TRUNC;
		type = sorto_le16(d + pos);
		flen = sorto_le16(d + pos + 2);
		pos += SORTO_FIELD_HEADER_SIZE;
		if (flen > total - pos)
			return -SORTO_E_FIELD_OVERRUN;
		pad = (SORTO_ALIGN - flen % SORTO_ALIGN) % SORTO_ALIGN;
		if (pad > total - pos - flen)
			return -SORTO_E_FIELD_OVERRUN;
		for (i = 0; i < pad; i++)
			if (d[pos + flen + i])
				return -SORTO_E_PADDING;
		count++;
		if (count > SORTO_MAX_FIELDS)
			return -SORTO_E_TOO_MANY;
		if (type < last_type)
			return -SORTO_E_ORDER;
		if (type == last_type && sorto_single_field(type))
			return -SORTO_E_DUPLICATE;
		last_type = type;
		err = sorto_field(type, d + pos, flen, out);
		if (err)
			return err;
		pos += flen + pad;
	}
	if (count != nfields)
		return -SORTO_E_NFIELDS;
	return 0;
}
