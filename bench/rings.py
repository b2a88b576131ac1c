#!/usr/bin/env python3
"""The ring detection figure of scripts/bench-rings, from its psql output.

  rings.py MEASURE.OUT --target-ms 1000 [--results RESULTS.jsonl] ...

MEASURE.OUT holds, per window (tab-separated, from `psql -At -F '\\t'`):
  rows   DAYS  N                 peer recognitions in the window
  plan   DAYS  I                 then the JSON of EXPLAIN (ANALYZE, FORMAT JSON) of run I
                                 (run 0 warms up and is not counted)
  edge   DAYS  GIVER  RECIPIENT  POINTS  RECOGNITIONS  GIVEN   one per dominant edge, by name
Prints each window's database time (planning + execution; median and max) against the
target, the rings found among the dominant edges (cycles of 2-4, as the service finds them)
and whether they are exactly the planted ones; appends one JSON line per window to RESULTS.
"""

import argparse
import json
import statistics
import sys

PLANTED = {
    frozenset({"Ringer 1a", "Ringer 1b"}),
    frozenset({"Ringer 2a", "Ringer 2b"}),
    frozenset({"Ringer 3a", "Ringer 3b", "Ringer 3c"}),
    frozenset({"Ringer 4a", "Ringer 4b", "Ringer 4c", "Ringer 4d"}),
}
MAX_RING = 4


def cycles(edges):
    """Elementary cycles of 2..MAX_RING edges, each once (from its smallest member)."""
    out = {}
    for g, r in edges:
        out.setdefault(g, []).append(r)
    found = []

    def extend(start, at, path):
        for nxt in out.get(at, []):
            if nxt == start and len(path) >= 2:
                found.append(list(path))
            elif nxt > start and nxt not in path and len(path) < MAX_RING:
                extend(start, nxt, path + [nxt])

    for start in sorted(out):
        extend(start, start, [start])
    return found


def parse(path):
    windows = {}
    current = None
    buf = []

    def flush():
        if current is not None and buf:
            plan = json.loads("\n".join(buf))[0]
            windows[current[0]]["runs"].append(
                (current[1], plan["Planning Time"] + plan["Execution Time"], plan["Execution Time"]))

    with open(path) as fh:
        for line in fh:
            line = line.rstrip("\n")
            cells = line.split("\t")
            tag = cells[0]
            if tag in ("rows", "plan", "edge") and len(cells) >= 3 and cells[1].isdigit():
                flush()
                current, buf = None, []
                days = int(cells[1])
                w = windows.setdefault(days, {"rows": None, "runs": [], "edges": []})
                if tag == "rows":
                    w["rows"] = int(cells[2])
                elif tag == "plan":
                    current = (days, int(cells[2]))
                else:
                    w["edges"].append((cells[2], cells[3], int(cells[4]), int(cells[5]), int(cells[6])))
            elif current is not None:
                buf.append(line)
    flush()
    return windows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("measure")
    ap.add_argument("--target-ms", type=float, default=1000)
    ap.add_argument("--results", default="")
    ap.add_argument("--seed-s", default="?")
    ap.add_argument("--sizes", default="")
    ap.add_argument("--pg-version", default="")
    a = ap.parse_args()
    windows = parse(a.measure)
    if not windows:
        sys.exit("rings.py: nothing measured")
    print(f"ring detection: {a.sizes} (seeded in {a.seed_s} s); {a.pg_version}")
    print(f"{'window':<24}|{'peer recognitions':>18}{'runs':>6}{'median ms':>11}{'max ms':>9}{'cold ms':>9}"
          f"{'edges':>7}{'rings':>7}  planted rings, nothing else")
    lines = []
    for days in sorted(windows):
        w = windows[days]
        timed = [t for i, t, _ in w["runs"] if i > 0]
        cold = [t for i, t, _ in w["runs"] if i == 0]
        rings = {frozenset(c) for c in cycles([(g, r) for g, r, *_ in w["edges"]])}
        exact = rings == PLANTED
        median, worst = statistics.median(timed), max(timed)
        default = " (default)" if days == 90 else " (widest)" if days == 366 else ""
        print(f"{'last ' + str(days) + ' days' + default:<24}|{w['rows']:>18}{len(timed):>6}{median:>11.1f}"
              f"{worst:>9.1f}{cold[0] if cold else float('nan'):>9.1f}{len(w['edges']):>7}{len(rings):>7}  "
              f"{'yes' if exact else 'NO'}")
        if not exact:
            for r in sorted(rings - PLANTED, key=sorted):
                print(f"{'':<24}  not planted: {' -> '.join(sorted(r))}")
            for r in sorted(PLANTED - rings, key=sorted):
                print(f"{'':<24}  missed: {' -> '.join(sorted(r))}")
        lines.append({"name": f"10k/rings-{days}d", "window_days": days, "peer_recognitions": w["rows"],
                      "runs_ms": timed, "median_ms": median, "max_ms": worst,
                      "cold_ms": cold[0] if cold else None, "dominant_edges": len(w["edges"]),
                      "rings": len(rings), "exact": exact, "target_ms": a.target_ms})
    d = windows.get(90)
    if d:
        median = statistics.median([t for i, t, _ in d["runs"] if i > 0])
        verdict = "PASS" if median < a.target_ms else "FAIL"
        print(f"target: detection over the default window in under {a.target_ms / 1000:g} s of database time: "
              f"median {median:.0f} ms  {verdict}")
    if a.results:
        with open(a.results, "a") as fh:
            for l in lines:
                fh.write(json.dumps(l) + "\n")


if __name__ == "__main__":
    main()
