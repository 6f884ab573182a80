#include "executors/exec_internal.h"

#include "conlab/error.h"
#include "conlab/gil.h"

#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conlab/topology.h"

/* Set once any run has bound the runtime's threads. */
static atomic_bool threads_pinned;

struct omp_executor {
  struct cl_executor base;
  struct cl_gil *gil;
  struct cl__first_error err;
};

static int omp_create(const struct cl_exec_config *cfg, struct cl_executor **out) {
  int rc = cl__exec_check_config("openmp", cfg, true);
  if (rc) return rc;
  if (cfg->omp_schedule != CL_OMP_STATIC && cfg->omp_schedule != CL_OMP_DYNAMIC &&
      cfg->omp_schedule != CL_OMP_GUIDED)
    return cl_error_set(CL_EINVAL, "openmp: unknown schedule %d", (int)cfg->omp_schedule);
  if (cfg->omp_chunk > (unsigned)INT_MAX)
    return cl_error_set(CL_ERANGE, "openmp: chunk %u is too large", cfg->omp_chunk);
  struct omp_executor *ex = calloc(1, sizeof *ex);
  if (!ex) return cl_error_set(CL_ENOMEM, "openmp: out of memory");
  rc = cl__first_error_init(&ex->err);
  if (rc) goto fail_free;
  rc = cl__exec_gil_create(cfg, &ex->gil);
  if (rc) goto fail_err;
  ex->base.ops = &cl__exec_openmp;
  ex->base.cfg = *cfg;
  *out = &ex->base;
  return 0;

fail_err:
  cl__first_error_destroy(&ex->err);
fail_free:
  free(ex);
  return rc;
}

static int omp_run(struct cl_executor *base, struct cl_batch *batch) {
  struct omp_executor *ex = (struct omp_executor *)base;
  static const omp_sched_t kinds[] = {
      [CL_OMP_STATIC] = omp_sched_static,
      [CL_OMP_DYNAMIC] = omp_sched_dynamic,
      [CL_OMP_GUIDED] = omp_sched_guided,
  };
  /* A chunk below 1 asks the runtime for its default. */
  omp_set_schedule(kinds[ex->base.cfg.omp_schedule], (int)ex->base.cfg.omp_chunk);
  cl__first_error_reset(&ex->err);
  const long n = (long)batch->ntasks;
  struct cl_task *tasks = batch->tasks;
  struct cl_gil *gil = ex->gil;
  struct cl__first_error *err = &ex->err;
  const struct cl_exec_config *cfg = &ex->base.cfg;
  /* Thread 0 of the team is the caller: its own placement is put back after
   * the region. The runtime's other threads outlive the run, so a run
   * without binding first releases threads an earlier run pinned. */
  bool bind = cfg->bind != CL_BIND_NONE;
  bool unpin = !bind && atomic_load(&threads_pinned);
  cpu_set_t caller_set;
  if ((bind || unpin) && sched_getaffinity(0, sizeof caller_set, &caller_set) != 0)
    return cl_error_set(CL_ESYS, "openmp: reading the caller's CPU affinity: %s", strerror(errno));
  if (bind) atomic_store(&threads_pinned, true);
  int bind_rc = 0;
  char bind_detail[256] = "";
#pragma omp parallel num_threads(cfg->workers)
  {
    int brc = 0;
    if (bind)
      brc = cl_topology_bind_thread(cfg, (unsigned)omp_get_thread_num());
    else if (unpin && sched_setaffinity(0, sizeof caller_set, &caller_set) != 0)
      brc = cl_error_set(CL_ESYS, "openmp: releasing thread %d's binding: %s", omp_get_thread_num(),
                         strerror(errno));
    if (brc) {
#pragma omp critical(cl_omp_bind_error)
      if (!bind_rc) {
        bind_rc = brc;
        snprintf(bind_detail, sizeof bind_detail, "%s", cl_error_detail());
      }
    }
#pragma omp for schedule(runtime)
    for (long i = 0; i < n; i++) {
      struct cl_task *t = &tasks[i];
      t->worker = (uint32_t)omp_get_thread_num();
      cl_task_run_blocking(t, batch, gil);
      if (t->status) cl__first_error_note(err, t);
    }
  }
  if (bind && sched_setaffinity(0, sizeof caller_set, &caller_set) != 0 && !bind_rc) {
    bind_rc = CL_ESYS;
    snprintf(bind_detail, sizeof bind_detail, "openmp: restoring the caller's affinity: %s",
             strerror(errno));
  }
  if (bind_rc) return cl_error_set(bind_rc, "%s", bind_detail);
  return cl__first_error_raise(&ex->err);
}

static void omp_destroy(struct cl_executor *base) {
  if (!base) return;
  struct omp_executor *ex = (struct omp_executor *)base;
  cl_gil_destroy(ex->gil);
  cl__first_error_destroy(&ex->err);
  free(ex);
}

const struct cl_executor_ops cl__exec_openmp = {
    .name = "openmp",
    .summary = "#pragma omp parallel for over the tasks (static, dynamic or guided schedule)",
    .flags = CL_EXEC_PARALLEL | CL_EXEC_GIL_CAPABLE | CL_EXEC_BINDS,
    .create = omp_create,
    .run = omp_run,
    .destroy = omp_destroy,
};
