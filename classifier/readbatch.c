#include "classifier/readbatch.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

enum { OP_OPEN = 1, OP_READ, OP_CLOSE };

struct readbatch {
	struct io_uring ring;
	size_t bufsz;
	char *buf;              /* RB_FILES buffers of bufsz bytes */
	unsigned n;             /* files of the last batch */
	int broken;             /* the ring is no longer used */
	unsigned inflight;      /* requests the kernel may still complete */
	int opened[RB_FILES];   /* each open's result: 0 or -errno */
	long got[RB_FILES];     /* each read's: bytes, or -errno */
};

struct readbatch *rb_new(size_t bufsz)
{
	if (bufsz < 2 || bufsz > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}
	struct readbatch *rb = calloc(1, sizeof *rb);
	if (!rb)
		return NULL;
	rb->bufsz = bufsz;
	int e = ENOMEM;
	if (!(rb->buf = malloc(RB_FILES * bufsz)))
		goto fail;
	/* Three requests a file; the completion queue is twice as long. */
	if ((e = -io_uring_queue_init(3 * RB_FILES, &rb->ring, 0)) != 0)
		goto fail;
	/* The direct descriptors: files the ring opens without a place in the
	 * process's table (Linux 5.19 and later). */
	if ((e = -io_uring_register_files_sparse(&rb->ring, RB_FILES)) != 0) {
		io_uring_queue_exit(&rb->ring);
		goto fail;
	}
	return rb;
fail:
	free(rb->buf);
	free(rb);
	errno = e;
	return NULL;
}

void rb_free(struct readbatch *rb)
{
	if (!rb)
		return;
	io_uring_queue_exit(&rb->ring);
	/* After a failed wait the kernel may still write into the buffers. */
	if (!rb->inflight)
		free(rb->buf);
	free(rb);
}

int rb_working(const struct readbatch *rb)
{
	return !rb->broken;
}

/* An error that says the kernel does not do what is asked of it, rather
 * than something about the file. */
static int unsupported(int res)
{
	return res == -EINVAL || res == -EOPNOTSUPP || res == -EBADF;
}

static void complete(struct readbatch *rb, const struct io_uring_cqe *cqe)
{
	uint64_t d = io_uring_cqe_get_data64(cqe);
	unsigned k = (unsigned)(d & 0xff), op = (unsigned)(d >> 8);
	int res = cqe->res;
	if (k >= RB_FILES)
		return;
	if (op == OP_OPEN) {
		rb->opened[k] = res > 0 ? -EBADF : res;
		/* A kernel that does not know direct descriptors opens a plain one. */
		if (res > 0) {
			close(res);
			rb->broken = 1;
		} else if (unsupported(res)) {
			rb->broken = 1;
		}
	} else if (op == OP_READ) {
		rb->got[k] = res;
		if (rb->opened[k] == 0 && res < 0 && unsupported(res))
			rb->broken = 1;
	}
}

void rb_read(struct readbatch *rb, const char *const *paths, unsigned n)
{
	if (n > RB_FILES)
		n = RB_FILES;
	rb->n = n;
	for (unsigned k = 0; k < n; k++) {
		rb->opened[k] = -ECANCELED;
		rb->got[k] = -ECANCELED;
	}
	if (rb->broken || n == 0)
		return;
	for (unsigned k = 0; k < n; k++) {
		/* open -> read, and the close whatever the read did; a failed open
		 * cancels both. Opening into slot k closes what a failed close
		 * may have left there. */
		struct io_uring_sqe *sqe = io_uring_get_sqe(&rb->ring);
		io_uring_prep_openat_direct(sqe, AT_FDCWD, paths[k], O_RDONLY | O_NOCTTY, 0, k);
		sqe->flags |= IOSQE_IO_LINK;
		io_uring_sqe_set_data64(sqe, (uint64_t)OP_OPEN << 8 | k);
		sqe = io_uring_get_sqe(&rb->ring);
		io_uring_prep_read(sqe, (int)k, rb->buf + k * rb->bufsz, (unsigned)(rb->bufsz - 1), 0);
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
		io_uring_sqe_set_data64(sqe, (uint64_t)OP_READ << 8 | k);
		sqe = io_uring_get_sqe(&rb->ring);
		io_uring_prep_close_direct(sqe, k);
		io_uring_sqe_set_data64(sqe, (uint64_t)OP_CLOSE << 8 | k);
	}
	int r;
	do
		r = io_uring_submit_and_wait(&rb->ring, 3 * n);
	while (r == -EINTR);
	if (r != (int)(3 * n)) {
		/* Requests left in the queue would go with the next batch's. */
		rb->broken = 1;
		if (r <= 0)
			return;
	}
	rb->inflight = (unsigned)r;
	while (rb->inflight) {
		struct io_uring_cqe *cqe;
		r = io_uring_wait_cqe(&rb->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			rb->broken = 1;
			return;
		}
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&rb->ring, head, cqe) {
			complete(rb, cqe);
			seen++;
		}
		io_uring_cq_advance(&rb->ring, seen);
		rb->inflight -= seen < rb->inflight ? seen : rb->inflight;
	}
}

char *rb_get(struct readbatch *rb, unsigned k, size_t *len)
{
	if (k >= rb->n || rb->opened[k] != 0 || rb->got[k] < 0 ||
	    (size_t)rb->got[k] >= rb->bufsz - 1)
		return NULL;
	char *p = rb->buf + k * rb->bufsz;
	p[rb->got[k]] = '\0';
	*len = (size_t)rb->got[k];
	return p;
}
