#include "config/ytree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/util.h"
#include "config/intl.h"

/* ---- error list ------------------------------------------------------------ */

void cfg_errors_init(struct cfg_errors *e)
{
	memset(e, 0, sizeof *e);
}

void cfg_errors_release(struct cfg_errors *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].file);
		free(e->v[i].msg);
	}
	free(e->v);
	cfg_errors_init(e);
}

void cfg_errors_print(const struct cfg_errors *e, FILE *f)
{
	for (size_t i = 0; i < e->n; i++) {
		const struct cfg_error *x = &e->v[i];
		if (x->line > 0)
			fprintf(f, "%s:%d:%d: %s\n", x->file, x->line, x->col, x->msg);
		else
			fprintf(f, "%s: %s\n", x->file, x->msg);
	}
}

void cfg_errors_add(struct cfg_errors *e, const char *file, int line, int col,
		    const char *fmt, ...)
{
	if (e->n >= CFG_MAX_ERRORS)
		goto drop;
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct cfg_error *v = realloc(e->v, cap * sizeof *v);
		if (!v)
			goto drop;
		e->v = v;
		e->cap = cap;
	}
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	int r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		goto drop;
	char *f = strdup(file);
	if (!f) {
		free(msg);
		goto drop;
	}
	e->v[e->n++] = (struct cfg_error){ f, line, col, msg };
	return;
drop:
	e->dropped++;
}

/* ---- text checks before libyaml ---------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t k;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		k = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		k = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		k = 4;
	else
		return 0;
	if (n < k)
		return 0;
	/* the common helper knows overlongs and surrogates */
	return utf8_valid((const char *)s, k) ? k : 0;
}

/*
 * Reports the first byte that is not UTF-8 (one error: the rest of such a file
 * is usually all wrong the same way), a NUL byte, and each tab in a line's
 * indentation. Returns -1 when the text must not go to libyaml.
 */
static int precheck(const char *data, size_t len, const char *file, struct cfg_errors *errs)
{
	const unsigned char *s = (const unsigned char *)data;
	int line = 1, col = 1, indent = 1;
	size_t i = 0;
	/* libyaml skips a byte order mark; so do the columns */
	if (len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < len) {
		if (s[i] == 0) {
			cfg_errors_add(errs, file, line, col,
				       _("the file contains a NUL byte: it is not a text file"));
			return -1;
		}
		size_t k = utf8_seq(s + i, len - i);
		if (!k) {
			cfg_errors_add(errs, file, line, col,
				       _("the file is not in UTF-8 (byte 0x%02X); save it "
					 "with the UTF-8 encoding"), s[i]);
			return -1;
		}
		if (s[i] == '\n') {
			line++;
			col = 1;
			indent = 1;
			i++;
			continue;
		}
		/* libyaml refuses a tab anywhere in a line's leading blanks, even
		 * on a blank or comment line: report each one */
		if (s[i] == '\t' && indent)
			cfg_errors_add(errs, file, line, col,
				       _("tab character in the indentation; YAML needs "
					 "spaces there"));
		else if (s[i] != ' ' && s[i] != '-' && s[i] != '\r')
			indent = 0;
		col++;
		i += k;
	}
	return 0;
}

/* ---- libyaml's errors in words ------------------------------------------------ */

static int has_error_on_line(const struct cfg_errors *errs, size_t from, int line)
{
	for (size_t i = from; i < errs->n; i++)
		if (errs->v[i].line == line)
			return 1;
	return 0;
}

/* Whether only a key-like word stands between the start of the line and the
 * ':' at index: then the line was read as the continuation of the value above,
 * which happens when it is indented deeper than its neighbours. */
static int key_at_line_start(const char *data, size_t index, size_t *col)
{
	size_t line = index, start;
	while (line > 0 && data[line - 1] != '\n')
		line--;
	for (start = line; start < index && data[start] == ' '; start++)
		;
	if (start == index)
		return 0;
	for (size_t i = start; i < index; i++) {
		char c = data[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	*col = start - line;  /* only spaces before it: bytes are characters */
	return 1;
}

static void syntax_error(const yaml_parser_t *p, const char *data, size_t len,
			 const char *file, struct cfg_errors *errs, size_t first)
{
	const char *pb = p->problem ? p->problem : "";
	const char *ctx = p->context ? p->context : "";
	yaml_mark_t m = p->problem_mark;
	const char *msg;
	size_t key_col;
	char c = m.index < len ? data[m.index] : 0;

	if (!strcmp(pb, "found character that cannot start any token") && c == '\t')
		msg = _("tab character in the indentation; YAML needs spaces there");
	else if (strstr(pb, "tab character"))
		msg = _("tab character in the indentation; YAML needs spaces there");
	else if (!strcmp(pb, "found character that cannot start any token"))
		msg = _("a value cannot start with this character; put the value in "
			"quotes");
	else if ((!strcmp(pb, "mapping values are not allowed in this context") ||
		  !strcmp(pb, "found unexpected ':'")) &&
		 key_at_line_start(data, m.index, &key_col)) {
		msg = _("this line is not indented like the lines above it; check the "
			"spaces at its start");
		m.column = key_col;
	}
	else if (!strcmp(pb, "mapping values are not allowed in this context") ||
		 !strcmp(pb, "found unexpected ':'"))
		msg = _("unexpected \":\"; if a value contains \": \", put it in quotes "
			"(for example: subject: \"Re: hello\")");
	else if (!strcmp(pb, "could not find expected ':'")) {
		msg = _("this line has no \":\"; write key: value");
		m = p->context_mark;
	} else if (!strcmp(pb, "did not find expected key") ||
		   !strcmp(pb, "did not find expected '-' indicator") ||
		   !strcmp(pb, "block sequence entries are not allowed in this context"))
		msg = _("this line is not indented like the lines above it; check the "
			"spaces at its start");
	else if (!strcmp(pb, "found unexpected end of stream") && strstr(ctx, "quoted")) {
		msg = _("a quote opened here is never closed");
		m = p->context_mark;
	} else if (!strcmp(pb, "did not find expected ',' or ']'")) {
		msg = _("a list in [ ] is not closed, or an item lacks its comma");
		m = p->context_mark;
	} else if (!strcmp(pb, "did not find expected ',' or '}'")) {
		msg = _("a mapping in { } is not closed, or an item lacks its comma");
		m = p->context_mark;
	} else if (!strcmp(pb, "found unknown escape character"))
		msg = _("unknown escape sequence in double quotes; write patterns in "
			"single quotes, for example '\\burgent'");
	else if (!strcmp(pb, "found undefined alias"))
		msg = _("aliases (*name) are not supported in this file; write the "
			"value out");
	else if (!strcmp(pb, "control characters are not allowed"))
		msg = _("the file contains a control character; remove it");
	else
		msg = NULL;

	int line = (int)m.line + 1, col = (int)m.column + 1;
	/* A tab already reported on this line is the cause: say it once. */
	if (has_error_on_line(errs, first, line))
		return;
	if (msg)
		cfg_errors_add(errs, file, line, col, "%s", msg);
	else
		cfg_errors_add(errs, file, line, col, _("YAML syntax error: %s"), pb);
}

/* ---- the tree --------------------------------------------------------------- */

int yt_is_null(const struct ynode *n)
{
	return n->type == YT_SCALAR && n->plain &&
	       (n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
		!strcmp(n->str, "Null") || !strcmp(n->str, "NULL"));
}

void yt_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		yt_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static struct ynode *node_new(enum yt_type type, const yaml_mark_t *m)
{
	struct ynode *n = calloc(1, sizeof *n);
	if (n) {
		n->type = type;
		n->line = (int)m->line + 1;
		n->col = (int)m->column + 1;
	}
	return n;
}

static int node_add(struct ynode *parent, struct ynode *kid)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct ynode **k = realloc(parent->kids, cap * sizeof *k);
		if (!k)
			return -1;
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

struct ynode *yt_parse(const char *data, size_t len, const char *file,
		       struct cfg_errors *errs)
{
	size_t first = errs->n;
	if (precheck(data, len, file, errs) < 0)
		return NULL;

	yaml_parser_t p;
	if (!yaml_parser_initialize(&p)) {
		cfg_errors_add(errs, file, 1, 1, "%s", strerror(ENOMEM));
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);

	struct ynode *root = NULL, *stack[YT_MAX_DEPTH + 1];
	int depth = 0, docs = 0, done = 0, failed = 0;
	while (!done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			syntax_error(&p, data, len, file, errs, first);
			failed = 1;
			break;
		}
		struct ynode *n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs == 2) {
				/* the first one is still checked */
				cfg_errors_add(errs, file, (int)ev.start_mark.line + 1,
					       (int)ev.start_mark.column + 1,
					       _("a second document (after \"---\") is not "
						 "allowed: this file holds one configuration"));
				done = 1;
			}
			break;
		case YAML_ALIAS_EVENT:
			cfg_errors_add(errs, file, (int)ev.start_mark.line + 1,
				       (int)ev.start_mark.column + 1,
				       _("aliases (*name) are not supported in this file; "
					 "write the value out"));
			failed = 1;
			/* a placeholder keeps the mapping's keys and values paired */
			n = node_new(YT_SCALAR, &ev.start_mark);
			if (n && !(n->str = strdup("")))
				goto oom_node;
			break;
		case YAML_SCALAR_EVENT:
			n = node_new(YT_SCALAR, &ev.start_mark);
			if (!n)
				break;
			n->len = ev.data.scalar.length;
			n->str = malloc(n->len + 1);
			if (!n->str)
				goto oom_node;
			memcpy(n->str, ev.data.scalar.value, n->len);
			n->str[n->len] = 0;
			n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			n = node_new(ev.type == YAML_SEQUENCE_START_EVENT ? YT_SEQ : YT_MAP,
				     &ev.start_mark);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		int is_open = ev.type == YAML_SEQUENCE_START_EVENT ||
			      ev.type == YAML_MAPPING_START_EVENT;
		int has_node = is_open || ev.type == YAML_SCALAR_EVENT ||
			       ev.type == YAML_ALIAS_EVENT;
		yaml_mark_t mark = ev.start_mark;
		yaml_event_delete(&ev);
		if (!has_node)
			continue;
		if (!n) {
			cfg_errors_add(errs, file, 1, 1, "%s", strerror(ENOMEM));
			failed = 1;
			break;
		}
		if (depth == 0) {
			root = n;
		} else if (node_add(stack[depth - 1], n) < 0) {
			yt_free(n);
			cfg_errors_add(errs, file, 1, 1, "%s", strerror(ENOMEM));
			failed = 1;
			break;
		}
		if (is_open) {
			if (depth == YT_MAX_DEPTH) {
				cfg_errors_add(errs, file, (int)mark.line + 1,
					       (int)mark.column + 1,
					       _("lists and mappings are nested too deeply "
						 "here"));
				failed = 1;
				break;
			}
			stack[depth++] = n;
		}
		continue;
oom_node:
		yaml_event_delete(&ev);
		yt_free(n);
		cfg_errors_add(errs, file, 1, 1, "%s", strerror(ENOMEM));
		failed = 1;
		break;
	}
	yaml_parser_delete(&p);
	if (failed) {
		yt_free(root);
		return NULL;
	}
	if (!root) {
		cfg_errors_add(errs, file, 1, 1,
			       _("the file is empty; see triage.yaml(5) or the example "
				 "file for what to write"));
		return NULL;
	}
	return root;
}
