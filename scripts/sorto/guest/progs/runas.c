/*
 * Run a program as another user with chosen rlimits, the way a login
 * would: the guest has no su/chrt with numeric users and rlimits.
 *
 *   runas UID MEMLOCK_BYTES RTPRIO PROG [ARG...]
 *
 * Sets RLIMIT_MEMLOCK and RLIMIT_RTPRIO (soft and hard), RLIMIT_NICE to 0,
 * drops supplementary groups, sets gid and uid to UID, then execs PROG.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/resource.h>

static void limit(int res, unsigned long long v, const char *name)
{
	struct rlimit rl = { (rlim_t)v, (rlim_t)v };

	if (setrlimit(res, &rl)) {
		perror(name);
		exit(126);
	}
}

int main(int argc, char **argv)
{
	unsigned int uid;

	if (argc < 5) {
		fprintf(stderr, "usage: runas UID MEMLOCK_BYTES RTPRIO PROG [ARG...]\n");
		return 2;
	}
	uid = (unsigned int)strtoul(argv[1], NULL, 0);
	limit(RLIMIT_MEMLOCK, strtoull(argv[2], NULL, 0), "RLIMIT_MEMLOCK");
	limit(RLIMIT_RTPRIO, strtoull(argv[3], NULL, 0), "RLIMIT_RTPRIO");
	limit(RLIMIT_NICE, 0, "RLIMIT_NICE");
	if (setgroups(0, NULL) || setgid(uid) || setuid(uid)) {
		perror("runas: set ids");
		return 126;
	}
	execv(argv[4], argv + 4);
	perror(argv[4]);
	return 127;
}
