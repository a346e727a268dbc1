/*
 * triage: the one binary. `triage SUBCOMMAND [OPTIONS]`; see `triage --help`
 * and triage(8).
 */
#include <libintl.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "common/util.h"
#include "daemon/commands.h"

static const struct command *const commands[] = {
	&command_run,
	&command_check_config,
	&command_train,
	&command_classify,
	&command_eval,
	&command_cv,
	&command_stats,
	&command_forget,
	&command_retrain,
	&command_rollback,
	NULL,
};

int cmd_fail(int status, const char *fmt, ...)
{
	va_list ap;
	fputs("triage: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: triage COMMAND [OPTIONS]\n\n"
		   "Sorts the mail of a shared mailbox with a text classifier.\n\n"
		   "Commands:\n");
	for (const struct command *const *c = commands; *c; c++)
		fprintf(f, "  %-14s %s\n", (*c)->name, (*c)->summary);
	fprintf(f, "\n`triage COMMAND --help` describes each; see also triage(8).\n");
}

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	/* TEXTDOMAINDIR (as in gettext.sh) runs translations from a build tree */
	const char *domaindir = getenv("TEXTDOMAINDIR");
	bindtextdomain("triage", domaindir && *domaindir ? domaindir : TRIAGE_LOCALEDIR);
	textdomain("triage");
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "version")) {
		printf("triage %s\n", TRIAGE_VERSION);
		return 0;
	}
	/* The batch commands, not the daemon: it gives memory back. */
	if (strcmp(name, "run"))
		malloc_keep();
	for (const struct command *const *c = commands; *c; c++)
		if (!strcmp((*c)->name, name))
			return (*c)->run(argc - 1, argv + 1);
	cmd_fail(EX_USAGE, "unknown command '%s'", name);
	usage(stderr);
	return EX_USAGE;
}
