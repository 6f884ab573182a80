#!/usr/bin/env python3
"""Turns a Google Benchmark JSON file written by conlab-gbench into a conlab
run directory (summary.csv, samples.csv, run.json) that the plot scripts read
like one written by `conlab run`.

    gbench_to_csv.py [--out DIR | --results ROOT] FILE.json

Benchmarks named workload/executor/workers:N[/gil] become summary rows; the
overhead/* benchmarks have no row and are listed in run.json under "skipped".
Prints the directory it wrote. Exit status: 0, 1 (unreadable or foreign
input, or a write failed), 2 (bad usage). Python 3 standard library only.
"""

import argparse
import json
import math
import os
import re
import statistics
import sys
import time

SUMMARY_HEADER = (
    "workload,kind,executor,workers,gil,tasks,size,delay_s,median_s,ci_low_s,ci_high_s,cv,"
    "noisy,speedup,efficiency,karp_flatt,user_s,sys_s,nvcsw,nivcsw,max_rss_kb,checksum,"
    "expected,checksum_ok,reps,bind,omp_schedule,chunksize,status,us_per_task,tasks_per_s,"
    "wake_mean_ms,wake_max_ms,startup_s"
)
SAMPLES_HEADER = (
    "workload,executor,workers,gil,tasks,size,rep,wall_s,user_s,sys_s,nvcsw,nivcsw,max_rss_kb,checksum,"
    "checksum_ok,wake_mean_ms,wake_max_ms"
)

# A cell's name, then the suffixes Google Benchmark appends for its options.
CELL_RE = re.compile(r"^(?P<workload>[^/]+)/(?P<executor>[^/]+)/workers:(?P<workers>\d+)"
                     r"(?P<gil>/gil)?(?P<rest>(/[^/]+)*)$")
GB_SUFFIX_RE = re.compile(r"^(process_time|real_time|manual_time|min_time:[^/]+|"
                          r"min_warmup_time:[^/]+|iterations:\d+|repeats:\d+|threads:\d+)$")

TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
NOISY_CV = 0.05  # the harness's threshold


class InputError(Exception):
    pass


def parse_cell(name):
    """(workload, executor, workers, gil) of a conlab cell name, or None."""
    m = CELL_RE.match(name)
    if not m:
        return None
    rest = [p for p in m.group("rest").split("/") if p]
    if not all(GB_SUFFIX_RE.match(p) for p in rest):
        return None
    return m.group("workload"), m.group("executor"), int(m.group("workers")), bool(m.group("gil"))


def parse_label(label):
    """The key=value pairs conlab-gbench writes into a benchmark's label."""
    out = {}
    for tok in (label or "").split():
        k, sep, v = tok.partition("=")
        if sep:
            out[k] = v
    return out


def seconds(run):
    unit = run.get("time_unit", "ns")
    if unit not in TIME_UNITS:
        raise InputError(f"unknown time_unit '{unit}' in {run.get('name')}")
    return float(run["real_time"]) * TIME_UNITS[unit]


def summarize(samples):
    """Median, 95% CI of the median and CV, as harness/stats.c computes them."""
    s = sorted(samples)
    n = len(s)
    median = statistics.median(s)
    mean = sum(s) / n
    sd = statistics.stdev(s) if n > 1 else 0.0
    cv = sd / mean if mean > 0 else 0.0
    if n < 6:
        lo, hi = s[0], s[-1]
    else:
        half = 1.96 * math.sqrt(n) / 2.0
        j = max(1, c_round(n / 2.0 - half))
        k = min(n, c_round(1.0 + n / 2.0 + half))
        lo, hi = s[j - 1], s[k - 1]
    return median, lo, hi, cv


def c_round(x):
    """C's lround: halves away from zero (Python's round() goes to even)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def fnum(fmt, v):
    """A number, or an empty CSV field for None/NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return fmt % v


def median_of(runs, key):
    vals = [float(r[key]) for r in runs if key in r]
    return statistics.median(vals) if vals else None


def status_of(runs):
    for r in runs:
        if r.get("error_occurred"):
            msg = r.get("error_message", "")
            head = msg.split(":", 1)[0]
            return head if re.match(r"^CL_E[A-Z]+$", head) else "failed"
    return "ok"


class Cell:
    def __init__(self, key):
        self.workload, self.executor, self.workers, self.gil = key
        self.iterations = []  # one run per repetition
        self.aggregates = {}  # aggregate_name -> run
        self.errors = []

    def all_runs(self):
        return self.iterations + list(self.aggregates.values()) + self.errors


def collect(doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise InputError("not a Google Benchmark JSON file (no 'benchmarks' list)")
    cells, order, skipped = {}, [], []
    for run in doc["benchmarks"]:
        if not isinstance(run, dict) or "name" not in run:
            raise InputError("a benchmark entry without a name")
        run_name = run.get("run_name", run["name"])
        key = parse_cell(run_name)
        if key is None:
            if run_name not in skipped:
                skipped.append(run_name)
            continue
        if key not in cells:
            cells[key] = Cell(key)
            order.append(key)
        c = cells[key]
        if run.get("error_occurred"):
            c.errors.append(run)
        elif run.get("run_type", "iteration") == "aggregate":
            c.aggregates[run.get("aggregate_name", "")] = run
        else:
            c.iterations.append(run)
    return [cells[k] for k in order], skipped


def build_rows(cells, context):
    rows, samples = [], []
    for c in cells:
        runs = c.iterations
        label = parse_label(next((r.get("label") for r in c.all_runs() if r.get("label")), ""))
        row = {
            "workload": c.workload, "executor": c.executor, "workers": c.workers,
            "gil": int(c.gil), "kind": label.get("kind", ""),
            "size": label.get("size", ""),
            "delay_s": fnum("%.6f", int(label["delay_ns"]) / 1e9) if "delay_ns" in label else "",
            "checksum": label.get("checksum", ""), "expected": label.get("expected", ""),
            "median_s": None, "ci_low_s": None, "ci_high_s": None, "cv": None,
        }
        src = runs
        if runs:
            wall = [seconds(r) for r in runs]
            row["median_s"], row["ci_low_s"], row["ci_high_s"], row["cv"] = summarize(wall)
            row["reps"] = len(runs)
        elif c.aggregates:
            # Written with --benchmark_report_aggregates_only: no per-repetition runs.
            agg = c.aggregates.get("median") or c.aggregates.get("mean")
            if agg:
                row["median_s"] = seconds(agg)
                row["reps"] = int(agg.get("repetitions", 0))
                if "cv" in c.aggregates:
                    row["cv"] = float(c.aggregates["cv"]["real_time"])
                src = [agg]
        else:
            row["reps"] = 0
        tasks = median_of(src, "tasks")
        row["tasks"] = int(round(tasks)) if tasks is not None else ""
        for key in ("user_s", "sys_s"):
            row[key] = median_of(src, key)
        for key in ("nvcsw", "nivcsw"):
            v = median_of(src, key)
            row[key] = int(round(v)) if v is not None else None
        rss = [float(r["max_rss_kb"]) for r in src if "max_rss_kb" in r]
        row["max_rss_kb"] = int(max(rss)) if rss else None
        chunk = median_of(src, "chunksize")
        row["chunksize"] = int(chunk) if chunk is not None else 0
        oks = [float(r["checksum_ok"]) for r in src if "checksum_ok" in r]
        row["status"] = status_of(c.all_runs())
        row["checksum_ok"] = int(bool(oks) and all(v == 1 for v in oks) and row["status"] == "ok"
                                 and row["median_s"] is not None)
        row["bind"] = context.get("conlab_bind", "none")
        row["omp_schedule"] = context.get("conlab_omp_schedule", "static")
        rows.append(row)
        for i, r in enumerate(runs):
            samples.append({
                "workload": c.workload, "executor": c.executor, "workers": c.workers,
                "gil": int(c.gil), "tasks": row["tasks"], "size": row.get("size", ""),
                "rep": int(r.get("repetition_index", i)),
                "wall_s": seconds(r), "user_s": r.get("user_s"), "sys_s": r.get("sys_s"),
                "nvcsw": r.get("nvcsw"), "nivcsw": r.get("nivcsw"),
                "max_rss_kb": r.get("max_rss_kb"), "checksum": label.get("checksum", ""),
                "checksum_ok": int(float(r.get("checksum_ok", 0)) == 1),
            })
    derive(rows)
    return rows, samples


def derive(rows):
    """Speedup, efficiency and Karp-Flatt against each workload's sequential
    row without the GIL, as the harness derives them."""
    base = {}
    for r in rows:
        if r["executor"] == "sequential" and not r["gil"] and r["median_s"]:
            base[r["workload"]] = r["median_s"]
    for r in rows:
        r["speedup"] = r["efficiency"] = r["karp_flatt"] = None
        b, t, p = base.get(r["workload"]), r["median_s"], r["workers"]
        if b is None or not t:
            continue
        s = b / t
        r["speedup"] = s
        r["efficiency"] = s / p if p else None
        if p > 1 and s > 0:
            r["karp_flatt"] = (1.0 / s - 1.0 / p) / (1.0 - 1.0 / p)


def summary_csv(rows):
    lines = [SUMMARY_HEADER]
    for r in rows:
        have = r["median_s"] is not None
        f = [r["workload"], r["kind"], r["executor"], str(r["workers"]), str(r["gil"]),
             str(r["tasks"]), r["size"], r["delay_s"],
             fnum("%.9f", r["median_s"]), fnum("%.9f", r["ci_low_s"]),
             fnum("%.9f", r["ci_high_s"]), fnum("%.6f", r["cv"]),
             str(int(r["cv"] is not None and r["cv"] > NOISY_CV)) if have else "",
             fnum("%.6f", r["speedup"]), fnum("%.6f", r["efficiency"]),
             fnum("%.6f", r["karp_flatt"]),
             fnum("%.6f", r["user_s"]), fnum("%.6f", r["sys_s"]), fnum("%d", r["nvcsw"]),
             fnum("%d", r["nivcsw"]), fnum("%d", r["max_rss_kb"]), r["checksum"], r["expected"],
             str(r["checksum_ok"]), str(r["reps"]), r["bind"], r["omp_schedule"],
             str(r["chunksize"]), r["status"]]
        # The whole cost per task, as the harness writes it (issue 8).
        tasks = r["tasks"] if isinstance(r["tasks"], int) else 0
        t = r["median_s"]
        f += [fnum("%.6f", t * 1e6 / tasks if have and tasks and t > 0 else None),
              fnum("%.1f", tasks / t if have and tasks and t > 0 else None)]
        # Wakeup latency and interpreter start-up: not measured here.
        f += ["", "", ""]
        lines.append(",".join(f))
    return "\n".join(lines) + "\n"


def samples_csv(samples):
    lines = [SAMPLES_HEADER]
    for s in samples:
        f = [s["workload"], s["executor"], str(s["workers"]), str(s["gil"]), str(s["tasks"]),
             str(s["size"]), str(s["rep"]),
             fnum("%.9f", s["wall_s"]), fnum("%.6f", s["user_s"]), fnum("%.6f", s["sys_s"]),
             fnum("%d", s["nvcsw"]), fnum("%d", s["nivcsw"]), fnum("%d", s["max_rss_kb"]),
             s["checksum"], str(s["checksum_ok"]), "", ""]
        lines.append(",".join(f))
    return "\n".join(lines) + "\n"


def run_json(doc, rows, skipped, run_id, src_path):
    ctx = doc.get("context", {})
    command = ctx.get("conlab_command")
    return {
        "conlab_version": ctx.get("conlab_version"),
        "run_id": run_id,
        "source": "google-benchmark",
        "input": os.path.abspath(src_path),
        "command": command.split(" ") if command else None,
        "started": ctx.get("date"),
        "complete": bool(rows) and all(r["status"] == "ok" for r in rows),
        "suite": None,
        "reps": max((r["reps"] for r in rows), default=0),
        "quick": ctx.get("conlab_sizes", "quick") == "quick",
        "cells": len(rows),
        "machine": {
            "cpu_model": ctx.get("conlab_cpu_model"),
            "kernel": ctx.get("conlab_kernel"),
            "governor": ctx.get("conlab_governor"),
            "memory_bytes": int(ctx["conlab_memory_bytes"]) if "conlab_memory_bytes" in ctx
            else None,
            "online_cpus": int(ctx["conlab_online_cpus"]) if "conlab_online_cpus" in ctx
            else ctx.get("num_cpus"),
            "mhz_per_cpu": ctx.get("mhz_per_cpu"),
            "host_name": ctx.get("host_name"),
            "loadavg_at_start": [round(x, 2) for x in ctx["load_avg"]]
            if isinstance(ctx.get("load_avg"), list) else None,
            "caches": ctx.get("caches"),
        },
        "compiler": {
            "version": ctx.get("conlab_compiler"),
            "benchmark_library_build_type": ctx.get("library_build_type"),
        },
        "skipped": skipped,
        "context": ctx,
    }


def to_json(obj):
    """Indented JSON with lists of numbers kept on one line, as the harness writes them."""
    text = json.dumps(obj, indent=2)
    return re.sub(r"\[\s*(-?[0-9.eE+-]+(?:,\s*-?[0-9.eE+-]+)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                  text) + "\n"


def write_atomic(directory, name, text):
    tmp = os.path.join(directory, f".{name}.tmp.{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def make_dir(args):
    if args.out:
        if os.path.exists(args.out):
            raise InputError(f"'{args.out}' already exists (choose a new directory)")
        os.mkdir(args.out)
        return args.out
    os.makedirs(args.results, exist_ok=True)
    base = "gb-" + time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 100):
        d = os.path.join(args.results, base if n == 1 else f"{base}-{n}")
        try:
            os.mkdir(d)
            return d
        except FileExistsError:
            continue
    raise InputError(f"too many runs named {base}")


def main(argv):
    p = argparse.ArgumentParser(
        prog="gbench_to_csv.py",
        description="Convert conlab-gbench JSON into a conlab run directory "
                    "(summary.csv, samples.csv, run.json).")
    p.add_argument("input", help="JSON written by conlab-gbench --benchmark_format=json "
                                 "or --benchmark_out=FILE")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--out", help="directory to create (must not exist)")
    g.add_argument("--results", default="results",
                   help="create ROOT/gb-<date>-<time> (default: results)")
    args = p.parse_args(argv)
    try:
        with open(args.input, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"gbench_to_csv: {args.input}: {e}", file=sys.stderr)
        return 1
    try:
        cells, skipped = collect(doc)
        if not cells:
            raise InputError("no benchmark named workload/executor/workers:N (is it from "
                             "conlab-gbench?)")
        rows, samples = build_rows(cells, doc.get("context", {}))
        d = make_dir(args)
        write_atomic(d, "summary.csv", summary_csv(rows))
        write_atomic(d, "samples.csv", samples_csv(samples))
        info = run_json(doc, rows, skipped, os.path.basename(os.path.normpath(d)), args.input)
        write_atomic(d, "run.json", to_json(info))
    except (InputError, KeyError, TypeError, ValueError) as e:
        print(f"gbench_to_csv: {args.input}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"gbench_to_csv: {e}", file=sys.stderr)
        return 1
    print(d)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
