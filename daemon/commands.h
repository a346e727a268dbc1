/*
 * The triage command's subcommands. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns an exit status from sysexits.h:
 * 0 ok, 64 usage, 65 bad data, 66 missing input, 69 unavailable, 70 software,
 * 74 I/O, 75 temporary failure, 78 configuration.
 * Errors go to stderr as "triage: ...".
 */
#ifndef TRIAGE_COMMANDS_H
#define TRIAGE_COMMANDS_H

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;  /* one line for `triage --help` */
};

/* Each subcommand's file defines one; daemon/main.c lists them. */
extern const struct command command_run, command_check_config, command_train, command_cv,
	command_classify, command_eval, command_stats, command_forget, command_retrain,
	command_rollback;

/* Prints "triage: " + message + "\n" on stderr; returns status. */
int cmd_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
