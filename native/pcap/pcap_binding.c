/*
 * portwarden's libpcap binding: live capture for capture/pcap-live.ts, in plain C on node_api.h.
 *
 *   const c = new Capture();
 *   const { linkType, nanoseconds, warning } = c.open(interface, options, batchBuffer, onBatch);
 *   onBatch(count, bytes, error)   // count records in batchBuffer[0, bytes); error: string or null
 *   c.stats()                      // { received, dropped, ifdropped } from pcap_stats
 *   c.close()                      // idempotent; also after a failed open; open() may follow
 *
 * Reading is driven by libuv: a uv_poll_t watches pcap_get_selectable_fd (the handle is
 * non-blocking); when it is readable, pcap_dispatch runs in a loop, up to `budgetPackets` per
 * wake-up, copying each packet into batchBuffer (a Buffer JavaScript allocated and keeps) as a
 * record:
 *
 *   u32 seconds | u32 nanoseconds | u32 caplen | u32 wirelen | caplen bytes | pad to 4
 *
 * (host byte order, 4-aligned). JavaScript is called once per full buffer and once at the end of a
 * wake-up, never from inside pcap_dispatch: pcap_dispatch is told at most as many packets as
 * certainly fit (every record is at most 16 + snaplen bytes), so a callback that closes the capture
 * can never pull the handle out from under libpcap.
 *
 * What must stay true: nothing here may bring the process down. Every libpcap, libuv and N-API
 * return value is checked; failures become JavaScript errors (open, stats) or the callback's
 * `error` (reading); a closed or never-opened handle is a no-op for close() and an error for
 * nothing else. Every error thrown has code PW_ERR_CAPTURE_LIVE; one from libpcap also names its
 * status in `pcapStatus` ("PCAP_ERROR_NO_SUCH_DEVICE", "PCAP_ERROR_FILTER", ...).
 */
#define PW_ERR_CODE "PW_ERR_CAPTURE_LIVE"
#include "napi_helpers.h"
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define RECORD_HEADER 16u
#define MAX_IFACE 256
#define MAX_FILTER (1024 * 1024)
#define LINKTYPE_RAW 101

typedef struct capture {
  napi_env env;
  pcap_t *pcap;
  /* malloc'd: its close callback frees it, which may run after this struct is gone. */
  uv_poll_t *poll;
  napi_ref callback;
  napi_ref buffer;
  napi_async_context async;
  uint8_t *batch;
  size_t batch_size;
  size_t used;
  uint32_t count;
  uint32_t snaplen;
  uint32_t budget;
  int nano;
  /* Inside on_readable (JavaScript may run): a finalizer then leaves the free to it. */
  int busy;
  int finalized;
  /* Last pcap_stats, kept so stats() still answers after close(). */
  struct pcap_stat last;
  char iface[MAX_IFACE];
} capture_t;

/* ---- small helpers ------------------------------------------------------------------------- */

/*
 * Throws Error("libpcap on IFACE: what: detail") with code PW_ERR_CAPTURE_LIVE and `pcapStatus`
 * (libpcap's status name, the reason a caller may act on) and returns NULL for the caller to return.
 */
static napi_value fail(napi_env env, const char *status, const char *iface, const char *what, const char *detail) {
  char msg[PCAP_ERRBUF_SIZE + MAX_IFACE + 256];
  if (detail != NULL && detail[0] != '\0' && strcmp(detail, what) != 0)
    snprintf(msg, sizeof msg, "libpcap on %s: %s: %s", iface, what, detail);
  else
    snprintf(msg, sizeof msg, "libpcap on %s: %s", iface, what);
  napi_value code, message, error, st;
  if (napi_create_string_utf8(env, PW_ERR_CODE, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok || napi_create_error(env, code, message, &error) != napi_ok ||
      napi_create_string_utf8(env, status, NAPI_AUTO_LENGTH, &st) != napi_ok || napi_set_named_property(env, error, "pcapStatus", st) != napi_ok) {
    if (!pw_exception_pending(env)) pw_throw_msg(env, msg);
    return NULL;
  }
  napi_throw(env, error);
  return NULL;
}

static const char *status_code(int status) {
  switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE: return "PCAP_ERROR_NO_SUCH_DEVICE";
    case PCAP_ERROR_PERM_DENIED: return "PCAP_ERROR_PERM_DENIED";
    case PCAP_ERROR_PROMISC_PERM_DENIED: return "PCAP_ERROR_PROMISC_PERM_DENIED";
    case PCAP_ERROR_IFACE_NOT_UP: return "PCAP_ERROR_IFACE_NOT_UP";
    case PCAP_ERROR_ACTIVATED: return "PCAP_ERROR_ACTIVATED";
    case PCAP_ERROR_RFMON_NOTSUP: return "PCAP_ERROR_RFMON_NOTSUP";
    default: return "PCAP_ERROR";
  }
}

/* On Linux the DLT_ values libpcap returns are the LINKTYPE_ values of capture files, except raw IP. */
static int linktype_of(int dlt) {
#ifdef DLT_RAW
  if (dlt == DLT_RAW) return LINKTYPE_RAW;
#endif
  return dlt;
}

static void free_poll(uv_handle_t *handle) { free(handle); }

/*
 * Undoes whatever open() set up, in the order libuv and libpcap need: the poll is stopped and closed
 * before pcap_close closes the descriptor it watches. Safe on a half-opened or closed capture.
 */
static void release(capture_t *c) {
  if (c->poll != NULL) {
    uv_poll_t *poll = c->poll;
    c->poll = NULL;
    poll->data = NULL;
    uv_poll_stop(poll);
    uv_close((uv_handle_t *)poll, free_poll);
  }
  if (c->pcap != NULL) {
    struct pcap_stat s;
    if (pcap_stats(c->pcap, &s) == 0) c->last = s;
    pcap_close(c->pcap);
    c->pcap = NULL;
  }
  if (c->callback != NULL) {
    napi_delete_reference(c->env, c->callback);
    c->callback = NULL;
  }
  if (c->buffer != NULL) {
    napi_delete_reference(c->env, c->buffer);
    c->buffer = NULL;
  }
  if (c->async != NULL) {
    napi_async_destroy(c->env, c->async);
    c->async = NULL;
  }
  c->batch = NULL;
  c->batch_size = 0;
  c->used = 0;
  c->count = 0;
}

/* Reads an optional property of `obj`; returns 0 when absent or undefined. */
static int get_opt(napi_env env, napi_value obj, const char *name, napi_valuetype want, napi_value *out) {
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined) return 0;
  if (t != want) return -1;
  *out = v;
  return 1;
}

static int get_uint_opt(napi_env env, napi_value obj, const char *name, uint32_t min, uint32_t max, uint32_t *out) {
  napi_value v;
  int r = get_opt(env, obj, name, napi_number, &v);
  if (r <= 0) return r;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != d || d < (double)min || d > (double)max || d != (double)(uint32_t)d) return -1;
  *out = (uint32_t)d;
  return 1;
}

static int get_bool_opt(napi_env env, napi_value obj, const char *name, int *out) {
  napi_value v;
  int r = get_opt(env, obj, name, napi_boolean, &v);
  if (r <= 0) return r;
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return -1;
  *out = b ? 1 : 0;
  return 1;
}

static napi_value make_uint(napi_env env, double v) {
  napi_value out = NULL;
  napi_create_double(env, v, &out);
  return out;
}

/* ---- reading ------------------------------------------------------------------------------- */

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  capture_t *c = (capture_t *)user;
  uint32_t caplen = h->caplen < c->snaplen ? h->caplen : c->snaplen;
  size_t need = RECORD_HEADER + ((caplen + 3u) & ~3u);
  /* pcap_dispatch was asked for no more than fit; this only guards that promise. */
  if (c->batch == NULL || c->used + need > c->batch_size) return;
  uint32_t header[4];
  header[0] = (uint32_t)h->ts.tv_sec;
  header[1] = c->nano ? (uint32_t)h->ts.tv_usec : (uint32_t)h->ts.tv_usec * 1000u;
  header[2] = caplen;
  header[3] = h->len;
  uint8_t *at = c->batch + c->used;
  memcpy(at, header, sizeof header);
  memcpy(at + RECORD_HEADER, bytes, caplen);
  c->used += need;
  c->count++;
}

/*
 * Calls onBatch(count, bytes, error) with the records gathered so far (or none, with an error), then
 * empties the batch. Returns 0 when reading may go on, -1 when the capture was closed meanwhile or
 * the callback threw (the exception goes to process 'uncaughtException', like any event callback's).
 */
static int deliver(capture_t *c, const char *error) {
  napi_env env = c->env;
  uint32_t count = c->count;
  size_t used = c->used;
  c->count = 0;
  c->used = 0;
  if (c->callback == NULL) return -1;
  napi_value cb, recv, argv[3], result;
  if (napi_get_reference_value(env, c->callback, &cb) != napi_ok || cb == NULL) return -1;
  /* napi_make_callback converts the receiver to an object: undefined would throw. */
  if (napi_get_global(env, &recv) != napi_ok) return -1;
  argv[0] = make_uint(env, count);
  argv[1] = make_uint(env, (double)used);
  if (error != NULL) {
    if (napi_create_string_utf8(env, error, NAPI_AUTO_LENGTH, &argv[2]) != napi_ok) return -1;
  } else if (napi_get_null(env, &argv[2]) != napi_ok) {
    return -1;
  }
  if (argv[0] == NULL || argv[1] == NULL) return -1;
  napi_status s = napi_make_callback(env, c->async, recv, cb, 3, argv, &result);
  if (s != napi_ok) {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value e;
      if (napi_get_and_clear_last_exception(env, &e) == napi_ok) napi_fatal_exception(env, e);
    }
    return -1;
  }
  return c->pcap == NULL ? -1 : 0;
}

/* Stops reading after a failure; the handle stays open for stats() until close(). */
static void stop_poll(capture_t *c) {
  if (c->poll != NULL) uv_poll_stop(c->poll);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  capture_t *c = (capture_t *)handle->data;
  if (c == NULL || c->pcap == NULL) return;
  napi_env env = c->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  c->busy++;
  char error[PCAP_ERRBUF_SIZE + 64];
  error[0] = '\0';
  if (status < 0) {
    /* libuv stopped the poll on POLLERR (the interface went down or away); libpcap reads the reason. */
    snprintf(error, sizeof error, "%s", uv_strerror(status));
  }
  size_t per = RECORD_HEADER + ((c->snaplen + 3u) & ~3u);
  uint32_t total = 0;
  while (c->pcap != NULL && c->batch != NULL && total < c->budget) {
    size_t room = (c->batch_size - c->used) / per;
    if (room == 0) {
      if (deliver(c, NULL) != 0) goto out;
      continue;
    }
    uint32_t want = c->budget - total;
    if (room < want) want = (uint32_t)room;
    int n = pcap_dispatch(c->pcap, (int)want, on_packet, (u_char *)c);
    if (n < 0) {
      snprintf(error, sizeof error, "%s", n == PCAP_ERROR_BREAK ? "reading was interrupted" : pcap_geterr(c->pcap));
      break;
    }
    if (n == 0 || status < 0) break;
    total += (uint32_t)n;
  }
  if (c->count > 0 && deliver(c, NULL) != 0) goto out;
  if (error[0] != '\0' && c->pcap != NULL) {
    stop_poll(c);
    char text[sizeof error + MAX_IFACE + 32];
    snprintf(text, sizeof text, "libpcap on %s: %s", c->iface, error);
    deliver(c, text);
  }
out:
  c->busy--;
  napi_close_handle_scope(env, scope);
  if (c->finalized && c->busy == 0) free(c);
}

/* ---- the class ----------------------------------------------------------------------------- */

static capture_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  void *data = NULL;
  int r = pw_get_this(env, info, argc, argv, &data);
  if (r == PW_THIS_NOT_WRAPPED) napi_throw_type_error(env, PW_ERR_CODE, "not a Capture");
  return r == PW_THIS_OK ? (capture_t *)data : NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  capture_t *c = (capture_t *)data;
  release(c);
  c->finalized = 1;
  if (c->busy == 0) free(c);
}

static napi_value Construct(napi_env env, napi_callback_info info) {
  napi_value self;
  if (napi_get_cb_info(env, info, NULL, NULL, &self, NULL) != napi_ok) return NULL;
  capture_t *c = calloc(1, sizeof *c);
  if (c == NULL) {
    PW_THROW(env, "out of memory");
  }
  c->env = env;
  if (napi_wrap(env, self, c, finalize, NULL, NULL) != napi_ok) {
    free(c);
    PW_THROW(env, "cannot wrap the capture");
  }
  return self;
}

/* open(interface, { snaplen, bufferBytes, promiscuous, immediate, timeoutMs, budgetPackets, filter }, batch, onBatch) */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  capture_t *c = unwrap(env, info, &argc, argv);
  if (c == NULL) return NULL;
  if (argc < 4) {
    napi_throw_type_error(env, PW_ERR_CODE, "open(interface, options, buffer, callback)");
    return NULL;
  }
  char iface[MAX_IFACE];
  size_t len = 0;
  napi_valuetype t;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_string ||
      napi_get_value_string_utf8(env, argv[0], iface, sizeof iface, &len) != napi_ok || len == 0 || len >= sizeof iface - 1) {
    napi_throw_type_error(env, PW_ERR_CODE, "interface must be a non-empty name");
    return NULL;
  }
  if (c->pcap != NULL) return fail(env, "PCAP_ERROR_ACTIVATED", iface, "already open", NULL);

  uint32_t snaplen = 65535, buffer_bytes = 64u << 20, timeout_ms = 100, budget = 16384;
  int promiscuous = 1, immediate = 1;
  char *filter = NULL;
  napi_value opts = argv[1], fv = NULL;
  if (napi_typeof(env, opts, &t) != napi_ok || t != napi_object) return fail(env, "PCAP_ERROR_USAGE", iface, "options must be an object", NULL);
  if (get_uint_opt(env, opts, "snaplen", 1, 262144, &snaplen) < 0) return fail(env, "PCAP_ERROR_USAGE", iface, "snaplen must be an integer 1-262144", NULL);
  if (get_uint_opt(env, opts, "bufferBytes", 65536, 0x7fffffff, &buffer_bytes) < 0) return fail(env, "PCAP_ERROR_USAGE", iface, "bufferBytes must be an integer 65536-2147483647", NULL);
  if (get_uint_opt(env, opts, "timeoutMs", 1, 60000, &timeout_ms) < 0) return fail(env, "PCAP_ERROR_USAGE", iface, "timeoutMs must be an integer 1-60000", NULL);
  if (get_uint_opt(env, opts, "budgetPackets", 1, 1u << 24, &budget) < 0) return fail(env, "PCAP_ERROR_USAGE", iface, "budgetPackets must be an integer 1-16777216", NULL);
  if (get_bool_opt(env, opts, "promiscuous", &promiscuous) < 0) return fail(env, "PCAP_ERROR_USAGE", iface, "promiscuous must be a boolean", NULL);
  if (get_bool_opt(env, opts, "immediate", &immediate) < 0) return fail(env, "PCAP_ERROR_USAGE", iface, "immediate must be a boolean", NULL);
  int has_filter = get_opt(env, opts, "filter", napi_string, &fv);
  if (has_filter < 0) return fail(env, "PCAP_ERROR_USAGE", iface, "filter must be a string", NULL);

  bool is_buffer = false;
  void *batch = NULL;
  size_t batch_size = 0;
  if (napi_is_buffer(env, argv[2], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[2], &batch, &batch_size) != napi_ok || batch == NULL) {
    return fail(env, "PCAP_ERROR_USAGE", iface, "batch must be a Buffer", NULL);
  }
  if (((uintptr_t)batch & 3u) != 0 || batch_size < RECORD_HEADER + ((snaplen + 3u) & ~3u)) {
    return fail(env, "PCAP_ERROR_USAGE", iface, "batch must be 4-aligned and hold at least one record (16 + snaplen bytes)", NULL);
  }
  if (napi_typeof(env, argv[3], &t) != napi_ok || t != napi_function) return fail(env, "PCAP_ERROR_USAGE", iface, "callback must be a function", NULL);

  if (has_filter > 0) {
    size_t flen = 0;
    if (napi_get_value_string_utf8(env, fv, NULL, 0, &flen) != napi_ok || flen > MAX_FILTER) return fail(env, "PCAP_ERROR_USAGE", iface, "filter is too long", NULL);
    filter = malloc(flen + 1);
    if (filter == NULL) return fail(env, "PCAP_ERROR", iface, "out of memory", NULL);
    if (napi_get_value_string_utf8(env, fv, filter, flen + 1, &flen) != napi_ok) {
      free(filter);
      return fail(env, "PCAP_ERROR_USAGE", iface, "cannot read the filter", NULL);
    }
  }

  memcpy(c->iface, iface, len + 1);
  memset(&c->last, 0, sizeof c->last);
  char errbuf[PCAP_ERRBUF_SIZE];
  errbuf[0] = '\0';
  const char *status = "PCAP_ERROR";
  const char *what = NULL;
  char detail[PCAP_ERRBUF_SIZE + 128];
  detail[0] = '\0';
  int rc;

  c->pcap = pcap_create(iface, errbuf);
  if (c->pcap == NULL) {
    what = "cannot create a capture handle";
    snprintf(detail, sizeof detail, "%s", errbuf);
    goto failed;
  }
  if ((rc = pcap_set_snaplen(c->pcap, (int)snaplen)) != 0 || (rc = pcap_set_promisc(c->pcap, promiscuous)) != 0 ||
      (rc = pcap_set_buffer_size(c->pcap, (int)buffer_bytes)) != 0 || (rc = pcap_set_timeout(c->pcap, (int)timeout_ms)) != 0 ||
      (rc = pcap_set_immediate_mode(c->pcap, immediate)) != 0) {
    what = "cannot set the capture options";
    snprintf(detail, sizeof detail, "%s", pcap_statustostr(rc));
    goto failed;
  }
  /* Nanosecond stamps where the kernel gives them (Linux does); microseconds are fine otherwise. */
  rc = pcap_set_tstamp_precision(c->pcap, PCAP_TSTAMP_PRECISION_NANO);
  if (rc != 0 && rc != PCAP_ERROR_TSTAMP_PRECISION_NOTSUP) {
    what = "cannot set the timestamp precision";
    snprintf(detail, sizeof detail, "%s", pcap_statustostr(rc));
    goto failed;
  }
  rc = pcap_activate(c->pcap);
  const char *warning = NULL;
  char warnbuf[PCAP_ERRBUF_SIZE + 128];
  if (rc < 0) {
    status = status_code(rc);
    what = pcap_statustostr(rc);
    snprintf(detail, sizeof detail, "%s", pcap_geterr(c->pcap));
    goto failed;
  }
  if (rc > 0) {
    const char *more = pcap_geterr(c->pcap);
    snprintf(warnbuf, sizeof warnbuf, "%s%s%s", pcap_statustostr(rc), more[0] != '\0' ? ": " : "", more);
    warning = warnbuf;
  }
  c->nano = pcap_get_tstamp_precision(c->pcap) == PCAP_TSTAMP_PRECISION_NANO;
  int linktype = linktype_of(pcap_datalink(c->pcap));
  if (filter != NULL && filter[0] != '\0') {
    struct bpf_program prog;
    if (pcap_compile(c->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
      status = "PCAP_ERROR_FILTER";
      what = "cannot compile the filter";
      snprintf(detail, sizeof detail, "%s", pcap_geterr(c->pcap));
      goto failed;
    }
    rc = pcap_setfilter(c->pcap, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
      status = "PCAP_ERROR_FILTER";
      what = "cannot install the filter";
      snprintf(detail, sizeof detail, "%s", pcap_geterr(c->pcap));
      goto failed;
    }
  }
  if (pcap_setnonblock(c->pcap, 1, errbuf) != 0) {
    what = "cannot make the handle non-blocking";
    snprintf(detail, sizeof detail, "%s", errbuf);
    goto failed;
  }
  int fd = pcap_get_selectable_fd(c->pcap);
  if (fd < 0) {
    what = "no selectable descriptor";
    goto failed;
  }
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) {
    what = "no event loop";
    goto failed;
  }
  c->poll = malloc(sizeof *c->poll);
  if (c->poll == NULL) {
    what = "out of memory";
    goto failed;
  }
  if ((rc = uv_poll_init(loop, c->poll, fd)) != 0) {
    free(c->poll);
    c->poll = NULL;
    what = "cannot watch the descriptor";
    snprintf(detail, sizeof detail, "%s", uv_strerror(rc));
    goto failed;
  }
  c->poll->data = c;
  napi_value resource_name;
  if (napi_create_reference(env, argv[3], 1, &c->callback) != napi_ok || napi_create_reference(env, argv[2], 1, &c->buffer) != napi_ok ||
      napi_create_string_utf8(env, "portwarden:pcap", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, NULL, resource_name, &c->async) != napi_ok) {
    what = "cannot keep the callback";
    goto failed;
  }
  c->batch = batch;
  c->batch_size = batch_size;
  c->used = 0;
  c->count = 0;
  c->snaplen = snaplen;
  c->budget = budget;
  if ((rc = uv_poll_start(c->poll, UV_READABLE, on_readable)) != 0) {
    what = "cannot watch the descriptor";
    snprintf(detail, sizeof detail, "%s", uv_strerror(rc));
    goto failed;
  }
  free(filter);

  napi_value result, v;
  if (napi_create_object(env, &result) != napi_ok) return NULL;
  if (napi_create_int32(env, linktype, &v) == napi_ok) napi_set_named_property(env, result, "linkType", v);
  if (napi_get_boolean(env, c->nano != 0, &v) == napi_ok) napi_set_named_property(env, result, "nanoseconds", v);
  if (warning != NULL) {
    if (napi_create_string_utf8(env, warning, NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, result, "warning", v);
  } else if (napi_get_null(env, &v) == napi_ok) {
    napi_set_named_property(env, result, "warning", v);
  }
  return result;

failed:
  free(filter);
  release(c);
  return fail(env, status, iface, what, detail);
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  capture_t *c = unwrap(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  release(c);
  return pw_undefined(env);
}

static napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  capture_t *c = unwrap(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  if (c->pcap != NULL) {
    struct pcap_stat s;
    if (pcap_stats(c->pcap, &s) != 0) return fail(env, "PCAP_ERROR", c->iface, "cannot read the statistics", pcap_geterr(c->pcap));
    c->last = s;
  }
  napi_value result;
  if (napi_create_object(env, &result) != napi_ok) return NULL;
  pw_set_num(env, result, "received", c->last.ps_recv);
  pw_set_num(env, result, "dropped", c->last.ps_drop);
  pw_set_num(env, result, "ifdropped", c->last.ps_ifdrop);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      PW_METHOD("open", Open),
      PW_METHOD("close", Close),
      PW_METHOD("stats", Stats),
  };
  napi_value cls, version;
  if (napi_define_class(env, "Capture", NAPI_AUTO_LENGTH, Construct, NULL, PW_COUNT(methods), methods, &cls) != napi_ok ||
      napi_set_named_property(env, exports, "Capture", cls) != napi_ok) {
    return NULL;
  }
  if (napi_create_string_utf8(env, pcap_lib_version(), NAPI_AUTO_LENGTH, &version) == napi_ok) napi_set_named_property(env, exports, "libraryVersion", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
