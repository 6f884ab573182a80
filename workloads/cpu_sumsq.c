#include "conlab/kernel.h"
#include "conlab/workload.h"
#include "workloads/workloads_internal.h"

/* Task i sums i*i over its own range [i*size, (i+1)*size); the ranges tile
 * [0, tasks*size), so the checksum is one closed form. */
static int build(struct cl_workload_params *p, struct cl_batch *out) {
  int rc = cl__wl_alloc_tasks(out, p->tasks, 1);
  if (rc) return rc;
  for (size_t i = 0; i < out->ntasks; i++)
    cl__wl_cpu_phase(&out->tasks[i].phase[0], CL_K_SUMSQ, i * p->size, (i + 1) * p->size);
  out->expected = cl__wl_sumsq_below(p->tasks * p->size);
  return 0;
}

const struct cl_workload cl__wl_cpu_sumsq = {
    .name = "cpu.sumsq",
    .kind = "cpu",
    .summary = "sum of squares over a range per task (seed ex. 68: multiprocessing)",
    .size_doc = "integers squared and summed per task (about 0.3 ns each)",
    .default_tasks = 8,
    .default_size = 80000000,
    .quick_tasks = 8,
    .quick_size = 16000000,
    .max_tasks = CL__WL_MAX_TASKS,
    .max_size = UINT64_C(10000000000),
    .build = build,
    .release = cl__wl_release_tasks,
};
