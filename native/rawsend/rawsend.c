/*
 * rawsend: the smallest raw-socket binding portwarden needs to answer scanners itself. Node has no
 * raw sockets. The caller builds the whole IP packet (IPv4 or IPv6 header, TCP header, checksums);
 * this only opens a SOCK_RAW/IPPROTO_RAW socket (the kernel then takes our IP header as is:
 * IP_HDRINCL for IPv4, and for IPv6 IPPROTO_RAW sets hdrincl too), sends one buffer to one address
 * and closes.
 *
 * What must stay true: nothing here may crash or block the process. Every libc call's result is
 * checked; bad arguments throw JS errors; the socket is non-blocking, and a send the kernel cannot
 * take now (EAGAIN, ENOBUFS, a netfilter drop, no route) is returned as a negative errno for the
 * caller to count, never thrown. close() of an fd already closed is the caller's to avoid (the JS
 * wrapper keeps -1 after closing); here a failing close is reported, not fatal.
 */
#define PW_ERR_CODE "PW_ERR_RESPOND"
#include "napi_helpers.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  if (napi_create_int64(env, v, &out) != napi_ok) return NULL;
  return out;
}

/* open(family: 4 | 6): fd. Needs CAP_NET_RAW. */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  PW_CHECK_MSG(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "rawsend.open: bad call");
  if (argc < 1) PW_THROW(env, "rawsend.open(family): family missing");
  int32_t family = 0;
  if (napi_get_value_int32(env, argv[0], &family) != napi_ok || (family != 4 && family != 6)) PW_THROW(env, "rawsend.open(family): family must be 4 or 6");
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) return pw_throw_errno(env, family == 4 ? "socket(AF_INET, SOCK_RAW, IPPROTO_RAW) failed" : "socket(AF_INET6, SOCK_RAW, IPPROTO_RAW) failed", errno);
  if (family == 6) {
#ifdef IPV6_HDRINCL
    /* IPPROTO_RAW implies it on Linux; say it anyway so an older or stricter kernel refuses loudly. */
    int on = 1;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, &on, sizeof on) != 0) {
      int err = errno;
      if (close(fd) != 0) { /* nothing more to do: the fd is gone either way */ }
      return pw_throw_errno(env, "setsockopt(IPV6_HDRINCL) failed", err);
    }
#endif
  }
  return make_int(env, fd);
}

/*
 * send(fd, packet: Buffer, address: string, family: 4 | 6): bytes sent (>= 0) or -errno when the
 * kernel would not take it now. Throws only for bad arguments.
 */
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  PW_CHECK_MSG(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "rawsend.send: bad call");
  if (argc < 4) PW_THROW(env, "rawsend.send(fd, packet, address, family): arguments missing");
  int32_t fd = -1, family = 0;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) PW_THROW(env, "rawsend.send: fd must be an open socket");
  if (napi_get_value_int32(env, argv[3], &family) != napi_ok || (family != 4 && family != 6)) PW_THROW(env, "rawsend.send: family must be 4 or 6");
  bool is_buffer = false;
  if (napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer) PW_THROW(env, "rawsend.send: packet must be a Buffer");
  void *data = NULL;
  size_t length = 0;
  PW_CHECK_MSG(env, napi_get_buffer_info(env, argv[1], &data, &length), "rawsend.send: cannot read the packet buffer");
  if (length < 20 || length > 65535) PW_THROW(env, "rawsend.send: packet must be 20 to 65535 bytes");
  char address[INET6_ADDRSTRLEN + 1];
  size_t address_len = 0;
  if (napi_get_value_string_utf8(env, argv[2], address, sizeof address, &address_len) != napi_ok) PW_THROW(env, "rawsend.send: address must be a string");
  if (address_len >= sizeof address - 1) PW_THROW(env, "rawsend.send: address too long");

  ssize_t sent;
  if (family == 4) {
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    if (inet_pton(AF_INET, address, &to.sin_addr) != 1) PW_THROW(env, "rawsend.send: not an IPv4 address");
    sent = sendto(fd, data, length, MSG_DONTWAIT, (const struct sockaddr *)&to, sizeof to);
  } else {
    struct sockaddr_in6 to;
    memset(&to, 0, sizeof to);
    to.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, address, &to.sin6_addr) != 1) PW_THROW(env, "rawsend.send: not an IPv6 address");
    sent = sendto(fd, data, length, MSG_DONTWAIT, (const struct sockaddr *)&to, sizeof to);
  }
  if (sent < 0) {
    int err = errno;
    if (err == EBADF || err == ENOTSOCK) return pw_throw_errno(env, "sendto failed", err);
    return make_int(env, -(int64_t)err);
  }
  return make_int(env, (int64_t)sent);
}

/* close(fd): true, or throws naming errno (EBADF: closed before). */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  PW_CHECK_MSG(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "rawsend.close: bad call");
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) PW_THROW(env, "rawsend.close(fd): fd must be a socket number");
  if (close(fd) != 0 && errno != EINTR) return pw_throw_errno(env, "close failed", errno);
  napi_value out;
  PW_CHECK_MSG(env, napi_get_boolean(env, true, &out), "rawsend.close: cannot return");
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      PW_FUNCTION("open", Open),
      PW_FUNCTION("send", Send),
      PW_FUNCTION("close", Close),
  };
  PW_CHECK_MSG(env, napi_define_properties(env, exports, PW_COUNT(props), props), "rawsend: cannot define exports");
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
