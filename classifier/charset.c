#include "classifier/charset.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>

#include "common/util.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD in UTF-8 */

enum kind {
	K_UNKNOWN, /* missing or meaningless: guess */
	K_UTF8,
	K_CP1252,  /* windows-1252, decoded here */
	K_ICONV,   /* an iconv name, ASCII-compatible */
	K_STATEFUL /* iconv name of an encoding whose 7-bit bytes are not ASCII
		      (ISO-2022-*, UTF-7, UTF-16...): never taken as it is */
};

/*
 * Labels that iconv does not know or that real mail means differently from
 * what they say. Following the WHATWG Encoding Standard, us-ascii and
 * iso-8859-1 are read as windows-1252: mail labelled so often uses its
 * 0x80-0x9F range (curly quotes, euro sign), and it decodes every ASCII byte
 * the same way. The wider charsets below are supersets of the labelled ones.
 */
static const struct alias {
	const char *label;
	enum kind kind;
	const char *name; /* for iconv; NULL for K_UNKNOWN and K_UTF8 */
	int lax;          /* 8-bit bytes under this label mean the label is wrong */
} aliases[] = {
	{ "utf-8", K_UTF8, NULL, 0 },
	{ "utf8", K_UTF8, NULL, 0 },
	{ "unicode-1-1-utf-8", K_UTF8, NULL, 0 },
	{ "x-unicode20utf8", K_UTF8, NULL, 0 },
	{ "default", K_UNKNOWN, NULL, 0 },
	{ "unknown", K_UNKNOWN, NULL, 0 },
	{ "unknown-8bit", K_UNKNOWN, NULL, 0 },
	{ "x-unknown", K_UNKNOWN, NULL, 0 },
	{ "default_charset", K_UNKNOWN, NULL, 0 },
	{ "x-user-defined", K_UNKNOWN, NULL, 0 },
	{ "charset", K_UNKNOWN, NULL, 0 },
	{ "none", K_UNKNOWN, NULL, 0 },
	{ "7bit", K_UNKNOWN, NULL, 0 },
	{ "8bit", K_UNKNOWN, NULL, 0 },
	{ "us-ascii", K_CP1252, NULL, 1 },
	{ "ascii", K_CP1252, NULL, 1 },
	{ "us", K_CP1252, NULL, 1 },
	{ "ansi_x3.4-1968", K_CP1252, NULL, 1 },
	{ "iso-8859-1", K_CP1252, NULL, 0 },
	{ "iso8859-1", K_CP1252, NULL, 0 },
	{ "iso_8859-1", K_CP1252, NULL, 0 },
	{ "iso_8859-1:1987", K_CP1252, NULL, 0 },
	{ "latin1", K_CP1252, NULL, 0 },
	{ "latin-1", K_CP1252, NULL, 0 },
	{ "l1", K_CP1252, NULL, 0 },
	{ "cp819", K_CP1252, NULL, 0 },
	{ "ibm819", K_CP1252, NULL, 0 },
	{ "iso-ir-100", K_CP1252, NULL, 0 },
	{ "csisolatin1", K_CP1252, NULL, 0 },
	{ "windows-1252", K_CP1252, NULL, 0 },
	{ "cp1252", K_CP1252, NULL, 0 },
	{ "x-cp1252", K_CP1252, NULL, 0 },
	{ "iso-8859-8-i", K_ICONV, "ISO-8859-8", 0 },
	{ "iso-8859-8-e", K_ICONV, "ISO-8859-8", 0 },
	{ "gb2312", K_ICONV, "GB18030", 0 },
	{ "gb_2312-80", K_ICONV, "GB18030", 0 },
	{ "csgb2312", K_ICONV, "GB18030", 0 },
	{ "chinese", K_ICONV, "GB18030", 0 },
	{ "euc-cn", K_ICONV, "GB18030", 0 },
	{ "x-euc-cn", K_ICONV, "GB18030", 0 },
	{ "gbk", K_ICONV, "GB18030", 0 },
	{ "x-gbk", K_ICONV, "GB18030", 0 },
	{ "cp936", K_ICONV, "GB18030", 0 },
	{ "ks_c_5601-1987", K_ICONV, "CP949", 0 },
	{ "ks_c_5601", K_ICONV, "CP949", 0 },
	{ "ksc5601", K_ICONV, "CP949", 0 },
	{ "euc-kr", K_ICONV, "CP949", 0 },
	{ "x-euc-kr", K_ICONV, "CP949", 0 },
	{ "shift_jis", K_ICONV, "CP932", 0 },
	{ "shift-jis", K_ICONV, "CP932", 0 },
	{ "sjis", K_ICONV, "CP932", 0 },
	{ "x-sjis", K_ICONV, "CP932", 0 },
	{ "windows-31j", K_ICONV, "CP932", 0 },
	{ "big5", K_ICONV, "BIG5-HKSCS", 0 },
	{ "x-big5", K_ICONV, "BIG5-HKSCS", 0 },
	{ "cn-big5", K_ICONV, "BIG5-HKSCS", 0 },
	{ "tis-620", K_ICONV, "CP874", 0 },
	{ "iso-8859-11", K_ICONV, "CP874", 0 },
	{ "windows-874", K_ICONV, "CP874", 0 },
	{ "x-mac-roman", K_ICONV, "MACINTOSH", 0 },
	{ "iso-2022-jp", K_STATEFUL, "ISO-2022-JP-2", 0 },
};

/* Prefixes of ASCII-incompatible encodings: their bytes must go through iconv.
   The wide ones (wide = 1) are only believed when the bytes hold a NUL: spam
   labels plain text "unicode" or "utf-16". */
static const struct {
	const char *prefix;
	int wide;
} stateful[] = {
	{ "iso-2022", 0 }, { "csiso2022", 0 }, { "utf-7", 0 }, { "utf7", 0 },
	{ "unicode-1-1-utf-7", 0 }, { "hz", 0 }, { "utf-16", 1 }, { "utf16", 1 },
	{ "utf-32", 1 }, { "utf32", 1 }, { "ucs-2", 1 }, { "ucs2", 1 },
	{ "ucs-4", 1 }, { "ucs4", 1 }, { "unicode", 1 },
};

/*
 * Normalises label into name (lowercase, without quotes, blanks, the "3D"
 * left by a double quoted-printable encoding, or an RFC 2231 "*lang" suffix)
 * and classifies it. *lax is set for labels whose 8-bit bytes prove them wrong.
 */
static enum kind charset_classify(const char *label, char *name, size_t namesz,
				  const char **iconv_name, int *lax, int *wide)
{
	*lax = 0;
	*wide = 0;
	*iconv_name = name;
	if (!label)
		return K_UNKNOWN;
	for (int pass = 0; pass < 2; pass++) {
		while (*label == ' ' || *label == '\t' || *label == '"' || *label == '\'' ||
		       *label == '\\')
			label++;
		/* no charset name starts with "3D": it is the "=3D" of a label
		   encoded twice in quoted-printable, as in charset=3D"iso-8859-1" */
		if (pass == 0 && label[0] == '3' && (label[1] == 'D' || label[1] == 'd'))
			label += 2;
	}
	size_t len = 0;
	for (; label[len]; len++) {
		unsigned char c = (unsigned char)label[len];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		      c == ':' || c == '+'))
			break;
		if (len + 1 >= namesz)
			return K_UNKNOWN;
		name[len] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	name[len] = '\0';
	if (len == 0)
		return K_UNKNOWN;
	for (size_t i = 0; i < ARRAY_SIZE(aliases); i++) {
		if (strcmp(name, aliases[i].label) == 0) {
			*lax = aliases[i].lax;
			*iconv_name = aliases[i].name;
			return aliases[i].kind;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(stateful); i++) {
		if (strncmp(name, stateful[i].prefix, strlen(stateful[i].prefix)) == 0) {
			*wide = stateful[i].wide;
			return K_STATEFUL;
		}
	}
	return K_ICONV;
}

int charset_is_ascii(const char *p, size_t n)
{
	size_t i = 0;
	/* Eight bytes at a time: most mail is ASCII and this runs on all of it. */
	for (; i + 32 <= n; i += 32) {
		uint64_t a, b, c, d;
		memcpy(&a, p + i, 8);
		memcpy(&b, p + i + 8, 8);
		memcpy(&c, p + i + 16, 8);
		memcpy(&d, p + i + 24, 8);
		if ((a | b | c | d) & 0x8080808080808080ULL)
			return 0;
	}
	for (; i < n; i++)
		if ((unsigned char)p[i] & 0x80)
			return 0;
	return 1;
}

/* Length of the valid UTF-8 sequence of two bytes or more at s, else 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (n < k)
		return 0;
	for (size_t j = 1; j < k; j++)
		if ((s[j] & 0xc0) != 0x80)
			return 0;
	/* overlongs, surrogates and code points past U+10FFFF */
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
		return 0;
	return k;
}

/*
 * windows-1252 is decoded here rather than by iconv: it is the fallback for
 * every byte no other charset explains and the charset of most non-UTF-8 mail
 * in Western Europe, and glibc loads and unloads its gconv module on each
 * iconv_open/iconv_close pair, which costs more than the decoding itself.
 * 0xA0-0xFF are U+00A0-U+00FF; 0x80-0x9F below (0: unassigned, U+FFFD).
 */
static const uint16_t cp1252_c1[32] = {
	0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017d, 0,
	0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178,
};

/* Appends in[0..n) decoded as windows-1252 (an unassigned byte sets *bad);
   stops past limit. */
static int cp1252(const char *in, size_t n, size_t limit, struct buf *out, int *bad)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;
	while (i < n && out->len < limit) {
		size_t start = i;
		while (i < n && s[i] < 0x80)
			i++;
		if (i > start && buf_append(out, in + start, i - start) < 0)
			return -1;
		for (; i < n && s[i] >= 0x80 && out->len < limit; i++) {
			unsigned cp = s[i] >= 0xa0 ? s[i] : cp1252_c1[s[i] - 0x80];
			char u[3];
			size_t k;
			if (cp == 0) {
				cp = 0xfffd;
				*bad = 1;
			}
			if (cp < 0x800) {
				u[0] = (char)(0xc0 | (cp >> 6));
				u[1] = (char)(0x80 | (cp & 0x3f));
				k = 2;
			} else {
				u[0] = (char)(0xe0 | (cp >> 12));
				u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[2] = (char)(0x80 | (cp & 0x3f));
				k = 3;
			}
			if (buf_append(out, u, k) < 0)
				return -1;
		}
	}
	return 0;
}

/*
 * Appends the UTF-8 conversion of in[0..n) by cd to out; an invalid or
 * truncated sequence becomes U+FFFD (and sets *guessed). Stops past limit.
 */
static int convert(iconv_t cd, const char *in, size_t n, size_t limit, struct buf *out,
		   int *guessed)
{
	char tmp[4096];
	char *ip = (char *)in;
	size_t il = n;
	for (;;) {
		char *op = tmp;
		size_t ol = sizeof tmp;
		/* Once the input is consumed, a NULL input flushes the shift state
		   of stateful encodings. */
		int flush = il == 0;
		size_t r = flush ? iconv(cd, NULL, NULL, &op, &ol) : iconv(cd, &ip, &il, &op, &ol);
		int e = errno;
		if (buf_append(out, tmp, (size_t)(op - tmp)) < 0)
			return -1;
		if (flush)
			break;
		if (r == (size_t)-1) {
			if (e == EILSEQ || e == EINVAL) {
				if (buf_append(out, REPLACEMENT, 3) < 0)
					return -1;
				*guessed = 1;
				ip++;
				il--;
			} else if (e != E2BIG) {
				break;
			}
		}
		if (out->len >= limit)
			break;
	}
	return 0;
}

/*
 * The last resort for bytes that are not valid UTF-8 in a charset that is
 * missing, unknown or UTF-8: valid UTF-8 sequences are kept, every other byte
 * is read as windows-1252 (a mail mixing both is usually UTF-8 text with a
 * pasted Latin-1 fragment, or the other way round).
 */
static int guess(const char *in, size_t n, size_t limit, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;
	int bad = 0; /* the caller sets MSG_CHARSET_GUESSED for all of it anyway */
	while (i < n && out->len < limit) {
		size_t start = i;
		while (i < n) {
			size_t k = s[i] < 0x80 ? 1 : utf8_seq(s + i, n - i);
			if (k == 0)
				break;
			i += k;
		}
		if (i > start && buf_append(out, in + start, i - start) < 0)
			return -1;
		start = i;
		while (i < n && s[i] >= 0x80 && utf8_seq(s + i, n - i) == 0)
			i++;
		if (i > start && cp1252(in + start, i - start, (size_t)-1, out, &bad) < 0)
			return -1;
	}
	return 0;
}

const char *charset_to_utf8(const char *label, const char *in, size_t n, size_t limit,
			    struct buf *out, size_t *outlen, int *guessed)
{
	char name[48];
	const char *iconv_name;
	int lax, wide;
	enum kind kind = charset_classify(label, name, sizeof name, &iconv_name, &lax, &wide);

	if (n == 0) {
		*outlen = 0;
		return in ? in : "";
	}
	if (wide && !memchr(in, '\0', n)) {
		kind = K_UNKNOWN;
		*guessed = 1;
	}
	if (kind != K_STATEFUL) {
		if (charset_is_ascii(in, n)) {
			*outlen = n;
			return in;
		}
		if (kind != K_UTF8 && (kind == K_UNKNOWN || lax))
			*guessed = 1;
		if (utf8_valid(in, n)) {
			/* UTF-8 under another label: the label is wrong, since
			   text in a legacy charset is almost never valid UTF-8. */
			if (kind != K_UTF8)
				*guessed = 1;
			*outlen = n;
			return in;
		}
	}
	buf_reset(out);
	if (kind == K_CP1252) {
		if (cp1252(in, n, limit, out, guessed) < 0)
			return NULL;
		*outlen = out->len;
		return out->data ? out->data : "";
	}
	if (kind == K_UTF8 || kind == K_UNKNOWN) {
		*guessed = 1;
		if (guess(in, n, limit, out) < 0)
			return NULL;
		*outlen = out->len;
		return out->data ? out->data : "";
	}
	iconv_t cd = iconv_open("UTF-8", iconv_name);
	int r;
	if (cd == (iconv_t)-1) {
		*guessed = 1;
		r = guess(in, n, limit, out);
	} else {
		r = convert(cd, in, n, limit, out, guessed);
		iconv_close(cd);
		/* glibc's UTF-8 decoder (reached through aliases such as
		   "utf(8") lets code points past U+10FFFF through */
		if (r == 0 && !utf8_valid(out->data ? out->data : "", out->len)) {
			struct buf bad = *out;
			buf_init(out, bad.max);
			*guessed = 1;
			r = guess(bad.data, bad.len, limit, out);
			buf_release(&bad);
		}
	}
	if (r < 0)
		return NULL;
	*outlen = out->len;
	return out->data ? out->data : "";
}
