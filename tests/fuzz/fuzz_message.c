/*
 * libFuzzer target for classifier/message: msg_parse and msg_parse_headers
 * with small limits (so that the limit paths are reached) and with the
 * defaults. Besides crashes and sanitizer reports, a result that breaks the
 * contract of message.h (a NULL or invalid UTF-8 string, a NUL or CR in the
 * text, text over max_text, an error without a message) aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/message.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_ok(const char *s)
{
	return s && utf8_valid(s, strlen(s));
}

static void check(const struct msg *m, const struct msg_limits *lim, int r, const char *err)
{
	if (!str_ok(m->subject) || !str_ok(m->from_addr) || !str_ok(m->from_domain) ||
	    !str_ok(m->message_id) || !m->text)
		abort();
	if (strlen(m->text) != m->text_len || !utf8_valid(m->text, m->text_len) ||
	    memchr(m->text, '\r', m->text_len) || m->text_len > lim->max_text)
		abort();
	if (m->n_attachments > lim->max_parts)
		abort();
	for (size_t i = 0; i < m->n_attachments; i++)
		if (!str_ok(m->attachments[i]) || !m->attachments[i][0])
			abort();
	if (r != 0 && (r != -1 || !err[0]))
		abort();
}

static void run(const char *raw, size_t len, const struct msg_limits *lim)
{
	struct msg m;
	char err[256];
	err[0] = '\0';
	int r = msg_parse(&m, raw, len, lim, err, sizeof err);
	check(&m, lim, r, err);
	msg_release(&m);
	err[0] = '\0';
	r = msg_parse_headers(&m, raw, len, lim, err, sizeof err);
	check(&m, lim, r, err);
	if (m.text_len != 0)
		abort();
	msg_release(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_limits small = {
		.max_size = 1 << 16,
		.max_parts = 40,
		.max_depth = 6,
		.max_header_len = 512,
		.max_line_len = 1024,
		.max_text = 2048,
	};
	struct msg_limits def;
	msg_limits_default(&def);
	run((const char *)data, size, &small);
	run((const char *)data, size, &def);
	return 0;
}
