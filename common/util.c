#include "common/util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"

int errf(char *err, size_t errsz, const char *fmt, ...)
{
	if (err && errsz) {
		int saved = errno;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
		errno = saved;
	}
	return -1;
}

char *read_fd(int fd, const char *name, size_t max, size_t *len, char *err, size_t errsz)
{
	struct buf b;
	char chunk[65536];
	buf_init(&b, max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			errf(err, errsz, "%s: %s", name, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			if (errno == E2BIG) {
				errf(err, errsz, "%s: larger than the limit of %zu bytes", name, max);
				errno = EFBIG;
			} else {
				errf(err, errsz, "%s: %s", name, strerror(errno));
			}
			goto fail;
		}
	}
	char *p = buf_detach(&b, len);
	if (!p)
		errf(err, errsz, "%s: %s", name, strerror(ENOMEM));
	return p;
fail:;
	int saved = errno;
	buf_release(&b);
	errno = saved;
	return NULL;
}

ssize_t read_full(int fd, void *p, size_t want)
{
	size_t got = 0;
	while (got < want) {
		ssize_t n = read(fd, (char *)p + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int open_stat(const char *path, struct stat *st, char *err, size_t errsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, st) < 0) {
		int saved = errno;
		errf(err, errsz, "%s: %s", path, strerror(saved));
		if (fd >= 0)
			close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		errf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	int have_st = fstat(fd, &st) == 0;
	if (have_st) {
		if (S_ISDIR(st.st_mode)) {
			close(fd);
			errno = EISDIR;
			errf(err, errsz, "%s: %s", path, strerror(errno));
			return NULL;
		}
		if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > max) {
			close(fd);
			errno = EFBIG;
			errf(err, errsz, "%s: %lld bytes, larger than the limit of %zu",
			     path, (long long)st.st_size, max);
			return NULL;
		}
	}
	/* A regular file of known size is read straight into its buffer; what
	 * it holds beyond that size (it grew) is read after, as from a pipe. */
	if (have_st && S_ISREG(st.st_mode) && st.st_size > 0 && (size_t)st.st_size < max) {
		size_t want = (size_t)st.st_size;
		char *p = malloc(want + 1);
		if (!p) {
			close(fd);
			errno = ENOMEM;
			errf(err, errsz, "%s: %s", path, strerror(errno));
			return NULL;
		}
		/*
		 * One read asks for a byte more than the size: a regular file's
		 * read returns less than asked only at its end, so getting the
		 * size means that is all, with no second read to see the end.
		 * Short of the size, the rest is read and then one byte more
		 * asked for; more than the size, the file grew.
		 */
		ssize_t r;
		do
			r = read(fd, p, want + 1);
		while (r < 0 && errno == EINTR);
		size_t got = r > 0 ? (size_t)r : 0;
		int grew = got > want;
		if (r >= 0 && got < want) {
			ssize_t n = read_full(fd, p + got, want - got);
			if (n < 0) {
				r = -1;
			} else if ((got += (size_t)n) == want) {
				char c;
				ssize_t m = read_full(fd, &c, 1);
				if (m < 0)
					r = -1;
				grew = m > 0;
			}
		}
		if (r < 0) {
			int saved = errno;
			errf(err, errsz, "%s: %s", path, strerror(saved));
			free(p);
			close(fd);
			errno = saved;
			return NULL;
		}
		if (grew) {
			/* The general path below, from the start. */
			free(p);
			if (lseek(fd, 0, SEEK_SET) == 0)
				goto general;
			int saved = errno;
			errf(err, errsz, "%s: %s", path, strerror(saved));
			close(fd);
			errno = saved;
			return NULL;
		}
		p[got] = '\0';
		*len = got;
		close(fd);
		return p;
	}
general:;
	char *p = read_fd(fd, path, max, len, err, errsz);
	int saved = errno;
	close(fd);
	errno = saved;
	return p;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      char *err, size_t errsz)
{
	struct iovec v = { (void *)(uintptr_t)data, len };
	return write_file_atomic_iov(path, &v, 1, mode, err, errsz);
}

int write_file_atomic_iov(const char *path, const struct iovec *iov, size_t niov, mode_t mode,
			  char *err, size_t errsz)
{
	struct atomic_file f;
	if (atomic_file_open(&f, path, err, errsz) < 0)
		return -1;
	if (pwritev_full(f.fd, iov, niov, 0) < 0) {
		int saved = errno;
		atomic_file_abort(&f);
		errno = saved;
		return errf(err, errsz, "%s: %s", path, strerror(saved));
	}
	return atomic_file_commit(&f, mode, err, errsz);
}

int atomic_file_open(struct atomic_file *f, const char *path, char *err, size_t errsz)
{
	f->fd = -1;
	int r = 0;
	if (snprintf(f->tmp, sizeof f->tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof f->tmp ||
	    snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path)
		r = errf(err, errsz, "%s: path too long", path);
	else if ((f->fd = mkostemp(f->tmp, O_CLOEXEC)) < 0)
		r = errf(err, errsz, "%s: cannot create a temporary file: %s", path,
			 strerror(errno));
	if (r < 0)
		f->tmp[0] = '\0';  /* no file of ours to remove (an abort does nothing) */
	return r;
}

int atomic_file_commit(struct atomic_file *f, mode_t mode, char *err, size_t errsz)
{
	char dir[PATH_MAX];
	if (fchmod(f->fd, mode) < 0 || fsync(f->fd) < 0)
		goto fail;
	int fd = f->fd;
	f->fd = -1;
	if (close(fd) < 0 || rename(f->tmp, f->path) < 0)
		goto fail;
	f->tmp[0] = '\0';  /* renamed: nothing left to remove */
	memcpy(dir, f->path, sizeof dir);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:;
	int saved = errno;
	atomic_file_abort(f);
	errno = saved;
	return errf(err, errsz, "%s: %s", f->path, strerror(saved));
}

void atomic_file_abort(struct atomic_file *f)
{
	int saved = errno;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp[0])
		unlink(f->tmp);
	f->tmp[0] = '\0';
	errno = saved;
}

/*
 * One pwritev for all the parts (then for what a short write left): the page
 * cache then gets its largest folios across the parts' edges, as for one
 * buffer (a model's weights mapped as huge pages; see model.c).
 */
int pwritev_full(int fd, const struct iovec *iov, size_t niov, off_t off)
{
	struct iovec v[64];
	size_t k = 0, skip = 0;  /* the next byte: iov[k], skip bytes in */
	while (k < niov) {
		size_t nv = 0;
		for (size_t j = k; j < niov && nv < sizeof v / sizeof *v; j++) {
			size_t s = j == k ? skip : 0;
			if (iov[j].iov_len > s)
				v[nv++] = (struct iovec){ (char *)iov[j].iov_base + s, iov[j].iov_len - s };
		}
		if (nv == 0)
			break;
		ssize_t n = pwritev(fd, v, (int)nv, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		off += n;
		size_t done = (size_t)n;
		while (k < niov && done >= iov[k].iov_len - skip) {
			done -= iov[k].iov_len - skip;
			skip = 0;
			k++;
		}
		skip += done;
	}
	return 0;
}

double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

char *strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

unsigned long long hash64(const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned long long h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < n) {
		/* ASCII runs, 8 bytes at a time. */
		while (n - i >= 8) {
			uint64_t v;
			memcpy(&v, s + i, 8);
			if (v & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k;
		unsigned cp;
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

void fault_point(const char *point)
{
	const char *f = getenv("TRIAGE_FAULT");
	if (f && !strcmp(f, point))
		_exit(137);
}

#define HUGE_PAGE ((size_t)2 << 20)
/* From here up, a block is rounded up to whole huge pages (see util.h). */
#define BIG_MIN ((size_t)1 << 20)

void *big_alloc(size_t n)
{
	if (n < BIG_MIN)
		return malloc(n ? n : 1);
	if (n > SIZE_MAX - HUGE_PAGE) {
		errno = ENOMEM;
		return NULL;
	}
	size_t len = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	void *p = aligned_alloc(HUGE_PAGE, len);
	if (p)
		(void)madvise(p, len, MADV_HUGEPAGE);  /* a hint: fine if refused */
	return p;
}

void *big_realloc(void *p, size_t n)
{
	if (n < BIG_MIN)
		return realloc(p, n ? n : 1);
	/*
	 * A new block marked before anything is written into it: realloc would
	 * copy into pages it has just faulted in one by one.
	 */
	size_t old = p ? malloc_usable_size(p) : 0;
	if (old >= n)
		return p;
	void *q = big_alloc(n);
	if (!q)
		return NULL;
	if (old)
		memcpy(q, p, old);
	free(p);
	return q;
}

void malloc_keep(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, 4 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

void *big_calloc(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	size_t n = count * size;
	if (n < BIG_MIN)
		return calloc(n ? count : 1, n ? size : 1);
	void *p = big_alloc(n);
	if (p)
		memset(p, 0, n);
	return p;
}

void *dl_load(const char *soname, const char *pkg, const struct dl_want *want, size_t n,
	      char *err, size_t errsz)
{
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		const char *e = dlerror();
		errf(err, errsz, "cannot load %s (%s; Debian package %s)", soname, e ? e : "?", pkg);
		return NULL;
	}
	for (size_t k = 0; k < n; k++)
		if (!(*want[k].fn = dlsym(lib, want[k].name))) {
			errf(err, errsz, "cannot load %s: it has no %s", soname, want[k].name);
			for (size_t j = 0; j <= k; j++)
				*want[j].fn = NULL;
			dlclose(lib);
			return NULL;
		}
	return lib;
}
