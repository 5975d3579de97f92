{
  # portwarden's own libpcap binding (capture/pcap-live.ts loads build/Release/portwarden_pcap.node).
  # Plain C against node_api.h and Debian's libpcap-dev; scripts/build-native.mjs builds it at install.
  "targets": [
    {
      "target_name": "portwarden_pcap",
      "sources": ["pcap_binding.c"],
      "include_dirs": ["../common"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"],
      "libraries": ["-lpcap"]
    }
  ]
}
