{
  # portwarden's NFQUEUE binding (libnetfilter_queue for setup, our own netlink receive loop).
  # Built by scripts/build-native.mjs (at `npm ci`), loaded by src/kernel/addon.ts; the shared
  # settings are in native/common/addon.gypi.
  "includes": ["../common/addon.gypi"],
  "targets": [
    {
      "target_name": "portwarden_nfqueue",
      "sources": ["nfqueue.c", "../common/nl_recv_loop.c"],
      "libraries": ["-lnetfilter_queue", "-lnfnetlink", "-lpthread"]
    }
  ]
}
