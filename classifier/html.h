/*
 * html: an HTML document -> plain text, with libxml2's HTML parser (internal
 * to classifier/, used by message.c for mail that has no text/plain part).
 */
#ifndef TRIAGE_HTML_H
#define TRIAGE_HTML_H

#include <stddef.h>

#include "common/buf.h"

/*
 * Appends to out the text of the HTML document html[0..n) (UTF-8): entities
 * decoded; script, style, head and comments dropped; whitespace collapsed as a
 * browser would; block elements (p, div, br, li, tr, h1-h6, ...) become line
 * breaks, at most one blank line in a row. The result is valid UTF-8 without
 * NULs. May stop once out holds about limit bytes. libxml2 reports nothing
 * (errors are silenced per parser context; no global handler is touched).
 * Returns 0, or -1 with errno ENOMEM, E2BIG, or ELIBACC (libxml2 cannot be
 * loaded: see html_init).
 */
int html_to_text(const char *html, size_t n, size_t limit, struct buf *out);

/*
 * Loads libxml2 (once; html_to_text does it at its first call). A program
 * that will parse HTML for sure calls it at start, to fail there. Returns 0,
 * or -1 with errno ELIBACC and err set (which library, why).
 */
int html_init(char *err, size_t errsz);

#endif
