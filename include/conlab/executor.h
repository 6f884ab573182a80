/* Executors: a table of function pointers, one const instance per file, all
 * listed in one registry. Executors never contain workload code; they only
 * decide what happens during IO phases and how many CPU phases run at once. */
#ifndef CONLAB_EXECUTOR_H
#define CONLAB_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conlab/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where workers run (conlab/topology.h describes each policy). CL_BIND_LIST
 * places worker i on the PU cfg.bind_cpus[i mod nbind_cpus]. */
enum cl_bind {
  CL_BIND_NONE = 0,
  CL_BIND_CORE,
  CL_BIND_PU,
  CL_BIND_COMPACT,
  CL_BIND_SCATTER,
  CL_BIND_LIST
};
enum cl_omp_schedule { CL_OMP_STATIC = 0, CL_OMP_DYNAMIC, CL_OMP_GUIDED };

struct cl_topology; /* harness/topology (hwloc) */
struct cl_gil;

struct cl_exec_config {
  unsigned workers;  /* >= 1; executors without parallelism ignore it */
  size_t stack_size; /* threads: per-thread stack bytes, 0 = system default */
  enum cl_omp_schedule omp_schedule;
  unsigned omp_chunk; /* 0 = the runtime's default */
  unsigned chunksize; /* process_pool: tasks per message, 0 = automatic */
  enum cl_bind bind;
  const struct cl_topology *topo; /* NULL: no binding possible */
  const unsigned *bind_cpus;      /* CL_BIND_LIST: OS PU numbers; outlives the executor */
  unsigned nbind_cpus;
  bool gil;                    /* run CPU phases under the emulated GIL */
  uint64_t switch_interval_ns; /* GIL forced-switch interval, 0 = 5 ms */
};

/* Resource use an executor measured outside this process (worker processes,
 * an interpreter). Filled by the optional `usage` op after each run. */
struct cl_exec_usage {
  double user_s, sys_s;     /* CPU time of the last run, all children together */
  long nvcsw, nivcsw;       /* context switches of the last run */
  long max_rss_kb;          /* largest single child */
  unsigned effective_chunk; /* process_pool: chunk size used */
  /* External interpreters (CL_EXEC_EXTERNAL), else 0 and NULL: start-up paid
   * once in create() (spawn to ready), and what ran, e.g. "CPython 3.11.7
   * (GIL) /usr/bin/python3" or "... (free-threaded, GIL disabled) ...";
   * the string lives until destroy. */
  double startup_s;
  const char *runtime;
  /* External interpreters, else NULL and false: the version alone ("3.11.7")
   * and the implementation ("CPython"), strings that live until destroy, and
   * whether the interpreter runs without its GIL (a free-threaded build with
   * sys._is_gil_enabled() false). */
  const char *version;
  const char *implementation;
  bool gil_disabled;
};

/* Flags describing an executor. */
enum {
  CL_EXEC_PARALLEL = 1u << 0,    /* `workers` matters */
  CL_EXEC_GIL_CAPABLE = 1u << 1, /* honours cfg.gil */
  CL_EXEC_PROCESSES = 1u << 2,   /* runs tasks in other processes */
  CL_EXEC_EXTERNAL = 1u << 3,    /* runs an outside interpreter (py.*) */
  CL_EXEC_PER_TASK = 1u << 4,    /* one thread per task: its worker count is the task count */
  CL_EXEC_BINDS = 1u << 5        /* honours cfg.bind (its workers are bound) */
};

struct cl_executor_ops;

/* Base of every executor instance; implementations embed it first. */
struct cl_executor {
  const struct cl_executor_ops *ops;
  struct cl_exec_config cfg;
};

struct cl_executor_ops {
  const char *name;    /* "thread_pool" */
  const char *summary; /* one line for `conlab list` */
  unsigned flags;
  /* Creates an executor; workers, threads and processes it owns are started
   * here, before timing. Returns 0 or a CL_E* code, *out untouched on error. */
  int (*create)(const struct cl_exec_config *cfg, struct cl_executor **out);
  /* Runs every task of the batch; results land in the tasks. Returns 0 or the
   * first error (task errors are also left in task->status). */
  int (*run)(struct cl_executor *ex, struct cl_batch *batch);
  /* Stops and frees everything create made: no thread, process or descriptor
   * survives. Safe to call after a failed run. */
  void (*destroy)(struct cl_executor *ex);
  /* Optional: resource use of the last run outside this process. */
  int (*usage)(struct cl_executor *ex, struct cl_exec_usage *out);
  /* Optional: 0 when what the executor needs outside this process (an
   * interpreter) is there, else CL_EUNSUPPORTED with cl_error_detail(). */
  int (*available)(void);
};

/* The registry. An X-macro there keeps the list, the names and the table in
 * sync; openmp is present only when the build found OpenMP. */
size_t cl_executor_count(void);
const struct cl_executor_ops *cl_executor_at(size_t i);
const struct cl_executor_ops *cl_executor_find(const char *name);

/* Fills cfg with defaults: 1 worker, no binding, no GIL, 5 ms interval. */
void cl_exec_config_default(struct cl_exec_config *cfg);

/* Convenience: create, run once, destroy. */
int cl_executor_run_once(const struct cl_executor_ops *ops, const struct cl_exec_config *cfg,
                         struct cl_batch *batch);

/* The phase interpreter. Runs every remaining phase of `t`, blocking the
 * calling thread during IO phases. With `gil` non-NULL the thread holds the
 * GIL through CPU phases and drops it around IO phases. Sets t->result and
 * t->status, and adds to t->wake_ns / t->wakes the time from the end of each
 * IO phase to the start of the CPU phase after it (the GIL wait included). */
void cl_task_run_blocking(struct cl_task *t, const struct cl_batch *b, struct cl_gil *gil);

/* Runs CPU phases from t->pc until an IO phase or the end. Returns the index
 * of the IO phase now due (t->pc points at it) or -1 when the task is done.
 * The caller performs the IO, adds cl_io_token() to t->result (or sets
 * t->status), advances t->pc and, to have the wakeup latency measured, sets
 * t->io_end_ns to the CLOCK_MONOTONIC time the IO ended before calling again:
 * when the next phase is a CPU phase, the call then adds the time since
 * io_end_ns to t->wake_ns, counts it in t->wakes, and clears io_end_ns. */
int cl_task_step(struct cl_task *t, const struct cl_batch *b);

/* Performs one IO phase by blocking the calling thread. Returns 0 or CL_E*. */
int cl_io_blocking(const struct cl_batch *b, const struct cl_phase *p, uint64_t *token,
                   uint32_t task_index);

/* Name helpers for the CLI and the results files. */
const char *cl_bind_name(enum cl_bind b);
const char *cl_omp_schedule_name(enum cl_omp_schedule s);

#ifdef __cplusplus
}
#endif
#endif
