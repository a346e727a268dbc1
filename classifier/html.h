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
 * Returns 0, or -1 with errno ENOMEM or E2BIG.
 */
int html_to_text(const char *html, size_t n, size_t limit, struct buf *out);

#endif
