// nsenter: namespace setup that must happen before the Go runtime starts.
//
// setns(2) into a user or mount namespace and unshare(CLONE_NEWUSER) are only
// allowed for a single-threaded process, and a pid namespace only applies to
// children. The Go runtime starts threads before main, so this constructor
// runs first in every `rootlet init` process (marked by _ROOTLET_INIT_FD) and
// does all namespace work, then returns to Go inside the container's
// namespaces.
//
// Protocol on the socket named by _ROOTLET_INIT_FD (see spawn/bootstrap.go):
//   parent -> child  "<len>\n" then len bytes of "key=value\n" lines
//   child  -> parent "maps\n"        after unshare(CLONE_NEWUSER): write maps
//   parent -> child  "ok\n"          maps written
//   child  -> parent "pid <n>\n"     pid of the process that continues to Go
// After "pid", the Go side owns the socket.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

#define MAX_JOIN 16
#define MAX_BOOTSTRAP (64 * 1024)

struct join {
	int flag;
	char *path;
	int fd;
};

struct bootstrap {
	struct join joins[MAX_JOIN];
	int njoins;
	int unshare_flags;
	char *timens_offsets; // ';' separated "clock secs nsecs" entries
	char *oom_score_adj;
	int setuid0; // after the user namespace is mapped, become root in it
};

static int sockfd = -1;

// bail reports an error to the parent as one line and exits; the parent turns
// it into the command's error message.
static void bail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int saved = errno;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (sockfd >= 0) {
		dprintf(sockfd, "error %s: %s\n", msg, strerror(saved));
	} else {
		fprintf(stderr, "nsenter: %s: %s\n", msg, strerror(saved));
	}
	_exit(1);
}

static int read_full(int fd, char *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = read(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += n;
	}
	return 0;
}

static int read_line(int fd, char *buf, size_t len)
{
	size_t off = 0;
	while (off + 1 < len) {
		ssize_t n = read(fd, buf + off, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (buf[off] == '\n') {
			buf[off] = '\0';
			return 0;
		}
		off++;
	}
	return -1;
}

static int nsflag(const char *name)
{
	static const struct {
		const char *name;
		int flag;
	} table[] = {
		{"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS},     {"pid", CLONE_NEWPID},
		{"net", CLONE_NEWNET},   {"ipc", CLONE_NEWIPC},    {"uts", CLONE_NEWUTS},
		{"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(name, table[i].name) == 0)
			return table[i].flag;
	return 0;
}

static void parse_bootstrap(char *data, struct bootstrap *b)
{
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, '=');
		if (!val)
			continue;
		*val++ = '\0';
		if (strcmp(line, "join") == 0) {
			char *path = strchr(val, ':');
			if (!path || b->njoins >= MAX_JOIN)
				bail("bad join entry %s", val);
			*path++ = '\0';
			int flag = nsflag(val);
			if (!flag) {
				errno = EINVAL;
				bail("unknown namespace %s", val);
			}
			b->joins[b->njoins].flag = flag;
			b->joins[b->njoins].path = path;
			b->njoins++;
		} else if (strcmp(line, "unshare") == 0) {
			b->unshare_flags = (int)strtol(val, NULL, 0);
		} else if (strcmp(line, "timens_offsets") == 0) {
			b->timens_offsets = val;
		} else if (strcmp(line, "oom_score_adj") == 0) {
			b->oom_score_adj = val;
		} else if (strcmp(line, "setuid0") == 0) {
			b->setuid0 = 1;
		}
	}
}

static void write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		bail("open %s", path);
	if (write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		bail("write %s", path);
	close(fd);
}

static void join_namespaces(struct bootstrap *b)
{
	// Open every path first: once we are in another mount namespace the
	// remaining paths would resolve there.
	for (int i = 0; i < b->njoins; i++) {
		b->joins[i].fd = open(b->joins[i].path, O_RDONLY | O_CLOEXEC);
		if (b->joins[i].fd < 0)
			bail("open namespace %s", b->joins[i].path);
	}
	// The user namespace first: it grants the capabilities to join the rest.
	for (int i = 0; i < b->njoins; i++) {
		if (b->joins[i].flag != CLONE_NEWUSER)
			continue;
		if (setns(b->joins[i].fd, CLONE_NEWUSER) < 0)
			bail("setns user %s", b->joins[i].path);
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			; // 0 may be unmapped; the Go side sets the real ids later
	}
	// The mount namespace last, after every other path is already open.
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < b->njoins; i++) {
			int flag = b->joins[i].flag;
			if (flag == CLONE_NEWUSER || (flag == CLONE_NEWNS) != (pass == 1))
				continue;
			if (setns(b->joins[i].fd, flag) < 0)
				bail("setns %s", b->joins[i].path);
		}
	}
	for (int i = 0; i < b->njoins; i++)
		close(b->joins[i].fd);
}

static void write_timens_offsets(char *offsets)
{
	// "monotonic 5 0;boottime 7 0" -> one write per line, as the kernel wants.
	char *save = NULL;
	for (char *entry = strtok_r(offsets, ";", &save); entry; entry = strtok_r(NULL, ";", &save))
		write_file("/proc/self/timens_offsets", entry);
}

static int joined(struct bootstrap *b, int flag)
{
	for (int i = 0; i < b->njoins; i++)
		if (b->joins[i].flag == flag)
			return 1;
	return 0;
}

__attribute__((constructor)) static void nsenter(void)
{
	const char *env = getenv("_ROOTLET_INIT_FD");
	if (!env)
		return;
	sockfd = atoi(env);
	if (sockfd < 3 || fcntl(sockfd, F_GETFD) < 0) {
		fprintf(stderr, "nsenter: bad _ROOTLET_INIT_FD\n");
		_exit(1);
	}
	// Nothing in the container may ptrace us or open /proc/<pid>/exe.
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	char line[32];
	if (read_line(sockfd, line, sizeof(line)) < 0)
		bail("read bootstrap length");
	size_t len = strtoul(line, NULL, 10);
	if (len > MAX_BOOTSTRAP) {
		errno = E2BIG;
		bail("bootstrap");
	}
	char *data = calloc(1, len + 1);
	if (!data || read_full(sockfd, data, len) < 0)
		bail("read bootstrap");
	struct bootstrap b = {0};
	parse_bootstrap(data, &b);

	// Before a new user namespace: lowering it needs CAP_SYS_RESOURCE in the
	// initial namespace.
	if (b.oom_score_adj)
		write_file("/proc/self/oom_score_adj", b.oom_score_adj);

	join_namespaces(&b);

	if (b.unshare_flags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("unshare user namespace");
		// Only the parent may write our maps when they name more than one id.
		// A non-root parent can write our /proc files only while we are
		// dumpable; nothing of the container exists yet to abuse that.
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		dprintf(sockfd, "maps\n");
		if (read_line(sockfd, line, sizeof(line)) < 0 || strcmp(line, "ok") != 0) {
			errno = EPROTO;
			bail("waiting for id maps");
		}
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (b.setuid0 && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
			bail("become root in the user namespace");
	}
	int rest = b.unshare_flags & ~CLONE_NEWUSER;
	if (rest && unshare(rest) < 0)
		bail("unshare namespaces 0x%x", rest);
	if ((b.unshare_flags & CLONE_NEWTIME) && b.timens_offsets)
		write_timens_offsets(b.timens_offsets);

	// A new or joined pid (or time) namespace applies only to children.
	if ((b.unshare_flags & (CLONE_NEWPID | CLONE_NEWTIME)) || joined(&b, CLONE_NEWPID) ||
	    joined(&b, CLONE_NEWTIME)) {
		pid_t child = fork();
		if (child < 0)
			bail("fork into the pid namespace");
		if (child > 0) {
			dprintf(sockfd, "pid %d\n", child);
			_exit(0);
		}
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	} else {
		dprintf(sockfd, "pid %d\n", getpid());
	}
	free(data);
}
