/*
 * strtab: a growable set of byte strings, each given a dense id (0, 1, 2...) in
 * insertion order; open addressing over 32-bit ids, strings kept in one pool.
 * It backs the vocabulary (term -> feature index) and the training
 * dictionaries, where lookups are the hot path of tokenised text.
 *
 * Not thread-safe for writes; concurrent strtab_find() calls are fine.
 */
#ifndef TRIAGE_STRTAB_H
#define TRIAGE_STRTAB_H

#include <stddef.h>
#include <stdint.h>

struct strtab {
	char *pool;          /* the strings, each followed by a NUL */
	size_t pool_len, pool_cap;
	uint32_t *off;       /* id -> offset of its string in pool */
	uint32_t *hash;      /* id -> hash of its string */
	uint32_t n, ids_cap;
	uint64_t *slots;     /* slot -> hash << 32 | (id + 1), 0 when empty: the hash
				in the slot spares a second random access per probe */
	uint32_t mask;       /* number of slots - 1 (a power of two) */
	uint32_t max;        /* the most strings it may hold */
};

/* Prepares t for at most max strings (no allocation until the first insert). */
void strtab_init(struct strtab *t, uint32_t max);
void strtab_release(struct strtab *t);

/* The hash strtab uses (exposed so that callers can hash once). */
uint32_t strtab_hash(const char *s, size_t len);

/* Returns the id of s, or -1 when absent. */
int64_t strtab_find(const struct strtab *t, const char *s, size_t len);
int64_t strtab_find_h(const struct strtab *t, const char *s, size_t len, uint32_t h);

/* Returns the id of s, adding it when absent (*added set to 1 then, else 0;
 * added may be NULL). -1 with errno ENOMEM, or E2BIG when max is reached, or
 * EINVAL when len is 4 GiB or more. */
int64_t strtab_intern(struct strtab *t, const char *s, size_t len, int *added);
int64_t strtab_intern_h(struct strtab *t, const char *s, size_t len, uint32_t h, int *added);

/* The string of id (NUL-terminated, borrowed from t); *len when len is not NULL. */
static inline const char *strtab_str(const struct strtab *t, uint32_t id, size_t *len)
{
	const char *s = t->pool + t->off[id];
	if (len) {
		uint32_t end = id + 1 < t->n ? t->off[id + 1] - 1 : (uint32_t)t->pool_len - 1;
		*len = end - t->off[id];
	}
	return s;
}

/* Reserves room for n more strings of pool_bytes bytes in all (an optimisation). */
int strtab_reserve(struct strtab *t, uint32_t n, size_t pool_bytes);

#endif
