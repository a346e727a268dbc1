#include "classifier/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct par_job {
	par_fn fn;           /* one index at a time, or */
	par_run_fn rfn;      /* runs of up to max indexes, */
	par_run_fn start;    /* each started a run ahead of it (or NULL) */
	void *ctx;
	size_t n, max;
	unsigned threads;
	atomic_size_t next;
};

struct par_thread {
	struct par_job *job;
	unsigned worker;
	pthread_t th;
};

/* The next run: its length (its first index in *i), or 0 when none is left. */
static size_t take_run(struct par_job *job, size_t *first)
{
	size_t i = atomic_load(&job->next), len;
	do {
		if (i >= job->n)
			return 0;
		len = par_run_len(job->n - i, job->threads, job->max);
	} while (!atomic_compare_exchange_weak(&job->next, &i, i + len));
	*first = i;
	return len;
}

static void par_run(struct par_job *job, unsigned worker)
{
	if (job->fn) {
		for (;;) {
			size_t i = atomic_fetch_add(&job->next, 1);
			if (i >= job->n)
				return;
			job->fn(job->ctx, worker, i);
		}
	}
	/* One run ahead: the next one is taken (and started) before the one
	 * held is done. */
	size_t i, len, hi = 0, hn = 0;
	for (;;) {
		len = take_run(job, &i);
		if (len && job->start)
			job->start(job->ctx, worker, i, len);
		if (hn)
			job->rfn(job->ctx, worker, hi, hn);
		if (!len)
			return;
		hi = i;
		hn = len;
	}
}

static void *par_main(void *arg)
{
	struct par_thread *t = arg;
	par_run(t->job, t->worker);
	return NULL;
}

unsigned par_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
}

/* Runs job on job->threads threads, this one among them. */
static int par_start(struct par_job *job)
{
	unsigned threads = job->threads;
	struct par_thread *t = threads > 1 ? calloc(threads - 1, sizeof *t) : NULL;
	unsigned started = 0;
	int r = 0;
	if (threads > 1 && !t)
		r = -1;
	for (unsigned k = 1; t && k < threads; k++) {
		t[started].job = job;
		t[started].worker = k;
		if (pthread_create(&t[started].th, NULL, par_main, &t[started]) != 0) {
			r = -1;
			break;
		}
		started++;
	}
	par_run(job, 0);
	for (unsigned k = 0; k < started; k++)
		pthread_join(t[k].th, NULL);
	free(t);
	return r;
}

static unsigned clamp_threads(unsigned threads, size_t n)
{
	if (threads < 1)
		threads = 1;
	if (threads > n)
		threads = n ? (unsigned)n : 1;
	return threads;
}

int par_for(unsigned threads, size_t n, par_fn fn, void *ctx)
{
	struct par_job job = { .fn = fn, .ctx = ctx, .n = n, .threads = clamp_threads(threads, n) };
	return par_start(&job);
}

int par_for_runs_ahead(unsigned threads, size_t n, size_t max, par_run_fn start, par_run_fn fn,
		       void *ctx)
{
	struct par_job job = { .rfn = fn, .start = start, .ctx = ctx, .n = n,
			       .max = max ? max : 1, .threads = clamp_threads(threads, n) };
	return par_start(&job);
}
