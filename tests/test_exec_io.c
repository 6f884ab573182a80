/* IO phases block the calling thread: executors with more threads overlap
 * more waits. Lower bounds are exact consequences of the executor's shape;
 * upper bounds are generous. */
#include "cl_test.h"
#include "test_exec_common.h"

#include "conlab/error.h"
#include "conlab/executor.h"

#include <stdio.h>

enum { MS = 1000000 };

static struct cl_task tasks[64];

static double timed_run(const char *name, unsigned workers, bool gil, size_t n, uint64_t ns) {
  struct cl_batch b;
  tx_sleep_batch(&b, tasks, n, ns);
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = workers;
  cfg.gil = gil;
  const struct cl_executor_ops *ops = cl_executor_find(name);
  struct cl_executor *ex = NULL;
  int rc = ops->create(&cfg, &ex);
  CHECK_EQ_INT(rc, 0);
  if (rc) return -1;
  double t0 = tx_now();
  rc = ops->run(ex, &b);
  double el = tx_now() - t0;
  ops->destroy(ex);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  CHECK_EQ_INT(cl_batch_status(&b), 0);
  printf("%-12s workers=%u gil=%d %zu x %.0f ms: %.1f ms\n", name, workers, (int)gil, n,
         (double)ns / MS, el * 1e3);
  return el;
}

int main(void) {
  /* Seed ex. 66: a thread per task, so 20 waits of 50 ms overlap. */
  double el = timed_run("threads", 1, false, 20, 50 * MS);
  CHECK_LE(0.050, el);
  CHECK_LE(el, 0.500);

  /* Seed ex. 67: 4 workers, 20 waits of 20 ms: at least ceil(20/4) rounds. */
  el = timed_run("thread_pool", 4, false, 20, 20 * MS);
  CHECK_LE(0.100, el);
  CHECK_LE(el, 0.400);

  /* One worker or the sequential executor: no overlap at all. */
  el = timed_run("thread_pool", 1, false, 5, 20 * MS);
  CHECK_LE(0.100, el);
  el = timed_run("sequential", 1, false, 5, 20 * MS);
  CHECK_LE(0.100, el);
  CHECK_LE(el, 1.000);

  /* The GIL is dropped around IO: two 100 ms waits still overlap. */
  el = timed_run("threads", 2, true, 2, 100 * MS);
  CHECK_LE(0.100, el);
  CHECK_LE(el, 0.180);
  el = timed_run("thread_pool", 2, true, 2, 100 * MS);
  CHECK_LE(0.100, el);
  CHECK_LE(el, 0.180);

  if (cl_executor_find("openmp")) {
    el = timed_run("openmp", 4, false, 20, 20 * MS);
    CHECK_LE(0.100, el);
    CHECK_LE(el, 0.400);
    el = timed_run("openmp", 2, true, 2, 100 * MS);
    CHECK_LE(0.100, el);
    CHECK_LE(el, 0.180);
  }
  return CL_TEST_DONE();
}
