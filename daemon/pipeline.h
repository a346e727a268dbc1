/*
 * pipeline: what triage does with the new mail of the watched mailbox, and how
 * it finishes what a crash interrupted.
 *
 * A batch goes: fetch (BODY.PEEK, nothing marked read) -> decide each message
 * (rules, then the model, then the threshold) -> record every decision in the
 * state, with the mailbox's last UID, in one transaction -> act, grouped:
 * keywords and \Flagged by UID set, forwards (journaled), subject tags (APPEND
 * the rewritten copy, then remove the original), moves by folder (one UID
 * MOVE per folder) -> record what was done.
 *
 * Exactly once: a decision is written before any action, so a restart never
 * decides a message again; every action is either idempotent (flags), checked
 * before it is redone (a copy already in the destination, found by
 * Message-ID, is not made twice; a message no longer in the mailbox is not
 * moved), or journaled (forwards: sent again only when a crash left it
 * unknown whether the server took it, which we prefer to losing it).
 */
#ifndef TRIAGE_PIPELINE_H
#define TRIAGE_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "classifier/classifier.h"
#include "config/config.h"
#include "daemon/imap.h"
#include "daemon/state.h"

struct pipeline {
	/* Set by the caller; borrowed. */
	const struct config *cfg;
	const struct model *model;
	struct clf_worker *worker;
	struct state *st;
	struct imap *imap;
	int dry_run;
	volatile int *stop;
	/* Kept across batches. */
	const char *mailbox;          /* the watched mailbox (UTF-8) */
	uint32_t uidvalidity;
	uint32_t last_uid;
	int keywords;                 /* the mailbox keeps custom keywords */
	double threshold;
	uint64_t filed, reviewed, left, forwarded;  /* this run's counts */
};

/*
 * Selects the mailbox, checks UIDVALIDITY against the state (first start:
 * applies the backlog setting; a change: logs it and rebinds known messages by
 * their key, so that nothing is filed twice), then finishes unfinished work.
 * Returns 0, or -1 (IMAP or state error, logged).
 */
int pipeline_open(struct pipeline *p);

/* Handles every message that arrived since the last batch. Returns 0, or -1
 * (logged); stops early, cleanly, when *p->stop is set. */
int pipeline_run(struct pipeline *p);

/* Creates the folders the configuration moves mail to (review folder included). */
int pipeline_ensure_folders(struct pipeline *p);

#endif
