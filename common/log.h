/*
 * log: one logging API over syslog (facility mail, ident "triage") and stderr
 * (after OpenSMTPD's log.c). errno is preserved across every call.
 *
 * Never log a message body, a subject, an e-mail address or a password, at any
 * level: log UIDs, hashes, categories, counts and durations.
 *
 * classifier/ and config/ do not log: they return errors to their caller.
 */
#ifndef TRIAGE_LOG_H
#define TRIAGE_LOG_H

#include <stdarg.h>
#include <syslog.h>

enum {
	LOG_TO_SYSLOG = 1,  /* syslog(3), facility LOG_MAIL */
	LOG_TO_STDERR = 2,  /* "triage: message" on stderr */
	LOG_TO_JOURNAL = 4, /* "<priority>message" on stderr, which journald reads as
			       syslog priorities (a service's /dev/log may be hidden
			       by its sandbox; the unit sets the facility and ident) */
};

/* Chooses the destinations (a mask of LOG_TO_*) and the lowest priority shown
 * (LOG_INFO by default, LOG_DEBUG with --verbose). May be called again. */
void log_open(const char *ident, int dest, int min_prio);
void log_close(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
