/*
 * learn: what triage learns from the volunteers.
 *
 * A volunteer corrects triage by moving a message to the folder of the right
 * category. After each pass over the watched mailbox, learn_scan looks at the
 * folders that routes map to exactly one category: a STATUS each (cheap), and
 * only for a folder whose UIDNEXT moved, a SELECT and a FETCH of the new
 * UIDs' flags and Message-ID (UID ranges: never a whole folder again). A
 * message that arrived there is matched to triage's decision through the
 * state (the hash of its Message-ID), else through its $triage_ keyword;
 * when triage had chosen another category, or had sent it to review, it is a
 * correction: a row in the state and a reduced, redacted training example in
 * state_dir/corrections/<Category>/<key>.eml (classifier/example.h). A move to
 * any other folder (Trash, Archives, Sent...) is never looked at; a deleted
 * message is no correction.
 *
 * learn_housekeeping, at most once a day: deletes examples and state rows
 * older than learning.retention_days; with learning.keep_confirmed, keeps as
 * examples the messages still in the folder triage chose after
 * learning.confirm_after_days; logs a warning when the model is ageing.
 */
#ifndef TRIAGE_LEARN_H
#define TRIAGE_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "classifier/model.h"
#include "daemon/pipeline.h"
#include "daemon/state.h"

/* kinds of correction rows */
enum learn_kind {
	LEARN_CORRECTION = 0,  /* moved to another category's folder */
	LEARN_CONFIRMED = 1,   /* left where triage put it (keep_confirmed) */
	LEARN_CHECKED = 2,     /* looked at for confirmation, nothing kept */
};

/* Looks for corrections; leaves the watched mailbox selected. Returns 0, or
 * -1 (logged) on an IMAP or state error. Does nothing in a dry run or when
 * learning is off. */
int learn_scan(struct pipeline *p);

/* Retention, confirmations and the ageing alarm, at most once a day (force:
 * now). Returns 0, or -1 (logged). */
int learn_housekeeping(struct pipeline *p, int force);

/* The correction rate of the last days, against what the model's evaluation
 * predicts: filed = messages filed by the model, corrected = those a
 * volunteer moved to another category; expected = 1 - cross-validated
 * precision of filed mail. ageing when there is enough mail to tell and the
 * rate is more than twice expected. */
struct learn_ageing {
	uint64_t filed, corrected;
	double rate, expected;
	int enough, ageing;
};
int learn_ageing(struct state *st, const struct model *m, int days, struct learn_ageing *out);

/* Removes every state row and kept example about one sender (its address's
 * hash). *nmsg, *ncorr and *nfiles get the counts. Returns 0, or -1 (err). */
int learn_forget(struct state *st, const char *state_dir, const char *address, size_t *nmsg,
		 size_t *ncorr, size_t *nfiles, char *err, size_t errsz);

#endif
