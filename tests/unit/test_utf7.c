/*
 * Unit tests for modified UTF-7 (daemon/utf7.c) and for the pure helpers of
 * daemon/imap.c that build what goes on the wire: folder names with the
 * namespace prefix and separator, UID sets, flags, the Message-ID header
 * value. The expected mUTF-7 strings come from RFC 3501 and from Python's
 * UTF-16 + base64, not from this code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/imap.c"

static const struct {
	const char *utf8, *mutf7;
} pairs[] = {
	{ "INBOX", "INBOX" },
	{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	  "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },                       /* RFC 3501 5.1.3 */
	{ "\xc3\x80 v\xc3\xa9rifier", "&AMA- v&AOk-rifier" },          /* À vérifier */
	{ "&", "&-" },
	{ "Presse & m\xc3\xa9" "dias", "Presse &- m&AOk-dias" },
	{ "\xc3\xa9\xc3\xa8", "&AOkA6A-" },                            /* one run, two chars */
	{ "\xf0\x9f\x98\x80", "&2D3eAA-" },                            /* U+1F600, a surrogate pair */
	{ "a\xf0\x9f\x98\x80" "b", "a&2D3eAA-b" },
	{ "\xc3\x9cn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9 \xf0\x9d\x84\x9e test",
	  "&ANw-n&AO8-c&APg-d&AOk- &2DTdHg- test" },                  /* U+1D11E */
	{ "\xc3\x89v\xc3\xa9nements/R\xc3\xa9unions 2025",
	  "&AMk-v&AOk-nements/R&AOk-unions 2025" },
	{ "", "" },
};

static void test_known_pairs(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
		char *e = imap_utf7_encode(pairs[i].utf8);
		assert_non_null(e);
		assert_string_equal(e, pairs[i].mutf7);
		char *d = imap_utf7_decode(pairs[i].mutf7);
		assert_non_null(d);
		assert_string_equal(d, pairs[i].utf8);
		free(e);
		free(d);
	}
}

static void test_printable_ascii_kept(void **state)
{
	char all[96], want[97];
	size_t k = 0, w = 0;
	for (int ch = 0x20; ch <= 0x7e; ch++) {
		all[k++] = (char)ch;
		want[w++] = (char)ch;
		if (ch == '&')
			want[w++] = '-';
	}
	all[k] = want[w] = '\0';
	char *e = imap_utf7_encode(all);
	assert_string_equal(e, want);
	char *d = imap_utf7_decode(e);
	assert_string_equal(d, all);
	free(e);
	free(d);
	/* Controls are not printable: base64, and back. */
	e = imap_utf7_encode("a\tb\x7f");
	assert_non_null(e);
	assert_string_equal(e, "a&AAk-b&AH8-");
	d = imap_utf7_decode(e);
	assert_string_equal(d, "a\tb\x7f");
	free(e);
	free(d);
}

static void test_decode_refuses(void **state)
{
	static const char *bad[] = {
		"&",            /* unterminated */
		"&AMA",         /* unterminated run */
		"&A-",          /* 6 bits: no character */
		"&AMB-",        /* non-zero padding bits */
		"&AMAA-",       /* 24 bits: 8 bits left over */
		"&2D0-",        /* lone high surrogate */
		"&3gA-",        /* lone low surrogate */
		"&2D3YPQ-",     /* high surrogate followed by a high one */
		"&AGE-",        /* 'a' must not be base64 */
		"&ACY-",        /* '&' must be "&-" */
		"&AAA-",        /* NUL */
		"&AMA-&AOk-",   /* two runs side by side */
		"&AM*-",        /* not base64 */
		"&AM/-",        /* "/" is "," in modified base64 */
		"\xc3\xa9",     /* raw 8-bit */
		"a\tb",         /* raw control */
		"a\x7f",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *d = imap_utf7_decode(bad[i]);
		if (d)
			print_error("accepted: %s -> %s\n", bad[i], d);
		assert_null(d);
	}
}

static void test_encode_refuses(void **state)
{
	static const char *bad[] = {
		"\xc3",                 /* truncated */
		"a\xc0\xaf",            /* overlong "/" */
		"\xed\xa0\x80",         /* UTF-8 encoded surrogate */
		"\xf4\x90\x80\x80",     /* above U+10FFFF */
		"\xff",
		"\x80z",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_null(imap_utf7_encode(bad[i]));
}

static void test_length_bound(void **state)
{
	/* 4096 bytes at most, either way. */
	char *s = malloc(5000);
	memset(s, 'a', 4096);
	s[4096] = '\0';
	char *e = imap_utf7_encode(s);
	assert_non_null(e);
	free(e);
	e = imap_utf7_decode(s);
	assert_non_null(e);
	free(e);
	s[4096] = 'a';
	s[4097] = '\0';
	assert_null(imap_utf7_encode(s));
	assert_null(imap_utf7_decode(s));
	/* 1000 accented letters: 2000 bytes of UTF-8, far more in mUTF-7. */
	for (int i = 0; i < 1000; i++)
		memcpy(s + 2 * i, "\xc3\xa9", 2);
	s[2000] = '\0';
	e = imap_utf7_encode(s);
	assert_non_null(e);
	free(e);
	for (int i = 0; i < 2400; i++)
		memcpy(s + 2 * i, "\xc3\xa9", 2);
	s[4800] = '\0';
	assert_null(imap_utf7_encode(s));
	free(s);
}

/* A connection as imap_connect() leaves it, without a server. */
static struct imap *fake(const char *prefix, char sep)
{
	struct imap *c = calloc(1, sizeof *c);
	c->prefix = strdup(prefix);
	c->sep = sep;
	c->host = strdup("test");
	return c;
}

static void test_wire_names(void **state)
{
	struct imap *dovecot = fake("", '/'), *cyrus = fake("INBOX/", '/'),
		    *courier = fake("INBOX.", '.');
	struct {
		struct imap *c;
		const char *utf8, *wire;
	} cases[] = {
		{ dovecot, "\xc3\x80 v\xc3\xa9rifier", "&AMA- v&AOk-rifier" },
		{ dovecot, "Presse", "Presse" },
		{ dovecot, "inbox", "INBOX" },
		{ cyrus, "Presse", "INBOX/Presse" },
		{ cyrus, "\xc3\x80 v\xc3\xa9rifier", "INBOX/&AMA- v&AOk-rifier" },
		{ cyrus, "INBOX", "INBOX" },
		{ courier, "Archives/2025", "INBOX.Archives.2025" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *w = imap_wire_name(cases[i].c, cases[i].utf8);
		assert_non_null(w);
		assert_string_equal(w, cases[i].wire);
		char *back = name_from_wire(cases[i].c, w);
		assert_non_null(back);
		if (strcasecmp(cases[i].utf8, "INBOX") == 0)
			assert_string_equal(back, "INBOX");
		else
			assert_string_equal(back, cases[i].utf8);
		free(w);
		free(back);
	}
	assert_null(imap_wire_name(dovecot, ""));
	assert_null(imap_wire_name(dovecot, "caf\xc3"));
	/* Outside the personal namespace, or not mUTF-7: not listed. */
	assert_null(name_from_wire(cyrus, "shared/Presse"));
	assert_null(name_from_wire(cyrus, "INBOX/"));
	assert_null(name_from_wire(dovecot, "caf\xc3\xa9"));
	for (struct imap **p = (struct imap *[]){ dovecot, cyrus, courier, NULL }; *p; p++) {
		free((*p)->prefix);
		free((*p)->host);
		free(*p);
	}
}

static void set_string(const struct mailimap_set *set, char *out, size_t outsz)
{
	size_t k = 0;
	out[0] = '\0';
	for (clistiter *it = clist_begin(set->set_list); it; it = clist_next(it)) {
		const struct mailimap_set_item *item = clist_content(it);
		if (item->set_first == item->set_last)
			k += (size_t)snprintf(out + k, outsz - k, "%s%u", k ? "," : "", item->set_first);
		else
			k += (size_t)snprintf(out + k, outsz - k, "%s%u:%u", k ? "," : "",
					      item->set_first, item->set_last);
	}
}

static void test_uid_sets(void **state)
{
	uint32_t in[] = { 9, 3, 4, 0, 5, 12, 4, 10, 11, 7 };
	size_t n;
	uint32_t *v = uids_sorted(in, ARRAY_SIZE(in), &n);
	assert_int_equal(n, 8);
	size_t used;
	struct mailimap_set *set = set_chunk(v, n, &used);
	char text[256];
	set_string(set, text, sizeof text);
	assert_string_equal(text, "3:5,7,9:12");
	assert_int_equal(used, 8);
	mailimap_set_free(set);
	free(v);

	/* Scattered UIDs: at most SET_RANGES_MAX ranges per command. */
	uint32_t *odd = malloc(1000 * sizeof *odd);
	for (uint32_t i = 0; i < 1000; i++)
		odd[i] = 2 * i + 1;
	size_t total = 0, commands = 0;
	while (total < 1000) {
		set = set_chunk(odd + total, 1000 - total, &used);
		assert_int_equal(clist_count(set->set_list), used);
		assert_true(used <= SET_RANGES_MAX);
		mailimap_set_free(set);
		total += used;
		commands++;
	}
	assert_int_equal(commands, (1000 + SET_RANGES_MAX - 1) / SET_RANGES_MAX);
	free(odd);

	/* COPYUID sets are expanded only up to what we sent. */
	uint32_t out[8];
	set = mailimap_set_new_interval(100, 103);
	assert_int_equal(set_expand(set, out, 8), 4);
	assert_int_equal(out[3], 103);
	mailimap_set_free(set);
	set = mailimap_set_new_interval(1, 4000000000u);
	assert_int_equal(set_expand(set, out, 8), -1);
	mailimap_set_free(set);
}

static void test_copyuid_mapping(void **state)
{
	uint32_t uids[] = { 7, 3, 5 }, dest[3] = { 0 };
	struct mailimap_set *src = mailimap_set_new_interval(3, 3);
	mailimap_set_add_interval(src, 5, 5);
	mailimap_set_add_interval(src, 7, 7);
	struct mailimap_set *dst = mailimap_set_new_interval(40, 42);
	map_copyuid(uids, 3, dest, src, dst, 3);
	assert_int_equal(dest[0], 42);
	assert_int_equal(dest[1], 40);
	assert_int_equal(dest[2], 41);
	mailimap_set_free(src);
	mailimap_set_free(dst);
}

static void test_flags(void **state)
{
	assert_true(atom_ok("$triage_presse"));
	assert_true(atom_ok("Junk"));
	assert_false(atom_ok(""));
	assert_false(atom_ok("two words"));
	assert_false(atom_ok("a(b"));
	assert_false(atom_ok("caf\xc3\xa9"));
	struct imap *c = fake("", '/');
	const char *good[] = { "\\Seen", "\\flagged", "$triage_presse", "\\Custom" };
	struct mailimap_flag_list *fl = flag_list_new(c, good, ARRAY_SIZE(good));
	assert_non_null(fl);
	assert_int_equal(clist_count(fl->fl_list), 4);
	const struct mailimap_flag *f = clist_content(clist_begin(fl->fl_list));
	assert_int_equal(f->fl_type, MAILIMAP_FLAG_SEEN);
	mailimap_flag_list_free(fl);
	const char *bad[] = { "\\Seen", "not a keyword" };
	assert_null(flag_list_new(c, bad, 2));
	assert_int_equal(c->err, IMAP_ERR_BAD);
	assert_non_null(strstr(c->errtext, "not a keyword"));
	free(c->prefix);
	free(c->host);
	free(c);
}

static void test_message_id_header(void **state)
{
	const char h1[] = "Message-ID: <abc@example.org>\r\n\r\n";
	char *v = header_value(h1, sizeof h1 - 1, "Message-ID");
	assert_string_equal(v, "<abc@example.org>");
	free(v);
	const char h2[] = "message-id:\r\n\t<folded@example.org> \r\n\r\n";
	v = header_value(h2, sizeof h2 - 1, "Message-ID");
	assert_string_equal(v, "<folded@example.org>");
	free(v);
	const char h3[] = "\r\n";
	assert_null(header_value(h3, sizeof h3 - 1, "Message-ID"));
	const char h4[] = "Message-IDx: <no@x>\r\nMessage-ID:   \r\n";
	assert_null(header_value(h4, sizeof h4 - 1, "Message-ID"));
	/* A value longer than a header line may be is cut, not overflowed. */
	char *big = malloc(5000);
	memcpy(big, "Message-ID: <", 13);
	memset(big + 13, 'x', 4980);
	memcpy(big + 4993, ">\r\n\r\n", 5);
	v = header_value(big, 4998, "Message-ID");
	assert_non_null(v);
	assert_int_equal(strlen(v), MSGID_MAX);
	free(v);
	free(big);
}

static void test_internaldate(void **state)
{
	struct mailimap_date_time d = { 17, 3, 2025, 10, 12, 0, 100 };   /* +0100 */
	assert_int_equal(date_to_time(&d), 1742202720);                 /* 09:12 UTC */
	d.dt_zone = -530;
	assert_int_equal(date_to_time(&d), 1742202720 + 3600 + 5 * 3600 + 30 * 60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_pairs),
		cmocka_unit_test(test_printable_ascii_kept),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_length_bound),
		cmocka_unit_test(test_wire_names),
		cmocka_unit_test(test_uid_sets),
		cmocka_unit_test(test_copyuid_mapping),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_message_id_header),
		cmocka_unit_test(test_internaldate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
