/*
 * Run a program and print how the sorto_hook counters moved for that one
 * exec: read the module's stats file, fork, execv, wait, read it again.
 * Nothing else execs in between, so the deltas belong to the program alone.
 * Output: "execstat exit=N signal=N errno=N key=delta ..." on one line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#define STATS "/sys/kernel/debug/sorto_hook/stats"
#define MAXKEYS 32

struct stat_set {
	int n;
	char key[MAXKEYS][32];
	long long val[MAXKEYS];
};

static void read_stats(struct stat_set *s)
{
	char line[128];
	FILE *f = fopen(STATS, "r");

	s->n = 0;
	if (!f)
		return;
	while (s->n < MAXKEYS && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%31s %lld", s->key[s->n], &s->val[s->n]) == 2)
			s->n++;
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	struct stat_set a, b;
	int status, i, pipefd[2], child_errno = 0;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: execstat PROGRAM [ARGS...]\n");
		return 2;
	}
	if (pipe(pipefd))
		return 2;
	read_stats(&a);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		close(pipefd[0]);
		fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);
		execv(argv[1], argv + 1);
		child_errno = errno;
		if (write(pipefd[1], &child_errno, sizeof(child_errno)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &child_errno, sizeof(child_errno)) != sizeof(child_errno))
		child_errno = 0;
	if (waitpid(pid, &status, 0) < 0)
		return 2;
	read_stats(&b);
	printf("execstat exit=%d signal=%d errno=%d",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       WIFSIGNALED(status) ? WTERMSIG(status) : 0, child_errno);
	for (i = 0; i < b.n && i < a.n; i++)
		if (!strcmp(a.key[i], b.key[i]) && b.val[i] != a.val[i])
			printf(" %s=%lld", b.key[i], b.val[i] - a.val[i]);
	printf("\n");
	return 0;
}
