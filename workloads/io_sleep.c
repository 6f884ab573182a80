#include "conlab/workload.h"
#include "workloads/workloads_internal.h"

/* One timed wait per task (seed ex. 59, 66, 67). Skipping the wait is caught
 * by the checksum: each IO phase contributes cl_io_token(). */
static int build(struct cl_workload_params *p, struct cl_batch *out) {
  int rc = cl__wl_alloc_tasks(out, p->tasks, 1);
  if (rc) return rc;
  uint64_t expected = 0;
  for (size_t i = 0; i < out->ntasks; i++) {
    cl__wl_io_phase(&out->tasks[i].phase[0], CL_IO_SLEEP, p->delay_ns, 0);
    struct cl_phase check;
    cl__wl_io_phase(&check, CL_IO_SLEEP, p->delay_ns, 0);
    expected += cl_io_token((uint32_t)i, &check);
  }
  out->expected = expected;
  return 0;
}

const struct cl_workload cl__wl_io_sleep = {
    .name = "io.sleep",
    .kind = "io",
    .summary = "one timed wait per task (seed ex. 59/66/67: asyncio, threads for I/O)",
    .size_doc = "not used: the wait lasts --delay nanoseconds",
    .default_tasks = 50,
    .default_delay_ns = 10000000,
    .quick_tasks = 20,
    .quick_delay_ns = 5000000,
    .max_tasks = CL__WL_MAX_TASKS,
    .max_size = 0,
    .uses_delay = true,
    .build = build,
    .release = cl__wl_release_tasks,
};
