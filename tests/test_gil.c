/* The emulated GIL: mutual exclusion, forced switching at yield points, and
 * release around IO phases, directly and through the executors. */
#include "cl_test.h"
#include "test_exec_common.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/gil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

enum { MS = 1000000 };

static void test_basics(void) {
  struct cl_gil *gil = NULL;
  CHECK_EQ_INT(cl_gil_create(0, &gil), 0);
  CHECK_EQ_U64(cl_gil_interval_ns(gil), 5 * MS);
  CHECK(cl__tls_gil == NULL);
  cl_yield_point(); /* no GIL: nothing happens */
  cl_gil_acquire(gil);
  CHECK(cl__tls_gil == gil);
  cl_yield_point(); /* nobody waits: keeps the lock */
  cl_gil_release(gil);
  CHECK(cl__tls_gil == NULL);
  struct cl_gil_stats st;
  cl_gil_stats(gil, &st);
  CHECK_EQ_U64(st.acquisitions, 1);
  CHECK_EQ_U64(st.forced_switches, 0);
  CHECK_EQ_U64(st.drop_requests, 0);
  cl_gil_destroy(gil);
  cl_gil_destroy(NULL);
  CHECK_EQ_INT(cl_gil_create(1234, &gil), 0);
  CHECK_EQ_U64(cl_gil_interval_ns(gil), 1234);
  cl_gil_destroy(gil);
}

/* Mutual exclusion: no two threads between yield points at once, and a
 * plain counter they all increment stays exact. */
enum { EX_THREADS = 3, EX_ROUNDS = 60, EX_STEPS = 2000 };

struct excl {
  struct cl_gil *gil;
  atomic_int inside;
  atomic_int overlaps;
  uint64_t counter; /* protected by the GIL */
};

static void *excl_main(void *arg) {
  struct excl *x = arg;
  for (int r = 0; r < EX_ROUNDS; r++) {
    cl_gil_acquire(x->gil);
    for (int k = 0; k < EX_STEPS; k++) {
      if (atomic_fetch_add(&x->inside, 1) != 0) atomic_fetch_add(&x->overlaps, 1);
      uint64_t c = x->counter;
      for (volatile int spin = 0; spin < 200; spin++) {
      }
      x->counter = c + 1;
      atomic_fetch_sub(&x->inside, 1);
      cl_yield_point();
    }
    cl_gil_release(x->gil);
  }
  return NULL;
}

static void test_exclusion(void) {
  struct excl x = {0};
  atomic_init(&x.inside, 0);
  atomic_init(&x.overlaps, 0);
  CHECK_EQ_INT(cl_gil_create(20000, &x.gil), 0); /* 20 us: many forced switches */
  pthread_t th[EX_THREADS];
  for (int i = 0; i < EX_THREADS; i++)
    pthread_create(&th[i], NULL, excl_main, &x);
  for (int i = 0; i < EX_THREADS; i++)
    pthread_join(th[i], NULL);
  CHECK_EQ_U64(x.counter, (uint64_t)EX_THREADS * EX_ROUNDS * EX_STEPS);
  CHECK_EQ_INT(atomic_load(&x.overlaps), 0);
  struct cl_gil_stats st;
  cl_gil_stats(x.gil, &st);
  printf("exclusion: %" PRIu64 " acquisitions, %" PRIu64 " drop requests, %" PRIu64
         " forced switches\n",
         st.acquisitions, st.drop_requests, st.forced_switches);
  CHECK(st.acquisitions >= (uint64_t)EX_THREADS * EX_ROUNDS);
  CHECK(st.forced_switches > 0); /* rounds are longer than the interval */
  cl_gil_destroy(x.gil);
}

/* Forced switching: two CPU-bound threads take the GIL once each and never
 * release it voluntarily until both have progressed and 5 forced switches
 * happened, which only forced switches at yield points (inside the spin
 * kernel) make possible; without them the test stops at its time limit. */
enum { LOG_MAX = 100000 };

struct cpu_bound {
  struct cl_gil *gil;
  atomic_int progress[2];
  double start, limit_s;
  uint64_t min_switches;
  bool timed_out[2];
  /* `log` and `nlog` are protected by the GIL. */
  unsigned char log[LOG_MAX];
  size_t nlog;
};

struct cpu_arg {
  struct cpu_bound *cb;
  int me;
};

static void *cpu_main(void *arg) {
  struct cpu_arg *a = arg;
  struct cpu_bound *cb = a->cb;
  cl_gil_acquire(cb->gil);
  for (;;) {
    (void)cl_kernel_run(CL_K_SPIN, 0, 4096, NULL);
    atomic_fetch_add(&cb->progress[a->me], 1);
    if (cb->nlog < LOG_MAX) cb->log[cb->nlog++] = (unsigned char)a->me;
    double el = tx_now() - cb->start;
    struct cl_gil_stats st;
    cl_gil_stats(cb->gil, &st);
    if (atomic_load(&cb->progress[0]) >= 3 && atomic_load(&cb->progress[1]) >= 3 &&
        st.forced_switches >= cb->min_switches)
      break;
    if (el > cb->limit_s) {
      cb->timed_out[a->me] = true;
      break;
    }
  }
  cl_gil_release(cb->gil);
  return NULL;
}

static void test_forced_switching(void) {
  static struct cpu_bound cb;
  memset(&cb, 0, sizeof cb);
  atomic_init(&cb.progress[0], 0);
  atomic_init(&cb.progress[1], 0);
  cb.min_switches = 5;
  cb.limit_s = 20.0;
  CHECK_EQ_INT(cl_gil_create(1 * MS, &cb.gil), 0);
  cb.start = tx_now();
  pthread_t th[2];
  struct cpu_arg args[2] = {{&cb, 0}, {&cb, 1}};
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, cpu_main, &args[i]);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  double el = tx_now() - cb.start;
  struct cl_gil_stats st;
  cl_gil_stats(cb.gil, &st);
  size_t handoffs = 0;
  for (size_t i = 1; i < cb.nlog; i++)
    handoffs += cb.log[i] != cb.log[i - 1];
  printf("forced switching, %.0f ms at 1 ms: progress %d/%d, %zu handoffs, %" PRIu64
         " drop requests, %" PRIu64 " forced switches\n",
         el * 1e3, atomic_load(&cb.progress[0]), atomic_load(&cb.progress[1]), handoffs,
         st.drop_requests, st.forced_switches);
  CHECK(!cb.timed_out[0] && !cb.timed_out[1]);
  CHECK(atomic_load(&cb.progress[0]) >= 3);
  CHECK(atomic_load(&cb.progress[1]) >= 3);
  CHECK(st.forced_switches >= 5);
  CHECK(st.drop_requests >= st.forced_switches);
  /* Each forced switch hands the lock to the other thread (FORCE_SWITCHING):
   * the holder never takes it straight back. */
  CHECK(handoffs + 1 >= st.forced_switches);
  cl_gil_destroy(cb.gil);
}

/* IO phases run without the GIL: two tasks sleeping 100 ms overlap. */
struct io_arg {
  struct cl_task *task;
  const struct cl_batch *batch;
  struct cl_gil *gil;
  bool tls_clear;
};

static void *io_main(void *arg) {
  struct io_arg *a = arg;
  cl_task_run_blocking(a->task, a->batch, a->gil);
  a->tls_clear = cl__tls_gil == NULL;
  return NULL;
}

static void test_io_releases(void) {
  struct cl_task tasks[2];
  struct cl_phase ph[3] = {tx_cpu(CL_K_SPIN, 0, 50000), tx_sleep(100 * MS),
                           tx_cpu(CL_K_SUMSQ, 0, 50000)};
  tx_task(tasks, 0, 3, ph);
  tx_task(tasks, 1, 3, ph);
  struct cl_batch b;
  tx_batch(&b, tasks, 2);
  struct cl_gil *gil = NULL;
  CHECK_EQ_INT(cl_gil_create(0, &gil), 0);
  struct io_arg args[2] = {{&tasks[0], &b, gil, false}, {&tasks[1], &b, gil, false}};
  pthread_t th[2];
  double t0 = tx_now();
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, io_main, &args[i]);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  double el = tx_now() - t0;
  printf("two 100 ms IO phases under one GIL: %.1f ms\n", el * 1e3);
  CHECK_LE(0.100, el);
  CHECK_LE(el, 0.180);
  CHECK(args[0].tls_clear && args[1].tls_clear);
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  CHECK_EQ_INT(cl_batch_status(&b), 0);
  struct cl_gil_stats st;
  cl_gil_stats(gil, &st);
  CHECK_EQ_U64(st.acquisitions - st.forced_switches, 4); /* one per CPU stretch */
  cl_gil_destroy(gil);
}

/* Through the executors: with the GIL, CPU-bound tasks on 2 workers never run
 * at once, so the process uses at most about one core (the waiters sleep).
 * Without it they could use two; that is printed, not asserted. */
static uint64_t calibrate_spin(double seconds) {
  uint64_t n = 1u << 18;
  for (;;) {
    double t0 = tx_now();
    (void)cl_kernel_run(CL_K_SPIN, 0, n, NULL);
    double el = tx_now() - t0;
    if (el > 0.02) return (uint64_t)((double)n * seconds / el);
    n *= 2;
  }
}

static void test_executors_hold_gil(void) {
  uint64_t steps = calibrate_spin(0.1);
  struct cl_task tasks[4];
  for (uint32_t i = 0; i < 4; i++) {
    struct cl_phase p = tx_cpu(CL_K_SPIN, i, i + steps);
    tx_task(tasks, i, 1, &p);
  }
  struct cl_batch b;
  tx_batch(&b, tasks, 4);
  static const char *const names[] = {"threads", "thread_pool", "openmp"};
  for (size_t k = 0; k < 3; k++) {
    const struct cl_executor_ops *ops = cl_executor_find(names[k]);
    if (!ops) continue;
    for (int gil = 1; gil >= 0; gil--) {
      struct cl_exec_config cfg;
      cl_exec_config_default(&cfg);
      cfg.workers = 2;
      cfg.gil = gil;
      cfg.switch_interval_ns = 1 * MS;
      cl_batch_reset(&b);
      double c0 = tx_cpu_now(), t0 = tx_now();
      int rc = cl_executor_run_once(ops, &cfg, &b);
      double wall = tx_now() - t0, cpu = tx_cpu_now() - c0;
      CHECK_EQ_INT(rc, 0);
      CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
      printf("%-11s gil=%d: wall %.0f ms, cpu %.0f ms, cpu/wall %.2f\n", names[k], gil, wall * 1e3,
             cpu * 1e3, cpu / wall);
      if (gil) CHECK_LE(cpu / wall, 1.5);
    }
  }
}

int main(void) {
  test_basics();
  test_exclusion();
  test_forced_switching();
  test_io_releases();
  test_executors_hold_gil();
  return CL_TEST_DONE();
}
