/*
 * Helpers shared by portwarden's own N-API addons (native/pcap, native/nfqueue, native/rawsend,
 * native/netlink). Each addon is one C file against node_api.h; these are the pieces they all wrote
 * out again: checking napi calls, throwing errors with the addon's error code, unwrapping `this`,
 * reading a few argument types, numeric result objects, and property descriptors.
 *
 * Everything is a macro or a static inline function, so each addon still compiles to one object
 * with no shared library. Before including this, an addon defines PW_ERR_CODE: the `code` of every
 * error it throws (e.g. "PW_ERR_NETLINK"). That code must be one of the table in src/errors.ts
 * (src/kernel/addon.test.ts checks both the sources and the errors the addons throw); callers match
 * on `code` and, for a failed system call, on `errno` (a number) and `syscall`, never on the text.
 */
#ifndef PORTWARDEN_NAPI_HELPERS_H
#define PORTWARDEN_NAPI_HELPERS_H

#include <node_api.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PW_ERR_CODE
#error "define PW_ERR_CODE (the addon's error code) before including napi_helpers.h"
#endif

/* Array length, for property-descriptor and field tables. */
#define PW_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Property descriptors: a class method (napi_default_method) or a plain exported function. */
#define PW_METHOD(name, fn) {(name), NULL, (fn), NULL, NULL, NULL, napi_default_method, NULL}
#define PW_FUNCTION(name, fn) {(name), NULL, (fn), NULL, NULL, NULL, napi_default, NULL}

/* Whether a JS exception is already pending: a second throw would be lost, and must not replace the first. */
static inline bool pw_exception_pending(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending;
}

/* Throws Error(message) with code PW_ERR_CODE. */
static inline void pw_throw_msg(napi_env env, const char *msg) { napi_throw_error(env, PW_ERR_CODE, msg); }

/* The symbolic name of an errno value ("ENOBUFS"), for messages. */
static inline const char *pw_errno_name(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *n = strerrorname_np(err);
  if (n != NULL) return n;
#endif
  return "EUNKNOWN";
}

/*
 * Throws Error("what: strerror (ENAME)") with code PW_ERR_CODE, `errno` (the number) and, unless
 * NULL, `syscall`: the one shape of a failed system call in every addon. Returns NULL for the
 * caller to return.
 */
static inline napi_value pw_throw_syscall(napi_env env, const char *syscall, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s (%s)", what, strerror(err), pw_errno_name(err));
  napi_value code, message, error, no, sc;
  if (napi_create_string_utf8(env, PW_ERR_CODE, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok || napi_create_int32(env, err, &no) != napi_ok ||
      napi_set_named_property(env, error, "errno", no) != napi_ok ||
      (syscall != NULL && (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc) != napi_ok ||
                           napi_set_named_property(env, error, "syscall", sc) != napi_ok))) {
    if (!pw_exception_pending(env)) pw_throw_msg(env, msg);
    return NULL;
  }
  napi_throw(env, error);
  return NULL;
}

/* pw_throw_syscall without a syscall name: "what" says which step failed. */
static inline napi_value pw_throw_errno(napi_env env, const char *what, int err) { return pw_throw_syscall(env, NULL, what, err); }

/* Throws `msg` (code PW_ERR_CODE) and returns NULL from the calling callback. */
#define PW_THROW(env, msg) \
  do {                     \
    pw_throw_msg((env), (msg)); \
    return NULL;           \
  } while (0)

/* A napi call that must succeed, else the calling callback throws `msg` and returns NULL. */
#define PW_CHECK_MSG(env, call, msg)            \
  do {                                          \
    if ((call) != napi_ok) PW_THROW(env, msg);  \
  } while (0)

/*
 * A napi call that must succeed, else the calling callback returns NULL with an exception: the one
 * the call left pending, or N-API's own description of the failure.
 */
#define PW_CHECK(env, call)                                          \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      const napi_extended_error_info *info_ = NULL;                  \
      napi_get_last_error_info((env), &info_);                       \
      if (!pw_exception_pending(env))                                \
        pw_throw_msg((env), info_ && info_->error_message ? info_->error_message : "N-API call failed"); \
      return NULL;                                                   \
    }                                                                \
  } while (0)

/* undefined, for callbacks that return nothing. */
static inline napi_value pw_undefined(napi_env env) {
  napi_value u = NULL;
  napi_get_undefined(env, &u);
  return u;
}

/* What pw_get_this found. */
enum { PW_THIS_OK = 0, PW_THIS_BAD_CALL = -1, PW_THIS_NOT_WRAPPED = -2 };

/* Reads the call's arguments and the native struct wrapped in `this`, without throwing. */
static inline int pw_get_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, void **out) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return PW_THIS_BAD_CALL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) return PW_THIS_NOT_WRAPPED;
  *out = data;
  return PW_THIS_OK;
}

/* Like pw_get_this, but throws ("bad call", or `not_this` when `this` is not ours); NULL then. */
static inline void *pw_unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, const char *not_this) {
  void *data = NULL;
  int r = pw_get_this(env, info, argc, argv, &data);
  if (r == PW_THIS_BAD_CALL) pw_throw_msg(env, "bad call");
  else if (r == PW_THIS_NOT_WRAPPED) pw_throw_msg(env, not_this);
  return r == PW_THIS_OK ? data : NULL;
}

/*
 * For constructors that take a callback: keeps `callback` (a reference), opens the async context
 * `resource` that napi_make_callback needs, and wraps `obj` (malloc'd) in `self` with `finalize`.
 * On failure undoes what was done, frees `obj`, throws `fail_msg` unless an exception is pending,
 * and returns -1.
 */
static inline int pw_wrap_with_callback(napi_env env, napi_value self, napi_value callback, void *obj, napi_finalize finalize,
                                        const char *resource, napi_ref *cb_ref, napi_async_context *async, const char *fail_msg) {
  napi_value name;
  if (napi_create_reference(env, callback, 1, cb_ref) != napi_ok ||
      napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, self, name, async) != napi_ok || napi_wrap(env, self, obj, finalize, NULL, NULL) != napi_ok) {
    if (*cb_ref != NULL) napi_delete_reference(env, *cb_ref);
    if (*async != NULL) napi_async_destroy(env, *async);
    free(obj);
    if (!pw_exception_pending(env)) pw_throw_msg(env, fail_msg);
    return -1;
  }
  return 0;
}

/*
 * Reads an optional whole-number property 0..2^32-1 (with `allow_bool`, true/false read as 1/0).
 * Absent or undefined leaves *out unchanged. Returns 0, -1 (a napi call failed) or -2 (bad value).
 */
static inline int pw_opt_u32(napi_env env, napi_value obj, const char *name, uint32_t *out, bool allow_bool) {
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok) return -1;
  if (!has) return 0;
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined) return 0;
  if (allow_bool && t == napi_boolean) {
    bool b;
    if (napi_get_value_bool(env, v, &b) != napi_ok) return -1;
    *out = b ? 1 : 0;
    return 0;
  }
  if (t != napi_number) return -2;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return -1;
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) return -2;
  *out = (uint32_t)d;
  return 0;
}

/*
 * open()'s option object: reads each names[i] into *outs[i] with pw_opt_u32. On a bad one throws
 * TypeError "open(): option NAME must be <must_be>" (unless an exception is pending) and returns -1.
 */
static inline int pw_read_u32_options(napi_env env, napi_value obj, const char *const *names, uint32_t *const *outs, size_t n,
                                      bool allow_bool, const char *must_be) {
  for (size_t i = 0; i < n; i++) {
    if (pw_opt_u32(env, obj, names[i], outs[i], allow_bool) != 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "open(): option %s must be %s", names[i], must_be);
      if (!pw_exception_pending(env)) napi_throw_type_error(env, PW_ERR_CODE, msg);
      return -1;
    }
  }
  return 0;
}

/* Whether `v` is a typed array of type `want`; if so, its data and element count. */
static inline bool pw_typedarray(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  bool is_ta = false;
  napi_typedarray_type tt;
  size_t off;
  napi_value ab;
  return napi_is_typedarray(env, v, &is_ta) == napi_ok && is_ta &&
         napi_get_typedarray_info(env, v, &tt, length, data, &ab, &off) == napi_ok && tt == want;
}

/* obj[name] = v as a JS number. Returns 0 or -1. */
static inline int pw_set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  return napi_create_double(env, v, &n) == napi_ok && napi_set_named_property(env, obj, name, n) == napi_ok ? 0 : -1;
}

/* A name and a number: one property of a stats object. */
typedef struct {
  const char *k;
  double v;
} pw_num_field;

/* stats(): a new object with one number property per field; throws and returns NULL on failure. */
static inline napi_value pw_num_object(napi_env env, const pw_num_field *f, size_t n) {
  napi_value o;
  PW_CHECK(env, napi_create_object(env, &o));
  for (size_t i = 0; i < n; i++)
    if (pw_set_num(env, o, f[i].k, f[i].v) != 0) PW_THROW(env, "cannot build the stats object");
  return o;
}

#endif
