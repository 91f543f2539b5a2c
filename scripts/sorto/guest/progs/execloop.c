/*
 * Exec a program N times (fork, execve, wait) and print the mean wall time
 * per exec in nanoseconds: the exec-overhead benchmark and the unload stress
 * test use it.  Exits 1 if any child failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long i, n, failed = 0;
	long long t0, t1;

	if (argc < 3) {
		fprintf(stderr, "usage: execloop COUNT PROGRAM [ARGS...]\n");
		return 2;
	}
	n = atol(argv[1]);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			int fd = open("/dev/null", 1);

			if (fd >= 0)
				dup2(fd, 1);
			execv(argv[2], argv + 2);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	t1 = now_ns();
	printf("execloop n=%ld failed=%ld ns_per_exec=%lld\n", n, failed, n ? (t1 - t0) / n : 0);
	return failed ? 1 : 0;
}
