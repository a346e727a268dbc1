#include "classifier/html.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/util.h"

#ifndef TRIAGE_XML_SONAME
#define TRIAGE_XML_SONAME "libxml2.so.2"
#endif

/*
 * libxml2 is opened at the first HTML part (or by html_init), not linked: it
 * brings ICU, libstdc++ and liblzma, five libraries that every start of
 * triage would otherwise load (5 ms on the machines measured) while most
 * commands never meet HTML. The five functions used are called through
 * pointers of their own prototypes.
 */
static struct {
	__typeof__(xmlInitParser) *init_parser;
	__typeof__(htmlNewParserCtxt) *new_ctxt;
	__typeof__(htmlCtxtReadMemory) *read_memory;
	__typeof__(htmlFreeParserCtxt) *free_ctxt;
	__typeof__(xmlFreeDoc) *free_doc;
	int ok;
	char err[256];
} xml;
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_load(void)
{
	const struct dl_want want[] = {
		{ "xmlInitParser", (void **)&xml.init_parser },
		{ "htmlNewParserCtxt", (void **)&xml.new_ctxt },
		{ "htmlCtxtReadMemory", (void **)&xml.read_memory },
		{ "htmlFreeParserCtxt", (void **)&xml.free_ctxt },
		{ "xmlFreeDoc", (void **)&xml.free_doc },
	};
	if (!dl_load(TRIAGE_XML_SONAME, "libxml2", want, sizeof want / sizeof *want, xml.err,
		     sizeof xml.err))
		return;
	/* Once, before any thread parses (libxml2 2.9 wants it so). */
	xml.init_parser();
	xml.ok = 1;
}

int html_init(char *err, size_t errsz)
{
	pthread_once(&xml_once, xml_load);
	if (!xml.ok) {
		errf(err, errsz, "%s", xml.err);
		errno = ELIBACC;
		return -1;
	}
	return 0;
}

enum role {
	R_INLINE,
	R_SKIP,      /* not text: dropped with everything inside */
	R_LINE,      /* starts and ends a line */
	R_PARAGRAPH, /* a line with a blank line around it */
	R_BREAK,     /* <br>: always a new line */
	R_CELL,      /* table cell: separated from its neighbours by a space */
	R_PRE,       /* keeps its whitespace */
};

static const struct {
	const char *name;
	enum role role;
} roles[] = {
	{ "script", R_SKIP },      { "style", R_SKIP },       { "head", R_SKIP },
	{ "title", R_SKIP },       { "template", R_SKIP },    { "br", R_BREAK },
	{ "p", R_PARAGRAPH },      { "h1", R_PARAGRAPH },     { "h2", R_PARAGRAPH },
	{ "h3", R_PARAGRAPH },     { "h4", R_PARAGRAPH },     { "h5", R_PARAGRAPH },
	{ "h6", R_PARAGRAPH },     { "blockquote", R_PARAGRAPH }, { "table", R_PARAGRAPH },
	{ "ul", R_PARAGRAPH },     { "ol", R_PARAGRAPH },     { "dl", R_PARAGRAPH },
	{ "pre", R_PRE },          { "div", R_LINE },         { "li", R_LINE },
	{ "tr", R_LINE },          { "dt", R_LINE },          { "dd", R_LINE },
	{ "hr", R_LINE },          { "center", R_LINE },      { "address", R_LINE },
	{ "form", R_LINE },        { "fieldset", R_LINE },    { "section", R_LINE },
	{ "article", R_LINE },     { "header", R_LINE },      { "footer", R_LINE },
	{ "nav", R_LINE },         { "aside", R_LINE },       { "main", R_LINE },
	{ "figure", R_LINE },      { "figcaption", R_LINE },  { "caption", R_LINE },
	{ "body", R_LINE },        { "html", R_LINE },        { "td", R_CELL },
	{ "th", R_CELL },
};

struct writer {
	struct buf *out;
	size_t limit;
	size_t start;    /* out->len before this document */
	int newlines;    /* line breaks at the end of out (since start) */
	int space;       /* whitespace seen and not written yet */
	int pre;         /* depth of <pre> elements */
	int failed;
};

static enum role role_of(const xmlNode *n)
{
	const char *name = (const char *)n->name;
	if (!name)
		return R_INLINE;
	/* Called twice per element of every HTML-only mail: only the names
	   starting with the same letter are compared. */
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		if (roles[i].name[0] == name[0] && strcmp(name, roles[i].name) == 0)
			return roles[i].role;
	return R_INLINE;
}

static void put(struct writer *w, const char *p, size_t n)
{
	if (!w->failed && buf_append(w->out, p, n) < 0)
		w->failed = 1;
}

/* Ends the current line; max is the number of line breaks wanted in a row
   (1: a new line, 2: a blank line). Nothing at the start of the text. */
static void line_break(struct writer *w, int max)
{
	w->space = 0;
	if (w->out->len == w->start)
		return;
	while (w->newlines < max) {
		put(w, "\n", 1);
		w->newlines++;
	}
}

static void text(struct writer *w, const char *s)
{
	while (*s) {
		unsigned char c = (unsigned char)*s;
		size_t k = 1;
		int blank = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
		/* U+00A0 NO-BREAK SPACE (&nbsp;) separates words like a space */
		if (c == 0xc2 && (unsigned char)s[1] == 0xa0) {
			blank = 1;
			k = 2;
		}
		if (blank && w->pre) {
			if (c == '\n') {
				if (w->newlines < 2) {
					put(w, "\n", 1);
					w->newlines++;
				}
			} else if (c != '\r') {
				put(w, " ", 1);
				w->newlines = 0;
			}
			s += k;
			continue;
		}
		if (blank) {
			w->space = 1;
			s += k;
			continue;
		}
		size_t run = 0;
		while (s[run] && s[run] != ' ' && s[run] != '\t' && s[run] != '\n' &&
		       s[run] != '\r' && s[run] != '\f' &&
		       !((unsigned char)s[run] == 0xc2 && (unsigned char)s[run + 1] == 0xa0))
			run++;
		if (w->space && w->newlines == 0 && w->out->len > w->start)
			put(w, " ", 1);
		w->space = 0;
		put(w, s, run);
		w->newlines = 0;
		s += run;
	}
}

/* Returns 1 when the children of n are to be visited. */
static int enter(struct writer *w, const xmlNode *n)
{
	switch (n->type) {
	case XML_TEXT_NODE:
	case XML_CDATA_SECTION_NODE:
		if (n->content)
			text(w, (const char *)n->content);
		return 0;
	case XML_ELEMENT_NODE:
		break;
	default: /* comments, processing instructions, DTD */
		return 0;
	}
	switch (role_of(n)) {
	case R_SKIP:
		return 0;
	case R_BREAK:
		w->space = 0;
		if (w->newlines < 2) {
			put(w, "\n", 1);
			w->newlines++;
		}
		return 0;
	case R_LINE:
		line_break(w, 1);
		break;
	case R_PARAGRAPH:
		line_break(w, 2);
		break;
	case R_PRE:
		line_break(w, 2);
		w->pre++;
		break;
	case R_CELL:
		w->space = 1;
		break;
	case R_INLINE:
		break;
	}
	return 1;
}

static void leave(struct writer *w, const xmlNode *n)
{
	switch (role_of(n)) {
	case R_LINE:
		line_break(w, 1);
		break;
	case R_PRE:
		w->pre--;
		/* fall through */
	case R_PARAGRAPH:
		line_break(w, 2);
		break;
	case R_CELL:
		w->space = 1;
		break;
	default:
		break;
	}
}

/* libxml2 would otherwise print parse errors of broken HTML on stderr. */
static void quiet(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

int html_to_text(const char *html, size_t n, size_t limit, struct buf *out)
{
	if (html_init(NULL, 0) < 0)
		return -1;
	if (n > INT_MAX)
		n = INT_MAX;
	if (n == 0)
		return 0;
	htmlParserCtxtPtr ctxt = xml.new_ctxt();
	if (!ctxt) {
		errno = ENOMEM;
		return -1;
	}
	/* Per context: the structured handler wins over every other channel. */
	ctxt->sax->serror = quiet;
	/* The part was converted to UTF-8 already: a <meta charset> is stale. */
	htmlDocPtr doc = xml.read_memory(ctxt, html, (int)n, NULL, "UTF-8",
					    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
						    HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
						    HTML_PARSE_IGNORE_ENC | HTML_PARSE_COMPACT);
	xml.free_ctxt(ctxt);
	if (!doc)
		return 0; /* nothing libxml2 could read as HTML: no text */

	struct writer w = { .out = out, .limit = limit, .start = out->len };
	xmlNode *node = doc->children;
	/* Iterative walk: a hostile document nests deep, the stack must not. */
	while (node && !w.failed && out->len < limit) {
		if (enter(&w, node) && node->children) {
			node = node->children;
			continue;
		}
		if (node->type == XML_ELEMENT_NODE && role_of(node) != R_SKIP &&
		    role_of(node) != R_BREAK)
			leave(&w, node);
		while (node && !node->next) {
			node = node->parent;
			if (!node || node == (xmlNode *)doc) {
				node = NULL;
				break;
			}
			leave(&w, node);
		}
		if (node)
			node = node->next;
	}
	/* no trailing line breaks */
	while (out->len > w.start && out->data[out->len - 1] == '\n')
		out->data[--out->len] = '\0';
	xml.free_doc(doc);
	if (w.failed)
		return -1;
	return 0;
}
