"""The seeds' way, for a baseline measured in the same run: Scapy dissects every packet and a dict
counts SYNs per source (the sketch's detection). Reads the first N packets of a capture offline and
prints one JSON line: packets, seconds, packets per second, and the same per CPU-second (user + sys
of this process), as the analyze figures are.

    /usr/bin/python3 bench/baseline/scapy_sketch.py CAPTURE N
"""
import json
import sys
import time

from scapy.all import IP, TCP, PcapReader  # Debian: python3-scapy

path, limit = sys.argv[1], int(sys.argv[2])
syn_per_source = {}
suspects = set()
THRESHOLD = 5
packets = 0
start = time.perf_counter()
cpu_start = time.process_time()
with PcapReader(path) as reader:
    for pkt in reader:
        packets += 1
        if TCP in pkt and IP in pkt and pkt[TCP].flags == "S":
            src = pkt[IP].src
            syn_per_source[src] = syn_per_source.get(src, 0) + 1
            if syn_per_source[src] > THRESHOLD:
                suspects.add(src)
        if packets >= limit:
            break
seconds = time.perf_counter() - start
cpu_seconds = time.process_time() - cpu_start
print(json.dumps({"packets": packets, "seconds": seconds, "packets_per_second": packets / seconds, "cpu_seconds": cpu_seconds, "packets_per_cpu_second": packets / cpu_seconds, "suspects": len(suspects)}))
