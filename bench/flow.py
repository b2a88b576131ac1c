#!/usr/bin/env python3
"""Open-loop recognitions for scripts/bench: points flowing while boards are measured.

  flow.py --api http://127.0.0.1:PORT --picks FILE --rate 50 --seconds 30 [--out FILE]

Sends POST /api/v1/recognitions at a fixed rate (open loop: a request is due at its time
whether or not earlier ones have answered; a pool of workers on keep-alive connections sends
them), each from a random "giver-token recipient-id" pair of FILE (the pairs wrk's recognition
load uses), spread over the organisation. Prints one JSON line: requests due and sent, their
statuses, latency p50/p99 and how many started late (all workers busy).
"""

import argparse
import http.client
import json
import queue
import random
import threading
import time
import urllib.parse

MESSAGE = "Benchmark kudos: thanks for helping that customer"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--picks", required=True)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--dimension", default="empathy")
    ap.add_argument("--out")
    a = ap.parse_args()
    with open(a.picks) as fh:
        picks = [l.split() for l in fh if l.strip()]
    url = urllib.parse.urlparse(a.api)
    jobs = queue.Queue()
    lock = threading.Lock()
    latencies, statuses, late = [], {}, [0]

    def worker():
        conn = None
        while True:
            due = jobs.get()
            if due is None:
                return
            token, recipient = random.choice(picks)
            body = json.dumps({"recipients": [recipient], "message": MESSAGE,
                               "points": a.points, "dimension": a.dimension})
            start = time.monotonic()
            status = "error"
            for _ in range(2):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                    conn.request("POST", "/api/v1/recognitions", body,
                                 {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                    status = str(r.status)
                    break
                except (OSError, http.client.HTTPException):
                    conn = None
            with lock:
                latencies.append(time.monotonic() - start)
                statuses[status] = statuses.get(status, 0) + 1
                if start - due > 0.05:
                    late[0] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.workers)]
    for t in threads:
        t.start()
    begin = time.monotonic()
    n = int(a.rate * a.seconds)
    for i in range(n):
        due = begin + i / a.rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        jobs.put(due)
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join(timeout=15)
    lat = sorted(latencies)
    pct = lambda p: round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None
    ok = sum(v for k, v in statuses.items() if k.startswith("2"))
    result = {"due": n, "sent": len(lat), "ok": ok, "statuses": statuses, "rate": a.rate,
              "achieved_rate": round(len(lat) / (time.monotonic() - begin), 1),
              "p50_ms": pct(0.5), "p99_ms": pct(0.99), "late": late[0]}
    line = json.dumps(result)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
