"""conlab's CPython reference: the same tasks, run with the seed's own patterns.

A task is a short program of phases, exactly as in include/conlab/task.h:
CPU(kernel, begin, end) or IO(kind, delay_ns, bytes). The kernels below are
ports of workloads/kernels.c and give bit-identical results (wrapping sums
modulo 2**64), and an IO phase contributes cl_io_token() from
workloads/batch.c, so a batch checksum computed here equals the C one.

Patterns (seed examples 59, 60, 66, 67, 68):
  sequential    a plain loop
  threads       one threading.Thread per task, started at once, then joined
  thread_pool   ThreadPoolExecutor(max_workers=N), submit + as_completed
  process_pool  multiprocessing.Pool(N).map with a chunksize
  event_loop    asyncio.gather; IO phases await asyncio.sleep, CPU runs inline

The serve() loop speaks a line protocol with executors/python_exec.c over one
file descriptor; see that file's header comment for the grammar.
"""

import asyncio
import functools
import multiprocessing
import os
import resource
import select
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

MASK = (1 << 64) - 1

PHASE_CPU, PHASE_IO = 0, 1
IO_SLEEP, IO_NET = 0, 1
K_NOOP, K_SUMSQ, K_FIB, K_PRIMES, K_MANDEL, K_STREAM, K_SPIN = range(7)
KERNEL_NAMES = ("noop", "sumsq", "fib", "primes", "mandel", "stream", "spin")

# CL_E* codes from include/conlab/error.h that the runner reports.
CL_EINVAL, CL_ETHREAD, CL_EWORKER, CL_EIO, CL_EUNSUPPORTED = -1, -5, -7, -8, -12

PATTERNS = ("sequential", "threads", "thread_pool", "process_pool", "event_loop")


# ---------------------------------------------------------------- kernels


def mix64(x):
    """cl_mix64: the splitmix64 finaliser, modulo 2**64."""
    x &= MASK
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    x ^= x >> 31
    return x


def io_token(index, op, a, b):
    """cl_io_token: what an IO phase adds to its task's result."""
    return mix64((index << 32) ^ ((op * 0x9E3779B97F4A7C15) & MASK) ^ a ^ ((b << 17) & MASK))


def k_sumsq(begin, end):
    """Sum of i*i over [begin, end) (seed ex. 68), as a bytecode loop so that
    the interpreter can hand the GIL over while it runs."""
    total = 0
    for i in range(begin, end):
        total += i * i
    return total & MASK


def fib(n):
    """Recursive Fibonacci (seed ex. 64): fib(0) = 0, fib(1) = 1."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def is_prime(n):
    if n < 4:
        return n >= 2
    if n % 2 == 0:
        return False
    d = 3
    while True:
        q, r = divmod(n, d)
        if r == 0:
            return False
        if q < d:
            return True
        d += 2


def k_primes(begin, end):
    count = 0
    for n in range(begin, end):
        if is_prime(n):
            count += 1
    return count


def k_mandel(begin, end, md):
    """Escape iterations over rows [begin, end) of a width x height grid; the
    float steps are those of the C kernel, in the same order, so the counts
    are bit-identical."""
    if md is None:
        return 0
    width, height, max_iter = md
    if width == 0 or height == 0:
        return 0
    end = min(end, height)
    dx = 2.5 / width
    dy = 2.5 / height
    total = 0
    for py in range(begin, end):
        ci = -1.25 + (py + 0.5) * dy
        for px in range(width):
            cr = -2.0 + (px + 0.5) * dx
            zr = zi = zr2 = zi2 = 0.0
            it = 0
            while it < max_iter and zr2 + zi2 <= 4.0:
                zi = 2.0 * zr * zi + ci
                zr = zr2 - zi2 + cr
                zr2 = zr * zr
                zi2 = zi * zi
                it += 1
            total += it
    return total & MASK


def k_spin(begin, end):
    x = begin
    for r in range(begin, end):
        x = mix64(x + r)
    return x


def kernel_run(op, a, b, md):
    """cl_kernel_run for the kernels that have a Python port."""
    if op == K_NOOP:
        return a & MASK
    if op == K_SUMSQ:
        return k_sumsq(a, b)
    if op == K_FIB:
        return fib(a) & MASK
    if op == K_PRIMES:
        return k_primes(a, b)
    if op == K_MANDEL:
        return k_mandel(a, b, md)
    if op == K_SPIN:
        return k_spin(a, b)
    raise ValueError("kernel %s has no Python port" % (KERNEL_NAMES[op] if op < 7 else op))


# ---------------------------------------------------------------- tasks

# A task travels as (pos, index, phases): its position in the request, its
# index in the batch (which IO tokens hash) and its phases (kind, op, a, b).


class Wakeups:
    """The wakeup latency of one task, as struct cl_task's wakes and wake_ns:
    the time from the end of a sleep (its deadline) to the start of the CPU
    phase right after it; on the real GIL it includes the wait to take the
    GIL back (the convoy effect)."""

    __slots__ = ("count", "total_ns", "due_ns")

    def __init__(self):
        self.count = self.total_ns = 0
        self.due_ns = None

    def sleeping(self, ns):
        self.due_ns = time.perf_counter_ns() + ns

    def cpu(self):
        if self.due_ns is not None:
            self.total_ns += max(0, time.perf_counter_ns() - self.due_ns)
            self.count += 1
            self.due_ns = None


def run_task_blocking(md, task):
    """Runs a task on the calling thread, sleeping through IO phases. Returns
    (pos, result, who, wakes, wake_ns) where `who` tells apart threads and
    processes."""
    pos, index, phases = task
    result = 0
    wk = Wakeups()
    for kind, op, a, b in phases:
        if kind == PHASE_CPU:
            wk.cpu()
            result += kernel_run(op, a, b, md)
        elif op == IO_SLEEP:
            wk.sleeping(a)
            time.sleep(a / 1e9)  # releases the GIL (seed ex. 66)
            result += io_token(index, op, a, b)
        else:
            raise ValueError("IO kind %d has no Python port" % op)
    return pos, result & MASK, (os.getpid(), threading.get_ident()), wk.count, wk.total_ns


async def run_task_async(md, task):
    """The same task as a coroutine: IO phases yield to the event loop."""
    pos, index, phases = task
    result = 0
    wk = Wakeups()
    for kind, op, a, b in phases:
        if kind == PHASE_CPU:
            wk.cpu()
            result += kernel_run(op, a, b, md)
        elif op == IO_SLEEP:
            wk.sleeping(a)
            await asyncio.sleep(a / 1e9)  # yields control (seed ex. 59)
            result += io_token(index, op, a, b)
        else:
            raise ValueError("IO kind %d has no Python port" % op)
    return pos, result & MASK, 0, wk.count, wk.total_ns


class BatchError(Exception):
    """A batch failed as a whole; `code` is the CL_E* to report."""

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


# ---------------------------------------------------------------- patterns


def dense_ids(results):
    """Replaces each result's `who` by a small worker number, in order of
    first appearance."""
    ids = {}
    return [(pos, result, ids.setdefault(who, len(ids)), wakes, wake_ns)
            for pos, result, who, wakes, wake_ns in results]


class Runner:
    """One pattern with its long-lived resources (pools, event loop), created
    before any batch is timed, like a C executor's create()."""

    def __init__(self, pattern, workers, chunksize, channel_fds=()):
        if pattern not in PATTERNS:
            raise BatchError(CL_EINVAL, "unknown pattern %r (valid: %s)" % (pattern, ", ".join(PATTERNS)))
        self.pattern = pattern
        self.workers = max(1, workers)
        self.chunksize = chunksize
        self.channel_fds = tuple(channel_fds)
        self.thread_pool = None
        self.pool = None
        self.pool_pids = ()
        self.loop = None
        self.effective_chunk = 0
        if pattern == "thread_pool":
            self.thread_pool = ThreadPoolExecutor(max_workers=self.workers)
        elif pattern == "process_pool":
            self._start_pool()
        elif pattern == "event_loop":
            self.loop = asyncio.new_event_loop()

    def _start_pool(self):
        fork = multiprocessing.get_start_method() == "fork"
        fds = self.channel_fds if fork else ()
        self.pool = multiprocessing.Pool(processes=self.workers, initializer=_pool_worker_init, initargs=(fds,))
        self.pool_pids = self._live_pids()

    def _live_pids(self):
        procs = getattr(self.pool, "_pool", None) or []
        return tuple(sorted(p.pid for p in procs))

    def close(self):
        if self.thread_pool is not None:
            self.thread_pool.shutdown(wait=True)
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
        if self.loop is not None:
            self.loop.close()

    def worker_pids(self):
        return self.pool_pids if self.pool is not None else ()

    def run(self, tasks, md):
        """Runs the batch; returns [(pos, result, worker, wakes, wake_ns)] in
        any order."""
        fn = functools.partial(run_task_blocking, md)
        if self.pattern == "sequential":
            return [(pos, result, 0, wakes, wake_ns) for pos, result, _, wakes, wake_ns in map(fn, tasks)]
        if self.pattern == "threads":
            return self._threads(tasks, fn)
        if self.pattern == "thread_pool":
            return self._thread_pool(tasks, fn)
        if self.pattern == "process_pool":
            return self._process_pool(tasks, fn)
        return self._event_loop(tasks, md)

    def _threads(self, tasks, fn):
        results = [None] * len(tasks)
        errors = []

        def target(slot, task):
            try:
                pos, result, _, wakes, wake_ns = fn(task)
                results[slot] = (pos, result, slot, wakes, wake_ns)
            except Exception as e:  # reported once the threads are joined
                errors.append("task %d: %s: %s" % (task[1], type(e).__name__, e))

        threads = []
        try:
            for slot, task in enumerate(tasks):
                thread = threading.Thread(target=target, args=(slot, task))
                thread.start()
                threads.append(thread)
        except RuntimeError as e:  # "can't start new thread"
            errors.insert(0, "threading.Thread.start failed for task %d of %d with %d running: %s"
                          % (len(threads), len(tasks), len(threads), e))
        for thread in threads:
            thread.join()
        if errors and len(threads) < len(tasks):
            raise BatchError(CL_ETHREAD, errors[0])
        if errors:
            raise BatchError(CL_EIO, errors[0])
        return results

    def _thread_pool(self, tasks, fn):
        futures = [self.thread_pool.submit(fn, task) for task in tasks]
        done = []
        for future in as_completed(futures):
            done.append(future.result())
        return dense_ids(done)

    def _process_pool(self, tasks, fn):
        chunk = self.chunksize
        if chunk <= 0:
            # multiprocessing's own rule, so that the chunk used can be reported.
            chunk, extra = divmod(len(tasks), self.workers * 4)
            if extra:
                chunk += 1
        chunk = max(1, chunk)
        self.effective_chunk = chunk
        pending = self.pool.map_async(fn, tasks, chunk)
        # Pool.map never returns when a worker dies (the pool replaces it and
        # its tasks are lost), so watch the worker set while waiting.
        while not pending.ready():
            pending.wait(0.2)
            if not pending.ready() and self._live_pids() != self.pool_pids:
                self.pool.terminate()
                self.pool.join()
                self._start_pool()
                raise BatchError(CL_EWORKER, "a multiprocessing.Pool worker died while the batch ran")
        return dense_ids(pending.get())

    def _event_loop(self, tasks, md):
        async def gather_all():
            return await asyncio.gather(*(run_task_async(md, task) for task in tasks))

        return self.loop.run_until_complete(gather_all())


def _pool_worker_init(fds):
    # A forked worker must not keep the channel open: when the interpreter
    # dies, the executor has to see end-of-file.
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


# ---------------------------------------------------------------- usage


def _proc_usage(pid):
    """(user_s, sys_s, nvcsw, nivcsw, hwm_kb) of a live child from /proc, or
    None when it cannot be read."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        user, system = int(fields[11]) / tick, int(fields[12]) / tick
        vol = invol = hwm = 0
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    vol = int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    invol = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        return user, system, vol, invol, hwm
    except (OSError, ValueError, IndexError):
        return None


def usage_snapshot(pids):
    """Resource use of this interpreter plus the given worker processes."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    user, system, vol, invol, rss = ru.ru_utime, ru.ru_stime, ru.ru_nvcsw, ru.ru_nivcsw, ru.ru_maxrss
    for pid in pids:
        u = _proc_usage(pid)
        if u is not None:
            user += u[0]
            system += u[1]
            vol += u[2]
            invol += u[3]
            rss = max(rss, u[4])
    return user, system, vol, invol, rss


# ---------------------------------------------------------------- protocol


def one_line(text):
    return " ".join(text.split())[:400]


def gil_enabled():
    """False only on a free-threaded build running without its GIL."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def parse_batch(header, readline):
    """Reads the task lines announced by `header`; returns (tasks, md).
    Every announced line is consumed even when one is malformed, so that the
    stream stays in step."""
    fields = header.split()
    if len(fields) != 5:
        raise BatchError(CL_EINVAL, "malformed batch header %r" % header)
    ntasks = int(fields[1])
    width, height, max_iter = int(fields[2]), int(fields[3]), int(fields[4])
    md = (width, height, max_iter) if width or height else None
    tasks = []
    bad = None
    for pos in range(ntasks):
        line = readline()
        if not line:
            raise EOFError("end of input inside a batch")
        nums = line.split()
        try:
            index, nphases = int(nums[0]), int(nums[1])
            vals = [int(v) for v in nums[2:]]
            if nphases < 1 or nphases > 3 or len(vals) != 4 * nphases:
                raise ValueError("%d phases with %d numbers" % (nphases, len(vals)))
            phases = tuple(tuple(vals[4 * k : 4 * k + 4]) for k in range(nphases))
            tasks.append((pos, index, phases))
        except (ValueError, IndexError) as e:
            if bad is None:
                bad = "malformed task line %r: %s" % (line[:80], e)
    if bad is not None:
        raise BatchError(CL_EINVAL, bad)
    return tasks, md


def start_watchdog(fd, busy):
    """Exits at once, with this interpreter's process group when it leads
    one (multiprocessing's workers), if the executor closes its end of `fd`
    while a batch runs: conlab was killed, and the batch must not run on.
    The thread sleeps in poll() and never competes for the GIL."""
    rdhup = getattr(select, "POLLRDHUP", None)
    if rdhup is None:
        return

    def watch():
        poller = select.poll()
        poller.register(fd, rdhup)
        poller.poll()
        busy.wait()
        os.write(2, b"conlab_runner: the executor went away during a batch; exiting\n")
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
        os._exit(1)

    threading.Thread(target=watch, name="conlab-watchdog", daemon=True).start()


def serve(fd, pattern, workers, chunksize):
    """Answers batches on `fd` until `quit` or end of input."""
    reader = open(fd, "rb", buffering=1 << 16, closefd=False)

    def send(text):
        data = text.encode()
        while data:
            n = os.write(fd, data)
            data = data[n:]

    def readline():
        return reader.readline().decode()

    try:
        runner = Runner(pattern, workers, chunksize, channel_fds=(fd,))
    except BatchError as e:
        send("fatal %s\n" % one_line(str(e)))
        return 1
    busy = threading.Event()
    start_watchdog(fd, busy)
    v = sys.version_info
    send(
        "ready %d.%d.%d %s %d %d %s\n"
        % (v[0], v[1], v[2], sys.implementation.name, 1 if gil_enabled() else 0, os.getpid(), sys.executable)
    )
    try:
        while True:
            line = readline()
            if not line or line.strip() == "quit":
                break
            if not line.startswith("batch "):
                send("error %d unknown request %r\n" % (CL_EINVAL, line[:80]))
                continue
            try:
                tasks, md = parse_batch(line, readline)
                before = usage_snapshot(runner.worker_pids())
                busy.set()
                t0 = time.perf_counter_ns()
                results = runner.run(tasks, md)
                inner_ns = time.perf_counter_ns() - t0
                busy.clear()
                after = usage_snapshot(runner.worker_pids())
            except BatchError as e:
                busy.clear()
                send("error %d %s\n" % (e.code, one_line(str(e))))
                continue
            except Exception as e:  # a task raised: report it, keep serving
                busy.clear()
                send("error %d %s: %s\n" % (CL_EIO, type(e).__name__, one_line(str(e))))
                continue
            results.sort()
            out = [
                "done %d %.6f %.6f %d %d %d %d\n"
                % (
                    max(1, inner_ns),
                    after[0] - before[0],
                    after[1] - before[1],
                    after[2] - before[2],
                    after[3] - before[3],
                    after[4],
                    runner.effective_chunk,
                )
            ]
            out.extend("%d %d %d %d %d\n" % r for r in results)
            send("".join(out))
    except (EOFError, BrokenPipeError):
        pass
    finally:
        runner.close()
    return 0


# ---------------------------------------------------------------- convoy


def convoy(interval_s, wakeups, sleep_s, busy_s):
    """The convoy effect on this interpreter's real GIL: one thread spins in
    bytecode while another sleeps `sleep_s` `wakeups` times and measures how
    late each wakeup gets to run. Returns the list of latencies in seconds."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    stop = threading.Event()

    def spin():
        x = 0
        deadline = time.perf_counter() + busy_s
        while not stop.is_set() and time.perf_counter() < deadline:
            for i in range(2000):
                x += i * i

    cpu = threading.Thread(target=spin)
    cpu.start()
    time.sleep(0.02)
    lat = []
    try:
        for _ in range(wakeups):
            t0 = time.perf_counter()
            time.sleep(sleep_s)
            lat.append(max(0.0, time.perf_counter() - t0 - sleep_s))
    finally:
        stop.set()
        cpu.join()
        sys.setswitchinterval(old)
    return lat
