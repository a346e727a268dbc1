/*
 * libFuzzer target: the model loader. Built with TRIAGE_FUZZ, which skips the
 * checksum so that mutated files reach the parser behind it; everything the
 * loader accepts is then used (a classification of a small message), so that
 * a count it let through unchecked shows up as a sanitizer report.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "classifier/classifier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct model *m = model_load_mem(data, size, err, sizeof err);
	if (!m)
		return 0;
	static const char msg[] = "From: a@mairie-exemple.fr\nSubject: adhésion\n\n"
				  "Bonjour, je voudrais renouveler ma cotisation.\n";
	struct clf_worker *w = clf_worker_new(m, err, sizeof err);
	if (w) {
		struct clf_result r;
		clf_classify_raw(w, msg, sizeof msg - 1, sizeof msg - 1, NULL, CLF_MAX_REASONS, &r);
		clf_worker_free(w);
	}
	for (size_t i = 0; i < model_nlabels(m); i++)
		(void)strlen(model_label(m, i));
	model_free(m);
	return 0;
}
