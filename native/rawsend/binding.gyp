{
  "targets": [
    {
      "target_name": "rawsend",
      "sources": ["rawsend.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
