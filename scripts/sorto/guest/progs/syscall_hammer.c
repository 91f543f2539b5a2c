/*
 * Hammer one syscall path so that a trace of this program is dominated by
 * it: `syscall_hammer getppid N` calls getppid() N times, `syscall_hammer
 * write N` writes one byte to /dev/null N times.  Used by `sorto trace`
 * fixtures and by the analyzer test, which expects the hammered path's
 * kernel functions at the top of the function profile.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long i, n;
	long sum = 0;
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: syscall_hammer getppid|write COUNT\n");
		return 2;
	}
	n = atol(argv[2]);
	if (strcmp(argv[1], "getppid") == 0) {
		for (i = 0; i < n; i++)
			sum += syscall(SYS_getppid); /* not cached by libc */
		printf("getppid x%ld done (%ld)\n", n, sum / (n ? n : 1));
		return 0;
	}
	if (strcmp(argv[1], "write") == 0) {
		fd = open("/dev/null", O_WRONLY);
		if (fd < 0) {
			perror("/dev/null");
			return 1;
		}
		for (i = 0; i < n; i++)
			if (write(fd, "x", 1) != 1) {
				perror("write");
				return 1;
			}
		close(fd);
		printf("write x%ld done\n", n);
		return 0;
	}
	fprintf(stderr, "syscall_hammer: unknown path %s\n", argv[1]);
	return 2;
}
