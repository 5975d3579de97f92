{
  "targets": [
    {
      "target_name": "nfqueue",
      "sources": ["nfqueue.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lnetfilter_queue", "-lnfnetlink", "-lpthread"]
    }
  ]
}
