#include "classifier/readbatch.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

enum { OP_OPEN = 1, OP_READ, OP_CLOSE };

/* A batch's place: its buffers, its direct descriptors (RB_FILES of them
 * from RB_FILES * its index) and the results of its requests. */
struct half {
	char *buf;              /* RB_FILES buffers of bufsz bytes */
	unsigned n;             /* files of the batch */
	unsigned pending;       /* completions still to come */
	int opened[RB_FILES];   /* each open's result: 0 or -errno */
	long got[RB_FILES];     /* each read's: bytes, or -errno */
};

struct readbatch {
	struct io_uring ring;
	size_t bufsz;
	char *mem;              /* both halves' buffers */
	struct half h[2];
	unsigned next;          /* the half rb_submit fills next */
	unsigned queued;        /* batches submitted, not yet waited for (0 to 2) */
	int cur;                /* the half rb_get reads, or -1 */
	int broken;             /* no more requests go to the kernel */
	int dead;               /* nor is it waited for: a wait failed */
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
	rb->cur = -1;
	int e = ENOMEM;
	/* 2 MB for 64 KB buffers: one huge page, not 512 faults as files land */
	if (!(rb->mem = big_alloc(2 * RB_FILES * bufsz)))
		goto fail;
	rb->h[0].buf = rb->mem;
	rb->h[1].buf = rb->mem + RB_FILES * bufsz;
	/* Three requests a file, two batches; the completion queue is twice as
	 * long. */
	if ((e = -io_uring_queue_init(2 * 3 * RB_FILES, &rb->ring, 0)) != 0)
		goto fail;
	/* The direct descriptors: files the ring opens without a place in the
	 * process's table (Linux 5.19 and later). */
	if ((e = -io_uring_register_files_sparse(&rb->ring, 2 * RB_FILES)) != 0) {
		io_uring_queue_exit(&rb->ring);
		goto fail;
	}
	return rb;
fail:
	free(rb->mem);
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
	if (!rb->h[0].pending && !rb->h[1].pending)
		free(rb->mem);
	free(rb);
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
	unsigned k = (unsigned)(d & 0xff), op = (unsigned)(d >> 8 & 0xff);
	struct half *h = &rb->h[d >> 16 & 1];
	int res = cqe->res;
	if (h->pending)
		h->pending--;
	if (k >= RB_FILES)
		return;
	if (op == OP_OPEN) {
		h->opened[k] = res > 0 ? -EBADF : res;
		/* A kernel that does not know direct descriptors opens a plain one. */
		if (res > 0) {
			close(res);
			rb->broken = 1;
		} else if (unsupported(res)) {
			rb->broken = 1;
		}
	} else if (op == OP_READ) {
		h->got[k] = res;
		if (h->opened[k] == 0 && res < 0 && unsupported(res))
			rb->broken = 1;
	}
}

int rb_submit(struct readbatch *rb, char *const *paths, unsigned n)
{
	if (rb->queued == 2) {
		errno = EBUSY;
		return -1;
	}
	unsigned hi = rb->next;
	struct half *h = &rb->h[hi];
	if (rb->cur == (int)hi)
		rb->cur = -1;
	if (n > RB_FILES)
		n = RB_FILES;
	h->n = n;
	h->pending = 0;
	for (unsigned k = 0; k < n; k++) {
		h->opened[k] = -ECANCELED;
		h->got[k] = -ECANCELED;
	}
	rb->queued++;
	rb->next ^= 1;
	if (rb->broken || n == 0)
		return 0;
	for (unsigned k = 0; k < n; k++) {
		/* open -> read, and the close whatever the read did; a failed open
		 * cancels both. Opening into a slot closes what a failed close
		 * may have left there. */
		unsigned slot = hi * RB_FILES + k;
		uint64_t tag = (uint64_t)hi << 16 | k;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&rb->ring);
		io_uring_prep_openat_direct(sqe, AT_FDCWD, paths[k], O_RDONLY | O_NOCTTY, 0, slot);
		sqe->flags |= IOSQE_IO_LINK;
		io_uring_sqe_set_data64(sqe, tag | (uint64_t)OP_OPEN << 8);
		sqe = io_uring_get_sqe(&rb->ring);
		io_uring_prep_read(sqe, (int)slot, h->buf + k * rb->bufsz, (unsigned)(rb->bufsz - 1), 0);
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
		io_uring_sqe_set_data64(sqe, tag | (uint64_t)OP_READ << 8);
		sqe = io_uring_get_sqe(&rb->ring);
		io_uring_prep_close_direct(sqe, slot);
		io_uring_sqe_set_data64(sqe, tag | (uint64_t)OP_CLOSE << 8);
	}
	int r;
	do
		r = io_uring_submit(&rb->ring);
	while (r == -EINTR);
	if (r != (int)(3 * n)) {
		/* Requests left in the queue would go with the next batch's. */
		rb->broken = 1;
		if (r <= 0)
			return 0;
	}
	h->pending = (unsigned)r;
	return 0;
}

void rb_wait(struct readbatch *rb)
{
	if (rb->queued == 0) {
		rb->cur = -1;
		return;
	}
	unsigned oldest = (rb->next + rb->queued) & 1;
	struct half *h = &rb->h[oldest];
	while (h->pending && !rb->dead) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&rb->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			/* What has not completed stays not read. */
			rb->broken = rb->dead = 1;
			break;
		}
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&rb->ring, head, cqe) {
			complete(rb, cqe);
			seen++;
		}
		io_uring_cq_advance(&rb->ring, seen);
	}
	rb->queued--;
	rb->cur = (int)oldest;
}

char *rb_get(struct readbatch *rb, unsigned k, size_t *len)
{
	if (rb->cur < 0)
		return NULL;
	struct half *h = &rb->h[rb->cur];
	if (k >= h->n || h->pending || h->opened[k] != 0 || h->got[k] < 0 ||
	    (size_t)h->got[k] >= rb->bufsz - 1)
		return NULL;
	char *p = h->buf + k * rb->bufsz;
	p[h->got[k]] = '\0';
	*len = (size_t)h->got[k];
	return p;
}
