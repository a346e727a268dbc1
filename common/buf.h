/*
 * buf: a growable byte buffer with a hard maximum size (after curl's dynbuf).
 *
 * Everything triage reads from the network or a file goes through a bounded
 * buffer, so that a hostile or broken input fails with a clear error instead of
 * exhausting memory. The data is always NUL-terminated, so text can be used as a
 * C string (binary data may still hold NULs).
 */
#ifndef TRIAGE_BUF_H
#define TRIAGE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct buf {
	char *data;   /* NULL until the first append; NUL-terminated afterwards */
	size_t len;   /* bytes used, not counting the terminating NUL */
	size_t cap;   /* bytes allocated */
	size_t max;   /* the most len may ever reach */
};

/* Prepares b (no allocation); appends beyond max fail with E2BIG. */
void buf_init(struct buf *b, size_t max);
/* Frees the contents; b can be used again after buf_init(). */
void buf_release(struct buf *b);
/* Empties b, keeping its allocation. */
void buf_reset(struct buf *b);

/* Each returns 0, or -1 with errno E2BIG (over max) or ENOMEM, b unchanged. */
int buf_append_slow(struct buf *b, const void *p, size_t n);
/* Inline while the bytes and the NUL fit (cap never exceeds max + 1, so
 * they are within max too): terms are appended a few bytes at a time. */
static inline int buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len <= n)
		return buf_append_slow(b, p, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}
/* Makes room for n more bytes, so that appending them allocates nothing. */
int buf_reserve(struct buf *b, size_t n);
int buf_appendc(struct buf *b, char c);
int buf_appends(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Returns the data (caller frees; never NULL on success: "" for an empty
 * buffer) and leaves b empty and initialised with the same max; NULL on ENOMEM. */
char *buf_detach(struct buf *b, size_t *len);

#endif
