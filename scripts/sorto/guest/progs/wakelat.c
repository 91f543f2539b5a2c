/*
 * Wake-up latency of a periodic task: sleep to absolute deadlines PERIOD_US
 * apart with clock_nanosleep(TIMER_ABSTIME) and record how late each
 * wake-up was.  Run it with and without a policy beside an interrupt
 * source and a CPU hog.
 *
 *   wakelat PERIOD_US COUNT
 *
 * Output: "wakelat n=N median_us=N p99_us=N max_us=N faults=N"
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/resource.h>

static int cmp(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct timespec next, now;
	struct rusage ru;
	long period, *lat;
	int n, i;

	if (argc != 3) {
		fprintf(stderr, "usage: wakelat PERIOD_US COUNT\n");
		return 2;
	}
	period = atol(argv[1]) * 1000L;
	n = atoi(argv[2]);
	if (period <= 0 || n <= 0)
		return 2;
	lat = calloc(n, sizeof(*lat));
	if (!lat)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (i = 0; i < n; i++) {
		next.tv_nsec += period;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		lat[i] = (now.tv_sec - next.tv_sec) * 1000000000L + (now.tv_nsec - next.tv_nsec);
	}
	qsort(lat, n, sizeof(*lat), cmp);
	getrusage(RUSAGE_SELF, &ru);
	printf("wakelat n=%d median_us=%ld p99_us=%ld max_us=%ld faults=%ld\n", n, lat[n / 2] / 1000,
	       lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000, lat[n - 1] / 1000, ru.ru_minflt + ru.ru_majflt);
	return 0;
}
