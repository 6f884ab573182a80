#!/usr/bin/env python3
"""Issue 8: `conlab run --suite overhead|peers --quick` write their cells and
micro-benchmarks, every figure parses and is positive, and `conlab list`
names both suites. No timing is asserted: speed targets are benchmarks."""
import csv
import math
import os
import subprocess
import sys
import tempfile

from checks import check, finish

conlab = sys.argv[1]


def num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


p = subprocess.run([conlab, "list"], capture_output=True, text=True, timeout=30)
check(p.returncode == 0, "conlab list")
for suite in ("overhead", "peers"):
    check(any(line.split()[:1] == [suite] for line in p.stdout.splitlines()),
          f"`conlab list` names the {suite} suite")

with tempfile.TemporaryDirectory() as tmp:
    for suite in ("overhead", "peers"):
        out = os.path.join(tmp, suite)
        p = subprocess.run([conlab, "run", "--suite", suite, "--quick", "--no-plot", "--out", out],
                           capture_output=True, text=True, timeout=240)
        check(p.returncode == 0, f"{suite}: exit {p.returncode}: {p.stderr[-2000:]}")
        if p.returncode != 0:
            continue
        with open(os.path.join(out, "summary.csv")) as f:
            rows = list(csv.DictReader(f))
        check(len(rows) >= 2, f"{suite}: summary has {len(rows)} rows")
        for r in rows:
            us, tps = num(r.get("us_per_task")), num(r.get("tasks_per_s"))
            check(us > 0 and tps > 0, f"{suite}: {r['executor']} us_per_task {us} tasks_per_s {tps}")
            # Both columns come from one median: their product is 1e6.
            check(abs(us * tps - 1e6) < 1e3, f"{suite}: us_per_task x tasks_per_s = {us * tps}")
            check(r["checksum_ok"] == "1", f"{suite}: {r['executor']} checksum")
        if suite == "overhead":
            sizes = {int(r["size"]) for r in rows}
            check(len(sizes) >= 3, f"overhead sweeps task sizes: {sorted(sizes)}")
        else:
            check({r["workload"] for r in rows} == {"noop"}, "peers runs noop cells")
            check(all(int(r["tasks"]) == 10000 for r in rows), "peers --quick: 10000 tasks")

        path = os.path.join(out, f"{suite}.csv")
        check(os.path.exists(path), f"{suite}.csv written")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            micro = list(csv.DictReader(f))
        check([n for n in os.listdir(out) if n.startswith(".")] == [], f"{suite}: no temporary file left")
        benches = {(r["bench"], r["subject"]) for r in micro}
        want = {
            "overhead": [("noop_per_task", "thread_pool"), ("noop_per_task", "threads"),
                         ("noop_per_task", "process_pool"),
                         ("noop_per_task", "process_pool chunksize=1"),
                         ("noop_per_task", "event_loop"), ("futures_per_task", "thread_pool"),
                         ("latency", "thread_pool"), ("loop_ready_task", "event_loop"),
                         ("timers", "event_loop"), ("thread_create_join", "pthread"),
                         ("harness", "repetition (in process)"), ("harness", "cell (forked child)")],
            "peers": [("noop_per_task", "thread_pool"), ("futures_per_task", "thread_pool"),
                      ("timers", "event_loop"), ("timers", "libuv"),
                      ("openmp_dynamic_iter", "openmp")],
        }[suite]
        for b in want:
            check(b in benches, f"{suite}.csv has {b}")
        for r in micro:
            check(None not in r, f"{suite}: a row with more fields than the header: {r}")
            if r["bench"] == "ratio_to_openmp":
                check(num(r["ratio"]) > 0, f"{suite}: ratio {r['subject']} = {r['ratio']}")
                continue
            if r["count"] in ("", "0"):
                # Only a peer this build lacks (libuv, or OpenMP in the TSan
                # build) may go unmeasured, and its note must say so.
                check(r["subject"] in ("openmp", "libuv") and "not measured" in r["note"],
                      f"{suite}: empty row explains itself: {r}")
                continue
            n, total = num(r["count"]), num(r["total_s"])
            us, ops = num(r["us_per_op"]), num(r["ops_per_s"])
            check(n > 0 and total > 0 and us > 0 and ops > 0, f"{suite}: figures of {r}")
            check(abs(us * 1e-6 * n - total) <= 1e-5 * total + 1e-9, f"{suite}: us_per_op x count = total: {r}")
            if r["bench"] == "latency":
                p50, p99 = num(r["p50_us"]), num(r["p99_us"])
                check(0 < p50 <= p99, f"latency p50 {p50} <= p99 {p99}")
            if r["bench"] == "timers" and r["subject"] == "event_loop":
                # Every timer waits 1 to 50 ms, so all-in cannot be faster than 1 ms.
                check(total >= 0.001, f"timers all-in {total} s is at least the shortest timer")
        print(f"{suite}: {len(rows)} cells, {len(micro)} micro rows")

finish()
