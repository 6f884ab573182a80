#include "conlab/kernel.h"
#include "conlab/workload.h"
#include "workloads/workloads_internal.h"

/* Empty tasks, to measure what an executor costs per task. Task i returns i. */
static int build(struct cl_workload_params *p, struct cl_batch *out) {
  int rc = cl__wl_alloc_tasks(out, p->tasks, 1);
  if (rc) return rc;
  for (size_t i = 0; i < out->ntasks; i++)
    cl__wl_cpu_phase(&out->tasks[i].phase[0], CL_K_NOOP, i, i);
  out->expected = cl__wl_sum_below(p->tasks);
  return 0;
}

const struct cl_workload cl__wl_noop = {
    .name = "noop",
    .kind = "overhead",
    .summary = "empty tasks: the per-task cost of each executor",
    .size_doc = "not used: every task is one empty CPU phase",
    .default_tasks = 4000, /* under the threads executor's 4096-thread cap */
    .quick_tasks = 1000,
    .max_tasks = CL__WL_MAX_TASKS,
    .max_size = 0,
    .build = build,
    .release = cl__wl_release_tasks,
};
