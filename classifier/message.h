/*
 * message: one raw RFC 5322 message (bytes as fetched over IMAP or read from a
 * file) -> what the classifier reads: the decoded subject, the sender's address
 * and domain, the body as UTF-8 text, attachment file names, and a few flags.
 *
 * MIME is parsed with libetpan (mailmime_parse); RFC 2047 words, quoted-printable
 * and base64 are decoded; every text part is converted to UTF-8 with iconv, and
 * broken or unknown charsets degrade to a best guess (UTF-8 if the bytes are
 * valid UTF-8, else windows-1252) instead of failing. text/plain is preferred;
 * an HTML-only part is turned into text with libxml2's HTML parser (entities
 * decoded, script and style dropped). Attachments keep their file name only.
 *
 * Pure library: no globals, no logging, no exit(). Thread-safe (no shared state).
 */
#ifndef TRIAGE_MESSAGE_H
#define TRIAGE_MESSAGE_H

#include <stddef.h>

/* Hard limits. Crossing one is an error with a clear message (see msg_parse). */
struct msg_limits {
	size_t max_size;        /* whole raw message, bytes */
	size_t max_parts;       /* MIME parts in the whole tree */
	size_t max_depth;       /* multipart / message/rfc822 nesting */
	size_t max_header_len;  /* one header field, unfolded, bytes */
	size_t max_line_len;    /* one line of the raw message, bytes */
	size_t max_text;        /* decoded UTF-8 text kept; beyond it the text is
				   cut at a character boundary and MSG_TRUNCATED set
				   (not an error: the start of a mail is what counts) */
};

/* Defaults: 32 MiB, 500 parts, depth 20, header 64 KiB, line 1 MiB, text 1 MiB. */
void msg_limits_default(struct msg_limits *l);

enum msg_flag {
	MSG_HTML_ONLY = 1 << 0,       /* the text came from HTML (no text/plain part) */
	MSG_TRUNCATED = 1 << 1,       /* the text was cut at max_text */
	MSG_CHARSET_GUESSED = 1 << 2, /* a part's charset was missing, unknown or wrong */
	MSG_AUTO_REPLY = 1 << 3,      /* Auto-Submitted (not "no"), X-Autoreply,
					 X-Autorespond, Precedence: auto_reply */
	MSG_BULK = 1 << 4,            /* List-Id, List-Unsubscribe, Precedence bulk/list/junk */
	MSG_REPORT = 1 << 5,          /* multipart/report or message/delivery-status
					 (delivery failures, read receipts) */
	MSG_ATTACHMENT = 1 << 6,      /* at least one attachment */
	MSG_TRIAGE = 1 << 7,          /* has an X-Triage-* header: triage sent or
					 rewrote it (the daemon never processes those) */
	MSG_NO_TEXT = 1 << 8,         /* no text part at all */
};

struct msg {
	char *subject;      /* decoded, UTF-8, whitespace unfolded; "" when absent */
	char *from_addr;    /* addr-spec of the first From mailbox, lowercased;
			       "" when absent or unparsable */
	char *from_domain;  /* the part after '@' of from_addr; "" when none */
	char *message_id;   /* Message-ID without the angle brackets; "" when absent */
	char *text;         /* body as UTF-8 text (valid UTF-8, no NULs): the text
			       parts in order, separated by a blank line; "" when none */
	size_t text_len;    /* strlen(text) */
	char **attachments; /* attachment file names, decoded to UTF-8 (RFC 2047 and
			       RFC 2231); parts without a name are not listed */
	size_t n_attachments;
	unsigned flags;     /* enum msg_flag */
};

/*
 * Parses len bytes of raw (CRLF or LF line ends; need not be NUL-terminated).
 * m need not be initialised; every string field is non-NULL after a call,
 * whatever it returns, and the caller owns them: call msg_release(m).
 *
 * Returns 0, or -1 with a message in err when a limit in lim (NULL: defaults) is
 * crossed, e.g. "message too large (40000000 bytes, limit 33554432)",
 * "too many MIME parts (more than 500)", "MIME nesting too deep (more than 20)",
 * "header field too long (70000 bytes, limit 65536)", "line too long ...".
 * On -1 the header fields that could be read (subject, from, message_id) are
 * still filled, so a caller can still decide from the headers.
 * Malformed MIME, bad encodings and unknown charsets are NOT errors: they
 * degrade to a best guess (and set MSG_CHARSET_GUESSED where it applies).
 */
int msg_parse(struct msg *m, const char *raw, size_t len, const struct msg_limits *lim,
	      char *err, size_t errsz);

/*
 * Reads only the header of raw (up to the first empty line, or len bytes):
 * subject, from, message_id and the header-derived flags; text stays "".
 * For messages over the size limit, which are decided from their headers.
 * Returns 0, or -1 with err when a header field crosses lim->max_header_len
 * (the fields read so far stay filled).
 */
int msg_parse_headers(struct msg *m, const char *raw, size_t len,
		      const struct msg_limits *lim, char *err, size_t errsz);

/* Frees the contents of m (m itself is the caller's). Safe on a zeroed struct. */
void msg_release(struct msg *m);

#endif
