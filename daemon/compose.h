/*
 * compose: the messages triage writes. Every one carries an X-Triage-* header,
 * so that the daemon never processes mail it sent or rewrote (no loops).
 *
 * - a forward as an attachment (the default): a new message from the
 *   association's address to the person in charge, with a short note in French
 *   (the category, the confidence, the main reasons, the rule that matched)
 *   and the original attached unchanged as message/rfc822, so that the
 *   original sender's DKIM signature and DMARC policy are not broken;
 * - a redirect (mode: redirect): the original, unchanged, with Resent-From,
 *   Resent-To, Resent-Date and Resent-Message-ID prepended (RFC 5322 3.6.6);
 * - a subject tag: the original with "[Tag] " put before its subject (RFC 2047
 *   encoded when the tag or the subject is not ASCII) and an X-Triage-Tagged
 *   header, everything else byte for byte as it was.
 */
#ifndef TRIAGE_COMPOSE_H
#define TRIAGE_COMPOSE_H

#include <stddef.h>
#include <time.h>

struct fwd_note {
	const char *category;     /* the folder or category name people know, UTF-8 */
	double confidence;        /* 0..1, or < 0 when a rule decided */
	const char *rule;         /* the rule's name, or NULL */
	const char *const *reasons;  /* main reasons, readable ("adhésion (corps)"), or NULL */
	size_t nreasons;
	const char *subject;      /* the original's decoded subject (for the new subject) */
};

struct fwd_env {
	const char *from;         /* the association's address (From:, Resent-From:) */
	const char *const *to;    /* recipients (To:, Resent-To:) */
	size_t nto;
	time_t now;               /* Date: / Resent-Date: */
	const char *domain;       /* for the generated Message-ID, e.g. "example.org" */
};

/* Each returns a new message (CRLF line ends) the caller frees, and its length
 * in *len; NULL with err set when the original cannot be handled (e.g. no
 * header at all) or on ENOMEM. Header lines are folded at 78 columns. */
char *compose_forward(const struct fwd_env *env, const struct fwd_note *note,
		      const char *orig, size_t orig_len, size_t *len, char *err, size_t errsz);
char *compose_redirect(const struct fwd_env *env, const char *orig, size_t orig_len,
		       size_t *len, char *err, size_t errsz);
char *compose_tag_subject(const char *orig, size_t orig_len, const char *tag,
			  const char *category, size_t *len, char *err, size_t errsz);

#endif
