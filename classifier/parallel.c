#include "classifier/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct par_job {
	par_fn fn;
	void *ctx;
	size_t n;
	atomic_size_t next;
};

struct par_thread {
	struct par_job *job;
	unsigned worker;
	pthread_t th;
};

static void par_run(struct par_job *job, unsigned worker)
{
	for (;;) {
		size_t i = atomic_fetch_add(&job->next, 1);
		if (i >= job->n)
			return;
		job->fn(job->ctx, worker, i);
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

int par_for(unsigned threads, size_t n, par_fn fn, void *ctx)
{
	struct par_job job = { fn, ctx, n, 0 };
	if (threads < 1)
		threads = 1;
	if (threads > n)
		threads = n ? (unsigned)n : 1;
	struct par_thread *t = threads > 1 ? calloc(threads - 1, sizeof *t) : NULL;
	unsigned started = 0;
	int r = 0;
	if (threads > 1 && !t)
		r = -1;
	for (unsigned k = 1; t && k < threads; k++) {
		t[started].job = &job;
		t[started].worker = k;
		if (pthread_create(&t[started].th, NULL, par_main, &t[started]) != 0) {
			r = -1;
			break;
		}
		started++;
	}
	par_run(&job, 0);
	for (unsigned k = 0; k < started; k++)
		pthread_join(t[k].th, NULL);
	free(t);
	return r;
}
