#include "conlab/workload.h"

#include "conlab/error.h"
#include "workloads/workloads_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const struct cl_workload *const catalogue[] = {
#define CATALOGUE_ENTRY(sym) &sym,
    CL__WORKLOAD_LIST(CATALOGUE_ENTRY)
#undef CATALOGUE_ENTRY
};

#define CATALOGUE_LEN (sizeof catalogue / sizeof catalogue[0])

size_t cl_workload_count(void) {
  return CATALOGUE_LEN;
}

const struct cl_workload *cl_workload_at(size_t i) {
  return i < CATALOGUE_LEN ? catalogue[i] : NULL;
}

const struct cl_workload *cl_workload_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < CATALOGUE_LEN; i++)
    if (strcmp(catalogue[i]->name, name) == 0) return catalogue[i];
  return NULL;
}

/* Fills *value with its default when it is 0, else checks it against `max`. */
static int resolve(uint64_t *value, uint64_t def, uint64_t max, const char *flag, const char *unit,
                   const char *workload) {
  if (*value == 0) {
    *value = def;
    return 0;
  }
  if (*value > max)
    return cl_error_set(CL_ERANGE, "--%s %" PRIu64 " exceeds the limit %" PRIu64 "%s for %s", flag,
                        *value, max, unit, workload);
  return 0;
}

int cl_workload_build(const struct cl_workload *w, struct cl_workload_params *p,
                      struct cl_batch *out) {
  if (!w || !p || !out) return cl_error_set(CL_EINVAL, "cl_workload_build: NULL argument");
  memset(out, 0, sizeof *out);
  int rc = resolve(&p->tasks, p->quick ? w->quick_tasks : w->default_tasks, w->max_tasks, "tasks",
                   "", w->name);
  if (rc) return rc;
  /* A workload with max_size 0 has no use for --size; it is ignored. */
  if (w->max_size == 0) {
    p->size = 0;
  } else {
    rc = resolve(&p->size, p->quick ? w->quick_size : w->default_size, w->max_size, "size", "",
                 w->name);
    if (rc) return rc;
  }
  if (!w->uses_delay) {
    p->delay_ns = 0;
  } else {
    rc = resolve(&p->delay_ns, p->quick ? w->quick_delay_ns : w->default_delay_ns,
                 CL__WL_MAX_DELAY_NS, "delay", " ns", w->name);
    if (rc) return rc;
  }
  rc = w->build(p, out);
  if (rc) {
    memset(out, 0, sizeof *out);
    return rc;
  }
  out->workload = w;
  return 0;
}

void cl_workload_release(const struct cl_workload *w, struct cl_batch *b) {
  if (!b) return;
  if (!w) w = b->workload;
  if (w && w->release) w->release(b);
  memset(b, 0, sizeof *b);
}

int cl__wl_alloc_tasks(struct cl_batch *out, uint64_t ntasks, uint32_t nphases) {
  if (ntasks == 0 || ntasks > UINT32_MAX || nphases == 0 || nphases > CL_TASK_MAX_PHASES)
    return cl_error_set(CL_EINVAL, "bad task shape: %" PRIu64 " tasks of %u phases", ntasks,
                        nphases);
  struct cl_task *t = calloc((size_t)ntasks, sizeof *t);
  if (!t)
    return cl_error_set(CL_ENOMEM, "cannot allocate %" PRIu64 " tasks (%zu bytes each)", ntasks,
                        sizeof *t);
  for (uint64_t i = 0; i < ntasks; i++) {
    t[i].index = (uint32_t)i;
    t[i].nphases = nphases;
  }
  out->tasks = t;
  out->ntasks = (size_t)ntasks;
  return 0;
}

void cl__wl_release_tasks(struct cl_batch *b) {
  if (!b) return;
  free(b->tasks);
  memset(b, 0, sizeof *b);
}

void cl__wl_cpu_phase(struct cl_phase *p, uint32_t kernel, uint64_t begin, uint64_t end) {
  p->kind = CL_PHASE_CPU;
  p->op = kernel;
  p->a = begin;
  p->b = end;
}

void cl__wl_io_phase(struct cl_phase *p, uint32_t io_kind, uint64_t a, uint64_t b) {
  p->kind = CL_PHASE_IO;
  p->op = io_kind;
  p->a = a;
  p->b = b;
}

uint64_t cl__wl_sum_below(uint64_t n) {
  if (n == 0) return 0;
  unsigned __int128 t = (unsigned __int128)n * (n - 1);
  return (uint64_t)(t / 2);
}

uint64_t cl__wl_sumsq_below(uint64_t n) {
  /* n(n-1)(2n-1)/6 would overflow 128 bits, so divide before multiplying:
   * t = n(n-1)/2 is exact, and 3 divides t or 2n-1. */
  if (n == 0) return 0;
  unsigned __int128 t = (unsigned __int128)n * (n - 1) / 2;
  unsigned __int128 u = 2 * (unsigned __int128)n - 1;
  if (t % 3 == 0)
    t /= 3;
  else
    u /= 3;
  return (uint64_t)t * (uint64_t)u;
}
