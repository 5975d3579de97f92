{
  # portwarden's own raw netlink socket (src/netlink/socket.ts loads build/Release/portwarden_netlink.node).
  # Plain C against node_api.h, no library; scripts/build-native.mjs builds it at install.
  "targets": [
    {
      "target_name": "portwarden_netlink",
      "sources": ["netlink_socket.c"],
      "include_dirs": ["../common"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror=implicit-function-declaration", "-O2"]
    }
  ]
}
