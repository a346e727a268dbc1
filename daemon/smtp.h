/*
 * smtp: sending a message through the association's SMTP server with libcurl
 * (the only file that uses libcurl). smtp:// with STARTTLS, or smtps://;
 * certificates and host names are verified (ca_file and/or the system store);
 * optional AUTH.
 */
#ifndef TRIAGE_SMTP_H
#define TRIAGE_SMTP_H

#include <stddef.h>

enum smtp_tls { SMTP_TLS_STARTTLS, SMTP_TLS_IMPLICIT, SMTP_TLS_NONE };

struct smtp_opts {
	const char *url;         /* smtp://host:port or smtps://host:port */
	enum smtp_tls tls;
	const char *ca_file;     /* extra trusted CA (PEM), or NULL */
	int system_ca;           /* also trust the system's CAs */
	const char *username;    /* NULL: no AUTH */
	const char *password;
	const char *from;        /* envelope sender (MAIL FROM) */
	unsigned timeout_s;      /* whole transaction (default 60) */
};

/*
 * Sends data (a complete RFC 5322 message, CRLF or LF line ends) to the n
 * recipients, with opts->from as the envelope sender. Returns 0 when the
 * server accepted it for every recipient; -1 with err set otherwise, and
 * *temporary = 1 when trying again later may succeed (network, timeout, 4xx)
 * or 0 when it will not (5xx, certificate refused, bad address). err never
 * holds the message, and names recipients only by their position.
 */
int smtp_send(const struct smtp_opts *opts, const char *const *rcpts, size_t n,
	      const char *data, size_t len, int *temporary, char *err, size_t errsz);

/* Process-wide libcurl set-up (loading it: see curl_dl.c) and clean-up (call
 * once at start and at exit). Returns 0, or -1 with err set. */
int smtp_global_init(char *err, size_t errsz);
void smtp_global_cleanup(void);

#endif
