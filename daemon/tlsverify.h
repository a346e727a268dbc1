/*
 * tlsverify: checks a TLS server's certificate chain and host name with
 * GnuTLS, for the connections whose TLS library does not (libetpan 1.9.4's
 * GnuTLS build accepts any certificate).
 */
#ifndef TRIAGE_TLSVERIFY_H
#define TRIAGE_TLSVERIFY_H

#include <stddef.h>

struct tls_der {
	const unsigned char *data;   /* one certificate, DER */
	size_t len;
};

/*
 * Verifies the chain the server sent (certs[0] is the server's own) for host
 * (a DNS name, or an IP address that must then be an IP subjectAltName), with
 * ca_file (PEM, may be NULL) and, when system_ca, the system's trust store as
 * anchors. Returns 0 when trusted; -1 with err set to the reasons, e.g.
 * "certificate not trusted: expired, issuer unknown, issued for another name
 * than 127.0.0.2", or to why ca_file could not be read.
 */
int tls_verify_chain(const struct tls_der *certs, size_t n, const char *host,
		     const char *ca_file, int system_ca, char *err, size_t errsz);

#endif
