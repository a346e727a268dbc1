#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static struct {
	const char *ident;
	int dest;
	int min_prio;
	int opened;
} lg = { "triage", LOG_TO_STDERR, LOG_INFO, 0 };

static pthread_mutex_t lg_lock = PTHREAD_MUTEX_INITIALIZER;

void log_open(const char *ident, int dest, int min_prio)
{
	pthread_mutex_lock(&lg_lock);
	if (lg.opened)
		closelog();
	lg.ident = ident ? ident : "triage";
	lg.dest = dest;
	lg.min_prio = min_prio;
	lg.opened = 0;
	if (dest & LOG_TO_SYSLOG) {
		openlog(lg.ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
		lg.opened = 1;
	}
	pthread_mutex_unlock(&lg_lock);
}

void log_close(void)
{
	pthread_mutex_lock(&lg_lock);
	if (lg.opened)
		closelog();
	lg.opened = 0;
	pthread_mutex_unlock(&lg_lock);
}

void log_vmsg(int prio, const char *fmt, va_list ap)
{
	int saved = errno;
	if (prio > lg.min_prio) {
		errno = saved;
		return;
	}
	char line[2048];
	vsnprintf(line, sizeof line, fmt, ap);
	pthread_mutex_lock(&lg_lock);
	if (lg.dest & LOG_TO_SYSLOG)
		syslog(LOG_MAIL | prio, "%s", line);
	if (lg.dest & LOG_TO_JOURNAL)
		fprintf(stderr, "<%d>%s\n", prio & 7, line);
	if (lg.dest & LOG_TO_STDERR) {
		static const char *const names[] = { "emerg", "alert", "crit", "error",
						     "warning", "notice", "info", "debug" };
		if (prio <= LOG_WARNING)
			fprintf(stderr, "%s: %s: %s\n", lg.ident, names[prio & 7], line);
		else
			fprintf(stderr, "%s: %s\n", lg.ident, line);
	}
	pthread_mutex_unlock(&lg_lock);
	errno = saved;
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}
