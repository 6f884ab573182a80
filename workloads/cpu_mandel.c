#include "conlab/error.h"
#include "conlab/kernel.h"
#include "conlab/workload.h"
#include "workloads/workloads_internal.h"

#include <inttypes.h>
#include <stdlib.h>

/* The check below must repeat the kernel's arithmetic bit for bit. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define MANDEL_MAX_ITER 1000
#define MANDEL_MAX_SIDE 16384

/* The Mandelbrot set has no closed form, so the expected checksum is a plain
 * loop over the whole grid, written here apart from the kernel (no row
 * ranges, no chunking, no yield points) with the same floating-point steps. */
static uint64_t grid_iterations(const struct cl_mandel_data *md) {
  uint64_t sum = 0;
  for (uint32_t py = 0; py < md->height; py++) {
    double ci = -1.25 + ((double)py + 0.5) * (2.5 / (double)md->height);
    for (uint32_t px = 0; px < md->width; px++) {
      double cr = -2.0 + ((double)px + 0.5) * (2.5 / (double)md->width);
      double zr = 0.0, zi = 0.0, zr2 = 0.0, zi2 = 0.0;
      uint32_t it = 0;
      for (; it < md->max_iter; it++) {
        if (zr2 + zi2 > 4.0) break;
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        zr2 = zr * zr;
        zi2 = zi * zi;
      }
      sum += it;
    }
  }
  return sum;
}

static void release(struct cl_batch *b) {
  if (!b) return;
  free(b->data);
  cl__wl_release_tasks(b);
}

/* A size x size grid over x in [-2, 0.5], y in [-1.25, 1.25], split into
 * `tasks` bands of equal height; the bands through the set's middle iterate
 * up to MANDEL_MAX_ITER per pixel and cost far more than the edges. */
static int build(struct cl_workload_params *p, struct cl_batch *out) {
  if (p->tasks > p->size)
    return cl_error_set(CL_ERANGE,
                        "--tasks %" PRIu64 " exceeds the %" PRIu64
                        " rows of the image for cpu.mandel (one band of rows per task)",
                        p->tasks, p->size);
  struct cl_mandel_data *md = calloc(1, sizeof *md);
  if (!md) return cl_error_set(CL_ENOMEM, "cpu.mandel: cannot allocate its parameters");
  md->width = (uint32_t)p->size;
  md->height = (uint32_t)p->size;
  md->max_iter = MANDEL_MAX_ITER;
  int rc = cl__wl_alloc_tasks(out, p->tasks, 1);
  if (rc) {
    free(md);
    return rc;
  }
  out->data = md;
  for (size_t i = 0; i < out->ntasks; i++)
    cl__wl_cpu_phase(&out->tasks[i].phase[0], CL_K_MANDEL, i * p->size / p->tasks,
                     (i + 1) * p->size / p->tasks);
  out->expected = grid_iterations(md);
  return 0;
}

const struct cl_workload cl__wl_cpu_mandel = {
    .name = "cpu.mandel",
    .kind = "cpu",
    .summary = "Mandelbrot escape counts, one band of rows per task (load imbalance)",
    .size_doc = "image side in pixels (a size x size grid, up to 1000 iterations per pixel); "
                "--tasks splits its rows into equal bands, at most one band per row",
    .default_tasks = 32,
    .default_size = 640,
    .quick_tasks = 16,
    .quick_size = 256,
    .max_tasks = MANDEL_MAX_SIDE,
    .max_size = MANDEL_MAX_SIDE,
    .build = build,
    .release = release,
};
