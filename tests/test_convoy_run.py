#!/usr/bin/env python3
"""Issue 6 through `conlab run`: the convoy probe's wakeup latency
(summary.csv wake_mean_ms / wake_max_ms, samples.csv, run.json "rows") and,
with --python, the interpreter start-up and runtime of the py.* rows
(summary.csv startup_s, run.json "interpreter").

  test_convoy_run.py CONLAB            the emulated GIL, 5 ms switch interval
  test_convoy_run.py CONLAB --python   CPython's own GIL and its start-up

Timing bounds are wide: with the GIL a wakeup beside the CPU-bound task 0
waits at least half the switch interval (load only adds to that); without it
the mean stays under half the interval."""

import csv
import json
import os
import subprocess
import sys
import tempfile

from checks import check, finish


def num(row, col):
    v = row.get(col)
    return float(v) if v not in (None, "") else None


def run(conlab, out, args):
    cmd = [conlab, "run"] + args + ["--no-plot", "--out", out]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=250)
    print("$ " + " ".join(cmd[1:]) + "\n" + p.stdout)
    check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr[-2000:]))
    with open(os.path.join(out, "summary.csv")) as f:
        header = f.readline().strip().split(",")
        f.seek(0)
        rows = list(csv.DictReader(f))
    with open(os.path.join(out, "samples.csv")) as f:
        samples = list(csv.DictReader(f))
    with open(os.path.join(out, "run.json")) as f:
        doc = json.load(f)
    for col in ("wake_mean_ms", "wake_max_ms", "startup_s"):
        check(col in header, "summary.csv has a %s column" % col)
    for col in ("wake_mean_ms", "wake_max_ms"):
        check(col in samples[0], "samples.csv has a %s column" % col)
    check(all(None not in r for r in rows), "no summary row has more fields than the header")
    jrows = doc.get("rows", [])
    check(len(jrows) == len(rows), "run.json rows: one per summary row (%d vs %d)" % (len(jrows), len(rows)))
    for r, j in zip(rows, jrows):
        check(j["workload"] == r["workload"] and j["executor"] == r["executor"]
              and j["workers"] == int(r["workers"]) and j["gil"] == (r["gil"] == "1"),
              "run.json row matches summary row %s/%s" % (r["workload"], r["executor"]))
    return p.stdout, rows, samples, jrows


def convoy_emulated(conlab, tmp):
    out = os.path.join(tmp, "c")
    stdout, rows, samples, jrows = run(conlab, out, [
        "-w", "probe.convoy,noop", "-e", "threads,thread_pool", "--gil", "--workers", "2",
        "--switch-interval", "5ms", "--tasks", "11", "--size", "600000000", "--reps", "2",
        "--warmup", "0"])
    check("wakeup latency" in stdout, "the console shows the wakeup latency")
    probe = [r for r in rows if r["workload"] == "probe.convoy"]
    check(len(probe) == 5, "5 probe rows (sequential, threads and thread_pool with/without GIL)")
    for r, j in zip(rows, jrows):
        tag = "%s/%s/gil=%s" % (r["workload"], r["executor"], r["gil"])
        mean, mx = num(r, "wake_mean_ms"), num(r, "wake_max_ms")
        check(num(r, "startup_s") is None, tag + ": no interpreter start-up for a C row")
        check("interpreter" not in j, tag + ": no interpreter in run.json")
        if r["workload"] != "probe.convoy":
            # noop tasks have no IO phase: nothing to measure, empty fields.
            check(mean is None and mx is None, tag + ": wake columns empty")
            check("wakeup_latency" not in j, tag + ": no wakeup_latency in run.json")
            continue
        check(mean is not None and mx is not None and mx >= mean,
              "%s: wake_mean_ms %s <= wake_max_ms %s" % (tag, mean, mx))
        if mean is None:
            continue
        if r["gil"] == "1":
            check(mean >= 2.5, "%s: mean wakeup %.3f ms, at least half the 5 ms interval" % (tag, mean))
            check(abs(j["wakeup_latency"]["switch_interval_ms"] - 5.0) < 1e-9, tag + ": interval in run.json")
        else:
            check(mean < 2.5, "%s: mean wakeup %.3f ms without the GIL, under half the interval" % (tag, mean))
        wl = j.get("wakeup_latency", {})
        check(abs(wl.get("mean_ms", -1) - mean) < 1e-3, tag + ": run.json mean_ms equals summary.csv")
        check(wl.get("tasks") == 10, tag + ": 10 waking tasks measured (got %s)" % wl.get("tasks"))
        reps = [s for s in samples if s["workload"] == r["workload"] and s["executor"] == r["executor"]
                and s["gil"] == r["gil"]]
        check(len(reps) == 2 and all(num(s, "wake_mean_ms") is not None for s in reps),
              tag + ": samples.csv has each repetition's wakeup latency")


def python_rows(conlab, tmp):
    out = os.path.join(tmp, "py")
    stdout, rows, samples, jrows = run(conlab, out, [
        "-w", "probe.convoy,noop", "-e", "py.sequential,py.threads", "--tasks", "11",
        "--size", "6000000", "--reps", "2", "--warmup", "0"])
    python = os.environ.get("CONLAB_PYTHON") or "python3"
    info = subprocess.run([python, "-c",
                           "import sys, platform; g = getattr(sys, '_is_gil_enabled', None);"
                           "print(platform.python_version(), int(g() if g else 1))"],
                          capture_output=True, text=True).stdout.split()
    version, gil = info[0], info[1] == "1"
    check("start-up" in stdout, "the console names the interpreter's start-up")
    py = [r for r in rows if r["executor"].startswith("py.")]
    check(len(py) == 4, "4 py.* rows")
    for r, j in zip(rows, jrows):
        tag = "%s/%s" % (r["workload"], r["executor"])
        startup = num(r, "startup_s")
        if not r["executor"].startswith("py."):
            check(startup is None, tag + ": startup_s empty for a C row")
            check("interpreter" not in j, tag + ": no interpreter in run.json")
            continue
        check(startup is not None and 0 < startup < 60, tag + ": startup_s %s" % startup)
        it = j.get("interpreter", {})
        check(it.get("python_version") == version, tag + ": python_version %s (expected %s)"
              % (it.get("python_version"), version))
        check(it.get("gil_enabled") is gil, tag + ": gil_enabled %s" % it.get("gil_enabled"))
        check(abs(it.get("startup_s", -1) - startup) < 1e-5, tag + ": run.json startup_s equals summary.csv")
        check(version in it.get("runtime", ""), tag + ": runtime names the version")
        mean = num(r, "wake_mean_ms")
        if r["workload"] == "noop":
            check(mean is None, tag + ": no wakeups in noop")
        elif r["executor"] == "py.sequential":
            check(mean is not None and mean < 2.5, tag + ": wakeup %s ms one task at a time" % mean)
        elif gil:
            # CPython's own switch interval is 5 ms (sys.getswitchinterval()).
            check(mean is not None and mean >= 2.5, tag + ": real GIL convoy, wakeup %s ms" % mean)
        else:
            check(mean is not None and mean < 2.5, tag + ": free-threaded, wakeup %s ms" % mean)


def main():
    conlab = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="conlab-convoy-") as tmp:
        if "--python" in sys.argv[2:]:
            python_rows(conlab, tmp)
        else:
            convoy_emulated(conlab, tmp)
    finish()


if __name__ == "__main__":
    main()
