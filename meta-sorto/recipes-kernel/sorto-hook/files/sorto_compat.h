/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * Environment glue for the meta-sorto record decoder: the same decoder
 * source is compiled into the kernel module and into host test programs.
 */
#ifndef SORTO_COMPAT_H
#define SORTO_COMPAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/stddef.h>
#include <linux/string.h>
#else
#include <stddef.h>
#include <string.h>

/* As the kernel's int-ll64.h: right for every ILP32 and LP64 host. */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef signed char s8;
#endif

/* Little-endian readers, byte by byte: no alignment or endian assumptions. */
static inline u16 sorto_le16(const u8 *p)
{
	return (u16)(p[0] | (p[1] << 8));
}

static inline u32 sorto_le32(const u8 *p)
{
	return (u32)p[0] | ((u32)p[1] << 8) | ((u32)p[2] << 16) |
	       ((u32)p[3] << 24);
}

#endif /* SORTO_COMPAT_H */
