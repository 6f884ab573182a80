#!/usr/bin/env python3
"""Figures and report: gnuplot draws every script on real runs (complete, lacking
executors, with sweeps, the convoy probe), the images are valid PNG/SVG of real
size, report.md's sentences agree with summary.csv, a figure without data is
skipped and the report says so, a run without gnuplot on PATH still succeeds and
says so, and `conlab plot` redraws a run, refusing what is not one.

usage: test_plots.py CONLAB PLOTS_SRC_DIR"""
import csv
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from checks import check, finish

conlab, plots_src = sys.argv[1], sys.argv[2]
FIGURES = ["story", "speedup", "granularity", "io_concurrency", "convoy"]


def run(args, env=None, cwd=None, timeout=240):
    p = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def executors():
    """Registered executors, from `conlab list`."""
    rc, out, _ = run([conlab, "list"])
    names, on = [], False
    for line in out.splitlines():
        if line.startswith("executors"):
            on = True
        elif line.startswith("suites"):
            on = False
        elif on and line.startswith("  ") and line.split():
            names.append(line.split()[0])
    return names


def conlab_run(out, *args, env=None):
    rc, so, se = run([conlab, "run", "--out", out, "--warmup", "0", *args], env=env)
    check(rc == 0, f"conlab run {' '.join(args)}: exit {rc}: {se[-1500:]}")
    return se


def png_ok(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return False, "not a PNG"
    w, h = struct.unpack(">II", head[16:24])
    size = os.path.getsize(path)
    return w >= 800 and h >= 500 and size > 20000, f"{w}x{h}, {size} bytes"


def svg_ok(path):
    size = os.path.getsize(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        return False, f"XML error {e}"
    return root.tag.endswith("svg") and size > 10000, f"{root.tag}, {size} bytes"


def check_images(d, expect):
    pdir = os.path.join(d, "plots")
    for fig in FIGURES:
        png, svg = os.path.join(pdir, fig + ".png"), os.path.join(pdir, fig + ".svg")
        if fig in expect:
            if check(os.path.isfile(png) and os.path.isfile(svg), f"{d}: {fig}.png/.svg drawn"):
                ok, why = png_ok(png)
                check(ok, f"{png}: valid PNG of real size ({why})")
                ok, why = svg_ok(svg)
                check(ok, f"{svg}: valid SVG of real size ({why})")
        else:
            check(not os.path.exists(png), f"{d}: no {fig}.png for a run without its data")


def check_gnuplot_direct(d):
    """Every script exits 0 on the run, both the run's copy and the source's."""
    for fig in FIGURES:
        for script in (os.path.join(d, "plots", fig + ".gp"), os.path.join(plots_src, fig + ".gp")):
            rc, _, se = run(["gnuplot", "-e", f"rundir='{d}'", script], timeout=120)
            check(rc == 0, f"gnuplot {script} on {d}: exit {rc}: {se[-800:]}")


# ---- The sentences of report.md against summary.csv. ----

def read_summary(d):
    with open(os.path.join(d, "summary.csv")) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["ok"] = r["status"] == "ok" and r["median_s"] != ""
        r["sp"] = float(r["speedup"]) if r["speedup"] else None
        r["workers_i"] = int(r["workers"])
    # CPython rows are reported against py.sequential of the same batch.
    for r in rows:
        if r["executor"].startswith("py.") and r["ok"]:
            for b in rows:
                if (b["executor"] == "py.sequential" and b["gil"] == "0" and b["ok"]
                        and b["workload"] == r["workload"] and b["tasks"] == r["tasks"]
                        and b["size"] == r["size"]):
                    r["sp"] = float(b["median_s"]) / float(r["median_s"])
                    r["base_s"] = float(b["median_s"])
    return rows


def story(rows, w, ex, gil, tasks, size):
    """The row a sentence shows: the best, but event_loop with one loop when it ran so."""
    if ex == "event_loop":
        one = [r for r in rows if r["workload"] == w and r["executor"] == ex and r["gil"] == gil
               and int(r["tasks"]) == tasks and int(r["size"]) == size and r["ok"]
               and r["sp"] is not None and r["workers_i"] == 1]
        if one:
            return one[0]
    return best(rows, w, ex, gil, tasks, size)


def main_group(rows, w):
    g = [(int(r["size"]), int(r["tasks"])) for r in rows if r["workload"] == w]
    size, tasks = max(g)
    return tasks, size


def best(rows, w, ex, gil, tasks, size):
    cand = [r for r in rows if r["workload"] == w and r["executor"] == ex and r["gil"] == gil
            and int(r["tasks"]) == tasks and int(r["size"]) == size and r["ok"]
            and r["sp"] is not None]
    return max(cand, key=lambda r: r["sp"]) if cand else None


CLAIM = re.compile(r"`([\w.]+)`( \(GIL\))? (reached|stayed at|fell to) ([0-9]+\.[0-9]+)x"
                   r"(?: with (\d+) workers?)?")
MARK = re.compile(r"\b[Oo]n `([\w.]+)`")
WIN = re.compile(r"`([\w.]+)`( \(GIL\))? (?:first beat sequential at size (\d+)|never beat)")


def verb_for(s):
    return "reached" if s >= 1.15 else "stayed at" if s >= 0.87 else "fell to"


def check_sentences(d, min_claims):
    rows = read_summary(d)
    with open(os.path.join(d, "report.md")) as f:
        text = f.read()
    section = text.split("## What the run shows", 1)[1].split("\n## ", 1)[0]
    claims = 0
    for para in section.split("\n"):
        # A claim belongs to the last "on `workload`" before it.
        marks = [(m.start(), m.group(1)) for m in MARK.finditer(para)]
        for m in CLAIM.finditer(para):
            prior = [w for pos, w in marks if pos < m.start()]
            if not check(prior, f"claim without a workload: {m.group(0)}"):
                continue
            w, ex, gil = prior[-1], m.group(1), "1" if m.group(2) else "0"
            value = float(m.group(4))
            tasks, size = main_group(rows, w)
            r = story(rows, w, ex, gil, tasks, size)
            tag = f"{d}: '{m.group(0)}' on {w}"
            if not check(r is not None, f"{tag}: no such row in summary.csv"):
                continue
            claims += 1
            check(abs(value - r["sp"]) <= 0.0051, f"{tag}: summary says {r['sp']:.4f}")
            check(m.group(3) == verb_for(r["sp"]), f"{tag}: verb for {r['sp']:.3f}")
            if m.group(5):
                check(int(m.group(5)) == r["workers_i"], f"{tag}: workers {r['workers']}")
        if "first beat sequential" in para or "never beat sequential" in para:
            w = MARK.search(para).group(1)
            sizes = sorted({int(r["size"]) for r in rows if r["workload"] == w})
            for m in WIN.finditer(para):
                ex, gil = m.group(1), "1" if m.group(2) else "0"
                win = None
                for z in sizes:
                    tasks = max(int(r["tasks"]) for r in rows
                                if r["workload"] == w and int(r["size"]) == z)
                    seq = best(rows, w, "sequential", "0", tasks, z)
                    r = best(rows, w, ex, gil, tasks, z)
                    if not seq or not r:
                        continue
                    base = r.get("base_s", float(seq["median_s"]))
                    if r["sp"] >= 1.1 and base / float(r["ci_high_s"]) > 1.0:
                        win = z
                        break
                got = int(m.group(3)) if m.group(3) else None
                claims += 1
                check(got == win, f"{d}: {m.group(0)} on {w}: recomputed {win}")
    check(claims >= min_claims, f"{d}: {claims} claims checked, expected >= {min_claims}")
    # Every embedded figure exists, and every drawn figure is embedded.
    for fig in FIGURES:
        png = os.path.exists(os.path.join(d, "plots", fig + ".png"))
        check((f"(plots/{fig}.png)" in text) == png, f"{d}: report embeds {fig} iff drawn")
    check("## Machine" in text and "| CPU |" in text, f"{d}: report has the machine")
    check(text.count("\n| ") >= len(rows) + 2, f"{d}: report has the table")
    return text


# ---- The convoy probe: its rows, figure data and sentence against summary.csv. ----

def fmt_duration(ms):
    """cl__fmt_duration of a latency in ms."""
    return "%.3g ms" % ms if ms >= 1 else "%.3g \u00b5s" % (ms * 1e3)


def convoy_rows(rows):
    """cl__convoy_rows: per executor and GIL the row with the most workers, C rows from the
    main group, in the order C, C under the GIL, CPython."""
    probe = [r for r in rows if r["workload"] == "probe.convoy" and r["ok"]
             and r.get("wake_mean_ms", "") != ""]
    tasks, size = main_group(rows, "probe.convoy")
    order = ["sequential", "threads", "thread_pool", "process_pool", "event_loop", "openmp",
             "py.sequential", "py.threads", "py.thread_pool", "py.process_pool", "py.event_loop"]
    out = []
    for group in ("c", "gil", "py"):
        for ex in order:
            if ex.startswith("py.") != (group == "py"):
                continue
            cand = [r for r in probe if r["executor"] == ex and r["gil"] == ("1" if group == "gil" else "0")
                    and (group == "py" or (int(r["tasks"]) == tasks and int(r["size"]) == size))]
            if cand:
                out.append(max(cand, key=lambda r: r["workers_i"]))
    return out


def read_vars(path):
    with open(path) as f:
        return f.read()


def check_convoy(d, interval_ms):
    rows = read_summary(d)
    want = convoy_rows(rows)
    check(len(want) >= 3, f"{d}: convoy rows {len(want)}")
    pdir = os.path.join(d, "plots")
    v = read_vars(os.path.join(pdir, "convoy.vars"))
    check("np = 1\n" in v and f"ns = {len(want)}\n" in v, f"{d}: convoy.vars has {len(want)} bars")
    check(re.search(r"pf\[1\] = %g;" % interval_ms, v) is not None,
          f"{d}: convoy.vars switch interval {interval_ms} ms (from run.json)")
    py = any(r["executor"].startswith("py.") for r in want)
    check(("pextra[1] = 5\n" in v) == (py and interval_ms != 5), f"{d}: CPython's interval line")
    with open(os.path.join(pdir, "convoy.dat")) as f:
        blocks = [b for b in f.read().split("\n\n\n")]
    for i, r in enumerate(want):
        title = r["executor"] + (" + GIL" if r["gil"] == "1" else "")
        check(f'stitle[{i + 1}] = "{title}"' in v, f"{d}: bar {i + 1} is {title}")
        pts = [l.split() for l in blocks[i].splitlines() if l and not l.startswith("#")]
        ok = (len(pts) == 1 and abs(float(pts[0][1]) - float(r["wake_mean_ms"])) < 1e-6
              and abs(float(pts[0][3]) - float(r["wake_max_ms"])) < 1e-6)
        check(ok, f"{d}: bar {i + 1} ({title}) is mean {r['wake_mean_ms']}, max {r['wake_max_ms']}: {pts}")
    # The story figure has no data here (no CPU- or I/O-bound workload), the
    # speedup and granularity figures leave probes out.
    for fig in ("story", "speedup", "granularity"):
        check("np = 0\n" in read_vars(os.path.join(pdir, fig + ".vars")), f"{d}: no {fig} data")
    with open(os.path.join(d, "report.md")) as f:
        text = f.read()
    line = [l for l in text.splitlines() if l.startswith("- The convoy (`probe.convoy`")]
    if not check(len(line) == 1, f"{d}: one convoy sentence"):
        return
    line = line[0]
    check(f"with the emulated GIL (switch interval {interval_ms:g} ms) a wakeup waited" in line,
          f"{d}: the sentence names the switch interval: {line}")
    said = re.findall(r"([0-9.]+ (?:ms|\u00b5s)) under `([\w.]+)`", line)
    # The phrases follow the groups: GIL, then C without it, then CPython.
    expect = [r for r in want if r["gil"] == "1"] + \
             [r for r in want if r["gil"] == "0" and not r["executor"].startswith("py.")
              and r["executor"] != "sequential"] + \
             [r for r in want if r["executor"].startswith("py.") and r["executor"] != "py.sequential"]
    check([ex for _, ex in said] == [r["executor"] for r in expect],
          f"{d}: sentence lists {said}, expected {[r['executor'] for r in expect]}")
    for (value, ex), r in zip(said, expect):
        check(value == fmt_duration(float(r["wake_mean_ms"])),
              f"{d}: {ex}: sentence says {value}, summary {r['wake_mean_ms']} ms")
    check("On `probe.convoy`" not in text, f"{d}: no speedup sentence for the probe")


with tempfile.TemporaryDirectory() as tmp:
    have = executors()
    c_execs = [e for e in have if not e.startswith("py.") and e != "sequential"]
    check(len(c_execs) >= 2, f"executors registered: {have}")
    lacking = [e for e in ("threads",) if e in have]

    # A: a real run, every C executor, with the emulated GIL.
    a = os.path.join(tmp, "a")
    se = conlab_run(a, "--quick", "-w", "cpu.sumsq,io.sleep", "-e", ",".join(c_execs), "--gil",
                    "--reps", "2")
    check("report in" in se and "figures (" in se, f"run says where the figures are: {se[-400:]}")
    check(not os.path.exists(os.path.join(a, "plots", "gnuplot.log"))
          or os.path.getsize(os.path.join(a, "plots", "gnuplot.log")) < 20000, "small gnuplot.log")
    check_images(a, ["story", "speedup"])
    check_gnuplot_direct(a)
    text = check_sentences(a, 6)
    check("No convoy figure" in text and "plots/convoy.png" not in text,
          "a run without wakeup latency has no convoy figure, and the report says so")
    check("np = 0\n" in read_vars(os.path.join(a, "plots", "convoy.vars")), "no convoy data")

    # B: a run that lacks most executors.
    b = os.path.join(tmp, "b")
    conlab_run(b, "--quick", "-w", "cpu.sumsq,io.sleep", "-e", ",".join(lacking), "--reps", "2")
    check_images(b, ["story", "speedup"])
    check_gnuplot_direct(b)
    check_sentences(b, 2)

    # C: sweeps over sizes and over tasks in flight.
    c1 = os.path.join(tmp, "c1")
    conlab_run(c1, "-w", "cpu.sumsq", "--size", "1000,100000,2000000", "--tasks", "4",
               "-e", ",".join(c_execs[:2]), "--reps", "2")
    check_images(c1, ["story", "speedup", "granularity"])
    check_gnuplot_direct(c1)
    check_sentences(c1, 3)
    c2 = os.path.join(tmp, "c2")
    io_execs = [e for e in ("threads", "event_loop") if e in have]
    conlab_run(c2, "-w", "io.sleep", "--tasks", "4,32", "--delay", "5ms",
               "-e", ",".join(io_execs), "--reps", "2")
    check_images(c2, ["story", "speedup", "io_concurrency"])
    check_gnuplot_direct(c2)
    text = check_sentences(c2, 1)
    check("tasks in flight" in text, "report describes the I/O concurrency sweep")

    # G: the convoy probe (its suite: C with and without the GIL, then CPython where
    # python3 is on PATH), at a switch interval of 2 ms read back from run.json.
    g = os.path.join(tmp, "g")
    se = conlab_run(g, "--suite", "probe", "--quick", "--reps", "2", "--switch-interval", "2ms")
    check("figures (convoy)" in se, f"the probe run draws the convoy figure alone: {se[-300:]}")
    check_images(g, ["convoy"])
    check_gnuplot_direct(g)
    check_sentences(g, 0)
    check_convoy(g, 2)

    # D: no gnuplot on PATH: the run succeeds, says so once, leaves data and scripts.
    d = os.path.join(tmp, "d")
    env = dict(os.environ, PATH=os.path.join(tmp, "empty-bin"))
    os.mkdir(env["PATH"])
    se = conlab_run(d, "--quick", "-w", "cpu.sumsq", "-e", ",".join(lacking), "--reps", "2",
                    env=env)
    lines = [l for l in se.splitlines() if "gnuplot" in l]
    check(len(lines) == 1 and "not found" in lines[0], f"one line about gnuplot: {lines}")
    for fig in FIGURES:
        check(os.path.isfile(os.path.join(d, "plots", fig + ".gp")), f"{fig}.gp copied")
        check(os.path.isfile(os.path.join(d, "plots", fig + ".dat")), f"{fig}.dat written")
        check(not os.path.exists(os.path.join(d, "plots", fig + ".png")), f"no {fig}.png")
    check(os.path.isfile(os.path.join(d, "plots", "common.gp")), "common.gp copied")
    with open(os.path.join(d, "report.md")) as f:
        check("gnuplot was not on PATH" in f.read(), "report says gnuplot was missing")
    # ... and `conlab plot` draws them later, from the run's own copies.
    rc, _, se = run([conlab, "plot", d], env=dict(os.environ, CONLAB_PLOTS_DIR=os.path.join(d, "plots")))
    check(rc == 0, f"conlab plot {d}: exit {rc}: {se}")
    check_images(d, ["story", "speedup"])
    check_sentences(d, 1)

    # E: `conlab plot` refuses what is not a run, with one line and exit 2.
    junk = os.path.join(tmp, "junk")
    os.mkdir(junk)
    for args in ([], [junk], [os.path.join(tmp, "missing")], [a, b]):
        rc, so, se = run([conlab, "plot", *args])
        check(rc == 2 and len(se.strip().splitlines()) == 1, f"plot {args}: exit {rc}, {se!r}")
    with open(os.path.join(junk, "summary.csv"), "w") as f:
        f.write("not,a,summary\n1,2,3\n")
    rc, _, se = run([conlab, "plot", junk])
    check(rc == 2 and len(se.strip().splitlines()) == 1, f"plot on a foreign csv: {rc} {se!r}")

    # F: CONLAB_PLOTS_DIR takes precedence over the source tree.
    alt = os.path.join(tmp, "alt-plots")
    shutil.copytree(plots_src, alt)
    with open(os.path.join(alt, "speedup.gp"), "a") as f:
        f.write('\nprint "ALT_PLOTS_MARKER"\n')
    rc, _, se = run([conlab, "plot", a], env=dict(os.environ, CONLAB_PLOTS_DIR=alt))
    check(rc == 0, f"plot with CONLAB_PLOTS_DIR: {se}")
    with open(os.path.join(a, "plots", "gnuplot.log")) as f:
        check("ALT_PLOTS_MARKER" in f.read(), "CONLAB_PLOTS_DIR's script ran")
    rc, _, se = run([conlab, "plot", a])
    with open(os.path.join(a, "plots", "speedup.gp")) as f:
        check(rc == 0 and "ALT_PLOTS_MARKER" not in f.read(), "the source scripts again")

finish()
