/*
 * charset: the bytes of a MIME part or header word in a declared charset ->
 * UTF-8, never failing on bad input (internal to classifier/, used by message.c).
 *
 * Real mail declares charsets badly: missing, misspelt ("utf8", "latin1"),
 * double-encoded by quoted-printable ("3Diso-8859-1"), meaningless
 * ("unknown-8bit", "default", "x-user-defined") or simply wrong (UTF-8 bytes
 * labelled iso-8859-1). Labels are normalised first; then text that is already
 * valid UTF-8 is kept as it is, known charsets go through iconv (a bad byte
 * becomes U+FFFD), and what is left is decoded as UTF-8 where the bytes are
 * valid and windows-1252 elsewhere, which decodes every byte.
 */
#ifndef TRIAGE_CHARSET_H
#define TRIAGE_CHARSET_H

#include <stddef.h>

#include "common/buf.h"

/*
 * Converts in[0..n), declared in charset label (NULL or "" when the part has
 * none), to UTF-8. Returns the UTF-8 bytes and their length in *outlen: either
 * in itself (when it is valid UTF-8 already: no copy), or out->data after out
 * was reset and filled; the result is not NUL-terminated when it is in. The
 * conversion may stop once about limit bytes were produced (the caller keeps
 * no more than that). Sets *guessed to 1 when the label was missing, unknown
 * or wrong for these bytes, or bytes were invalid in it (never resets it).
 * Returns NULL with errno ENOMEM or E2BIG when out cannot grow.
 */
const char *charset_to_utf8(const char *label, const char *in, size_t n, size_t limit,
			    struct buf *out, size_t *outlen, int *guessed);

/* True when p[0..n) holds only 7-bit bytes. */
int charset_is_ascii(const char *p, size_t n);

#endif
