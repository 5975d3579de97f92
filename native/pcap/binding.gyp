{
  # portwarden's libpcap binding (Debian's libpcap-dev).
  # Built by scripts/build-native.mjs (at `npm ci`), loaded by src/kernel/addon.ts; the shared
  # settings are in native/common/addon.gypi.
  "includes": ["../common/addon.gypi"],
  "targets": [
    {
      "target_name": "portwarden_pcap",
      "sources": ["pcap_binding.c"],
      "libraries": ["-lpcap"]
    }
  ]
}
