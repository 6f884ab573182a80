/* The convoy probe. Task 0 of probe.convoy is CPU-bound; every other task
 * sleeps `delay` and then runs an empty CPU phase, which under the emulated
 * GIL must take the lock back from task 0. Here one thread runs task 0 and a
 * second runs the waking tasks one after another, both through
 * cl_task_run_blocking() as the threads executor does; the latency of a
 * wakeup is its task's wall time minus its sleep. With the GIL it grows
 * towards the switch interval, without it stays near zero. Timing-sensitive:
 * label slow, lower bounds with the GIL (load only adds latency). */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/gil.h"
#include "conlab/kernel.h"
#include "conlab/workload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

enum { WAKEUPS = 20 };
#define DELAY_NS 1000000ull

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct cpu_arg {
  struct cl_task *task;
  const struct cl_batch *batch;
  struct cl_gil *gil;
  atomic_bool done;
};

static void *cpu_main(void *p) {
  struct cpu_arg *a = p;
  cl_task_run_blocking(a->task, a->batch, a->gil);
  atomic_store(&a->done, true);
  return NULL;
}

/* Integers per second that the sumsq kernel squares on this machine. */
static double sumsq_rate(void) {
  double t0 = now_s();
  volatile uint64_t sink = cl_kernel_run(CL_K_SUMSQ, 0, 20000000, NULL);
  (void)sink;
  double dt = now_s() - t0;
  return 20000000 / (dt > 1e-6 ? dt : 1e-6);
}

struct convoy {
  double mean_ms, max_ms;
  unsigned samples;
  uint64_t forced_switches;
};

/* One probe: interval_ns 0 means no GIL. */
static struct convoy probe(uint64_t interval_ns, double rate) {
  struct convoy r = {0};
  const struct cl_workload *w = cl_workload_find("probe.convoy");
  CHECK(w != NULL);
  if (!w) return r;
  /* Task 0 must outlast every wakeup, each about delay + interval. */
  double need_s = 0.1 + 2.0 * WAKEUPS * (DELAY_NS + (interval_ns ? interval_ns : 0)) / 1e9;
  struct cl_workload_params p = {
      .tasks = WAKEUPS + 1, .size = (uint64_t)(need_s * rate), .delay_ns = DELAY_NS};
  struct cl_batch b;
  int rc = cl_workload_build(w, &p, &b);
  CHECK_EQ_INT(rc, 0);
  if (rc) return r;
  struct cl_gil *gil = NULL;
  if (interval_ns) CHECK_EQ_INT(cl_gil_create(interval_ns, &gil), 0);

  struct cpu_arg arg = {.task = &b.tasks[0], .batch = &b, .gil = gil};
  atomic_init(&arg.done, false);
  pthread_t tid;
  CHECK_EQ_INT(pthread_create(&tid, NULL, cpu_main, &arg), 0);
  struct timespec settle = {0, 20000000};
  nanosleep(&settle, NULL); /* task 0 holds the GIL by now */
  double sum = 0;
  for (size_t i = 1; i < b.ntasks; i++) {
    double t0 = now_s();
    cl_task_run_blocking(&b.tasks[i], &b, gil);
    double lat = now_s() - t0 - DELAY_NS / 1e9;
    if (atomic_load(&arg.done)) continue; /* only wakeups beside task 0 count */
    sum += lat;
    r.max_ms = lat * 1e3 > r.max_ms ? lat * 1e3 : r.max_ms;
    r.samples++;
  }
  pthread_join(tid, NULL);
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  CHECK_EQ_INT(cl_batch_status(&b), 0);
  r.mean_ms = r.samples ? sum / r.samples * 1e3 : 0;
  if (gil) {
    struct cl_gil_stats st;
    cl_gil_stats(gil, &st);
    r.forced_switches = st.forced_switches;
  }
  cl_gil_destroy(gil);
  cl_workload_release(w, &b);
  return r;
}

/* The probe also runs through the executors, as `conlab run -w probe.convoy
 * -e threads,thread_pool --gil --workers 2` does. */
static void through_executors(double rate) {
  const struct cl_workload *w = cl_workload_find("probe.convoy");
  const char *names[] = {"threads", "thread_pool"};
  for (size_t k = 0; w && k < 2; k++) {
    struct cl_workload_params p = {
        .tasks = 11, .size = (uint64_t)(0.3 * rate), .delay_ns = DELAY_NS};
    struct cl_batch b;
    if (cl_workload_build(w, &p, &b) != 0) continue;
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    cfg.workers = 2;
    cfg.gil = true;
    cl_batch_reset(&b);
    int rc = cl_executor_run_once(cl_executor_find(names[k]), &cfg, &b);
    CL_T_REPORT(rc == 0, "%s: %s (%s)", names[k], cl_errname(rc), cl_error_detail());
    CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
    cl_workload_release(w, &b);
  }
}

int main(void) {
  double rate = sumsq_rate();
  struct convoy none = probe(0, rate);
  struct convoy g5 = probe(5000000, rate);
  struct convoy g20 = probe(20000000, rate);
  printf("convoy probe: %d wakeups of %.0f ms beside one CPU-bound task\n", WAKEUPS,
         DELAY_NS / 1e6);
  printf("  no GIL          : mean %7.3f ms  max %7.3f ms  (%u samples)\n", none.mean_ms,
         none.max_ms, none.samples);
  printf("  GIL, 5 ms switch : mean %7.3f ms  max %7.3f ms  (%u samples, %llu forced switches)\n",
         g5.mean_ms, g5.max_ms, g5.samples, (unsigned long long)g5.forced_switches);
  printf("  GIL, 20 ms switch: mean %7.3f ms  max %7.3f ms  (%u samples, %llu forced switches)\n",
         g20.mean_ms, g20.max_ms, g20.samples, (unsigned long long)g20.forced_switches);
  CHECK(none.samples >= WAKEUPS / 2 && g5.samples >= WAKEUPS / 2 && g20.samples >= WAKEUPS / 2);
  /* With the GIL: at least half the switch interval per wakeup. */
  CHECK(g5.mean_ms >= 2.5);
  CHECK(g20.mean_ms >= 10.0);
  CHECK(g5.forced_switches >= g5.samples / 2);
  /* Without: near zero (well under half of the default interval). */
  CHECK(none.mean_ms < 2.5);
  through_executors(rate);
  return CL_TEST_DONE();
}
