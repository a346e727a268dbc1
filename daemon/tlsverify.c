#include "daemon/tlsverify.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/buf.h"
#include "common/util.h"

/* A server sends its certificate and a few intermediates; more is abuse. */
#define CHAIN_MAX 16

static const struct {
	unsigned bit;
	const char *text;
} reasons[] = {
	{ GNUTLS_CERT_EXPIRED, "expired" },
	{ GNUTLS_CERT_NOT_ACTIVATED, "not yet valid" },
	{ GNUTLS_CERT_SIGNER_NOT_FOUND, "issuer unknown (self-signed or CA not trusted)" },
	{ GNUTLS_CERT_SIGNER_NOT_CA, "issuer is not a CA" },
	{ GNUTLS_CERT_REVOKED, "revoked" },
	{ GNUTLS_CERT_INSECURE_ALGORITHM, "insecure algorithm" },
	{ GNUTLS_CERT_SIGNATURE_FAILURE, "bad signature" },
	{ GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "issuer constraints violated" },
	{ GNUTLS_CERT_PURPOSE_MISMATCH, "not a TLS server certificate" },
	{ GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, "unknown critical extension" },
};

/* Words for the status bits; GnuTLS's own text for anything else. */
static void describe(unsigned status, const char *host, char *err, size_t errsz)
{
	struct buf b;
	buf_init(&b, 1024);
	buf_appends(&b, "certificate not trusted: ");
	unsigned rest = status & ~(unsigned)GNUTLS_CERT_INVALID;
	const char *sep = "";
	for (size_t i = 0; i < ARRAY_SIZE(reasons); i++) {
		if (status & reasons[i].bit) {
			buf_printf(&b, "%s%s", sep, reasons[i].text);
			sep = ", ";
			rest &= ~reasons[i].bit;
		}
	}
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
		buf_printf(&b, "%sissued for another name than %s", sep, host);
		sep = ", ";
		rest &= ~(unsigned)GNUTLS_CERT_UNEXPECTED_OWNER;
	}
	gnutls_datum_t out = { NULL, 0 };
	if ((rest || !*sep) &&
	    gnutls_certificate_verification_status_print(rest ? rest : status, GNUTLS_CRT_X509,
							  &out, 0) == 0) {
		buf_printf(&b, "%s%s", sep, (const char *)out.data);
		gnutls_free(out.data);
	}
	errf(err, errsz, "%s", b.data ? b.data : "certificate not trusted");
	buf_release(&b);
}

int tls_verify_chain(const struct tls_der *certs, size_t n, const char *host,
		     const char *ca_file, int system_ca, char *err, size_t errsz)
{
	if (n == 0)
		return errf(err, errsz, "the server sent no certificate");
	if (n > CHAIN_MAX)
		return errf(err, errsz, "the server sent %zu certificates (at most %d accepted)",
			    n, CHAIN_MAX);
	if (!ca_file && !system_ca)
		return errf(err, errsz, "no trusted CA: set a CA file or trust the system's CAs");

	gnutls_x509_crt_t chain[CHAIN_MAX];
	size_t nchain = 0;
	gnutls_x509_trust_list_t tl = NULL;
	int ret = -1, r;

	for (; nchain < n; nchain++) {
		gnutls_datum_t d = { (unsigned char *)certs[nchain].data,
				     (unsigned)certs[nchain].len };
		if (gnutls_x509_crt_init(&chain[nchain]) < 0) {
			errf(err, errsz, "%s", strerror(ENOMEM));
			goto out;
		}
		r = gnutls_x509_crt_import(chain[nchain], &d, GNUTLS_X509_FMT_DER);
		if (r < 0) {
			nchain++;
			errf(err, errsz, "the server's certificate %zu cannot be read: %s",
			     nchain, gnutls_strerror(r));
			goto out;
		}
	}
	if (gnutls_x509_trust_list_init(&tl, 0) < 0) {
		errf(err, errsz, "%s", strerror(ENOMEM));
		goto out;
	}
	if (ca_file) {
		if (access(ca_file, R_OK) < 0) {
			errf(err, errsz, "CA file %s: %s", ca_file, strerror(errno));
			goto out;
		}
		r = gnutls_x509_trust_list_add_trust_file(tl, ca_file, NULL, GNUTLS_X509_FMT_PEM,
							  0, 0);
		if (r <= 0) {
			errf(err, errsz, "CA file %s: %s", ca_file,
			     r < 0 ? gnutls_strerror(r) : "no PEM certificate in it");
			goto out;
		}
	}
	if (system_ca) {
		r = gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
		if (r < 0 && !ca_file) {
			errf(err, errsz, "the system's CAs cannot be read: %s", gnutls_strerror(r));
			goto out;
		}
	}

	/* The host name is checked with RFC 6125 rules; a textual IP address
	 * is matched against the IP subjectAltNames. */
	gnutls_typed_vdata_st data[2] = {
		{ GNUTLS_DT_DNS_HOSTNAME, (unsigned char *)host, 0 },
		{ GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER, 0 },
	};
	unsigned status = 0;
	r = gnutls_x509_trust_list_verify_crt2(tl, chain, (unsigned)nchain, data, 2, 0, &status,
					       NULL);
	if (r < 0) {
		errf(err, errsz, "certificate verification failed: %s", gnutls_strerror(r));
		goto out;
	}
	if (status != 0) {
		describe(status, host, err, errsz);
		goto out;
	}
	ret = 0;
out:
	if (tl)
		gnutls_x509_trust_list_deinit(tl, 1);
	for (size_t i = 0; i < nchain; i++)
		gnutls_x509_crt_deinit(chain[i]);
	return ret;
}
