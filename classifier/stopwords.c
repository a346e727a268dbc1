#include "classifier/stopwords.h"

#include <stdlib.h>
#include <string.h>

/*
 * Sorted in byte order (bsearch) and already folded. One-letter words are not
 * listed: the tokenizer drops every word shorter than two bytes anyway.
 */
static const char *const fr_words[] = {
	"afin", "ai", "aie", "aient", "aies", "ainsi", "ait", "alors", "as", "au",
	"auquel", "aura", "aurai", "auraient", "aurais", "aurait", "auras", "aurez",
	"auriez", "aurions", "aurons", "auront", "aussi", "aux", "auxquelles",
	"auxquels", "avaient", "avais", "avait", "avec", "avez", "aviez", "avions",
	"avons", "ayant", "ayante", "ayantes", "ayants", "ayez", "ayons", "ca", "car",
	"ce", "ceci", "cela", "celle", "celles", "celui", "ces", "cet", "cette",
	"ceux", "chez", "ci", "comme", "dans", "de", "des", "desquelles", "desquels",
	"donc", "dont", "du", "duquel", "elle", "en", "entre", "es", "est", "et",
	"etaient", "etais", "etait", "etant", "etante", "etantes", "etants", "ete",
	"etee", "etees", "etes", "etiez", "etions", "eu", "eue", "eues", "eumes",
	"eurent", "eus", "eusse", "eussent", "eusses", "eussiez", "eussions", "eut",
	"eutes", "eux", "fumes", "furent", "fus", "fusse", "fussent", "fusses",
	"fussiez", "fussions", "fut", "futes", "ici", "il", "ils", "je", "jusqu",
	"jusque", "la", "laquelle", "le", "lequel", "les", "lesquelles", "lesquels",
	"leur", "leurs", "lorsqu", "lorsque", "lui", "ma", "mais", "me", "meme", "mes",
	"moi", "mon", "ne", "ni", "nos", "notre", "nous", "on", "ont", "ou", "par",
	"pas", "pour", "presqu", "puis", "puisqu", "puisque", "qu", "quand", "que",
	"quel", "quelle", "quelles", "quels", "qui", "quoiqu", "sa", "sans", "se",
	"sera", "serai", "seraient", "serais", "serait", "seras", "serez", "seriez",
	"serions", "serons", "seront", "ses", "si", "soient", "sois", "soit", "sommes",
	"son", "sont", "sous", "soyez", "soyons", "suis", "sur", "ta", "te", "tes",
	"toi", "ton", "tous", "tout", "toute", "toutes", "tu", "un", "une", "vers",
	"vos", "votre", "vous",
};

static const char *const en_words[] = {
	"about", "above", "after", "again", "against", "all", "am", "an", "and", "any",
	"are", "aren", "as", "at", "be", "because", "been", "before", "being", "below",
	"between", "both", "but", "by", "can", "cannot", "could", "couldn", "did",
	"didn", "do", "does", "doesn", "doing", "don", "down", "during", "each", "few",
	"for", "from", "further", "had", "hadn", "has", "hasn", "have", "haven",
	"having", "he", "her", "here", "hers", "herself", "him", "himself", "his",
	"how", "if", "in", "into", "is", "isn", "it", "its", "itself", "let", "ll",
	"me", "more", "most", "mustn", "my", "myself", "no", "nor", "not", "of", "off",
	"on", "once", "only", "or", "other", "ought", "our", "ours", "ourselves",
	"out", "over", "own", "re", "same", "shan", "she", "should", "shouldn", "so",
	"some", "such", "than", "that", "the", "their", "theirs", "them", "themselves",
	"then", "there", "these", "they", "this", "those", "through", "to", "too",
	"under", "until", "up", "ve", "very", "was", "wasn", "we", "were", "weren",
	"what", "when", "where", "which", "while", "who", "whom", "why", "with", "won",
	"would", "wouldn", "you", "your", "yours", "yourself", "yourselves",
};

struct key {
	const char *w;
	size_t len;
};

static int key_cmp(const void *a, const void *b)
{
	const struct key *k = a;
	const unsigned char *s = *(const unsigned char *const *)b;
	for (size_t i = 0; i < k->len; i++) {
		if (!s[i])
			return 1;
		if ((unsigned char)k->w[i] != s[i])
			return (unsigned char)k->w[i] - s[i];
	}
	return s[k->len] ? -1 : 0;
}

int stopwords_contains(enum tok_lang lang, const char *w, size_t len)
{
	struct key k = { w, len };
	if (lang == TOK_LANG_EN)
		return bsearch(&k, en_words, sizeof en_words / sizeof en_words[0],
			       sizeof en_words[0], key_cmp) != NULL;
	return bsearch(&k, fr_words, sizeof fr_words / sizeof fr_words[0],
		       sizeof fr_words[0], key_cmp) != NULL;
}
