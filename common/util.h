/*
 * util: small helpers shared by the rooms (error buffers, bounded file I/O).
 *
 * Convention (see DESIGN.md): functions return 0 or -1 (or a pointer or NULL)
 * and describe a failure in a caller-provided error buffer `err` of `errsz`
 * bytes. The buffer may be NULL when the caller does not want the text.
 */
#ifndef TRIAGE_UTIL_H
#define TRIAGE_UTIL_H

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Formats into err (when not NULL); always returns -1, so that
 * `return errf(err, errsz, "...")` reads naturally. */
int errf(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Reads a whole file, refusing files larger than max bytes. Returns a
 * NUL-terminated buffer the caller frees (the file may hold NULs: use *len),
 * or NULL with err set ("PATH: reason"); errno is preserved from the failing
 * call (EFBIG when the file is over max).
 */
char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errsz);

/* Opens path read-only (close-on-exec) and fstat()s it into *st: the
 * descriptor, or -1 with err set ("PATH: reason") and errno preserved. */
int open_stat(const char *path, struct stat *st, char *err, size_t errsz);

/* Reads up to want bytes of fd into p, until EOF (retrying EINTR). Returns
 * the number read (less than want only at EOF), or -1 with errno set. */
ssize_t read_full(int fd, void *p, size_t want);

/* Reads all of fd (a pipe or file) up to max bytes; same contract as read_file. */
char *read_fd(int fd, const char *name, size_t max, size_t *len, char *err, size_t errsz);

/*
 * Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename over path, fsync of the directory. On failure path is left as
 * it was and the temporary file is removed. mode is the new file's mode.
 */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      char *err, size_t errsz);
struct iovec;
/* As write_file_atomic, the file's bytes being iov[0..n) one after the other. */
int write_file_atomic_iov(const char *path, const struct iovec *iov, size_t n, mode_t mode,
			  char *err, size_t errsz);

/*
 * write_file_atomic in steps, for a file written in several parts: open
 * creates the temporary file (f->fd, written with pwritev_full); commit
 * syncs it, gives it mode and renames it over path, then syncs the
 * directory; abort (also after a failed commit: then a no-op) removes it.
 * Each returns or leaves path as write_file_atomic does.
 */
struct atomic_file {
	int fd;
	char path[PATH_MAX], tmp[PATH_MAX];
};
int atomic_file_open(struct atomic_file *f, const char *path, char *err, size_t errsz);
int atomic_file_commit(struct atomic_file *f, mode_t mode, char *err, size_t errsz);
void atomic_file_abort(struct atomic_file *f);

/* Writes iov[0..n) at offset off of fd, one after the other, in as few
 * pwritev calls as the kernel allows (retrying EINTR and short writes).
 * Returns 0, or -1 with errno set. */
int pwritev_full(int fd, const struct iovec *iov, size_t n, off_t off);

/* Monotonic clock in milliseconds (for durations, never for dates). */
double now_ms(void);

/* strdup that returns NULL for a NULL argument (and on ENOMEM). */
char *strdup_or_null(const char *s);

/* FNV-1a 64-bit hash (hash tables and the Message-ID hashes in logs). */
unsigned long long hash64(const void *p, size_t n);

/*
 * Fault injection for the crash tests (tests/integration/t0620): when the
 * environment variable TRIAGE_FAULT names this point, the process dies here at
 * once, with no clean-up, as a kill -9 would leave it (exit status 137). The
 * points are the windows between two steps that must both happen: see
 * daemon/pipeline.c and daemon/imap.c.
 */
void fault_point(const char *point);

/* True when s is valid UTF-8 (no overlongs, no surrogates). */
int utf8_valid(const char *s, size_t n);

/*
 * Memory for large tables read at random (hash tables, weight matrices) and
 * large arrays: from 1 MiB up, whole 2 MiB pages, aligned on 2 MiB and
 * marked for transparent huge pages, so that a lookup costs a cache miss
 * instead of a cache miss and a page walk (nested in a virtual machine), and
 * the block takes one page fault per 2 MiB instead of 512. On this project's
 * VM a small page's fault costs about 11 us (2.8 ms a MB, every time), a
 * huge page's 0.1 ms when the memory was freed a moment ago and 2 to 3 ms
 * when the host must back it again: from 1 MiB up, huge pages cost at most
 * as much. Smaller sizes are plain malloc. Freed with free(). big_calloc
 * zeroes.
 */
void *big_alloc(size_t n);
void *big_calloc(size_t count, size_t size);
/*
 * realloc for buffers that grow large (pools, arenas, output buffers): from
 * 1 MiB up, the new block comes from big_alloc, marked for huge pages before
 * the old contents are copied in, so that it faults once per 2 MiB (training
 * 20 Newsgroups took 60,000 page faults, most of them first writes into
 * growing buffers). p: any pointer malloc returned, or NULL; on failure p is
 * left as it was.
 */
void *big_realloc(void *p, size_t n);

/*
 * Tells malloc to keep the memory it is given back (up to 64 MiB) instead of
 * returning it to the system at once, and to map separately only blocks of
 * 4 MiB and more: a batch command (train, classify, cv) allocates and frees
 * per message, and each page returned is a page fault when it comes back
 * (training 20 Newsgroups: a third of its page faults). Call it first.
 */
void malloc_keep(void);

/*
 * Opens the shared library soname (a Debian package, named in errors as pkg)
 * and finds each of want's symbols, storing it where want says. Returns the
 * library's handle, or NULL with err set (and nothing stored). For the
 * libraries opened when first needed rather than linked (libcurl, libxml2).
 */
struct dl_want {
	const char *name;
	void **fn;
};
void *dl_load(const char *soname, const char *pkg, const struct dl_want *want, size_t n,
	      char *err, size_t errsz);

#endif
