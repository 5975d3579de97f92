{
  # portwarden's raw IPv4/IPv6 sockets for crafted replies (no library).
  # Built by scripts/build-native.mjs (at `npm ci`), loaded by src/kernel/addon.ts; the shared
  # settings are in native/common/addon.gypi.
  "includes": ["../common/addon.gypi"],
  "targets": [
    {
      "target_name": "portwarden_rawsend",
      "sources": ["rawsend.c"],
      "libraries": []
    }
  ]
}
