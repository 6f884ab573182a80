#include "conlab/kernel.h"
#include "conlab/workload.h"
#include "workloads/workloads_internal.h"

/* A web-request-like task: CPU(parse) -> IO(wait) -> CPU(render). Task i
 * parses [2i*size, (2i+1)*size) and renders [(2i+1)*size, (2i+2)*size), so
 * the CPU phases of all tasks tile [0, 2*tasks*size). */
static int build(struct cl_workload_params *p, struct cl_batch *out) {
  int rc = cl__wl_alloc_tasks(out, p->tasks, 3);
  if (rc) return rc;
  uint64_t expected = cl__wl_sumsq_below(2 * p->tasks * p->size);
  for (size_t i = 0; i < out->ntasks; i++) {
    struct cl_task *t = &out->tasks[i];
    uint64_t base = 2 * i * p->size;
    cl__wl_cpu_phase(&t->phase[0], CL_K_SUMSQ, base, base + p->size);
    cl__wl_io_phase(&t->phase[1], CL_IO_SLEEP, p->delay_ns, 0);
    cl__wl_cpu_phase(&t->phase[2], CL_K_SUMSQ, base + p->size, base + 2 * p->size);
    struct cl_phase check;
    cl__wl_io_phase(&check, CL_IO_SLEEP, p->delay_ns, 0);
    expected += cl_io_token((uint32_t)i, &check);
  }
  out->expected = expected;
  return 0;
}

const struct cl_workload cl__wl_mixed_request = {
    .name = "mixed.request",
    .kind = "mixed",
    .summary = "request-like tasks: CPU parse, timed wait, CPU render",
    .size_doc = "integers squared in each of the two CPU phases (about 0.3 ns each); the wait "
                "is --delay",
    .default_tasks = 16,
    .default_size = 3000000,
    .default_delay_ns = 10000000,
    .quick_tasks = 16,
    .quick_size = 1000000,
    .quick_delay_ns = 5000000,
    .max_tasks = CL__WL_MAX_TASKS,
    .max_size = UINT64_C(1000000000),
    .uses_delay = true,
    .build = build,
    .release = cl__wl_release_tasks,
};
