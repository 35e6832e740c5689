#!/usr/bin/env python3
"""memsample.py OUT PID...: samples the summed RSS and PSS (kB, /proc/PID/smaps_rollup) of the
given processes and their children every 20 ms until SIGTERM, keeping `peak_rss_kb peak_pss_kb`
up to date in the file OUT.
PSS splits shared pages (libraries mapped by several of our processes) between them, so its sum
is what the processes together really occupy."""
import os
import signal
import sys
import time

out = sys.argv[1]
roots = [int(p) for p in sys.argv[2:]]
peak_rss = peak_pss = 0
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


while running:
    pids = set()
    todo = list(roots)
    while todo:
        p = todo.pop()
        if p not in pids:
            pids.add(p)
            todo.extend(children(p))
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    if rss > peak_rss or pss > peak_pss:
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        with open(out + ".new", "w") as f:
            f.write(f"{peak_rss} {peak_pss}\n")
        os.replace(out + ".new", out)
    time.sleep(0.02)
