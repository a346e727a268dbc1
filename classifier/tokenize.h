/*
 * tokenize: a parsed message -> the feature terms the model counts.
 *
 * One tokenizer serves training and service alike, so that what the model
 * learned is exactly what it sees. Each term is a short UTF-8 string with a
 * one-letter prefix saying where it came from:
 *
 *   b: q: f: g: x:  words of the body, quote, forward, signature and disclaimer
 *                   zones (see zones.h), e.g. "b:adhesion" (after stemming:
 *                   "b:adhes"), and bigrams of consecutive kept words joined by
 *                   one space, e.g. "b:adhes cotis"
 *   s:              words and bigrams of the subject ("Re:", "TR:", "Fwd:" removed)
 *   d:              the sender's domain, e.g. "d:mairie-lyon.fr"
 *   u:              the host of each URL in the text, e.g. "u:helloasso.com"
 *   a:              per attachment: its extension ("a:.pdf") and the words of its name
 *   h:              message flags: "h:html", "h:auto", "h:bulk", "h:report",
 *                   "h:attach", "h:notext", "h:truncated"
 *
 * Words: Unicode letters and digits, split at apostrophes and hyphens
 * ("l'adhésion" -> "adhésion"); NFKC and case folding with utf8proc, then
 * accents removed so that "adhesion", "adhésion" and "ADHÉSION" meet; words
 * shorter than 2 or longer than 40 bytes dropped; stop words of the language
 * dropped; Snowball stemming (libstemmer) of the result. A run of digits longer
 * than 4 becomes "#num". E-mail addresses, phone numbers and IBANs in the text
 * become the placeholders "#email", "#tel" and "#iban" (so that no address or
 * number reaches the model file); URLs become "#url" (plus their "u:" host).
 *
 * Shared features (feature augmentation, Daumé 2007): each subject term is
 * emitted twice, as "s:term" and as "b:term", so that the model can use what
 * subject and body have in common and still weigh the subject on its own (on
 * the French corpus and 20 Newsgroups alike this does better than either
 * alone). With share_quotes, quoted words are shared the same way: right for
 * newsgroups and lists, where a quote is on the topic of the reply (20
 * Newsgroups: accuracy 0.8621 -> 0.8646), wrong for an association's mail,
 * where a reply often quotes a message on another topic (French corpus,
 * cross-validated macro-F1 0.897 -> 0.889): off by default, a training option.
 *
 * Not thread-safe (Snowball stemmers and PCRE2 match data are per object): one
 * tokenizer per thread.
 */
#ifndef TRIAGE_TOKENIZE_H
#define TRIAGE_TOKENIZE_H

#include <stddef.h>

#include "classifier/message.h"

enum tok_lang { TOK_LANG_FR = 0, TOK_LANG_EN = 1 };

/* The settings stored in a model file: a model is always used with the
 * tokenizer settings it was trained with. */
struct tok_opts {
	enum tok_lang lang;       /* stemmer and stop words (default FR) */
	unsigned char stem;       /* Snowball stemming (default 1) */
	unsigned char stopwords;  /* drop the language's stop words (default 1) */
	unsigned char bigrams;    /* bigrams of consecutive kept words (default 1) */
	unsigned char zones;      /* split zones (default 1); 0: all text is "b:" */
	unsigned char headers;    /* s:, d:, a:, h: features (default 1) */
	unsigned char share_quotes; /* quoted words also count as body words
				       (default 0; see above) */
};

void tok_opts_default(struct tok_opts *o);
/* "fr" or "en" -> lang; returns 0, or -1 for an unknown name. */
int tok_lang_parse(const char *name, enum tok_lang *lang);
const char *tok_lang_name(enum tok_lang lang);

/*
 * Receives each term, once per occurrence, in text order. term is not
 * NUL-terminated and only valid during the call. surface is the same term
 * before stemming and accent removal (case-folded, e.g. "adhésion" or
 * "adhésion cotisation"), for explanations people can read.
 */
typedef void (*tok_emit_fn)(void *ctx, const char *term, size_t len,
			    const char *surface, size_t surface_len);

struct tokenizer;

/* Compiles the patterns every tokenizer shares (zones, personal data): tok_new
 * does it when no one has, so calling this first, on a thread that would
 * otherwise wait, only moves that work (a few ms) off the way. 0, or -1 with
 * err set. */
int tok_prepare(char *err, size_t errsz);

/* Returns a tokenizer the caller frees with tok_free(), or NULL with err set. */
struct tokenizer *tok_new(const struct tok_opts *o, char *err, size_t errsz);
void tok_free(struct tokenizer *t);

/* Emits every term of m: its header features, then its text split into zones.
 * Returns 0, or -1 on ENOMEM. */
int tok_message(struct tokenizer *t, const struct msg *m, tok_emit_fn emit, void *ctx);

/* Emits the words and bigrams of one piece of text with the given prefix
 * letter (e.g. 's' for a subject). Returns 0, or -1 on ENOMEM. */
int tok_text(struct tokenizer *t, char prefix, const char *text, size_t len,
	     tok_emit_fn emit, void *ctx);

/* Normalises and stems one word as tok_text would, into out (NUL-terminated).
 * Returns the length, or 0 when the word is dropped (stop word, too short or
 * too long, not a word). For tests and tools. */
size_t tok_word(struct tokenizer *t, const char *word, size_t len, char *out, size_t outsz);

#endif
