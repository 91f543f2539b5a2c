/*
 * An LD_PRELOAD library for the attack tests (docs/security.md): its
 * constructor runs inside whatever program it is preloaded into, before
 * main, and reports the scheduling class and priority that code runs
 * with.  Whoever runs a program that is not a secure exec can do this, so
 * a policy must never give such a program more than its user could get.
 *
 * Output, one line on stderr:
 *   evil pid=N policy=N prio=N vmlck_kb=N
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "vmlck.h"

static void __attribute__((constructor)) evil(void)
{
	struct sched_param sp = { 0 };

	sched_getparam(0, &sp);
	fprintf(stderr, "evil pid=%d policy=%d prio=%d vmlck_kb=%ld\n", getpid(), sched_getscheduler(0),
		sp.sched_priority, vmlck_kb());
}
