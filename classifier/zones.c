#include "classifier/zones.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/pattern.h"
#include "common/util.h"

/*
 * Two passes over the lines.
 *
 * Pass 1 gives each line a class. Almost every line of a mail is plain prose,
 * so the class comes from cheap tests first: the first byte ('>' quotes, '-'
 * and '_' for markers), the last byte (quote headers end with ':'), and the
 * line's first word looked up in a small table of the words that can open a
 * marker ("cordialement", "envoyé", "de", "this"...). A regex runs only on the
 * few lines that pass, and only on a bounded slice of them.
 *
 * Pass 2 is a small state machine over the classes, with bounded look-ahead:
 * whether a closing formula is followed by a contact block or by more text,
 * whether a quote header is followed by '>' lines (inline reply: the text after
 * them is new again) or not (top posting: everything after it is quoted),
 * whether "De :" opens an Outlook header block.
 */

/* Longest slice a regex sees: markers are short, and bounding the subject
 * bounds the UTF-8 check and the matching time whatever the line length. */
#define SLICE_MAX 400
/* A quote header wrapped by the mail client: at most this many lines. */
#define QHDR_LINES 3
/* A contact block after a closing formula: at most this many non-empty lines,
 * spread over at most this many lines. */
#define SIG_BLOCK_LINES 10
#define SIG_BLOCK_SPAN 16
#define SIG_LINE_MAX 120
/* An Outlook header block starts within this many lines of a forward marker
 * when it is the forwarded message's own header. */
#define FWD_HDR_GAP 3

enum lcls {
	L_TEXT,
	L_BLANK,
	L_QUOTED,   /* '>' */
	L_QHDR,     /* a line of a quote header ("Le ... a écrit :") */
	L_ORIG,     /* "-----Original Message-----": a quote follows */
	L_FWD,      /* a forward marker */
	L_FIELD,    /* "De : ...", "Objet : ..." (an Outlook block if enough follow) */
	L_SIGDASH,  /* "-- " */
	L_DEVICE,   /* "Envoyé de mon iPhone" */
	L_FORMULA,  /* "Cordialement," */
	L_DISCL,    /* first line of a disclaimer */
	L_SEP,      /* "______________" */
};

/* Line flags. */
enum {
	F_FROM = 1,   /* the field is De/From */
	F_WROTE = 2,  /* ends with "wrote:", "writes:", "écrit :" */
};

/* First-word keywords: which tests a line starting with that word deserves. */
enum {
	K_FORMULA = 1,
	K_DEVICE = 2,
	K_DISCL = 4,
	K_FIELD = 8,
	K_FROM = 16,
	K_QSTART = 32,  /* "Le", "On": may open a quote header */
	K_INART = 64,   /* "In" (article <...> writes:) */
	K_FWDI = 128,   /* "Begin forwarded message:", "Début du message réexpédié :" */
	K_LONG = 256,   /* opens the long formal closings ("Je vous prie d'agréer...") */
	K_DISCL2 = 512, /* an ordinary word ("the", "ce"): a disclaimer only if the
			   next word could be "message", "e-mail", "information"... */
};

/* One line of the text (its end is the next line's start, or the text's). */
struct zline {
	size_t off, len;  /* the line without its '\n' */
	size_t link;      /* L_QHDR: index of the header's last line */
	unsigned char cls, flags, zone;
	uint16_t kw;
};

/* Keywords are at most 16 bytes, held as two 8-byte words (zero-padded) so
 * that a line's first word is read, lower-cased and compared without a
 * byte loop: this runs on every line. */
#define KW_SLOTS 256
#define KW_MAX 16
struct kwslot {
	uint64_t a, b;
	uint16_t bits;
	unsigned char len;
};

struct zoner {
	pcre2_match_data *md;  /* its own; the patterns are the process's (shared) */
	struct zline *lines;
	size_t nlines, cap;
	struct kwslot kw[KW_SLOTS];
};

/* White space, including the no-break spaces French typography puts before ':'. */
#define SP "[\\s\\x{a0}\\x{202f}]"
#define AP "['\\x{2019}]"
#define LEAD "^[\\s*_]{0,8}"

static const char pat_qhdr[] =
	"(?s)^" SP "*(?:le|on)\\b.{0,400}?\\d.{0,400}?"
	"(?:\\ba" SP "+écrit|\\bwrote|\\bwrites)" SP "*:" SP "*$";

static const char pat_fwdintro[] =
	"^" SP "*(?:début du message réexpédié|debut du message reexpedie|"
	"begin forwarded message|message transféré|forwarded message)" SP "*:" SP "*$";

/* Group 1: the words (see classify_dashes). */
static const char pat_dash[] =
	"^" SP "*-{2,}" SP "*(forwarded message|message transféré|message transfere|"
	"message transmis|message réexpédié|original message|message d" AP "origine|"
	"message original|mensaje original|ursprüngliche nachricht)" SP "*-{2,}" SP "*$";

static const char pat_field[] =
	"^[\\s*]{0,4}(?:de|from|envoyé|envoye|sent|date|à|a|to|cc|cci|bcc|objet|subject|"
	"sujet|pour|répondre à|repondre a|reply-to|importance|priorité)[\\s*\\x{a0}\\x{202f}]{0,3}:";

static const char pat_device[] =
	LEAD "(?:envoy[ée] (?:de|depuis|à partir de|a partir de|avec|via) "
	"(?:mon|ma|l" AP "|outlook|yahoo|gmail|mail|orange|sfr|free|samsung|un|une)"
	"|sent (?:from|with|via) (?:my|outlook|yahoo|mail|gmail|samsung|an?)\\b"
	"|get outlook for|(?:téléchargez|telechargez|obtenez|obtenir) outlook pour)"
	"[^\\n]{0,60}$";

#define FR_FORM                                                                          \
	"(?:bien |très |tres |trés )?cordialement|cdl?t|bàv|bav"                         \
	"|(?:(?:sincères|sinceres|meilleures|mes meilleures|respectueuses|cordiales|bien" \
	"|amicales) )?salutations(?: (?:cordiales|distinguées|distinguees|respectueuses"  \
	"|associatives|amicales))?"                                                       \
	"|bien (?:à|a) (?:vous|toi|tous|bientôt|bientot)"                                \
	"|(?:à|a) (?:très |tres )?(?:bientôt|bientot|plus|tout à l" AP "heure|demain"    \
	"|samedi|lundi|mardi|mercredi|jeudi|vendredi|dimanche)|a\\+"                     \
	"|(?:bonne|belle|excellente) (?:fin de )?(?:journée|journee|soirée|soiree"       \
	"|semaine|après-midi|apres-midi|continuation|année|annee|week-end|weekend"       \
	"|fête|fete)"                                                                     \
	"|bon (?:week-end|weekend|dimanche|après-midi|apres-midi|courage)"               \
	"|merci(?: (?:beaucoup|bien|encore|infiniment|mille fois|à vous|a vous|pour tout" \
	"|d" AP "avance|par avance|(?:de|pour) votre (?:aide|réponse|reponse|retour"      \
	"|attention|compréhension|comprehension)))*"                                      \
	"|en vous remerciant(?: (?:par avance|d" AP "avance|(?:de|pour) votre"           \
	" (?:attention|réponse|reponse|retour|aide|compréhension)))*"                    \
	"|dans l" AP "attente de (?:votre (?:réponse|reponse|retour)|vous lire)"          \
	"|avec (?:mes|nos|tous mes|tous nos|toutes mes) (?:remerciements|salutations"    \
	"|amitiés|amities)"                                                               \
	"|(?:bien )?amicalement|amitiés|amities|(?:grosses )?bises|bisous"               \
	"|respectueusement|sincèrement|sincerement"                                      \
	"|(?:je vous prie|nous vous prions|veuillez|recevez)[^\\n]{0,160}"               \
	"(?:salutations|sentiments|considération|consideration|respects|hommages)"       \
	"[^\\n]{0,30}"
#define EN_FORM                                                                          \
	"(?:best|kind|warm|warmest|kindest)(?: regards| wishes)?|regards"                \
	"|with (?:kind |best |warm )?regards|all the best|best wishes|cheers"            \
	"|many thanks|thanks(?: (?:again|a lot|so much|in advance|for your (?:help|time)))*" \
	"|thank you(?: (?:very much|so much|again|in advance"                            \
	"|for your (?:help|time|attention)))*"                                           \
	"|(?:yours )?sincerely(?: yours)?|yours (?:truly|faithfully)|respectfully"       \
	"|take care|looking forward to (?:hearing from you|your reply)"
#define FORM "(?:" FR_FORM "|" EN_FORM ")"
/* One or more formulas ("Merci d'avance et bonne journée !"), then perhaps a
 * name on the same line ("Cordialement, Jean Dupont"). */
static const char pat_formula[] =
	LEAD FORM "(?:[^\\p{L}\\p{N}]{0,6}(?:et |and |& )?" FORM ")*"
	"[^\\p{L}\\p{N}]{0,10}"
	"(?:\\p{Lu}[\\p{L}'\\x{2019}.-]*(?:" SP "+\\p{Lu}[\\p{L}'\\x{2019}.-]*){0,3}"
	"[^\\p{L}\\p{N}]{0,6})?$";

static const char pat_discl[] =
	LEAD "(?:ce (?:message|courriel|mail|e-?mail|courrier électronique)[^\\n]{0,200}?"
	"(?:confidenti|strictement personnel|usage exclusif|attention exclusive"
	"|exclusivement destiné|exclusivement réservé)"
	"|les informations (?:contenues|figurant) dans ce (?:message|courriel|mail|e-?mail)"
	"|(?:this|the) (?:e-?mail|message|communication|transmission)[^\\n]{0,200}?"
	"(?:confidential|privileged|intended (?:solely|only|exclusively))"
	"|the information (?:contained )?in this (?:e-?mail|message|communication)"
	"|(?:avis de )?confidentialit[ée]" SP "*:|confidentiality notice"
	"|confidential(?:ity)?" SP "*:|disclaimer" SP "*:|avertissement" SP "*:"
	"|important" SP "*:" SP "*ce (?:message|courriel)"
	"|(?:merci de )?pens(?:ez|ons) à l" AP "environnement|avant d" AP "imprimer"
	"|n" AP "imprimez (?:ce|cet|que)"
	"|afin de (?:contribuer au respect de|préserver) l" AP "environnement"
	"|(?:please )?(?:consider|think of|think about) the environment|save a tree"
	"|please don" AP "t print"
	"|ce (?:courriel|message|e-mail|mail) a été (?:vérifié|analysé|scanné)"
	"|this (?:e-?mail|message) has been (?:checked|scanned)"
	"|garanti sans virus|virus-free)";

static const struct {
	const char *w;
	uint16_t bits;
} keywords[] = {
	/* closing formulas */
	{ "bien", K_FORMULA }, { "très", K_FORMULA }, { "tres", K_FORMULA },
	{ "trés", K_FORMULA }, { "cordialement", K_FORMULA }, { "cdlt", K_FORMULA },
	{ "cdt", K_FORMULA }, { "bàv", K_FORMULA }, { "bav", K_FORMULA },
	{ "salutations", K_FORMULA }, { "sincères", K_FORMULA }, { "sinceres", K_FORMULA },
	{ "meilleures", K_FORMULA }, { "mes", K_FORMULA }, { "respectueuses", K_FORMULA },
	{ "cordiales", K_FORMULA }, { "amicales", K_FORMULA }, { "à", K_FORMULA | K_FIELD },
	{ "\xc3\x80", K_FORMULA | K_FIELD }, { "a", K_FORMULA | K_FIELD },
	{ "bonne", K_FORMULA }, { "belle", K_FORMULA }, { "excellente", K_FORMULA },
	{ "bon", K_FORMULA }, { "merci", K_FORMULA | K_LONG | K_DISCL },
	{ "en", K_FORMULA | K_LONG }, { "dans", K_FORMULA | K_LONG },
	{ "avec", K_FORMULA | K_LONG }, { "amicalement", K_FORMULA },
	{ "amitiés", K_FORMULA }, { "amities", K_FORMULA }, { "grosses", K_FORMULA },
	{ "bises", K_FORMULA }, { "bisous", K_FORMULA }, { "respectueusement", K_FORMULA },
	{ "sincèrement", K_FORMULA }, { "sincerement", K_FORMULA },
	{ "je", K_FORMULA | K_LONG }, { "nous", K_FORMULA | K_LONG },
	{ "veuillez", K_FORMULA | K_LONG }, { "recevez", K_FORMULA | K_LONG },
	{ "best", K_FORMULA }, { "kind", K_FORMULA }, { "warm", K_FORMULA },
	{ "warmest", K_FORMULA }, { "kindest", K_FORMULA }, { "regards", K_FORMULA },
	{ "with", K_FORMULA }, { "all", K_FORMULA }, { "cheers", K_FORMULA },
	{ "many", K_FORMULA }, { "thanks", K_FORMULA }, { "thank", K_FORMULA },
	{ "yours", K_FORMULA }, { "sincerely", K_FORMULA }, { "respectfully", K_FORMULA },
	{ "take", K_FORMULA }, { "looking", K_FORMULA },
	/* device signatures */
	{ "envoyé", K_DEVICE | K_FIELD }, { "envoye", K_DEVICE | K_FIELD },
	{ "sent", K_DEVICE | K_FIELD }, { "get", K_DEVICE }, { "téléchargez", K_DEVICE },
	{ "telechargez", K_DEVICE }, { "obtenez", K_DEVICE }, { "obtenir", K_DEVICE },
	/* disclaimers */
	{ "ce", K_DISCL | K_DISCL2 }, { "cet", K_DISCL | K_DISCL2 },
	{ "les", K_DISCL | K_DISCL2 }, { "this", K_DISCL | K_DISCL2 },
	{ "the", K_DISCL | K_DISCL2 },
	{ "avis", K_DISCL }, { "confidentialité", K_DISCL }, { "confidentialite", K_DISCL },
	{ "confidentiality", K_DISCL }, { "confidential", K_DISCL },
	{ "disclaimer", K_DISCL }, { "avertissement", K_DISCL }, { "important", K_DISCL },
	{ "pensez", K_DISCL }, { "pensons", K_DISCL }, { "avant", K_DISCL },
	{ "n", K_DISCL }, { "afin", K_DISCL }, { "please", K_DISCL }, { "consider", K_DISCL },
	{ "think", K_DISCL }, { "save", K_DISCL }, { "garanti", K_DISCL },
	{ "virus", K_DISCL },
	/* header fields */
	{ "de", K_FIELD | K_FROM }, { "from", K_FIELD | K_FROM }, { "date", K_FIELD },
	{ "to", K_FIELD }, { "cc", K_FIELD }, { "cci", K_FIELD }, { "bcc", K_FIELD },
	{ "objet", K_FIELD }, { "subject", K_FIELD }, { "répondre", K_FIELD },
	{ "repondre", K_FIELD }, { "reply", K_FIELD }, { "priorité", K_FIELD },
	{ "sujet", K_FIELD }, { "pour", K_FIELD }, { "importance", K_FIELD },
	/* quote headers, forward introductions */
	{ "le", K_QSTART }, { "on", K_QSTART }, { "in", K_INART },
	{ "début", K_FWDI }, { "debut", K_FWDI }, { "begin", K_FWDI }, { "message", K_FWDI },
	{ "forwarded", K_FWDI },
};

static unsigned kw_hash(uint64_t a, uint64_t b, size_t n)
{
	uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ULL) ^ n) * 0xff51afd7ed558ccdULL;
	return (unsigned)(h >> 56) % KW_SLOTS;
}

static void kw_add(struct zoner *z, const char *w, uint16_t bits)
{
	unsigned char buf[2 * KW_MAX] = { 0 };
	size_t n = strlen(w);
	memcpy(buf, w, n);
	uint64_t a, b;
	memcpy(&a, buf, 8);
	memcpy(&b, buf + 8, 8);
	unsigned h = kw_hash(a, b, n);
	while (z->kw[h].len && !(z->kw[h].len == n && z->kw[h].a == a && z->kw[h].b == b))
		h = (h + 1) % KW_SLOTS;
	z->kw[h].a = a;
	z->kw[h].b = b;
	z->kw[h].len = (unsigned char)n;
	z->kw[h].bits |= bits;
}

static uint16_t kw_find(const struct zoner *z, uint64_t a, uint64_t b, size_t n)
{
	unsigned h = kw_hash(a, b, n);
	while (z->kw[h].len) {
		if (z->kw[h].len == n && z->kw[h].a == a && z->kw[h].b == b)
			return z->kw[h].bits;
		h = (h + 1) % KW_SLOTS;
	}
	return 0;
}

#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL

/* 0x80 in each byte of x (all bytes < 0x80) that lies in [lo, hi]. */
static inline uint64_t in_range(uint64_t x, unsigned lo, unsigned hi)
{
	return (x + ONES * (0x80 - lo)) & ~(x + ONES * (0x7f - hi)) & HIGH;
}

/* Lower-cases the ASCII letters of x and returns in *letters 0x80 in each byte
 * that is a letter (ASCII or any byte >= 0x80, i.e. part of a UTF-8 letter
 * or not: the keyword table decides). */
static inline uint64_t lower_word(uint64_t x, uint64_t *letters)
{
	uint64_t hi = x & HIGH;
	uint64_t alpha = in_range((x & ~HIGH) | ONES * 0x20, 'a', 'z') & ~hi;
	*letters = alpha | hi;
	return x | (alpha >> 2);
}

/* The keyword bits of the first word of s[p..te), and in *after where it ends. */
static uint16_t first_word(const struct zoner *z, const unsigned char *s, size_t p, size_t te,
			   size_t *after)
{
	unsigned char buf[2 * KW_MAX + 1] = { 0 };
	size_t avail = te - p < sizeof buf ? te - p : sizeof buf;
	memcpy(buf, s + p, avail);
	uint64_t x0, x1, m0, m1;
	memcpy(&x0, buf, 8);
	memcpy(&x1, buf + 8, 8);
	x0 = lower_word(x0, &m0);
	x1 = lower_word(x1, &m1);
	size_t n = ~m0 & HIGH ? (size_t)__builtin_ctzll(~m0 & HIGH) / 8 :
				8 + (~m1 & HIGH ? (size_t)__builtin_ctzll(~m1 & HIGH) / 8 : 8);
	*after = p + n;
	/* zero-padded bytes end the word; a letter at buf[16] makes it too long */
	if (!n || (n == KW_MAX && (buf[KW_MAX] >= 0x80 || ((buf[KW_MAX] | 0x20) >= 'a' &&
							   (buf[KW_MAX] | 0x20) <= 'z'))))
		return 0;
	if (n < 8) {
		x0 &= (1ULL << (8 * n)) - 1;
		x1 = 0;
	} else if (n < 16) {
		x1 &= (1ULL << (8 * (n - 8))) - 1;
	}
	return kw_find(z, x0, x1, n);
}

/*
 * The patterns, compiled (and JIT-compiled: most of a zoner's making) once
 * for the process and shared by every zoner, as PCRE2 allows: a compiled
 * pattern is only read by matching, each zoner having its own match data.
 */
static struct {
	pthread_once_t once;
	pcre2_code *qhdr, *fwdintro, *dash, *field, *device, *formula, *discl;
	int ok;         /* all compiled; else err says which failed */
	char err[256];
} shared = { .once = PTHREAD_ONCE_INIT };

static void shared_compile(void)
{
	const struct pattern_def defs[] = {
		{ "quote header", pat_qhdr, &shared.qhdr },
		{ "forward", pat_fwdintro, &shared.fwdintro },
		{ "dash marker", pat_dash, &shared.dash },
		{ "header field", pat_field, &shared.field },
		{ "device", pat_device, &shared.device },
		{ "closing formula", pat_formula, &shared.formula },
		{ "disclaimer", pat_discl, &shared.discl },
	};
	/* every pattern starts with '^' */
	shared.ok = pattern_compile_all("zones", defs, sizeof defs / sizeof *defs,
					PCRE2_UTF | PCRE2_CASELESS, shared.err,
					sizeof shared.err) == 0;
}

int zones_prepare(char *err, size_t errsz)
{
	pthread_once(&shared.once, shared_compile);
	if (!shared.ok)
		return errf(err, errsz, "%s", shared.err);
	return 0;
}

struct zoner *zoner_new(char *err, size_t errsz)
{
	if (zones_prepare(err, errsz) < 0)
		return NULL;
	struct zoner *z = calloc(1, sizeof *z);
	if (!z) {
		errf(err, errsz, "zones: out of memory");
		return NULL;
	}
	z->md = pcre2_match_data_create(4, NULL);
	if (!z->md) {
		errf(err, errsz, "zones: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(keywords); i++) {
		if (strlen(keywords[i].w) > KW_MAX) {
			errf(err, errsz, "zones: keyword \"%s\" longer than %d bytes",
			     keywords[i].w, KW_MAX);
			goto fail;
		}
		kw_add(z, keywords[i].w, keywords[i].bits);
	}
	return z;
fail:
	zoner_free(z);
	return NULL;
}

void zoner_free(struct zoner *z)
{
	if (!z)
		return;
	pcre2_match_data_free(z->md);
	free(z->lines);
	free(z);
}

void zones_release(struct zones *zs)
{
	free(zs->spans);
	zs->spans = NULL;
	zs->n = zs->cap = 0;
}

char zone_prefix(enum zone zone)
{
	static const char p[ZONE_COUNT] = { 'b', 'q', 'f', 'g', 'x' };
	return (unsigned)zone < ZONE_COUNT ? p[zone] : 'b';
}

const char *zone_name(enum zone zone)
{
	static const char *const n[ZONE_COUNT] = { "body", "quote", "forward", "signature",
						   "disclaimer" };
	return (unsigned)zone < ZONE_COUNT ? n[zone] : "body";
}

/* ---- pass 1: classes ------------------------------------------------------ */

/* Length of the white space (ASCII, U+00A0, U+202F) at s[0..n). */
static inline size_t lead_space(const unsigned char *s, size_t n)
{
	if (n && s[0] > ' ' && s[0] != 0xc2 && s[0] != 0xe2)
		return 0;
	size_t i = 0;
	for (;;) {
		if (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\f' ||
			      s[i] == '\v'))
			i++;
		else if (i + 1 < n && s[i] == 0xc2 && s[i + 1] == 0xa0)
			i += 2;
		else if (i + 2 < n && s[i] == 0xe2 && s[i + 1] == 0x80 && s[i + 2] == 0xaf)
			i += 3;
		else
			return i;
	}
}

/* Length of s[0..n) without its trailing white space. */
static inline size_t trim_end(const unsigned char *s, size_t n)
{
	if (n && s[n - 1] > ' ' && s[n - 1] != 0xa0 && s[n - 1] != 0xaf)
		return n;
	for (;;) {
		if (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
			  s[n - 1] == '\f' || s[n - 1] == '\v'))
			n--;
		else if (n >= 2 && s[n - 2] == 0xc2 && s[n - 1] == 0xa0)
			n -= 2;
		else if (n >= 3 && s[n - 3] == 0xe2 && s[n - 2] == 0x80 && s[n - 1] == 0xaf)
			n -= 3;
		else
			return n;
	}
}

/* Valid UTF-8? Mail lines are mostly ASCII: eight bytes at a time first. */
static int valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, s + i, 8);
		if (v & 0x8080808080808080ULL)
			break;
	}
	for (; i < n; i++)
		if (s[i] & 0x80)
			return utf8_valid((const char *)s + i, n - i);
	return 1;
}

/* Runs re anchored on text[off..off+n), cut to SLICE_MAX bytes at a character
 * boundary. Invalid UTF-8 is simply no match. The slice is checked here,
 * cheaply, rather than by PCRE2: its own check costs more than the match. */
static int slice_match(struct zoner *z, pcre2_code *re, const unsigned char *text, size_t off,
		       size_t n)
{
	if (n > SLICE_MAX) {
		n = SLICE_MAX;
		while (n && (text[off + n] & 0xc0) == 0x80)
			n--;
	}
	if (!valid_utf8(text + off, n))
		return 0;
	return pcre2_match(re, text + off, n, 0, PCRE2_NO_UTF_CHECK, z->md, NULL) > 0;
}

static int contains(const unsigned char *s, size_t n, const char *lit)
{
	return memmem(s, n, lit, strlen(lit)) != NULL;
}

/* "-----Original Message-----" (Outlook) and "-------- Message d'origine
 * --------" (Samsung, old Thunderbird) open the quote of a reply; "----------
 * Forwarded message ---------" and "-------- Message transféré --------" a
 * forward. (An Outlook or Thunderbird forward under an "original message"
 * marker is told by its "TR:"/"Fwd:" subject, which the tokenizer sees.) */
static enum lcls classify_dashes(struct zoner *z, const unsigned char *text, size_t off,
				 size_t n)
{
	if (!slice_match(z, shared.dash, text, off, n))
		return L_TEXT;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(z->md);
	const unsigned char *w = text + off + ov[2];
	size_t wl = ov[3] - ov[2];
	return contains(w, wl, "rigin") || (w[0] | 0x20) == 'u' ? L_ORIG : L_FWD;
}

static void classify(struct zoner *z, const unsigned char *text, size_t i)
{
	struct zline *l = &z->lines[i];
	const unsigned char *s = text + l->off;
	size_t fs = lead_space(s, l->len);
	size_t te = trim_end(s, l->len);
	l->cls = L_TEXT;
	l->flags = 0;
	l->kw = 0;
	if (fs >= te) {
		l->cls = L_BLANK;
		return;
	}
	unsigned char c = s[fs];
	if (c == '>') {
		l->cls = L_QUOTED;
		return;
	}
	if (c == '-' || c == '_') {
		/* "-- " is the signature separator only at the start of the line. */
		if (fs == 0 && te == 2 && s[0] == '-' && s[1] == '-') {
			l->cls = L_SIGDASH;
			return;
		}
		size_t k = fs;
		while (k < te && (s[k] == '-' || s[k] == '_' || s[k] == '='))
			k++;
		if (k == te && te - fs >= 8) {
			l->cls = L_SEP;
			return;
		}
		if (c == '-' && te - fs >= 10) {
			l->cls = (unsigned char)classify_dashes(z, text, l->off, te);
			if (l->cls != L_TEXT)
				return;
		}
	}

	/* The first word, after a little punctuation ("*De :*", "« Merci"). */
	size_t p = fs, skipped = 0;
	while (p < te && skipped < 8 && s[p] < 0x80 && !((s[p] | 0x20) >= 'a' && (s[p] | 0x20) <= 'z') &&
	       !(s[p] >= '0' && s[p] <= '9')) {
		p++;
		skipped++;
	}
	size_t after = p;
	if (p < te)
		l->kw = first_word(z, s, p, te, &after);

	if (s[te - 1] == ':') {
		size_t tail = te > 24 ? te - 24 : 0;
		if (contains(s + tail, te - tail, "wrote") ||
		    contains(s + tail, te - tail, "writes") ||
		    contains(s + tail, te - tail, "crit")) {
			l->flags |= F_WROTE;
			/* The header's first line is this one or up to two before. */
			for (size_t back = 0; back < QHDR_LINES && back <= i; back++) {
				struct zline *f = &z->lines[i - back];
				if (back && f->cls != L_TEXT && f->cls != L_FIELD &&
				    f->cls != L_FORMULA && f->cls != L_DISCL)
					break;
				if (!(f->kw & K_QSTART))
					continue;
				size_t n = l->off + te - f->off;
				if (n <= SLICE_MAX &&
				    slice_match(z, shared.qhdr, text, f->off, n)) {
					for (size_t j = i - back; j <= i; j++) {
						z->lines[j].cls = L_QHDR;
						z->lines[j].link = i;
					}
					return;
				}
			}
		}
		if (l->kw & K_FWDI && slice_match(z, shared.fwdintro, text, l->off, te)) {
			l->cls = L_FWD;
			return;
		}
	}
	if (!l->kw)
		return;
	if (l->kw & K_FIELD && memchr(s, ':', te < 32 ? te : 32) &&
	    slice_match(z, shared.field, text, l->off, te)) {
		l->cls = L_FIELD;
		if (l->kw & K_FROM)
			l->flags |= F_FROM;
		return;
	}
	if (l->kw & K_DEVICE && te <= 120 && slice_match(z, shared.device, text, l->off, te)) {
		l->cls = L_DEVICE;
		return;
	}
	if (l->kw & K_FORMULA && (te <= 60 || (l->kw & K_LONG && te <= 250)) &&
	    slice_match(z, shared.formula, text, l->off, te)) {
		l->cls = L_FORMULA;
		return;
	}
	if (l->kw & K_DISCL2) {
		while (after < te && s[after] == ' ')
			after++;
		if (after == te || !memchr("cemitCEMIT", s[after], 10))
			return;
	}
	if (l->kw & K_DISCL && slice_match(z, shared.discl, text, l->off, te))
		l->cls = L_DISCL;
}

/* ---- pass 2: zones -------------------------------------------------------- */

static size_t next_nonblank(const struct zoner *z, size_t i)
{
	while (i < z->nlines && z->lines[i].cls == L_BLANK)
		i++;
	return i;
}

/* An Outlook-style header block starting at line i: at least three fields,
 * one of them De/From, a wrapped continuation line allowed after each. Returns
 * the index after its last field, or 0. */
static size_t field_block(const struct zoner *z, size_t i)
{
	size_t j = i, fields = 0, last = 0;
	int from = 0, cont = 0;
	while (j < z->nlines) {
		const struct zline *l = &z->lines[j];
		if (l->cls == L_FIELD) {
			fields++;
			from |= l->flags & F_FROM;
			cont = 0;
			last = j + 1;
		} else if (l->cls == L_TEXT && !cont) {
			cont = 1;
		} else {
			break;
		}
		j++;
	}
	return fields >= 3 && from ? last : 0;
}

static size_t count_words(const unsigned char *s, size_t n)
{
	size_t w = 0;
	int in = 0;
	for (size_t i = 0; i < n; i++) {
		int sp = s[i] == ' ' || s[i] == '\t';
		if (!sp && !in)
			w++;
		in = !sp;
	}
	return w;
}

static int has_digit(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= '0' && s[i] <= '9')
			return 1;
	return 0;
}

/* Does this line read like a sentence rather than a name, a role, an address
 * or a phone number? */
static int prose_line(const unsigned char *s, size_t n)
{
	size_t fs = lead_space(s, n);
	s += fs;
	n = trim_end(s, n - fs);
	if (!n)
		return 0;
	if (n > SIG_LINE_MAX)
		return 1;
	if (s[n - 1] == '?')
		return 1;
	if (n >= 2 && (s[0] | 0x20) == 'p' && (s[1] == 's' || s[1] == 'S' || s[1] == '.' ||
					       s[1] == '-') &&
	    (n == 2 || s[2] == ' ' || s[2] == ':' || s[2] == '.' || s[2] == 's' || s[2] == 'S'))
		return 1;
	size_t w = count_words(s, n);
	if (w >= 12)
		return 1;
	unsigned char last = s[n - 1];
	if (w >= 7 && (last == '.' || last == '!' || last == ':' || last == ';') &&
	    !has_digit(s, n) && !memchr(s, '@', n))
		return 1;
	return 0;
}

/* A closing formula at line i is a signature when what follows, up to the next
 * marker or the end, is a short contact block rather than more text. */
static int sig_block(const struct zoner *z, const unsigned char *text, size_t i)
{
	size_t lines = 0;
	for (size_t j = i + 1; j < z->nlines; j++) {
		const struct zline *l = &z->lines[j];
		switch (l->cls) {
		case L_BLANK:
			if (j - i > SIG_BLOCK_SPAN)
				return 0;
			continue;
		case L_FIELD:
			if (field_block(z, j))
				return 1;  /* an Outlook header block: a marker */
			break;
		case L_TEXT:
		case L_FORMULA:
			break;
		default:
			return 1;
		}
		if (++lines > SIG_BLOCK_LINES || j - i > SIG_BLOCK_SPAN)
			return 0;
		if (prose_line(text + l->off, l->len))
			return 0;
	}
	return 1;
}

static void set_zone(struct zoner *z, size_t a, size_t b, enum zone zone)
{
	for (size_t j = a; j < b; j++)
		z->lines[j].zone = (unsigned char)zone;
}

/* The separator line ("_____") Outlook puts above its header block. */
static void take_separator(struct zoner *z, size_t i, enum zone zone)
{
	size_t j = i;
	while (j > 0 && z->lines[j - 1].cls == L_BLANK)
		j--;
	if (j > 0 && z->lines[j - 1].cls == L_SEP)
		set_zone(z, j - 1, i, zone);
}

static void assign(struct zoner *z, const unsigned char *text)
{
	enum zone base = ZONE_BODY;  /* QUOTE once a top-posted quote starts: for good */
	enum zone sub = ZONE_BODY;   /* SIGNATURE or DISCLAIMER until the next marker */
	size_t fwd_line = (size_t)-1;  /* the last forward marker */
	size_t i = 0;
	while (i < z->nlines) {
		struct zline *l = &z->lines[i];
		if (base == ZONE_QUOTE) {
			l->zone = ZONE_QUOTE;
			i++;
			continue;
		}
		switch (l->cls) {
		case L_QUOTED:
			l->zone = ZONE_QUOTE;
			sub = ZONE_BODY;
			i++;
			continue;
		case L_QHDR: {
			size_t e = l->link + 1;
			size_t nx = next_nonblank(z, e);
			set_zone(z, i, e, ZONE_QUOTE);
			sub = ZONE_BODY;
			if (nx == z->nlines || z->lines[nx].cls != L_QUOTED)
				base = ZONE_QUOTE;
			i = e;
			continue;
		}
		case L_ORIG:
			/* this line and all after it: the loop's first test */
			base = ZONE_QUOTE;
			take_separator(z, i, ZONE_QUOTE);
			continue;
		case L_FWD:
			base = ZONE_FORWARD;
			sub = ZONE_BODY;
			fwd_line = i;
			l->zone = ZONE_FORWARD;
			i++;
			continue;
		case L_FIELD: {
			size_t e = field_block(z, i);
			if (!e)
				break;
			if (base == ZONE_FORWARD && fwd_line != (size_t)-1 && i - fwd_line <= FWD_HDR_GAP) {
				/* the forwarded message's own header */
				set_zone(z, i, e, ZONE_FORWARD);
				sub = ZONE_BODY;
				i = e;
				continue;
			}
			base = ZONE_QUOTE;
			take_separator(z, i, ZONE_QUOTE);
			continue;
		}
		case L_SIGDASH:
			sub = ZONE_SIGNATURE;
			break;
		case L_DEVICE:
			l->zone = ZONE_SIGNATURE;
			i++;
			continue;
		case L_FORMULA:
			if (sub == ZONE_BODY && sig_block(z, text, i))
				sub = ZONE_SIGNATURE;
			break;
		case L_DISCL:
			sub = ZONE_DISCLAIMER;
			break;
		default:
			break;
		}
		if (l->flags & F_WROTE) {
			/* "X writes:" / "In article <...>, X writes:" over '>' lines */
			size_t nx = next_nonblank(z, i + 1);
			if (nx < z->nlines && z->lines[nx].cls == L_QUOTED) {
				l->zone = ZONE_QUOTE;
				if (i > 0 && z->lines[i - 1].cls == L_TEXT &&
				    z->lines[i - 1].kw & K_INART)
					z->lines[i - 1].zone = ZONE_QUOTE;
				sub = ZONE_BODY;
				i++;
				continue;
			}
		}
		l->zone = (unsigned char)(sub != ZONE_BODY ? sub : base);
		i++;
	}
}

/* A blank line belongs to the block above it (leading blank lines to the
 * first block), so that a quote with empty lines is one span, not many. */
static void smooth_blanks(struct zoner *z)
{
	size_t first = next_nonblank(z, 0);
	if (first == z->nlines)
		return;
	set_zone(z, 0, first, (enum zone)z->lines[first].zone);
	for (size_t i = first + 1; i < z->nlines; i++)
		if (z->lines[i].cls == L_BLANK)
			z->lines[i].zone = z->lines[i - 1].zone;
}

static int split_lines(struct zoner *z, const char *text, size_t len)
{
	z->nlines = 0;
	size_t off = 0;
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;
		if (z->nlines == z->cap) {
			size_t cap = z->cap ? z->cap * 2 : 256;
			struct zline *p = realloc(z->lines, cap * sizeof *p);
			if (!p) {
				errno = ENOMEM;
				return -1;
			}
			z->lines = p;
			z->cap = cap;
		}
		struct zline *l = &z->lines[z->nlines++];
		l->off = off;
		l->len = (nl ? end - 1 : end) - off;
		l->zone = ZONE_BODY;
		off = end;
	}
	return 0;
}

/* The line array grows with the longest text seen; past this many lines it
 * is freed after use, so that one huge message does not pin its memory. */
#define LINES_KEEP 65536

int zones_split(struct zoner *z, const char *text, size_t len, struct zones *out)
{
	out->n = 0;
	int rc = 0;
	if (split_lines(z, text, len) < 0) {
		rc = -1;
		goto done;
	}
	const unsigned char *s = (const unsigned char *)text;
	for (size_t i = 0; i < z->nlines; i++)
		classify(z, s, i);
	assign(z, s);
	smooth_blanks(z);
	for (size_t i = 0; i < z->nlines; i++) {
		const struct zline *l = &z->lines[i];
		size_t end = i + 1 < z->nlines ? z->lines[i + 1].off : len;
		if (out->n && out->spans[out->n - 1].zone == (enum zone)l->zone) {
			out->spans[out->n - 1].len = end - out->spans[out->n - 1].off;
			continue;
		}
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 16;
			struct zone_span *p = realloc(out->spans, cap * sizeof *p);
			if (!p) {
				errno = ENOMEM;
				rc = -1;
				goto done;
			}
			out->spans = p;
			out->cap = cap;
		}
		out->spans[out->n++] = (struct zone_span){ (enum zone)l->zone, l->off, end - l->off };
	}
done:
	if (z->cap > LINES_KEEP) {
		free(z->lines);
		z->lines = NULL;
		z->cap = 0;
	}
	z->nlines = 0;
	return rc;
}
