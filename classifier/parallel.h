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

/* Threads to use when the caller asked for 0: online CPUs, at most 8. */
unsigned par_default_threads(void);

#endif
