#!/usr/bin/env python3
"""Figures and target ratios of a scripts/bench run.

  report.py line NAME JSON              one measurement, one line (progress output)
  report.py summary RESULTS.jsonl ...   the table, the three ratios with PASS/FAIL; also writes
                                        results.md and results.json next to RESULTS.jsonl
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

BOARDS = [
    ("members-org-month", "members, organisation, month, around_me=5"),
    ("members-org-all", "members, organisation, all, around_me=5"),
    ("members-team-month", "members, own team, month, around_me=5"),
    ("members-team-all", "members, own team, all, around_me=5"),
    ("teams-month", "teams, month, around_me=2"),
    ("teams-all", "teams, all, around_me=2"),
]
THROUGHPUT_TARGET = 0.5  # leaderboard req/s at 1M >= 0.5 x /health/live req/s
P99_TARGET = 2.0         # leaderboard p99 at 1M <= 2 x p99 at 10k
WRITE_TARGET = 0.5       # recognition req/s >= 0.5 x pgbench tx/s
EXPORT_TARGET = 1.5      # export peak memory at 1M <= 1.5 x at 10k
CHALLENGE_TARGET = 1.5   # a recognition with 200 running challenges costs <= 1.5 x one with none
FLOOD_P99_TARGET = 2.0   # board p99 during 200 failing logins <= 2 x without them
FLOOD_MEMORY_MIB = 512   # the server's peak memory during that flood < 512 MiB
FLOW_RPS_TARGET = 0.5    # each board at 1M while 50 recognitions/s flow >= 0.5 x its req/s without
FLOW_P99_TARGET = 2.0    # ... and its p99 <= 2 x its p99 without
TPCB_TARGET = 0.5        # recognition req/s at 1M >= 0.5 x pgbench tpcb-like tx/s
RINGS_TARGET_S = 1.0     # ring detection over the default window at 10k members / 1M recognitions < 1 s
WRITE_P99_MS = 100       # recognition p99 at 32 concurrent givers <= 100 ms


def completeness(r):
    c = r.get("completeness")
    if not c:
        return "not checked"
    return "PASS" if c.get("complete") else "FAIL"


def badges(rows, w):
    """Issue #14 item 7: badges awarded as they would be, during the recognition parts."""
    parts = [("1m/recognition-badges", "recognition at 1M (wrk)"),
             ("1m/flowing-badges", "boards while recognitions flow"),
             ("10k/challenges-badges", "recognition at 10k with challenges")]
    shown = [(rows.get(k), d) for k, d in parts if rows.get(k)]
    if not shown:
        return
    w("badges awarded during the recognition parts (thresholds as shipped)")
    for r, desc in shown:
        by = ", ".join(f"{k} {v}" for k, v in sorted(r.get("by_badge", {}).items())) or "none"
        w(f"{'  ' + desc:<42}| {r['awarded']} awarded, {r['during_measurement']} of them in the timed part ({by})")
    w("")


def line(name, figures):
    f = json.loads(figures)
    bad = f["non_2xx_3xx"] + f["socket_errors"]
    errors = f"   ERRORS: {f['non_2xx_3xx']} non-2xx, {f['socket_errors']} socket" if bad else ""
    print(f"[bench]   {name:<24} {f['rps']:10.1f} req/s   p50 {f['p50_ms']:8.2f} ms   "
          f"p99 {f['p99_ms']:8.2f} ms   ({f['requests']} requests){errors}")


def machine(pg_version):
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for l in f:
                if l.startswith("model name"):
                    model = l.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()[1].split()[1]
    except Exception:
        pass
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "postgresql": pg_version,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _other(r):
    v = r.get("other_cpu_pct")
    return "-" if v is None else f"{v}%"


def ok(f):
    return f is not None and f.get("non_2xx_3xx", 0) + f.get("socket_errors", 0) == 0


def challenge_cost(rows, w):
    """Issue #12 item 2: print the two recognition figures; answer the verdict (cost = 1/req/s)."""
    what = "recognition cost, 200 running challenges <= 1.5 x none"
    none, many = rows.get("10k/recognition-challenges-0"), rows.get("10k/recognition-challenges-200")
    for r, desc in ((none, "no running challenge"), (many, "200 running challenges")):
        if r:
            w(f"{'recognition at 10k, ' + desc:<42}|{r['rps']:>8.0f}{' ' if ok(r) else '!'}{r['p50_ms']:>8.2f}"
              f"{r['p99_ms']:>8.2f}{_other(r):>6} |")
    if ok(none) and ok(many) and none["rps"] > 0 and many["rps"] > 0:
        return (what, (none["rps"] / many["rps"], "recognition"), lambda v: v <= CHALLENGE_TARGET)
    return (what, ("n/a", "recognition"), None)
def rings(rows, w):
    """Issue #15: ring detection's database time (scripts/bench-rings) and its verdicts."""
    found = [rows[k] for k in sorted(rows) if k.startswith("10k/rings-")]
    found.sort(key=lambda r: r["window_days"])
    what_time = "ring detection, 90 days at 10k/1M: DB time (s) < 1"
    what_exact = "ring detection: rings not planted or missed = 0"
    if not found:
        return [(what_time, ("n/a", None), None), (what_exact, ("n/a", None), None)]
    w("ring detection (scripts/bench-rings): 10,000 members, 1,000,000 recognitions over 730 days; database")
    w("time (planning + execution) of the detection statement, with the settings the service gives it")
    for r in found:
        label = f"last {r['window_days']} days" + (" (default)" if r["window_days"] == 90 else "")
        w(f"{'  ' + label:<42}| {r['peer_recognitions']} peer recognitions: median {r['median_ms']:.0f} ms, "
          f"max {r['max_ms']:.0f} ms ({len(r['runs_ms'])} runs); {r['rings']} rings, "
          f"{'exactly the planted ones' if r['exact'] else 'NOT the planted ones'}")
    w("")
    default = next((r for r in found if r["window_days"] == 90), None)
    time_verdict = ((default["median_ms"] / 1000, None), lambda v: v < RINGS_TARGET_S) if default else \
        (("n/a", None), None)
    wrong = sum(0 if r["exact"] else 1 for r in found)
    return [(what_time, *time_verdict), (what_exact, (wrong, None), lambda v: v == 0)]


def cell(r):
    if r is None:
        return f"{'-':>9}{'-':>8}{'-':>8}{'-':>6} |"
    flag = " " if ok(r) else "!"
    return f"{r['rps']:>8.0f}{flag}{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}{_other(r):>6} |"


def login_flood(rows, w):
    """Issue #12 item 6: the figures of the login flood, and its two verdicts."""
    off, on, flood = rows.get("1m/flood-off-board"), rows.get("1m/flood-on-board"), rows.get("1m/flood-logins")
    if not (off or on or flood):
        return []
    w("board request (members, organisation, month) without and with concurrent failing logins")
    for label, r in (("  without the flood", off), ("  with the flood", on)):
        w(f"{label:<42}|{'':>32}|{cell(r)}")
    if flood:
        st = flood.get("statuses", {})
        peak = flood.get("peak_kib")
        w(f"  the flood: {flood.get('concurrent')} connections, {flood['rps']:.0f} logins/s answered "
          f"(401: {st.get('s401', 0)}, 503: {st.get('s503', 0)}, 429: {st.get('s429', 0)}, "
          f"other: {st.get('other', 0)}), login p99 {flood['p99_ms']:.0f} ms; "
          f"server peak memory {peak / 1024 if peak else float('nan'):.1f} MiB")
    w("")
    verdicts = []
    if ok(off) and ok(on):
        verdicts.append(("board p99 during a login flood <= 2 x without", (on["p99_ms"] / off["p99_ms"], None),
                         lambda v: v <= FLOOD_P99_TARGET))
    else:
        verdicts.append(("board p99 during a login flood <= 2 x without", ("n/a", None), None))
    peak = flood.get("peak_kib") if flood else None
    if peak:
        verdicts.append((f"server peak memory during the flood < {FLOOD_MEMORY_MIB} MiB",
                         (peak / 1024, None), lambda v: v < FLOOD_MEMORY_MIB))
    else:
        verdicts.append((f"server peak memory during the flood < {FLOOD_MEMORY_MIB} MiB", ("n/a", None), None))
    return verdicts


def flowing(rows, w):
    """Issue #14 goals 1 and 2: boards while points flow, and writes against tpcb-like."""
    verdicts = []
    flows = [(k, d, rows.get(f"1m/{k}"), rows.get(f"1m/flowing-{k}"), rows.get(f"1m/flow-{k}")) for k, d in BOARDS]
    if any(f for _, _, _, f, _ in flows):
        w("boards at 1M while recognitions flow (open loop), against the same board without writes")
        for key, desc, still, flow, rec in flows:
            extra = ""
            if ok(still) and ok(flow):
                extra = f"{flow['rps'] / still['rps']:>8.2f}x req/s{flow['p99_ms'] / still['p99_ms']:>7.2f}x p99"
            w(f"{'  ' + desc:<42}|{cell(still)}{cell(flow)}{extra}")
            if rec:
                st = rec.get("statuses", {})
                w(f"{'':<44}recognitions: {rec['ok']} of {rec['due']} answered 2xx at {rec['achieved_rate']}/s "
                  f"(statuses {st}), p50 {rec['p50_ms']} ms, p99 {rec['p99_ms']} ms, {rec['late']} started late")
        w("")
        worst_rps, worst_p99 = None, None
        for key, _, still, flow, rec in flows:
            if not (ok(still) and ok(flow) and rec and rec["ok"] == rec["due"]):
                worst_rps = worst_p99 = ("n/a", key)
                break
            r, p = flow["rps"] / still["rps"], flow["p99_ms"] / still["p99_ms"]
            if worst_rps is None or r < worst_rps[0]:
                worst_rps = (r, key)
            if worst_p99 is None or p > worst_p99[0]:
                worst_p99 = (p, key)
        verdicts.append(("boards while points flow: req/s >= 0.5 x without", worst_rps,
                         lambda v: v >= FLOW_RPS_TARGET))
        verdicts.append(("boards while points flow: p99 <= 2 x without", worst_p99,
                         lambda v: v <= FLOW_P99_TARGET))
    rec, tpcb = rows.get("1m/recognition"), rows.get("1m/pgbench-tpcb")
    if tpcb:
        w(f"{'pgbench tpcb-like, same clients':<42}|{'':>32}|{tpcb['tps']:>8.0f} "
          f"{tpcb['latency_avg_ms']:>8.2f}{'(avg)':>8}{_other(tpcb):>6} |")
        w("")
        if ok(rec):
            verdicts.append(("recognition req/s >= 0.5 x pgbench tpcb-like", (rec["rps"] / tpcb["tps"], "recognition"),
                             lambda v: v >= TPCB_TARGET))
            verdicts.append((f"recognition p99 <= {WRITE_P99_MS} ms (ms)", (rec["p99_ms"], "recognition"),
                             lambda v: v <= WRITE_P99_MS))
        else:
            verdicts.append(("recognition req/s >= 0.5 x pgbench tpcb-like", ("n/a", "recognition"), None))
    return verdicts


def webhooks(rows, w):
    """Issue #16: webhook delivery (scripts/bench-webhooks) and a dead receiver's cost to requests."""
    r = rows.get("webhooks")
    what_rate = "webhook deliveries/s to a loopback receiver >= 1000"
    what_dead = "recognition p95 with a dead receiver <= 1.25 x healthy"
    if not r:
        return [(what_rate, ("n/a", None), None), (what_dead, ("n/a", None), None)]
    d, f, dead = r["drain"], r["flowing"], r["dead_receiver"]
    w(f"webhooks (scripts/bench-webhooks): {d['messages']} queued deliveries in {d['seconds']} s = "
      f"{d['events_per_s']} events/s, {d['bad_signatures']} bad signatures, {d['left']} left")
    w(f"  while recognitions flow: {f['per_s']} recognitions/s, {f['delivered']} delivered, "
      f"lag p50 {f['lag_p50_ms']} ms, p95 {f['lag_p95_ms']} ms")
    worst = None
    for name in ("hanging", "refused"):
        x = dead[name]
        w(f"  receiver {name}: recognition p50 {x['p50_ms']} ms, p95 {x['p95_ms']} ms "
          f"(healthy {dead['healthy']['p50_ms']} / {dead['healthy']['p95_ms']} ms)")
        ratio = x["p95_vs_healthy"]
        if ratio is not None and (worst is None or ratio > worst[0]):
            worst = (ratio, name)
    w("")
    rate_ok = d["bad_signatures"] == 0 and d["left"] == 0
    return [(what_rate, (d["events_per_s"], None), lambda v: v >= 1000 and rate_ok),
            (what_dead, worst or ("n/a", None), lambda v: v <= 1.25)]


def summary(a):
    rows = {}
    with open(a.results) as fh:
        for l in fh:
            if l.strip():
                r = json.loads(l)
                rows[r["name"]] = r
    m = machine(a.pg_version)
    out = []
    w = out.append
    w(f"Frontline benchmark, {m['date']}: wrk -t{a.threads} -c{a.connections}, {a.duration} s per figure "
      f"after {a.warmup} s of warm-up")
    w(f"machine: {m['cpu']}, {m['nproc']} CPUs, {m['memory']} RAM, kernel {m['kernel']}; {m['postgresql']}")
    w(f"seeded: {a.sizes}")
    if a.settings:
        w(f"settings: {a.settings}")
    if a.quick:
        w("QUICK MODE (--quick): the large organisation is small; these ratios are NOT the targets' figures")
    w("")
    hdr = (f"{'request':<42}|{'10k members':^32}|{'1M members':^32}|{'1M / health':>12}{'p99 1M/10k':>11}")
    sub = (f"{'':<42}|{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'other':>6} |{'req/s':>9}{'p50 ms':>8}"
           f"{'p99 ms':>8}{'other':>6} |{'(req/s)':>12}")
    w(hdr)
    w(sub)
    w("-" * len(hdr))

    health1m = rows.get("1m/health-live")
    items = [("health-live", "GET /health/live"), ("me", "GET /api/v1/me (auth guard, no board)")] + \
        [(k, d) for k, d in BOARDS]
    for key, desc in items:
        r10, r1m = rows.get(f"10k/{key}"), rows.get(f"1m/{key}")
        extra = ""
        if key not in ("health-live",) and ok(r1m) and ok(health1m):
            extra += f"{r1m['rps'] / health1m['rps']:>12.3f}"
            if ok(r10) and key != "me":
                extra += f"{r1m['p99_ms'] / r10['p99_ms']:>11.2f}"
        w(f"{desc:<42}|{cell(r10)}{cell(r1m)}{extra}")
    if any(f"1m/cold-{k}" in rows or f"10k/cold-{k}" in rows for k, _ in BOARDS):
        w(f"{'read cache off (FRONTLINE_READ_CACHE_TTL_MS=0):':<42}|{'':>32}|{'':>32}|")
        for key, desc in BOARDS:
            r10, r1m = rows.get(f"10k/cold-{key}"), rows.get(f"1m/cold-{key}")
            extra = ""
            if ok(r1m) and ok(health1m):
                extra += f"{r1m['rps'] / health1m['rps']:>12.3f}"
                if ok(r10):
                    extra += f"{r1m['p99_ms'] / r10['p99_ms']:>11.2f}"
            w(f"{'  ' + desc:<42}|{cell(r10)}{cell(r1m)}{extra}")
    w("")
    rec, pgb = rows.get("1m/recognition"), rows.get("1m/pgbench-recognition")
    if rec:
        w(f"{'recognition: POST /api/v1/recognitions':<42}|{'':>32}|{cell(rec)}")
    if pgb:
        w(f"{'recognition: pgbench, the same statements':<42}|{'':>32}|{pgb['tps']:>8.0f} "
          f"{pgb['latency_avg_ms']:>8.2f}{'(avg)':>8}{_other(pgb):>6} |  {pgb['failed']} failed")
    challenge_verdict = challenge_cost(rows, w)
    w("  ('!' after req/s: some responses were errors; the figure does not count."
      " other: % of the machine's CPU busy in the second before the figure, i.e. other programs)")
    w("")
    exports = [(g, rows.get(f"10k/export-{g}"), rows.get(f"1m/export-{g}")) for g in ("member", "team")]
    if any(r0 or r1 for _, r0, r1 in exports):
        w("engagement export, 12 months by month, CSV (server peak memory = VmHWM during the export;")
        w("complete: its rows and column sums equal what the ledger and activity tables say, bench/export_check.py)")
        w(f"{'':<42}|{'rows':>10}{'s':>8}{'rows/s':>10}{'MiB':>8}{'start MiB':>10}{'peak MiB':>10}  complete")
        for g, r0, r1 in exports:
            for size, r in (("10k", r0), ("1M", r1)):
                if r:
                    w(f"{'  ' + size + ' members, per ' + g:<42}|{r['rows']:>10}{r['seconds']:>8.1f}"
                      f"{r['rows_per_s']:>10.0f}{r['bytes'] / 2**20:>8.1f}{r['rss_before_kib'] / 1024:>10.1f}"
                      f"{r['peak_kib'] / 1024:>10.1f}  {completeness(r)}")
                    c = r.get("completeness") or {}
                    for name in c.get("failed", []):
                        got = c.get("checks", {}).get(name)
                        w(f"{'':<44}mismatch: {name}" + (f": export {got[0]}, expected {got[1]}" if got else ""))
        if any("points_earned" in ((r or {}).get("completeness") or {}).get("checks", {}) for _, r0, r1 in exports
               for r in (r0, r1)):
            w("  (checked per export: rows; initiatives_submitted/approved/implemented/measured, recognitions_given/received,")
            w("   points_earned summed; csat cells filled and summed)")
        w("")

    badges(rows, w)
    flood_verdicts = login_flood(rows, w)
    flow_verdicts = flowing(rows, w)
    ring_verdicts = rings(rows, w)
    webhook_verdicts = webhooks(rows, w)

    verdicts = []
    health = rows.get("1m/health-live")
    # 1. throughput
    worst = None
    for key, _ in BOARDS:
        r = rows.get(f"1m/{key}")
        if r is None or not ok(health) or not ok(r):
            worst = ("n/a", key)
            break
        ratio = r["rps"] / health["rps"]
        if worst is None or ratio < worst[0]:
            worst = (ratio, key)
    verdicts.append(("leaderboard throughput at 1M >= 0.5 x /health/live", worst, lambda v: v >= THROUGHPUT_TARGET))
    # 2. p99 growth
    worst = None
    for key, _ in BOARDS:
        r1, r0 = rows.get(f"1m/{key}"), rows.get(f"10k/{key}")
        if not (ok(r1) and ok(r0)):
            worst = ("n/a", key)
            break
        ratio = r1["p99_ms"] / r0["p99_ms"]
        if worst is None or ratio > worst[0]:
            worst = (ratio, key)
    verdicts.append(("leaderboard p99 at 1M <= 2 x p99 at 10k", worst, lambda v: v <= P99_TARGET))
    # 3. writes
    if ok(rec) and pgb and pgb["failed"] == 0:
        verdicts.append(("recognition throughput >= 0.5 x pgbench", (rec["rps"] / pgb["tps"], "recognition"),
                         lambda v: v >= WRITE_TARGET))
    else:
        verdicts.append(("recognition throughput >= 0.5 x pgbench", ("n/a", "recognition"), None))

    # 4. export memory
    worst = None
    for g, r0, r1 in exports:
        if not (r0 and r1 and r0["peak_kib"] > 0):
            worst = ("n/a", f"export per {g}")
            break
        ratio = r1["peak_kib"] / r0["peak_kib"]
        if worst is None or ratio > worst[0]:
            worst = (ratio, f"export per {g}")
    verdicts.append(("export peak memory at 1M <= 1.5 x at 10k", worst, lambda v: v <= EXPORT_TARGET))
    # 5. running challenges
    verdicts.append(challenge_verdict)
    verdicts += flood_verdicts
    verdicts += flow_verdicts
    # Issue #14 item 7: every export complete.
    checked = [(f"{size} per {g}", r) for g, r0, r1 in exports for size, r in (("10k", r0), ("1M", r1))]
    if all(r and r.get("completeness") for _, r in checked):
        bad = [where for where, r in checked if not r["completeness"].get("complete")]
        verdicts.append(("incomplete exports (rows, sums vs the ledger) = 0", (len(bad), ", ".join(bad) or None),
                         lambda v: v == 0))
    else:
        verdicts.append(("incomplete exports (rows, sums vs the ledger) = 0", ("n/a", None), None))
    verdicts += ring_verdicts
    verdicts += webhook_verdicts

    w("Targets (ratios measured in this run):")
    passed = 0
    for i, (what, (value, where), test) in enumerate(verdicts, 1):
        if value == "n/a" or test is None:
            verdict, shown = "FAIL (not measured)", "n/a"
        else:
            verdict, shown = ("PASS" if test(value) else "FAIL"), f"{value:.3f}"
            passed += verdict == "PASS"
        worst_of = f" (worst: {where})" if where not in ("recognition", None) else ""
        w(f"  {i}. {what:<55} {shown:>7}{worst_of:<24} {verdict}")
    w(f"  {passed} of {len(verdicts)} targets met")
    text = "\n".join(out)
    print("\n" + "=" * 100 + "\n" + text + "\n" + "=" * 100)

    base = os.path.dirname(os.path.abspath(a.results))
    with open(os.path.join(base, "results.md"), "w") as f:
        f.write("```\n" + text + "\n```\n")
    with open(os.path.join(base, "results.json"), "w") as f:
        json.dump({"machine": m, "settings": {"threads": a.threads, "connections": a.connections,
                   "duration_s": a.duration, "warmup_s": a.warmup, "server": a.settings},
                   "figures": rows,
                   "targets": [{"target": what, "value": value, "worst": where,
                                "pass": (test(value) if test and value != "n/a" else False)}
                               for what, (value, where), test in verdicts]}, f, indent=2)
    print(f"[bench] figures written to {base}/results.md and results.json")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "line":
        line(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["summary"])
    ap.add_argument("results")
    ap.add_argument("--pg-version", default="PostgreSQL ?")
    ap.add_argument("--connections", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--duration", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--sizes", default="")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--settings", default="")
    summary(ap.parse_args())


if __name__ == "__main__":
    main()
