/*
 * imap_driver: runs daemon/imap.c against a server, one command after the
 * other on one connection, and prints each result on a tab-separated line,
 * for the shell tests (t0400-imap.sh).
 *
 *   imap_driver [-h HOST] -p PORT [-t implicit|starttls|none] [-c CA_FILE] [-S]
 *               [-u USER] [-w PASSWORD] [-a auto|login|plain] [-T TIMEOUT_S]
 *               [-o DIR] COMMAND [ARGS]...
 *
 * The password may also come from $IMAP_PASSWORD. -S: do not trust the
 * system's CAs. -o DIR: `bodies` writes each message to DIR/UID.
 *
 * Commands (lists are comma-separated: "3,5,9", "\Seen,$label"; "-" is empty):
 *   caps                          caps  NAME...
 *   ns                            ns    SEPARATOR  PREFIX
 *   wire FOLDER                   wire  WIRE-NAME
 *   list                          folder  NAME          (one line each)
 *   ensure FOLDER                 ensured  FOLDER
 *   select FOLDER / status FOLDER select|status  uidvalidity=N uidnext=N exists=N
 *                                         highestmodseq=N keywords=0|1 read_only=0|1
 *   meta AFTER MAX MSGID(0|1) CHANGEDSINCE
 *                                 msg  UID SIZE INTERNALDATE MODSEQ FLAGS MESSAGE-ID
 *   bodies MAX_SIZE UIDS          body UID SIZE LEN HEADER_ONLY FLAGS
 *   search CRITERIA               uids  UID...
 *   store +|- UIDS FLAGS          stored
 *   move UIDS FOLDER              moved  UID>NEWUID...
 *   expunge UIDS                  expunged
 *   append FOLDER FILE FLAGS EPOCH appended  NEWUID
 *   noop                          noop
 *   idle TIMEOUT_MS               idle  0|1  ELAPSED_MS
 *   idle-stop TIMEOUT_MS STOP_MS  idle  0|1  ELAPSED_MS  (*stop set by SIGALRM)
 *   noop-loop SECONDS             NOOP every 50 ms until an error or the end
 *   sleep MS
 *
 * The connection is made first ("connected ELAPSED_MS"). On an error the
 * driver prints "error  KIND  ELAPSED_MS  TEXT" (KIND: NET TLS AUTH NO BAD
 * UNSUPPORTED NOMEM; ELAPSED_MS of the failing call) and exits 1; usage
 * errors exit 2.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/imap.h"

#define FILE_MAX (64u << 20)

static const char *kind_name(enum imap_err k)
{
	static const char *names[] = { "OK", "NET", "TLS", "AUTH", "NO", "BAD", "UNSUPPORTED",
				       "NOMEM" };
	return (size_t)k < ARRAY_SIZE(names) ? names[k] : "?";
}

static void usage(const char *msg)
{
	fprintf(stderr, "imap_driver: %s (see the comment at the top of imap_driver.c)\n", msg);
	exit(2);
}

/* Splits a comma-separated list in place ("-" is the empty list). */
static size_t split(char *s, char **out, size_t max)
{
	size_t n = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
		out[n++] = tok;
	return n;
}

static size_t parse_uids(char *s, uint32_t *out, size_t max)
{
	char *parts[4096];
	size_t n = split(s, parts, ARRAY_SIZE(parts) < max ? ARRAY_SIZE(parts) : max);
	for (size_t i = 0; i < n; i++)
		out[i] = (uint32_t)strtoul(parts[i], NULL, 10);
	return n;
}

static void print_flags(const struct imap_msg *m)
{
	for (size_t i = 0; i < m->nflags; i++)
		printf("%s%s", i ? " " : "", m->flags[i]);
	if (!m->nflags)
		printf("-");
}

static int on_meta(void *ctx, const struct imap_msg *m)
{
	printf("msg\t%u\t%u\t%lld\t%llu\t", m->uid, m->size, (long long)m->internaldate,
	       (unsigned long long)m->modseq);
	print_flags(m);
	printf("\t%s\n", m->message_id ? m->message_id : "-");
	return 0;
}

static int on_body(void *ctx, const struct imap_msg *m)
{
	const char *dir = ctx;
	printf("body\t%u\t%u\t%zu\t%d\t", m->uid, m->size, m->len, m->header_only);
	print_flags(m);
	printf("\n");
	if (dir) {
		char path[4096], err[256];
		snprintf(path, sizeof path, "%s/%u", dir, m->uid);
		if (write_file_atomic(path, m->data, m->len, 0644, err, sizeof err) < 0)
			fprintf(stderr, "imap_driver: %s\n", err);
	}
	return 0;
}

static void print_mailbox(const char *what, const struct imap_mailbox *b)
{
	printf("%s\tuidvalidity=%u uidnext=%u exists=%u highestmodseq=%llu keywords=%d "
	       "read_only=%d\n",
	       what, b->uidvalidity, b->uidnext, b->exists, (unsigned long long)b->highestmodseq,
	       b->keywords, b->read_only);
}

static volatile int stop_flag;

static void on_alarm(int sig)
{
	stop_flag = 1;
}

static struct imap *conn;
static double t_call;

static void die(void)
{
	printf("error\t%s\t%.0f\t%s\n", kind_name(imap_error(conn)), now_ms() - t_call,
	       imap_error_text(conn));
	fflush(stdout);
	imap_close(conn);
	exit(1);
}

/* Runs one command starting at argv[0]; returns how many arguments it took. */
static int run(char **argv, int argc, const char *outdir)
{
	const char *cmd = argv[0];
	static uint32_t uids[65536], dest[65536];
	char *list[256];
#define NEED(k) do { if (argc < (k) + 1) usage("missing arguments"); } while (0)
	t_call = now_ms();
	if (strcmp(cmd, "caps") == 0) {
		static const char *names[] = { "IDLE", "MOVE", "UIDPLUS", "CONDSTORE", "NAMESPACE",
					       "LITERAL+" };
		printf("caps");
		for (size_t i = 0; i < ARRAY_SIZE(names); i++)
			if (imap_caps(conn) & (1u << i))
				printf("\t%s", names[i]);
		printf("\n");
		return 1;
	}
	if (strcmp(cmd, "ns") == 0) {
		printf("ns\t%c\t%s\n", imap_separator(conn) ? imap_separator(conn) : '-',
		       *imap_prefix(conn) ? imap_prefix(conn) : "-");
		return 1;
	}
	if (strcmp(cmd, "wire") == 0) {
		NEED(1);
		char *w = imap_wire_name(conn, argv[1]);
		printf("wire\t%s\n", w ? w : "(invalid)");
		free(w);
		return 2;
	}
	if (strcmp(cmd, "list") == 0) {
		char **names;
		size_t n;
		if (imap_list_folders(conn, &names, &n) < 0)
			die();
		for (size_t i = 0; i < n; i++) {
			printf("folder\t%s\n", names[i]);
			free(names[i]);
		}
		free(names);
		return 1;
	}
	if (strcmp(cmd, "ensure") == 0) {
		NEED(1);
		if (imap_ensure_folder(conn, argv[1]) < 0)
			die();
		printf("ensured\t%s\n", argv[1]);
		return 2;
	}
	if (strcmp(cmd, "select") == 0 || strcmp(cmd, "status") == 0) {
		NEED(1);
		struct imap_mailbox b;
		if ((cmd[1] == 'e' ? imap_select : imap_status)(conn, argv[1], &b) < 0)
			die();
		print_mailbox(cmd, &b);
		return 2;
	}
	if (strcmp(cmd, "meta") == 0) {
		NEED(4);
		if (imap_fetch_meta(conn, (uint32_t)strtoul(argv[1], NULL, 10),
				    strtoul(argv[2], NULL, 10), atoi(argv[3]),
				    strtoull(argv[4], NULL, 10), on_meta, NULL) < 0)
			die();
		return 5;
	}
	if (strcmp(cmd, "bodies") == 0) {
		NEED(2);
		size_t n = parse_uids(argv[2], uids, ARRAY_SIZE(uids));
		if (imap_fetch_bodies(conn, uids, n, strtoul(argv[1], NULL, 10), on_body,
				      (void *)outdir) < 0)
			die();
		return 3;
	}
	if (strcmp(cmd, "search") == 0) {
		NEED(1);
		uint32_t *found;
		size_t n;
		if (imap_search(conn, argv[1], &found, &n) < 0)
			die();
		printf("uids");
		for (size_t i = 0; i < n; i++)
			printf("\t%u", found[i]);
		printf("\n");
		free(found);
		return 2;
	}
	if (strcmp(cmd, "store") == 0) {
		NEED(3);
		size_t n = parse_uids(argv[2], uids, ARRAY_SIZE(uids));
		size_t nf = split(argv[3], list, ARRAY_SIZE(list));
		if (imap_store_flags(conn, uids, n, (const char *const *)list, nf,
				     argv[1][0] == '+') < 0)
			die();
		printf("stored\n");
		return 4;
	}
	if (strcmp(cmd, "move") == 0) {
		NEED(2);
		size_t n = parse_uids(argv[1], uids, ARRAY_SIZE(uids));
		if (imap_move(conn, uids, n, argv[2], dest) < 0)
			die();
		printf("moved");
		for (size_t i = 0; i < n; i++)
			printf("\t%u>%u", uids[i], dest[i]);
		printf("\n");
		return 3;
	}
	if (strcmp(cmd, "expunge") == 0) {
		NEED(1);
		size_t n = parse_uids(argv[1], uids, ARRAY_SIZE(uids));
		if (imap_expunge_uids(conn, uids, n) < 0)
			die();
		printf("expunged\n");
		return 2;
	}
	if (strcmp(cmd, "append") == 0) {
		NEED(4);
		char err[512];
		size_t len;
		char *data = read_file(argv[2], FILE_MAX, &len, err, sizeof err);
		if (!data)
			usage(err);
		size_t nf = split(argv[3], list, ARRAY_SIZE(list));
		uint32_t uid;
		t_call = now_ms();
		if (imap_append(conn, argv[1], data, len, (const char *const *)list, nf,
				(time_t)strtoll(argv[4], NULL, 10), &uid) < 0) {
			free(data);
			die();
		}
		free(data);
		printf("appended\t%u\n", uid);
		return 5;
	}
	if (strcmp(cmd, "noop") == 0) {
		if (imap_noop(conn) < 0)
			die();
		printf("noop\n");
		return 1;
	}
	if (strcmp(cmd, "idle") == 0 || strcmp(cmd, "idle-stop") == 0) {
		int with_stop = cmd[4] == '-';
		NEED(with_stop ? 2 : 1);
		if (with_stop) {
			long ms = atol(argv[2]);
			struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };
			stop_flag = 0;
			setitimer(ITIMER_REAL, &it, NULL);
		}
		int r = imap_idle(conn, atoi(argv[1]), &stop_flag);
		if (r < 0)
			die();
		printf("idle\t%d\t%.0f\n", r, now_ms() - t_call);
		return with_stop ? 3 : 2;
	}
	if (strcmp(cmd, "noop-loop") == 0) {
		NEED(1);
		double end = now_ms() + atof(argv[1]) * 1000;
		while (now_ms() < end) {
			t_call = now_ms();
			if (imap_noop(conn) < 0)
				die();
			usleep(50000);
		}
		printf("noop-loop\n");
		return 2;
	}
	if (strcmp(cmd, "sleep") == 0) {
		NEED(1);
		usleep((useconds_t)atol(argv[1]) * 1000);
		return 2;
	}
	usage("unknown command");
	return 0;
}

int main(int argc, char **argv)
{
	struct imap_opts o = { .host = "127.0.0.1", .tls = IMAP_TLS_NONE, .system_ca = 1,
			       .username = "info@example.org", .auth = IMAP_AUTH_AUTO };
	o.password = getenv("IMAP_PASSWORD");
	const char *outdir = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "+h:p:t:c:Su:w:a:T:o:")) != -1) {
		switch (opt) {
		case 'h': o.host = optarg; break;
		case 'p': o.port = (unsigned)atoi(optarg); break;
		case 't':
			o.tls = strcmp(optarg, "implicit") == 0   ? IMAP_TLS_IMPLICIT
				: strcmp(optarg, "starttls") == 0 ? IMAP_TLS_STARTTLS
								  : IMAP_TLS_NONE;
			break;
		case 'c': o.ca_file = optarg; break;
		case 'S': o.system_ca = 0; break;
		case 'u': o.username = optarg; break;
		case 'w': o.password = optarg; break;
		case 'a':
			o.auth = strcmp(optarg, "login") == 0   ? IMAP_AUTH_LOGIN
				 : strcmp(optarg, "plain") == 0 ? IMAP_AUTH_PLAIN
								: IMAP_AUTH_AUTO;
			break;
		case 'T': o.timeout_s = (unsigned)atoi(optarg); break;
		case 'o': outdir = optarg; break;
		default: usage("bad option");
		}
	}
	if (!o.port || !o.password)
		usage("-p PORT and a password (-w or $IMAP_PASSWORD) are required");
	/* A server that vanishes must give an error, not kill us on write. */
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	enum imap_err kind;
	char err[512];
	double t0 = now_ms();
	conn = imap_connect(&o, &kind, err, sizeof err);
	if (!conn) {
		printf("error\t%s\t%.0f\t%s\n", kind_name(kind), now_ms() - t0, err);
		return 1;
	}
	printf("connected\t%.0f\n", now_ms() - t0);
	for (int i = optind; i < argc;)
		i += run(argv + i, argc - i, outdir);
	imap_close(conn);
	return 0;
}
