#!/usr/bin/env python3
"""The webhook figures of scripts/bench-webhooks (issue #16). Run by it, against a running release
server whose database holds organisation SLUG (its admin and GIVERS employees share PASSWORD).

  webhooks.py --api URL --db URL --slug SLUG --password PW --bin FRONTLINE --run-dir DIR

1. Drain: N messages waiting in the outbox (written by real recognitions while the server's
   worker was off, then copied on to N) are delivered by a server with its worker on to a loopback receiver that
   checks every signature: events/s from the worker's start to the last delivery.
2. Flowing: recognitions through the API as fast as WORKERS closed-loop clients can, for
   SECONDS, with the endpoint registered and its receiver healthy: recognitions/s, deliveries/s,
   and the lag from commit to arrival (p50, p95).
3. A dead receiver: the recognition latency (p50, p95) with the endpoint pointing at a receiver
   that accepts connections and never answers, and at a closed port, each against the healthy
   receiver's figure.
Prints one JSON document.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


def call(api, method, path, token=None, body=None):
    u = urllib.parse.urlparse(api)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, (json.loads(data) if data else None)


def login(api, slug, email, password):
    for _ in range(20):
        status, body = call(api, "POST", "/api/v1/auth/login", body={"organisation": slug, "email": email, "password": password})
        if status == 200:
            return body["access_token"]
        time.sleep(0.5)
    raise SystemExit(f"login failed for {email}: {status} {body}")


def sink(mode, secret):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "webhook_sink.py"), mode, secret], stdout=subprocess.PIPE)
    port = int(p.stdout.readline())
    return p, port


def sink_stats(port):
    return call(f"http://127.0.0.1:{port}", "GET", "/_stats")[1]


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p))], 1)


def psql(db, sql):
    return subprocess.run(["psql", db, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def analyze(db):
    """Fresh statistics: the tables grow from nothing here, and a server with autovacuum off
    (or not yet awake) would plan the recognition's look-ups on empty-table estimates."""
    psql(db, "ANALYZE recognitions, recognition_recipients, webhook_messages, webhook_attempts, ledger_entries")


def recognise_loop(api, pairs, seconds, workers, raw=False):
    """Closed loop: WORKERS clients each posting a recognition as soon as the last answered."""
    u = urllib.parse.urlparse(api)
    lock = threading.Lock()
    latencies, statuses = [], {}
    deadline = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        while time.monotonic() < deadline:
            token, recipient = random.choice(pairs)
            body = json.dumps({"recipients": [recipient], "message": "Benchmark kudos: thanks for that save", "points": 1})
            start = time.monotonic()
            try:
                conn.request("POST", "/api/v1/recognitions", body, {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                status = "error"
            with lock:
                latencies.append((time.monotonic() - start) * 1000)
                statuses[str(status)] = statuses.get(str(status), 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if raw:
        return {"latencies": latencies, "statuses": statuses, "seconds": elapsed}
    return {"requests": len(latencies), "per_s": round(statuses.get("201", 0) / elapsed, 1), "statuses": statuses,
            "p50_ms": percentile(latencies, 0.5), "p95_ms": percentile(latencies, 0.95)}


def main():
    ap = argparse.ArgumentParser()
    for a in ("--api", "--db", "--slug", "--password", "--bin", "--run-dir"):
        ap.add_argument(a, required=True)
    ap.add_argument("--givers", type=int, default=200)
    ap.add_argument("--drain", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, default=8)
    a = ap.parse_args()
    results = {}

    admin = login(a.api, a.slug, f"admin@{a.slug}.example", a.password)
    members = [l.split("|") for l in psql(a.db, f"SELECT m.id, m.email FROM members m JOIN organisations o ON o.id = m.organisation_id WHERE o.slug = '{a.slug}' AND m.role = 'employee' ORDER BY m.email LIMIT {a.givers}").splitlines()]
    tokens = [(login(a.api, a.slug, email, a.password), mid) for mid, email in members]
    # Five groups of givers, one per part: each part starts with givers of no history, so that
    # what a giver has given before (it costs the caps' look-up) weighs alike on every part.
    size = len(tokens) // 5

    def pairs_of(group):
        givers = tokens[group * size:(group + 1) * size]
        return [(t, tokens[(i * 7 + j) % len(tokens)][1]) for i, (t, _) in enumerate(givers) for j in range(16)]

    # 1. Drain: the API server's worker is off (scripts/bench-webhooks starts it so). Real
    # recognitions queue messages, copied on to N (the copies keep their recognition, so
    # every body names real members); then a second server with its worker on delivers them.
    ok_sink, ok_port = sink("ok", "-")
    status, hook = call(a.api, "POST", "/api/v1/webhooks", admin, {"url": f"http://127.0.0.1:{ok_port}/hook", "event_types": ["recognition.received"]})
    assert status == 201, hook
    ok_sink.kill()
    ok_sink, ok_port = sink("ok", hook["secret"])
    call(a.api, "PATCH", f"/api/v1/webhooks/{hook['id']}", admin, {"url": f"http://127.0.0.1:{ok_port}/hook"})
    real = recognise_loop(a.api, pairs_of(0), 10, a.workers)
    analyze(a.db)
    psql(a.db, f"""INSERT INTO webhook_messages (organisation_id, endpoint_id, event_type, subject_type, subject_id, actor_id, member_ids, data)
                   SELECT organisation_id, endpoint_id, event_type, subject_type, subject_id, actor_id, member_ids, data
                   FROM (SELECT m.*, row_number() OVER () AS n FROM webhook_messages m CROSS JOIN generate_series(1, {a.drain}) g
                         WHERE m.endpoint_id = '{hook['id']}') c
                   WHERE n <= {a.drain} - (SELECT count(*) FROM webhook_messages WHERE endpoint_id = '{hook['id']}')""")
    queued = int(psql(a.db, f"SELECT count(*) FROM webhook_messages WHERE endpoint_id = '{hook['id']}' AND status = 'pending'"))
    analyze(a.db)
    port = free_port()
    env = dict(os.environ, FRONTLINE_WEBHOOK_DELIVERY="true", ROCKET_PORT=str(port))
    worker = subprocess.Popen([a.bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(a.run_dir, "worker.log"), "w"))
    api = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        left = int(psql(a.db, f"SELECT count(*) FROM webhook_messages WHERE endpoint_id = '{hook['id']}' AND status = 'pending'"))
        if left == 0 or time.monotonic() - started > 300:
            break
        time.sleep(0.1)
    drained_s = time.monotonic() - started
    stats = sink_stats(ok_port)
    results["drain"] = {"messages": queued, "from_real_recognitions": real["statuses"].get("201", 0), "seconds": round(drained_s, 2), "events_per_s": round(queued / drained_s, 1),
                        "received": stats["received"], "bad_signatures": stats["bad_signatures"], "left": left,
                        "note": "from the worker process's start (its start-up included) to the last delivery recorded"}

    analyze(a.db)
    # 2. Flowing: through the server that delivers (its worker and its requests share a process).
    while call_ok(api) is False:
        time.sleep(0.2)
    before = stats["received"]
    flowing = recognise_loop(api, pairs_of(1), a.seconds, a.workers)
    time.sleep(2)
    stats = sink_stats(ok_port)
    lags = stats["lags_ms"][before:]
    flowing.update({"delivered": stats["received"] - before, "lag_p50_ms": percentile(lags, 0.5), "lag_p95_ms": percentile(lags, 0.95),
                    "bad_signatures": stats["bad_signatures"]})
    results["flowing"] = flowing

    # 3. The same load against a healthy receiver, one that never answers, and a closed port,
    # in three interleaved rounds (what the givers' history adds to a recognition then weighs
    # alike on each), each state with givers of its own.
    hang_sink, hang_port = sink("hang", "-")
    closed = free_port()
    states = ((2, "healthy", f"http://127.0.0.1:{ok_port}/hook"), (3, "hanging", f"http://127.0.0.1:{hang_port}/hook"),
              (4, "refused", f"http://127.0.0.1:{closed}/hook"))
    runs = {name: [] for _, name, _ in states}
    for _ in range(3):
        for group, name, url in states:
            analyze(a.db)
            call(api, "PATCH", f"/api/v1/webhooks/{hook['id']}", admin, {"url": url, "enabled": True})
            runs[name].append(recognise_loop(api, pairs_of(group), a.seconds / 3, a.workers, raw=True))
    latency = {}
    for name, parts in runs.items():
        lat = [x for p in parts for x in p["latencies"]]
        created = sum(p["statuses"].get("201", 0) for p in parts)
        latency[name] = {"requests": len(lat), "created": created, "per_s": round(created / sum(p["seconds"] for p in parts), 1),
                         "p50_ms": percentile(lat, 0.5), "p95_ms": percentile(lat, 0.95)}
    latency["pending_after"] = int(psql(a.db, f"SELECT count(*) FROM webhook_messages WHERE endpoint_id = '{hook['id']}' AND status = 'pending'"))
    for name in ("hanging", "refused"):
        for p in ("p50_ms", "p95_ms"):
            h, d = latency["healthy"][p], latency[name][p]
            latency[name][p.replace("_ms", "_vs_healthy")] = round(d / h, 2) if h else None
    results["dead_receiver"] = latency
    worker.kill()
    hang_sink.kill()
    ok_sink.kill()
    print(json.dumps(results, indent=2))


def call_ok(api):
    try:
        return call(api, "GET", "/health/live")[0] == 200
    except OSError:
        return False


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    main()
