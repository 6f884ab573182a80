#include "executors/exec_internal.h"

#include "conlab/error.h"
#include "conlab/gil.h"
#include "conlab/topology.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct threads_executor;

struct thread_slot {
  pthread_t tid;
  struct threads_executor *ex;
  struct cl_task *task;
};

/* `batch` and `gil` are written before the threads of a run start and read by
 * them; pthread_create orders the two. */
struct threads_executor {
  struct cl_executor base;
  struct cl_gil *gil;
  const struct cl_batch *batch;
  struct cl__first_error err;
  struct thread_slot *slots; /* grown to the largest batch seen, reused */
  size_t cap;
};

static int threads_create(const struct cl_exec_config *cfg, struct cl_executor **out) {
  int rc = cl__exec_check_config("threads", cfg, false);
  if (rc) return rc;
  struct threads_executor *ex = calloc(1, sizeof *ex);
  if (!ex) return cl_error_set(CL_ENOMEM, "threads: out of memory");
  rc = cl__first_error_init(&ex->err);
  if (rc) goto fail_free;
  rc = cl__exec_gil_create(cfg, &ex->gil);
  if (rc) goto fail_err;
  ex->base.ops = &cl__exec_threads;
  ex->base.cfg = *cfg;
  *out = &ex->base;
  return 0;

fail_err:
  cl__first_error_destroy(&ex->err);
fail_free:
  free(ex);
  return rc;
}

static void *thread_main(void *arg) {
  struct thread_slot *slot = arg;
  struct threads_executor *ex = slot->ex;
  cl_task_run_blocking(slot->task, ex->batch, ex->gil);
  if (slot->task->status) cl__first_error_note(&ex->err, slot->task);
  return NULL;
}

static int threads_run(struct cl_executor *base, struct cl_batch *batch) {
  struct threads_executor *ex = (struct threads_executor *)base;
  size_t n = batch->ntasks;
  if (n > ex->cap) {
    struct thread_slot *slots = realloc(ex->slots, n * sizeof *slots);
    if (!slots) return cl_error_set(CL_ENOMEM, "threads: no memory for %zu thread slots", n);
    ex->slots = slots;
    ex->cap = n;
  }
  pthread_attr_t attr;
  int rc = cl__thread_attr_init(&attr, ex->base.cfg.stack_size);
  if (rc)
    return cl_error_set(CL_ETHREAD, "threads: thread attributes with stack size %zu: %s",
                        ex->base.cfg.stack_size, strerror(rc));
  cl__first_error_reset(&ex->err);
  ex->batch = batch;
  size_t started = 0;
  int bind_err = 0;
  for (; started < n; started++) {
    struct thread_slot *slot = &ex->slots[started];
    slot->ex = ex;
    slot->task = &batch->tasks[started];
    slot->task->worker = (uint32_t)started;
    bind_err = cl_topology_bind_attr(&ex->base.cfg, (unsigned)started, &attr);
    if (bind_err) break;
    rc = pthread_create(&slot->tid, &attr, thread_main, slot);
    if (rc) break;
  }
  pthread_attr_destroy(&attr);
  for (size_t i = 0; i < started; i++)
    pthread_join(ex->slots[i].tid, NULL);
  if (started < n) {
    for (size_t i = started; i < n; i++)
      batch->tasks[i].status = bind_err ? bind_err : CL_ETHREAD;
    if (bind_err) return bind_err; /* its detail names the worker and the PUs */
    return cl_error_set(CL_ETHREAD,
                        "threads: pthread_create failed for task %zu of %zu with %zu threads "
                        "running (stack size %zu): %s",
                        started, n, started, ex->base.cfg.stack_size, strerror(rc));
  }
  return cl__first_error_raise(&ex->err);
}

static void threads_destroy(struct cl_executor *base) {
  if (!base) return;
  struct threads_executor *ex = (struct threads_executor *)base;
  cl_gil_destroy(ex->gil);
  cl__first_error_destroy(&ex->err);
  free(ex->slots);
  free(ex);
}

const struct cl_executor_ops cl__exec_threads = {
    .name = "threads",
    .summary = "one thread per task, all started at once, then joined (seed ex. 66)",
    .flags = CL_EXEC_GIL_CAPABLE | CL_EXEC_PER_TASK | CL_EXEC_BINDS,
    .create = threads_create,
    .run = threads_run,
    .destroy = threads_destroy,
};
