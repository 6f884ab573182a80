/* The GIL story on two cores, emulated and real: CPU-bound threads under a
 * GIL gain nothing (in C with the emulated GIL, in CPython with its own),
 * while I/O-bound threads still overlap. Prints every figure; asserts only
 * bounds that load cannot break: upper bounds on CPU-bound speedups under a
 * GIL, lower bounds on sleep overlap (a sleep cannot end early). Times are
 * the best of REPS runs, the least disturbed estimate on a shared machine.
 * Label slow. */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/kernel.h"
#include "conlab/workload.h"

#include <stdio.h>
#include <time.h>

enum { REPS = 5 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Best wall time of REPS runs after one warm-up, on one instance; an
 * executor that times itself (py.*) reports its own figure. Returns -1 when
 * the executor is absent or fails. */
static double best_wall(const char *name, unsigned workers, bool gil, struct cl_batch *b) {
  const struct cl_executor_ops *ops = cl_executor_find(name);
  if (!ops) return -1;
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = workers;
  cfg.gil = gil;
  struct cl_executor *ex = NULL;
  int rc = ops->create(&cfg, &ex);
  CL_T_REPORT(rc == 0, "%s create: %s (%s)", name, cl_errname(rc), cl_error_detail());
  if (rc) return -1;
  double t[REPS];
  for (int r = -1; r < REPS; r++) {
    cl_batch_reset(b);
    double t0 = now_s();
    rc = ops->run(ex, b);
    double dt = now_s() - t0;
    if (rc || cl_batch_checksum(b) != b->expected) {
      CL_T_REPORT(0, "%s run: %s (%s)", name, cl_errname(rc), cl_error_detail());
      ops->destroy(ex);
      return -1;
    }
    if (r >= 0) t[r] = b->self_timed_ns ? (double)b->self_timed_ns / 1e9 : dt;
  }
  ops->destroy(ex);
  double best = t[0];
  for (int i = 1; i < REPS; i++)
    if (t[i] < best) best = t[i];
  return best;
}

struct row {
  const char *executor;
  unsigned workers;
  bool gil;
  double wall, speedup;
};

static void show(const char *title, struct row *rows, size_t n, double base) {
  printf("%s\n", title);
  for (size_t i = 0; i < n; i++) {
    rows[i].speedup = rows[i].wall > 0 ? base / rows[i].wall : -1;
    printf("  %-16s w=%u gil=%d  %9.4f s  speedup %5.2fx\n", rows[i].executor, rows[i].workers,
           (int)rows[i].gil, rows[i].wall, rows[i].speedup);
  }
}

static bool build(const char *name, struct cl_workload_params p, struct cl_batch *b) {
  int rc = cl_workload_build(cl_workload_find(name), &p, b);
  CL_T_REPORT(rc == 0, "%s build: %s (%s)", name, cl_errname(rc), cl_error_detail());
  return rc == 0;
}

int main(void) {
  struct cl_batch b;
  /* C, CPU-bound: 4 tasks of about 0.1 s each. */
  if (build("cpu.sumsq", (struct cl_workload_params){.tasks = 4, .size = 300000000}, &b)) {
    struct row rows[] = {{"threads", 2, false, 0, 0},      {"threads", 2, true, 0, 0},
                         {"thread_pool", 2, false, 0, 0},  {"thread_pool", 2, true, 0, 0},
                         {"process_pool", 2, false, 0, 0}, {"openmp", 2, false, 0, 0}};
    double base = best_wall("sequential", 1, false, &b);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
      rows[i].wall = best_wall(rows[i].executor, rows[i].workers, rows[i].gil, &b);
    show("cpu.sumsq in C, 4 tasks x 3e8 (sequential is 1.00x):", rows, sizeof rows / sizeof rows[0],
         base);
    CHECK(base > 0);
    CHECK(rows[1].speedup > 0 && rows[1].speedup <= 1.3);
    CHECK(rows[3].speedup > 0 && rows[3].speedup <= 1.3);
    cl_workload_release(NULL, &b);
  }
  /* CPython, CPU-bound: the same tasks, smaller. */
  if (build("cpu.sumsq", (struct cl_workload_params){.tasks = 4, .size = 2000000}, &b)) {
    struct row rows[] = {{"py.threads", 1, false, 0, 0},
                         {"py.thread_pool", 2, false, 0, 0},
                         {"py.process_pool", 2, false, 0, 0},
                         {"py.event_loop", 1, false, 0, 0}};
    double base = best_wall("py.sequential", 1, false, &b);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
      rows[i].wall = best_wall(rows[i].executor, rows[i].workers, rows[i].gil, &b);
    show("cpu.sumsq in CPython, 4 tasks x 2e6 (py.sequential is 1.00x):", rows,
         sizeof rows / sizeof rows[0], base);
    CHECK(base > 0);
    CHECK(rows[0].speedup > 0 && rows[0].speedup <= 1.3);
    CHECK(rows[1].speedup > 0 && rows[1].speedup <= 1.3);
    cl_workload_release(NULL, &b);
  }
  /* I/O-bound: 20 sleeps of 20 ms overlap under any GIL. */
  if (build("io.sleep", (struct cl_workload_params){.tasks = 20, .delay_ns = 20000000}, &b)) {
    struct row rows[] = {{"threads", 1, true, 0, 0},
                         {"py.threads", 1, false, 0, 0},
                         {"py.event_loop", 1, false, 0, 0},
                         {"py.thread_pool", 20, false, 0, 0}};
    double base = best_wall("sequential", 1, false, &b);
    double pybase = best_wall("py.sequential", 1, false, &b);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
      rows[i].wall = best_wall(rows[i].executor, rows[i].workers, rows[i].gil, &b);
    show("io.sleep, 20 tasks x 20 ms (sequential is 1.00x):", rows, sizeof rows / sizeof rows[0],
         base);
    printf("  py.sequential    %9.4f s\n", pybase);
    CHECK(base >= 0.4);
    CHECK(pybase >= 0.4);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
      CHECK(rows[i].speedup >= 4.0);
    cl_workload_release(NULL, &b);
  }
  return CL_TEST_DONE();
}
