#!/usr/bin/env python3
"""The seed's concurrency examples in C (issue 10): each example exits 0,
prints the lines its seed example prints (times scaled down tenfold), and has
the timing shape the example is about (gather of three 0.1 s waits takes about
0.1 s, ten 0.1 s tasks on three workers take about four rounds, ...). Lower
bounds are firm; upper bounds are generous, the machine may be loaded.

usage: test_examples.py EXAMPLES_DIR"""
import os
import re
import subprocess
import sys
import time

from checks import check, finish

exdir = sys.argv[1]


def run(name, *args):
    """Runs an example; returns its stdout lines and its wall time."""
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(exdir, name), *args], capture_output=True, text=True,
                       timeout=60)
    wall = time.monotonic() - t0
    check(p.returncode == 0, f"{name} exits 0 (got {p.returncode}; stderr {p.stderr!r})")
    print(f"--- {name} ({wall:.3f} s)\n{p.stdout}", end="")
    return p.stdout.splitlines(), wall


def seconds(lines, pattern, what):
    """The float captured by `pattern` in the first line that matches it."""
    for line in lines:
        m = re.search(pattern, line)
        if m:
            return float(m.group(1))
    check(False, f"{what}: no line matches {pattern!r}")
    return -1.0


# Example 59: gather runs three fetches of 0.1 s at once.
lines, wall = run("ex59_gather")
urls = [f"https://api{i}.com" for i in (1, 2, 3)]
fetching = [i for i, l in enumerate(lines) if l.startswith("Fetching ")]
completed = [i for i, l in enumerate(lines) if l.startswith("Completed ")]
check([lines[i] for i in fetching] == [f"Fetching {u}..." for u in urls], "ex59 Fetching lines")
check(sorted(lines[i] for i in completed) == [f"Completed {u}" for u in urls],
      "ex59 Completed lines")
check(len(fetching) == 3 and len(completed) == 3 and max(fetching) < min(completed),
      "ex59 every fetch starts before any completes")
check("['Data from https://api1.com', 'Data from https://api2.com', "
      "'Data from https://api3.com']" in lines, "ex59 results in the order given")
t = seconds(lines, r"^Total time: ([0-9.]+) s", "ex59")
check(0.095 <= t < 0.28, f"ex59 gather of 3 x 0.1 s takes ~0.1 s, not 0.3 s (got {t:.3f})")
check(wall >= 0.095, "ex59 really waited")

# Example 60: background tasks, await, FIRST_COMPLETED.
lines, wall = run("ex60_first_completed")
order = ["Tasks running in background...", "Still working...", "Processed A Processed B",
         "First completed: Processed Item1"]
pos = [lines.index(l) if l in lines else -1 for l in order]
check(-1 not in pos and pos == sorted(pos), f"ex60 prints {order} in order")
t = seconds(lines, r"^Both tasks done in ([0-9.]+) s", "ex60")
check(0.195 <= t < 0.29, f"ex60 tasks of 0.2 s and 0.1 s overlap (got {t:.3f}, not 0.3)")
t = seconds(lines, r"^Returned after ([0-9.]+) s", "ex60")
check(0.095 <= t < 0.19, f"ex60 FIRST_COMPLETED returns after the 0.1 s task (got {t:.3f})")
check(any(l.endswith("with 2 tasks still pending") for l in lines), "ex60 two tasks pending")

# Example 64: profiling recursive fib.
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def calls(n):  # calls made by naive recursive fib(n)
    return 2 * fib(n + 1) - 1


for count in (25, 30):
    lines, _ = run("ex64_profile", *([] if count == 25 else [str(count)]))
    check(f"fib({count - 1}) = {fib(count - 1)}" in lines, f"ex64 fib({count - 1}) value")
    n = sum(calls(i) for i in range(count))
    check(f"ncalls: {n} (fibonacci called {n} times for just {count} numbers)" in lines,
          f"ex64 ncalls for {count} numbers is {n}")
    hot = seconds(lines, r"^Hot spot: fib\(([0-9]+)\)", "ex64")
    check(hot >= count - 3, f"ex64 hot spot is one of the largest calls (got fib({hot:.0f}))")
    text = "\n".join(lines)
    check("perf record -g ./ex64_profile" in text and "perf report" in text, "ex64 perf how-to")
    check("gprof ./ex64_profile gmon.out" in text and "-pg" in text, "ex64 gprof how-to")

# Example 65: memory line by line, and peak RSS under threads and processes.
lines, _ = run("ex65_memory")
check("Line    Mem usage    Increment" in lines, "ex65 header")
rows = {}
for l in lines:
    m = re.match(r"^\s+([345])\s+([0-9.]+) MiB\s+(-?[0-9.]+) MiB\s+(.*)$", l)
    if m:
        rows[m.group(1)] = (float(m.group(2)), float(m.group(3)), m.group(4))
check(sorted(rows) == ["3", "4", "5"], "ex65 rows for lines 3, 4 and 5")
if sorted(rows) == ["3", "4", "5"]:
    # 8 MB of squares, then 4 MB of even ones; sanitizer shadow memory may
    # multiply both (ThreadSanitizer about 5x), not their ratio.
    data_inc, filt_inc = rows["3"][1], rows["4"][1]
    check(rows["3"][2] == "data = [...]" and 6.0 <= data_inc <= 48.0,
          f"ex65 data = [...] adds ~7.6 MiB (got {data_inc})")
    check(rows["4"][2] == "filtered = [...]" and filt_inc > 0 and
          1.6 <= data_inc / filt_inc <= 2.5,
          f"ex65 filtered adds half as much as data (got {filt_inc} vs {data_inc})")
    check(rows["5"][2] == "result = sum(...)" and abs(rows["5"][1]) <= 1.0,
          f"ex65 sum adds nothing (got {rows['5'][1]})")
expect = sum(x * x for x in range(0, 1000000, 2))
check(f"result = {expect}" in lines, f"ex65 result is {expect}")
per_call = seconds(lines, r"\(([0-9.]+) MiB of lists each\)", "ex65")
thr = seconds(lines, r"threads:\s+peak RSS of the process ([0-9.]+) MiB", "ex65")
proc = seconds(lines, r"processes: peak RSS of the largest worker ([0-9.]+) MiB", "ex65")
check(thr >= 4 * per_call * 0.9, f"ex65 four threads hold four calls' lists ({thr} MiB)")
check(per_call * 0.9 <= proc < thr - 2 * per_call,
      f"ex65 a worker process holds about one call's lists ({proc} MiB vs threads {thr})")

# Example 66: a thread per download.
lines, wall = run("ex66_threads")
check(sorted(l for l in lines if l.startswith("Downloading ")) ==
      [f"Downloading url{i}..." for i in (1, 2, 3)], "ex66 Downloading lines")
check(sorted(l for l in lines if l.startswith("Completed ")) ==
      [f"Completed url{i}" for i in (1, 2, 3)], "ex66 Completed lines")
check("All downloads complete" in lines and
      lines.index("All downloads complete") > max(i for i, l in enumerate(lines)
                                                   if l.startswith("Completed ")),
      "ex66 'All downloads complete' after every download")
t = seconds(lines, r"^Total elapsed: ([0-9.]+) s", "ex66")
check(0.195 <= t < 0.5, f"ex66 three 0.2 s downloads take ~0.2 s, not 0.6 s (got {t:.3f})")

# Example 67: 10 tasks, 3 workers, as_completed: about 4 rounds.
lines, wall = run("ex67_thread_pool")
done = [l for l in lines if re.match(r"^Task [0-9]+ completed$", l)]
check(sorted(done) == sorted(f"Task {i} completed" for i in range(10)),
      "ex67 each of the 10 tasks completes once")
t = seconds(lines, r"^All 10 tasks complete in ([0-9.]+) s", "ex67")
check(0.35 <= t < 0.9, f"ex67 takes ~4 task times, not 10 and not 1 (got {t:.3f})")
check(wall >= 0.35, "ex67 really waited")

# Example 68: a process pool's map over 4 CPU tasks.
lines, _ = run("ex68_process_pool")
s = sum(i * i for i in range(10**7)) % 2**64
check(f"Results: [{s}, {s}, {s}, {s}]" in lines, f"ex68 four sums of squares ({s} mod 2**64)")
check(any(re.match(r"^4 tasks of n = 200000000: sequential [0-9.]+ s, "
                   r"Pool\(processes=4\) [0-9.]+ s, speedup [0-9.]+x on [0-9]+ cores$", l)
          for l in lines), "ex68 timing line")

# Example 70: task-local storage against thread-local storage.
lines, _ = run("ex70_task_local")
reqs = [f"REQ-{i}" for i in (1, 2, 3)]
check(sorted(l for l in lines if l.startswith("Processing request: ")) ==
      [f"Processing request: {r}" for r in reqs], "ex70 each task sees its own request_id")
check([l for l in lines if l.startswith("Thread-local in the loop: ")] ==
      ["Thread-local in the loop: REQ-3"] * 3,
      "ex70 thread-local storage is shared by the loop's tasks (last set wins)")
check("Outside any task: none" in lines, "ex70 default outside any task")
check(sorted(l for l in lines if l.startswith("Thread-local in a thread: ")) ==
      [f"Thread-local in a thread: {r}" for r in reqs], "ex70 thread-local isolates threads")

finish()
