#include "classifier/strtab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void strtab_init(struct strtab *t, uint32_t max)
{
	memset(t, 0, sizeof *t);
	t->max = max;
}

void strtab_release(struct strtab *t)
{
	free(t->pool);
	free(t->off);
	free(t->hash);
	free(t->slots);
	strtab_init(t, t->max);
}

/*
 * Terms are short (a few bytes to a few dozen), so a word-at-a-time
 * multiply-and-mix hash is several times faster than a byte-wise one, and the
 * final avalanche keeps the low bits (the slot index) well spread.
 */
uint32_t strtab_hash(const char *s, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0xff51afd7ed558ccdULL);
	while (len >= 8) {
		uint64_t k;
		memcpy(&k, s, 8);
		h = (h ^ k) * 0xc4ceb9fe1a85ec53ULL;
		h ^= h >> 29;
		s += 8;
		len -= 8;
	}
	uint64_t k = 0;
	memcpy(&k, s, len);
	h = (h ^ k) * 0xff51afd7ed558ccdULL;
	h ^= h >> 32;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return (uint32_t)h;
}

static inline int strtab_eq(const struct strtab *t, uint32_t id, const char *s, size_t len)
{
	const char *p = t->pool + t->off[id];
	return memcmp(p, s, len) == 0 && p[len] == '\0';
}

int64_t strtab_find_h(const struct strtab *t, const char *s, size_t len, uint32_t h)
{
	if (!t->slots)
		return -1;
	for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
		uint64_t v = t->slots[i];
		if (!v)
			return -1;
		uint32_t id = (uint32_t)v - 1;
		if ((uint32_t)(v >> 32) == h && strtab_eq(t, id, s, len))
			return id;
	}
}

int64_t strtab_find(const struct strtab *t, const char *s, size_t len)
{
	return strtab_find_h(t, s, len, strtab_hash(s, len));
}

static int strtab_rehash(struct strtab *t, uint32_t nslots)
{
	uint64_t *slots = calloc(nslots, sizeof *slots);
	if (!slots)
		return -1;
	uint32_t mask = nslots - 1;
	for (uint32_t id = 0; id < t->n; id++) {
		uint32_t i = t->hash[id] & mask;
		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint64_t)t->hash[id] << 32 | (id + 1);
	}
	free(t->slots);
	t->slots = slots;
	t->mask = mask;
	return 0;
}

static int strtab_grow_ids(struct strtab *t, uint32_t want)
{
	if (want <= t->ids_cap)
		return 0;
	uint32_t *off = realloc(t->off, (size_t)want * sizeof *off);
	if (!off)
		return -1;
	t->off = off;
	uint32_t *hash = realloc(t->hash, (size_t)want * sizeof *hash);
	if (!hash)
		return -1;
	t->hash = hash;
	t->ids_cap = want;
	return 0;
}

static int strtab_grow_pool(struct strtab *t, size_t want)
{
	if (want <= t->pool_cap)
		return 0;
	char *pool = realloc(t->pool, want);
	if (!pool)
		return -1;
	t->pool = pool;
	t->pool_cap = want;
	return 0;
}

/* Keeps the load factor at or under 1/2 for want strings. */
static int strtab_grow_slots(struct strtab *t, uint32_t want)
{
	uint64_t nslots = t->slots ? (uint64_t)t->mask + 1 : 0;
	if ((uint64_t)want * 2 <= nslots)
		return 0;
	uint64_t s = nslots ? nslots : 16;
	while (s < (uint64_t)want * 2)
		s *= 2;
	if (s > (1ULL << 31))
		return -1;
	return strtab_rehash(t, (uint32_t)s);
}

int strtab_reserve(struct strtab *t, uint32_t n, size_t pool_bytes)
{
	if (n > t->max - t->n || pool_bytes > UINT32_MAX - t->pool_len) {
		errno = E2BIG;
		return -1;
	}
	if (strtab_grow_ids(t, t->n + n) < 0 || strtab_grow_pool(t, t->pool_len + pool_bytes) < 0 ||
	    strtab_grow_slots(t, t->n + n) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int64_t strtab_intern_h(struct strtab *t, const char *s, size_t len, uint32_t h, int *added)
{
	if (added)
		*added = 0;
	int64_t id = strtab_find_h(t, s, len, h);
	if (id >= 0)
		return id;
	if (t->n >= t->max || len >= UINT32_MAX - t->pool_len - 1) {
		errno = t->n >= t->max ? E2BIG : EINVAL;
		return -1;
	}
	/* Geometric growth, bounded by max. */
	uint32_t ids = t->ids_cap ? t->ids_cap : 64;
	while (ids <= t->n)
		ids = ids > t->max / 2 ? t->max : ids * 2;
	size_t pool = t->pool_cap ? t->pool_cap : 1024;
	while (pool < t->pool_len + len + 1)
		pool *= 2;
	if (strtab_grow_ids(t, ids < t->max ? ids : t->max) < 0 || strtab_grow_pool(t, pool) < 0 ||
	    strtab_grow_slots(t, t->n + 1) < 0) {
		errno = ENOMEM;
		return -1;
	}
	uint32_t nid = t->n++;
	t->off[nid] = (uint32_t)t->pool_len;
	t->hash[nid] = h;
	memcpy(t->pool + t->pool_len, s, len);
	t->pool[t->pool_len + len] = '\0';
	t->pool_len += len + 1;
	uint32_t i = h & t->mask;
	while (t->slots[i])
		i = (i + 1) & t->mask;
	t->slots[i] = (uint64_t)h << 32 | (nid + 1);
	if (added)
		*added = 1;
	return nid;
}

int64_t strtab_intern(struct strtab *t, const char *s, size_t len, int *added)
{
	return strtab_intern_h(t, s, len, strtab_hash(s, len), added);
}
