/*
 * notify: the sd_notify protocol without libsystemd (as chrony does): a
 * datagram to the Unix socket named by $NOTIFY_SOCKET. Without that variable
 * (not started by systemd) every call does nothing.
 */
#ifndef TRIAGE_NOTIFY_H
#define TRIAGE_NOTIFY_H

#include <stdint.h>

/* Sends a state string such as "READY=1", "STATUS=..." or "WATCHDOG=1". */
void notify_send(const char *state);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval asked by systemd (WATCHDOG_USEC, for this process),
 * in milliseconds, or 0 when there is no watchdog. */
uint64_t notify_watchdog_ms(void);

#endif
