/* Wakeup latency (struct cl_task's wakes, wake_ns, io_end_ns): the time from
 * the end of an IO phase to the start of the CPU phase after it. Checks the
 * stepping contract of cl_task_step(), the blocking interpreter with a GIL
 * held elsewhere, that every C executor counts exactly the IO-to-CPU
 * transitions of every task (and carries them back from worker processes),
 * that cl_batch_reset() clears them, and that an event loop blocked by a CPU
 * phase shows up as latency. Timing checks are lower bounds (load only adds
 * latency) or sanity ceilings. */
#include "cl_test.h"
#include "test_exec_common.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/gil.h"
#include "conlab/kernel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#define MS 1000000ull

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* IO phases directly followed by a CPU phase: the wakeups a task must count. */
static uint32_t transitions(const struct cl_task *t) {
  uint32_t n = 0;
  for (uint32_t k = 0; k + 1 < t->nphases; k++)
    n += t->phase[k].kind == CL_PHASE_IO && t->phase[k + 1].kind == CL_PHASE_CPU;
  return n;
}

static void test_step_contract(void) {
  struct cl_task t[2];
  struct cl_phase a[2] = {tx_sleep(0), tx_cpu(CL_K_NOOP, 7, 7)};
  tx_task(t, 0, 2, a);
  struct cl_phase b[2] = {tx_sleep(0), tx_sleep(0)};
  tx_task(t, 1, 2, b);
  struct cl_batch batch;
  tx_batch(&batch, t, 2);

  /* The IO "ended" 3 ms ago: the CPU phase that follows is 3 ms late. */
  t[0].pc = 1;
  t[0].io_end_ns = mono_ns() - 3 * MS;
  CHECK_EQ_INT(cl_task_step(&t[0], &batch), -1);
  CHECK_EQ_U64(t[0].wakes, 1);
  CHECK(t[0].wake_ns >= 3 * MS && t[0].wake_ns < 10000 * MS);
  CHECK_EQ_U64(t[0].io_end_ns, 0);
  /* Without io_end_ns nothing is charged. */
  uint64_t before = t[0].wake_ns;
  t[0].pc = 1;
  CHECK_EQ_INT(cl_task_step(&t[0], &batch), -1);
  CHECK_EQ_U64(t[0].wakes, 1);
  CHECK_EQ_U64(t[0].wake_ns, before);

  /* An IO phase next is no wakeup, but io_end_ns is consumed. */
  t[1].pc = 1;
  t[1].io_end_ns = mono_ns() - 3 * MS;
  CHECK_EQ_INT(cl_task_step(&t[1], &batch), 1);
  CHECK_EQ_U64(t[1].wakes, 0);
  CHECK_EQ_U64(t[1].wake_ns, 0);
  CHECK_EQ_U64(t[1].io_end_ns, 0);

  /* cl_batch_reset clears all three. */
  t[1].io_end_ns = 5;
  cl_batch_reset(&batch);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ_U64(t[i].wakes, 0);
    CHECK_EQ_U64(t[i].wake_ns, 0);
    CHECK_EQ_U64(t[i].io_end_ns, 0);
  }
}

struct holder {
  struct cl_gil *gil;
  atomic_bool holding;
};

/* Takes the GIL and keeps it 40 ms without reaching a yield point. */
static void *hold_gil(void *p) {
  struct holder *h = p;
  cl_gil_acquire(h->gil);
  atomic_store(&h->holding, true);
  struct timespec ts = {0, 40 * (long)MS};
  nanosleep(&ts, NULL);
  cl_gil_release(h->gil);
  return NULL;
}

static void test_blocking_gil(void) {
  struct cl_task t[1];
  struct cl_phase ph[3] = {tx_cpu(CL_K_NOOP, 1, 1), tx_sleep(1 * MS), tx_cpu(CL_K_NOOP, 2, 2)};
  tx_task(t, 0, 3, ph);
  struct cl_batch b;
  tx_batch(&b, t, 1);

  /* Alone: one wakeup, near the sleep's deadline. */
  cl_task_run_blocking(&t[0], &b, NULL);
  CHECK_EQ_INT(t[0].status, 0);
  CHECK_EQ_U64(t[0].result, b.expected);
  CHECK_EQ_U64(t[0].wakes, 1);
  CHECK(t[0].wake_ns < 1000 * MS);
  CHECK_EQ_U64(t[0].io_end_ns, 0);

  /* The GIL held elsewhere for 40 ms: the wakeup waits for it. */
  struct cl_gil *gil = NULL;
  CHECK_EQ_INT(cl_gil_create(5 * MS, &gil), 0);
  if (!gil) return;
  cl_batch_reset(&b);
  struct holder h = {.gil = gil};
  atomic_init(&h.holding, false);
  pthread_t tid;
  CHECK_EQ_INT(pthread_create(&tid, NULL, hold_gil, &h), 0);
  while (!atomic_load(&h.holding)) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  uint64_t t0 = mono_ns();
  /* The first CPU phase waits for the GIL too, but it follows no IO phase:
   * only the wait after the sleep is a wakeup. */
  t[0].phase[0] = tx_sleep(1 * MS);
  t[0].phase[1] = tx_cpu(CL_K_NOOP, 2, 2);
  t[0].nphases = 2;
  b.expected = tx_expected_task(&t[0], NULL);
  cl_task_run_blocking(&t[0], &b, gil);
  uint64_t took = mono_ns() - t0;
  pthread_join(tid, NULL);
  CHECK_EQ_U64(t[0].result, b.expected);
  CHECK_EQ_U64(t[0].wakes, 1);
  CL_T_REPORT(t[0].wake_ns >= 20 * MS && t[0].wake_ns <= took,
              "wakeup beside a held GIL: %.3f ms (task took %.3f ms)", t[0].wake_ns / 1e6,
              took / 1e6);
  cl_gil_destroy(gil);
}

/* Every C executor counts every task's IO-to-CPU transitions, GIL or not. */
static void test_executors(void) {
  enum { N = 10 };
  struct cl_task t[N];
  for (uint32_t i = 0; i < N; i++) {
    switch (i % 5) {
    case 0: {
      struct cl_phase p[3] = {tx_cpu(CL_K_SUMSQ, 0, 20000), tx_sleep(MS), tx_cpu(CL_K_NOOP, i, i)};
      tx_task(t, i, 3, p);
      break;
    }
    case 1: {
      struct cl_phase p[2] = {tx_sleep(MS), tx_cpu(CL_K_SUMSQ, 0, 1000)};
      tx_task(t, i, 2, p);
      break;
    }
    case 2: {
      struct cl_phase p[1] = {tx_cpu(CL_K_SUMSQ, 0, 5000)};
      tx_task(t, i, 1, p);
      break;
    }
    case 3: {
      struct cl_phase p[2] = {tx_cpu(CL_K_NOOP, 1, 1), tx_sleep(MS)};
      tx_task(t, i, 2, p);
      break;
    }
    default: {
      struct cl_phase p[3] = {tx_sleep(MS), tx_sleep(MS), tx_cpu(CL_K_NOOP, i, i)};
      tx_task(t, i, 3, p);
      break;
    }
    }
  }
  struct cl_batch b;
  tx_batch(&b, t, N);
  for (size_t k = 0; k < cl_executor_count(); k++) {
    const struct cl_executor_ops *ops = cl_executor_at(k);
    if (ops->flags & CL_EXEC_EXTERNAL) continue; /* test_python_exec covers the py.* rows */
    for (int gil = 0; gil < 2; gil++) {
      if (gil && !(ops->flags & CL_EXEC_GIL_CAPABLE)) continue;
      struct cl_exec_config cfg;
      cl_exec_config_default(&cfg);
      cfg.workers = 2;
      cfg.gil = gil;
      struct cl_executor *ex = NULL;
      cl_error_clear();
      int rc = ops->create(&cfg, &ex);
      CL_T_REPORT(rc == 0, "%s: create: %s (%s)", ops->name, cl_errname(rc), cl_error_detail());
      if (rc) continue;
      for (int rep = 0; rep < 2; rep++) {
        cl_batch_reset(&b);
        rc = ops->run(ex, &b);
        CL_T_REPORT(rc == 0, "%s gil=%d: run: %s (%s)", ops->name, gil, cl_errname(rc),
                    cl_error_detail());
        CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
        unsigned bad = 0;
        for (uint32_t i = 0; i < N; i++) {
          const struct cl_task *x = &t[i];
          bool ok = x->wakes == transitions(x) && (x->wakes || x->wake_ns == 0) &&
                    x->wake_ns < 10000 * MS && x->io_end_ns == 0;
          if (!ok) {
            bad++;
            fprintf(stderr,
                    "%s gil=%d task %u: wakes %u (expected %u), wake_ns %llu, io_end %llu\n",
                    ops->name, gil, i, x->wakes, transitions(x), (unsigned long long)x->wake_ns,
                    (unsigned long long)x->io_end_ns);
          }
        }
        CL_T_REPORT(bad == 0, "%s gil=%d: %u tasks with wrong wakeup counts", ops->name, gil, bad);
      }
      ops->destroy(ex);
    }
  }
}

/* Integers per second the sumsq kernel squares here. */
static double sumsq_rate(void) {
  double t0 = tx_now();
  volatile uint64_t sink = cl_kernel_run(CL_K_SUMSQ, 0, 20000000, NULL);
  (void)sink;
  double dt = tx_now() - t0;
  return 20000000 / (dt > 1e-6 ? dt : 1e-6);
}

/* One event loop: task 0 sleeps 1 ms while task 1 computes for about 40 ms
 * inline, so task 0 resumes long after its deadline (asyncio's blocked loop). */
static void test_event_loop_blocked(double rate) {
  const struct cl_executor_ops *ops = cl_executor_find("event_loop");
  CHECK(ops != NULL);
  if (!ops) return;
  struct cl_task t[2];
  struct cl_phase a[2] = {tx_sleep(MS), tx_cpu(CL_K_NOOP, 3, 3)};
  tx_task(t, 0, 2, a);
  struct cl_phase c[1] = {tx_cpu(CL_K_SUMSQ, 0, (uint64_t)(0.04 * rate))};
  tx_task(t, 1, 1, c);
  struct cl_batch b;
  tx_batch(&b, t, 2);
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = 1;
  cl_batch_reset(&b);
  uint64_t t0 = mono_ns();
  int rc = cl_executor_run_once(ops, &cfg, &b);
  uint64_t took = mono_ns() - t0;
  CL_T_REPORT(rc == 0, "event_loop: %s (%s)", cl_errname(rc), cl_error_detail());
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  CHECK_EQ_U64(t[0].wakes, 1);
  CHECK_EQ_U64(t[1].wakes, 0);
  CL_T_REPORT(t[0].wake_ns >= 15 * MS && t[0].wake_ns <= took,
              "event loop blocked by a CPU phase: wakeup %.3f ms late (run %.3f ms)",
              t[0].wake_ns / 1e6, took / 1e6);
}

int main(void) {
  test_step_contract();
  test_blocking_gil();
  test_executors();
  test_event_loop_blocked(sumsq_rate());
  return CL_TEST_DONE();
}
