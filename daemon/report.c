#include "daemon/report.h"

#include <string.h>

#include "common/util.h"

void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			p++;
		} else if (c < 0x20) {
			switch (c) {
			case '\n': fputs("\\n", f); break;
			case '\r': fputs("\\r", f); break;
			case '\t': fputs("\\t", f); break;
			default: fprintf(f, "\\u%04x", c);
			}
			p++;
		} else if (c < 0x80) {
			fputc(c, f);
			p++;
		} else {
			/* Copy one valid UTF-8 sequence, or replace one bad byte. */
			size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
			size_t avail = strnlen((const char *)p, k);
			if (k > 1 && avail == k && utf8_valid((const char *)p, k)) {
				fwrite(p, 1, k, f);
				p += k;
			} else {
				fputs("\\ufffd", f);
				p++;
			}
		}
	}
	fputc('"', f);
}

void report_eval_text(FILE *f, const struct eval_report *r, const char *const *labels,
		      double threshold)
{
	size_t nl = r->nlabels, w = 8;
	for (size_t c = 0; c < nl; c++)
		if (strlen(labels[c]) > w)
			w = strlen(labels[c]);
	fprintf(f, "messages %zu, accuracy %.4f, macro-F1 %.4f, calibration error (ECE) %.3f\n\n",
		r->n, r->accuracy, r->macro_f1, r->ece);
	fprintf(f, "%-*s  %9s  %6s  %6s  %7s\n", (int)w + 4, "category", "precision", "recall",
		"F1", "support");
	for (size_t c = 0; c < nl; c++)
		fprintf(f, "%2zu  %-*s  %9.3f  %6.3f  %6.3f  %7zu\n", c + 1, (int)w, labels[c],
			r->cls[c].precision, r->cls[c].recall, r->cls[c].f1, r->cls[c].support);
	fprintf(f, "\nconfusion matrix (rows: true category, columns: predicted, by number)\n");
	fprintf(f, "%-*s", (int)w + 4, "");
	for (size_t c = 0; c < nl; c++)
		fprintf(f, " %4zu", c + 1);
	fputc('\n', f);
	for (size_t t = 0; t < nl; t++) {
		fprintf(f, "%2zu  %-*s", t + 1, (int)w, labels[t]);
		for (size_t p = 0; p < nl; p++) {
			size_t v = r->confusion[t * nl + p];
			if (v)
				fprintf(f, " %4zu", v);
			else
				fprintf(f, " %4s", ".");
		}
		fputc('\n', f);
	}
	size_t unknown = r->n;
	for (size_t c = 0; c < nl; c++)
		unknown -= r->cls[c].support;
	if (unknown)
		fprintf(f, "(%zu messages of categories the model does not know, counted as errors)\n",
			unknown);
	fprintf(f, "\nprecision and coverage by confidence threshold (mail at or above it is filed,\n"
		   "the rest goes to review)\n");
	fprintf(f, "%-22s %7s %9s %10s\n", "threshold", "filed", "coverage", "precision");
	for (size_t k = 0; k < r->ncurve; k++) {
		int rec = threshold >= 0 && k == r->ncurve - 1 && r->ncurve > EVAL_NCURVE;
		char name[32];
		snprintf(name, sizeof name, "%.3f%s", r->curve[k].threshold,
			 rec ? " (recommended)" : "");
		fprintf(f, "%-22s %7zu %8.1f%% %9.1f%%\n", name, r->curve[k].filed,
			100 * r->curve[k].coverage, 100 * r->curve[k].precision);
	}
}

void report_eval_json(FILE *f, const struct eval_report *r, const char *const *labels,
		      double threshold)
{
	size_t nl = r->nlabels;
	fprintf(f, "{\"messages\":%zu,\"accuracy\":%.6f,\"macro_f1\":%.6f,\"ece\":%.6f,", r->n,
		r->accuracy, r->macro_f1, r->ece);
	fputs("\"categories\":[", f);
	for (size_t c = 0; c < nl; c++) {
		fprintf(f, "%s{\"name\":", c ? "," : "");
		json_string(f, labels[c]);
		fprintf(f, ",\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f,\"support\":%zu}",
			r->cls[c].precision, r->cls[c].recall, r->cls[c].f1, r->cls[c].support);
	}
	fputs("],\"confusion\":[", f);
	for (size_t t = 0; t < nl; t++) {
		fputs(t ? ",[" : "[", f);
		for (size_t p = 0; p < nl; p++)
			fprintf(f, "%s%zu", p ? "," : "", r->confusion[t * nl + p]);
		fputc(']', f);
	}
	fputs("],\"thresholds\":[", f);
	for (size_t k = 0; k < r->ncurve && k < EVAL_NCURVE; k++)
		fprintf(f, "%s{\"threshold\":%.4f,\"filed\":%zu,\"coverage\":%.6f,\"precision\":%.6f}",
			k ? "," : "", r->curve[k].threshold, r->curve[k].filed, r->curve[k].coverage,
			r->curve[k].precision);
	fputc(']', f);
	if (threshold >= 0 && r->ncurve > EVAL_NCURVE) {
		size_t k = r->ncurve - 1;
		fprintf(f, ",\"recommended\":{\"threshold\":%.6f,\"filed\":%zu,\"coverage\":%.6f,"
			   "\"precision\":%.6f}",
			r->curve[k].threshold, r->curve[k].filed, r->curve[k].coverage,
			r->curve[k].precision);
	}
	fputs("}\n", f);
}
