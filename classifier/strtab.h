/*
 * strtab: a growable set of byte strings, each given a dense id (0, 1, 2...) in
 * insertion order. It backs the vocabulary (term -> feature index) and the
 * training dictionaries, where lookups are the hot path of tokenised text.
 *
 * A lookup reads one 8-byte slot: 38 bits of the string's 64-bit hash beside
 * its id, found by the hash's low bits. Strings are compared by hash, not byte
 * by byte: two different strings are confused only if they share the slot's
 * bits and those 38 (about one chance in 3 * 10^11 per probe), a price paid
 * for one cache miss per lookup instead of two or three. The strings
 * themselves are kept (in insertion order, in one pool) to be listed and saved.
 *
 * Not thread-safe for writes; concurrent lookups are fine.
 */
#ifndef TRIAGE_STRTAB_H
#define TRIAGE_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#define STRTAB_ID_BITS 26
/* The most strings a table may ever hold. */
#define STRTAB_MAX ((1u << (STRTAB_ID_BITS - 1)))

struct strtab {
	char *pool;          /* the strings, each followed by a NUL */
	size_t pool_len, pool_cap;
	int pool_borrowed;   /* pool belongs to someone else (a mapped file) */
	int slots_borrowed;  /* so do slots (then the table is read-only) */
	uint32_t *off;       /* id -> offset of its string in pool */
	uint64_t *hash;      /* id -> hash of its string (for growing and merging);
				NULL in a table adopted with its slots */
	uint32_t n, ids_cap;
	uint64_t *slots;     /* hash's top 38 bits | (id + 1), 0 when empty */
	uint32_t mask;       /* number of slots - 1 (a power of two) */
	uint32_t max;        /* the most strings it may hold (<= STRTAB_MAX) */
};

/* Prepares t for at most max strings (no allocation until the first insert). */
void strtab_init(struct strtab *t, uint32_t max);
void strtab_release(struct strtab *t);

/* The hash strtab uses (exposed so that callers can hash once). */
uint64_t strtab_hash(const char *s, size_t len);

/* Returns the id of the string whose hash is h (or of s), or -1 when absent. */
int64_t strtab_find_h(const struct strtab *t, uint64_t h);
int64_t strtab_find(const struct strtab *t, const char *s, size_t len);

/* Returns the id of s, adding it when absent (*added set to 1 then, else 0;
 * added may be NULL). -1 with errno ENOMEM, or E2BIG when max is reached or s
 * is too long for the pool (4 GiB in all). */
int64_t strtab_intern_h(struct strtab *t, const char *s, size_t len, uint64_t h, int *added);
int64_t strtab_intern(struct strtab *t, const char *s, size_t len, int *added);

/* Frees the lookup index (the slots), keeping the strings and their hashes:
 * t is then only read, with strtab_str and t->hash (finding gives -1,
 * inserting fails with EPERM), and released as before. */
void strtab_drop_index(struct strtab *t);

/* As strtab_drop_index, and frees the hashes too (t->hash is then NULL). */
void strtab_drop_hashes(struct strtab *t);

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

/* Fetches into the cache the slot where a lookup of hash h starts. */
static inline void strtab_prefetch(const struct strtab *t, uint64_t h)
{
	if (t->slots)
		__builtin_prefetch(&t->slots[(uint32_t)h & t->mask]);
}

/* Reserves room for n more strings of pool_bytes bytes in all (an optimisation). */
int strtab_reserve(struct strtab *t, uint32_t n, size_t pool_bytes);

/*
 * Builds t (initialised, empty) over an existing pool of n NUL-terminated
 * strings of len bytes, without copying it: pool must outlive t and not
 * change. Returns 0, or -1 with errno E2BIG (over max), ENOMEM, or EEXIST when
 * two strings are the same (or share a hash).
 */
int strtab_adopt(struct strtab *t, const char *pool, size_t len, uint32_t n);

/*
 * As strtab_adopt, but over a slot table saved with the strings (the
 * `slots` array of a table built by this code, nslots of them), so that
 * nothing is hashed: loading a large vocabulary is then a scan instead of a
 * random write per string. slots must outlive t and not change; t is then
 * read-only (inserting fails with EPERM). The slots are checked to be safe to
 * probe (nslots a power of two above n, every id below n and present exactly
 * once), not that each lies where its string's hash would put it: that is
 * the file's checksum's job. Returns 0, or -1 with errno E2BIG, ENOMEM, or
 * EINVAL when the pool or the slots are not well formed.
 */
int strtab_adopt_slots(struct strtab *t, const char *pool, size_t len, uint32_t n,
		       const uint64_t *slots, uint64_t nslots);

/*
 * As strtab_adopt_slots, for lookups only: the strings are neither read nor
 * indexed (strtab_str must not be called; strtab_has_strings says so). The
 * slots are checked as strtab_adopt_slots does.
 */
int strtab_adopt_slots_only(struct strtab *t, const char *pool, size_t len, uint32_t n,
			    const uint64_t *slots, uint64_t nslots);

/* Whether t's strings can be read (strtab_str): not after strtab_adopt_slots_only. */
static inline int strtab_has_strings(const struct strtab *t)
{
	return t->n == 0 || t->off != NULL;
}

/* The number of slots of t's table (0 when empty): what strtab_adopt_slots
 * expects beside t->slots. */
static inline uint64_t strtab_nslots(const struct strtab *t)
{
	return t->slots ? (uint64_t)t->mask + 1 : 0;
}

/*
 * Looks up n hashes at once: ids[k] gets the id of hs[k] or -1. Faster than n
 * calls when the table is larger than the caches: the slots are prefetched a
 * few lookups ahead, so their memory latencies overlap.
 */
void strtab_find_many(const struct strtab *t, const uint64_t *hs, size_t n, int32_t *ids);

/*
 * A message's terms counted by id, each distinct id once: a table sized to
 * the message (open addressing, twice as many slots as terms: it stays in
 * the cache, unlike a count per id of a large vocabulary), emptied as the
 * counts are taken, so that it serves the next message as it is.
 */
struct idcount {
	uint64_t *cnt;   /* (id + 1) << 32 | count, 0 when empty; cap of them */
	uint32_t *uniq;  /* the distinct ids, in order of first occurrence */
	uint32_t *slot;  /* where each sits in cnt */
	size_t cap;      /* a power of two; uniq and slot hold cap / 2 */
	size_t n;        /* distinct ids counted */
};

/* Counts ids[0..n) (negative ones skipped) into c, which must be empty (as
 * idcount_take leaves it). Returns 0, or -1 (ENOMEM: c is then empty). */
int idcount_run(struct idcount *c, const int32_t *ids, size_t n);

/* The count of c->uniq[u], its slot emptied: take each u once. */
static inline uint32_t idcount_take(struct idcount *c, size_t u)
{
	uint32_t k = (uint32_t)c->cnt[c->slot[u]];
	c->cnt[c->slot[u]] = 0;
	return k;
}

/* The count of c->uniq[u], left in place. */
static inline uint32_t idcount_peek(const struct idcount *c, size_t u)
{
	return (uint32_t)c->cnt[c->slot[u]];
}

void idcount_release(struct idcount *c);

#endif
