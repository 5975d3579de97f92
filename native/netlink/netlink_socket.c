/*
 * portwarden's raw netlink socket: one AF_NETLINK socket per Socket object, datagrams delivered to
 * JavaScript in batches from a libuv poll on the fd.
 *
 * Why our own and not the npm package `netlink` (0.3.0): when a receive buffer overflowed, the
 * kernel set ENOBUFS on the socket, epoll reported EPOLLERR, libuv called that package's poll
 * handler with an error status, and the handler threw a C++ exception that aborted the process; it
 * also had no setsockopt for NETLINK_NO_ENOBUFS, and peeked every message's size with an extra
 * recvmsg. Here:
 *   - a wakeup reads up to `maxPerWakeup` datagrams with recvmmsg() into fixed `recvBytes` buffers
 *     (no peeking; a netlink dump's part size follows the reader's buffer, up to 32 KiB) and hands
 *     them to one callback as one Buffer, datagrams back to back, each padded to 4 bytes (netlink
 *     messages are self-delimiting, so the reader walks them as one stream);
 *   - an overflow is a count passed to that callback (`enobufs`), never an exception: on EPOLLERR
 *     the socket's error is read and cleared (SO_ERROR) and the poll restarted;
 *   - setsockopt/getsockopt of int options, bind to multicast groups, ref/unref of the poll;
 *   - close() is idempotent and safe after a failed open; every return value is checked and
 *     becomes a JS error (code PW_ERR_NETLINK, plus `errno` and `syscall`) or a counter;
 *   - the receive loop is native/common/nl_recv_loop.c, shared with native/nfqueue.
 */
#define PW_ERR_CODE "PW_ERR_NETLINK"
#include "napi_helpers.h"
#include "nl_recv_loop.h"
#include <uv.h>

#include <errno.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

typedef struct sock_s sock_t;

/* The poll handle outlives the socket until libuv's close callback; it frees itself there. */
typedef struct {
  uv_poll_t poll;
  sock_t *owner;
} poll_box_t;

struct sock_s {
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  int fd;
  int opened;
  int polling;
  int refed;
  poll_box_t *box;
  /* receive (native/common/nl_recv_loop): recvmmsg straight into the tail of `data`, then compacted */
  pw_nl_recv_t rx;
  uint8_t *data;
  size_t data_cap;
  size_t data_len;
  /* what the next callback reports */
  uint32_t pend_datagrams, pend_enobufs, pend_truncated;
  int pend_errno;
  /* cumulative counters */
  double datagrams, bytes, enobufs, truncated, recv_errors, batches, callback_errors;
};

/* ---------- helpers ---------- */

/* Throws Error(code PW_ERR_NETLINK, errno, syscall) with "what: strerror (ENAME)". */
static void throw_errno(napi_env env, const char *syscall, const char *what, int err) { pw_throw_syscall(env, syscall, what, err); }

/* A JS number that is a whole int32. */
static int get_int(napi_env env, napi_value v, int32_t *out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok) return -1;
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != (double)(int32_t)d) return -1;
  *out = (int32_t)d;
  return 0;
}

/* ---------- receiving ---------- */

static int ensure(sock_t *s, size_t need) {
  if (need <= s->data_cap) return 0;
  size_t next = s->data_cap ? s->data_cap : 65536;
  while (next < need) next *= 2;
  uint8_t *p = realloc(s->data, next);
  if (p == NULL) return -1;
  s->data = p;
  s->data_cap = next;
  return 0;
}

/* The receive loop's slots for the next batch: the tail of `data`, grown to fit. */
static uint8_t *rx_slots(void *ctx, unsigned want) {
  sock_t *s = (sock_t *)ctx;
  if (ensure(s, s->data_len + (size_t)want * s->rx.bufsize) != 0) return NULL;
  return s->data + s->data_len;
}

/* Compacts one batch: datagram i sits at base + i * bufsize; move each down to the end of the previous. */
static void rx_batch(void *ctx, uint8_t *base, const struct mmsghdr *msgs, unsigned n) {
  sock_t *s = (sock_t *)ctx;
  size_t at = s->data_len;
  for (unsigned i = 0; i < n; i++) {
    size_t len = msgs[i].msg_len;
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
      /* Larger than recvBytes: the rest is lost, and a partial message must not be parsed. */
      s->pend_truncated++;
      s->truncated++;
      continue;
    }
    const uint8_t *src = base + (size_t)i * s->rx.bufsize;
    if (s->data + at != src) memmove(s->data + at, src, len);
    size_t padded = (len + 3) & ~(size_t)3;
    if (padded > len) memset(s->data + at + len, 0, padded - len);
    at += padded;
    s->pend_datagrams++;
    s->datagrams++;
    s->bytes += (double)len;
  }
  s->data_len = at;
}

/* Adds what the receive loop saw to the next callback's report and the counters. */
static void note(sock_t *s, pw_nl_recv_result_t r) {
  s->pend_enobufs += r.enobufs;
  s->enobufs += r.enobufs;
  if (r.err != 0) {
    s->pend_errno = r.err;
    s->recv_errors++;
  }
}

static void clear_exception(napi_env env, int fatal) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) return;
  napi_value ex;
  if (napi_get_and_clear_last_exception(env, &ex) == napi_ok && fatal) napi_fatal_exception(env, ex);
}

/* Calls onBatch(data | undefined, datagrams, enobufs, truncated, errno) if there is anything to say. */
static void deliver(sock_t *s) {
  if (s->pend_datagrams == 0 && s->pend_enobufs == 0 && s->pend_truncated == 0 && s->pend_errno == 0) return;
  napi_env env = s->env;
  uint32_t datagrams = s->pend_datagrams, enobufs = s->pend_enobufs, truncated = s->pend_truncated;
  int err = s->pend_errno;
  size_t len = s->data_len;
  s->batches++;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    s->callback_errors++;
    return;
  }
  napi_value cb, global, argv[5], result;
  void *copy = NULL;
  int ok = napi_get_reference_value(env, s->callback, &cb) == napi_ok && cb != NULL && napi_get_global(env, &global) == napi_ok &&
           napi_create_uint32(env, datagrams, &argv[1]) == napi_ok && napi_create_uint32(env, enobufs, &argv[2]) == napi_ok &&
           napi_create_uint32(env, truncated, &argv[3]) == napi_ok && napi_create_int32(env, err, &argv[4]) == napi_ok;
  if (ok) {
    if (len > 0) ok = napi_create_buffer_copy(env, len, s->data, &copy, &argv[0]) == napi_ok;
    else ok = napi_get_undefined(env, &argv[0]) == napi_ok;
  }
  /* Reset before calling JS: the callback may close the socket (and free `data`). */
  s->data_len = 0;
  s->pend_datagrams = s->pend_enobufs = s->pend_truncated = 0;
  s->pend_errno = 0;
  if (ok) {
    if (napi_make_callback(env, s->async, global, cb, 5, argv, &result) != napi_ok) {
      s->callback_errors++;
      /* An exception thrown by the callback: report it as uncaught, like any JS callback. */
      clear_exception(env, 1);
    }
  } else {
    s->callback_errors++;
    clear_exception(env, 0);
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events);

static void on_readable(uv_poll_t *handle, int status, int events) {
  poll_box_t *box = (poll_box_t *)handle->data;
  sock_t *s = box->owner;
  if (s == NULL || !s->opened) return;
  if (status < 0) {
    /* EPOLLERR: the socket has a pending error, normally ENOBUFS after an overflow; libuv stopped the poll. */
    pw_nl_recv_result_t r = {0, 0, 0};
    int ur = pw_nl_poll_error(&box->poll, s->fd, on_readable, &r);
    note(s, r);
    if (ur != 0) {
      s->polling = 0;
      s->pend_errno = -ur;
      s->recv_errors++;
    }
  }
  note(s, pw_nl_recv_pending(&s->rx, rx_slots, rx_batch, s));
  deliver(s);
}

static void free_box(uv_handle_t *handle) { free(handle->data); }

/* ---------- setup and teardown ---------- */

/* Idempotent: frees what open() got, in reverse. */
static void teardown(sock_t *s) {
  if (s->box != NULL) {
    uv_poll_stop(&s->box->poll);
    s->box->owner = NULL;
    uv_close((uv_handle_t *)&s->box->poll, free_box);
    s->box = NULL;
  }
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  s->opened = 0;
  s->polling = 0;
  pw_nl_recv_free(&s->rx);
  free(s->data); s->data = NULL; s->data_cap = 0; s->data_len = 0;
  s->pend_datagrams = s->pend_enobufs = s->pend_truncated = 0;
  s->pend_errno = 0;
}

static void finalize_sock(napi_env env, void *data, void *hint) {
  sock_t *s = (sock_t *)data;
  teardown(s);
  if (s->callback != NULL) napi_delete_reference(env, s->callback);
  if (s->async != NULL) napi_async_destroy(env, s->async);
  free(s);
}

static sock_t *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  return pw_unwrap_this(env, info, argc, argv, "not a netlink Socket");
}

static int check_open(napi_env env, sock_t *s) {
  if (s->opened && s->fd >= 0) return 1;
  throw_errno(env, "netlink", "the netlink socket is not open", EBADF);
  return 0;
}

/* new Socket(onBatch(data: Buffer | undefined, datagrams, enobufs, truncated, errno)) */
static napi_value sock_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  PW_CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  napi_valuetype t = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, PW_ERR_CODE, "new Socket(onBatch): onBatch must be a function");
    return NULL;
  }
  sock_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    throw_errno(env, "calloc", "cannot allocate the socket", ENOMEM);
    return NULL;
  }
  s->env = env;
  s->fd = -1;
  s->refed = 1;
  if (pw_wrap_with_callback(env, self, argv[0], s, finalize_sock, "portwarden.netlink", &s->callback, &s->async,
                            "cannot set up the Socket object") != 0)
    return NULL;
  return self;
}

/* socket.open(protocol, { recvBytes, batch, maxPerWakeup }) */
static napi_value sock_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  sock_t *s = unwrap_this(env, info, &argc, argv);
  if (s == NULL) return NULL;
  if (s->opened || s->fd >= 0) {
    pw_throw_msg(env, "the netlink socket is already open");
    return NULL;
  }
  int32_t protocol;
  if (argc < 1 || get_int(env, argv[0], &protocol) != 0 || protocol < 0) {
    napi_throw_range_error(env, PW_ERR_CODE, "open(protocol): protocol must be a whole number >= 0");
    return NULL;
  }
  uint32_t recv_bytes = 65536, vlen = 16, max_per = 256;
  napi_valuetype t;
  if (argc >= 2 && napi_typeof(env, argv[1], &t) == napi_ok && t == napi_object) {
    const char *names[] = {"recvBytes", "batch", "maxPerWakeup"};
    uint32_t *outs[] = {&recv_bytes, &vlen, &max_per};
    if (pw_read_u32_options(env, argv[1], names, outs, PW_COUNT(names), false, "a whole number >= 0") != 0) return NULL;
  }
  if (recv_bytes < 256 || recv_bytes > (1u << 24)) {
    napi_throw_range_error(env, PW_ERR_CODE, "open(): recvBytes must be 256 bytes to 16 MiB");
    return NULL;
  }
  if (vlen > 1024) vlen = 1024;

  s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
  if (s->fd < 0) {
    int e = errno;
    teardown(s);
    char what[96];
    snprintf(what, sizeof what, "cannot open a netlink socket of protocol %d", (int)protocol);
    throw_errno(env, "socket", what, e);
    return NULL;
  }
  if (pw_nl_recv_init(&s->rx, s->fd, vlen, max_per, (recv_bytes + 3) & ~(uint32_t)3) != 0) {
    teardown(s);
    throw_errno(env, "calloc", "cannot allocate the receive buffers", ENOMEM);
    return NULL;
  }
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) {
    teardown(s);
    pw_throw_msg(env, "no libuv event loop");
    return NULL;
  }
  s->box = calloc(1, sizeof *s->box);
  if (s->box == NULL) {
    teardown(s);
    throw_errno(env, "calloc", "cannot allocate the poll handle", ENOMEM);
    return NULL;
  }
  s->box->owner = s;
  int ur = uv_poll_init(loop, &s->box->poll, s->fd);
  if (ur != 0) {
    free(s->box);
    s->box = NULL;
    teardown(s);
    throw_errno(env, "uv_poll_init", "cannot poll the netlink socket", -ur);
    return NULL;
  }
  s->box->poll.data = s->box;
  if (!s->refed) uv_unref((uv_handle_t *)&s->box->poll);
  ur = uv_poll_start(&s->box->poll, UV_READABLE, on_readable);
  if (ur != 0) {
    teardown(s);
    throw_errno(env, "uv_poll_start", "cannot poll the netlink socket", -ur);
    return NULL;
  }
  s->polling = 1;
  s->opened = 1;
  return pw_undefined(env);
}

/* socket.bind(groups = 0): the kernel picks the port id; returns it. */
static napi_value sock_bind(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  sock_t *s = unwrap_this(env, info, &argc, argv);
  if (s == NULL || !check_open(env, s)) return NULL;
  uint32_t groups = 0;
  if (argc >= 1) {
    napi_valuetype t;
    PW_CHECK(env, napi_typeof(env, argv[0], &t));
    if (t != napi_undefined && napi_get_value_uint32(env, argv[0], &groups) != napi_ok) {
      napi_throw_type_error(env, PW_ERR_CODE, "bind(groups): groups must be a 32-bit group mask");
      return NULL;
    }
  }
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_pid = 0;
  sa.nl_groups = groups;
  if (bind(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    throw_errno(env, "bind", "cannot bind the netlink socket", errno);
    return NULL;
  }
  socklen_t len = sizeof sa;
  if (getsockname(s->fd, (struct sockaddr *)&sa, &len) < 0) {
    throw_errno(env, "getsockname", "cannot read the netlink port id", errno);
    return NULL;
  }
  napi_value out;
  PW_CHECK(env, napi_create_uint32(env, sa.nl_pid, &out));
  return out;
}

/* socket.address(): { port, groups } (port 0 before the socket is bound or has sent). */
static napi_value sock_address(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock_t *s = unwrap_this(env, info, &argc, NULL);
  if (s == NULL || !check_open(env, s)) return NULL;
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  socklen_t len = sizeof sa;
  if (getsockname(s->fd, (struct sockaddr *)&sa, &len) < 0) {
    throw_errno(env, "getsockname", "cannot read the netlink address", errno);
    return NULL;
  }
  napi_value o, port, groups;
  PW_CHECK(env, napi_create_object(env, &o));
  PW_CHECK(env, napi_create_uint32(env, sa.nl_pid, &port));
  PW_CHECK(env, napi_create_uint32(env, sa.nl_groups, &groups));
  PW_CHECK(env, napi_set_named_property(env, o, "port", port));
  PW_CHECK(env, napi_set_named_property(env, o, "groups", groups));
  return o;
}

/* socket.setsockopt(level, name, value): int options only. */
static napi_value sock_setsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  sock_t *s = unwrap_this(env, info, &argc, argv);
  if (s == NULL || !check_open(env, s)) return NULL;
  int32_t level, name, value;
  if (argc < 3 || get_int(env, argv[0], &level) != 0 || get_int(env, argv[1], &name) != 0 || get_int(env, argv[2], &value) != 0) {
    napi_throw_type_error(env, PW_ERR_CODE, "setsockopt(level, name, value): three whole numbers");
    return NULL;
  }
  int v = value;
  if (setsockopt(s->fd, level, name, &v, sizeof v) < 0) {
    char what[96];
    snprintf(what, sizeof what, "setsockopt(%d, %d, %d) failed", (int)level, (int)name, v);
    throw_errno(env, "setsockopt", what, errno);
    return NULL;
  }
  return pw_undefined(env);
}

/* socket.getsockopt(level, name): an int option's value. */
static napi_value sock_getsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  sock_t *s = unwrap_this(env, info, &argc, argv);
  if (s == NULL || !check_open(env, s)) return NULL;
  int32_t level, name;
  if (argc < 2 || get_int(env, argv[0], &level) != 0 || get_int(env, argv[1], &name) != 0) {
    napi_throw_type_error(env, PW_ERR_CODE, "getsockopt(level, name): two whole numbers");
    return NULL;
  }
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(s->fd, level, name, &v, &len) < 0) {
    char what[96];
    snprintf(what, sizeof what, "getsockopt(%d, %d) failed", (int)level, (int)name);
    throw_errno(env, "getsockopt", what, errno);
    return NULL;
  }
  napi_value out;
  PW_CHECK(env, napi_create_int32(env, v, &out));
  return out;
}

/* socket.send(data: Uint8Array): one datagram to the kernel (port 0); returns the bytes sent. */
static napi_value sock_send(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  sock_t *s = unwrap_this(env, info, &argc, argv);
  if (s == NULL || !check_open(env, s)) return NULL;
  size_t len = 0;
  void *d = NULL;
  if (argc < 1 || !pw_typedarray(env, argv[0], napi_uint8_array, &d, &len)) {
    napi_throw_type_error(env, PW_ERR_CODE, "send(data): data must be a Buffer or Uint8Array");
    return NULL;
  }
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(s->fd, d, len, 0, (struct sockaddr *)&sa, sizeof sa);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    throw_errno(env, "sendto", "cannot send to the kernel", errno);
    return NULL;
  }
  napi_value out;
  PW_CHECK(env, napi_create_double(env, (double)n, &out));
  return out;
}

static napi_value sock_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock_t *s = unwrap_this(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  s->refed = 1;
  if (s->box != NULL) uv_ref((uv_handle_t *)&s->box->poll);
  return pw_undefined(env);
}

static napi_value sock_unref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock_t *s = unwrap_this(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  s->refed = 0;
  if (s->box != NULL) uv_unref((uv_handle_t *)&s->box->poll);
  return pw_undefined(env);
}

static napi_value sock_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock_t *s = unwrap_this(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  teardown(s);
  return pw_undefined(env);
}

static napi_value sock_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock_t *s = unwrap_this(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  pw_num_field f[] = {
      {"datagrams", s->datagrams},       {"bytes", s->bytes},   {"enobufs", s->enobufs},
      {"truncated", s->truncated},       {"recvErrors", s->recv_errors}, {"batches", s->batches},
      {"callbackErrors", s->callback_errors}, {"open", s->opened ? 1 : 0}, {"polling", s->polling ? 1 : 0},
  };
  return pw_num_object(env, f, PW_COUNT(f));
}

/* ---------- module ---------- */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      PW_METHOD("open", sock_open),
      PW_METHOD("bind", sock_bind),
      PW_METHOD("address", sock_address),
      PW_METHOD("setsockopt", sock_setsockopt),
      PW_METHOD("getsockopt", sock_getsockopt),
      PW_METHOD("send", sock_send),
      PW_METHOD("ref", sock_ref),
      PW_METHOD("unref", sock_unref),
      PW_METHOD("stats", sock_stats),
      PW_METHOD("close", sock_close),
  };
  napi_value cls;
  PW_CHECK(env, napi_define_class(env, "Socket", NAPI_AUTO_LENGTH, sock_new, NULL, PW_COUNT(props), props, &cls));
  PW_CHECK(env, napi_set_named_property(env, exports, "Socket", cls));
  napi_value constants;
  PW_CHECK(env, napi_create_object(env, &constants));
  struct { const char *k; int v; } c[] = {
      {"SOL_SOCKET", SOL_SOCKET},
      {"SOL_NETLINK", SOL_NETLINK},
      {"SO_RCVBUF", SO_RCVBUF},
      {"SO_RCVBUFFORCE", SO_RCVBUFFORCE},
      {"SO_SNDBUF", SO_SNDBUF},
      {"SO_SNDBUFFORCE", SO_SNDBUFFORCE},
      {"NETLINK_ADD_MEMBERSHIP", NETLINK_ADD_MEMBERSHIP},
      {"NETLINK_DROP_MEMBERSHIP", NETLINK_DROP_MEMBERSHIP},
      {"NETLINK_BROADCAST_ERROR", NETLINK_BROADCAST_ERROR},
      {"NETLINK_NO_ENOBUFS", NETLINK_NO_ENOBUFS},
      {"NETLINK_LISTEN_ALL_NSID", NETLINK_LISTEN_ALL_NSID},
      {"NETLINK_CAP_ACK", NETLINK_CAP_ACK},
      {"NETLINK_EXT_ACK", NETLINK_EXT_ACK},
      {"NETLINK_GET_STRICT_CHK", NETLINK_GET_STRICT_CHK},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    napi_value v;
    PW_CHECK(env, napi_create_int32(env, c[i].v, &v));
    PW_CHECK(env, napi_set_named_property(env, constants, c[i].k, v));
  }
  PW_CHECK(env, napi_set_named_property(env, exports, "constants", constants));
  napi_value version;
  PW_CHECK(env, napi_create_uint32(env, 1, &version));
  PW_CHECK(env, napi_set_named_property(env, exports, "ABI", version));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
