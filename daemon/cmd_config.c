/*
 * triage check-config [--model FILE] FILE: checks a configuration the way
 * `triage run` will load it, against the categories of the model it names,
 * and tells the admin in plain words what will happen to each category.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "classifier/model.h"
#include "config/config.h"
#include "config/intl.h"
#include "daemon/commands.h"


struct labels_ctx {
	const char *override;     /* --model, or NULL */
	struct model *model;
	const char **labels;
};

static int get_labels(void *arg, const char *model_path, const char *const **labels,
		      size_t *n, char *err, size_t errsz)
{
	struct labels_ctx *c = arg;
	const char *path = c->override ? c->override : model_path;
	c->model = model_load(path, err, errsz);
	if (!c->model)
		return -1;
	size_t k = model_nlabels(c->model);
	c->labels = calloc(k ? k : 1, sizeof *c->labels);
	if (!c->labels) {
		snprintf(err, errsz, "%s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < k; i++)
		c->labels[i] = model_label(c->model, i);
	*labels = c->labels;
	*n = k;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, _("usage: triage check-config [--model FILE] FILE\n\n"
		     "Checks the configuration FILE (usually /etc/triage/triage.yaml) and\n"
		     "says what triage will do with each category, or lists every error\n"
		     "as FILE:LINE:COLUMN: message. Nothing is connected to and nothing\n"
		     "is changed.\n\n"
		     "  --model FILE   take the categories from this model instead of\n"
		     "                 the one named by classifier.model\n"
		     "  --help         show this help\n\n"
		     "Exit status: 0 when the file is correct, 78 when it has errors,\n"
		     "64 when the command is misused. See triage.yaml(5).\n"));
}

static void print_tls(const char *host, unsigned port, enum cfg_tls tls)
{
	switch (tls) {
	case CFG_TLS_IMPLICIT:
		printf(_("%s, port %u, encrypted (TLS)"), host, port);
		break;
	case CFG_TLS_STARTTLS:
		printf(_("%s, port %u, encrypted (STARTTLS)"), host, port);
		break;
	case CFG_TLS_NONE:
		printf(_("%s, port %u, NOT encrypted"), host, port);
		break;
	}
}

static void print_route(const struct config *cfg, const struct cfg_route *r)
{
	const struct cfg_imap *im = cfg_imap(cfg);
	printf("  %s: ", r->category);
	if (r->folder)
		printf(_("moved to \"%s\""), r->folder);
	else
		printf(_("stays in %s"), im->mailbox);
	if (r->keyword)
		printf(_("; keyword %s"), r->keyword);
	if (r->subject_tag)
		printf(_("; subject starts with \"%s\""), r->subject_tag);
	if (r->nforward) {
		printf(r->forward_mode == CFG_FWD_REDIRECT ? _("; redirected to ")
							   : _("; copy sent to "));
		for (size_t i = 0; i < r->nforward; i++)
			printf("%s%s", i ? ", " : "", r->forward[i]);
	}
	if (!r->configured)
		printf(_(" (no route in the file)"));
	putchar('\n');
}

static void print_rule(size_t i, const struct cfg_rule *r)
{
	printf("  %zu. %s: ", i + 1, r->name);
	const char *sep = "";
	if (r->from) {
		printf(_("if the sender matches '%s'"), r->from);
		sep = _(" and ");
	}
	if (r->subject) {
		fputs(sep, stdout);
		printf(*sep ? _("the subject matches '%s'") : _("if the subject matches '%s'"),
		       r->subject);
		sep = _(" and ");
	}
	if (r->body) {
		fputs(sep, stdout);
		printf(*sep ? _("the text matches '%s'") : _("if the text matches '%s'"),
		       r->body);
	}
	fputs(" -> ", stdout);
	switch (r->action) {
	case CFG_ACTION_CATEGORY:
		printf(_("filed as %s"), r->category);
		break;
	case CFG_ACTION_REVIEW:
		printf(_("sent to review"));
		break;
	case CFG_ACTION_NONE:
		printf(_("left in the mailbox untouched"));
		break;
	case CFG_ACTION_MODEL:
		printf(_("the model decides the category"));
		break;
	}
	if (r->flag)
		printf(_("; flagged"));
	putchar('\n');
}

static void summary(const struct config *cfg, const struct model *m, const char *model_path)
{
	const struct cfg_imap *im = cfg_imap(cfg);
	const struct cfg_smtp *sm = cfg_smtp(cfg);
	const struct cfg_classifier *cl = cfg_classifier(cfg);
	const struct cfg_learning *le = cfg_learning(cfg);
	unsigned days;

	puts(_("configuration OK"));
	if (cfg_dry_run(cfg))
		puts(_("DRY RUN: triage decides and logs, but changes nothing in the "
		       "mailbox and sends nothing."));
	printf(_("Mailbox: %s of %s on "), im->mailbox, im->username);
	print_tls(im->host, im->port, im->tls);
	putchar('\n');
	if (im->idle)
		printf(_("New mail: seen at once when the server offers IDLE, else checked "
			 "every %u s.\n"), im->poll_interval);
	else
		printf(_("New mail: checked every %u s.\n"), im->poll_interval);
	switch (cfg_backlog(cfg, &days)) {
	case CFG_BACKLOG_NONE:
		puts(_("Mail already there at the first start: left alone."));
		break;
	case CFG_BACKLOG_ALL:
		puts(_("Mail already there at the first start: all sorted."));
		break;
	case CFG_BACKLOG_DAYS:
		printf(_("Mail already there at the first start: that of the last %u days "
			 "sorted.\n"), days);
		break;
	}
	if (sm) {
		printf(_("Copies sent from %s through "), sm->from);
		print_tls(sm->host, sm->port, sm->tls);
		putchar('\n');
	}
	printf(_("Model: %s\n"), model_path);
	if (cl->threshold_auto && m)
		printf(_("Mail the model is less than %.2f sure of (its recommended threshold) "
			 "goes to \"%s\".\n"), model_threshold(m), cfg_review_folder(cfg));
	else if (cl->threshold_auto)
		printf(_("Mail the model is unsure of (below its recommended threshold) goes "
			 "to \"%s\".\n"), cfg_review_folder(cfg));
	else
		printf(_("Mail the model is less than %.2f sure of goes to \"%s\".\n"),
		       cl->threshold, cfg_review_folder(cfg));
	if (le->enabled)
		printf(_("Learning: a message moved to another category's folder corrects "
			 "the model; a choice is confirmed after %u days; records are kept "
			 "%u days.\n"), le->confirm_after_days, le->retention_days);
	else
		puts(_("Learning: off."));

	puts(_("Categories:"));
	for (size_t i = 0; i < cfg_nroutes(cfg); i++)
		print_route(cfg, cfg_route_at(cfg, i));
	if (cfg_nrules(cfg)) {
		puts(_("Rules, checked in this order before the model (the first that "
		       "matches wins):"));
		for (size_t i = 0; i < cfg_nrules(cfg); i++)
			print_rule(i, cfg_rule_at(cfg, i));
	} else {
		puts(_("Rules: none; the model decides every message."));
	}
}

static int cmd_check_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct labels_ctx ctx = { 0 };
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			ctx.override = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			cmd_fail(EX_USAGE, _("check-config: unknown option or missing value: %s"),
				 argv[optind - 1]);
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		cmd_fail(EX_USAGE, _("check-config needs exactly one FILE"));
		usage(stderr);
		return EX_USAGE;
	}
	const char *path = argv[optind];
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	struct config *cfg = cfg_load_labels(path, get_labels, &ctx, &errs);
	int status = 0;
	if (cfg) {
		summary(cfg, ctx.model, ctx.override ? ctx.override : cfg_classifier(cfg)->model);
		cfg_free(cfg);
	} else {
		cfg_errors_print(&errs, stderr);
		size_t n = errs.n + errs.dropped;
		if (errs.dropped)
			fprintf(stderr, _("%s: %zu more errors not shown\n"), path, errs.dropped);
		fprintf(stderr, dngettext(TRIAGE_DOMAIN, "%s: %zu error; triage will not start with this file\n",
					 "%s: %zu errors; triage will not start with this file\n",
					 n),
			path, n);
		status = EX_CONFIG;
	}
	cfg_errors_release(&errs);
	free(ctx.labels);
	if (ctx.model)
		model_free(ctx.model);
	return status;
}

const struct command command_check_config = { "check-config", cmd_check_config,
					      "check a configuration file and summarise it" };
