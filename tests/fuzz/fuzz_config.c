/*
 * libFuzzer target for the configuration loader: any bytes must give either a
 * configuration or a list of positioned errors, never a crash or a leak.
 * Relative password files are looked up in a private temporary directory
 * holding imap.password and smtp.password, so that inputs can load fully and
 * reach the rule matcher without depending on the files around the fuzzer.
 * Seeds: tests/data/config/good and bad.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const cats[] = { "Adhesion", "Evenement", "Benevolat", "Partenariat",
				    "Presse", "QuestionGenerale", "Autre" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[] = "/tmp/triage-fuzz-XXXXXX";
	static int once;
	if (!once) {
		if (!mkdtemp(dir))
			abort();
		const char *names[] = { "imap.password", "smtp.password" };
		for (size_t i = 0; i < 2; i++) {
			char path[64];
			snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || write(fd, "pw\n", 3) != 3)
				abort();
			close(fd);
		}
		setenv("CREDENTIALS_DIRECTORY", dir, 1);
		once = 1;
	}
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	/* half of the inputs without categories, to reach both route layouts */
	int with = size && (data[0] & 1);
	struct config *cfg = cfg_load_mem((const char *)data, size,
					  "/nonexistent-triage-fuzz/fuzz.yaml",
					  with ? cats : NULL, with ? 7 : 0, &errs);
	for (size_t i = 0; i < errs.n; i++)
		if (errs.v[i].line < 0 || errs.v[i].col < 0 || !errs.v[i].msg[0])
			abort();
	if (cfg) {
		const struct cfg_rule *r;
		cfg_rules_match(cfg, "a@b.example.org", "Adhésion urgente", "texte", 5, &r);
		cfg_free(cfg);
	}
	cfg_errors_release(&errs);
	return 0;
}
