/*
 * fuse_hold MOUNTPOINT FILE N HOLD_FROM
 *
 * Mount a FUSE file system at MOUNTPOINT that shows FILE's bytes as N
 * read-only executables p0 .. p(N-1), each its own inode, and serve it in
 * the background.  Every READ at an offset >= HOLD_FROM is held until reads
 * of all N files are pending; then all are answered.  Started with N execs of
 * p0 .. p(N-1) whose section header table lies past HOLD_FROM, this holds
 * N execs inside the section lookup's kernel_read() at once, each with
 * whatever buffer it took for the table: the kernel-path test's way to
 * make one exec find every tail buffer in use.
 *
 * It speaks the kernel's FUSE protocol on /dev/fuse itself (no libfuse):
 * INIT, LOOKUP, GETATTR, OPEN, READ, FLUSH, RELEASE, FORGET, DESTROY;
 * anything else gets ENOSYS.  The foreground process exits once the file
 * system is mounted; the server exits at unmount.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FILES 16
#define BUF_SIZE (1 << 20)

struct held {
	uint64_t unique, offset;
	uint32_t size;
};

#define MAX_HELD 256

static int fd;
static char *data;
static size_t data_size;
static int nfiles;
static uint64_t hold_from;
static struct held held[MAX_HELD];
static int nheld;
static unsigned int held_files;	/* bit i: a read of p<i> is held */

static void reply(uint64_t unique, int error, const void *arg, size_t len)
{
	struct fuse_out_header out = {
		.len = sizeof(out) + len, .error = error, .unique = unique,
	};
	struct iovec iov[2] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = (void *)arg, .iov_len = len },
	};

	if (writev(fd, iov, len ? 2 : 1) < 0 && errno != ENOENT)
		perror("fuse_hold: reply");
}

static void fill_attr(uint64_t nodeid, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = nodeid;
	a->blksize = 4096;
	if (nodeid == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0755;
		a->nlink = 1;
		a->size = data_size;
		a->blocks = (data_size + 511) / 512;
	}
}

static void answer_read(uint64_t unique, uint64_t offset, uint32_t size)
{
	size_t len = 0;

	if (offset < data_size)
		len = data_size - offset < size ? data_size - offset : size;
	reply(unique, 0, data + offset, len);
}

static void handle(const struct fuse_in_header *in, const void *arg)
{
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = arg;
		struct fuse_init_out io = {
			.major = FUSE_KERNEL_VERSION,
			.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ?
				 ii->minor : FUSE_KERNEL_MINOR_VERSION,
			.max_readahead = 65536,
			.flags = ii->flags & FUSE_ASYNC_READ,
			.max_background = 16,
			.congestion_threshold = 12,
			.max_write = 4096,
			.time_gran = 1,
		};

		reply(in->unique, 0, &io, sizeof(io));
		return;
	}
	case FUSE_LOOKUP: {
		const char *name = arg;
		struct fuse_entry_out e;
		int i;

		if (in->nodeid != FUSE_ROOT_ID || name[0] != 'p' ||
		    sscanf(name + 1, "%d", &i) != 1 || i < 0 || i >= nfiles) {
			reply(in->unique, -ENOENT, NULL, 0);
			return;
		}
		memset(&e, 0, sizeof(e));
		e.nodeid = FUSE_ROOT_ID + 1 + i;
		e.entry_valid = e.attr_valid = 3600;
		fill_attr(e.nodeid, &e.attr);
		reply(in->unique, 0, &e, sizeof(e));
		return;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out a;

		memset(&a, 0, sizeof(a));
		a.attr_valid = 3600;
		fill_attr(in->nodeid, &a.attr);
		reply(in->unique, 0, &a, sizeof(a));
		return;
	}
	case FUSE_OPEN: {
		struct fuse_open_out o = { .fh = in->nodeid };

		reply(in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_READ: {
		const struct fuse_read_in *r = arg;

		if (r->offset < hold_from) {
			answer_read(in->unique, r->offset, r->size);
			return;
		}
		if (in->nodeid <= FUSE_ROOT_ID || in->nodeid > FUSE_ROOT_ID + (uint64_t)nfiles ||
		    nheld == MAX_HELD) {
			reply(in->unique, -EIO, NULL, 0);
			return;
		}
		held[nheld].unique = in->unique;
		held[nheld].offset = r->offset;
		held[nheld].size = r->size;
		nheld++;
		held_files |= 1u << (in->nodeid - FUSE_ROOT_ID - 1);
		if (held_files != (1u << nfiles) - 1)
			return;
		fprintf(stderr, "fuse_hold: %d reads of %d files held, answering\n", nheld, nfiles);
		for (int i = 0; i < nheld; i++)
			answer_read(held[i].unique, held[i].offset, held[i].size);
		nheld = 0;
		hold_from = UINT64_MAX;	/* once */
		return;
	}
	case FUSE_FLUSH:
	case FUSE_RELEASE:
		reply(in->unique, 0, NULL, 0);
		return;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		return;	/* no reply */
	case FUSE_DESTROY:
		reply(in->unique, 0, NULL, 0);
		exit(0);
	default:
		reply(in->unique, -ENOSYS, NULL, 0);
	}
}

static void load(const char *path)
{
	int f = open(path, O_RDONLY);
	struct stat st;

	if (f < 0 || fstat(f, &st) < 0) {
		perror(path);
		exit(1);
	}
	data_size = st.st_size;
	data = malloc(data_size ? data_size : 1);
	if (!data || read(f, data, data_size) != (ssize_t)data_size) {
		fprintf(stderr, "fuse_hold: cannot read %s\n", path);
		exit(1);
	}
	close(f);
}

int main(int argc, char **argv)
{
	char opts[128], *buf;
	ssize_t n;
	pid_t pid;

	if (argc != 5) {
		fprintf(stderr, "usage: fuse_hold MOUNTPOINT FILE N HOLD_FROM\n");
		return 2;
	}
	load(argv[2]);
	nfiles = atoi(argv[3]);
	hold_from = strtoull(argv[4], NULL, 0);
	if (nfiles < 1 || nfiles > MAX_FILES) {
		fprintf(stderr, "fuse_hold: N must be 1 to %d\n", MAX_FILES);
		return 2;
	}
	fd = open("/dev/fuse", O_RDWR);
	if (fd < 0) {
		perror("/dev/fuse");
		return 1;
	}
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,default_permissions", fd);
	if (mount("fuse_hold", argv[1], "fuse", MS_NOSUID | MS_NODEV, opts) < 0) {
		perror("mount");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid > 0)
		return 0;	/* mounted; the child serves */
	buf = malloc(BUF_SIZE);
	if (!buf)
		return 1;
	for (;;) {
		n = read(fd, buf, BUF_SIZE);
		if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
			continue;
		if (n < 0)
			return errno == ENODEV ? 0 : 1;	/* ENODEV: unmounted */
		if ((size_t)n < sizeof(struct fuse_in_header))
			return 1;
		handle((const struct fuse_in_header *)buf, buf + sizeof(struct fuse_in_header));
	}
}
