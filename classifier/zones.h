/*
 * zones: split the UTF-8 body text of a message into what the sender wrote now
 * and what came with it: quoted replies, forwarded blocks, signatures and
 * disclaimers. Nothing is thrown away: each zone becomes its own features
 * (prefixed), so the model decides how much a signature or a quote counts, and
 * explanations can say which zone a term came from.
 *
 * Recognised (French and English), with PCRE2 patterns compiled once:
 * - quotes: lines starting with '>' (any depth), and everything after a quote
 *   header: "Le lun. 3 mars 2025 à 10:12, X a écrit :" (possibly wrapped over two
 *   lines), "On Mon, Mar 3, 2025 at 10:12 AM X wrote:", Outlook's header block
 *   "De : / Envoyé : / À : / Objet :" and "From: / Sent: / To: / Subject:",
 *   "-----Message d'origine-----", "-----Original Message-----";
 * - forwarded blocks: "---------- Forwarded message ---------",
 *   "-------- Message transféré --------", "Début du message réexpédié :",
 *   "Begin forwarded message:" (ZONE_FORWARD: often the real request);
 * - signatures: the "-- " line, a closing formula ("Cordialement,", "Bien à
 *   vous", "Best regards", ...) followed by a short contact block (names, phone,
 *   address, URL, role lines), "Envoyé de mon iPhone", "Sent from my ...",
 *   "Envoyé depuis Outlook ...";
 * - disclaimers: "Ce message et toutes les pièces jointes ... confidentiel",
 *   "This e-mail and any attachments ...", "Pensez à l'environnement avant
 *   d'imprimer", and similar legal or environmental footers.
 *
 * Not thread-safe (it owns PCRE2 match data): one zoner per thread.
 */
#ifndef TRIAGE_ZONES_H
#define TRIAGE_ZONES_H

#include <stddef.h>

enum zone {
	ZONE_BODY = 0,    /* new text written by the sender */
	ZONE_QUOTE,       /* quoted earlier messages (replies) */
	ZONE_FORWARD,     /* a forwarded message's text */
	ZONE_SIGNATURE,   /* signature and contact block */
	ZONE_DISCLAIMER,  /* legal or environmental footer */
	ZONE_COUNT
};

/* A run of consecutive lines of one zone: text[off .. off+len). Spans are in
 * order, do not overlap and cover every line of the text (a span may be empty
 * of words). Header lines of a quote or forward block ("Le ... a écrit :", the
 * Outlook block) belong to that quote or forward zone. */
struct zone_span {
	enum zone zone;
	size_t off, len;
};

struct zones {
	struct zone_span *spans;  /* owned; zones_release() frees */
	size_t n;
	size_t cap;
};

struct zoner;

/* Compiles the patterns, once for the process (every zoner shares them; any
 * thread may call this, first or not). Returns 0, or -1 with err set (a
 * pattern that fails to compile is a bug, not input). */
int zones_prepare(char *err, size_t errsz);

/* A zoner (the compiled patterns, see zones_prepare, and its own match
 * state) the caller frees with zoner_free(), or NULL with err set. */
struct zoner *zoner_new(char *err, size_t errsz);
void zoner_free(struct zoner *z);

/* Splits text (UTF-8, len bytes, need not be NUL-terminated) into out, which
 * must be zeroed before the first use and may be reused across calls (it is
 * emptied first). Returns 0, or -1 on ENOMEM. */
int zones_split(struct zoner *z, const char *text, size_t len, struct zones *out);
void zones_release(struct zones *zs);

/* The one-letter feature prefix of a zone: b, q, f, g, x. */
char zone_prefix(enum zone zone);
/* Its name for explanations: "body", "quote", "forward", "signature", "disclaimer". */
const char *zone_name(enum zone zone);

#endif
