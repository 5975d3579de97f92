{
  "targets": [
    {
      "target_name": "nfqueue",
      "sources": ["nfqueue.c"],
      "include_dirs": ["../common"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lnetfilter_queue", "-lnfnetlink", "-lpthread"]
    }
  ]
}
