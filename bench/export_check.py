#!/usr/bin/env python3
"""Completeness of an engagement export for scripts/bench: rows and column sums against the
ledger and the activity tables.

  export_check.py --csv FILE --expected JSON [--out FILE]

FILE is the export as downloaded (CSV, with or without a byte order mark); JSON is what
bench/export_expected.sql computed. Checks the number of data rows, the sum of every count
column and of points_earned, and the csat column (cells filled, their sum), and that the
export did not end with its failure marker. Prints one JSON line: {"complete": true|false,
"checks": {name: [export, expected]}, "failed": [names]}.
"""

import argparse
import csv
import json
import math

SUMS = ["initiatives_submitted", "initiatives_approved", "initiatives_implemented",
        "initiatives_measured", "recognitions_given", "recognitions_received", "points_earned"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--out")
    a = ap.parse_args()
    want = json.loads(a.expected)
    sums = dict.fromkeys(SUMS, 0)
    rows, csat_n, csat_sum, broken = 0, 0, 0.0, False
    with open(a.csv, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        col = {name: i for i, name in enumerate(header)}
        missing = [c for c in SUMS + ["csat"] if c not in col]
        for rec in reader:
            if len(rec) != len(header):
                broken = True  # the failure marker, or a cut-off row
                continue
            rows += 1
            for c in SUMS:
                if c in col:
                    sums[c] += int(rec[col[c]] or 0)
            if "csat" in col and rec[col["csat"]] != "":
                csat_n += 1
                csat_sum += float(rec[col["csat"]])
    checks = {"rows": [rows, want["rows"]]}
    for c in SUMS:
        checks[c] = [sums[c], want[c]]
    checks["csat_cells"] = [csat_n, want["csat"][0]]
    checks["csat_sum"] = [round(csat_sum, 3), round(float(want["csat"][1]), 3)]
    failed = [k for k, (got, exp) in checks.items()
              if not (math.isclose(got, exp, rel_tol=1e-9, abs_tol=1e-3) if isinstance(got, float) else got == exp)]
    failed += [f"column {c} missing" for c in missing]
    if broken:
        failed.append("rows with the wrong number of fields (failure marker or cut-off)")
    # The member export's points are every entry of the range: the ledger's own total.
    result = {"complete": not failed, "checks": checks, "failed": failed,
              "ledger_points_in_range": want.get("ledger_points_in_range")}
    line = json.dumps(result)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
