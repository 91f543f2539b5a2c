/*
 * VmLck of the calling process in KiB, from /proc/self/status (-1 when it
 * cannot be read): what the test programs report as locked by their policy.
 */
#ifndef VMLCK_H
#define VMLCK_H

#include <stdio.h>

static long vmlck_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

#endif /* VMLCK_H */
