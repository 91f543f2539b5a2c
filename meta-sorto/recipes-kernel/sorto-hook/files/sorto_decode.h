/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * Decoder of the meta-sorto metadata record (format version 1).
 *
 * The checks, their order and the error codes are those of decode() in
 * scripts/sorto/codec.py, the reference decoder: both decoders return the
 * same error (negated here) for the same bytes.  This file and
 * sorto_decode.c are compiled unchanged into the kernel module, the host
 * unit harness and the fuzz target.
 */
#ifndef SORTO_DECODE_H
#define SORTO_DECODE_H

#include "sorto_compat.h"
#include "sorto_format.h"

/* A validated name: 1..SORTO_MAX_NAME characters of the name set. */
struct sorto_name {
	u8 len;				/* 0 when absent */
	char s[SORTO_MAX_NAME + 1];	/* always NUL-terminated */
};

struct sorto_mlock {
	u8 region;			/* SORTO_REGION_* */
	u32 max_bytes;
	struct sorto_name name;		/* only for SORTO_REGION_FILE */
};

struct sorto_sched {
	u8 present;
	u8 policy;			/* SORTO_POLICY_* */
	u8 priority;			/* 0 unless SORTO_SCHED_FLAG_PRIORITY */
	s8 nice;			/* 0 unless SORTO_SCHED_FLAG_NICE */
	u8 flags;			/* SORTO_SCHED_FLAG_* */
	u8 ncpu_bytes;			/* last byte is nonzero when > 0 */
	u8 cpus[SORTO_MAX_CPU_BYTES];	/* bit n of byte i: CPU i * 8 + n */
};

struct sorto_irq {
	u8 selector;			/* SORTO_IRQ_BY_NUMBER or _BY_NAME */
	u8 flags;			/* SORTO_IRQ_FLAG_* */
	u32 irq;			/* 0 when selected by name */
	struct sorto_name name;		/* only for SORTO_IRQ_BY_NAME */
};

struct sorto_scratch {
	u32 weight;
	struct sorto_name function;
};

struct sorto_policy {
	u16 flags;			/* header flags; status in low bits */
	u16 nfields;
	u16 total_len;
	u32 unknown_fields;		/* fields of unknown type, skipped */
	u8 n_mlock, n_irq, n_scratch;
	struct sorto_mlock mlock[SORTO_MAX_MLOCK];
	struct sorto_sched sched;
	struct sorto_irq irq[SORTO_MAX_IRQ];
	struct sorto_scratch scratch[SORTO_MAX_SCRATCH];
	u8 has_source, has_kernel, has_digest, has_duration;
	struct sorto_name source, kernel;
	u8 digest[SORTO_DIGEST_SIZE];
	u32 duration_ms;
};

/*
 * Decode the record buf[0..len) into *out.  Returns 0 or -SORTO_E_*.
 * Never reads outside buf[0..len); *out is fully overwritten (zeroed first)
 * and is only meaningful on success.
 */
int sorto_decode(const void *buf, size_t len, struct sorto_policy *out);

/* Message for 0 or -SORTO_E_* (either sign); "unknown error" otherwise. */
const char *sorto_strerror(int err);

/* CRC-32 as zlib.crc32(): reflected 0xEDB88320, init and final xor ~0. */
u32 sorto_crc32(u32 crc, const u8 *p, size_t len);

/* Canonical names of enumerated values (as in the policy); NULL if none. */
const char *sorto_status_name(unsigned int status);
const char *sorto_region_name(unsigned int region);
const char *sorto_policy_name(unsigned int policy);

/* True if c belongs to the name character set [A-Za-z0-9_.:+@/-]. */
int sorto_name_char(int c);

#endif /* SORTO_DECODE_H */
