/*
 * example: the training example kept for a correction (a message a volunteer
 * moved to another category's folder), reduced to what the classifier uses.
 *
 * The example is a small RFC 5322 message (CRLF line ends) built from the
 * parsed message, not from its raw bytes: whatever msg_parse does not read is
 * simply never written. Parsed again with msg_parse, it gives the same subject,
 * sender domain, text, attachment names and tokenizer flags as the original,
 * except that e-mail addresses, phone numbers and IBANs in the subject, the
 * text and the attachment names are replaced by redact_text's placeholders
 * ("[adresse]", "[téléphone]", "[IBAN]"); so its features (tokenize.h) are the
 * original's wherever there was nothing to redact.
 *
 * What is written, and nothing else:
 *   From: expediteur@DOMAIN     when m->from_domain is a plain host name or
 *                               domain literal; no From otherwise (the d:
 *                               feature is then lost rather than the header
 *                               written in a form that might parse differently)
 *   extra_headers               as given, right after From
 *   Subject:                    the redacted subject; RFC 2047 "B" words in
 *                               UTF-8 when it is not plain ASCII (or holds
 *                               "=?"), folded at spaces otherwise; none when ""
 *   Message-ID: <KEY@example.invalid>
 *   Auto-Submitted: auto-replied   when MSG_AUTO_REPLY
 *   Precedence: bulk               when MSG_BULK
 *   MIME-Version: 1.0, and Content-Type / Content-Transfer-Encoding /
 *   Content-Disposition in the MIME parts:
 *     the text as text/plain; charset=UTF-8 (8bit, or quoted-printable when
 *     a line is over 998 bytes or the text holds the boundary prefix), or
 *     as text/html (escaped, in <pre>) when MSG_HTML_ONLY, or no text part at
 *     all when MSG_NO_TEXT;
 *     when MSG_REPORT, a multipart/report holding the text part and an empty
 *     message/delivery-status part;
 *     when MSG_ATTACHMENT, a multipart/mixed with one empty
 *     application/octet-stream attachment per name (filename="..." when plain
 *     ASCII, RFC 2231 UTF-8 otherwise), or one unnamed attachment when the
 *     original had only unnamed ones;
 *     a lone empty application/octet-stream part for MSG_NO_TEXT alone.
 * No Date, To, Cc, Received or original Message-ID, ever.
 *
 * Flags: MSG_CHARSET_GUESSED and MSG_TRIAGE are not reproduced (the tokenizer
 * reads neither; the example is valid UTF-8 and carries no X-Triage-* header
 * unless extra_headers does). MSG_TRUNCATED is reproduced for a reader with
 * the default limits (msg_limits_default's max_text): the text is cut or padded
 * with lines of spaces to exactly max_text bytes and followed by a "[...]" line, so
 * that msg_parse cuts it there again. Such an example is about max_text bytes
 * long, and when redaction made the text longer than max_text, its end is lost
 * as it would be when the message is read again.
 */
#ifndef TRIAGE_EXAMPLE_H
#define TRIAGE_EXAMPLE_H

#include <stddef.h>

#include "classifier/message.h"
#include "classifier/redact.h"

/*
 * Builds the reduced training example of the parsed message m (see above).
 * key: the Message-ID's local part; 1 to 200 characters among letters,
 * digits and "._-+=" (an error otherwise). extra_headers (may be NULL) is a
 * block of complete "Name: value\r\n" lines (continuation lines allowed)
 * inserted after From; a block that is not is an error.
 *
 * Returns a NUL-terminated buffer the caller frees, its length in *len; or
 * NULL with err set (bad key or extra_headers, out of memory).
 */
char *example_build(const struct msg *m, struct redactor *r, const char *key,
		    const char *extra_headers, size_t *len, char *err, size_t errsz);

#endif
