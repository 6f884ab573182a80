#include "executors/exec_internal.h"

#include "conlab/error.h"

#include <stdlib.h>

struct seq_executor {
  struct cl_executor base;
  struct cl__first_error err;
};

static int seq_create(const struct cl_exec_config *cfg, struct cl_executor **out) {
  if (!cfg) return cl_error_set(CL_EINVAL, "sequential: NULL config");
  struct seq_executor *ex = calloc(1, sizeof *ex);
  if (!ex) return cl_error_set(CL_ENOMEM, "sequential: out of memory");
  int rc = cl__first_error_init(&ex->err);
  if (rc) {
    free(ex);
    return rc;
  }
  ex->base.ops = &cl__exec_sequential;
  ex->base.cfg = *cfg;
  *out = &ex->base;
  return 0;
}

static int seq_run(struct cl_executor *base, struct cl_batch *batch) {
  struct seq_executor *ex = (struct seq_executor *)base;
  cl__first_error_reset(&ex->err);
  for (size_t i = 0; i < batch->ntasks; i++) {
    struct cl_task *t = &batch->tasks[i];
    t->worker = 0;
    cl_task_run_blocking(t, batch, NULL);
    if (t->status) cl__first_error_note(&ex->err, t);
  }
  return cl__first_error_raise(&ex->err);
}

static void seq_destroy(struct cl_executor *base) {
  if (!base) return;
  struct seq_executor *ex = (struct seq_executor *)base;
  cl__first_error_destroy(&ex->err);
  free(ex);
}

const struct cl_executor_ops cl__exec_sequential = {
    .name = "sequential",
    .summary = "one task after another on the calling thread (the baseline)",
    .flags = 0,
    .create = seq_create,
    .run = seq_run,
    .destroy = seq_destroy,
};
