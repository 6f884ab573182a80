#include "conlab/error.h"
#include "conlab/kernel.h"
#include "conlab/workload.h"
#include "workloads/workloads_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Each task sweeps its slice this many times, one CPU phase per sweep. */
#define STREAM_SWEEPS 3
/* The three buffers together stay below 8 GiB. */
#define STREAM_MAX_BYTES (UINT64_C(8) << 30)

/* The buffers hold b[i] = i and c[i] = 2i + 1, so a[i] = b[i] + 3c[i] = 7i + 3
 * and one sweep over [0, len) sums to 7 len(len-1)/2 + 3 len. */
static uint64_t sweep_sum(uint64_t len) {
  return 7 * cl__wl_sum_below(len) + 3 * len;
}

static void free_data(struct cl_stream_data *sd) {
  if (!sd) return;
  free(sd->a);
  free(sd->b);
  free(sd->c);
  free(sd);
}

static void release(struct cl_batch *b) {
  if (!b) return;
  free_data(b->data);
  cl__wl_release_tasks(b);
}

static uint64_t *alloc_buffer(uint64_t len) {
  /* Page-aligned, as STREAM itself allocates; the size is rounded up to match. */
  size_t bytes = (size_t)((len * sizeof(uint64_t) + 4095) & ~(uint64_t)4095);
  return aligned_alloc(4096, bytes);
}

/* `tasks` slices of `size` elements over three buffers a, b, c; task i runs
 * the triad on [i*size, (i+1)*size) STREAM_SWEEPS times. */
static int build(struct cl_workload_params *p, struct cl_batch *out) {
  if (p->tasks > STREAM_MAX_BYTES / (3 * sizeof(uint64_t)) / p->size)
    return cl_error_set(CL_ERANGE,
                        "--tasks %" PRIu64 " x --size %" PRIu64
                        " needs more than the limit of %" PRIu64 " bytes for mem.stream",
                        p->tasks, p->size, STREAM_MAX_BYTES);
  uint64_t len = p->tasks * p->size;
  struct cl_stream_data *sd = calloc(1, sizeof *sd);
  if (!sd) return cl_error_set(CL_ENOMEM, "mem.stream: cannot allocate its buffers");
  sd->len = len;
  sd->a = alloc_buffer(len);
  sd->b = alloc_buffer(len);
  sd->c = alloc_buffer(len);
  if (!sd->a || !sd->b || !sd->c) {
    free_data(sd);
    return cl_error_set(CL_ENOMEM, "mem.stream: cannot allocate 3 buffers of %" PRIu64 " bytes",
                        len * (uint64_t)sizeof(uint64_t));
  }
  /* Every page is touched here, so no page fault lands in a timed run. */
  memset(sd->a, 0, (size_t)len * sizeof(uint64_t));
  for (uint64_t i = 0; i < len; i++) {
    sd->b[i] = i;
    sd->c[i] = 2 * i + 1;
  }
  int rc = cl__wl_alloc_tasks(out, p->tasks, STREAM_SWEEPS);
  if (rc) {
    free_data(sd);
    return rc;
  }
  out->data = sd;
  for (size_t i = 0; i < out->ntasks; i++)
    for (uint32_t s = 0; s < STREAM_SWEEPS; s++)
      cl__wl_cpu_phase(&out->tasks[i].phase[s], CL_K_STREAM, i * p->size, (i + 1) * p->size);
  out->expected = STREAM_SWEEPS * sweep_sum(len);
  return 0;
}

const struct cl_workload cl__wl_mem_stream = {
    .name = "mem.stream",
    .kind = "mem",
    .summary = "STREAM triad a = b + 3c over three buffers far larger than the caches",
    .size_doc = "elements (8 bytes each, per buffer) in each task's slice; the three buffers "
                "hold 24 x tasks x size bytes (at most 8 GiB) and each task sweeps its slice 3 "
                "times",
    .default_tasks = 16,
    .default_size = 2097152,
    .quick_tasks = 8,
    .quick_size = 1048576,
    .max_tasks = CL__WL_MAX_TASKS,
    .max_size = UINT64_C(1) << 28,
    .build = build,
    .release = release,
};
