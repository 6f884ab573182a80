#!/usr/bin/env python3
"""Faults and signals at the command line: conlab keeps working, keeps what
finished, and leaves no process and no partial file behind.

usage: test_reliability.py CONLAB SCENARIO   (SCENARIO: see SCENARIOS below)

Every scenario watches the process tree under conlab while it runs (every
process ever seen below it, with its start time so that a reused pid is not
mistaken for a survivor) and checks afterwards that none of them is left.
"""
import csv
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

from checks import check, finish

conlab = os.path.abspath(sys.argv[1])
scenario = sys.argv[2]


def sanitizer_env():
    """A SIGSEGV sent to a process must kill it as it would without
    sanitizers; their own SEGV handler would turn it into exit status 1."""
    env = dict(os.environ)
    for var in ("ASAN_OPTIONS", "TSAN_OPTIONS", "UBSAN_OPTIONS"):
        env[var] = (env.get(var, "") + ":handle_segv=0:handle_abort=0").lstrip(":")
    return env


# ---- The process tree. ----


def proc_stat(pid):
    """(ppid, pgrp, starttime, comm) of pid, or None when it is gone or a zombie
    already reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    comm = data[data.index("(") + 1:data.rindex(")")]
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[2]), int(fields[19]), comm, fields[0]


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                kids.setdefault(st[0], []).append(int(name))
    return kids


def descendants(root):
    kids = children_map()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


class Run:
    """conlab run ARGS in the background, with its process tree watched."""

    def __init__(self, args, env=None, preexec=None, cwd=None):
        self.seen = {}  # pid -> starttime
        self.p = subprocess.Popen([conlab, "run"] + args, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env or sanitizer_env(),
                                  preexec_fn=preexec, cwd=cwd)
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.watcher = threading.Thread(target=self._watch_loop, daemon=True)
        self.watcher.start()

    def _watch_loop(self):
        while self.p.poll() is None:
            self.watch()
            time.sleep(0.01)

    def watch(self):
        for pid in descendants(self.p.pid):
            st = proc_stat(pid)
            if st:
                with self.lock:
                    self.seen.setdefault(pid, st[2])

    def wait_for(self, what, cond, timeout=60):
        """Polls the tree until cond(self) is true; returns its value."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.p.poll() is None:
            self.watch()
            v = cond(self)
            if v:
                return v
            time.sleep(0.02)
        check(False, f"waited {timeout} s for {what}")
        return None

    def cell(self):
        """The running cell's process: a child of conlab leading its own group."""
        for pid in children_map().get(self.p.pid, []):
            st = proc_stat(pid)
            if st and st[1] == pid and st[4] != "Z":
                return pid
        return None

    def workers(self):
        c = self.cell()
        return [w for w in children_map().get(c, []) if proc_stat(w) and proc_stat(w)[4] != "Z"] \
            if c else []

    def delay_server(self):
        """A child of conlab in conlab's own process group (io.net's server)."""
        own = os.getpgid(self.p.pid)
        for pid in children_map().get(self.p.pid, []):
            st = proc_stat(pid)
            if st and st[1] == own and st[4] != "Z":
                return pid
        return None

    def finish(self, timeout=120):
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
            check(False, "conlab did not finish in time")
        self.elapsed = time.monotonic() - self.t0
        self.watcher.join()
        self.stdout, self.stderr, self.rc = out, err, self.p.returncode
        time.sleep(0.05)
        left = [pid for pid, start in self.seen.items()
                if proc_stat(pid) and proc_stat(pid)[2] == start]
        check(not left, f"no process left behind (saw {len(self.seen)}, left {left})")
        return self.rc


def summary(out):
    with open(os.path.join(out, "summary.csv")) as f:
        return list(csv.DictReader(f))


def samples(out):
    with open(os.path.join(out, "samples.csv")) as f:
        return list(csv.DictReader(f))


def meta(out):
    with open(os.path.join(out, "run.json")) as f:
        return json.load(f)


def no_temporaries(out):
    left = [n for n in os.listdir(out) if n.startswith(".")]
    check(not left, f"no temporary file left in {out}: {left}")


def row(rows, workload, executor):
    for r in rows:
        if r["workload"] == workload and r["executor"] == executor:
            return r
    check(False, f"no row {workload}/{executor}")
    return {}


def samples_match_summary(out):
    """samples.csv holds exactly the repetitions summary.csv counts."""
    rows, reps = summary(out), {}
    for s in samples(out):
        key = (s["workload"], s["executor"], s["workers"], s["gil"], s["tasks"], s["size"])
        reps[key] = reps.get(key, 0) + 1
    for r in rows:
        key = (r["workload"], r["executor"], r["workers"], r["gil"], r["tasks"], r["size"])
        check(reps.get(key, 0) == int(r["reps"]), f"{key}: samples == reps column")


def one_line(text, needle):
    lines = [l for l in text.splitlines() if needle in l]
    check(len(lines) == 1, f"one line with '{needle}' in: {text[-1500:]}")
    return lines[0] if lines else ""


# ---- Scenarios. ----


def s_sigint(tmp, sig=signal.SIGINT):
    """Ctrl-C (or SIGTERM) while a process-pool cell runs: the cell's group is
    killed, finished cells are written, the run is marked incomplete."""
    out = os.path.join(tmp, "run")
    r = Run(["-w", "io.sleep", "-e", "process_pool", "-j", "2", "--tasks", "4",
             "--delay", "200ms", "--reps", "3", "--warmup", "0", "--out", out, "--no-plot"])
    # io.sleep/sequential (3 x 0.8 s) finishes first; then the pool cell starts
    # its workers.
    r.wait_for("the process pool's workers", lambda r: len(r.workers()) >= 2)
    time.sleep(0.2)
    r.watch()
    t = time.monotonic()
    r.p.send_signal(sig)
    rc = r.finish()
    stop_s = time.monotonic() - t
    print(f"{signal.Signals(sig).name}: exit {rc} {stop_s:.3f} s after the signal, "
          f"{len(r.seen)} processes watched")
    check(rc == 128 + sig, f"exit {rc}, expected {128 + sig}: {r.stderr[-800:]}")
    check(stop_s < 2.0, f"stopped {stop_s:.2f} s after the signal (limit 1 s, margin 2 s)")
    check(len(r.seen) >= 4, f"watched the cell and its workers ({len(r.seen)} processes)")
    one_line(r.stderr, "stopped by SIG")
    rows = summary(out)
    check(row(rows, "io.sleep", "sequential").get("status") == "ok", "io.sleep/sequential kept")
    check(row(rows, "io.sleep", "process_pool").get("status") == "interrupted",
          "the running cell is marked interrupted")
    m = meta(out)
    check(m["complete"] is False, "run.json complete is false")
    check(m["interrupted_by"] == signal.Signals(sig).name, f"interrupted_by {m['interrupted_by']}")
    samples_match_summary(out)
    check(sum(1 for s in samples(out) if s["workload"] == "io.sleep"
              and s["executor"] == "sequential") == 3, "finished cell's samples kept")
    no_temporaries(out)


def s_sigterm(tmp):
    """SIGTERM during io.net: the delay server (a child of conlab) goes too."""
    out = os.path.join(tmp, "run")
    r = Run(["-w", "io.net", "-e", "threads", "--tasks", "4", "--delay", "500ms", "--reps", "5",
             "--out", out, "--no-plot"])
    r.wait_for("the delay server and a cell", lambda r: r.delay_server() and r.cell())
    time.sleep(0.3)
    r.watch()
    t = time.monotonic()
    r.p.send_signal(signal.SIGTERM)
    rc = r.finish()
    stop_s = time.monotonic() - t
    print(f"SIGTERM during io.net: exit {rc} after {stop_s:.3f} s")
    check(rc == 143, f"exit {rc}, expected 143: {r.stderr[-800:]}")
    check(stop_s < 2.0, f"stopped {stop_s:.2f} s after SIGTERM")
    rows = summary(out)
    check(row(rows, "io.net", "sequential").get("status") == "interrupted", "cell interrupted")
    check(row(rows, "io.net", "threads").get("status") == "incomplete", "next cell incomplete")
    check(meta(out)["interrupted_by"] == "SIGTERM", "interrupted_by SIGTERM")
    no_temporaries(out)


def s_double_sigint(tmp):
    """A second Ctrl-C exits at once: no orphan, no temporary, no half file."""
    out = os.path.join(tmp, "run")
    r = Run(["-w", "io.sleep", "-e", "process_pool", "-j", "2", "--tasks", "2", "--delay",
             "2s", "--reps", "2", "--warmup", "0", "--out", out, "--no-plot"])
    r.wait_for("a cell", lambda r: r.cell())
    time.sleep(0.2)
    r.watch()
    t = time.monotonic()
    r.p.send_signal(signal.SIGINT)
    r.p.send_signal(signal.SIGINT)
    rc = r.finish()
    stop_s = time.monotonic() - t
    print(f"two SIGINTs: exit {rc} after {stop_s:.3f} s")
    check(rc == 130, f"exit {rc}, expected 130: {r.stderr[-800:]}")
    check(stop_s < 2.0, f"stopped {stop_s:.2f} s after the second SIGINT")
    # The run directory goes if nothing was written yet.
    if os.path.isdir(out):
        no_temporaries(out)
    # Whatever was written under a final name is whole.
    if os.path.exists(os.path.join(out, "summary.csv")):
        check(len(summary(out)) == 2, "summary.csv whole")
    if os.path.exists(os.path.join(out, "run.json")):
        check(meta(out)["complete"] is False, "run.json whole and incomplete")
    # And a second SIGINT while results are being written: send them while the
    # run finishes (no cell running), many times over.
    for i in range(20):
        out = os.path.join(tmp, f"w{i}")
        r = Run(["-w", "noop", "-e", "threads", "--tasks", "50", "--reps", "1", "--warmup", "0",
                 "--out", out, "--no-plot"])
        time.sleep(0.002 * i)
        for _ in range(2):
            try:
                r.p.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
        rc = r.finish()
        # Killed by the first SIGINT before main() installed its handler:
        # then nothing may exist yet.
        early = rc == -signal.SIGINT and not os.path.exists(out)
        check(rc in (0, 130) or early, f"exit {rc} (0 or 130): {r.stderr[-500:]}")
        if os.path.isdir(out):
            no_temporaries(out)
            for name in ("summary.csv", "samples.csv"):
                path = os.path.join(out, name)
                if os.path.exists(path):
                    with open(path) as f:
                        text = f.read()
                    check(text.endswith("\n") and text.startswith("workload,"),
                          f"{name} whole after a double Ctrl-C")
            if os.path.exists(os.path.join(out, "run.json")):
                meta(out)  # parses


def s_timeout(tmp):
    """--timeout kills a hung cell (its workers too), reports it, goes on."""
    out = os.path.join(tmp, "run")
    r = Run(["-w", "io.sleep,noop", "-e", "threads,process_pool", "-j", "2", "--tasks", "2",
             "--delay", "60s", "--reps", "1", "--warmup", "0", "--timeout", "1s", "--out", out,
             "--no-plot"])
    r.wait_for("the process pool's workers", lambda r: len(r.workers()) >= 2, timeout=30)
    rc = r.finish(timeout=60)
    print(f"timeout: exit {rc} in {r.elapsed:.2f} s, {len(r.seen)} processes watched")
    check(rc == 1, f"exit {rc}, expected 1: {r.stderr[-800:]}")
    check(r.elapsed < 20, f"three hung cells took {r.elapsed:.1f} s (each killed after 1 s)")
    rows = summary(out)
    for ex in ("sequential", "threads", "process_pool"):
        check(row(rows, "io.sleep", ex).get("status") == "CL_ETIMEDOUT", f"io.sleep/{ex} timed out")
        check(row(rows, "noop", ex).get("status") == "ok", f"noop/{ex} ran after the timeouts")
    lines = [l for l in r.stderr.splitlines() if "timed out after 1.00 s" in l]
    check(len(lines) == 3, f"three 'timed out after 1.00 s' lines: {r.stderr[-1500:]}")
    check(meta(out)["complete"] is False, "run.json complete is false")
    no_temporaries(out)
    # A cell within its time is not touched.
    out2 = os.path.join(tmp, "ok")
    r = Run(["-w", "io.sleep", "-e", "threads", "--tasks", "2", "--delay", "10ms", "--reps",
             "2", "--timeout", "30s", "--out", out2, "--no-plot"])
    check(r.finish() == 0, f"a cell within --timeout passes: {r.stderr[-500:]}")


def s_cell_crash(tmp):
    """A crash in a cell's process (SIGSEGV, as a bad kernel would) fails that
    cell only, named by its signal, and keeps its finished repetitions."""
    out = os.path.join(tmp, "run")
    r = Run(["-w", "io.sleep,noop", "-e", "threads", "--tasks", "2", "--delay", "100ms",
             "--reps", "20", "--warmup", "0", "--out", out, "--no-plot"])
    cell = r.wait_for("the first cell", lambda r: r.cell())
    time.sleep(1.0)  # about 5 repetitions of 0.2 s
    r.watch()
    os.kill(cell, signal.SIGSEGV)
    rc = r.finish()
    check(rc == 1, f"exit {rc}, expected 1: {r.stderr[-800:]}")
    line = one_line(r.stderr, "SIGSEGV")
    print("crash:", line)
    check("killed by signal 11" in line, "the signal is named")
    rows = summary(out)
    bad = row(rows, "io.sleep", "sequential")
    check(bad.get("status") == "CL_EWORKER", f"crashed cell status {bad.get('status')}")
    check(int(bad.get("reps", 0)) >= 1, f"finished repetitions kept ({bad.get('reps')})")
    check(bad.get("median_s", "") != "", "the kept repetitions are summarised")
    check(row(rows, "io.sleep", "threads").get("status") == "ok", "the next cell ran")
    check(row(rows, "noop", "threads").get("status") == "ok", "later cells ran")
    samples_match_summary(out)
    check(meta(out)["complete"] is False, "run.json complete is false")


def pool_fault(tmp, sig):
    out = os.path.join(tmp, "run")
    r = Run(["-w", "io.sleep,noop", "-e", "process_pool", "-j", "2", "--tasks", "4", "--delay",
             "100ms", "--reps", "10", "--warmup", "0", "--out", out, "--no-plot"])
    ws = r.wait_for("the process pool's workers", lambda r: r.workers() if len(r.workers()) >= 2
                    else None)
    time.sleep(0.5)
    r.watch()
    os.kill(ws[0], sig)
    rc = r.finish()
    check(rc == 1, f"exit {rc}, expected 1: {r.stderr[-800:]}")
    line = one_line(r.stderr, "process_pool workers=2: FAILED")
    print(f"worker {signal.Signals(sig).name}:", line)
    check(f"SIG{signal.Signals(sig).name[3:]}" in line, "the signal is named")
    check(f"{ws[0]}" in line, "the worker is named by its pid")
    rows = summary(out)
    bad = row(rows, "io.sleep", "process_pool")
    check(bad.get("status") == "CL_EWORKER", f"status {bad.get('status')}")
    check(int(bad.get("reps", 0)) >= 1, f"finished repetitions kept ({bad.get('reps')})")
    check(row(rows, "io.sleep", "sequential").get("status") == "ok", "earlier cell kept")
    check(row(rows, "noop", "process_pool").get("status") == "ok", "later cells ran")
    samples_match_summary(out)


def s_worker_killed(tmp):
    """A process-pool worker killed mid-batch."""
    pool_fault(tmp, signal.SIGKILL)


def s_task_crash(tmp):
    """A task that crashes inside a worker (the worker dies by SIGSEGV)."""
    pool_fault(tmp, signal.SIGSEGV)


def s_delay_server_killed(tmp):
    """io.net's delay server killed mid-run: those cells fail clearly, the run
    goes on to the next workload."""
    out = os.path.join(tmp, "run")
    r = Run(["-w", "io.net,noop", "-e", "threads", "--tasks", "4", "--delay", "100ms", "--reps",
             "10", "--warmup", "0", "--out", out, "--no-plot"])
    server = r.wait_for("the delay server", lambda r: r.delay_server())
    r.wait_for("a cell", lambda r: r.cell())
    time.sleep(0.8)
    r.watch()
    os.kill(server, signal.SIGKILL)
    rc = r.finish()
    check(rc == 1, f"exit {rc}, expected 1: {r.stderr[-800:]}")
    rows = summary(out)
    for ex in ("sequential", "threads"):
        st = row(rows, "io.net", ex).get("status")
        check(st not in ("ok", "incomplete", None), f"io.net/{ex} failed ({st})")
        check(row(rows, "noop", ex).get("status") == "ok", f"noop/{ex} ran after")
    fails = [l for l in r.stderr.splitlines() if "io.net" in l and "FAILED" in l]
    check(len(fails) == 2, f"two io.net FAILED lines: {r.stderr[-1500:]}")
    print("delay server killed:", fails[:1])
    samples_match_summary(out)


def as_nobody_with(limit, value):
    """preexec_fn: set an rlimit, and when root, become nobody so that it counts
    (RLIMIT_NPROC does not bind root)."""
    def f():
        resource.setrlimit(limit, (value, value))
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
    return f


def user_tasks():
    uid, n = os.getuid(), 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                pass
    return n


def s_nproc(tmp):
    """Thread creation refused (low RLIMIT_NPROC): clear errors, no hang."""
    os.chmod(tmp, 0o777)
    out = os.path.join(tmp, "run")
    base = 0 if os.geteuid() == 0 else user_tasks()
    # io.sleep keeps every thread alive for 30 ms, so they add up.
    r = Run(["-w", "io.sleep", "-e", "threads,thread_pool", "-j", "64", "--tasks", "100",
             "--delay", "30ms", "--reps", "1", "--warmup", "0", "--out", out, "--no-plot"],
            preexec=as_nobody_with(resource.RLIMIT_NPROC, base + 24), cwd=tmp)
    rc = r.finish()
    check(rc == 1, f"exit {rc}, expected 1: {r.stderr[-800:]}")
    rows = summary(out)
    check(row(rows, "io.sleep", "sequential").get("status") == "ok", "sequential ran")
    for ex in ("threads", "thread_pool"):
        st = row(rows, "io.sleep", ex).get("status")
        check(st in ("CL_ETHREAD", "CL_ELIMIT"), f"io.sleep/{ex}: {st}")
    lines = [l for l in r.stderr.splitlines() if "FAILED:" in l]
    print("RLIMIT_NPROC:", lines)
    check(len(lines) == 2 and all("thread" in l for l in lines), "two clear thread errors")


def s_nofile(tmp):
    """Descriptors exhausted for io.net (low RLIMIT_NOFILE)."""
    out = os.path.join(tmp, "run")
    # 48 requests held open for 250 ms each need more than 32 descriptors,
    # even when a loaded machine (or TSan) starts the 48 threads slowly: they
    # need only overlap by about 30 within the 250 ms.
    r = Run(["-w", "io.net", "-e", "threads,event_loop", "-j", "2", "--tasks", "48",
             "--delay", "250ms", "--reps", "1", "--warmup", "0", "--out", out, "--no-plot"],
            preexec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32)))
    rc = r.finish()
    check(rc == 1, f"exit {rc}, expected 1: {r.stderr[-800:]}")
    rows = summary(out)
    for ex in ("sequential", "threads", "event_loop"):
        check(row(rows, "io.net", ex).get("status") != "incomplete", f"io.net/{ex} ran")
    check(row(rows, "io.net", "sequential").get("status") == "ok", "one socket at a time fits")
    # Both executors race the delay server (a child with the same limit) for
    # the last descriptors, so either side may be the one refused: the client
    # (CL_ELIMIT, which names the limit) or the server, which then closes the
    # connection (CL_ENET).
    for ex in ("event_loop", "threads"):
        st = row(rows, "io.net", ex).get("status")
        check(st in ("CL_ELIMIT", "CL_ENET"), f"io.net/{ex}: {st}")
    lines = [l for l in r.stderr.splitlines() if "FAILED:" in l]
    print("RLIMIT_NOFILE:", lines)
    check(len(lines) == 2, "two FAILED lines")
    limited = [l for l in lines if "resource limit reached" in l]
    check(all("RLIMIT_NOFILE" in l for l in limited), "a refused socket names the limit")


def s_full_disk(tmp):
    """Results written to a full disk: exit 1, one clear line, nothing under a
    final name, no temporary left (fault injected with CONLAB_TEST_WRITE_VIA)."""
    env = sanitizer_env()
    env["CONLAB_TEST_WRITE_VIA"] = "/dev/full"
    out = os.path.join(tmp, "run")
    r = Run(["-w", "noop", "-e", "threads", "--tasks", "50", "--reps", "2", "--out", out,
             "--no-plot"], env=env)
    rc = r.finish()
    check(rc == 1, f"exit {rc}, expected 1: {r.stderr[-800:]}")
    line = one_line(r.stderr, "writing results failed")
    print("full disk:", line)
    check("No space left on device" in line and "summary.csv" in line, "names the file and why")
    check("sequential" in r.stdout, "the console table still shows the results")
    check(sorted(os.listdir(out)) == [], f"nothing left in {out}: {os.listdir(out)}")
    # Under the default root: results/latest is not pointed at a broken run.
    r = Run(["-w", "noop", "-e", "threads", "--tasks", "50", "--reps", "1", "--no-plot"], env=env,
            cwd=tmp)
    check(r.finish() == 1, "default location: exit 1")
    check(not os.path.lexists(os.path.join(tmp, "results", "latest")), "no results/latest")
    runs = os.listdir(os.path.join(tmp, "results"))
    for d in runs:
        check(os.listdir(os.path.join(tmp, "results", d)) == [], f"results/{d} holds nothing")


def s_no_isolate(tmp):
    """--no-isolate: cells in this process; Ctrl-C still keeps what finished."""
    out = os.path.join(tmp, "run")
    r = Run(["-w", "noop,io.sleep", "-e", "threads", "--tasks", "2", "--delay", "300ms",
             "--reps", "50", "--warmup", "0", "--no-isolate", "--out", out, "--no-plot"])
    time.sleep(2.0)
    r.watch()
    check(r.cell() is None, "no cell process with --no-isolate")
    t = time.monotonic()
    r.p.send_signal(signal.SIGINT)
    rc = r.finish()
    stop_s = time.monotonic() - t
    print(f"--no-isolate SIGINT: exit {rc} after {stop_s:.3f} s")
    check(rc == 130, f"exit {rc}: {r.stderr[-800:]}")
    check(stop_s < 3.0, f"stopped within a repetition ({stop_s:.2f} s)")
    rows = summary(out)
    check(row(rows, "noop", "threads").get("status") == "ok", "finished cell kept")
    check(row(rows, "io.sleep", "sequential").get("status") == "interrupted", "interrupted")
    samples_match_summary(out)


SCENARIOS = {
    "sigint": s_sigint,
    "sigterm": s_sigterm,
    "double_sigint": s_double_sigint,
    "timeout": s_timeout,
    "cell_crash": s_cell_crash,
    "worker_killed": s_worker_killed,
    "task_crash": s_task_crash,
    "delay_server_killed": s_delay_server_killed,
    "nproc": s_nproc,
    "nofile": s_nofile,
    "full_disk": s_full_disk,
    "no_isolate": s_no_isolate,
}

with tempfile.TemporaryDirectory() as tmp:
    SCENARIOS[scenario](tmp)
finish(f"{scenario}: ", require_pass=True)
