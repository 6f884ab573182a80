#!/usr/bin/env python3
"""Unit tests of python/conlab_ref.py: the kernels against independent
definitions, the line protocol of `conlab_runner.py serve` over a socket pair
for every pattern, and its error answers. With --convoy: the convoy effect on
this interpreter's real GIL (timing, label slow)."""

import os
import signal
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(os.path.dirname(HERE), "python")
RUNNER = os.path.join(PYDIR, "conlab_runner.py")
sys.path.insert(0, PYDIR)

import conlab_ref as ref  # noqa: E402

MASK = (1 << 64) - 1


class Kernels(unittest.TestCase):
    def test_mix64_splitmix_vector(self):
        # splitmix64 seeded with 0: the first output is the finaliser of the
        # golden gamma (Vigna's reference implementation).
        self.assertEqual(ref.mix64(0x9E3779B97F4A7C15), 0xE220A8397B1DCDAF)
        self.assertEqual(ref.mix64(0), 0)

    def test_sumsq_closed_form(self):
        for a, b in ((0, 0), (0, 1), (3, 1000), (10**6, 10**6 + 777)):
            want = sum(i * i for i in range(b)) - sum(i * i for i in range(a))
            self.assertEqual(ref.k_sumsq(a, b), want & MASK)
        # Wrapping: a range whose true sum exceeds 2**64.
        a, b = 3 * 10**9, 3 * 10**9 + 5
        self.assertGreater(sum(i * i for i in range(a, b)), MASK)
        self.assertEqual(ref.k_sumsq(a, b), sum(i * i for i in range(a, b)) & MASK)

    def test_fib_matches_iteration(self):
        x, y = 0, 1
        for n in range(25):
            self.assertEqual(ref.kernel_run(ref.K_FIB, n, n + 1, None), x)
            x, y = y, x + y

    def test_primes_matches_sieve(self):
        n = 5000
        sieve = [True] * n
        sieve[0] = sieve[1] = False
        for i in range(2, n):
            if sieve[i]:
                for j in range(i * i, n, i):
                    sieve[j] = False
        for a, b in ((0, 10), (0, n), (1234, 4321), (4000, 4000)):
            self.assertEqual(ref.k_primes(a, b), sum(sieve[a:b]))

    def test_mandel_bands_tile(self):
        md = (16, 16, 50)
        whole = ref.k_mandel(0, 16, md)
        self.assertGreater(whole, 16 * 16)
        self.assertEqual(sum(ref.k_mandel(r, r + 1, md) for r in range(16)), whole)
        self.assertEqual(ref.k_mandel(0, 99, md), whole)  # rows clamp at the height
        self.assertEqual(ref.k_mandel(0, 16, None), 0)

    def test_spin_and_noop(self):
        self.assertEqual(ref.k_spin(5, 5), 5)
        self.assertEqual(ref.k_spin(0, 3), ref.mix64(ref.mix64(ref.mix64(0) + 1) + 2))
        self.assertEqual(ref.kernel_run(ref.K_NOOP, 42, 0, None), 42)
        with self.assertRaises(ValueError):
            ref.kernel_run(ref.K_STREAM, 0, 10, None)

    def test_io_token_depends_on_task_and_phase(self):
        t = ref.io_token(1, ref.IO_SLEEP, 1000, 0)
        self.assertNotEqual(t, ref.io_token(2, ref.IO_SLEEP, 1000, 0))
        self.assertNotEqual(t, ref.io_token(1, ref.IO_SLEEP, 1001, 0))
        self.assertEqual(t, ref.mix64((1 << 32) ^ 1000))


def task_lines(tasks):
    out = []
    for index, phases in tasks:
        nums = [index, len(phases)]
        for p in phases:
            nums.extend(p)
        out.append(" ".join(map(str, nums)))
    return out


def expected(index, phases, md=None):
    r = 0
    for kind, op, a, b in phases:
        r += ref.kernel_run(op, a, b, md) if kind == ref.PHASE_CPU else ref.io_token(index, op, a, b)
    return r & MASK


class Server:
    """conlab_runner.py serve on one end of a socket pair, as the C executor
    starts it."""

    def __init__(self, pattern, workers=2, chunksize=0, start_new_session=False):
        self.sock, child = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, RUNNER, "serve", str(child.fileno()), pattern, str(workers), str(chunksize)],
            pass_fds=(child.fileno(),),
            start_new_session=start_new_session,
        )
        child.close()
        self.reader = self.sock.makefile("rb")

    def line(self):
        return self.reader.readline().decode().rstrip("\n")

    def send(self, text):
        self.sock.sendall(text.encode())

    def close(self):
        self.send("quit\n")
        rc = self.proc.wait(timeout=30)
        self.reader.close()
        self.sock.close()
        return rc


SLEEP = (ref.PHASE_IO, ref.IO_SLEEP, 2000000, 0)
TASKS = [
    (0, ((ref.PHASE_CPU, ref.K_SUMSQ, 0, 20000),)),
    (1, ((ref.PHASE_CPU, ref.K_FIB, 12, 13), SLEEP, (ref.PHASE_CPU, ref.K_NOOP, 1, 1))),
    (2, (SLEEP,)),
    (7, ((ref.PHASE_CPU, ref.K_SPIN, 3, 500), (ref.PHASE_CPU, ref.K_PRIMES, 0, 300))),
    (4, ((ref.PHASE_CPU, ref.K_MANDEL, 2, 5),)),
]
MD = (8, 8, 100)


class Protocol(unittest.TestCase):
    def run_batch(self, server, tasks, md=None):
        w, h, it = md if md else (0, 0, 0)
        server.send("batch %d %d %d %d\n" % (len(tasks), w, h, it) + "".join(l + "\n" for l in task_lines(tasks)))
        head = server.line().split()
        self.assertEqual(head[0], "done", head)
        self.assertEqual(len(head), 8)
        self.assertGreater(int(head[1]), 0)
        rows = [server.line().split() for _ in tasks]
        return head, rows

    def test_every_pattern(self):
        for pattern in ref.PATTERNS:
            with self.subTest(pattern=pattern):
                server = Server(pattern)
                ready = server.line().split()
                self.assertEqual(ready[0], "ready")
                self.assertEqual(int(ready[4]), server.proc.pid)
                for _ in range(2):
                    head, rows = self.run_batch(server, TASKS, MD)
                    for pos, (row, (index, phases)) in enumerate(zip(rows, TASKS)):
                        self.assertEqual(len(row), 5, row)
                        self.assertEqual(int(row[0]), pos)
                        self.assertEqual(int(row[1]), expected(index, phases, MD))
                        self.assertLess(int(row[2]), len(TASKS) if pattern == "threads" else 2)
                        # WAKES WAKE_NS: one wakeup per IO phase followed by a CPU phase.
                        wakes = sum(1 for a, b in zip(phases, phases[1:])
                                    if a[0] == ref.PHASE_IO and b[0] == ref.PHASE_CPU)
                        self.assertEqual(int(row[3]), wakes, row)
                        self.assertTrue(0 <= int(row[4]) < 10**10 and (wakes or int(row[4]) == 0), row)
                head, rows = self.run_batch(server, [])
                self.assertEqual(rows, [])
                self.assertEqual(server.close(), 0)

    def test_errors_keep_the_server_usable(self):
        server = Server("thread_pool")
        self.assertTrue(server.line().startswith("ready "))
        server.send("hello\n")
        self.assertTrue(server.line().startswith("error %d " % ref.CL_EINVAL))
        server.send("batch 2 0 0 0\n0 1 0 1 0 10\nnot a task\n")
        reply = server.line()
        self.assertTrue(reply.startswith("error %d malformed task line" % ref.CL_EINVAL), reply)
        server.send("batch 1 0 0 0\n0 1 0 5 0 10\n")  # stream has no port
        reply = server.line()
        self.assertTrue(reply.startswith("error %d ValueError" % ref.CL_EIO), reply)
        head, rows = self.run_batch(server, TASKS[:2])
        self.assertEqual(int(rows[1][1]), expected(*TASKS[1]))
        self.assertEqual(server.close(), 0)

    def test_unknown_pattern_is_fatal(self):
        server = Server("fibers")
        self.assertTrue(server.line().startswith("fatal unknown pattern 'fibers'"))
        self.assertEqual(server.proc.wait(timeout=30), 1)
        server.reader.close()
        server.sock.close()

    def test_executor_gone_mid_batch(self):
        # About 3 s of work; the runner must not finish it once we are gone.
        server = Server("process_pool", start_new_session=True)
        self.assertTrue(server.line().startswith("ready "))
        lines = task_lines([(i, ((ref.PHASE_CPU, ref.K_SUMSQ, 0, 25000000),)) for i in range(4)])
        server.send("batch 4 0 0 0\n" + "".join(l + "\n" for l in lines))
        time.sleep(0.3)
        t0 = time.monotonic()
        server.reader.close()
        server.sock.close()
        self.assertEqual(server.proc.wait(timeout=30), -signal.SIGKILL)
        self.assertLess(time.monotonic() - t0, 1.0)
        # Its pool workers went with it (they were in its process group);
        # they are gone once their new parent has reaped them.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(server.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        with self.assertRaises(ProcessLookupError):
            os.killpg(server.proc.pid, 0)

    def test_end_of_input_exits(self):
        server = Server("process_pool")
        self.assertTrue(server.line().startswith("ready "))
        server.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(server.proc.wait(timeout=30), 0)
        self.assertEqual(server.reader.read(), b"")
        server.reader.close()
        server.sock.close()


class Convoy(unittest.TestCase):
    """The real GIL: a wakeup beside a CPU-bound thread waits about the switch
    interval; alone it does not. Margins are wide: load only adds latency to
    the first figure and the interval is 20 ms."""

    def test_convoy(self):
        interval = 0.020
        alone = ref.convoy(interval, 10, 0.001, 0.0)
        beside = ref.convoy(interval, 10, 0.001, 5.0)
        mean_alone = sum(alone) / len(alone)
        mean_beside = sum(beside) / len(beside)
        print("\nreal GIL, switch interval %.0f ms: wakeup latency alone %.3f ms, beside a "
              "CPU-bound thread %.3f ms" % (interval * 1e3, mean_alone * 1e3, mean_beside * 1e3))
        self.assertLess(mean_alone, interval / 4)
        if ref.gil_enabled():
            self.assertGreaterEqual(mean_beside, interval / 2)
        else:  # a free-threaded interpreter has no convoy
            self.assertLess(mean_beside, interval / 4)


if __name__ == "__main__":
    if "--convoy" in sys.argv:
        sys.argv.remove("--convoy")
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(Convoy)
    else:
        suite = unittest.TestSuite(
            unittest.defaultTestLoader.loadTestsFromTestCase(c) for c in (Kernels, Protocol)
        )
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
