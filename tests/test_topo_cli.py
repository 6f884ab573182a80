#!/usr/bin/env python3
"""`conlab topo` and binding from the command line: this machine's summary,
synthetic machines (deterministic anywhere), the refusal of PUs that do not
exist, and a bound run's rows, run.json and topology.xml."""
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

from checks import check, finish

conlab = sys.argv[1]


def run(*args, timeout=120):
    return subprocess.run([conlab, *args], capture_output=True, text=True, timeout=timeout)


def field(text, name):
    """The value after `name` on its line of `conlab topo` output."""
    m = re.search(r"^\s+" + re.escape(name) + r"\s+(.*)$", text, re.M)
    return m.group(1).strip() if m else None


# This machine: the counts hwloc gives, consistent with the kernel's.
p = run("topo")
check(p.returncode == 0, f"topo exit {p.returncode}: {p.stderr}")
for name in ("packages", "NUMA nodes", "physical cores", "hardware threads", "caches",
             "--workers auto", "ideal CPU speedup"):
    check(field(p.stdout, name) is not None, f"topo shows '{name}':\n{p.stdout}")
threads = int((field(p.stdout, "hardware threads") or "0").split()[0])
cores = int(field(p.stdout, "physical cores") or "0")
usable = len(os.sched_getaffinity(0))
check(threads == usable, f"hardware threads {threads} vs the {usable} CPUs this process may use")
check(1 <= cores <= threads, f"cores {cores}, threads {threads}")
check(field(p.stdout, "ideal CPU speedup").startswith(f"{cores}x"), "ideal speedup = cores")
check("this machine" in p.stdout and "binding" in p.stdout, "source and binding lines")
first_pu = re.split(r"[-,]", field(p.stdout, "PUs (OS numbers)") or "0")[0]

# Synthetic: two packages of eight cores of two hardware threads.
p = run("topo", "--synthetic", "pack:2 core:8 pu:2")
check(p.returncode == 0, f"synthetic exit {p.returncode}: {p.stderr}")
check(field(p.stdout, "packages") == "2", "2 packages")
check(field(p.stdout, "physical cores") == "16", "16 cores")
check((field(p.stdout, "hardware threads") or "").startswith("32 (SMT: 2 per core)"), "32 PUs")
check(field(p.stdout, "--workers auto") == "cpu, mem: 1,2,4,8,16,32", p.stdout)
check("io, mixed: 1,2,4,8,16,32,64" in p.stdout, "io list reaches 64")
check(re.search(r"cpu\.sumsq\s+cpu\s+workers 1,2,4,8,16,32$", p.stdout, re.M), "suite lines")
check(field(p.stdout, "ideal CPU speedup").startswith("16x"), "ideal 16x")
check("planning only" in p.stdout, "synthetic cannot bind")

p = run("topo", "--synthetic", "pack:1 core:2 pu:1")
check(field(p.stdout, "--workers auto") == "cpu, mem: 1,2", p.stdout)
check("io, mixed: 1,2,4 " in p.stdout, "io 1,2,4")

# Where workers would go, and the refusal of PUs that do not exist.
p = run("topo", "--synthetic", "pack:2 core:8 pu:2", "--bind", "scatter", "--workers", "4")
check(p.returncode == 0, f"scatter preview exit {p.returncode}")
pus = re.findall(r"^\s+worker (\d+)\s+PU (\d+)$", p.stdout, re.M)
check(pus == [("0", "0"), ("1", "16"), ("2", "2"), ("3", "18")], f"scatter placement {pus}")
p = run("topo", "--synthetic", "pack:1 core:2 pu:1", "--bind-cpus", "0,7")
check(p.returncode == 2, f"PU 7 refused with exit 2, got {p.returncode}")
check("PU 7 does not exist" in p.stderr and "PUs 0-1" in p.stderr, p.stderr)
check(p.stdout == "", "nothing printed for a refused plan")

with tempfile.TemporaryDirectory() as tmp:
    # A bound run: its binding executors' rows name the binding, sequential's
    # says none; run.json has the topology; topology.xml loads back.
    out = os.path.join(tmp, "bound")
    p = run("run", "-w", "cpu.sumsq", "-e", "threads,thread_pool,openmp", "--workers", "2",
            "--bind", "pu", "--quick", "--reps", "1", "--warmup", "0", "--no-plot",
            "--out", out)
    if "unknown executor 'openmp'" in p.stderr:  # a build without OpenMP
        p = run("run", "-w", "cpu.sumsq", "-e", "threads,thread_pool", "--workers", "2",
                "--bind", "pu", "--quick", "--reps", "1", "--warmup", "0", "--no-plot",
                "--out", out)
    check(p.returncode == 0, f"bound run exit {p.returncode}: {p.stderr[-2000:]}")
    with open(os.path.join(out, "summary.csv")) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) >= 3, f"{len(rows)} rows")
    for r in rows:
        want = "none" if r["executor"] == "sequential" else "pu"
        check(r["bind"] == want, f"{r['executor']} row bind {r['bind']}, expected {want}")
        check(r["status"] == "ok" and r["checksum_ok"] == "1", f"{r['executor']} ok")
    with open(os.path.join(out, "run.json")) as f:
        meta = json.load(f)
    check(meta.get("bind") == "pu", f"run.json bind {meta.get('bind')}")
    topo = meta["machine"].get("topology") or {}
    check(topo.get("pus") == threads and topo.get("cores") == cores, f"run.json topology {topo}")
    check(meta["machine"].get("physical_cores") == cores, "machine.physical_cores")
    check(topo.get("auto_workers", {}).get("cpu", [None])[0] == 1, "auto_workers recorded")
    check(isinstance(meta["machine"].get("loadavg_at_start"), list), "load average recorded")
    for var in ("OMP_WAIT_POLICY", "OMP_PROC_BIND", "OMP_PLACES", "GOMP_SPINCOUNT"):
        check(var in meta.get("environment", {}), f"environment records {var}")
    xml = os.path.join(out, "topology.xml")
    check(os.path.isfile(xml), "topology.xml saved")
    p = run("topo", "--topology", xml)
    check(p.returncode == 0, f"topo --topology exit {p.returncode}: {p.stderr}")
    check(field(p.stdout, "physical cores") == str(cores), "xml reloads the same cores")

    # A list binding is recorded with its PUs; a missing PU is refused early.
    out2 = os.path.join(tmp, "list")
    p = run("run", "-w", "cpu.sumsq", "-e", "thread_pool", "--workers", "2", "--bind-cpus",
            f"{first_pu},{first_pu}", "--quick", "--reps", "1", "--warmup", "0", "--no-plot", "--out", out2)
    check(p.returncode == 0, f"list run exit {p.returncode}: {p.stderr[-2000:]}")
    with open(os.path.join(out2, "summary.csv")) as f:
        binds = {r["executor"]: r["bind"] for r in csv.DictReader(f)}
    check(binds.get("thread_pool") == f"cpus:{first_pu}+{first_pu}", f"list bind column {binds}")
    out3 = os.path.join(tmp, "missing")
    p = run("run", "-w", "cpu.sumsq", "-e", "thread_pool", "--bind-cpus", "4000", "--out",
            out3)
    check(p.returncode == 2 and "PU 4000 does not exist" in p.stderr, p.stderr)
    check(not os.path.exists(out3), "a refused run creates nothing")

finish()
