# What every portwarden addon shares (native/<name>/binding.gyp includes this): plain C (gnu11) against
# node_api.h at N-API 8, the shared helpers in native/common, and one set of warnings. A binding.gyp
# adds only its target name (portwarden_<name>), its sources and the libraries it links.
# scripts/build-native.mjs builds them all at install and records what it built (build/portwarden-build.json),
# which src/kernel/addon.ts checks before loading.
{
  "target_defaults": {
    "include_dirs": ["."],
    "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
    "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror=implicit-function-declaration"]
  }
}
