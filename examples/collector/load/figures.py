"""Helpers of the collector's load script (../load.sh), so the shell stays readable.

  figures.py events OUT.gz                 writes the 500 events every batch carries, gzip'd
  figures.py deletion URL N                times one deletion request naming N ids; prints ms
  figures.py report RUNS.jsonl HEALTHZ DEL_1K DEL_20K WIRE_BYTES OUT.json
                                           prints the figures line, writes the JSON report
"""

import gzip
import json
import random
import sys
import time
import urllib.request
import uuid


def events(out):
    # Like the SDK's batches: incrementing seq and ts, a few event names and screens, a
    # varying item number. About 6 KB once gzip'd, as the SDK's 500-event batches are.
    rng = random.Random(15)
    names = ["screen_view", "tap", "purchase", "search", "scroll", "add_to_cart", "login", "share"]
    screens = ["home", "catalog", "item", "cart", "checkout", "profile", "settings", "search"]
    t = 1772366400000
    items = []
    for seq in range(1, 501):
        t += rng.randint(50, 1000)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1000)) + ".%03dZ" % (t % 1000)
        items.append(
            {
                "seq": seq,
                "name": rng.choice(names),
                "ts": ts,
                "props": {"screen": rng.choice(screens), "item": rng.randint(1, 99)},
            }
        )
    # The rest of the document after `"events":[`.
    text = json.dumps(items, separators=(",", ":"))[1:] + "}"
    with open(out, "wb") as f:
        f.write(gzip.compress(text.encode(), 6))


def deletion(url, n):
    ids = [str(uuid.uuid4()) for _ in range(n)]
    request_id = str(uuid.uuid4())
    doc = {
        "request_id": request_id,
        "installation_ids": ids,
        "requested_at": "2026-03-02T08:30:00Z",
        "reason": "user_request",
        "policy": {"id": "example-app", "revision": 4},
    }
    body = gzip.compress(json.dumps(doc).encode())
    request = urllib.request.Request(
        url + "/v1/deletion",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": "consentgate/0.1.0",
            "Idempotency-Key": request_id,
        },
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request) as reply:
        reply.read()
    print("%.1f" % ((time.perf_counter() - started) * 1e3))


def report(runs_path, healthz, del_1k, del_20k, wire_bytes, out):
    runs = [json.loads(line) for line in open(runs_path) if line.strip()]
    by = {(r["setup"], r["connections"]): r for r in runs}
    for r in runs:
        r["events_per_s"] = round(r["requests_per_s"] * 500)

    def part(setup, label):
        cells = []
        for r in sorted((r for r in runs if r["setup"] == setup), key=lambda r: r["connections"]):
            cells.append(
                "c=%d %s req/s %s ev/s p50 %.1f p99 %.1f ms"
                % (
                    r["connections"],
                    format(round(r["requests_per_s"]), ","),
                    format(r["events_per_s"], ","),
                    r["p50_ms"],
                    r["p99_ms"],
                )
            )
        return label + ": " + ", ".join(cells)

    line = "collector load (500-event batches, %s B gzip, 2 cores shared with wrk and PostgreSQL): %s; %s; %s; /healthz %s req/s; deletion of 1,000 ids %s ms, of 20,000 ids %s ms" % (
        format(int(wire_bytes), ","),
        part("sqlite", "SQLite"),
        part("postgres", "PostgreSQL"),
        part("postgres-2-nodes", "2 nodes on one PostgreSQL"),
        format(round(float(healthz)), ","),
        del_1k,
        del_20k,
    )
    print(line)

    def key(setup, c, field):
        r = by.get((setup, c))
        return None if r is None else r[field]

    figures = {
        "collector_sqlite_events_per_s": key("sqlite", 8, "events_per_s"),
        "collector_sqlite_p99_ms": key("sqlite", 8, "p99_ms"),
        "collector_pg_events_per_s": key("postgres", 8, "events_per_s"),
        "collector_pg_p99_ms": key("postgres", 8, "p99_ms"),
        "collector_pg_2_nodes_events_per_s": key("postgres-2-nodes", 8, "events_per_s"),
        "collector_pg_2_nodes_p99_ms": key("postgres-2-nodes", 8, "p99_ms"),
        "collector_healthz_requests_per_s": round(float(healthz)),
        "collector_deletion_1000_ids_ms": float(del_1k),
        "collector_deletion_20000_ids_ms": float(del_20k),
        "collector_batch_gzip_bytes": int(wire_bytes),
        "figures_line": line,
        "runs": runs,
    }
    with open(out, "w") as f:
        json.dump(figures, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "events":
        events(sys.argv[2])
    elif command == "deletion":
        deletion(sys.argv[2], int(sys.argv[3]))
    elif command == "report":
        report(*sys.argv[2:8])
    else:
        sys.exit("unknown command " + command)
