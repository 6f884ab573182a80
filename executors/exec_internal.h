/* Internal to executors/: the registry list, shared helpers and the thread
 * pool internals that the thread_pool executor's run() is built on. */
#ifndef CONLAB_EXEC_INTERNAL_H
#define CONLAB_EXEC_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conlab/executor.h"
#include "conlab/thread_pool.h"

/* The registry: X(symbol, "cli name"), one line per executor, in listing
 * order. Each executor file defines `const struct cl_executor_ops
 * cl__exec_<symbol>` whose name must equal the listed one (a test checks). */
#ifdef CL_HAVE_OPENMP
#define CL__EXEC_OPENMP(X) X(openmp, "openmp")
#else
#define CL__EXEC_OPENMP(X)
#endif

/* The CPython executors (python_exec.c); each needs python3 at run time. */
#define CL__EXEC_PYTHON(X)                                                                         \
  X(py_sequential, "py.sequential")                                                                \
  X(py_threads, "py.threads")                                                                      \
  X(py_thread_pool, "py.thread_pool")                                                              \
  X(py_process_pool, "py.process_pool")                                                            \
  X(py_event_loop, "py.event_loop")

#define CL__EXECUTOR_LIST(X)                                                                       \
  X(sequential, "sequential")                                                                      \
  X(threads, "threads")                                                                            \
  X(thread_pool, "thread_pool")                                                                    \
  X(process_pool, "process_pool")                                                                  \
  X(event_loop, "event_loop")                                                                      \
  CL__EXEC_OPENMP(X)                                                                               \
  CL__EXEC_PYTHON(X)

#define CL__EXEC_DECLARE(sym, name) extern const struct cl_executor_ops cl__exec_##sym;
CL__EXECUTOR_LIST(CL__EXEC_DECLARE)
#undef CL__EXEC_DECLARE

/* Upper bound on cfg.workers for the executors in this directory. */
enum { CL__MAX_WORKERS = 4096 };

/* Checks cfg->workers against 1..CL__MAX_WORKERS (when `workers`) and
 * cfg->stack_size against PTHREAD_STACK_MIN. Returns 0, CL_EINVAL or
 * CL_ERANGE with a detail naming `who`. */
int cl__exec_check_config(const char *who, const struct cl_exec_config *cfg, bool workers);

/* Creates the GIL an executor uses when cfg->gil is set (*out NULL when it is
 * not). Returns 0 or the cl_gil_create error. */
int cl__exec_gil_create(const struct cl_exec_config *cfg, struct cl_gil **out);

/* Applies cfg->stack_size (0 = default) to a thread attribute. Returns 0 or
 * an errno value. */
int cl__thread_attr_init(pthread_attr_t *attr, size_t stack_size);

/* The first task failure of a run, kept with the detail its thread wrote, so
 * that run() can report it on the caller's thread. */
struct cl__first_error {
  pthread_mutex_t lock;
  /* `code`, `task` and `detail` are protected by `lock`; `code` 0 means none. */
  int code;
  uint32_t task;
  char detail[256];
};

int cl__first_error_init(struct cl__first_error *fe);
void cl__first_error_destroy(struct cl__first_error *fe);
/* Forgets a previous failure; call before a run, with no task running. */
void cl__first_error_reset(struct cl__first_error *fe);
/* Records t's failure if it is the first one; call on the thread that ran t,
 * right after it failed. */
void cl__first_error_note(struct cl__first_error *fe, const struct cl_task *t);
/* Returns the recorded code (0 if none) and, if any, sets this thread's error
 * detail to "task N: <detail>". */
int cl__first_error_raise(struct cl__first_error *fe);

/* Thread pool internals (thread_pool.c). Runs every task of the batch
 * through the pool's queue, holding `gil` (may be NULL) through CPU phases,
 * and waits for all of them. Sets task->worker to the pool worker's index.
 * Returns 0, the first task error, or CL_ESTATE if the pool is shutting
 * down or already running a batch. */
int cl__thread_pool_map(struct cl_thread_pool *pool, struct cl_batch *batch, struct cl_gil *gil);

/* Waits up to `ms` milliseconds for child `pid` to exit. Returns true once
 * it is reaped (its status in *status, or -1 when someone else reaped it). */
bool cl__reap_within(int pid, int *status, int ms);

#endif
