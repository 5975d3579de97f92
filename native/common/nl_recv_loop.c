/* The netlink receive loop shared by native/netlink and native/nfqueue; see nl_recv_loop.h. */
#include "nl_recv_loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pw_nl_recv_init(pw_nl_recv_t *r, int fd, unsigned vlen, unsigned max_per_wakeup, size_t bufsize) {
  if (vlen == 0) vlen = 1;
  if (max_per_wakeup < vlen) max_per_wakeup = vlen;
  r->fd = fd;
  r->vlen = vlen;
  r->max_per_wakeup = max_per_wakeup;
  r->bufsize = bufsize;
  r->msgs = calloc(vlen, sizeof *r->msgs);
  r->iovs = calloc(vlen, sizeof *r->iovs);
  if (r->msgs == NULL || r->iovs == NULL) {
    pw_nl_recv_free(r);
    return ENOMEM;
  }
  return 0;
}

void pw_nl_recv_free(pw_nl_recv_t *r) {
  free(r->msgs);
  r->msgs = NULL;
  free(r->iovs);
  r->iovs = NULL;
  r->fd = -1;
}

pw_nl_recv_result_t pw_nl_recv_pending(pw_nl_recv_t *r, pw_nl_slots_fn slots, pw_nl_batch_fn on_batch, void *ctx) {
  pw_nl_recv_result_t out = {0, 0, 0};
  if (r->fd < 0 || r->msgs == NULL) return out;
  while (out.datagrams < r->max_per_wakeup) {
    unsigned want = r->vlen;
    if (want > r->max_per_wakeup - out.datagrams) want = r->max_per_wakeup - out.datagrams;
    uint8_t *base = slots(ctx, want);
    if (base == NULL) {
      out.err = ENOMEM;
      break;
    }
    for (unsigned i = 0; i < want; i++) {
      r->iovs[i].iov_base = base + (size_t)i * r->bufsize;
      r->iovs[i].iov_len = r->bufsize;
      memset(&r->msgs[i].msg_hdr, 0, sizeof r->msgs[i].msg_hdr);
      r->msgs[i].msg_hdr.msg_iov = &r->iovs[i];
      r->msgs[i].msg_hdr.msg_iovlen = 1;
      r->msgs[i].msg_len = 0;
    }
    int n = recvmmsg(r->fd, r->msgs, want, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        /* The receive buffer overflowed and the kernel dropped messages: counted, reading goes on. */
        out.enobufs++;
        continue;
      }
      out.err = errno;
      break;
    }
    on_batch(ctx, base, r->msgs, (unsigned)n);
    out.datagrams += (unsigned)n;
    if ((unsigned)n < want) break;
  }
  return out;
}

int pw_nl_poll_error(uv_poll_t *poll, int fd, uv_poll_cb cb, pw_nl_recv_result_t *out) {
  int err = 0;
  socklen_t elen = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) err = errno;
  if (err == ENOBUFS) out->enobufs++;
  else if (err != 0) out->err = err;
  return uv_poll_start(poll, UV_READABLE, cb);
}
