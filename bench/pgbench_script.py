#!/usr/bin/env python3
"""Turn the statements one HTTP request executed (PostgreSQL log, log_statement = 'all') into a
pgbench script that executes the same statements, in the same order and transactions, with
the same parameters as bind parameters (pgbench -M prepared).

Parameter values become pgbench variables:
  * the giver, the giver's session and team, the recipient and the recipient's team (and arrays
    of them) come from one row of bench.picks, drawn at random per transaction, like wrk draws
    its (token, recipient) pair: that lookup is the one statement pgbench runs that the server
    does not;
  * the id of the row the request created (the recognition in the response) comes from the
    RETURNING of the statement that created it (\\gset);
  * every other value is a constant (-D NAME=VALUE): the organisation, the message, the points,
    the current month and day bounds, ... NULLs are written as NULL.
Writes the script, the -D lines, and a readable list of the statements with what each
parameter became. Fails if the log shows an error or nothing recognisable.
"""

import argparse
import json
import re
import sys

# Debian's clusters add "user@database " after the pid (log_line_prefix '%m [%p] %q%u@%d ').
LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+) \[(\d+)\] (?:\S*@\S* )?([A-Z]+):  (.*)$")
PARAM = re.compile(r"\$(\d+) = (NULL|'((?:[^']|'')*)')")
DOLLAR = re.compile(r"\$(\d+)")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
KNOWN = ["giver", "giver_session", "giver_team", "recipient", "recipient_team"]


def read_log(path, pids):
    """[(pid, level, message)] for the given backends, continuation lines folded in."""
    entries = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            m = LINE.match(raw)
            if m:
                entries.append([m.group(2), m.group(3), m.group(4)])
            elif entries:
                entries[-1][2] += "\n" + raw.lstrip("\t")
    return [tuple(e) for e in entries if e[0] in pids]


def statements(entries):
    """[{'sql', 'params': {n: value or None}, 'extended': bool}] in execution order."""
    out = []
    for _, level, msg in entries:
        if level in ("ERROR", "FATAL", "PANIC"):
            sys.exit(f"the probe request hit a database error: {msg}")
        if level == "LOG":
            if msg.startswith("statement: "):
                out.append({"sql": msg[len("statement: "):], "params": {}, "extended": False})
            else:
                m = re.match(r"execute [^:]*: (.*)", msg, re.S)
                if m:
                    out.append({"sql": m.group(1), "params": {}, "extended": True})
        elif level == "DETAIL" and msg.startswith("parameters: ") and out:
            for m in PARAM.finditer(msg):
                value = None if m.group(2) == "NULL" else m.group(3).replace("''", "'")
                out[-1]["params"][int(m.group(1))] = value
    return out


def pg_array(text):
    if len(text) >= 2 and text[0] == "{" and text[-1] == "}":
        items = [i.strip().strip('"') for i in text[1:-1].split(",")] if len(text) > 2 else []
        return items
    return None


def returning_column(sql):
    m = re.search(r"\bRETURNING\b(.*)$", sql, re.S | re.I)
    if not m:
        return None
    cols = [c.strip() for c in m.group(1).split(",")]
    names = [c.split(".")[-1].strip().strip('"') for c in cols]
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--pids", required=True)
    ap.add_argument("--ids", required=True, help="tab-separated: " + ", ".join(KNOWN))
    ap.add_argument("--response", required=True, help="the probe's JSON response (its id)")
    ap.add_argument("--picks", type=int, required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--defines", required=True)
    ap.add_argument("--statements", required=True)
    a = ap.parse_args()

    pids = set(a.pids.split(","))
    with open(a.ids) as f:
        ids = f.read().strip().split("\t")
    if len(ids) != len(KNOWN):
        sys.exit(f"{a.ids}: expected {len(KNOWN)} ids")
    known = {}
    for name, value in zip(KNOWN, ids):
        if value in known:
            sys.exit(f"{name} and {known[value]} have the same id: pick another probe pair")
        known[value] = name
    with open(a.response) as f:
        created = json.load(f)["id"]

    stmts = statements(read_log(a.log, pids))
    if not stmts:
        sys.exit("no statements of the probe request in the log")

    # Where the created row's id first appears as a parameter, and which earlier statement
    # RETURNs it.
    first_use = next((i for i, s in enumerate(stmts) if created in s["params"].values()
                      or any(created in (pg_array(v or "") or []) for v in s["params"].values())), None)
    creator = None
    if first_use is not None:
        for i in range(first_use - 1, -1, -1):
            cols = returning_column(stmts[i]["sql"])
            if cols and re.search(r"\bINSERT\b", stmts[i]["sql"], re.I):
                if len(cols) == 1 or "id" in cols:
                    creator = (i, "id" if "id" in cols else cols[0])
                    break
        if creator is None:
            sys.exit(f"the created id {created} is used by statement {first_use + 1} but no earlier INSERT ... RETURNING gives it")

    arrays = {}  # tuple of known names -> lookup column
    defines = []
    script = [
        "-- Generated by bench/pgbench_script.py from the statements one",
        "-- POST /api/v1/recognitions executed (log_statement = 'all'). One transaction = one request.",
        f"\\set k random(1, {a.picks})",
    ]
    body = []
    listing = []
    constants = {}

    seen = {}

    def var_for(i, n, value):
        if (i, n) in seen:
            return seen[(i, n)]
        seen[(i, n)] = found = var_for_new(i, n, value)
        return found

    def var_for_new(i, n, value):
        if value in known:
            return ":" + known[value], known[value]
        if creator and value == created:
            return f":created_{creator[1]}", f"id created by statement {creator[0] + 1}"
        items = pg_array(value)
        if items and creator and created in items and all(x in known or x == created for x in items):
            # An array holding the created id: pgbench cannot build the text '{...}' from a
            # variable, so the statement gets ARRAY[...]::uuid[] there instead of one parameter.
            parts = [":" + known[x] if x in known else f":created_{creator[1]}" for x in items]
            return f"ARRAY[{', '.join(parts)}]::uuid[]", "array of the created id (as ARRAY[...])"
        if items and all(x in known for x in items):
            key = tuple(known[x] for x in items)
            col = arrays.setdefault(key, "arr_" + "_".join(key))
            return ":" + col, "array of " + ", ".join(key)
        name = f"c{i + 1}_{n}"
        if "\n" in value or "\r" in value:
            sys.exit(f"statement {i + 1} parameter ${n} has a line break: cannot pass it with -D")
        defines.append(f"{name}={value}")
        constants[name] = value
        return ":" + name, f"constant {value!r}"

    for i, s in enumerate(stmts):
        sql = s["sql"].strip().rstrip(";")
        notes = []
        if s["extended"]:
            def sub(m):
                n = int(m.group(1))
                if n not in s["params"]:
                    sys.exit(f"statement {i + 1} uses ${n} but the log shows no value for it")
                value = s["params"][n]
                if value is None:
                    notes.append(f"${n} = NULL")
                    return "NULL"
                var, what = var_for(i, n, value)
                notes.append(f"${n} -> {var} ({what})")
                return var
            sql = DOLLAR.sub(sub, sql)
        if "\n" in sql:
            sql = " ".join(line.strip() for line in sql.splitlines())
        if creator and i == creator[0]:
            body.append(sql + " \\gset created_")
        else:
            body.append(sql + ";")
        listing.append(f"-- {i + 1}. {'extended (bind parameters)' if s['extended'] else 'simple query'}")
        listing.extend(f"--    {n}" for n in notes)
        listing.append(s["sql"].strip() + ";")
        listing.append("")

    cols = ", ".join(KNOWN + [f"ARRAY[{', '.join(k)}]::text AS {c}" for k, c in arrays.items()])
    script.append(f"SELECT {cols} FROM bench.picks WHERE n = :k \\gset")
    script.extend(body)

    with open(a.script, "w") as f:
        f.write("\n".join(script) + "\n")
    with open(a.defines, "w") as f:
        f.write("\n".join(defines) + ("\n" if defines else ""))
    with open(a.statements, "w") as f:
        f.write(f"-- The {len(stmts)} statements one POST /api/v1/recognitions executed, in order.\n\n")
        f.write("\n".join(listing))
    uuids = sorted({v for v in constants.values() if UUID.match(v)})
    print(f"[bench]   pgbench script: {len(stmts)} statements "
          f"({sum(1 for s in stmts if not s['extended'])} simple, {sum(1 for s in stmts if s['extended'])} with parameters), "
          f"{len(defines)} constants" + (f", constant ids: {', '.join(uuids)}" if uuids else ""))


if __name__ == "__main__":
    main()
