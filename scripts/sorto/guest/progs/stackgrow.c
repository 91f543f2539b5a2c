/*
 * Grow the stack well past what exists at exec, for the test that a
 * policy locking the stack never makes later stack growth fail
 * (docs/security.md): Linux checks the growth of a locked stack mapping
 * against RLIMIT_MEMLOCK and answers a failed growth with SIGSEGV.
 *
 *   stackgrow KIB
 *
 * Recurses until KIB KiB of stack are in use, touching every page, and
 * prints "stackgrow kib=N vmlck_kb=N" when it got there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlck.h"

#define FRAME 4096

static __attribute__((noinline)) long grow(long frames)
{
	volatile char page[FRAME];

	memset((char *)page, (int)frames, sizeof(page));
	if (frames <= 1)
		return page[0];
	return grow(frames - 1) + page[FRAME - 1];
}

int main(int argc, char **argv)
{
	long kib = argc > 1 ? atol(argv[1]) : 1024;
	long lck = vmlck_kb();
	long sum = grow(kib * 1024 / FRAME);

	printf("stackgrow kib=%ld vmlck_kb=%ld sum=%ld\n", kib, lck, sum);
	return 0;
}
