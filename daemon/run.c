/*
 * triage run: the service. Always in the foreground (systemd style).
 *
 *   connect -> select the mailbox -> finish unfinished work -> file new mail
 *   -> wait (IDLE, re-issued every minute, or a poll every poll_interval)
 *   -> file new mail -> ...
 *
 * A dropped connection or a restarted server: reconnect with exponential
 * backoff and jitter, 1 s up to 5 min, without restarting the process. A
 * refused login or certificate: said clearly, retried every 5 minutes, never
 * in a tight loop. SIGTERM: the current message is finished, exit 0. SIGHUP:
 * the configuration and the model are loaded again; when the new ones are
 * invalid the old ones are kept.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "classifier/classifier.h"
#include "common/log.h"
#include "common/util.h"
#include "config/config.h"
#include "daemon/commands.h"
#include "daemon/imap.h"
#include "daemon/learn.h"
#include "daemon/models.h"
#include "daemon/notify.h"
#include "daemon/pipeline.h"
#include "daemon/smtp.h"
#include "daemon/state.h"

#define BACKOFF_MAX_S 300
#define IDLE_SLICE_MS 60000   /* IDLE re-issued every minute: well before 29 */

static volatile int stop_flag;
static volatile sig_atomic_t hup_flag;
/* Set by either signal: ends a wait (IDLE, a nap) early. */
static volatile int wake_flag;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
	wake_flag = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	hup_flag = 1;
	wake_flag = 1;
}

static const char usage[] =
	"usage: triage run --config FILE [--once] [--dry-run] [--log-stderr] [--verbose]\n"
	"\n"
	"Watches the mailbox named in FILE and files each new message. Runs in the\n"
	"foreground; logs to syslog (facility mail).\n"
	"\n"
	"  --config FILE   the configuration (see triage.yaml(5))\n"
	"  --once          handle what is new, then exit (0; 69 when the server cannot\n"
	"                  be reached, 77 when the login is refused)\n"
	"  --dry-run       decide and log, change nothing on the server\n"
	"  --log-stderr    also log to standard error\n"
	"  --verbose       log debug messages too\n";

/* What a configuration brings: the file and its model. */
struct loaded {
	struct config *cfg;
	struct model *model;
	int retrained;   /* the model is state_dir/models/current.model */
};

/* Loads the configuration and its model. On error, logs every error (or
 * prints them when to_stderr) and returns -1. */
static int load(const char *path, struct loaded *out, int to_stderr)
{
	struct cfg_errors errs;
	char why[PATH_MAX + 600];
	cfg_errors_init(&errs);
	struct config *cfg = models_load_config(path, &errs, &out->model, &out->retrained, why,
						sizeof why);
	if (!cfg) {
		if (to_stderr) {
			cfg_errors_print(&errs, stderr);
		} else {
			for (size_t i = 0; i < errs.n; i++)
				log_err("%s:%d:%d: %s", errs.v[i].file, errs.v[i].line, errs.v[i].col,
					errs.v[i].msg);
		}
		cfg_errors_release(&errs);
		return -1;
	}
	cfg_errors_release(&errs);
	out->cfg = cfg;
	if (*why) {
		if (to_stderr)
			fprintf(stderr, "triage: %s\n", why);
		else
			log_err("%s", why);
	}
	return 0;
}

struct runner {
	const char *config_path;
	int once, dry_run_opt, verbose, log_stderr;
	struct loaded cur;
	struct clf_worker *worker;
	struct state *st;
	struct imap *imap;
	struct pipeline p;
	unsigned failures;       /* consecutive failed connections */
	char pidfile[PATH_MAX];  /* state_dir/triage.pid, for triage retrain's SIGHUP */
	double last_ping;
	uint64_t wd_ms;
};

static void watchdog(struct runner *r)
{
	if (!r->wd_ms)
		return;
	double now = now_ms();
	if (now - r->last_ping >= (double)r->wd_ms / 3) {
		notify_send("WATCHDOG=1");
		r->last_ping = now;
	}
}

static void status(struct runner *r, const char *what)
{
	uint64_t filed = 0;
	time_t last = 0;
	state_counts(r->st, &filed, &last);
	if (last) {
		long ago = (long)(time(NULL) - last) / 60;
		notify_status("%s, %llu messages filed, last %ld min ago", what,
			      (unsigned long long)filed, ago < 0 ? 0 : ago);
	} else {
		notify_status("%s, %llu messages filed", what, (unsigned long long)filed);
	}
}

/* Sleeps ms milliseconds in slices, returning early on a signal. */
static void nap(struct runner *r, double ms)
{
	double end = now_ms() + ms;
	while (!stop_flag && !hup_flag && now_ms() < end) {
		struct timespec ts = { 0, 200 * 1000000L };
		nanosleep(&ts, NULL);
		watchdog(r);
	}
}

static double backoff_ms(unsigned failures, int slow)
{
	double base = slow ? BACKOFF_MAX_S : (double)(1u << (failures > 9 ? 9 : failures));
	if (base > BACKOFF_MAX_S)
		base = BACKOFF_MAX_S;
	/* Jitter, so that several daemons restarting with a server do not
	 * return all at once. */
	double j = 0.5 + 0.5 * ((double)rand() / RAND_MAX);
	return base * 1000 * j;
}

static double threshold_of(const struct loaded *l)
{
	const struct cfg_classifier *c = cfg_classifier(l->cfg);
	return c->threshold_auto ? model_threshold(l->model) : c->threshold;
}

static int open_state(struct runner *r)
{
	const char *dir = cfg_state_dir(r->cur.cfg);
	char path[PATH_MAX], err[512];
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_err("state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	/* A dry run keeps its own state: what it decided must not count as done
	 * once triage runs for real. */
	int dry = r->dry_run_opt || cfg_dry_run(r->cur.cfg);
	snprintf(path, sizeof path, "%s/%s", dir, dry ? "triage-dry-run.db" : "triage.db");
	if (!(r->st = state_open(path, err, sizeof err))) {
		log_err("%s", err);
		return -1;
	}
	return 0;
}

static void write_pidfile(struct runner *r)
{
	char buf[32], err[256];
	snprintf(r->pidfile, sizeof r->pidfile, "%s/triage.pid", cfg_state_dir(r->cur.cfg));
	int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (write_file_atomic(r->pidfile, buf, (size_t)n, 0644, err, sizeof err) < 0) {
		log_warn("%s (triage retrain will not be able to tell this process to reload)", err);
		r->pidfile[0] = '\0';
	}
}

static void setup_pipeline(struct runner *r)
{
	struct pipeline *p = &r->p;
	p->cfg = r->cur.cfg;
	p->model = r->cur.model;
	p->worker = r->worker;
	p->st = r->st;
	p->imap = r->imap;
	p->dry_run = r->dry_run_opt || cfg_dry_run(r->cur.cfg);
	p->stop = &stop_flag;
	p->mailbox = cfg_imap(r->cur.cfg)->mailbox;
	p->threshold = threshold_of(&r->cur);
}

static void disconnect(struct runner *r)
{
	imap_close(r->imap);
	r->imap = NULL;
	r->p.imap = NULL;
}

/* Connects and opens the mailbox. Returns 0, or the kind of failure. */
static int connect_imap(struct runner *r, enum imap_err *kind)
{
	const struct cfg_imap *ci = cfg_imap(r->cur.cfg);
	struct imap_opts o = {
		.host = ci->host,
		.port = ci->port,
		.tls = ci->tls == CFG_TLS_IMPLICIT ? IMAP_TLS_IMPLICIT
		       : ci->tls == CFG_TLS_STARTTLS ? IMAP_TLS_STARTTLS : IMAP_TLS_NONE,
		.ca_file = ci->ca_file,
		.system_ca = 1,
		.username = ci->username,
		.password = ci->password,
		.auth = ci->auth == CFG_AUTH_LOGIN ? IMAP_AUTH_LOGIN
			: ci->auth == CFG_AUTH_PLAIN ? IMAP_AUTH_PLAIN : IMAP_AUTH_AUTO,
		.timeout_s = 60,
	};
	char err[512];
	status(r, "connecting");
	if (!(r->imap = imap_connect(&o, kind, err, sizeof err))) {
		if (*kind == IMAP_ERR_AUTH)
			log_err("%s (check imap.username and the password file)", err);
		else
			log_err("%s", err);
		return -1;
	}
	log_info("connected to %s:%u", ci->host, ci->port);
	setup_pipeline(r);
	if (pipeline_ensure_folders(&r->p) < 0 || pipeline_open(&r->p) < 0) {
		*kind = imap_error(r->imap);
		disconnect(r);
		return -1;
	}
	return 0;
}

static void reload(struct runner *r)
{
	hup_flag = 0;
	log_notice("reloading %s", r->config_path);
	struct loaded n = { 0 };
	if (load(r->config_path, &n, 0) < 0) {
		log_err("the new configuration is invalid: keeping the one in use");
		return;
	}
	char err[512];
	struct clf_worker *w = clf_worker_new(n.model, err, sizeof err);
	if (!w) {
		log_err("%s: keeping the configuration in use", err);
		cfg_free(n.cfg);
		model_free(n.model);
		return;
	}
	/* New settings may name another server, folders or state directory:
	 * start again from the connection. */
	disconnect(r);
	clf_worker_free(r->worker);
	cfg_free(r->cur.cfg);
	model_free(r->cur.model);
	r->cur = n;
	r->worker = w;
	state_close(r->st);
	r->st = NULL;
	if (open_state(r) < 0)
		stop_flag = 1;
	log_notice("configuration and model reloaded (threshold %.3f%s)", threshold_of(&r->cur),
		   r->cur.retrained ? ", retrained model" : "");
}

/* Waits for new mail: IDLE when possible, else a poll interval. Returns 0 to
 * go on, -1 when the connection failed. */
static int wait_for_mail(struct runner *r)
{
	const struct cfg_imap *ci = cfg_imap(r->cur.cfg);
	status(r, "waiting");
	if (ci->idle && (imap_caps(r->imap) & IMAP_CAP_IDLE)) {
		double until = now_ms() + (double)ci->poll_interval * 1000 * 10;
		while (!stop_flag && !hup_flag) {
			watchdog(r);
			wake_flag = 0;
			int got = imap_idle(r->imap, IDLE_SLICE_MS, &wake_flag);
			if (got < 0) {
				log_warn("waiting for mail: %s", imap_error_text(r->imap));
				return -1;
			}
			/* New mail, or now and then a pass for the unfinished. */
			if (got == 1 || now_ms() > until)
				return 0;
		}
		return 0;
	}
	nap(r, (double)ci->poll_interval * 1000);
	/* Servers tell a session about new mail in answers to commands such as
	 * NOOP, not to SEARCH or FETCH: without it the next pass sees nothing. */
	if (!stop_flag && imap_noop(r->imap) < 0) {
		log_warn("polling: %s", imap_error_text(r->imap));
		return -1;
	}
	return 0;
}

static int serve(struct runner *r)
{
	int status_code = 0;
	while (!stop_flag) {
		if (hup_flag)
			reload(r);
		if (stop_flag)
			break;
		if (!r->imap) {
			enum imap_err kind = IMAP_OK;
			if (connect_imap(r, &kind) < 0) {
				if (r->once)
					return kind == IMAP_ERR_AUTH ? EX_NOPERM : EX_UNAVAILABLE;
				int slow = kind == IMAP_ERR_AUTH || kind == IMAP_ERR_TLS;
				double ms = backoff_ms(r->failures++, slow);
				log_notice("connecting again in %.0f s", ms / 1000);
				status(r, slow ? "login or certificate refused, retrying" : "server unreachable, retrying");
				nap(r, ms);
				continue;
			}
			r->failures = 0;
		}
		watchdog(r);
		if (pipeline_run(&r->p) < 0 || learn_scan(&r->p) < 0 ||
		    learn_housekeeping(&r->p, 0) < 0) {
			enum imap_err e = imap_error(r->imap);
			if (r->once) {
				status_code = EX_TEMPFAIL;
				break;
			}
			if (e == IMAP_ERR_NET || e == IMAP_ERR_BAD || e == IMAP_ERR_TLS) {
				disconnect(r);
				continue;
			}
			/* A NO or a state error: try again after a while. */
			nap(r, (double)cfg_imap(r->cur.cfg)->poll_interval * 1000);
			continue;
		}
		if (r->once)
			break;
		if (wait_for_mail(r) < 0)
			disconnect(r);
	}
	return status_code;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "log-stderr", no_argument, NULL, 'e' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct runner r = { 0 };
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': r.config_path = optarg; break;
		case 'o': r.once = 1; break;
		case 'n': r.dry_run_opt = 1; break;
		case 'e': r.log_stderr = 1; break;
		case 'v': r.verbose = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default:
			cmd_fail(EX_USAGE, "%s: unknown option or missing value", argv[optind - 1]);
			fputs(usage, stderr);
			return EX_USAGE;
		}
	}
	if (!r.config_path || optind < argc) {
		cmd_fail(EX_USAGE, "--config FILE is required");
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (load(r.config_path, &r.cur, 1) < 0)
		return cmd_fail(EX_CONFIG, "%s: invalid configuration, not started", r.config_path);
	int level = r.verbose || cfg_log_level(r.cur.cfg) == CFG_LOG_DEBUG ? LOG_DEBUG : LOG_INFO;
	/* Under systemd, stderr is the journal (JOURNAL_STREAM says so). */
	int dest = getenv("JOURNAL_STREAM") ? LOG_TO_JOURNAL : LOG_TO_SYSLOG;
	if (r.log_stderr || isatty(STDERR_FILENO))
		dest = LOG_TO_SYSLOG | LOG_TO_STDERR;
	log_open("triage", dest, level);
	char err[512];
	int code = 0;
	srand((unsigned)(time(NULL) ^ getpid()));
	struct sigaction sa = { 0 };
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	/* Both libraries are opened here, so that the service fails at its start
	 * (not at its first HTML message or forward) when one is missing. */
	if (clf_preload(err, sizeof err) < 0 || smtp_global_init(err, sizeof err) < 0) {
		log_err("%s", err);
		code = EX_SOFTWARE;
		goto out;
	}
	if (!(r.worker = clf_worker_new(r.cur.model, err, sizeof err))) {
		log_err("%s", err);
		code = EX_SOFTWARE;
		goto out;
	}
	if (open_state(&r) < 0) {
		code = EX_CANTCREAT;
		goto out;
	}
	const struct cfg_imap *ci = cfg_imap(r.cur.cfg);
	log_notice("triage %s starting: %s on %s:%u, %zu categories, threshold %.3f%s%s",
		   TRIAGE_VERSION, ci->mailbox, ci->host, ci->port, model_nlabels(r.cur.model),
		   threshold_of(&r.cur), r.cur.retrained ? ", retrained model" : "",
		   (r.dry_run_opt || cfg_dry_run(r.cur.cfg)) ? ", dry run" : "");
	if (!r.once)
		write_pidfile(&r);
	r.wd_ms = notify_watchdog_ms();
	notify_send("READY=1");
	code = serve(&r);
	notify_send("STOPPING=1");
	log_notice("stopping: %llu filed, %llu to review, %llu left, %llu forwarded",
		   (unsigned long long)r.p.filed, (unsigned long long)r.p.reviewed,
		   (unsigned long long)r.p.left, (unsigned long long)r.p.forwarded);
out:
	if (*r.pidfile)
		unlink(r.pidfile);
	disconnect(&r);
	state_close(r.st);
	clf_worker_free(r.worker);
	cfg_free(r.cur.cfg);
	model_free(r.cur.model);
	smtp_global_cleanup();
	log_close();
	return code;
}

const struct command command_run = { "run", cmd_run, "watch the mailbox and file new mail" };
