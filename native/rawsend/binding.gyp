{
  "targets": [
    {
      "target_name": "rawsend",
      "sources": ["rawsend.c"],
      "include_dirs": ["../common"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
