/* The workload catalogue: each workload builds a deterministic batch and
 * knows, independently of any executor, the checksum it must produce. */
#ifndef CONLAB_WORKLOAD_H
#define CONLAB_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conlab/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a user asked for; 0 in a field means "the workload's default". */
struct cl_workload_params {
  uint64_t tasks;       /* number of tasks */
  uint64_t size;        /* per-task work; meaning documented per workload */
  uint64_t delay_ns;    /* IO phase length (io.*, mixed.*) */
  uint64_t reply_bytes; /* io.net reply size */
  bool quick;           /* use the quick defaults */
};

struct cl_workload {
  const char *name;     /* CLI name: "cpu.sumsq" */
  const char *kind;     /* "cpu", "io", "mem", "mixed" or "overhead" */
  const char *summary;  /* one line for `conlab list` */
  const char *size_doc; /* what --size means, with units */
  uint64_t default_tasks, default_size, default_delay_ns;
  uint64_t quick_tasks, quick_size, quick_delay_ns;
  uint64_t max_tasks, max_size; /* larger requests are refused with CL_ERANGE */
  bool uses_delay;              /* --delay applies */
  /* Builds the batch: allocates tasks and data, fills phases, computes the
   * expected checksum by an independent method. Resolved parameters are written
   * back into *p. On error nothing is left allocated. */
  int (*build)(struct cl_workload_params *p, struct cl_batch *out);
  /* Frees what build allocated (tasks, data, servers). Safe on a zeroed batch. */
  void (*release)(struct cl_batch *b);
};

size_t cl_workload_count(void);
const struct cl_workload *cl_workload_at(size_t i);
/* Returns the workload named `name`, or NULL. */
const struct cl_workload *cl_workload_find(const char *name);

/* Resolves defaults (quick or full) into *p, checks limits, then builds.
 * Returns 0, CL_ERANGE (limit in cl_error_detail()), CL_ENOMEM or the
 * workload's own error. */
int cl_workload_build(const struct cl_workload *w, struct cl_workload_params *p,
                      struct cl_batch *out);
void cl_workload_release(const struct cl_workload *w, struct cl_batch *b);

#ifdef __cplusplus
}
#endif
#endif
