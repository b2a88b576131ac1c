#!/usr/bin/env python3
"""Mixed traffic at capacity for scripts/soak (issue #14 item 5), then the consistency checks.

  soak.py --api http://127.0.0.1:PORT --db-url URL --psql PSQL --org SLUG --password PW \
          --out-dir DIR [--duration 300] [--connections 32] [--users 128] [--login-rate 0.5]

Python 3 standard library only: asyncio with raw HTTP/1.1 keep-alive connections, one per
closed-loop worker (each sends its next request when the last one has answered), so the mix
runs at whatever the machine gives it. What it does, in order:

  1. Reads the organisation's members from the database, creates an HR member (admin, through
     the API), raises the giving allowances (an admin's PATCH of the point rules: at capacity
     a giver would spend a month's allowance in seconds), and logs in --users members (team
     leads first) through the API: the soak's active users, shared out among the workers
     (each worker alone refreshes its users' tokens, so a refresh token is never used twice).
  2. Runs the mix for --duration seconds (weights in MIX below), plus two paced streams:
     password logins at --login-rate/s (open loop: argon2 is costly and bounded by a permit,
     so a closed loop of logins measures the permit, not a real organisation) and a /metrics
     scrape every 5 s (what Prometheus would do).
  3. Prints per route (method + path template) count, p50/p99/max and status classes, the
     4xx and 5xx answers by reason, and then the checks:
       writes       every recognition and win answered 201 is in the database once, and an
                    Idempotency-Key replay answered the first answer again;
       balances     every member's balance (GET /members/{id}/points, as an admin) equals the
                    sum of their ledger entries, and so does GET /me/points for each user;
       boards       once the board queues are folded, every board row equals rebuild_boards
                    (bench/verify.sql, which rolls back).
     Writes results.json and results.md to --out-dir. Exits 1 on any 5xx, transport error or
     failed check; 0 otherwise.
"""

import argparse
import asyncio
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid

DIMENSIONS = ["trust", "problem_solving", "time_and_effort", "expectations", "personalisation", "empathy"]
CHANNELS = ["phone", "in_person", "email", "chat", "social", "app", "web", "mail"]
STAGES = ["before", "during", "after"]
REACTIONS = ["applause", "heart", "celebrate", "insightful", "star"]
BOARDS = [
    ("members org month", "/api/v1/leaderboards/members?period=month&around_me=5"),
    ("members org all", "/api/v1/leaderboards/members?period=all&around_me=5"),
    ("members team month", "/api/v1/leaderboards/members?scope=team&period=month&around_me=5"),
    ("members team all", "/api/v1/leaderboards/members?scope=team&period=all&around_me=5"),
    ("teams month", "/api/v1/leaderboards/teams?period=month&around_me=2"),
    ("teams all", "/api/v1/leaderboards/teams?period=all&around_me=2"),
]
# The closed-loop mix, in percent of the workers' requests (logins and scrapes are paced
# apart). Boards 40, feed 15 (reactions included), me 10, recognitions 15, wins 10, exports 1.5,
# an admin's corrections 1 (adjustments, reversals, team moves, deactivations and reactivations:
# the writes that take points away or change who is listed where on the boards).
MIX = [
    ("board", 40.0),
    ("feed", 12.0),
    ("react", 3.0),
    ("me", 4.0),
    ("me_points", 4.0),
    ("me_progress", 2.0),
    ("recognise", 15.0),
    ("submit_win", 6.0),
    ("decide_win", 4.0),
    ("refresh", 2.0),
    ("export", 1.5),
    ("admin", 1.0),
]
TIMEOUT_S = 30.0


class HttpError(Exception):
    """The connection failed or answered something that is not HTTP/1.1."""


class Conn:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None
        self.stale_retries = 0

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method, path, headers=None, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: keep-alive"]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        if body is not None:
            head.append("Content-Type: application/json")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(data)}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        for attempt in range(2):
            reused = self.writer is not None
            if not reused:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                self.writer.write(raw)
                await self.writer.drain()
                return await asyncio.wait_for(self._response(method), TIMEOUT_S)
            except _Stale:
                # The server closed an idle keep-alive connection before reading this request
                # (no byte of an answer came): sending it again on a new one is safe.
                self.close()
                if not reused or attempt:
                    raise HttpError("connection closed before an answer")
                self.stale_retries += 1
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
                self.close()
                raise HttpError(type(e).__name__ + (f": {e}" if str(e) else "")) from e
        raise HttpError("unreachable")

    async def _response(self, method):
        line = await self.reader.readline()
        if not line:
            raise _Stale()
        parts = line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"not an HTTP status line: {line[:80]!r}")
        status = int(parts[1])
        headers = {}
        while True:
            h = await self.reader.readline()
            if h in (b"\r\n", b"\n"):
                break
            if not h:
                raise asyncio.IncompleteReadError(h, None)
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0].strip(), 16)
                if size == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(chunks)
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body


class _Stale(Exception):
    pass


class Stats:
    def __init__(self):
        self.lat = {}  # route -> [seconds]
        self.status = {}  # route -> {class: n}
        self.reasons = {}  # (route, status, title) -> n
        self.errors = {}  # (route, error) -> n

    def add(self, route, status, seconds, body=b""):
        self.lat.setdefault(route, []).append(seconds)
        cls = f"{status // 100}xx"
        by = self.status.setdefault(route, {})
        by[cls] = by.get(cls, 0) + 1
        if status >= 400:
            title = ""
            try:
                doc = json.loads(body)
                title = doc.get("title") or ""
                detail = doc.get("detail") or ""
                if detail:
                    title = f"{title}: {detail[:90]}"
            except (ValueError, AttributeError):
                title = body[:90].decode("utf-8", "replace")
            key = (route, status, title)
            self.reasons[key] = self.reasons.get(key, 0) + 1

    def error(self, route, err, seconds):
        self.lat.setdefault(route, []).append(seconds)
        by = self.status.setdefault(route, {})
        by["err"] = by.get("err", 0) + 1
        key = (route, str(err)[:120])
        self.errors[key] = self.errors.get(key, 0) + 1


def pct(sorted_values, p):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


class User:
    def __init__(self, member, tokens):
        self.id, self.email, self.role, self.team = member["id"], member["email"], member["role"], member["team"]
        self.set_tokens(tokens)

    def set_tokens(self, tokens):
        self.access = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        # Refresh a minute before expiry (15-minute tokens by default).
        self.renew_at = time.monotonic() + max(30, int(tokens.get("expires_in", 900)) - 60)

    def auth(self):
        return {"Authorization": "Bearer " + self.access}


class Soak:
    def __init__(self, a):
        self.a = a
        u = urllib.parse.urlparse(a.api)
        self.host, self.port = u.hostname, u.port
        self.stats = Stats()
        self.rng = random.Random(a.seed)
        self.created = {"recognition": set(), "initiative": set(), "ledger entry": set()}
        self.replays = {"sent": 0, "same": 0, "differ": []}
        self.export_lock = asyncio.Lock()
        self.admin_lock = asyncio.Lock()
        self.export_rows = []
        self.feed_ids = []
        self.login_503 = {"count": 0, "retry_after": set()}

    # -- database ---------------------------------------------------------------------------
    def sql(self, query, *extra):
        out = subprocess.run([self.a.psql, self.a.db_url, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              *extra, "-c", query], check=True, capture_output=True, text=True)
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    # -- one request, timed and counted --------------------------------------------------------
    async def call(self, conn, route, method, path, user=None, body=None, headers=None):
        h = dict(headers or {})
        if user is not None:
            h.update(user.auth())
        start = time.perf_counter()
        try:
            status, rh, data = await conn.request(method, path, h, body)
        except HttpError as e:
            self.stats.error(route, e, time.perf_counter() - start)
            return None, None, None
        self.stats.add(route, status, time.perf_counter() - start, data)
        return status, rh, data

    # -- set-up ------------------------------------------------------------------------------
    async def login(self, conn, email, route="POST /api/v1/auth/login", record=True):
        body = {"organisation": self.a.org, "email": email, "password": self.a.password}
        for _ in range(20):
            if record:
                status, h, data = await self.call(conn, route, "POST", "/api/v1/auth/login", body=body)
            else:
                status, h, data = await conn.request("POST", "/api/v1/auth/login", {}, body)
            if status == 200:
                return json.loads(data)
            if status == 503:
                self.login_503["count"] += 1
                self.login_503["retry_after"].add(h.get("retry-after", "?"))
                await asyncio.sleep(float(h.get("retry-after", "1") or 1))
                continue
            raise SystemExit(f"[soak] login of {email} answered {status}: {data[:300]!r}")
        raise SystemExit(f"[soak] login of {email} kept answering 503")

    async def setup(self):
        org = self.sql(f"SELECT id FROM organisations WHERE slug = '{self.a.org}'")
        if not org:
            raise SystemExit(f"[soak] no organisation {self.a.org}")
        self.org = org[0][0]
        rows = self.sql(f"""SELECT id, email, role, coalesce(team_id::text, ''), deactivated_at IS NULL
                            FROM members WHERE organisation_id = '{self.org}' ORDER BY email""")
        self.members = [{"id": r[0], "email": r[1], "role": r[2], "team": r[3] or None} for r in rows if r[4] == "t"]
        self.all_members = [r[0] for r in rows]
        admin_m = next(m for m in self.members if m["role"] == "admin")
        conn = Conn(self.host, self.port)
        self.admin = User(admin_m, await self.login(conn, admin_m["email"], record=False))
        # An HR member, as an admin would add one.
        hr_email = f"hr@{self.a.org}.example"
        status, _, data = await conn.request("POST", "/api/v1/members", self.admin.auth(), {
            "email": hr_email, "display_name": "Hanne HR", "role": "hr", "password": self.a.password})
        if status != 201:
            raise SystemExit(f"[soak] creating the HR member answered {status}: {data[:300]!r}")
        hr_m = json.loads(data)
        self.hr = User({"id": hr_m["id"], "email": hr_email, "role": "hr", "team": None},
                       await self.login(conn, hr_email, record=False))
        # Allowances that last the soak: a member gives ~100 recognitions in 5 minutes here, a
        # month's worth of a real one several times over.
        status, _, data = await conn.request("PATCH", "/api/v1/organisation/point-rules", self.admin.auth(), {
            "peer_monthly_allowance": 1000000, "lead_monthly_budget": 10000000,
            "peer_monthly_cap_per_recipient": 1000000})
        if status != 200:
            raise SystemExit(f"[soak] changing the point rules answered {status}: {data[:300]!r}")
        conn.close()
        leads = [m for m in self.members if m["role"] == "team_lead"]
        staff = [m for m in self.members if m["role"] == "employee"]
        self.rng.shuffle(staff)
        chosen = leads + staff[: max(0, self.a.users - len(leads))]
        # Staff the admin moves between teams, deactivates and reactivates: none of them is a
        # user of the mix or logs in during it (a deactivated member's login is a failure, and
        # failures spend the one loopback address's login budget).
        self.churn = staff[len(chosen) - len(leads):][:100]
        self.teams = sorted({m["team"] for m in self.members if m["team"]})
        self.deactivated = set()
        churned = {m["id"] for m in self.churn}
        self.login_pool = [m for m in self.members if m["id"] not in churned]
        t = time.monotonic()
        conns = [Conn(self.host, self.port) for _ in range(2)]
        users = []

        async def login_some(c, ms):
            for m in ms:
                users.append(User(m, await self.login(c, m["email"], record=False)))

        await asyncio.gather(*(login_some(c, chosen[i::2]) for i, c in enumerate(conns)))
        for c in conns:
            c.close()
        self.setup_login_s = time.monotonic() - t
        # Refusals while setting up were waited out and retried; the soak counts its own.
        self.setup_login_503 = self.login_503["count"]
        self.login_503 = {"count": 0, "retry_after": set()}
        log(f"logged in {len(users)} users ({len(leads)} team leads) in {self.setup_login_s:.1f} s "
            f"({1000 * self.setup_login_s / max(1, len(users)):.0f} ms each, two at a time)")
        self.users = users

    # -- the mix -----------------------------------------------------------------------------
    async def worker(self, n, users, end):
        conn = Conn(self.host, self.port)
        leads = [u for u in users if u.role == "team_lead"]
        givers = [u for u in users if u.role in ("employee", "team_lead")]
        authors = [u for u in users if u.role == "employee"]
        ops, weights = zip(*MIX)
        rng = random.Random(self.a.seed * 1000 + n)
        last_recognition = None
        while time.monotonic() < end:
            op = rng.choices(ops, weights)[0]
            user = rng.choice(users)
            for u in users:
                if time.monotonic() > u.renew_at:
                    await self.refresh(conn, u)
            if op == "board":
                name, path = rng.choice(BOARDS)
                await self.call(conn, f"GET /api/v1/leaderboards/{name}", "GET", path, user)
            elif op == "feed":
                path = "/api/v1/recognitions?limit=20"
                if rng.random() < 0.3 and user.team:
                    path += f"&team_id={user.team}"
                status, _, data = await self.call(conn, "GET /api/v1/recognitions", "GET", path, user)
                if status == 200:
                    items = json.loads(data).get("items", [])
                    self.feed_ids = [i["id"] for i in items[:10]] or self.feed_ids
            elif op == "react":
                if self.feed_ids:
                    rid = rng.choice(self.feed_ids)
                    await self.call(conn, "POST /api/v1/recognitions/{id}/reactions", "POST",
                                    f"/api/v1/recognitions/{rid}/reactions", user, {"kind": rng.choice(REACTIONS)})
            elif op == "me":
                await self.call(conn, "GET /api/v1/me", "GET", "/api/v1/me", user)
            elif op == "me_points":
                await self.call(conn, "GET /api/v1/me/points", "GET", "/api/v1/me/points?limit=20", user)
            elif op == "me_progress":
                await self.call(conn, "GET /api/v1/me/progress", "GET", "/api/v1/me/progress", user)
            elif op == "recognise" and givers:
                if last_recognition is not None and rng.random() < 0.1:
                    await self.replay(conn, *last_recognition)
                else:
                    last_recognition = await self.recognise(conn, rng, rng.choice(givers))
            elif op == "submit_win" and authors:
                await self.submit_win(conn, rng, rng.choice(authors))
            elif op == "decide_win" and leads:
                await self.decide_win(conn, rng, rng.choice(leads))
            elif op == "refresh":
                await self.refresh(conn, user)
            elif op == "export":
                if not self.export_lock.locked():
                    async with self.export_lock:
                        await self.export(conn, rng)
            elif op == "admin":
                # One admin, one thing at a time (as a person would).
                if not self.admin_lock.locked():
                    async with self.admin_lock:
                        await self.admin_action(conn, rng)
        conn.close()
        return conn.stale_retries

    async def refresh(self, conn, user):
        status, _, data = await self.call(conn, "POST /api/v1/auth/refresh", "POST", "/api/v1/auth/refresh",
                                          body={"refresh_token": user.refresh_token})
        if status == 200:
            user.set_tokens(json.loads(data))

    async def recognise(self, conn, rng, giver):
        k = 1 if rng.random() < 0.85 else rng.randint(2, 3)
        recipients = set()
        while len(recipients) < k:
            m = rng.choice(self.members)
            if m["id"] != giver.id and m["role"] != "admin":
                recipients.add(m["id"])
        body = {"recipients": sorted(recipients), "points": rng.choice([5, 10, 10, 15, 20, 25]),
                "message": "Thanks for staying with that customer until it was sorted.",
                "dimension": rng.choice(DIMENSIONS)}
        key = str(uuid.uuid4())
        status, _, data = await self.call(conn, "POST /api/v1/recognitions", "POST", "/api/v1/recognitions",
                                          giver, body, {"Idempotency-Key": key})
        if status == 201:
            rid = json.loads(data)["id"]
            self.created["recognition"].add(rid)
            return (giver, body, key, status, rid)
        return None

    async def replay(self, conn, giver, body, key, status0, rid0):
        status, _, data = await self.call(conn, "POST /api/v1/recognitions (replayed key)", "POST",
                                          "/api/v1/recognitions", giver, body, {"Idempotency-Key": key})
        if status is None:
            return
        self.replays["sent"] += 1
        rid = json.loads(data).get("id") if status == 201 else None
        if status == status0 and rid == rid0:
            self.replays["same"] += 1
        elif len(self.replays["differ"]) < 10:
            self.replays["differ"].append({"key": key, "first": [status0, rid0], "replay": [status, rid]})

    async def submit_win(self, conn, rng, author):
        body = {"title": f"Saved a {rng.choice(['delivery', 'booking', 'refund', 'repair'])} for a customer",
                "description": "Found a way to keep the promise we made, and told the customer before they had to ask.",
                "dimension": rng.choice(DIMENSIONS), "channel": rng.choice(CHANNELS),
                "journey_stage": rng.choice(STAGES), "customer_value": rng.randint(1, 5),
                "organisation_value": rng.randint(1, 5), "ease": rng.randint(1, 5)}
        status, _, data = await self.call(conn, "POST /api/v1/initiatives", "POST", "/api/v1/initiatives", author, body)
        if status == 201:
            self.created["initiative"].add(json.loads(data)["id"])

    async def decide_win(self, conn, rng, lead):
        status, _, data = await self.call(conn, "GET /api/v1/initiatives", "GET",
                                          "/api/v1/initiatives?scope=team&status=submitted&sort=priority&limit=5", lead)
        if status != 200:
            return
        items = [i for i in json.loads(data).get("items", []) if i.get("author", {}).get("id") != lead.id]
        if not items:
            return
        win = items[0]["id"]
        if rng.random() < 0.75:
            await self.call(conn, "POST /api/v1/initiatives/{id}/approve", "POST",
                            f"/api/v1/initiatives/{win}/approve", lead, {"note": "Good call."})
        else:
            await self.call(conn, "POST /api/v1/initiatives/{id}/decline", "POST",
                            f"/api/v1/initiatives/{win}/decline", lead,
                            {"reason": "We cannot do this one for every customer."})

    async def admin_action(self, conn, rng):
        if time.monotonic() > self.admin.renew_at:
            await self.refresh(conn, self.admin)
        what = rng.random()
        if what < 0.3:
            m = rng.choice(self.members)
            status, _, data = await self.call(
                conn, "POST /api/v1/ledger/adjustments", "POST", "/api/v1/ledger/adjustments", self.admin,
                {"member_id": m["id"], "points": rng.choice([-15, -5, 5, 10, 20, 30]),
                 "reason": "Correction after the monthly review"}, {"Idempotency-Key": str(uuid.uuid4())})
            if status == 201:
                self.created["ledger entry"].add(json.loads(data)["id"])
        elif what < 0.6:
            # Reverse one of a recent recipient's entries (made by the soak: the ledger's newest).
            m = rng.choice(self.members)
            status, _, data = await self.call(conn, "GET /api/v1/members/{id}/points", "GET",
                                              f"/api/v1/members/{m['id']}/points?limit=5", self.admin)
            if status != 200:
                return
            entries = [e for e in json.loads(data)["entries"] if e["reason"] != "reversal"]
            if entries:
                e = rng.choice(entries)
                status, _, data = await self.call(conn, "POST /api/v1/ledger/{id}/reverse", "POST",
                                                  f"/api/v1/ledger/{e['id']}/reverse", self.admin,
                                                  {"reason": "Given by mistake"})
                if status == 201:
                    self.created["ledger entry"].add(json.loads(data)["id"])
        elif what < 0.8:
            m = rng.choice(self.churn)
            team = rng.choice(self.teams)
            await self.call(conn, "POST /api/v1/members/{id}/move", "POST", f"/api/v1/members/{m['id']}/move",
                            self.admin, {"team_id": team})
        else:
            m = rng.choice(self.churn)
            verb = "reactivate" if m["id"] in self.deactivated else "deactivate"
            status, _, _ = await self.call(conn, f"POST /api/v1/members/{{id}}/{verb}", "POST",
                                           f"/api/v1/members/{m['id']}/{verb}", self.admin)
            if status == 200:
                self.deactivated.symmetric_difference_update({m["id"]})

    async def export(self, conn, rng):
        if time.monotonic() > self.hr.renew_at:
            await self.refresh(conn, self.hr)
        frm = (datetime.date.today() - datetime.timedelta(days=90)).isoformat()
        group = rng.choice(["member", "team"])
        status, _, data = await self.call(conn, "GET /api/v1/exports/engagement", "GET",
                                          f"/api/v1/exports/engagement?from={frm}&granularity=month&group_by={group}&format=csv",
                                          self.hr)
        if status == 200:
            self.export_rows.append(max(0, data.count(b"\n") - 1))

    async def logins(self, end):
        """Paced password logins (open loop at --login-rate/s), each then reading /me; half log out."""
        if self.a.login_rate <= 0:
            return
        conns = [Conn(self.host, self.port) for _ in range(4)]
        free = asyncio.Queue()
        for c in conns:
            free.put_nowait(c)
        rng = random.Random(self.a.seed + 7)
        pending = set()
        self.login_late = 0

        async def one(due):
            c = await free.get()
            if time.monotonic() - due > 0.5:
                self.login_late += 1
            try:
                m = rng.choice(self.login_pool)
                status, h, data = await self.call(c, "POST /api/v1/auth/login", "POST", "/api/v1/auth/login",
                                                  body={"organisation": self.a.org, "email": m["email"],
                                                        "password": self.a.password})
                if status == 503:
                    self.login_503["count"] += 1
                    self.login_503["retry_after"].add(h.get("retry-after", "?"))
                if status != 200:
                    return
                tokens = json.loads(data)
                auth = {"Authorization": "Bearer " + tokens["access_token"]}
                await self.call(c, "GET /api/v1/me", "GET", "/api/v1/me", headers=auth)
                if rng.random() < 0.5:
                    await self.call(c, "POST /api/v1/auth/logout", "POST", "/api/v1/auth/logout", headers=auth)
            finally:
                free.put_nowait(c)

        begin = time.monotonic()
        i = 0
        while True:
            due = begin + i / self.a.login_rate
            if due >= end:
                break
            await asyncio.sleep(max(0, due - time.monotonic()))
            task = asyncio.create_task(one(due))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        if pending:
            await asyncio.gather(*pending)
        for c in conns:
            c.close()

    async def scrapes(self, end):
        if not self.a.metrics_token:
            return
        conn = Conn(self.host, self.port)
        while time.monotonic() < end:
            await self.call(conn, "GET /metrics", "GET", "/metrics",
                            headers={"Authorization": "Bearer " + self.a.metrics_token})
            await asyncio.sleep(5)
        conn.close()

    async def traffic(self):
        n = self.a.connections
        shares = [[] for _ in range(n)]
        # Leads first, one by one over the workers, so that most workers have a lead to decide.
        for i, u in enumerate(self.users):
            shares[i % n].append(u)
        shares = [s if s else [self.users[i % len(self.users)]] for i, s in enumerate(shares)]
        self.started_at = self.sql("SELECT now()")[0][0]
        self.load_before = os.getloadavg()
        cpu0 = time.process_time()
        t0 = time.monotonic()
        end = t0 + self.a.duration
        log(f"{n} connections, closed loop, {self.a.duration} s; logins at {self.a.login_rate}/s")
        results = await asyncio.gather(*(self.worker(i, shares[i], end) for i in range(n)),
                                       self.logins(end), self.scrapes(end), self.progress(t0, end))
        self.elapsed = time.monotonic() - t0
        self.load_after = os.getloadavg()
        self.cpu_s = time.process_time() - cpu0
        self.stale_retries = sum(r for r in results[:n] if r)

    async def progress(self, t0, end):
        last, last_t = 0, t0
        while time.monotonic() < end - 1:
            await asyncio.sleep(min(30, max(0.1, end - time.monotonic())))
            now = time.monotonic()
            total = sum(len(v) for v in self.stats.lat.values())
            five = sum(s.get("5xx", 0) for s in self.stats.status.values())
            log(f"  {now - t0:5.0f} s: {total} requests ({(total - last) / (now - last_t):.0f}/s lately), 5xx {five}")
            last, last_t = total, now

    # -- checks ------------------------------------------------------------------------------
    async def check_writes(self):
        out = []
        for kind, table in (("recognition", "recognitions"), ("initiative", "initiatives"),
                            ("ledger entry", "ledger_entries")):
            acked = self.created[kind]
            only = " AND reason IN ('adjustment', 'reversal')" if table == "ledger_entries" else ""
            rows = self.sql(f"SELECT id FROM {table} WHERE organisation_id = '{self.org}' "
                            f"AND created_at >= '{self.started_at}'{only}")
            stored = {r[0] for r in rows}
            missing = acked - stored
            extra = stored - acked
            label = "adjustments and reversals" if kind == "ledger entry" else table
            out.append({"name": f"{label} answered 201 are stored, once", "ok": not missing,
                        "detail": f"{len(acked)} answered 201, {len(stored)} stored since the start, "
                                  f"{len(missing)} missing, {len(extra)} stored without a 201 seen "
                                  f"(requests cut off by a transport error, or still in flight at the end)"})
        r = self.replays
        out.append({"name": "Idempotency-Key replays answer the first answer", "ok": r["sent"] == r["same"],
                    "detail": f"{r['same']} of {r['sent']} replays identical" +
                              (f"; differing: {r['differ']}" if r["differ"] else "")})
        return out

    async def check_balances(self):
        ledger = {r[0]: int(r[1]) for r in self.sql(
            f"SELECT m.id, coalesce(sum(e.points), 0) FROM members m "
            f"LEFT JOIN ledger_entries e ON e.organisation_id = m.organisation_id AND e.member_id = m.id "
            f"WHERE m.organisation_id = '{self.org}' GROUP BY m.id")}
        ids = list(ledger)
        bad = []
        seen = [0]
        refresh_conn = Conn(self.host, self.port)
        if time.monotonic() > self.admin.renew_at - 120:
            await self.refresh(refresh_conn, self.admin)
        refresh_conn.close()

        async def run(part):
            c = Conn(self.host, self.port)
            for mid in part:
                status, _, data = await c.request("GET", f"/api/v1/members/{mid}/points?limit=1", self.admin.auth())
                if status != 200:
                    bad.append((mid, f"answered {status}"))
                    continue
                seen[0] += 1
                got = json.loads(data)["balance"]
                if got != ledger[mid]:
                    bad.append((mid, f"balance {got}, ledger sum {ledger[mid]}"))
            c.close()

        await asyncio.gather(*(run(ids[i::8]) for i in range(8)))
        me_bad = []

        async def mine(part):
            c = Conn(self.host, self.port)
            for u in part:
                if time.monotonic() > u.renew_at - 60:
                    await self.refresh(c, u)
                status, _, data = await c.request("GET", "/api/v1/me/points?limit=1", u.auth())
                if status != 200:
                    me_bad.append((u.id, f"answered {status}"))
                elif json.loads(data)["balance"] != ledger.get(u.id):
                    me_bad.append((u.id, f"balance {json.loads(data)['balance']}, ledger sum {ledger.get(u.id)}"))
            c.close()

        await asyncio.gather(*(mine(self.users[i::4]) for i in range(4)))
        return [
            {"name": "every member's balance (GET /members/{id}/points) = sum of their ledger entries",
             "ok": not bad, "detail": f"{seen[0]} of {len(ids)} members compared, {len(bad)} differ" +
                                      (f": {bad[:5]}" if bad else "")},
            {"name": "every user's GET /me/points balance = sum of their ledger entries",
             "ok": not me_bad, "detail": f"{len(self.users)} users, {len(me_bad)} differ" +
                                         (f": {me_bad[:5]}" if me_bad else "")},
        ]

    async def check_boards(self):
        # The server folds the queues every 250 ms: wait for it (the queues are the boards' only
        # lag; a rebuild compares the folded totals).
        t = time.monotonic()
        queued = None
        while time.monotonic() - t < 15:
            queued = int(self.sql("SELECT (SELECT count(*) FROM member_points_histogram_pending) + "
                                  "(SELECT count(*) FROM team_period_points_pending)")[0][0])
            if queued == 0:
                break
            await asyncio.sleep(0.1)
        waited = time.monotonic() - t
        out = [{"name": "board queues folded by the server", "ok": queued == 0,
                "detail": f"empty after {waited:.1f} s" if queued == 0 else f"{queued} rows still queued after 15 s"}]
        # Win entries are checked by the soak's own write checks: verify.sql matches them to
        # their steps by exact time, which holds for a seed only (see there).
        p = subprocess.run([self.a.psql, self.a.db_url, "-X", "-q", "-v", f"org_id={self.org}",
                            "-c", "SET bench.win_sources = 'off'", "-f", self.a.verify],
                           capture_output=True, text=True)
        notes = [line.split("NOTICE:", 1)[-1].strip() for line in p.stderr.splitlines() if "NOTICE" in line or "ERROR" in line]
        zero = self.sql(f"SELECT count(*) FROM member_points_histogram WHERE organisation_id = '{self.org}' AND members = 0")
        notes.append(f"(member_points_histogram also holds {zero[0][0]} buckets of 0 members, which readers skip)")
        out.append({"name": "every board = rebuild_boards from the ledger (bench/verify.sql)", "ok": p.returncode == 0,
                    "detail": "; ".join(notes) or p.stderr.strip()[-500:]})
        return out

    # -- report ------------------------------------------------------------------------------
    def report(self, checks):
        routes = []
        for route in sorted(self.stats.lat):
            lat = sorted(self.stats.lat[route])
            st = self.stats.status[route]
            routes.append({"route": route, "count": len(lat), "rps": round(len(lat) / self.elapsed, 1),
                           "p50_ms": round(1000 * pct(lat, 0.50), 1), "p99_ms": round(1000 * pct(lat, 0.99), 1),
                           "max_ms": round(1000 * lat[-1], 1), "statuses": dict(sorted(st.items()))})
        total = sum(r["count"] for r in routes)
        five = sum(r["statuses"].get("5xx", 0) for r in routes)
        errs = sum(r["statuses"].get("err", 0) for r in routes)
        reasons = [{"route": k[0], "status": k[1], "reason": k[2], "count": v}
                   for k, v in sorted(self.stats.reasons.items(), key=lambda kv: -kv[1])]
        errors = [{"route": k[0], "error": k[1], "count": v} for k, v in self.stats.errors.items()]
        ok = five == 0 and errs == 0 and all(c["ok"] for c in checks)
        res = {"ok": ok, "duration_s": round(self.elapsed, 1), "connections": self.a.connections,
               "users": len(self.users), "login_rate": self.a.login_rate, "requests": total,
               "rps": round(total / self.elapsed, 1), "five_xx": five, "transport_errors": errors,
               "stale_keepalive_retries": self.stale_retries,
               "loadavg_before": [round(x, 2) for x in self.load_before],
               "loadavg_after": [round(x, 2) for x in self.load_after],
               "generator_cpu_pct": round(100 * self.cpu_s / self.elapsed),
               "login_503": {"count": self.login_503["count"], "retry_after": sorted(self.login_503["retry_after"])},
               "setup_login_ms_each": round(1000 * self.setup_login_s / max(1, len(self.users))),
               "setup_login_503_retried": self.setup_login_503,
               "exports": {"count": len(self.export_rows),
                           "rows_median": statistics.median(self.export_rows) if self.export_rows else None},
               "routes": routes, "non_2xx": reasons, "checks": checks, "extra": self.a.extra}
        lines = [f"Soak: {total} requests in {self.elapsed:.0f} s ({total / self.elapsed:.0f} req/s), "
                 f"{self.a.connections} connections closed loop + logins at {self.a.login_rate}/s, {len(self.users)} users",
                 "",
                 "| route | count | req/s | p50 ms | p99 ms | max ms | statuses |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for r in routes:
            lines.append(f"| {r['route']} | {r['count']} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | "
                         + " ".join(f"{k}:{v}" for k, v in r["statuses"].items()) + " |")
        lines += ["", f"5xx: {five} (target 0); transport errors: {errs}; "
                      f"stale keep-alive connections re-sent: {self.stale_retries}",
                  f"of which logins refused for want of a password hashing permit (503): {self.login_503['count']}",
                  f"load average before/after: {self.load_before[0]:.1f} / {self.load_after[0]:.1f} on {os.cpu_count()} CPUs; "
                  f"the load generator used {res['generator_cpu_pct']}% of one CPU",
                  f"exports: {len(self.export_rows)}, median {res['exports']['rows_median']} rows", ""]
        if reasons:
            lines.append("Non-2xx answers by reason:")
            lines += [f"- {r['count']} x {r['status']} {r['route']}: {r['reason']}" for r in reasons[:25]]
            lines.append("")
        if errors:
            lines.append("Transport errors:")
            lines += [f"- {e['count']} x {e['route']}: {e['error']}" for e in errors]
            lines.append("")
        lines.append("Checks:")
        lines += [f"- {'PASS' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}" for c in checks]
        lines += ["", "RESULT: " + ("PASS" if ok else "FAIL")]
        md = "\n".join(lines) + "\n"
        with open(os.path.join(self.a.out_dir, "results.json"), "w") as fh:
            json.dump(res, fh, indent=1)
        with open(os.path.join(self.a.out_dir, "results.md"), "w") as fh:
            fh.write(md)
        print(md, end="")
        return ok

    async def run(self):
        await self.setup()
        await self.traffic()
        log(f"traffic done: {sum(len(v) for v in self.stats.lat.values())} requests; checking")
        checks = await self.check_writes()
        checks += await self.check_boards()
        checks += await self.check_balances()
        return self.report(checks)


def log(msg):
    print(f"[soak] {msg}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--api", required=True)
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--psql", default="psql")
    ap.add_argument("--org", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--verify", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify.sql"))
    ap.add_argument("--duration", type=float, default=300)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--users", type=int, default=128)
    ap.add_argument("--login-rate", type=float, default=0.5)
    ap.add_argument("--metrics-token", default=os.environ.get("SOAK_METRICS_TOKEN"))
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--extra", type=json.loads, default={}, help="JSON merged into results.json as 'extra'")
    a = ap.parse_args()
    ok = asyncio.run(Soak(a).run())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
