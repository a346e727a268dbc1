/*
 * intl: gettext for what admins read (configuration errors, --help).
 * Messages are written in English and translated in po/ (domain "triage");
 * dgettext names the domain so that the loader is translated even in a
 * program (a test) that did not call textdomain().
 */
#ifndef TRIAGE_INTL_H
#define TRIAGE_INTL_H

#include <libintl.h>

#define TRIAGE_DOMAIN "triage"
#define _(s) dgettext(TRIAGE_DOMAIN, s)
/* Marks a string for extraction where it is translated later with _(). */
#define N_(s) (s)

#endif
