/*
 * Modified UTF-7 for IMAP folder names (RFC 3501 5.1.3), declared in imap.h.
 *
 * Printable ASCII (0x20-0x7e) stands for itself, except "&" which is "&-";
 * anything else is "&", the UTF-16BE code units in base64 with "," for "/"
 * and no padding, then "-". libetpan has no such helper.
 *
 * Only the canonical form is accepted when decoding (no printable ASCII in a
 * base64 run, no two runs side by side, zero padding bits, paired
 * surrogates), so that encode(decode(x)) == x for every name accepted: two wire
 * names never decode to the same UTF-8 name.
 */
#include "daemon/imap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

/* Folder names are short; this bounds what a hostile LIST can make us build. */
#define UTF7_MAX 4096

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Decodes one UTF-8 sequence at s (n bytes left) into *cp; returns its length,
 * or 0 when it is not valid (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int utf8_put(struct buf *b, uint32_t c)
{
	char u[4];
	size_t n;
	if (c < 0x80) {
		u[0] = (char)c, n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | (c >> 6)), u[1] = (char)(0x80 | (c & 0x3f)), n = 2;
	} else if (c < 0x10000) {
		u[0] = (char)(0xe0 | (c >> 12)), u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f)), n = 3;
	} else {
		u[0] = (char)(0xf0 | (c >> 18)), u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3f)), u[3] = (char)(0x80 | (c & 0x3f)), n = 4;
	}
	return buf_append(b, u, n);
}

static int printable(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

char *imap_utf7_encode(const char *utf8)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t n = strlen(utf8);
	struct buf b;
	buf_init(&b, UTF7_MAX);
	size_t i = 0;
	while (i < n) {
		uint32_t c;
		size_t len = utf8_next(s + i, n - i, &c);
		if (len == 0 || c == 0)
			goto fail;
		if (printable(c)) {
			if (buf_append(&b, c == '&' ? "&-" : (const char *)s + i, c == '&' ? 2 : 1) < 0)
				goto fail;
			i += len;
			continue;
		}
		/* A base64 run over the UTF-16 units of every character up to the
		 * next printable one. */
		uint32_t bits = 0;
		int nbits = 0;
		if (buf_appendc(&b, '&') < 0)
			goto fail;
		while (i < n) {
			len = utf8_next(s + i, n - i, &c);
			if (len == 0 || c == 0)
				goto fail;
			if (printable(c))
				break;
			uint16_t units[2];
			int nu = 1;
			if (c >= 0x10000) {
				units[0] = (uint16_t)(0xd800 + ((c - 0x10000) >> 10));
				units[1] = (uint16_t)(0xdc00 + ((c - 0x10000) & 0x3ff));
				nu = 2;
			} else {
				units[0] = (uint16_t)c;
			}
			for (int k = 0; k < nu; k++) {
				bits = (bits << 16) | units[k];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					if (buf_appendc(&b, b64[(bits >> nbits) & 0x3f]) < 0)
						goto fail;
				}
				bits &= (1u << nbits) - 1;
			}
			i += len;
		}
		if (nbits > 0 && buf_appendc(&b, b64[(bits << (6 - nbits)) & 0x3f]) < 0)
			goto fail;
		if (buf_appendc(&b, '-') < 0)
			goto fail;
	}
	return buf_detach(&b, NULL);
fail:
	buf_release(&b);
	return NULL;
}

char *imap_utf7_decode(const char *mutf7)
{
	const unsigned char *s = (const unsigned char *)mutf7;
	struct buf b;
	buf_init(&b, UTF7_MAX);
	int after_run = 0;   /* a run just ended: another one must not follow */
	while (*s) {
		if (*s != '&') {
			if (!printable(*s))
				goto fail;
			if (buf_appendc(&b, (char)*s++) < 0)
				goto fail;
			after_run = 0;
			continue;
		}
		s++;
		if (*s == '-') {
			if (buf_appendc(&b, '&') < 0)
				goto fail;
			s++;
			after_run = 0;
			continue;
		}
		if (after_run)
			goto fail;
		uint32_t bits = 0, high = 0;
		int nbits = 0, nunits = 0;
		while (*s != '-') {
			int v = b64_value(*s);
			if (v < 0)
				goto fail;   /* also the end of the string: unterminated */
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			s++;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t u = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			nunits++;
			if (high) {
				if (u < 0xdc00 || u > 0xdfff)
					goto fail;
				u = 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00);
				high = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				high = u;
				continue;
			} else if ((u >= 0xdc00 && u <= 0xdfff) || u == 0 || printable(u)) {
				goto fail;
			}
			if (utf8_put(&b, u) < 0)
				goto fail;
		}
		/* At most 4 padding bits, all zero; no dangling high surrogate;
		 * at least one character. */
		if (nbits >= 6 || bits != 0 || high || nunits == 0)
			goto fail;
		s++;
		after_run = 1;
	}
	return buf_detach(&b, NULL);
fail:
	buf_release(&b);
	return NULL;
}
