/*
 * stopwords: the French and English stop word lists of the tokenizer.
 *
 * The lists hold folded forms (lower case, accents removed, as the tokenizer
 * produces them before stemming), so "été", "Ete" and "ÉTÉ" are all "ete".
 * They follow Snowball's lists (snowballstem.org, BSD licence) with a few
 * function words added, and the fragments that splitting at apostrophes
 * leaves ("qu", "jusqu", "don", "isn"...).
 */
#ifndef TRIAGE_STOPWORDS_H
#define TRIAGE_STOPWORDS_H

#include <stddef.h>

#include "classifier/tokenize.h"

/* True when the folded word w (len bytes) is a stop word of lang. */
int stopwords_contains(enum tok_lang lang, const char *w, size_t len);

#endif
