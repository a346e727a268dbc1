/*
 * report: what triage prints for people and for programs: JSON strings, and
 * the evaluation report of `triage eval` and `triage cv`.
 */
#ifndef TRIAGE_REPORT_H
#define TRIAGE_REPORT_H

#include <stdio.h>

#include "classifier/classifier.h"

/* Writes s as a JSON string (quotes included), escaping as RFC 8259 asks;
 * invalid UTF-8 bytes become U+FFFD. */
void json_string(FILE *f, const char *s);

/* The evaluation report, as a table for people or one JSON object.
 * threshold < 0 when there is none to show. */
void report_eval_text(FILE *f, const struct eval_report *r, const char *const *labels,
		      double threshold);
void report_eval_json(FILE *f, const struct eval_report *r, const char *const *labels,
		      double threshold);

#endif
