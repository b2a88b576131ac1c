#!/usr/bin/env python3
"""Where one recognition's CPU goes: N recognitions one after another through a server of its
own (one database connection), with the server's and its PostgreSQL backends' CPU time per
request (from /proc) and each statement's time per request, by protocol step (parse, bind =
planning, execute), from the PostgreSQL log (log_min_duration_statement = 0, set for the
probe's connections only).

    bench/cpu_probe.py --db URL --bin target/release/frontline [--org bench-10k] [-n 300]

The organisation must be a seeded benchmark organisation (its members' password is the
benchmark's); its peer allowance and daily cap are raised, as `scripts/bench` does for its
recognition parts. Run as a user who can read the PostgreSQL log (Debian: root or postgres).
CPU times are per request and not wall-clock, so a busy machine blurs them less than it blurs
latencies; the statements' times are wall-clock.
"""

import argparse
import glob
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

PASSWORD = "bench-kudos-for-everyone-2026"
APP = "frontline-cpu-probe"


def psql(db, sql):
    out = subprocess.run(["psql", db, "-XAtc", sql], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def call(api, path, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(api + path, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_log(db):
    directory = psql(db, "SHOW data_directory")
    current = psql(db, "SELECT pg_current_logfile()")
    if current:
        return current if current.startswith("/") else os.path.join(directory, current)
    version = int(psql(db, "SHOW server_version_num")) // 10000
    found = sorted(glob.glob(f"/var/log/postgresql/postgresql-{version}-*.log"))
    if not found:
        sys.exit("cannot find the PostgreSQL log")
    return found[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="the benchmark database's URL")
    ap.add_argument("--bin", required=True, help="the frontline binary")
    ap.add_argument("--org", default="bench-10k")
    ap.add_argument("-n", type=int, default=300)
    a = ap.parse_args()

    org = psql(a.db, f"SELECT id FROM organisations WHERE slug = '{a.org}'")
    psql(a.db, f"UPDATE point_rules SET peer_monthly_allowance = 1000000, "
               f"peer_daily_cap_per_recipient = 1000000, peer_monthly_cap_per_recipient = 1000000 WHERE organisation_id = '{org}'")
    members = psql(a.db, f"SELECT email || ' ' || id FROM members WHERE organisation_id = '{org}' "
                         f"AND deactivated_at IS NULL AND team_id IS NOT NULL ORDER BY id LIMIT 2008").split("\n")
    givers, recipients = [m.split()[0] for m in members[:8]], [m.split()[1] for m in members[8:]]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sep = "&" if "?" in a.db else "?"
    url = f"{a.db}{sep}application_name={APP}&options=-c%20log_min_duration_statement%3D0"
    env = dict(os.environ, ROCKET_PROFILE="release", ROCKET_ADDRESS="127.0.0.1", ROCKET_PORT=str(port),
               ROCKET_LOG_LEVEL="critical", RUST_LOG="warn", DATABASE_URL=url,
               FRONTLINE_JWT_SECRET=os.urandom(32).hex(), FRONTLINE_DB_POOL_SIZE="1")
    server = subprocess.Popen([a.bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(api + "/health/live")
                break
            except OSError:
                time.sleep(0.2)
        tokens = []
        for g in givers:
            status, body = call(api, "/api/v1/auth/login", {"organisation": a.org, "email": g, "password": PASSWORD})
            if status != 200:
                sys.exit(f"login {g}: {status} {body}")
            tokens.append(body["access_token"])

        def recognise(i):
            return call(api, "/api/v1/recognitions",
                        {"recipients": [random.choice(recipients)], "message": "thanks for helping that customer",
                         "points": 1, "dimension": "empathy"}, tokens[i % len(tokens)])[0]

        for i in range(20):  # warm: statements prepared, caches filled
            recognise(i)
        pids = [int(p) for p in psql(a.db, f"SELECT pid FROM pg_stat_activity WHERE application_name = '{APP}'").split()]
        log = server_log(a.db)
        offset = os.path.getsize(log)
        s0, b0, t0 = cpu_seconds(server.pid), sum(cpu_seconds(p) for p in pids), time.time()
        statuses = {}
        for i in range(a.n):
            code = recognise(i)
            statuses[code] = statuses.get(code, 0) + 1
        s1, b1, t1 = cpu_seconds(server.pid), sum(cpu_seconds(p) for p in pids), time.time()
    finally:
        server.terminate()
        server.wait()

    n = a.n
    print(f"{n} recognitions, statuses {statuses}: {1000 * (t1 - t0) / n:.2f} ms each (wall), CPU per request: "
          f"server {1000 * (s1 - s0) / n:.2f} ms, PostgreSQL backends {1000 * (b1 - b0) / n:.2f} ms")
    with open(log, errors="replace") as f:
        f.seek(offset)
        text = f.read()
    ours = "|".join(rf"\[{p}\]" for p in pids)
    step = re.compile(rf"^.*(?:{ours}).*duration: ([0-9.]+) ms  (parse|bind|execute|statement)[^:]*: (.*)$", re.M)
    spent, counts, by_step = {}, {}, {}
    for m in step.finditer(text):
        key = (m.group(2), " ".join(m.group(3).split())[:90])
        spent[key] = spent.get(key, 0.0) + float(m.group(1))
        counts[key] = counts.get(key, 0) + 1
        by_step[m.group(2)] = by_step.get(m.group(2), 0.0) + float(m.group(1))
    print("per request, by step: " + ", ".join(f"{k} {v / n:.2f} ms" for k, v in sorted(by_step.items())))
    for (kind, sql), ms in sorted(spent.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {ms / n:7.3f} ms  x{counts[(kind, sql)] / n:4.2f}  {kind:9} {sql}")


if __name__ == "__main__":
    main()
