{
  # portwarden's own raw netlink socket (no library).
  # Built by scripts/build-native.mjs (at `npm ci`), loaded by src/kernel/addon.ts; the shared
  # settings are in native/common/addon.gypi.
  "includes": ["../common/addon.gypi"],
  "targets": [
    {
      "target_name": "portwarden_netlink",
      "sources": ["netlink_socket.c", "../common/nl_recv_loop.c"],
      "libraries": []
    }
  ]
}
