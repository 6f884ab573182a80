#include "conlab/error.h"
#include "conlab/kernel.h"
#include "conlab/workload.h"
#include "workloads/workloads_internal.h"

#include <inttypes.h>

/* The convoy probe. Task 0 is CPU-bound: it sums i*i over [0, size). Every
 * other task waits `delay` and then runs an empty CPU phase, so under a GIL
 * each of its wakeups has to take the lock back from task 0, which a waiter
 * gets only after the switch interval (the convoy effect). Without a GIL the
 * wakeup runs at once. Task i >= 1 returns token(i) + i. Every executor
 * measures each wakeup (struct cl_task wake_ns) and the harness reports it
 * (summary.csv wake_mean_ms, wake_max_ms; `conlab run --suite probe`). */
static int build(struct cl_workload_params *p, struct cl_batch *out) {
  if (p->tasks < 2)
    return cl_error_set(CL_ERANGE,
                        "--tasks %" PRIu64 " is too few for probe.convoy: it needs one CPU-bound "
                        "task and at least one waking task",
                        p->tasks);
  int rc = cl__wl_alloc_tasks(out, p->tasks, 2);
  if (rc) return rc;
  struct cl_task *t = out->tasks;
  t[0].nphases = 1;
  cl__wl_cpu_phase(&t[0].phase[0], CL_K_SUMSQ, 0, p->size);
  uint64_t expected = cl__wl_sumsq_below(p->size);
  for (size_t i = 1; i < out->ntasks; i++) {
    cl__wl_io_phase(&t[i].phase[0], CL_IO_SLEEP, p->delay_ns, 0);
    cl__wl_cpu_phase(&t[i].phase[1], CL_K_NOOP, i, i);
    struct cl_phase check;
    cl__wl_io_phase(&check, CL_IO_SLEEP, p->delay_ns, 0);
    expected += cl_io_token((uint32_t)i, &check) + i;
  }
  out->expected = expected;
  return 0;
}

const struct cl_workload cl__wl_probe_convoy = {
    .name = "probe.convoy",
    .kind = "probe",
    .summary = "convoy effect: wakeups beside one CPU-bound task (run with --gil; summary.csv "
               "wake_mean_ms/wake_max_ms: the wakeup latency)",
    .size_doc = "integers squared by the CPU-bound task 0 (about 0.3 ns each); every other task "
                "waits --delay, then runs an empty CPU phase",
    .default_tasks = 21,
    .default_size = 1500000000,
    .default_delay_ns = 1000000,
    .quick_tasks = 11,
    .quick_size = 600000000,
    .quick_delay_ns = 1000000,
    .max_tasks = 100000,
    .max_size = UINT64_C(100000000000),
    .uses_delay = true,
    .build = build,
    .release = cl__wl_release_tasks,
};
