/*
 * The receive loop shared by native/netlink and native/nfqueue: both read a non-blocking netlink
 * socket from a libuv poll, many datagrams per recvmmsg() call, and both must survive the kernel
 * dropping messages for them (ENOBUFS) rather than treat it as the end of the socket.
 *
 * One wakeup (pw_nl_recv_pending) reads up to `max_per_wakeup` datagrams in recvmmsg() batches of
 * `vlen`, each into its own `bufsize` slot of a buffer the caller provides per batch, and hands each
 * batch to the caller; it stops when the socket is empty, a batch comes back short, or the budget is
 * spent. ENOBUFS is counted and reading goes on; EINTR is retried; any other error ends the wakeup
 * and is reported. After EPOLLERR (libuv stops the poll on it), pw_nl_poll_error reads and clears the
 * socket's pending error (normally ENOBUFS) and restarts the poll.
 *
 * Not thread-safe: one reader per pw_nl_recv_t (NFQUEUE's watchdog thread has its own recv()).
 */
#ifndef PORTWARDEN_NL_RECV_LOOP_H
#define PORTWARDEN_NL_RECV_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct {
  int fd;
  unsigned vlen;           /* datagrams per recvmmsg(), >= 1 */
  unsigned max_per_wakeup; /* datagrams per wakeup, >= vlen */
  size_t bufsize;          /* bytes per datagram slot */
  struct mmsghdr *msgs;    /* vlen of them */
  struct iovec *iovs;      /* vlen of them */
} pw_nl_recv_t;

/* What one wakeup saw. */
typedef struct {
  unsigned datagrams; /* read, truncated ones included */
  unsigned enobufs;   /* ENOBUFS reports: the kernel dropped messages for this socket */
  int err;            /* 0, or the errno that ended the wakeup (ENOMEM when `slots` gave no room) */
} pw_nl_recv_result_t;

/* Room for `want` slots of bufsize bytes for the next batch; NULL when there is none. */
typedef uint8_t *(*pw_nl_slots_fn)(void *ctx, unsigned want);
/* One batch: datagram i is at base + i * bufsize, msgs[i].msg_len bytes, MSG_TRUNC in msg_flags if cut. */
typedef void (*pw_nl_batch_fn)(void *ctx, uint8_t *base, const struct mmsghdr *msgs, unsigned n);

/* Allocates msgs and iovs for `vlen` (clamped to >= 1; max_per_wakeup raised to >= vlen). Returns 0 or ENOMEM. */
int pw_nl_recv_init(pw_nl_recv_t *r, int fd, unsigned vlen, unsigned max_per_wakeup, size_t bufsize);
/* Frees what init allocated; idempotent. */
void pw_nl_recv_free(pw_nl_recv_t *r);
/* Reads what is queued (see above). */
pw_nl_recv_result_t pw_nl_recv_pending(pw_nl_recv_t *r, pw_nl_slots_fn slots, pw_nl_batch_fn on_batch, void *ctx);
/*
 * After a poll callback with status < 0: reads and clears the socket's error (SO_ERROR) and restarts
 * the poll with `cb`. Adds an ENOBUFS to out->enobufs, any other error to out->err. Returns 0, or the
 * negative libuv error when the poll could not be restarted (the socket is then no longer polled).
 */
int pw_nl_poll_error(uv_poll_t *poll, int fd, uv_poll_cb cb, pw_nl_recv_result_t *out);

#endif
