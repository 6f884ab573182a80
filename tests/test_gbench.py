#!/usr/bin/env python3
"""Integration test of conlab-gbench and gbench/gbench_to_csv.py.

    test_gbench.py CONLAB_GBENCH CONLAB GBENCH_TO_CSV [--skip-executor NAME]...

--skip-executor leaves an executor out of the runs (not out of the name
checks): the ThreadSanitizer build passes openmp, because libgomp is not
instrumented and its barriers look like races.

Runs the cpu.sumsq, noop and overhead benchmarks with a tiny minimum time
and checks that the JSON parses, names every executor at every worker count,
carries the fields Google Benchmark's compare.py reads, and that every
checksum_ok counter is 1; then converts the JSON into a run directory and
checks it against the harness's own summary.csv header.
"""

import csv
import json
import os
import re
import subprocess
import sys
import tempfile

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print(f"FAIL: {what}", file=sys.stderr)
    return cond


def run(cmd, timeout=200):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


CELL_RE = re.compile(r"^(?P<w>[^/]+)/(?P<e>[^/]+)/workers:(?P<n>\d+)(?P<gil>/gil)?(/.*)?$")
COMPARE_FIELDS = ("name", "run_type", "real_time", "cpu_time", "time_unit", "iterations")
UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
# Small cpu.sumsq tasks, so that the CPython executors (py.*) finish quickly too.
SIZE = "--conlab_size=200000"


def expected_counts(kind):
    """1, 2, 4, ... up to the online CPUs (twice that for io/mixed), as conlab-gbench."""
    cpus = os.cpu_count() or 1
    top = 2 * cpus if kind in ("io", "mixed") else cpus
    out, w = [], 1
    while w < top:
        out.append(w)
        w *= 2
    if not out or out[-1] != top:
        out.append(top)
    return out


def listed(gbench, *extra):
    r = run([gbench, "--benchmark_list_tests", *extra])
    check(r.returncode == 0, f"--benchmark_list_tests exits 0 (got {r.returncode}: {r.stderr})")
    return [line for line in r.stdout.splitlines() if line]


def check_names(gbench):
    names = listed(gbench)
    cells = {}
    for n in names:
        m = CELL_RE.match(n)
        if m and m.group("w") != "overhead":
            cells.setdefault(m.group("w"), {}).setdefault(m.group("e"), set()).add(
                (int(m.group("n")), bool(m.group("gil"))))
    check(len(cells) >= 2, f"at least two workloads registered (got {sorted(cells)})")
    execs = {w: frozenset(e) for w, e in cells.items()}
    check(len(set(execs.values())) == 1, f"every workload has the same executors: {execs}")
    for w, e in cells.items():
        check({"sequential", "threads", "thread_pool"} <= set(e),
              f"{w}: sequential, threads and thread_pool registered (got {sorted(e)})")
        check(e.get("sequential") == {(1, False)}, f"{w}: sequential only at workers:1 no gil")
        first = next(n for n in names if n.startswith(w + "/"))
        check(first.startswith(w + "/sequential/"),
              f"{w}: sequential comes first (the speedup baseline), not {first}")
    # Worker counts follow the online CPUs; thread_pool runs at each, with and without the GIL.
    for w in ("cpu.sumsq", "io.sleep"):
        if not check(w in cells, f"{w} is registered"):
            continue
        kind = "io" if w.startswith("io.") else "cpu"
        want = {(n, g) for n in expected_counts(kind) for g in (False, True)}
        check(cells[w]["thread_pool"] == want,
              f"{w}/thread_pool counts {sorted(cells[w]['thread_pool'])} == {sorted(want)}")
    check(any(n.startswith("overhead/submit_wait/thread_pool/workers:") for n in names),
          "overhead/submit_wait benchmarks registered")
    # --conlab_workers replaces the automatic counts.
    custom = listed(gbench, "--conlab_workers=1,3", "--benchmark_filter=^cpu.sumsq/thread_pool/")
    counts = sorted({int(CELL_RE.match(n).group("n")) for n in custom})
    check(counts == [1, 3], f"--conlab_workers=1,3 gives thread_pool counts [1, 3] (got {counts})")


def check_bad_flags(gbench):
    for flag, word in (("--conlab_workers=0", "--conlab_workers"),
                       ("--conlab_workers=1,,2", "--conlab_workers"),
                       ("--conlab_bogus", "--conlab_bogus"),
                       ("--conlab_delay=5", "--conlab_delay"),
                       ("--benchmark_bogus=1", "benchmark_bogus")):
        r = run([gbench, flag, "--benchmark_list_tests"])
        check(r.returncode == 2, f"{flag}: exit status 2 (got {r.returncode})")
        check(word in r.stderr, f"{flag}: stderr names {word} (got {r.stderr.strip()!r})")


def run_filter(gbench, skip):
    """cpu.sumsq, noop and overhead benchmarks of every executor not in `skip`."""
    execs = set()
    for n in listed(gbench):
        m = CELL_RE.match(n)
        if m and m.group("w") != "overhead":
            execs.add(m.group("e"))
    keep = "|".join(sorted(execs - set(skip)))
    return (rf"^(cpu\.sumsq|noop)/({keep})/|^overhead/submit_wait/|"
            rf"^overhead/create_destroy/({keep})/")


def check_json(gbench, tmp, skip):
    out = os.path.join(tmp, "out.json")
    filt = run_filter(gbench, skip)
    r = run([gbench, f"--benchmark_filter={filt}", "--benchmark_min_time=0.01", SIZE,
             "--benchmark_repetitions=2", "--benchmark_format=json",
             f"--benchmark_out={out}", "--benchmark_out_format=json"])
    check(r.returncode == 0, f"conlab-gbench exits 0 (got {r.returncode}: {r.stderr[-2000:]})")
    try:
        doc = json.loads(r.stdout)
        with open(out, encoding="utf-8") as f:
            doc_out = json.load(f)
    except (ValueError, OSError) as e:
        check(False, f"the JSON parses: {e}")
        return None
    bms = doc.get("benchmarks", [])
    check([b["name"] for b in bms] == [b["name"] for b in doc_out.get("benchmarks", [])],
          "stdout and --benchmark_out hold the same benchmarks")
    ctx = doc.get("context", {})
    check(ctx.get("conlab_online_cpus") == str(os.cpu_count()),
          f"context conlab_online_cpus {ctx.get('conlab_online_cpus')} == {os.cpu_count()}")
    check(ctx.get("conlab_sizes") == "quick", "context says quick sizes")
    check("--benchmark_repetitions=2" in ctx.get("conlab_command", ""), "context has the command")

    want = set(listed(gbench, f"--benchmark_filter={filt}"))
    ran = {b["run_name"] for b in bms if b.get("run_type") == "iteration"}
    check(ran == want, f"every listed benchmark ran: missing {sorted(want - ran)}, "
                       f"extra {sorted(ran - want)}")
    sumsq = {n for n in ran if n.startswith("cpu.sumsq/")}
    sumsq_execs = {CELL_RE.match(n).group("e") for n in sumsq}
    every = listed(gbench, r"--benchmark_filter=^cpu\.sumsq/")
    all_execs = {CELL_RE.match(n).group("e") for n in every}
    check({"sequential", "threads", "thread_pool"} <= sumsq_execs and
          sumsq_execs == all_execs - set(skip),
          f"cpu.sumsq ran under every executor (got {sorted(sumsq_execs)})")
    check({int(CELL_RE.match(n).group("n")) for n in sumsq} == set(expected_counts("cpu")),
          "cpu.sumsq ran at every worker count")

    per_name = {}
    for b in bms:
        for f in COMPARE_FIELDS:
            check(f in b, f"{b.get('name')}: has '{f}' (compare.py reads it)")
        check(not b.get("error_occurred"), f"{b['name']}: no error ({b.get('error_message')})")
        check(b.get("time_unit") in UNIT_S, f"{b['name']}: known time_unit")
        per_name.setdefault(b.get("run_name"), []).append(b)
        if b.get("run_type") == "aggregate":
            continue
        name = b["name"]
        is_cell = CELL_RE.match(name) and not name.startswith("overhead/")
        if is_cell or name.startswith("overhead/submit_wait/"):
            check(b.get("checksum_ok") == 1, f"{name}: checksum_ok == 1 (got "
                                             f"{b.get('checksum_ok')})")
        check(b.get("real_time", 0) > 0 and b.get("iterations", 0) >= 1,
              f"{name}: positive time and iterations")
        if not is_cell:
            continue
        check(b.get("tasks", 0) >= 1, f"{name}: tasks counter")
        secs = b["real_time"] * UNIT_S[b["time_unit"]]
        ips = b.get("items_per_second", 0)
        check(abs(ips * secs / b["tasks"] - 1) < 0.05,
              f"{name}: items_per_second {ips} matches tasks / real_time")
        check("speedup" in b, f"{name}: speedup counter (sequential measured first)")
        if "/sequential/" in name:
            check(abs(b.get("speedup", 0) - 1) < 1e-9, f"{name}: sequential speedup is 1")
        check(re.search(r"\bchecksum=(\d+) expected=\1\b", b.get("label", "")) is not None,
              f"{name}: label shows checksum == expected ({b.get('label')})")
    for n, runs in per_name.items():
        aggs = {b.get("aggregate_name") for b in runs if b.get("run_type") == "aggregate"}
        check({"mean", "median", "stddev"} <= aggs, f"{n}: repetition aggregates (got {aggs})")
        check(sum(b.get("run_type") == "iteration" for b in runs) == 2, f"{n}: two repetitions")
    return out, ran


def check_convert(converter, conlab, json_path, ran, tmp):
    href = os.path.join(tmp, "harness")
    r = run([conlab, "run", "--workload", "noop", "--executor", "sequential", "--quick",
             "--reps", "1", "--no-plot", "--out", href])
    check(r.returncode == 0, f"conlab run exits 0 (got {r.returncode}: {r.stderr})")
    with open(os.path.join(href, "summary.csv"), encoding="utf-8") as f:
        harness_header = f.readline().strip()

    d = os.path.join(tmp, "converted")
    r = run([sys.executable, converter, "--out", d, json_path])
    check(r.returncode == 0, f"gbench_to_csv exits 0 (got {r.returncode}: {r.stderr})")
    check(r.stdout.strip() == d, f"gbench_to_csv prints its directory ({r.stdout!r})")
    with open(os.path.join(d, "summary.csv"), encoding="utf-8") as f:
        header = f.readline().strip()
        f.seek(0)
        rows = list(csv.DictReader(f))
    check(header == harness_header, f"summary.csv header matches the harness's:\n{header}\n"
                                    f"{harness_header}")
    cells = {n for n in ran if not n.startswith("overhead/")}
    check(len(rows) == len(cells), f"one summary row per cell ({len(rows)} vs {len(cells)})")
    for row in rows:
        tag = f"{row['workload']}/{row['executor']}/{row['workers']}/{row['gil']}"
        check(row.get("checksum_ok") == "1" and row.get("status") == "ok", f"{tag}: ok row")
        check(row["reps"] == "2", f"{tag}: reps 2")
        check(row["checksum"] == row["expected"] != "", f"{tag}: checksum == expected")
        check(float(row["ci_low_s"]) <= float(row["median_s"]) <= float(row["ci_high_s"]),
              f"{tag}: CI holds the median")
        check(row["speedup"] != "", f"{tag}: speedup")
        if row["executor"] == "sequential":
            check(row["speedup"] == "1.000000", f"{tag}: sequential speedup 1")
    with open(os.path.join(d, "samples.csv"), encoding="utf-8") as f:
        samples = list(csv.DictReader(f))
    check(len(samples) == 2 * len(cells), "samples.csv: one row per repetition")
    with open(os.path.join(d, "run.json"), encoding="utf-8") as f:
        info = json.load(f)
    check(info.get("source") == "google-benchmark", "run.json source is google-benchmark")
    check(isinstance(info.get("context"), dict) and "conlab_version" in info["context"],
          "run.json carries the context block")
    check(any(s.startswith("overhead/") for s in info.get("skipped", [])),
          "run.json lists the overhead benchmarks as skipped")
    check(info.get("complete") is True and info.get("cells") == len(rows), "run.json complete")

    # Foreign input is refused, and an existing directory is never overwritten.
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w", encoding="utf-8") as f:
        json.dump({"benchmarks": [{"name": "BM_foo", "run_type": "iteration"}]}, f)
    r = run([sys.executable, converter, "--out", os.path.join(tmp, "bad"), bad])
    check(r.returncode == 1 and "workload/executor" in r.stderr, "foreign JSON refused")
    r = run([sys.executable, converter, "--out", d, json_path])
    check(r.returncode == 1 and "already exists" in r.stderr, "existing --out refused")


def main():
    args, skip = sys.argv[1:], []
    while len(args) >= 2 and args[-2] == "--skip-executor":
        skip.append(args[-1])
        args = args[:-2]
    if len(args) != 3:
        print("usage: test_gbench.py CONLAB_GBENCH CONLAB GBENCH_TO_CSV [--skip-executor NAME]...",
              file=sys.stderr)
        return 2
    gbench, conlab, converter = args
    with tempfile.TemporaryDirectory(prefix="conlab-gbench-") as tmp:
        check_names(gbench)
        check_bad_flags(gbench)
        got = check_json(gbench, tmp, skip)
        if got:
            check_convert(converter, conlab, got[0], got[1], tmp)
    print(f"test_gbench: {len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
