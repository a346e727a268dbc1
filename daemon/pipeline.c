#include "daemon/pipeline.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/compose.h"
#include "daemon/smtp.h"

#define META_MAX 5000               /* UIDs listed per cycle */
#define BATCH_MAX 100               /* messages fetched per command */
#define BATCH_BYTES ((size_t)16 << 20)
#define FORWARD_GIVE_UP (24 * 3600) /* a forward still failing after a day is dropped */
#define NREASONS 5

/* One message of a batch: what was fetched, decided and done. */
struct item {
	uint32_t uid, size;
	time_t internaldate;
	char **flags;
	size_t nflags;
	char *data;
	size_t len;
	int header_only;
	int fetched;
	struct state_msg sm;
	/* the decision, for acting */
	const struct cfg_route *route;
	const char *keyword;
	int flag;
	const char *tag;
	char *message_id;     /* for searching a copy after a crash */
	char *subject;        /* decoded, for a forward's note */
	struct clf_result res;
	int have_res;
	int postpone;         /* a forward failed for now: act again next cycle */
	int fresh;            /* decided in this batch (not recovered) */
	double ms;            /* time spent deciding */
};

static void item_release(struct item *it)
{
	for (size_t k = 0; k < it->nflags; k++)
		free(it->flags[k]);
	free(it->flags);
	free(it->data);
	free(it->message_id);
	free(it->subject);
	memset(it, 0, sizeof *it);
}

static void items_free(struct item *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		item_release(&v[i]);
	free(v);
}

static const char *imap_err_text(struct pipeline *p)
{
	return imap_error_text(p->imap);
}

/* ---- listing and fetching --------------------------------------------------- */

struct list_ctx {
	struct item *v;
	size_t n, cap;
	int oom;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int list_cb(void *ctx, const struct imap_msg *m)
{
	struct list_ctx *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct item *v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			l->oom = 1;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	struct item *it = &l->v[l->n];
	memset(it, 0, sizeof *it);
	it->uid = m->uid;
	it->size = m->size;
	it->internaldate = m->internaldate;
	if (m->nflags && !(it->flags = calloc(m->nflags, sizeof *it->flags))) {
		l->oom = 1;
		return 1;
	}
	for (size_t k = 0; k < m->nflags; k++) {
		if (!(it->flags[k] = strdup(m->flags[k]))) {
			item_release(it);
			l->oom = 1;
			return 1;
		}
		it->nflags++;
	}
	l->n++;
	return 0;
}

static int has_flag(const struct item *it, const char *flag)
{
	for (size_t k = 0; k < it->nflags; k++)
		if (!strcasecmp(it->flags[k], flag))
			return 1;
	return 0;
}

struct body_ctx {
	struct item *v;
	size_t n;
	int oom;
};

static struct item *find_item(struct item *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid].uid == uid)
			return &v[mid];
		if (v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int body_cb(void *ctx, const struct imap_msg *m)
{
	struct body_ctx *b = ctx;
	struct item *it = find_item(b->v, b->n, m->uid);
	if (!it || !m->data)
		return 0;
	free(it->data);
	if (!(it->data = malloc(m->len + 1))) {
		b->oom = 1;
		return 1;
	}
	memcpy(it->data, m->data, m->len);
	it->data[m->len] = '\0';
	it->len = m->len;
	it->header_only = m->header_only;
	it->fetched = 1;
	return 0;
}

/* Fetches the bodies of v[0..n) (sorted by UID). */
static int fetch_bodies(struct pipeline *p, struct item *v, size_t n)
{
	uint32_t *uids = malloc((n ? n : 1) * sizeof *uids);
	if (!uids)
		return -1;
	for (size_t i = 0; i < n; i++)
		uids[i] = v[i].uid;
	struct body_ctx b = { v, n, 0 };
	int r = imap_fetch_bodies(p->imap, uids, n, cfg_imap(p->cfg)->max_message_size, body_cb, &b);
	free(uids);
	if (r < 0) {
		log_err("fetching %zu messages: %s", n, imap_err_text(p));
		return -1;
	}
	if (b.oom) {
		log_err("fetching %zu messages: out of memory", n);
		return -1;
	}
	return 0;
}

/* ---- deciding -------------------------------------------------------------------- */

/* The identity of a message that survives a UIDVALIDITY change or a move:
 * its Message-ID, else a few headers and its size. */
static void message_key(const struct msg *m, uint32_t size, time_t internaldate, char *out)
{
	if (*m->message_id) {
		state_msgid_key(m->message_id, strlen(m->message_id), out);
		return;
	}
	char buf[1024];
	int n = snprintf(buf, sizeof buf, "nomid:%s\n%s\n%u\n%lld", m->from_addr, m->subject, size,
			 (long long)internaldate);
	state_hash(buf, n < 0 ? 0 : (size_t)n >= sizeof buf ? sizeof buf - 1 : (size_t)n, out);
}

static void set_str(char *dst, size_t dstsz, const char *s)
{
	snprintf(dst, dstsz, "%s", s ? s : "");
}

/* Plans the actions of a route into it. */
static void plan_route(struct pipeline *p, struct item *it, const struct cfg_route *r)
{
	it->route = r;
	if (!r)
		return;
	if (r->keyword) {
		it->keyword = r->keyword;
		it->sm.planned |= ACT_KEYWORD;
	}
	if (r->nforward)
		it->sm.planned |= ACT_FORWARD;
	/* A subject can only be rewritten when the whole message was fetched. */
	if (r->subject_tag && !it->header_only) {
		it->tag = r->subject_tag;
		it->sm.planned |= ACT_TAG;
	}
	if (r->folder) {
		set_str(it->sm.folder, sizeof it->sm.folder, r->folder);
		it->sm.planned |= ACT_MOVE;
	}
	(void)p;
}

static void plan_review(struct pipeline *p, struct item *it)
{
	it->sm.review = 1;
	set_str(it->sm.folder, sizeof it->sm.folder, cfg_review_folder(p->cfg));
	it->sm.planned |= ACT_MOVE;
}

/*
 * Decides one fetched message. Returns 0 (it->sm filled: a new row to add,
 * or status ST_SKIPPED), 1 when the message is already known (nothing to
 * record; a row of an older UIDVALIDITY still unfinished was rebound to it),
 * or -1 on a state error.
 */
static int decide(struct pipeline *p, struct item *it)
{
	double t0 = now_ms();
	struct msg_limits lim;
	msg_limits_default(&lim);
	lim.max_size = cfg_imap(p->cfg)->max_message_size;
	struct msg m;
	int degraded;
	char perr[192];
	clf_read_message(&m, it->data ? it->data : "", it->len,
			 it->header_only ? it->size : it->len, &lim, &degraded, perr, sizeof perr);
	struct state_msg *sm = &it->sm;
	memset(sm, 0, sizeof *sm);
	sm->uidvalidity = p->uidvalidity;
	sm->uid = it->uid;
	sm->size = it->size;
	sm->received = it->internaldate;
	sm->decided = time(NULL);
	sm->confidence = -1;
	message_key(&m, it->size, it->internaldate, sm->key);
	state_address_hash(m.from_addr, sm->sender);
	if (*m.message_id)
		it->message_id = strdup(m.message_id);
	it->subject = strdup(m.subject);

	struct state_msg known;
	int k = state_key_find(p->st, p->mailbox, sm->key, &known);
	if (k < 0) {
		msg_release(&m);
		log_err("%s", state_error(p->st));
		return -1;
	}
	if (k == 1) {
		msg_release(&m);
		if (known.status == ST_DECIDED && known.uidvalidity != p->uidvalidity) {
			/* Decided before a UIDVALIDITY change, not finished: it is
			 * this message now. Recovery finishes it. */
			if (state_msg_rebind(p->st, known.id, p->uidvalidity, it->uid) < 0) {
				log_err("%s", state_error(p->st));
				return -1;
			}
			log_info("uid=%u id=%.12s known from before the UIDVALIDITY change: finishing it",
				 it->uid, sm->key);
		} else {
			log_info("uid=%u id=%.12s already handled (uid %u): left alone", it->uid,
				 sm->key, known.uid);
		}
		return 1;
	}
	sm->status = ST_DECIDED;
	if (m.flags & MSG_TRIAGE) {
		/* Mail triage sent or rewrote: never again, or it would loop. */
		sm->status = ST_SKIPPED;
		set_str(sm->rule, sizeof sm->rule, "(sent by triage)");
		msg_release(&m);
		it->ms = now_ms() - t0;
		return 0;
	}
	if (has_flag(it, "\\Deleted")) {
		sm->status = ST_SKIPPED;
		set_str(sm->rule, sizeof sm->rule, "(deleted)");
		msg_release(&m);
		it->ms = now_ms() - t0;
		return 0;
	}
	if (clf_classify_msg(p->worker, &m, NREASONS, &it->res) == 0) {
		it->have_res = 1;
		set_str(sm->category, sizeof sm->category, model_label(p->model, (size_t)it->res.label));
		sm->confidence = it->res.confidence;
	}
	const struct cfg_rule *rule = NULL;
	if (cfg_rules_match(p->cfg, m.from_addr, m.subject, m.text, m.text_len, &rule) < 0)
		rule = NULL;
	if (rule) {
		set_str(sm->rule, sizeof sm->rule, rule->name);
		if (rule->flag) {
			it->flag = 1;
			sm->planned |= ACT_FLAG;
		}
	}
	if (rule && rule->action == CFG_ACTION_CATEGORY) {
		set_str(sm->category, sizeof sm->category, rule->category);
		sm->confidence = -1;
		plan_route(p, it, cfg_route(p->cfg, rule->category));
	} else if (rule && rule->action == CFG_ACTION_REVIEW) {
		plan_review(p, it);
	} else if (rule && rule->action == CFG_ACTION_NONE) {
		/* Left in the mailbox untouched (only the flag, if the rule sets it). */
	} else if (degraded || !it->have_res) {
		if (degraded)
			log_notice("uid=%u id=%.12s cannot be read whole (%s): to review", it->uid,
				   sm->key, perr);
		plan_review(p, it);
	} else if (it->res.confidence >= p->threshold) {
		plan_route(p, it, cfg_route(p->cfg, sm->category));
	} else {
		plan_review(p, it);
	}
	if (!p->keywords && (sm->planned & ACT_KEYWORD)) {
		/* The mailbox does not keep custom keywords: nothing to set. */
		sm->planned &= ~(unsigned)ACT_KEYWORD;
		it->keyword = NULL;
	}
	if (sm->planned == 0)
		sm->status = ST_DONE;
	msg_release(&m);
	it->fresh = 1;
	it->ms = now_ms() - t0;
	return 0;
}

/* ---- acting --------------------------------------------------------------------- */

static const char *zone_fr(char kind)
{
	switch (kind) {
	case 'b': return "corps";
	case 'q': return "citation";
	case 'f': return "message transféré";
	case 'g': return "signature";
	case 'x': return "mention légale";
	case 's': return "objet";
	case 'd': return "domaine de l'expéditeur";
	case 'u': return "lien";
	case 'a': return "pièce jointe";
	case 'h': return "en-tête";
	default: return "autre";
	}
}

/* The domain part of an address, for generated Message-IDs. */
static const char *domain_of(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	return at && at[1] ? at + 1 : "localhost";
}

/* Sends the forwards of one message. Returns 0 when every one is sent (or
 * given up), 1 when one failed for now (postponed), -1 on a state error. */
static int forward_one(struct pipeline *p, struct item *it)
{
	const struct cfg_route *r = it->route;
	const struct cfg_smtp *sc = cfg_smtp(p->cfg);
	if (!r || !r->nforward)
		return 0;
	if (!it->fetched || !it->data || it->header_only) {
		/* An oversized message is never forwarded whole. */
		log_warn("uid=%u id=%.12s too large to forward: not forwarded", it->uid, it->sm.key);
		return 0;
	}
	int st = state_forward_get(p->st, it->sm.id, r->category);
	if (st == FWD_SENT || st == FWD_FAILED)
		return 0;
	if (!sc) {
		log_err("uid=%u: route %s forwards but there is no smtp section", it->uid, r->category);
		return 0;
	}
	/* Journal first: a crash between here and "sent" means sending again. */
	if (state_forward_set(p->st, it->sm.id, r->category, FWD_PENDING) < 0) {
		log_err("%s", state_error(p->st));
		return -1;
	}
	char reasons_buf[CLF_MAX_REASONS][MODEL_MAX_TERM_LEN + 64];
	const char *reasons[CLF_MAX_REASONS];
	size_t nr = 0;
	for (size_t k = 0; it->have_res && k < it->res.nreasons && k < NREASONS; k++) {
		snprintf(reasons_buf[nr], sizeof reasons_buf[nr], "%s (%s)", it->res.reasons[k].term,
			 zone_fr(it->res.reasons[k].kind));
		reasons[nr] = reasons_buf[nr];
		nr++;
	}
	struct fwd_note note = {
		.category = r->folder ? r->folder : r->category,
		.confidence = it->sm.confidence,
		.rule = *it->sm.rule ? it->sm.rule : NULL,
		.reasons = nr ? reasons : NULL,
		.nreasons = nr,
		.subject = it->subject ? it->subject : "",
	};
	struct fwd_env env = { sc->from, r->forward, r->nforward, time(NULL), domain_of(sc->from) };
	char err[512];
	size_t len;
	char *out = r->forward_mode == CFG_FWD_REDIRECT
			    ? compose_redirect(&env, it->data, it->len, &len, err, sizeof err)
			    : compose_forward(&env, &note, it->data, it->len, &len, err, sizeof err);
	if (!out) {
		log_err("uid=%u id=%.12s cannot compose the forward: %s", it->uid, it->sm.key, err);
		state_forward_set(p->st, it->sm.id, r->category, FWD_FAILED);
		return 0;
	}
	struct smtp_opts so = {
		.url = sc->url,
		.tls = sc->tls == CFG_TLS_IMPLICIT ? SMTP_TLS_IMPLICIT
		       : sc->tls == CFG_TLS_STARTTLS ? SMTP_TLS_STARTTLS : SMTP_TLS_NONE,
		.ca_file = sc->ca_file,
		.system_ca = 1,
		.username = sc->username,
		.password = sc->password,
		.from = sc->from,
		.timeout_s = 60,
	};
	int temporary = 0;
	int r2 = smtp_send(&so, r->forward, r->nforward, out, len, &temporary, err, sizeof err);
	free(out);
	if (r2 == 0) {
		if (state_forward_set(p->st, it->sm.id, r->category, FWD_SENT) < 0) {
			log_err("%s", state_error(p->st));
			return -1;
		}
		p->forwarded++;
		return 0;
	}
	if (temporary && time(NULL) - it->sm.decided < FORWARD_GIVE_UP) {
		log_warn("uid=%u id=%.12s forward to %zu recipient(s) failed, will retry: %s", it->uid,
			 it->sm.key, r->nforward, err);
		return 1;
	}
	log_err("uid=%u id=%.12s forward to %zu recipient(s) failed for good: %s", it->uid,
		it->sm.key, r->nforward, err);
	state_forward_set(p->st, it->sm.id, r->category, FWD_FAILED);
	return 0;
}

/* The flags a tagged copy is appended with: the original's, without those the
 * server sets itself, plus the keyword and \Flagged when planned. */
static size_t append_flags(struct item *it, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t k = 0; k < it->nflags && n + 2 < max; k++)
		if (strcasecmp(it->flags[k], "\\Recent") && strcasecmp(it->flags[k], "\\Deleted"))
			out[n++] = it->flags[k];
	if (it->keyword && !has_flag(it, it->keyword))
		out[n++] = it->keyword;
	if (it->flag && !has_flag(it, "\\Flagged"))
		out[n++] = "\\Flagged";
	return n;
}

/* Removes the original of a message whose copy is safely elsewhere: \Deleted
 * and UID EXPUNGE of that UID only (never a bare EXPUNGE). */
static int remove_original(struct pipeline *p, uint32_t uid)
{
	const char *del = "\\Deleted";
	if (imap_store_flags(p->imap, &uid, 1, &del, 1, 1) < 0)
		return -1;
	if (imap_caps(p->imap) & IMAP_CAP_UIDPLUS)
		return imap_expunge_uids(p->imap, &uid, 1);
	/* Without UIDPLUS the original stays flagged \Deleted, to be expunged by a
	 * mail client: expunging everything would take volunteers' deletions too. */
	return 0;
}

/* Subject tag: APPEND the rewritten copy where the message goes, record it,
 * then remove the original. Returns 0, -1 (IMAP error, logged). */
static int tag_one(struct pipeline *p, struct item *it)
{
	const char *dest = *it->sm.folder ? it->sm.folder : p->mailbox;
	if (!it->sm.tagged_uid) {
		char err[256];
		size_t len;
		char *out = compose_tag_subject(it->data, it->len, it->tag, it->sm.category, &len, err,
						sizeof err);
		if (!out) {
			log_err("uid=%u id=%.12s cannot tag the subject: %s; filed without the tag",
				it->uid, it->sm.key, err);
			it->sm.done |= ACT_TAG;
			return 0;
		}
		const char *flags[64];
		size_t nf = append_flags(it, flags, 64);
		uint32_t nu = 0;
		int r = imap_append(p->imap, dest, out, len, flags, nf, it->internaldate, &nu);
		free(out);
		if (r < 0) {
			log_err("uid=%u id=%.12s appending the tagged copy: %s", it->uid, it->sm.key,
				imap_err_text(p));
			return -1;
		}
		fault_point("appended");
		it->sm.tagged_uid = nu ? nu : UINT32_MAX;  /* appended, UID unknown */
		/* Recorded before the original goes: a crash now must not append again. */
		if (state_begin(p->st) < 0 || state_msg_update(p->st, &it->sm) < 0 ||
		    state_commit(p->st) < 0) {
			state_rollback(p->st);
			log_err("%s", state_error(p->st));
			return -1;
		}
	}
	if (remove_original(p, it->uid) < 0) {
		log_err("uid=%u id=%.12s removing the original after tagging: %s", it->uid, it->sm.key,
			imap_err_text(p));
		return -1;
	}
	it->sm.done |= ACT_TAG | (it->sm.planned & (ACT_MOVE | ACT_KEYWORD | ACT_FLAG));
	if (it->sm.tagged_uid != UINT32_MAX && *it->sm.folder)
		it->sm.dest_uid = it->sm.tagged_uid;
	return 0;
}

/* Stores a flag or keyword on every item that plans it and has not done it. */
static int store_group(struct pipeline *p, struct item **v, size_t n, unsigned act,
		       const char *flag)
{
	uint32_t *uids = malloc((n ? n : 1) * sizeof *uids);
	struct item **who = malloc((n ? n : 1) * sizeof *who);
	size_t k = 0;
	int r = 0;
	if (!uids || !who) {
		r = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct item *it = v[i];
		const char *f = act == ACT_FLAG ? "\\Flagged" : it->keyword;
		if ((it->sm.planned & act) && !(it->sm.done & act) && f && !strcmp(f, flag)) {
			uids[k] = it->uid;
			who[k++] = it;
		}
	}
	if (k) {
		if (imap_store_flags(p->imap, uids, k, &flag, 1, 1) < 0) {
			log_err("setting %s on %zu messages: %s", flag, k, imap_err_text(p));
			r = -1;
			goto out;
		}
		for (size_t i = 0; i < k; i++)
			who[i]->sm.done |= act;
	}
out:
	free(uids);
	free(who);
	return r;
}

/* Search criteria finding a copy of it in another folder. */
static void copy_criteria(const struct item *it, int tagged, char *out, size_t outsz)
{
	const char *mid = it->message_id;
	int quotable = mid && *mid && strlen(mid) < 900;
	for (const char *c = mid; quotable && *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			quotable = 0;
	char when[32] = "";
	if (it->internaldate) {
		struct tm tm;
		static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
						   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
		gmtime_r(&it->internaldate, &tm);
		snprintf(when, sizeof when, "SINCE %d-%s-%d ", tm.tm_mday > 1 ? tm.tm_mday - 1 : 1,
			 mon[tm.tm_mon], tm.tm_year + 1900);
	}
	if (quotable)
		snprintf(out, outsz, "%sHEADER Message-ID \"<%s>\"", tagged ? "HEADER X-Triage-Tagged \"\" " : "", mid);
	else
		/* No usable Message-ID: same size, from about the same day. */
		snprintf(out, outsz, "%s%sLARGER %u SMALLER %u", tagged ? "HEADER X-Triage-Tagged \"\" " : "",
			 when, it->size > 0 ? it->size - 1 : 0, it->size + 1);
}

/* Whether folder already holds a copy of it (1), not (0), or -1. Leaves the
 * watched mailbox selected again. */
static int copy_exists(struct pipeline *p, const struct item *it, const char *folder, int tagged)
{
	char crit[1100];
	struct imap_mailbox info;
	copy_criteria(it, tagged, crit, sizeof crit);
	if (imap_select(p->imap, folder, &info) < 0)
		return imap_error(p->imap) == IMAP_ERR_NO ? 0 : -1;
	uint32_t *uids = NULL;
	size_t n = 0;
	int r = imap_search(p->imap, crit, &uids, &n);
	free(uids);
	if (imap_select(p->imap, p->mailbox, &info) < 0)
		return -1;
	if (info.uidvalidity != p->uidvalidity) {
		log_warn("UIDVALIDITY of %s changed during recovery", p->mailbox);
		return -1;
	}
	return r < 0 ? -1 : n > 0;
}

static int move_group(struct pipeline *p, struct item **v, size_t n, const char *folder)
{
	uint32_t *uids = malloc((n ? n : 1) * sizeof *uids), *dest = malloc((n ? n : 1) * sizeof *dest);
	struct item **who = malloc((n ? n : 1) * sizeof *who);
	size_t k = 0;
	int r = 0;
	if (!uids || !dest || !who) {
		r = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct item *it = v[i];
		if ((it->sm.planned & ACT_MOVE) && !(it->sm.done & ACT_MOVE) && !it->postpone &&
		    !strcmp(it->sm.folder, folder)) {
			uids[k] = it->uid;
			who[k++] = it;
		}
	}
	if (!k)
		goto out;
	if (imap_move(p->imap, uids, k, folder, dest) < 0) {
		log_err("moving %zu messages to %s: %s", k, folder, imap_err_text(p));
		r = -1;
		goto out;
	}
	for (size_t i = 0; i < k; i++) {
		who[i]->sm.done |= ACT_MOVE;
		who[i]->sm.dest_uid = dest[i];
	}
out:
	free(uids);
	free(dest);
	free(who);
	return r;
}

static const char *describe(const struct item *it, char *buf, size_t bufsz)
{
	const struct state_msg *sm = &it->sm;
	if (sm->status == ST_SKIPPED)
		return sm->rule;
	if (sm->planned == 0)
		return "leave";
	snprintf(buf, bufsz, "%s%s%s%s%s", sm->review ? "review" : (sm->planned & ACT_MOVE) ? "move" : "stay",
		 (sm->planned & ACT_KEYWORD) ? "+keyword" : "", (sm->planned & ACT_FLAG) ? "+flag" : "",
		 (sm->planned & ACT_TAG) ? "+tag" : "", (sm->planned & ACT_FORWARD) ? "+forward" : "");
	return buf;
}

/*
 * Does the planned actions of the items that are not done. An IMAP error
 * stops the batch (the connection may be gone); what was done is recorded
 * either way. Returns 0 or -1.
 */
static int act(struct pipeline *p, struct item **v, size_t n)
{
	int r = 0;
	double t0 = now_ms();
	if (p->dry_run) {
		for (size_t i = 0; i < n; i++)
			if (v[i]->sm.status == ST_DECIDED)
				v[i]->sm.status = ST_DONE;
		goto record;
	}
	/* Flags first: they travel with the message when it moves. */
	for (size_t i = 0; i < n && r == 0; i++) {
		if (v[i]->keyword && !(v[i]->sm.done & ACT_KEYWORD))
			r = store_group(p, v, n, ACT_KEYWORD, v[i]->keyword);
		if (r == 0 && v[i]->flag && !(v[i]->sm.done & ACT_FLAG))
			r = store_group(p, v, n, ACT_FLAG, "\\Flagged");
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		struct item *it = v[i];
		if ((it->sm.planned & ACT_FORWARD) && !(it->sm.done & ACT_FORWARD)) {
			int f = forward_one(p, it);
			if (f < 0)
				r = -1;
			else if (f == 1)
				it->postpone = 1;
			else
				it->sm.done |= ACT_FORWARD;
		}
	}
	for (size_t i = 0; i < n && r == 0 && !*p->stop; i++) {
		struct item *it = v[i];
		if ((it->sm.planned & ACT_TAG) && !(it->sm.done & ACT_TAG) && !it->postpone)
			r = tag_one(p, it);
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		struct item *it = v[i];
		if ((it->sm.planned & ACT_MOVE) && !(it->sm.done & ACT_MOVE) && !it->postpone) {
			/* one UID MOVE per folder */
			int first = 1;
			for (size_t j = 0; j < i; j++)
				if (!strcmp(v[j]->sm.folder, it->sm.folder) && (v[j]->sm.planned & ACT_MOVE))
					first = 0;
			if (first)
				r = move_group(p, v, n, it->sm.folder);
		}
	}
record:;
	fault_point("acted");
	double per = n ? (now_ms() - t0) / (double)n : 0;
	if (state_begin(p->st) < 0) {
		log_err("%s", state_error(p->st));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct item *it = v[i];
		if (it->sm.status == ST_DECIDED && (it->sm.done & it->sm.planned) == it->sm.planned)
			it->sm.status = ST_DONE;
		if (state_msg_update(p->st, &it->sm) < 0) {
			log_err("%s", state_error(p->st));
			state_rollback(p->st);
			return -1;
		}
	}
	if (state_commit(p->st) < 0) {
		log_err("%s", state_error(p->st));
		state_rollback(p->st);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct item *it = v[i];
		char buf[96];
		if (it->sm.status == ST_DONE) {
			if (it->sm.review)
				p->reviewed++;
			else if (it->sm.planned & ACT_MOVE)
				p->filed++;
			else
				p->left++;
		}
		if (!it->fresh && it->sm.status != ST_DONE)
			continue;
		log_info("uid=%u id=%.12s category=%s confidence=%.3f%s%s action=%s%s%s%s ms=%.1f",
			 it->uid, it->sm.key, *it->sm.category ? it->sm.category : "-",
			 it->sm.confidence < 0 ? 0.0 : it->sm.confidence, *it->sm.rule ? " rule=" : "",
			 it->sm.rule, describe(it, buf, sizeof buf), *it->sm.folder ? " folder=" : "",
			 it->sm.folder, it->sm.status == ST_DONE ? "" : " (unfinished)",
			 it->ms + per);
	}
	return r;
}

/* ---- a batch ------------------------------------------------------------------ */

/* Decides and acts on v[0..n) (fetched). */
static int run_batch(struct pipeline *p, struct item *v, size_t n)
{
	struct item **todo = malloc((n ? n : 1) * sizeof *todo);
	size_t nt = 0;
	int r = 0;
	if (!todo)
		return -1;
	uint32_t max_uid = p->last_uid;
	if (state_begin(p->st) < 0) {
		log_err("%s", state_error(p->st));
		free(todo);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct item *it = &v[i];
		if (it->uid > max_uid)
			max_uid = it->uid;
		if (!it->fetched)
			continue;  /* vanished between listing and fetching */
		int d = decide(p, it);
		if (d < 0) {
			r = -1;
			break;
		}
		if (d == 1)
			continue;
		if (state_msg_add(p->st, p->mailbox, &it->sm) < 0) {
			log_err("%s", state_error(p->st));
			r = -1;
			break;
		}
		if (it->sm.status == ST_DECIDED || it->sm.status == ST_DONE)
			todo[nt++] = it;
		else
			log_info("uid=%u id=%.12s skipped: %s", it->uid, it->sm.key, it->sm.rule);
	}
	if (r == 0 && state_mailbox_set(p->st, p->mailbox, p->uidvalidity, max_uid) < 0) {
		log_err("%s", state_error(p->st));
		r = -1;
	}
	/* Every decision is durable before the first action. */
	if (r == 0 && state_commit(p->st) < 0) {
		log_err("%s", state_error(p->st));
		r = -1;
	}
	if (r < 0) {
		state_rollback(p->st);
		free(todo);
		return -1;
	}
	p->last_uid = max_uid;
	fault_point("decided");
	r = act(p, todo, nt);
	free(todo);
	return r;
}

int pipeline_run(struct pipeline *p)
{
	struct list_ctx l = { 0 };
	if (imap_fetch_meta(p->imap, p->last_uid, META_MAX, 0, 0, list_cb, &l) < 0) {
		log_err("listing new mail in %s: %s", p->mailbox, imap_err_text(p));
		items_free(l.v, l.n);
		return -1;
	}
	if (l.oom) {
		items_free(l.v, l.n);
		log_err("listing new mail: out of memory");
		return -1;
	}
	int r = 0;
	size_t i = 0;
	while (i < l.n && r == 0 && !*p->stop) {
		/* A batch: up to BATCH_MAX messages and BATCH_BYTES of them. */
		size_t j = i, bytes = 0;
		size_t cap = cfg_imap(p->cfg)->max_message_size;
		while (j < l.n && j - i < BATCH_MAX) {
			size_t sz = l.v[j].size > cap ? 65536 : l.v[j].size;
			if (j > i && bytes + sz > BATCH_BYTES)
				break;
			bytes += sz;
			j++;
		}
		r = fetch_bodies(p, l.v + i, j - i);
		if (r == 0)
			r = run_batch(p, l.v + i, j - i);
		for (size_t k = i; k < j; k++) {
			free(l.v[k].data);
			l.v[k].data = NULL;
		}
		i = j;
	}
	items_free(l.v, l.n);
	return r;
}

/* ---- opening: UIDVALIDITY, backlog, recovery ------------------------------------- */

struct recover_ctx {
	struct item *v;
	size_t n, cap;
	int oom;
};

static int recover_cb(void *ctx, const struct state_msg *m)
{
	struct recover_ctx *rc = ctx;
	if (rc->n == rc->cap) {
		size_t cap = rc->cap ? rc->cap * 2 : 16;
		struct item *v = realloc(rc->v, cap * sizeof *v);
		if (!v) {
			rc->oom = 1;
			return 1;
		}
		rc->v = v;
		rc->cap = cap;
	}
	struct item *it = &rc->v[rc->n++];
	memset(it, 0, sizeof *it);
	it->uid = m->uid;
	it->size = m->size;
	it->internaldate = m->received;
	it->sm = *m;
	return 0;
}

/* Rebuilds what acting needs (route, keyword, tag, result) for a recovered row
 * whose message was fetched again. */
static void replan(struct pipeline *p, struct item *it)
{
	struct msg_limits lim;
	msg_limits_default(&lim);
	lim.max_size = cfg_imap(p->cfg)->max_message_size;
	struct msg m;
	int degraded;
	char perr[192];
	clf_read_message(&m, it->data, it->len, it->header_only ? it->size : it->len, &lim,
			 &degraded, perr, sizeof perr);
	if (*m.message_id)
		it->message_id = strdup(m.message_id);
	it->subject = strdup(m.subject);
	if ((it->sm.planned & ACT_FORWARD) && clf_classify_msg(p->worker, &m, NREASONS, &it->res) == 0)
		it->have_res = 1;
	msg_release(&m);
	const struct cfg_route *r = it->sm.review ? NULL : cfg_route(p->cfg, it->sm.category);
	it->route = r;
	it->keyword = r ? r->keyword : NULL;
	it->tag = r ? r->subject_tag : NULL;
	it->flag = (it->sm.planned & ACT_FLAG) != 0;
	if (!it->tag)
		it->sm.planned &= ~(unsigned)ACT_TAG;  /* the tag was removed from the config */
	if ((it->sm.planned & ACT_FORWARD) && (!r || !r->nforward))
		it->sm.planned &= ~(unsigned)ACT_FORWARD;
}

/* Finishes the work a crash or a dropped connection left undone. */
static int recover(struct pipeline *p)
{
	struct recover_ctx rc = { 0 };
	if (state_unfinished(p->st, p->mailbox, p->uidvalidity, recover_cb, &rc) < 0 || rc.oom) {
		log_err("%s", rc.oom ? "out of memory" : state_error(p->st));
		items_free(rc.v, rc.n);
		return -1;
	}
	if (rc.n == 0)
		return 0;
	log_notice("%zu messages have unfinished actions: finishing them", rc.n);
	int r = 0;
	/* Which are still in the mailbox? */
	char *crit = malloc(16 + rc.n * 11);
	if (!crit) {
		items_free(rc.v, rc.n);
		return -1;
	}
	size_t o = (size_t)sprintf(crit, "UID ");
	for (size_t i = 0; i < rc.n; i++)
		o += (size_t)sprintf(crit + o, "%s%u", i ? "," : "", rc.v[i].uid);
	uint32_t *present = NULL;
	size_t np = 0;
	if (imap_search(p->imap, crit, &present, &np) < 0) {
		log_err("looking for unfinished messages: %s", imap_err_text(p));
		free(crit);
		items_free(rc.v, rc.n);
		return -1;
	}
	free(crit);
	struct item **todo = malloc(rc.n * sizeof *todo);
	size_t nt = 0;
	if (!todo)
		r = -1;
	for (size_t i = 0; i < rc.n && r == 0; i++) {
		struct item *it = &rc.v[i];
		int here = 0;
		for (size_t k = 0; k < np; k++)
			here |= present[k] == it->uid;
		if (!here) {
			/* Moved before the crash was recorded, or by a volunteer. */
			it->sm.status = (it->sm.planned & ~it->sm.done & (ACT_MOVE | ACT_TAG)) ? ST_DONE : ST_GONE;
			it->sm.done = it->sm.planned;
			if (state_msg_update(p->st, &it->sm) < 0)
				r = -1;
			log_info("uid=%u id=%.12s no longer in %s: nothing left to do", it->uid,
				 it->sm.key, p->mailbox);
			continue;
		}
		todo[nt++] = it;
	}
	free(present);
	/* Fetch them again (their bodies serve forwards and tags). */
	if (r == 0 && nt) {
		struct item *v = malloc(nt * sizeof *v);
		if (!v) {
			r = -1;
		} else {
			for (size_t i = 0; i < nt; i++)
				v[i] = *todo[i];
			/* flags and internal dates, in as few commands as possible */
			struct list_ctx l = { 0 };
			uint32_t *uids = malloc(nt * sizeof *uids);
			if (!uids) {
				r = -1;
			} else {
				for (size_t i = 0; i < nt; i++)
					uids[i] = v[i].uid;
				qsort(uids, nt, sizeof *uids, cmp_u32);
				if (imap_fetch_meta_uids(p->imap, uids, nt, 0, list_cb, &l) < 0)
					r = -1;
				free(uids);
			}
			for (size_t i = 0; i < nt && r == 0; i++) {
				for (size_t k = 0; k < l.n; k++) {
					if (l.v[k].uid != v[i].uid || !l.v[k].flags)
						continue;
					v[i].flags = l.v[k].flags;
					v[i].nflags = l.v[k].nflags;
					l.v[k].flags = NULL;
					l.v[k].nflags = 0;
					break;
				}
			}
			items_free(l.v, l.n);
			if (r == 0)
				r = fetch_bodies(p, v, nt);
			for (size_t i = 0; i < nt && r == 0; i++) {
				struct item *it = &v[i];
				todo[i] = it;
				if (!it->fetched)
					continue;
				replan(p, it);
				int copy_path = !(imap_caps(p->imap) & IMAP_CAP_MOVE);
				if ((it->sm.planned & ACT_TAG) && !(it->sm.done & ACT_TAG) && !it->sm.tagged_uid) {
					/* Was the tagged copy appended before the crash? */
					int e = copy_exists(p, it, *it->sm.folder ? it->sm.folder : p->mailbox, 1);
					if (e < 0)
						r = -1;
					else if (e == 1)
						it->sm.tagged_uid = UINT32_MAX;
				} else if ((it->sm.planned & ACT_MOVE) && !(it->sm.done & ACT_MOVE) && copy_path) {
					/* Without MOVE a crash may fall between COPY and EXPUNGE. */
					int e = copy_exists(p, it, it->sm.folder, 0);
					if (e < 0) {
						r = -1;
					} else if (e == 1) {
						if (remove_original(p, it->uid) < 0)
							r = -1;
						else
							it->sm.done |= ACT_MOVE;
					}
				}
			}
			if (r == 0)
				r = act(p, todo, nt);
			for (size_t i = 0; i < nt; i++)
				item_release(&v[i]);
			free(v);
			/* the originals in rc.v were copied into v and released there */
			for (size_t i = 0; i < rc.n; i++) {
				rc.v[i].flags = NULL;
				rc.v[i].nflags = 0;
			}
		}
	}
	free(todo);
	items_free(rc.v, rc.n);
	return r;
}

struct backlog_ctx {
	struct pipeline *p;
	uint32_t *since;   /* UIDs the backlog keeps (sorted), or NULL: none */
	size_t nsince;
	int all;
	int err;
	size_t left;
};

static int backlog_cb(void *ctx, const struct imap_msg *m)
{
	struct backlog_ctx *b = ctx;
	if (b->all)
		return 0;
	for (size_t k = 0; k < b->nsince; k++)
		if (b->since[k] == m->uid)
			return 0;
	/* Recorded as left alone, so that a later UIDVALIDITY change does not
	 * make it look new. */
	struct state_msg sm = { 0 };
	/* The same key as message_key() gives, for the message as parsed. */
	if (state_msgid_header_key(m->message_id, sm.key) < 0) {
		char buf[64];
		int n = snprintf(buf, sizeof buf, "nomid-backlog:%u:%lld", m->size,
				 (long long)m->internaldate);
		state_hash(buf, (size_t)n, sm.key);
	}
	sm.uidvalidity = b->p->uidvalidity;
	sm.uid = m->uid;
	sm.size = m->size;
	sm.received = m->internaldate;
	sm.decided = time(NULL);
	sm.confidence = -1;
	sm.status = ST_BACKLOG;
	if (state_msg_add(b->p->st, b->p->mailbox, &sm) < 0) {
		b->err = 1;
		return 1;
	}
	b->left++;
	return 0;
}

/* First start: what to do with the mail already there. */
static int first_start(struct pipeline *p, const struct imap_mailbox *info)
{
	unsigned days = 0;
	enum cfg_backlog bl = cfg_backlog(p->cfg, &days);
	struct backlog_ctx b = { .p = p, .all = bl == CFG_BACKLOG_ALL };
	if (bl == CFG_BACKLOG_DAYS) {
		char crit[64];
		time_t since = time(NULL) - (time_t)days * 86400;
		struct tm tm;
		static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
						   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
		gmtime_r(&since, &tm);
		snprintf(crit, sizeof crit, "SINCE %d-%s-%d", tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900);
		if (imap_search(p->imap, crit, &b.since, &b.nsince) < 0) {
			log_err("backlog: %s", imap_err_text(p));
			return -1;
		}
	}
	if (state_begin(p->st) < 0) {
		free(b.since);
		return -1;
	}
	int r = 0;
	if (!b.all && info->exists > 0)
		r = imap_fetch_meta(p->imap, 0, (size_t)info->exists + 1000, 1, 0, backlog_cb, &b);
	if (r < 0 || b.err) {
		log_err("backlog: %s", b.err ? state_error(p->st) : imap_err_text(p));
		state_rollback(p->st);
		free(b.since);
		return -1;
	}
	if (state_mailbox_set(p->st, p->mailbox, info->uidvalidity, 0) < 0 ||
	    state_commit(p->st) < 0) {
		log_err("%s", state_error(p->st));
		state_rollback(p->st);
		free(b.since);
		return -1;
	}
	free(b.since);
	if (b.all)
		log_notice("first start: the %u messages already in %s will be sorted (backlog: all)",
			   info->exists, p->mailbox);
	else
		log_notice("first start: %zu messages already in %s are left alone%s", b.left,
			   p->mailbox, bl == CFG_BACKLOG_DAYS ? " (older than the backlog window)" : " (backlog: none)");
	p->last_uid = 0;
	return 0;
}

int pipeline_open(struct pipeline *p)
{
	struct imap_mailbox info;
	if (imap_select(p->imap, p->mailbox, &info) < 0) {
		log_err("selecting %s: %s", p->mailbox, imap_err_text(p));
		return -1;
	}
	p->keywords = info.keywords;
	p->uidvalidity = info.uidvalidity;
	uint32_t uv, last;
	int known = state_mailbox_get(p->st, p->mailbox, &uv, &last);
	if (known < 0) {
		log_err("%s", state_error(p->st));
		return -1;
	}
	if (!known)
		return first_start(p, &info) < 0 ? -1 : recover(p);
	if (uv != info.uidvalidity) {
		/* Every UID changed meaning. Messages are known by their key: those
		 * already handled are left alone; unfinished ones are rebound when
		 * seen (decide()) and finished. */
		log_warn("UIDVALIDITY of %s changed (%u -> %u): re-reading the mailbox, matching "
			 "messages by Message-ID so that none is filed twice",
			 p->mailbox, uv, info.uidvalidity);
		if (state_mailbox_set(p->st, p->mailbox, info.uidvalidity, 0) < 0) {
			log_err("%s", state_error(p->st));
			return -1;
		}
		last = 0;
	}
	p->last_uid = last;
	return recover(p);
}

int pipeline_ensure_folders(struct pipeline *p)
{
	if (p->dry_run)
		return 0;
	const char *review = cfg_review_folder(p->cfg);
	if (imap_ensure_folder(p->imap, review) < 0) {
		log_err("creating the folder %s: %s", review, imap_err_text(p));
		return -1;
	}
	for (size_t i = 0; i < cfg_nroutes(p->cfg); i++) {
		const struct cfg_route *r = cfg_route_at(p->cfg, i);
		if (r->folder && imap_ensure_folder(p->imap, r->folder) < 0) {
			log_err("creating the folder %s: %s", r->folder, imap_err_text(p));
			return -1;
		}
	}
	return 0;
}
