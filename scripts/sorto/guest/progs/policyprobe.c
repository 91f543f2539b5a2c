/*
 * Test program for policies that act (docs/security.md): reports what the
 * kernel applied to it at exec, then touches its data, bss and stack in a
 * timed phase and reports how many page faults that took.
 *
 *   policyprobe [SLEEP_MS [HOLD_MS]]
 *
 * Output, one line:
 *   policyprobe pid=N vmlck_kb=N policy=N prio=N nice=N cpus=LIST
 *               faults=N touched_kb=N
 * SLEEP_MS (default 0) is slept before the timed phase, so a test can look
 * at the process (and at interrupt threads) while it runs; HOLD_MS (default
 * 0) after it, so a sampler sees the memory it touched (sorto trace).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "vmlck.h"

#define BSS_SIZE (4 << 20)
#define DATA_SIZE (256 << 10)
#define STACK_TOUCH (64 << 10)

static char bss[BSS_SIZE];
static char data[DATA_SIZE] = { 1 };

static void sleep_ms(const char *arg)
{
	long ms = atol(arg);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static long faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt + ru.ru_majflt;
}

/* Touch STACK_TOUCH bytes of stack below this frame. */
static __attribute__((noinline)) long touch_stack(void)
{
	volatile char buf[STACK_TOUCH];
	long sum = 0;
	size_t i;

	for (i = 0; i < sizeof(buf); i += 4096) {
		buf[i] = (char)i;
		sum += buf[i];
	}
	return sum;
}

int main(int argc, char **argv)
{
	struct sched_param sp;
	cpu_set_t set;
	long before, after, lck, sum = 0;
	int policy, cpu, first = 1;
	size_t i;
	char cpus[256] = "";

	if (argc > 1)
		sleep_ms(argv[1]);
	lck = vmlck_kb();
	policy = sched_getscheduler(0);
	sched_getparam(0, &sp);
	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof(set), &set);
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		snprintf(cpus + strlen(cpus), sizeof(cpus) - strlen(cpus), "%s%d", first ? "" : ",", cpu);
		first = 0;
	}

	/* The timed phase: nothing but memory accesses between the counters. */
	before = faults();
	for (i = 0; i < BSS_SIZE; i += 4096)
		bss[i] = (char)i;
	for (i = 0; i < DATA_SIZE; i += 4096)
		data[i] += 1;
	sum += touch_stack();
	after = faults();
	if (argc > 2)
		sleep_ms(argv[2]);

	printf("policyprobe pid=%d vmlck_kb=%ld policy=%d prio=%d nice=%d cpus=%s faults=%ld touched_kb=%d sum=%ld\n",
	       getpid(), lck, policy, sp.sched_priority, getpriority(PRIO_PROCESS, 0), cpus, after - before,
	       (BSS_SIZE + DATA_SIZE + STACK_TOUCH) >> 10, sum + bss[4096] + data[0]);
	return 0;
}
