/*
 * parallel: run fn(ctx, worker, i) for every i in [0, n) on up to `threads`
 * threads, each taking the next index as it finishes one (so uneven tasks
 * balance). worker (0 <= worker < threads) lets fn use per-thread state.
 * Returns 0, or -1 when a thread could not be started (the work is then done
 * by the threads that did start, and by the caller).
 */
#ifndef TRIAGE_PARALLEL_H
#define TRIAGE_PARALLEL_H

#include <stddef.h>

typedef void (*par_fn)(void *ctx, unsigned worker, size_t i);

int par_for(unsigned threads, size_t n, par_fn fn, void *ctx);

/*
 * As par_for, but fn(ctx, worker, i, len) is given runs of consecutive
 * indexes [i, i + len): long ones (at most max) while much is left, shorter
 * ones towards the end (a share of what is left, at least 1), so that the
 * threads still finish together. For work that is cheaper done several
 * items at a time (reading files in batches). With start, one run ahead:
 * each thread takes its next run and calls start(ctx, worker, i, len) for
 * it before fn for the run it holds, so that work that can begin early
 * (reading the next run's files) overlaps the work on the run before.
 * start may be NULL.
 */
typedef void (*par_run_fn)(void *ctx, unsigned worker, size_t i, size_t len);

int par_for_runs_ahead(unsigned threads, size_t n, size_t max, par_run_fn start, par_run_fn fn,
		       void *ctx);

/* The length of par_for_runs_ahead's next run when left items remain: a
 * quarter of each thread's share of them, from 1 to max (for callers that hand
 * out runs themselves). */
static inline size_t par_run_len(size_t left, unsigned threads, size_t max)
{
	size_t len = left / (4 * (size_t)(threads ? threads : 1));
	return len < 1 ? 1 : len > max ? max : len;
}

/* Threads to use when the caller asked for 0: online CPUs, at most 8. */
unsigned par_default_threads(void);

#endif
