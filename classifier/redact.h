/*
 * redact: find personal data in UTF-8 text, so that it is neither learnt by a
 * model nor kept in a training example (see docs/donnees-personnelles.md).
 *
 * Detected: e-mail addresses, phone numbers (French national and international
 * formats: "06 12 34 56 78", "06.12.34.56.78", "+33 6 12 34 56 78",
 * "+33 (0)1 23 45 67 89", "0612345678", and other "+CC ..." numbers of 8 to 15
 * digits), IBANs (two letters, two digits, then 11 to 30 alphanumerics, spaces
 * allowed every four), and URLs (http, https, www.).
 *
 * Not thread-safe (PCRE2 match data): one redactor per thread.
 */
#ifndef TRIAGE_REDACT_H
#define TRIAGE_REDACT_H

#include <stddef.h>

enum redact_kind { REDACT_EMAIL, REDACT_PHONE, REDACT_IBAN, REDACT_URL };

struct redactor;

/* As zones_prepare, for the personal-data patterns every redactor shares. */
int redact_prepare(char *err, size_t errsz);
struct redactor *redact_new(char *err, size_t errsz);
void redact_free(struct redactor *r);

/*
 * Finds the next piece of personal data in text[from..len). Returns 1 and sets
 * *kind, *start and *end (byte offsets, end exclusive), or 0 when there is none.
 * For a URL, *host_start and *host_end delimit its host (may be NULL).
 */
int redact_next(struct redactor *r, const char *text, size_t len, size_t from,
		enum redact_kind *kind, size_t *start, size_t *end,
		size_t *host_start, size_t *host_end);

/*
 * Returns a copy of text where each e-mail address, phone number and IBAN is
 * replaced by "[adresse]", "[téléphone]" and "[IBAN]" (URLs are kept, except
 * any e-mail address inside them). The caller frees the result; NULL on ENOMEM.
 */
char *redact_text(struct redactor *r, const char *text, size_t len, size_t *outlen);

#endif
