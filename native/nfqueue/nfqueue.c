/*
 * portwarden's NFQUEUE binding: one queue per Queue object, packets delivered to JavaScript in
 * batches from a libuv poll on the netlink socket, verdicts sent one by one or many per syscall.
 *
 * Why our own and not the npm package `nfqueue`: that one has no close, no fail-open flag and no
 * queue length, and calls into JavaScript once per packet. Here:
 *   - setup (bind, copy mode, maxlen, flags) goes through libnetfilter_queue, which checks the
 *     kernel's acknowledgement of every step; receiving and verdicts are our own netlink code, so a
 *     wakeup reads many messages with recvmmsg() and a batch of verdicts is one send();
 *   - a watchdog thread accepts packets the event loop has not read for `watchdogMs` (a stalled
 *     listener would otherwise blackhole the queued traffic, --queue-bypass only helps when nobody
 *     is bound);
 *   - close() accepts everything still queued before unbinding (the kernel drops what is queued at
 *     unbind), is idempotent, and is safe after a failed open;
 *   - a batch whose delivery fails (its arguments cannot be built, or the callback throws) is
 *     accepted up to its highest id at once, never left held (failedBatchAccepts);
 *   - injected answers leave through native/rawsend (src/respond/rawsend.ts), not this addon.
 *   - no failure aborts the process: every return value is checked and becomes a JS error or a
 *     counter.
 */
#define PW_ERR_CODE "PW_ERR_INLINE"
#include "napi_helpers.h"
#include "nl_recv_loop.h"
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <libnfnetlink/libnfnetlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS 5
#endif

/* Per packet in the batch's metadata (Uint32Array), in this order. */
enum { M_ID, M_HWPROTO, M_HOOK, M_MARK, M_INDEV, M_OUTDEV, M_OFFSET, M_LENGTH, M_ORIGLEN, M_FIELDS };

/* Largest send() of verdicts; well under the socket's default send buffer. */
#define SEND_CHUNK 32768
/* nla_len is 16 bits. */
#define MAX_REPLACEMENT (65535 - NLA_HDRLEN)

typedef struct queue_s queue_t;

/* The poll handle outlives the queue until libuv's close callback; it frees itself there. */
typedef struct {
  uv_poll_t poll;
  queue_t *owner;
} poll_box_t;

typedef struct {
  uint32_t id, hwproto, hook, mark, indev, outdev, origlen;
  const uint8_t *payload;
  uint32_t length;
  int have_hdr;
} packet_t;

struct queue_s {
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  struct nfq_handle *h;
  struct nfq_q_handle *qh;
  int fd;
  uint16_t num;
  int opened;
  poll_box_t *box;
  /* receive (native/common/nl_recv_loop): rx.vlen slots of rx.bufsize in rbuf for recvmmsg */
  pw_nl_recv_t rx;
  size_t bufsize;
  uint8_t *rbuf;
  /* the batch handed to JS */
  uint32_t *meta;
  size_t meta_cap;
  size_t count;
  uint8_t *data;
  size_t data_cap;
  size_t data_len;
  /* verdicts */
  uint8_t *sbuf;
  uint32_t max_id;
  int saw_packet;
  /* counters (main thread) */
  double received, verdicts, send_errors, kernel_errors, recv_errors, enobufs, batches, callback_errors,
      malformed, setup_accepted, close_accepted, failed_batch_accepts;
  int last_kernel_error;
  /* watchdog thread; its counters are atomics */
  pthread_t wd_thread;
  int wd_running;
  int wd_stop_fd;
  uint32_t wd_ms;
  uint64_t service_count;
  uint64_t wd_accepted;
  uint64_t wd_stalls;
  uint8_t *wd_rbuf;
  uint8_t *wd_sbuf;
};

/* ---------- helpers ---------- */

/* Walks one datagram of netlink messages; calls `on_packet` for every queued packet. */
static void parse_datagram(queue_t *q, const uint8_t *buf, size_t len, void (*on_packet)(queue_t *, const packet_t *, void *), void *ctx, int count_errors) {
  const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
  int rem = (int)len;
  for (; NLMSG_OK(nlh, rem); nlh = NLMSG_NEXT(nlh, rem)) {
    if (nlh->nlmsg_type == NLMSG_ERROR) {
      if (!count_errors) continue;
      if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
        const struct nlmsgerr *e = (const struct nlmsgerr *)NLMSG_DATA(nlh);
        if (e->error != 0) {
          q->kernel_errors++;
          q->last_kernel_error = -e->error;
        }
      }
      continue;
    }
    if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_QUEUE || NFNL_MSG_TYPE(nlh->nlmsg_type) != NFQNL_MSG_PACKET) continue;
    if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg))) {
      if (count_errors) q->malformed++;
      continue;
    }
    const uint8_t *attrs = (const uint8_t *)NLMSG_DATA(nlh) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    int arem = (int)nlh->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct nfgenmsg)));
    packet_t p;
    memset(&p, 0, sizeof p);
    while (arem >= (int)NLA_HDRLEN) {
      const struct nlattr *a = (const struct nlattr *)attrs;
      if (a->nla_len < NLA_HDRLEN || a->nla_len > arem) break;
      const uint8_t *v = attrs + NLA_HDRLEN;
      uint32_t vlen = a->nla_len - NLA_HDRLEN;
      uint32_t u;
      switch (a->nla_type & NLA_TYPE_MASK) {
        case NFQA_PACKET_HDR:
          if (vlen >= sizeof(struct nfqnl_msg_packet_hdr)) {
            struct nfqnl_msg_packet_hdr ph;
            memcpy(&ph, v, sizeof ph);
            p.id = ntohl(ph.packet_id);
            p.hwproto = ntohs(ph.hw_protocol);
            p.hook = ph.hook;
            p.have_hdr = 1;
          }
          break;
        case NFQA_MARK:
          if (vlen >= 4) { memcpy(&u, v, 4); p.mark = ntohl(u); }
          break;
        case NFQA_IFINDEX_INDEV:
          if (vlen >= 4) { memcpy(&u, v, 4); p.indev = ntohl(u); }
          break;
        case NFQA_IFINDEX_OUTDEV:
          if (vlen >= 4) { memcpy(&u, v, 4); p.outdev = ntohl(u); }
          break;
        case NFQA_CAP_LEN:
          if (vlen >= 4) { memcpy(&u, v, 4); p.origlen = ntohl(u); }
          break;
        case NFQA_PAYLOAD:
          p.payload = v;
          p.length = vlen;
          break;
        default:
          break;
      }
      int step = NLA_ALIGN(a->nla_len);
      attrs += step;
      arem -= step;
    }
    if (!p.have_hdr) {
      if (count_errors) q->malformed++;
      continue;
    }
    if (p.origlen == 0) p.origlen = p.length; /* the kernel sends CAP_LEN only when it truncated */
    on_packet(q, &p, ctx);
  }
}

/* Encodes one verdict message at `p`; returns its aligned length. `payload` may be NULL. */
static size_t put_verdict(uint8_t *p, uint16_t num, uint16_t msgtype, uint32_t id, uint32_t verdict, const uint8_t *payload, size_t plen) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)p;
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | msgtype;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = 0;
  nlh->nlmsg_pid = 0;
  struct nfgenmsg *g = (struct nfgenmsg *)(p + NLMSG_HDRLEN);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(num);
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
  struct nlattr *a = (struct nlattr *)(p + off);
  a->nla_len = NLA_HDRLEN + sizeof(struct nfqnl_msg_verdict_hdr);
  a->nla_type = NFQA_VERDICT_HDR;
  struct nfqnl_msg_verdict_hdr vh = {htonl(verdict), htonl(id)};
  memcpy(p + off + NLA_HDRLEN, &vh, sizeof vh);
  off += NLA_ALIGN(a->nla_len);
  if (payload != NULL) {
    a = (struct nlattr *)(p + off);
    a->nla_len = (uint16_t)(NLA_HDRLEN + plen);
    a->nla_type = NFQA_PAYLOAD;
    memcpy(p + off + NLA_HDRLEN, payload, plen);
    size_t padded = NLA_ALIGN(NLA_HDRLEN + plen);
    memset(p + off + NLA_HDRLEN + plen, 0, padded - NLA_HDRLEN - plen);
    off += padded;
  }
  nlh->nlmsg_len = (uint32_t)off;
  return NLMSG_ALIGN(off);
}

/* send() that retries on EINTR; returns 0 or errno. */
static int send_all(int fd, const uint8_t *buf, size_t len) {
  for (;;) {
    ssize_t n = send(fd, buf, len, 0);
    if (n >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

/* Accepts every packet still queued with an id up to `id` (NFQNL_MSG_VERDICT_BATCH), counted
   in failed_batch_accepts; a send error is counted in send_errors. No-op on a closed queue. */
static void accept_up_to(queue_t *q, uint32_t id) {
  if (!q->opened || q->fd < 0) return;
  uint8_t msg[64];
  size_t n = put_verdict(msg, q->num, NFQNL_MSG_VERDICT_BATCH, id, NF_ACCEPT, NULL, 0);
  if (send_all(q->fd, msg, n) != 0) q->send_errors++;
  else q->failed_batch_accepts++;
}

/* ---------- receiving ---------- */

static int grow(void **ptr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t next = *cap ? *cap : 64;
  while (next < need) next *= 2;
  void *p = realloc(*ptr, next * elem);
  if (p == NULL) return -1;
  *ptr = p;
  *cap = next;
  return 0;
}

static void collect(queue_t *q, const packet_t *p, void *ctx) {
  (void)ctx;
  q->received++;
  if (!q->saw_packet || (int32_t)(p->id - q->max_id) > 0) q->max_id = p->id;
  q->saw_packet = 1;
  if (grow((void **)&q->meta, &q->meta_cap, (q->count + 1) * M_FIELDS, sizeof(uint32_t)) != 0 ||
      grow((void **)&q->data, &q->data_cap, q->data_len + p->length, 1) != 0) {
    /* Out of memory: accept it here rather than lose it (fail-open), counted. */
    uint8_t msg[64];
    size_t n = put_verdict(msg, q->num, NFQNL_MSG_VERDICT, p->id, NF_ACCEPT, NULL, 0);
    if (send_all(q->fd, msg, n) != 0) q->send_errors++;
    q->callback_errors++;
    return;
  }
  uint32_t *m = q->meta + q->count * M_FIELDS;
  m[M_ID] = p->id;
  m[M_HWPROTO] = p->hwproto;
  m[M_HOOK] = p->hook;
  m[M_MARK] = p->mark;
  m[M_INDEV] = p->indev;
  m[M_OUTDEV] = p->outdev;
  m[M_OFFSET] = (uint32_t)q->data_len;
  m[M_LENGTH] = p->length;
  m[M_ORIGLEN] = p->origlen;
  if (p->length > 0) memcpy(q->data + q->data_len, p->payload, p->length);
  q->data_len += p->length;
  q->count++;
}

/* The receive loop's slots: always the same receive buffer (each batch is parsed before the next). */
static uint8_t *rx_slots(void *ctx, unsigned want) {
  (void)want;
  return ((queue_t *)ctx)->rbuf;
}

/* Parses one batch of datagrams into the batch for JS. */
static void rx_batch(void *ctx, uint8_t *base, const struct mmsghdr *msgs, unsigned n) {
  queue_t *q = (queue_t *)ctx;
  for (unsigned i = 0; i < n; i++) {
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) q->malformed++;
    parse_datagram(q, base + (size_t)i * q->bufsize, msgs[i].msg_len, collect, NULL, 1);
  }
}

/* Counts what the receive loop saw: ENOBUFS means the kernel dropped messages for us (fail-open
   does not cover a full socket buffer); any other error is a receive error. */
static void note(queue_t *q, pw_nl_recv_result_t r) {
  q->enobufs += r.enobufs;
  if (r.err != 0) q->recv_errors++;
}

static void deliver(queue_t *q) {
  napi_env env = q->env;
  size_t count = q->count;
  if (count == 0) return;
  q->batches++;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    q->callback_errors++;
    return;
  }
  napi_value cb, global, meta_ab, meta, data, result;
  void *meta_mem = NULL;
  void *data_mem = NULL;
  int ok = napi_get_reference_value(env, q->callback, &cb) == napi_ok && cb != NULL &&
           napi_get_global(env, &global) == napi_ok &&
           napi_create_arraybuffer(env, count * M_FIELDS * sizeof(uint32_t), &meta_mem, &meta_ab) == napi_ok &&
           napi_create_typedarray(env, napi_uint32_array, count * M_FIELDS, meta_ab, 0, &meta) == napi_ok &&
           napi_create_buffer(env, q->data_len > 0 ? q->data_len : 1, &data_mem, &data) == napi_ok;
  if (ok) {
    memcpy(meta_mem, q->meta, count * M_FIELDS * sizeof(uint32_t));
    if (q->data_len > 0) memcpy(data_mem, q->data, q->data_len);
  }
  /* The batch's highest id: what a failed delivery accepts up to (ids grow per queue). */
  uint32_t batch_max = q->meta[M_ID];
  for (size_t i = 1; i < count; i++) {
    uint32_t id = q->meta[i * M_FIELDS + M_ID];
    if ((int32_t)(id - batch_max) > 0) batch_max = id;
  }
  /* Reset before calling JS: the callback may close the queue. */
  q->count = 0;
  q->data_len = 0;
  int failed = !ok;
  if (ok) {
    napi_value argv[2] = {meta, data};
    if (napi_make_callback(env, q->async, global, cb, 2, argv, &result) != napi_ok) failed = 1;
  }
  if (failed) {
    q->callback_errors++;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ex;
      napi_get_and_clear_last_exception(env, &ex);
    }
    /* Nobody gave these packets a verdict (or only some): accept the whole batch now, fail-open,
       rather than leave them held until close. Already-answered ids are no longer queued. */
    accept_up_to(q, batch_max);
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  poll_box_t *box = (poll_box_t *)handle->data;
  queue_t *q = box->owner;
  if (q == NULL || !q->opened) return;
  __atomic_add_fetch(&q->service_count, 1, __ATOMIC_RELAXED);
  if (status < 0) {
    /* EPOLLERR (an ENOBUFS when noEnobufs is off): libuv stopped the poll; count the error and poll again. */
    pw_nl_recv_result_t r = {0, 0, 0};
    int ur = pw_nl_poll_error(&box->poll, q->fd, on_readable, &r);
    note(q, r);
    if (ur != 0) {
      q->recv_errors++;
      return;
    }
  }
  note(q, pw_nl_recv_pending(&q->rx, rx_slots, rx_batch, q));
  deliver(q);
}

static void free_box(uv_handle_t *handle) { free(handle->data); }

/* ---------- watchdog ---------- */

typedef struct {
  uint8_t *sbuf;
  size_t used;
  uint64_t accepted;
  int fd;
  uint16_t num;
} wd_ctx_t;

static void wd_flush(wd_ctx_t *c) {
  if (c->used > 0) send_all(c->fd, c->sbuf, c->used);
  c->used = 0;
}

static void wd_accept(queue_t *q, const packet_t *p, void *ctx) {
  wd_ctx_t *c = (wd_ctx_t *)ctx;
  if (c->used + 64 > SEND_CHUNK) wd_flush(c);
  c->used += put_verdict(c->sbuf + c->used, c->num, NFQNL_MSG_VERDICT, p->id, NF_ACCEPT, NULL, 0);
  c->accepted++;
}

/* Waits on the stop eventfd for `ms`; returns 1 when asked to stop. */
static int wd_wait_stop(queue_t *q, int ms) {
  struct pollfd pf = {q->wd_stop_fd, POLLIN, 0};
  int r = poll(&pf, 1, ms);
  return r > 0;
}

/*
 * The event loop may be blocked (a long synchronous task, a debugger) while the socket fills up and
 * every queued packet waits. When the socket stays readable for watchdogMs and the loop has not
 * serviced it meanwhile, this thread reads and accepts what is there, counted. Concurrent recv() on
 * one netlink socket is safe: each message goes to exactly one reader.
 */
static void *wd_main(void *arg) {
  queue_t *q = (queue_t *)arg;
  wd_ctx_t c = {q->wd_sbuf, 0, 0, q->fd, q->num};
  for (;;) {
    struct pollfd pf[2] = {{q->wd_stop_fd, POLLIN, 0}, {q->fd, POLLIN, 0}};
    int r = poll(pf, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    if (pf[0].revents) return NULL;
    if (!(pf[1].revents & POLLIN)) {
      if (wd_wait_stop(q, (int)q->wd_ms)) return NULL;
      continue;
    }
    uint64_t seen = __atomic_load_n(&q->service_count, __ATOMIC_RELAXED);
    if (wd_wait_stop(q, (int)q->wd_ms)) return NULL;
    if (__atomic_load_n(&q->service_count, __ATOMIC_RELAXED) != seen) continue;
    struct pollfd again = {q->fd, POLLIN, 0};
    if (poll(&again, 1, 0) <= 0) continue;
    __atomic_add_fetch(&q->wd_stalls, 1, __ATOMIC_RELAXED);
    for (;;) {
      ssize_t n = recv(q->fd, q->wd_rbuf, q->bufsize, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR || errno == ENOBUFS) continue;
        break;
      }
      c.accepted = 0;
      parse_datagram(q, q->wd_rbuf, (size_t)n, wd_accept, &c, 0);
      wd_flush(&c);
      __atomic_add_fetch(&q->wd_accepted, c.accepted, __ATOMIC_RELAXED);
      /* Give the loop a chance to take over again once it is back. */
      if (__atomic_load_n(&q->service_count, __ATOMIC_RELAXED) != seen) break;
    }
  }
}

/* ---------- setup and teardown ---------- */

/* Packets the library dispatches while it waits for a config acknowledgement: accept them. */
static int setup_cb(struct nfq_q_handle *qh, struct nfgenmsg *nfmsg, struct nfq_data *nfa, void *data) {
  queue_t *q = (queue_t *)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == NULL) return 0;
  if (nfq_set_verdict(qh, ntohl(ph->packet_id), NF_ACCEPT, 0, NULL) < 0) q->send_errors++;
  else q->setup_accepted++;
  return 0;
}

static void collect_max(queue_t *q, const packet_t *p, void *ctx) {
  (void)ctx;
  if (!q->saw_packet || (int32_t)(p->id - q->max_id) > 0) q->max_id = p->id;
  q->saw_packet = 1;
  q->close_accepted++;
}

/* Idempotent: frees what open() got, in reverse. Packets still queued are accepted first. */
static void teardown(queue_t *q) {
  if (q->wd_running) {
    uint64_t one = 1;
    if (write(q->wd_stop_fd, &one, sizeof one) != sizeof one) { /* the thread also exits on close below */ }
    pthread_join(q->wd_thread, NULL);
    q->wd_running = 0;
  }
  if (q->wd_stop_fd >= 0) {
    close(q->wd_stop_fd);
    q->wd_stop_fd = -1;
  }
  if (q->box != NULL) {
    uv_poll_stop(&q->box->poll);
    q->box->owner = NULL;
    uv_close((uv_handle_t *)&q->box->poll, free_box);
    q->box = NULL;
  }
  if (q->qh != NULL) {
    /* Drain what the kernel already sent us, then accept everything up to the highest id seen
       (that includes packets handed to JS without a verdict): unbinding would drop them. */
    if (q->rbuf != NULL) {
      for (int guard = 0; guard < 4096; guard++) {
        ssize_t n = recv(q->fd, q->rbuf, q->bufsize, MSG_DONTWAIT);
        if (n < 0) {
          if (errno == EINTR || errno == ENOBUFS) continue;
          break;
        }
        parse_datagram(q, q->rbuf, (size_t)n, collect_max, NULL, 0);
      }
    }
    if (q->saw_packet) {
      uint8_t msg[64];
      size_t n = put_verdict(msg, q->num, NFQNL_MSG_VERDICT_BATCH, q->max_id, NF_ACCEPT, NULL, 0);
      if (send_all(q->fd, msg, n) != 0) q->send_errors++;
    }
    nfq_destroy_queue(q->qh);
    q->qh = NULL;
  }
  if (q->h != NULL) {
    nfq_close(q->h);
    q->h = NULL;
  }
  q->fd = -1;
  q->opened = 0;
  free(q->rbuf); q->rbuf = NULL;
  pw_nl_recv_free(&q->rx);
  free(q->meta); q->meta = NULL; q->meta_cap = 0; q->count = 0;
  free(q->data); q->data = NULL; q->data_cap = 0; q->data_len = 0;
  free(q->sbuf); q->sbuf = NULL;
  free(q->wd_rbuf); q->wd_rbuf = NULL;
  free(q->wd_sbuf); q->wd_sbuf = NULL;
}

static void finalize_queue(napi_env env, void *data, void *hint) {
  queue_t *q = (queue_t *)data;
  teardown(q);
  if (q->callback != NULL) napi_delete_reference(env, q->callback);
  if (q->async != NULL) napi_async_destroy(env, q->async);
  free(q);
}

static queue_t *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  return pw_unwrap_this(env, info, argc, argv, "not a Queue");
}

/* new Queue(onBatch(meta: Uint32Array, data: Buffer)) */
static napi_value queue_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  PW_CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  napi_valuetype t = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, PW_ERR_CODE, "new Queue(onBatch): onBatch must be a function");
    return NULL;
  }
  queue_t *q = calloc(1, sizeof *q);
  if (q == NULL) {
    pw_throw_errno(env, "cannot allocate the queue", ENOMEM);
    return NULL;
  }
  q->env = env;
  q->fd = -1;
  q->wd_stop_fd = -1;
  if (pw_wrap_with_callback(env, self, argv[0], q, finalize_queue, "portwarden.nfqueue", &q->callback, &q->async,
                            "cannot set up the Queue object") != 0)
    return NULL;
  return self;
}

/* queue.open(num, { maxlen, copyBytes, failOpen, gso, rcvbufBytes, noEnobufs, batch, maxPerWakeup, watchdogMs }) */
static napi_value queue_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  queue_t *q = unwrap_this(env, info, &argc, argv);
  if (q == NULL) return NULL;
  if (q->opened || q->h != NULL) {
    pw_throw_msg(env, "the queue is already open");
    return NULL;
  }
  uint32_t num = 0, maxlen = 0, copy = 0xffff, fail_open = 1, gso = 0, rcvbuf = 0, no_enobufs = 1, vlen = 32, max_per = 256, wd_ms = 0;
  double dnum;
  napi_valuetype t;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_number || napi_get_value_double(env, argv[0], &dnum) != napi_ok ||
      !(dnum >= 0 && dnum <= 65535) || dnum != (double)(uint32_t)dnum) {
    napi_throw_range_error(env, PW_ERR_CODE, "open(queueNum): queueNum must be a whole number 0-65535");
    return NULL;
  }
  num = (uint32_t)dnum;
  if (argc >= 2 && napi_typeof(env, argv[1], &t) == napi_ok && t == napi_object) {
    const char *names[] = {"maxlen", "copyBytes", "failOpen", "gso", "rcvbufBytes", "noEnobufs", "batch", "maxPerWakeup", "watchdogMs"};
    uint32_t *outs[] = {&maxlen, &copy, &fail_open, &gso, &rcvbuf, &no_enobufs, &vlen, &max_per, &wd_ms};
    if (pw_read_u32_options(env, argv[1], names, outs, PW_COUNT(names), true, "a whole number >= 0 or a boolean") != 0) return NULL;
  }
  if (copy == 0 || copy > 0xffff) copy = 0xffff;
  if (vlen == 0) vlen = 1;
  if (vlen > 256) vlen = 256;
  q->num = (uint16_t)num;
  /* Room for the payload plus the netlink and attribute headers the kernel puts around it. */
  q->bufsize = copy + 4096;

  char what[160];
  q->h = nfq_open();
  if (q->h == NULL) {
    int e = errno ? errno : EPERM;
    teardown(q);
    pw_throw_errno(env, "cannot open a netfilter_queue netlink socket (needs CAP_NET_ADMIN)", e);
    return NULL;
  }
  errno = 0;
  q->qh = nfq_create_queue(q->h, (uint16_t)num, setup_cb, q);
  if (q->qh == NULL) {
    int e = errno ? errno : EBUSY;
    teardown(q);
    snprintf(what, sizeof what, "cannot bind NFQUEUE %u (is another process bound to it?)", num);
    pw_throw_errno(env, what, e);
    return NULL;
  }
  struct { int rc; const char *what; } steps[3];
  steps[0].rc = nfq_set_mode(q->qh, NFQNL_COPY_PACKET, copy);
  steps[0].what = "cannot set the copy mode";
  steps[1].rc = maxlen > 0 ? nfq_set_queue_maxlen(q->qh, maxlen) : 0;
  steps[1].what = "cannot set the queue length (NFQA_CFG_QUEUE_MAXLEN)";
  uint32_t flags = (fail_open ? NFQA_CFG_F_FAIL_OPEN : 0) | (gso ? NFQA_CFG_F_GSO : 0);
  steps[2].rc = nfq_set_queue_flags(q->qh, NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO, flags);
  steps[2].what = "cannot set the queue flags (fail-open, gso)";
  for (int i = 0; i < 3; i++) {
    if (steps[i].rc < 0) {
      int e = errno ? errno : EINVAL;
      teardown(q);
      snprintf(what, sizeof what, "NFQUEUE %u: %s", num, steps[i].what);
      pw_throw_errno(env, what, e);
      return NULL;
    }
  }
  q->fd = nfq_fd(q->h);
  if (rcvbuf > 0) {
    int size = rcvbuf > 0x7fffffff ? 0x7fffffff : (int)rcvbuf;
    if (setsockopt(q->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0 &&
        setsockopt(q->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0) {
      int e = errno;
      teardown(q);
      pw_throw_errno(env, "cannot set the receive buffer size", e);
      return NULL;
    }
  }
  if (no_enobufs) {
    int one = 1;
    if (setsockopt(q->fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one) < 0) {
      int e = errno;
      teardown(q);
      pw_throw_errno(env, "cannot set NETLINK_NO_ENOBUFS", e);
      return NULL;
    }
  }
  q->rbuf = malloc((size_t)vlen * q->bufsize);
  q->sbuf = malloc(SEND_CHUNK + 65536 + 256);
  if (q->rbuf == NULL || q->sbuf == NULL || pw_nl_recv_init(&q->rx, q->fd, vlen, max_per, q->bufsize) != 0) {
    teardown(q);
    pw_throw_errno(env, "cannot allocate the receive buffers", ENOMEM);
    return NULL;
  }
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) {
    teardown(q);
    pw_throw_msg(env, "no libuv event loop");
    return NULL;
  }
  q->box = calloc(1, sizeof *q->box);
  if (q->box == NULL) {
    teardown(q);
    pw_throw_errno(env, "cannot allocate the poll handle", ENOMEM);
    return NULL;
  }
  q->box->owner = q;
  int ur = uv_poll_init(loop, &q->box->poll, q->fd);
  if (ur != 0) {
    free(q->box);
    q->box = NULL;
    teardown(q);
    snprintf(what, sizeof what, "uv_poll_init failed: %s", uv_strerror(ur));
    pw_throw_msg(env, what);
    return NULL;
  }
  q->box->poll.data = q->box;
  ur = uv_poll_start(&q->box->poll, UV_READABLE, on_readable);
  if (ur != 0) {
    teardown(q);
    snprintf(what, sizeof what, "uv_poll_start failed: %s", uv_strerror(ur));
    pw_throw_msg(env, what);
    return NULL;
  }
  q->opened = 1;
  if (wd_ms > 0) {
    q->wd_ms = wd_ms;
    q->wd_rbuf = malloc(q->bufsize);
    q->wd_sbuf = malloc(SEND_CHUNK + 256);
    q->wd_stop_fd = eventfd(0, EFD_CLOEXEC);
    if (q->wd_rbuf == NULL || q->wd_sbuf == NULL || q->wd_stop_fd < 0) {
      int e = q->wd_stop_fd < 0 ? errno : ENOMEM;
      teardown(q);
      pw_throw_errno(env, "cannot set up the watchdog", e);
      return NULL;
    }
    int pr = pthread_create(&q->wd_thread, NULL, wd_main, q);
    if (pr != 0) {
      teardown(q);
      pw_throw_errno(env, "cannot start the watchdog thread", pr);
      return NULL;
    }
    q->wd_running = 1;
  }
  return pw_undefined(env);
}

static int check_open(napi_env env, queue_t *q) {
  if (q->opened && q->fd >= 0) return 1;
  pw_throw_msg(env, "the queue is not open");
  return 0;
}

static int verdict_value(uint32_t v) { return v == NF_ACCEPT || v == NF_DROP; }

/* queue.verdict(id, verdict, replacement?: Uint8Array) */
static napi_value queue_verdict(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  queue_t *q = unwrap_this(env, info, &argc, argv);
  if (q == NULL || !check_open(env, q)) return NULL;
  uint32_t id, verdict;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &id) != napi_ok || napi_get_value_uint32(env, argv[1], &verdict) != napi_ok || !verdict_value(verdict)) {
    napi_throw_type_error(env, PW_ERR_CODE, "verdict(id, verdict[, replacement]): id a packet id, verdict 0 (drop) or 1 (accept)");
    return NULL;
  }
  const uint8_t *payload = NULL;
  size_t plen = 0;
  if (argc >= 3) {
    napi_valuetype t;
    PW_CHECK(env, napi_typeof(env, argv[2], &t));
    if (t != napi_undefined && t != napi_null) {
      bool is_ta = false;
      PW_CHECK(env, napi_is_typedarray(env, argv[2], &is_ta));
      if (!is_ta) {
        napi_throw_type_error(env, PW_ERR_CODE, "verdict(): replacement must be a Buffer or Uint8Array");
        return NULL;
      }
      napi_typedarray_type tt;
      size_t len, off;
      void *d;
      napi_value ab;
      PW_CHECK(env, napi_get_typedarray_info(env, argv[2], &tt, &len, &d, &ab, &off));
      if (tt != napi_uint8_array || len == 0 || len > MAX_REPLACEMENT) {
        napi_throw_range_error(env, PW_ERR_CODE, "verdict(): replacement must be a non-empty Uint8Array of at most 65531 bytes");
        return NULL;
      }
      payload = d;
      plen = len;
    }
  }
  size_t n = put_verdict(q->sbuf, q->num, NFQNL_MSG_VERDICT, id, verdict, payload, plen);
  int e = send_all(q->fd, q->sbuf, n);
  if (e != 0) {
    q->send_errors++;
    pw_throw_errno(env, "cannot send the verdict", e);
    return NULL;
  }
  q->verdicts++;
  return pw_undefined(env);
}

/* queue.verdictMany(ids: Uint32Array, verdicts: Uint8Array, count): one send() per 32 KiB of verdicts. */
static napi_value queue_verdict_many(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  queue_t *q = unwrap_this(env, info, &argc, argv);
  if (q == NULL || !check_open(env, q)) return NULL;
  size_t n1 = 0, n2 = 0;
  void *d1 = NULL, *d2 = NULL;
  uint32_t count = 0;
  if (argc < 3 || !pw_typedarray(env, argv[0], napi_uint32_array, &d1, &n1) || !pw_typedarray(env, argv[1], napi_uint8_array, &d2, &n2) ||
      napi_get_value_uint32(env, argv[2], &count) != napi_ok || count > n1 || count > n2) {
    napi_throw_type_error(env, PW_ERR_CODE, "verdictMany(ids: Uint32Array, verdicts: Uint8Array, count)");
    return NULL;
  }
  const uint32_t *ids = d1;
  const uint8_t *vs = d2;
  size_t used = 0;
  int err = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (!verdict_value(vs[i])) {
      napi_throw_range_error(env, PW_ERR_CODE, "verdictMany(): every verdict must be 0 (drop) or 1 (accept)");
      return NULL;
    }
  }
  for (uint32_t i = 0; i < count; i++) {
    if (used + 64 > SEND_CHUNK) {
      int e = send_all(q->fd, q->sbuf, used);
      if (e != 0) { q->send_errors++; err = e; }
      used = 0;
    }
    used += put_verdict(q->sbuf + used, q->num, NFQNL_MSG_VERDICT, ids[i], vs[i], NULL, 0);
  }
  if (used > 0) {
    int e = send_all(q->fd, q->sbuf, used);
    if (e != 0) { q->send_errors++; err = e; }
  }
  if (err != 0) {
    pw_throw_errno(env, "cannot send verdicts", err);
    return NULL;
  }
  q->verdicts += count;
  return pw_undefined(env);
}

/* queue.verdictUpTo(id, verdict): every queued packet with an id up to `id` (NFQNL_MSG_VERDICT_BATCH). */
static napi_value queue_verdict_up_to(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  queue_t *q = unwrap_this(env, info, &argc, argv);
  if (q == NULL || !check_open(env, q)) return NULL;
  uint32_t id, verdict;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &id) != napi_ok || napi_get_value_uint32(env, argv[1], &verdict) != napi_ok || !verdict_value(verdict)) {
    napi_throw_type_error(env, PW_ERR_CODE, "verdictUpTo(id, verdict)");
    return NULL;
  }
  size_t n = put_verdict(q->sbuf, q->num, NFQNL_MSG_VERDICT_BATCH, id, verdict, NULL, 0);
  int e = send_all(q->fd, q->sbuf, n);
  if (e != 0) {
    q->send_errors++;
    pw_throw_errno(env, "cannot send the batch verdict", e);
    return NULL;
  }
  return pw_undefined(env);
}

static napi_value queue_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  queue_t *q = unwrap_this(env, info, &argc, NULL);
  if (q == NULL) return NULL;
  teardown(q);
  return pw_undefined(env);
}

static napi_value queue_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  queue_t *q = unwrap_this(env, info, &argc, NULL);
  if (q == NULL) return NULL;
  pw_num_field f[] = {
      {"received", q->received},
      {"verdicts", q->verdicts},
      {"sendErrors", q->send_errors},
      {"kernelErrors", q->kernel_errors},
      {"lastKernelError", q->last_kernel_error},
      {"recvErrors", q->recv_errors},
      {"enobufs", q->enobufs},
      {"batches", q->batches},
      {"callbackErrors", q->callback_errors},
      {"failedBatchAccepts", q->failed_batch_accepts},
      {"malformed", q->malformed},
      {"setupAccepted", q->setup_accepted},
      {"closeAccepted", q->close_accepted},
      {"watchdogStalls", (double)__atomic_load_n(&q->wd_stalls, __ATOMIC_RELAXED)},
      {"watchdogAccepted", (double)__atomic_load_n(&q->wd_accepted, __ATOMIC_RELAXED)},
      {"open", q->opened ? 1 : 0},
  };
  return pw_num_object(env, f, PW_COUNT(f));
}

/* ---------- module ---------- */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor qprops[] = {
      PW_METHOD("open", queue_open),
      PW_METHOD("verdict", queue_verdict),
      PW_METHOD("verdictMany", queue_verdict_many),
      PW_METHOD("verdictUpTo", queue_verdict_up_to),
      PW_METHOD("stats", queue_stats),
      PW_METHOD("close", queue_close),
  };
  napi_value qcls;
  PW_CHECK(env, napi_define_class(env, "Queue", NAPI_AUTO_LENGTH, queue_new, NULL, PW_COUNT(qprops), qprops, &qcls));
  PW_CHECK(env, napi_set_named_property(env, exports, "Queue", qcls));
  napi_value fields;
  PW_CHECK(env, napi_create_uint32(env, M_FIELDS, &fields));
  PW_CHECK(env, napi_set_named_property(env, exports, "META_FIELDS", fields));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
