#!/usr/bin/env python3
"""The lab sheets (labs/) and `conlab lab` (issue 10).

usage: test_labs.py CONLAB SOURCE_DIR --lab N
       test_labs.py CONLAB SOURCE_DIR --sheets

--lab N runs `conlab lab N --quick` and checks that it exits 0, draws the
figures its listing names, and prints a verdict for every expectation that
`conlab lab N --expect` states: PASS, or "not checkable" for a reason that is
true of this machine (its core count and SMT from `conlab topo`, its build
from `conlab list`). No FAIL is accepted. A few values are then recomputed
from the run's summary.csv (read by column name) to check the lab's own
verdicts. Speedups are timing: a lab whose only failures are FAIL verdicts
is run again, up to three times in all (the machine may be loaded); when the
lab measured on every attempt that other programs kept half a core or more
busy, its timing verdicts are reported as inconclusive instead of failing.

--sheets checks the sheets: the sections every sheet has, the figures it
names, that each lab's `conlab run` commands are quoted in its sheet, and that
every command line quoted in a fenced block parses: `conlab run` lines are
planned by conlab itself (an unwritable --out stops them after planning, so
nothing runs), `conlab lab` lines run with --dry-run, the others run as they
are. It also checks that the expectations are computed from the core count:
the same lab on a synthetic 1-core and 16-core machine."""
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from checks import check, finish

conlab, srcdir, mode = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
NOWHERE = "/proc/nonexistent/conlab-lab-check"


def run(args, cwd=None, timeout=300):
    p = subprocess.run([conlab, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def machine():
    """Physical cores and SMT from `conlab topo`, OpenMP from `conlab list`."""
    _, out, _ = run(["topo"])
    cores = int(re.search(r"physical cores\s+(\d+)", out).group(1))
    smt = re.search(r"hardware threads\s+\d+ \(SMT", out) is not None
    caches = re.search(r"caches\s+(.*)", out)
    _, lst, _ = run(["list"])
    openmp = re.search(r"^\s+openmp\s", lst, re.M) is not None
    # A sanitizer runtime linked in, or no -O in the flags `conlab run` records.
    ldd = subprocess.run(["ldd", conlab], capture_output=True, text=True).stdout
    sanitized = re.search(r"lib(asan|tsan|ubsan)", ldd) is not None
    work = tempfile.mkdtemp(prefix="conlab-lab-flags-")
    try:
        run(["run", "-w", "noop", "-e", "sequential", "--reps", "1", "--tasks", "1", "--no-plot",
             "--out", os.path.join(work, "r")], cwd=work)
        with open(os.path.join(work, "r", "run.json")) as f:
            flags = re.search(r'"flags": "([^"]*)"', f.read())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    optimised = (not sanitized and flags is not None and
                 re.search(r"-O[1-3sfast]", flags.group(1)) is not None)
    return {"cores": cores, "smt": smt, "openmp": openmp, "optimised": optimised,
            "tsan": "libtsan" in ldd,
            "caches": caches.group(1) if caches else ""}


def lab_listing():
    """{N: (sheet, [figures])} from `conlab lab`."""
    rc, out, err = run(["lab"])
    check(rc == 0, f"`conlab lab` exits 0 ({rc}: {err})")
    labs, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"\s+(\d+)\s+\S", line)
        if m and "seed ex." in line:
            cur = int(m.group(1))
            labs[cur] = [None, []]
        m = re.match(r"\s+sheet\s+(\S+)", line)
        if m and cur:
            labs[cur][0] = m.group(1)
        m = re.match(r"\s+figure\s+DIR/(\S+)", line)
        if m and cur:
            labs[cur][1].append(m.group(1))
    return labs


def expectations(out):
    """[(id, statement, verdict line)] from a lab's output."""
    found, cur = [], None
    for line in out.splitlines():
        m = re.match(r"E(\d+)  (.*)", line)
        if m:
            cur = [int(m.group(1)), m.group(2), None]
            found.append(cur)
            continue
        m = re.match(r"    (PASS|FAIL|not checkable|checkable here)(.*)", line)
        if m and cur is not None:
            check(cur[2] is None, f"E{cur[0]} has one verdict ({line!r})")
            cur[2] = line.strip()
    return found


def reason_ok(verdict, mc):
    """Whether a "not checkable" verdict gives a reason true of this machine."""
    m = re.match(r"not checkable on (\d+) cores?( without SMT)?: ", verdict)
    if m:
        return int(m.group(1)) == mc["cores"] and (not m.group(2) or not mc["smt"])
    if verdict.startswith("not checkable in this build: it has no OpenMP"):
        return not mc["openmp"]
    if verdict.startswith("not checkable without CPython"):
        return shutil.which("python3") is None
    if verdict.startswith("not checkable in this build: ThreadSanitizer"):
        return mc["tsan"]
    if verdict.startswith("not checkable in this build: it is not optimised or it is "
                          "instrumented"):
        return not mc["optimised"]
    m = re.match(r"not checkable on this machine: its \d+ MiB (L\d)", verdict)
    if m:
        return m.group(1) in mc["caches"]
    return False


def summary(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def rows(table, **want):
    return [r for r in table if all(str(r[k]) == str(v) for k, v in want.items())]


def speedup(table, **want):
    got = [float(r["speedup"]) for r in rows(table, **want) if r["status"] == "ok"]
    return got[0] if got else float("nan")


def verdict_of(exps, n):
    return next((e[2] for e in exps if e[0] == n), "") or ""


def recheck(n, out_dir, exps, mc):
    """Values recomputed from summary.csv where the lab said PASS."""
    P = mc["cores"]
    if n == 1:
        t = summary(os.path.join(out_dir, "waits", "summary.csv"))
        nmax = max(int(r["tasks"]) for r in t)
        s = speedup(t, executor="event_loop", tasks=nmax)
        if verdict_of(exps, 2).startswith("PASS"):
            check(s >= nmax / 2, f"lab 1: event loop {s:.1f}x at {nmax} tasks, at least {nmax / 2}")
        for r in rows(t, executor="sequential"):
            ratio = float(r["median_s"]) / (int(r["tasks"]) * float(r["delay_s"]))
            check(0.95 <= ratio <= 1.5, f"lab 1: sequential is n x d ({ratio:.2f})")
    elif n == 2:
        t = summary(os.path.join(out_dir, "rounds", "summary.csv"))
        s = speedup(t, executor="thread_pool", workers=3)
        check(0.8 * 2.5 <= s <= 1.1 * 2.5, f"lab 2: 10 tasks on 3 workers take 4 rounds ({s:.2f}x)")
    elif n == 3 and P >= 2:
        t = summary(os.path.join(out_dir, "c", "summary.csv"))
        s = speedup(t, executor="threads", gil=1)
        check(s <= 1.2, f"lab 3: threads under the GIL stay near 1x ({s:.2f}x)")
    elif n == 4:
        t = summary(os.path.join(out_dir, "sweep", "summary.csv"))
        small = min(int(r["size"]) for r in t)
        s = speedup(t, executor="threads", size=small)
        check(s < 0.5, f"lab 4: a thread per 1 us task loses to sequential ({s:.2f}x)")
    elif n == 5 and P >= 2:
        t = summary(os.path.join(out_dir, "uneven", "summary.csv"))
        e = [float(r["karp_flatt"]) for r in rows(t, executor="thread_pool", workers=2)]
        check(e and abs(e[0] - 1 / 3) <= 0.15, f"lab 5: 3 tasks on 2 workers, e near 1/3 ({e})")
    elif n == 6 and P >= 2:
        t = summary(os.path.join(out_dir, "compare", "summary.csv"))
        parts = {r["workload"] for r in t}
        check(parts == {f"cpu.sumsq[{p}]" for p in ("pu0", "core", "compact", "scatter")},
              f"lab 6: compare/ has a group per binding ({sorted(parts)})")
        for r in rows(t, workload="cpu.sumsq[pu0]", executor="thread_pool"):
            check(float(r["speedup"]) <= 1.2, f"lab 6: on PU 0, {r['workers']} workers stay at 1x")
    elif n == 7:
        t = summary(os.path.join(out_dir, "compare", "summary.csv"))
        parts = {r["workload"] for r in t}
        want = {f"{w}[{p}]" for w in ("cpu.fib", "cpu.mandel", "cpu.primes")
                for p in ("static", "dynamic")}
        check(parts == want, f"lab 7: compare/ has a group per workload and schedule ({parts})")
        if verdict_of(exps, 9).startswith("PASS"):
            s = speedup(t, workload="cpu.primes[static]", executor="openmp", workers=P)
            d = speedup(t, workload="cpu.primes[dynamic]", executor="openmp", workers=P)
            check(d > s, f"lab 7: primes, dynamic {d:.2f}x beats static {s:.2f}x")
    elif n == 8 and P >= 2:
        t = summary(os.path.join(out_dir, "scaling", "summary.csv"))
        m = speedup(t, workload="mem.stream", executor="thread_pool", workers=P)
        c = speedup(t, workload="cpu.sumsq", executor="thread_pool", workers=P)
        check(m < c, f"lab 8: mem.stream {m:.2f}x gains less than cpu.sumsq {c:.2f}x")


def test_lab(n):
    mc = machine()
    labs = lab_listing()
    check(n in labs, f"lab {n} is listed")
    rc, expect_out, err = run(["lab", str(n), "--expect"])
    check(rc == 0, f"`conlab lab {n} --expect` exits 0 ({rc}: {err})")
    stated = expectations(expect_out)
    check(len(stated) >= 2, f"lab {n} states expectations ({len(stated)})")
    check([e[0] for e in stated] == list(range(1, len(stated) + 1)), f"lab {n}: E1..E{len(stated)}")
    for e in stated:
        check(e[2] and (e[2].startswith("checkable here") or e[2].startswith("not checkable")),
              f"lab {n} --expect: E{e[0]} says whether it is checkable here ({e[2]!r})")
    busy_every_time = True
    for attempt in range(1, 4):
        work = tempfile.mkdtemp(prefix=f"conlab-lab{n}-")
        out_dir = os.path.join(work, "out")
        try:
            rc, out, err = run(["lab", str(n), "--quick", "--out", out_dir], cwd=work)
            print(f"--- conlab lab {n} --quick (attempt {attempt}): exit {rc}")
            print(out[out.find(f"lab {n} figure"):] if f"lab {n} figure" in out else out)
            exps = expectations(out)
            fails = [e for e in exps if (e[2] or "").startswith("FAIL")]
            only_timing = rc == 1 and fails and "failed with exit status" not in err
            others = re.search(r"note: other programs kept ([\d.]+) of the \d+ cores busy", out)
            busy_every_time &= others is not None and float(others.group(1)) >= 0.5
            if only_timing and attempt < 3:
                load = open("/proc/loadavg").read().split()[0]
                print(f"timing FAIL verdicts (load average {load}): running lab {n} again")
                time.sleep(3)  # let a burst of other work pass
                continue
            # Other programs held half a core or more on every attempt (the lab
            # measures that from /proc/stat): a speedup that falls short then
            # proves nothing either way. Said, not hidden; all else is checked.
            inconclusive = only_timing and busy_every_time
            if inconclusive:
                print(f"INCONCLUSIVE: lab {n}: other programs kept the cores busy on all three "
                      f"attempts; its timing verdicts are not counted: "
                      f"{[e[0] for e in fails]}")
            check(rc == 0 or inconclusive, f"`conlab lab {n} --quick` exits 0 (got {rc}; stderr "
                                           f"tail {err[-600:]!r})")
            check(os.path.isfile(os.path.join(out_dir, "expectations.txt")),
                  f"lab {n} writes expectations.txt")
            for fig in labs.get(n, [None, []])[1]:
                path = os.path.join(out_dir, fig)
                if shutil.which("gnuplot"):
                    check(os.path.isfile(path) and os.path.getsize(path) > 0,
                          f"lab {n} draws {fig}")
                else:
                    dat = os.path.join(os.path.dirname(path), os.path.basename(path)[:-4] + ".dat")
                    check(os.path.isfile(dat), f"lab {n} writes the data of {fig}")
            check(len(exps) == len(stated),
                  f"lab {n}: a verdict for each of the {len(stated)} expectations ({len(exps)})")
            for e in exps:
                v = e[2] or ""
                if v.startswith("not checkable"):
                    check(reason_ok(v, mc),
                          f"lab {n} E{e[0]}: the reason is true of this machine "
                          f"({mc['cores']} cores, SMT {mc['smt']}): {v!r}")
                else:
                    check(v.startswith("PASS") or (inconclusive and v.startswith("FAIL")),
                          f"lab {n} E{e[0]} passes: {e[1]} / {v!r}")
            unchecked = [e for e in exps if (e[2] or "").startswith("not checkable")]
            summary_line = re.search(r"lab \d+: (\d+) expectations: (\d+) PASS, (\d+) FAIL, "
                                     r"(\d+) not checkable", out)
            check(summary_line is not None and int(summary_line.group(4)) == len(unchecked),
                  f"lab {n}: the summary line counts the unchecked ones")
            if rc == 0:
                recheck(n, out_dir, exps, mc)
            break
        finally:
            shutil.rmtree(work, ignore_errors=True)


def fenced_commands(text):
    """Command lines in fenced code blocks that start with conlab."""
    cmds, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        s = line.strip()
        if inside and (s.startswith("conlab ") or s == "conlab" or s.startswith("build/conlab ")):
            s = re.sub(r"\s+#.*$", "", s)
            cmds.append(s.split(" ", 1)[1] if " " in s else "")
    return cmds


def split_args(args):
    """Arguments of a quoted line: spaces split, double quotes group."""
    return [a.replace('"', "") for a in re.findall(r'"[^"]*"|\S+', args)]


def without_missing(argv, mc):
    """A build without OpenMP leaves openmp out of -e lists, as `conlab lab` does."""
    argv = list(argv)
    for i, a in enumerate(argv[:-1]):
        if a in ("-e", "--executor") and not mc["openmp"]:
            kept = [e for e in argv[i + 1].split(",") if e != "openmp"]
            argv[i + 1] = ",".join(kept) or "sequential"
    return argv


def check_commands(sheet, quoted, mc):
    """Every quoted command parses: run lines plan, lab lines dry-run."""
    for args in quoted:
        argv = without_missing(split_args(args), mc)
        if argv[:1] == ["run"]:
            if "--out" in argv:
                i = argv.index("--out")
                del argv[i:i + 2]
            rc, _, err = run(argv + ["--out", NOWHERE])
            check(rc == 2 and err.strip().splitlines()[-1:] == [
                f"conlab: --out: cannot create '{NOWHERE}': No such file or directory"],
                  f"{sheet}: `conlab {args}` parses and plans ({rc}: {err.strip()!r})")
        elif argv[:1] == ["lab"]:
            extra = [] if len(argv) == 1 or "--expect" in argv else ["--dry-run"]
            rc, _, err = run(argv + extra)
            check(rc == 0, f"{sheet}: `conlab {args}` is a valid lab command ({rc}: {err})")
        else:
            rc, _, err = run(argv)
            check(rc == 0, f"{sheet}: `conlab {args}` exits 0 ({rc}: {err})")


def test_sheets():
    mc = machine()
    labs = lab_listing()
    check(len(labs) >= 8, f"at least 8 labs ({len(labs)})")
    index = open(os.path.join(srcdir, "labs", "README.md")).read()
    check_commands("labs/README.md", fenced_commands(index), mc)
    sections = ["## Goal", "## Predict", "## Run", "## Read the figure", "## Questions",
                "## Instructor notes"]
    for n, (sheet, figs) in sorted(labs.items()):
        path = os.path.join(srcdir, sheet or "")
        if not check(sheet and os.path.isfile(path), f"lab {n}: sheet {sheet} exists"):
            continue
        text = open(path).read()
        check(os.path.basename(sheet) in index, f"labs/README.md links {sheet}")
        for s in sections:
            check(s in text, f"{sheet} has a section '{s}'")
        for fig in figs:
            check(f"DIR/{fig}" in text, f"{sheet} names its figure DIR/{fig}")
        check(f"conlab lab {n}" in text, f"{sheet} quotes `conlab lab {n}`")
        check(f"conlab lab {n} --expect" in text, f"{sheet} points to `conlab lab {n} --expect`")
        quoted = fenced_commands(text)
        check_commands(sheet, quoted, mc)
        # Each of the lab's own commands, exactly, in its sheet.
        for quick in (False, True):
            rc, out, err = run(["lab", str(n), "--dry-run"] + (["--quick"] if quick else []))
            check(rc == 0, f"`conlab lab {n} --dry-run{' --quick' if quick else ''}` exits 0 "
                           f"({rc}: {err})")
            plans = [l for l in out.splitlines() if l.startswith("conlab run ")]
            check(plans, f"lab {n} has commands")
            for p in plans if not quick else []:
                check(p[len("conlab "):] in quoted, f"{sheet} quotes its command: {p}")
    # The expectations follow the core count: a 1-core and a 16-core machine.
    for n in sorted(labs):
        stated = {}
        for desc in ("pack:1 core:1 pu:1", "pack:1 core:16 pu:2"):
            rc, out, err = run(["lab", str(n), "--expect", "--synthetic", desc])
            check(rc == 0, f"lab {n} --expect --synthetic '{desc}' exits 0 ({rc}: {err})")
            check("16 physical cores" in out if "16" in desc else "1 physical core," in out,
                  f"lab {n} --expect plans for {desc}")
            stated[desc] = expectations(out)
            for e in stated[desc]:
                v = e[2] or ""
                m = re.match(r"not checkable on (\d+) cores?", v)
                if m:
                    check(int(m.group(1)) == (1 if "core:1 " in desc else 16),
                          f"lab {n} E{e[0]} on {desc}: {v!r}")
        one, many = stated["pack:1 core:1 pu:1"], stated["pack:1 core:16 pu:2"]
        check(len(one) == len(many), f"lab {n} states as many expectations on 1 and 16 cores")
        if n >= 3:
            check(any(a[2] != b[2] or a[1] != b[1] for a, b in zip(one, many)),
                  f"lab {n}: its expectations change with the core count")
        if n in (3, 4, 5, 6, 7, 8):
            check(sum(1 for e in one if (e[2] or "").startswith("not checkable on 1 core")) >= 1,
                  f"lab {n}: a 1-core machine cannot check its parallel expectations")
    # Spot checks of numbers computed for 16 cores.
    _, out, _ = run(["lab", "3", "--expect", "--synthetic", "pack:1 core:16 pu:2"])
    check("thread_pool with 16 workers runs 8 equal tasks about 8.00x" in out,
          "lab 3 on 16 cores: 8 tasks on 16 workers give 8x (n/ceil(n/W))")
    _, out, _ = run(["lab", "5", "--expect", "--synthetic", "pack:1 core:16 pu:2"])
    check("W=16 e=0.289" in out and "a prediction for 32, 64 and 128 cores" in out,
          "lab 5 on 16 cores: e for 3 tasks on 16 workers and Amdahl for 32-128 cores")
    _, out, _ = run(["lab", "6", "--expect", "--synthetic", "pack:1 core:8 pu:2"])
    check("(8 workers on 4 cores)" in out and "E3" in out and
          "not checkable on 8 cores without SMT" not in out,
          "lab 6 on an SMT machine: compact puts 8 workers on 4 cores, checkable")


if mode == "--lab":
    test_lab(int(sys.argv[4]))
elif mode == "--sheets":
    test_sheets()
else:
    sys.exit(f"usage: {sys.argv[0]} CONLAB SOURCE_DIR --lab N | --sheets")
finish(require_pass=True)
