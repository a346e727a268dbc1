/*
 * libFuzzer target: the model loader. Built with TRIAGE_FUZZ, which skips the
 * checksum so that mutated files reach the parser behind it; everything the
 * loader accepts is then used (a classification of a small message), so that
 * a count it let through unchecked shows up as a sanitizer report. Each input
 * is loaded three ways: copied (model_load_mem), and mapped from a file (a
 * memfd), whole and for scoring only (MODEL_SCORING): a mapped file's term
 * table and weights are used where they lie, and checked there.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "classifier/classifier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void use(struct model *m)
{
	static const char msg[] = "From: a@mairie-exemple.fr\nSubject: adhésion\n\n"
				  "Bonjour, je voudrais renouveler ma cotisation.\n";
	char err[256];
	struct clf_worker *w = clf_worker_new(m, err, sizeof err);
	if (w) {
		struct clf_result r;
		clf_classify_raw(w, msg, sizeof msg - 1, sizeof msg - 1, NULL, CLF_MAX_REASONS, &r);
		clf_worker_free(w);
	}
	for (size_t i = 0; i < model_nlabels(m); i++)
		(void)strlen(model_label(m, i));
	model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct model *m = model_load_mem(data, size, err, sizeof err);
	if (m)
		use(m);
	int fd = memfd_create("model", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		if ((m = model_load_flags(path, 0, err, sizeof err)))
			use(m);
		if ((m = model_load_flags(path, MODEL_SCORING, err, sizeof err)))
			use(m);
	}
	close(fd);
	return 0;
}
