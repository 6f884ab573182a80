#!/usr/bin/env python3
"""End to end: `conlab run --quick` writes a complete, consistent run."""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

from checks import check, finish

conlab = sys.argv[1]


DESIGN_COLUMNS = ["workload", "kind", "executor", "workers", "gil", "tasks", "median_s",
                  "ci_low_s", "ci_high_s", "cv", "speedup", "efficiency", "checksum",
                  "checksum_ok"]

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "run1")
    t0 = time.monotonic()
    p = subprocess.run([conlab, "run", "--quick", "--out", out, "--no-plot"],
                       capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    check(p.returncode == 0, f"quick run exit {p.returncode}: {p.stderr[-2000:]}")
    print(f"quick run took {elapsed:.1f} s")
    check("speedup" in p.stdout and "sequential" in p.stdout, "console table printed")

    with open(os.path.join(out, "summary.csv")) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) >= 10, f"summary has {len(rows)} rows")
    for col in DESIGN_COLUMNS:
        check(col in rows[0], f"summary.csv has column {col}")
    executors = {r["executor"] for r in rows}
    for e in ("sequential", "threads", "thread_pool"):
        check(e in executors, f"executor {e} in summary")
    for r in rows:
        tag = f'{r["workload"]}/{r["executor"]}/{r["workers"]}'
        check(r["checksum_ok"] == "1", f"{tag} checksum_ok")
        check(r["checksum"] == r["expected"], f"{tag} checksum equals expected")
        check(r["status"] == "ok", f"{tag} status {r['status']}")
        med, lo, hi = float(r["median_s"]), float(r["ci_low_s"]), float(r["ci_high_s"])
        check(0 < lo <= med <= hi, f"{tag} ci {lo} <= median {med} <= {hi}")
        if r["executor"] == "sequential":
            check(abs(float(r["speedup"]) - 1.0) < 1e-9, f"{tag} sequential speedup is 1")
        else:
            check(float(r["speedup"]) > 0, f"{tag} speedup positive")
    # Every workload's checksum agrees across executors.
    # One task list (workload, tasks, size) gives one checksum, whatever runs it.
    by_w = {}
    for r in rows:
        by_w.setdefault((r["workload"], r["tasks"], r["size"]), set()).add(r["checksum"])
    for w, sums in by_w.items():
        check(len(sums) == 1, f"{w}: one checksum across executors, got {sums}")
    check(len({w for w, _, _ in by_w}) >= 2 and len(by_w) >= 3,
          f"the quick run has a CPU and an I/O workload and a CPython part: {sorted(by_w)}")
    for e in ("process_pool", "event_loop", "py.threads"):
        check(e in executors, f"executor {e} in summary")

    with open(os.path.join(out, "samples.csv")) as f:
        samples = list(csv.DictReader(f))
    reps = {}
    for s in samples:
        key = (s["workload"], s["executor"], s["workers"], s["gil"], s["tasks"], s["size"])
        reps[key] = reps.get(key, 0) + 1
        check(float(s["wall_s"]) > 0, "sample wall time positive")
    for r in rows:
        key = (r["workload"], r["executor"], r["workers"], r["gil"], r["tasks"], r["size"])
        check(reps.get(key) == int(r["reps"]), f"{key}: samples {reps.get(key)} == reps {r['reps']}")

    with open(os.path.join(out, "run.json")) as f:
        meta = json.load(f)
    check(meta["complete"] is True, "run.json complete")
    check(meta["command"][:3] == ["conlab", "run", "--quick"], f"command {meta['command']}")
    check(meta["machine"]["online_cpus"] >= 1, "machine cpus")
    check("OMP_WAIT_POLICY" in meta["environment"], "environment recorded")
    check(meta["compiler"]["version"] != "", "compiler recorded")
    leftovers = [n for n in os.listdir(out) if n.startswith(".")]
    check(not leftovers, f"no temporary files left: {leftovers}")

    # An existing --out is refused before anything runs.
    p = subprocess.run([conlab, "run", "--quick", "--out", out], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 2 and "--out" in p.stderr, f"existing --out: {p.returncode} {p.stderr}")

    # Default location: results/<run-id> and results/latest.
    p = subprocess.run([conlab, "run", "--workload", "noop", "--executor", "threads",
                        "--reps", "1", "--no-plot"], capture_output=True, text=True,
                       timeout=60, cwd=tmp)
    check(p.returncode == 0, f"default-location run: {p.stderr[-1000:]}")
    latest = os.path.join(tmp, "results", "latest")
    check(os.path.islink(latest), "results/latest is a symlink")
    check(os.path.isfile(os.path.join(latest, "summary.csv")), "latest has summary.csv")

    # Without python3 on PATH the CPython rows are left out with one line, and
    # the run goes on and succeeds.
    empty = os.path.join(tmp, "empty-path")
    os.mkdir(empty)
    out3 = os.path.join(tmp, "run3")
    p = subprocess.run([conlab, "run", "-w", "noop", "-e", "threads,py.threads", "--reps", "1",
                        "--no-plot", "--out", out3], capture_output=True, text=True, timeout=60,
                       env={"PATH": empty})
    check(p.returncode == 0, f"run without python3: exit {p.returncode}: {p.stderr[-500:]}")
    lines = [l for l in p.stderr.splitlines() if "python3 not found" in l]
    check(len(lines) == 1, f"one line says python3 is missing: {p.stderr[-500:]}")
    with open(os.path.join(out3, "summary.csv")) as f:
        ex3 = {r["executor"] for r in csv.DictReader(f)}
    check(ex3 == {"sequential", "threads"}, f"no CPython rows without python3: {ex3}")

finish()
