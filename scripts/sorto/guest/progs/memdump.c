/*
 * memdump ADDR LEN: write LEN bytes of physical memory at ADDR to stdout.
 *
 * Through mmap of /dev/mem, because read() of /dev/mem refuses addresses
 * below the start of RAM on ARM, where on-chip SRAM usually sits.  The
 * scratchpad tests compare the SRAM copy of kernel text with the DRAM one.
 */
#define _FILE_OFFSET_BITS 64	/* DRAM sits above 2 GiB on vexpress */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned long long addr, len, base;
	const unsigned char *p;
	long page = sysconf(_SC_PAGESIZE);
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: memdump ADDR LEN\n");
		return 2;
	}
	addr = strtoull(argv[1], NULL, 0);
	len = strtoull(argv[2], NULL, 0);
	base = addr & ~(unsigned long long)(page - 1);
	fd = open("/dev/mem", O_RDONLY | O_SYNC);
	if (fd < 0) {
		perror("/dev/mem");
		return 1;
	}
	p = mmap(NULL, len + (addr - base), PROT_READ, MAP_SHARED, fd, (off_t)base);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (fwrite(p + (addr - base), 1, len, stdout) != len) {
		perror("write");
		return 1;
	}
	return 0;
}
