/*
 * smtp_driver: smtp_send() (and compose_*()) from the command line, for the
 * shell tests of daemon/smtp.c against the SMTP sink (tests/smtp_sink.sh).
 *
 *   smtp_driver [options] FILE RCPT...
 *     --url URL            smtp://host:port or smtps://host:port
 *     --tls MODE           starttls, implicit or none (default: implicit for
 *                          smtps://, else starttls)
 *     --ca PEM             trust this CA;  --system-ca  trust the system's
 *     --user U --password P
 *     --from ADDR          envelope sender (also From: of a forward)
 *     --timeout S          whole transaction (default 60)
 *     --forward CATEGORY   send compose_forward() of FILE, not FILE itself
 *                          (--subject S: the note's subject; --rule NAME,
 *                          else confidence 0.92; two fixed reasons)
 *     --redirect           send compose_redirect() of FILE
 *     --tag TAG            send compose_tag_subject(FILE, TAG, "Test")
 *     --out PATH           also write the message sent to PATH; without
 *                          --url, only write it
 *
 * Prints "sent" and exits 0, or prints "failed temporary=T: ERROR" and exits
 * 1 (permanent) or 75 (temporary, EX_TEMPFAIL); 64 for usage, 66 for input.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "daemon/compose.h"
#include "daemon/smtp.h"

#define DRIVER_MAX_FILE (64u << 20)

static void usage(void)
{
	fprintf(stderr, "usage: smtp_driver [--url URL] [--tls starttls|implicit|none] [--ca PEM]\n"
			"  [--system-ca] [--user U --password P] [--from ADDR] [--timeout S]\n"
			"  [--forward CATEGORY [--subject S] [--rule NAME] | --redirect | --tag TAG]\n"
			"  [--out PATH] FILE RCPT...\n");
	exit(64);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "tls", required_argument, NULL, 't' },
		{ "ca", required_argument, NULL, 'c' },
		{ "system-ca", no_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'U' },
		{ "password", required_argument, NULL, 'P' },
		{ "from", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "forward", required_argument, NULL, 'F' },
		{ "subject", required_argument, NULL, 'S' },
		{ "rule", required_argument, NULL, 'r' },
		{ "redirect", no_argument, NULL, 'R' },
		{ "tag", required_argument, NULL, 'g' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct smtp_opts o = { .from = "triage@example.org", .tls = SMTP_TLS_STARTTLS };
	const char *tls = NULL, *forward = NULL, *subject = "", *rule = NULL, *tag = NULL,
		   *out = NULL;
	int redirect = 0, c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': o.url = optarg; break;
		case 't': tls = optarg; break;
		case 'c': o.ca_file = optarg; break;
		case 's': o.system_ca = 1; break;
		case 'U': o.username = optarg; break;
		case 'P': o.password = optarg; break;
		case 'f': o.from = optarg; break;
		case 'T': o.timeout_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'F': forward = optarg; break;
		case 'S': subject = optarg; break;
		case 'r': rule = optarg; break;
		case 'R': redirect = 1; break;
		case 'g': tag = optarg; break;
		case 'o': out = optarg; break;
		default: usage();
		}
	}
	if (argc - optind < 2 || (!o.url && !out) || (!!forward + redirect + !!tag) > 1)
		usage();
	if (!tls)
		o.tls = o.url && strncmp(o.url, "smtps:", 6) == 0 ? SMTP_TLS_IMPLICIT : SMTP_TLS_STARTTLS;
	else if (!strcmp(tls, "starttls"))
		o.tls = SMTP_TLS_STARTTLS;
	else if (!strcmp(tls, "implicit"))
		o.tls = SMTP_TLS_IMPLICIT;
	else if (!strcmp(tls, "none"))
		o.tls = SMTP_TLS_NONE;
	else
		usage();

	char err[512];
	size_t len;
	char *data = read_file(argv[optind], DRIVER_MAX_FILE, &len, err, sizeof err);
	if (!data) {
		fprintf(stderr, "smtp_driver: %s\n", err);
		return 66;
	}
	const char *const *rcpts = (const char *const *)argv + optind + 1;
	size_t n = (size_t)(argc - optind - 1);
	struct fwd_env env = { o.from, rcpts, n, time(NULL), NULL };
	char *msg = NULL;
	if (forward) {
		static const char *const reasons[] = { "adh\xc3\xa9sion (corps)", "cotisation (objet)" };
		struct fwd_note note = { forward, rule ? -1 : 0.92, rule, reasons, 2, subject };
		msg = compose_forward(&env, &note, data, len, &len, err, sizeof err);
	} else if (redirect) {
		msg = compose_redirect(&env, data, len, &len, err, sizeof err);
	} else if (tag) {
		msg = compose_tag_subject(data, len, tag, "Test", &len, err, sizeof err);
	}
	if ((forward || redirect || tag) && !msg) {
		fprintf(stderr, "smtp_driver: compose: %s\n", err);
		free(data);
		return 66;
	}
	if (msg) {
		free(data);
		data = msg;
	}
	if (out && write_file_atomic(out, data, len, 0644, err, sizeof err) < 0) {
		fprintf(stderr, "smtp_driver: %s\n", err);
		free(data);
		return 73;
	}
	int rc = 0;
	if (o.url) {
		if (smtp_global_init(err, sizeof err) < 0) {
			fprintf(stderr, "smtp_driver: %s\n", err);
			free(data);
			return 70;
		}
		int temporary = 0;
		if (smtp_send(&o, rcpts, n, data, len, &temporary, err, sizeof err) == 0) {
			printf("sent\n");
		} else {
			printf("failed temporary=%d: %s\n", temporary, err);
			rc = temporary ? 75 : 1;
		}
		smtp_global_cleanup();
	}
	free(data);
	return rc;
}
