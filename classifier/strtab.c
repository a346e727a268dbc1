#include "classifier/strtab.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ID_MASK ((1ULL << STRTAB_ID_BITS) - 1)

void strtab_init(struct strtab *t, uint32_t max)
{
	memset(t, 0, sizeof *t);
	t->max = max < STRTAB_MAX ? max : STRTAB_MAX;
}

void strtab_release(struct strtab *t)
{
	if (!t->pool_borrowed)
		free(t->pool);
	free(t->off);
	free(t->hash);
	if (!t->slots_borrowed)
		free(t->slots);
	strtab_init(t, t->max);
}

void strtab_drop_index(struct strtab *t)
{
	if (!t->slots_borrowed)
		free(t->slots);
	t->slots = NULL;
	t->mask = 0;
	t->slots_borrowed = 1;  /* read-only from now on */
}

void strtab_drop_hashes(struct strtab *t)
{
	strtab_drop_index(t);
	free(t->hash);
	t->hash = NULL;
}

/*
 * Terms are short (a few bytes to a few dozen), so a word-at-a-time
 * multiply-and-mix hash is several times faster than a byte-wise one; the
 * final avalanche spreads every input bit over the low bits (the slot index)
 * and the high bits (the fingerprint) alike.
 */
uint64_t strtab_hash(const char *s, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0xff51afd7ed558ccdULL);
	const int whole = len >= 8;
	while (len >= 8) {
		uint64_t k;
		memcpy(&k, s, 8);
		h = (h ^ k) * 0xc4ceb9fe1a85ec53ULL;
		h ^= h >> 29;
		s += 8;
		len -= 8;
	}
	/* The last len (< 8) bytes, zero-padded: a word built from byte copies
	 * on the stack would wait for them (store forwarding fails); loads of
	 * the string itself do not, and never read outside it. */
	uint64_t k = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (len && whole) {
		memcpy(&k, s + len - 8, 8);
		k >>= 8 * (8 - len);
	} else if (len >= 4) {
		uint32_t a, b;
		memcpy(&a, s, 4);
		memcpy(&b, s + len - 4, 4);
		k = a | (uint64_t)b << (8 * (len - 4));
	} else if (len >= 2) {
		uint16_t a, b;
		memcpy(&a, s, 2);
		memcpy(&b, s + len - 2, 2);
		k = a | (uint64_t)b << (8 * (len - 2));
	} else if (len) {
		k = (unsigned char)s[0];
	}
#else
	(void)whole;
	memcpy(&k, s, len);
#endif
	h = (h ^ k ^ ((uint64_t)len << 56)) * 0xff51afd7ed558ccdULL;
	h ^= h >> 32;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return h;
}

int64_t strtab_find_h(const struct strtab *t, uint64_t h)
{
	if (!t->slots)
		return -1;
	const uint64_t fp = h & ~ID_MASK;
	for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
		uint64_t v = t->slots[i];
		if (!v)
			return -1;
		if ((v & ~ID_MASK) == fp)
			return (int64_t)(v & ID_MASK) - 1;
	}
}

int64_t strtab_find(const struct strtab *t, const char *s, size_t len)
{
	return strtab_find_h(t, strtab_hash(s, len));
}

static void slot_put(uint64_t *slots, uint32_t mask, uint64_t h, uint32_t id)
{
	uint32_t i = (uint32_t)h & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = (h & ~ID_MASK) | ((uint64_t)id + 1);
}

static int strtab_rehash(struct strtab *t, uint64_t nslots)
{
	uint64_t *slots = big_calloc(nslots, sizeof *slots);
	if (!slots)
		return -1;
	uint32_t mask = (uint32_t)(nslots - 1);
	for (uint32_t id = 0; id < t->n; id++)
		slot_put(slots, mask, t->hash[id], id);
	free(t->slots);
	t->slots = slots;
	t->mask = mask;
	return 0;
}

static int strtab_grow_ids(struct strtab *t, uint32_t want)
{
	if (want <= t->ids_cap)
		return 0;
	uint32_t *off = big_realloc(t->off, (size_t)want * sizeof *off);
	if (!off)
		return -1;
	t->off = off;
	uint64_t *hash = big_realloc(t->hash, (size_t)want * sizeof *hash);
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
	if (t->pool_borrowed)
		return -1;
	char *pool = big_realloc(t->pool, want);
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
	return strtab_rehash(t, s);
}

int strtab_reserve(struct strtab *t, uint32_t n, size_t pool_bytes)
{
	if (t->slots_borrowed) {
		errno = EPERM;
		return -1;
	}
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

int64_t strtab_intern_h(struct strtab *t, const char *s, size_t len, uint64_t h, int *added)
{
	if (added)
		*added = 0;
	int64_t id = strtab_find_h(t, h);
	if (id >= 0)
		return id;
	if (t->slots_borrowed) {
		errno = EPERM;
		return -1;
	}
	if (t->n >= t->max || len >= UINT32_MAX - t->pool_len - 1) {
		errno = E2BIG;
		return -1;
	}
	/* Geometric growth, bounded by max. */
	uint32_t ids = t->ids_cap ? t->ids_cap : 64;
	while (ids <= t->n)
		ids = ids > t->max / 2 ? t->max : ids * 2;
	size_t pool = t->pool_cap ? t->pool_cap : 1024;
	while (pool < t->pool_len + len + 1)
		pool *= 2;
	if (strtab_grow_ids(t, ids) < 0 || strtab_grow_pool(t, pool) < 0 ||
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
	slot_put(t->slots, t->mask, h, nid);
	if (added)
		*added = 1;
	return nid;
}

int64_t strtab_intern(struct strtab *t, const char *s, size_t len, int *added)
{
	return strtab_intern_h(t, s, len, strtab_hash(s, len), added);
}

int strtab_adopt(struct strtab *t, const char *pool, size_t len, uint32_t n)
{
	if (n > t->max || len > UINT32_MAX) {
		errno = E2BIG;
		return -1;
	}
	if (strtab_grow_ids(t, n) < 0 || strtab_grow_slots(t, n) < 0) {
		errno = ENOMEM;
		return -1;
	}
	t->pool = (char *)(uintptr_t)pool;
	t->pool_len = t->pool_cap = len;
	t->pool_borrowed = 1;
	size_t o = 0;
	for (uint32_t id = 0; id < n; id++) {
		size_t l = strlen(pool + o);
		uint64_t h = strtab_hash(pool + o, l);
		if (strtab_find_h(t, h) >= 0) {
			errno = EEXIST;
			return -1;
		}
		t->off[id] = (uint32_t)o;
		t->hash[id] = h;
		slot_put(t->slots, t->mask, h, id);
		t->n = id + 1;
		o += l + 1;
	}
	return 0;
}

static int adopt_slots(struct strtab *t, const char *pool, size_t len, uint32_t n,
		       const uint64_t *slots, uint64_t nslots, int index)
{
	if (n > t->max || len > UINT32_MAX || nslots > (uint64_t)UINT32_MAX + 1) {
		errno = E2BIG;
		return -1;
	}
	/* A power of two, with an empty slot at least (so that probing ends). */
	if (nslots <= n || nslots < 2 || (nslots & (nslots - 1)) ||
	    (n && (len == 0 || pool[len - 1] != '\0'))) {
		errno = EINVAL;
		return -1;
	}
	uint8_t *seen = calloc((size_t)n / 8 + 1, 1);
	if (!seen || (index && n && !(t->off = malloc((size_t)n * sizeof *t->off)))) {
		free(seen);
		errno = ENOMEM;
		return -1;
	}
	uint32_t count = 0;
	for (uint64_t i = 0; i < nslots; i++) {
		uint64_t v = slots[i] & ID_MASK;
		if (!slots[i])
			continue;
		if (v == 0 || v > n || seen[(v - 1) / 8] & (1u << ((v - 1) % 8))) {
			count = UINT32_MAX;
			break;
		}
		seen[(v - 1) / 8] |= (uint8_t)(1u << ((v - 1) % 8));
		count++;
	}
	free(seen);
	int ok = count == n;
	if (ok && index) {
		/* The strings' offsets: exactly n of them in the pool. */
		size_t o = 0;
		uint32_t id = 0;
		while (id < n && o < len) {
			t->off[id++] = (uint32_t)o;
			o += strlen(pool + o) + 1;
		}
		ok = id == n && o == len;
	}
	if (!ok) {
		free(t->off);
		t->off = NULL;
		errno = EINVAL;
		return -1;
	}
	t->pool = (char *)(uintptr_t)pool;
	t->pool_len = t->pool_cap = len;
	t->pool_borrowed = 1;
	t->slots = (uint64_t *)(uintptr_t)slots;
	t->slots_borrowed = 1;
	t->mask = (uint32_t)(nslots - 1);
	t->n = t->ids_cap = n;
	return 0;
}

int strtab_adopt_slots(struct strtab *t, const char *pool, size_t len, uint32_t n,
		       const uint64_t *slots, uint64_t nslots)
{
	return adopt_slots(t, pool, len, n, slots, nslots, 1);
}

int strtab_adopt_slots_only(struct strtab *t, const char *pool, size_t len, uint32_t n,
			    const uint64_t *slots, uint64_t nslots)
{
	return adopt_slots(t, pool, len, n, slots, nslots, 0);
}

void strtab_find_many(const struct strtab *t, const uint64_t *hs, size_t n, int32_t *ids)
{
	enum { AHEAD = 8 };
	if (!t->slots) {
		for (size_t k = 0; k < n; k++)
			ids[k] = -1;
		return;
	}
	for (size_t k = 0; k < n && k < AHEAD; k++)
		strtab_prefetch(t, hs[k]);
	for (size_t k = 0; k < n; k++) {
		if (k + AHEAD < n)
			strtab_prefetch(t, hs[k + AHEAD]);
		ids[k] = (int32_t)strtab_find_h(t, hs[k]);
	}
}

int idcount_run(struct idcount *c, const int32_t *ids, size_t n)
{
	size_t need = 16;
	while (need < 2 * n)
		need *= 2;
	if (need > c->cap) {
		idcount_release(c);
		c->cnt = calloc(need, sizeof *c->cnt);
		c->uniq = malloc(need / 2 * sizeof *c->uniq);
		c->slot = malloc(need / 2 * sizeof *c->slot);
		if (!c->cnt || !c->uniq || !c->slot) {
			idcount_release(c);
			errno = ENOMEM;
			return -1;
		}
		c->cap = need;
	}
	/* Only the first `need` slots: at most twice the message's terms. */
	size_t mask = need - 1;
	c->n = 0;
	for (size_t k = 0; k < n; k++) {
		if (ids[k] < 0)
			continue;
		uint32_t id = (uint32_t)ids[k];
		size_t i = (id * 0x9e3779b1u) & mask;
		while (c->cnt[i] && (uint32_t)(c->cnt[i] >> 32) != id + 1)
			i = (i + 1) & mask;
		if (!c->cnt[i]) {
			c->uniq[c->n] = id;
			c->slot[c->n++] = (uint32_t)i;
			c->cnt[i] = (uint64_t)(id + 1) << 32;
		}
		c->cnt[i]++;
	}
	return 0;
}

void idcount_release(struct idcount *c)
{
	free(c->cnt);
	free(c->uniq);
	free(c->slot);
	memset(c, 0, sizeof *c);
}
