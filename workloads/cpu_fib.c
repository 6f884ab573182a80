#include "conlab/kernel.h"
#include "conlab/workload.h"
#include "workloads/workloads_internal.h"

/* Task i computes fib(n_i) recursively, n_i = size - 2 + (mix(i) mod 5),
 * clamped at 0: tasks differ by up to a factor phi^4 (about 7) in cost. */
static uint64_t task_n(uint64_t size, size_t i) {
  uint64_t n = size + cl_mix64(i) % 5;
  return n < 2 ? 0 : n - 2;
}

static uint64_t fib_iterative(uint64_t n) {
  uint64_t a = 0, b = 1;
  for (uint64_t k = 0; k < n; k++) {
    uint64_t t = a + b;
    a = b;
    b = t;
  }
  return a;
}

static int build(struct cl_workload_params *p, struct cl_batch *out) {
  int rc = cl__wl_alloc_tasks(out, p->tasks, 1);
  if (rc) return rc;
  uint64_t expected = 0;
  for (size_t i = 0; i < out->ntasks; i++) {
    uint64_t n = task_n(p->size, i);
    cl__wl_cpu_phase(&out->tasks[i].phase[0], CL_K_FIB, n, n + 1);
    expected += fib_iterative(n);
  }
  out->expected = expected;
  return 0;
}

const struct cl_workload cl__wl_cpu_fib = {
    .name = "cpu.fib",
    .kind = "cpu",
    .summary = "recursive Fibonacci, uneven task sizes (seed ex. 64: profiling)",
    .size_doc = "base n: each task computes fib(n) recursively with n in [size-2, size+2] "
                "(cost grows 1.6x per unit)",
    .default_tasks = 16,
    .default_size = 36,
    .quick_tasks = 8,
    .quick_size = 33,
    .max_tasks = CL__WL_MAX_TASKS,
    .max_size = 45,
    .build = build,
    .release = cl__wl_release_tasks,
};
