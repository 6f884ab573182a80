/* A pool of worker processes, the C form of the seed's multiprocessing.Pool
 * (example 68): workers are forked once, when the pool is created, and then
 * run chunks of work sent to them over a socket, so each has its own address
 * space (and its own emulated GIL): CPU-bound work scales where threads under
 * a GIL do not.
 *
 *   static uint64_t cpu_intensive_task(uint64_t n) { ... }
 *
 *   struct cl_process_pool *pool;
 *   struct cl_process_pool_options opt = {.workers = 4};
 *   uint64_t args[4] = {10000000, 10000000, 10000000, 10000000}, results[4];
 *   cl_process_pool_create(&opt, &pool);                 // Pool(processes=4)
 *   cl_process_pool_map(pool, cpu_intensive_task, args, results, 4, 0);
 *   cl_process_pool_destroy(pool);
 *
 * Forking, not exec: the workers are copies of the caller at creation time,
 * so they see, at the same addresses, everything that existed then: the
 * functions of the program, the tasks of a batch and the batch's data. Work
 * sent later must only refer to such memory (map sends a function pointer
 * and values; run sends the phases themselves and the batch->data pointer,
 * so batch->data must exist before the pool is created). Create the pool
 * while the process runs no other thread: a forked child gets a copy of
 * every lock, held or not, and only the forking thread. The workers use no
 * lock another thread could hold (kernels are pure; IO phases are system
 * calls), so a leftover idle thread (an OpenMP team) is tolerated.
 *
 * A worker that dies (killed, or crashing in a task) breaks the pool, as in
 * Python's BrokenProcessPool: the call in progress fails with CL_EWORKER and a
 * detail naming the worker's pid, its signal or exit status and the task it
 * was running; the other workers are killed and every child is reaped at
 * once. Later calls fail with CL_EWORKER; destroy still cleans up.
 *
 * Threads: one call at a time per pool (calls are not thread-safe). */
#ifndef CONLAB_PROCESS_POOL_H
#define CONLAB_PROCESS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conlab/executor.h"
#include "conlab/task.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cl_process_pool;

/* Largest number of items per message; bigger chunk sizes are clamped. */
#define CL_PROCESS_POOL_MAX_CHUNK 512u

struct cl_process_pool_options {
  unsigned workers;            /* 1..4096 */
  bool gil;                    /* each worker runs CPU phases under its own emulated GIL */
  uint64_t switch_interval_ns; /* for that GIL; 0 = 5 ms */
  /* Where to place the workers: worker i is bound as worker i of this config
   * (bind, topo, bind_cpus; see topology.h) right after it is forked. NULL,
   * or bind CL_BIND_NONE: no binding. */
  const struct cl_exec_config *placement;
};

/* A function map() applies; it runs in a worker process. */
typedef uint64_t (*cl_map_fn)(uint64_t arg);

/* Forks the workers, binds them (opt->placement) and waits until each has
 * reported for work. Returns 0, CL_EINVAL, CL_ERANGE, CL_ENOMEM, CL_ELIMIT
 * (no descriptor left), CL_EPROC (fork failed; detail says how many had
 * started), CL_EWORKER (a worker died before reporting), CL_EUNSUPPORTED or
 * CL_ESYS (binding impossible or refused; detail from topology.h) or
 * CL_ESYS. Nothing is left running on error. */
int cl_process_pool_create(const struct cl_process_pool_options *opt, struct cl_process_pool **out);

/* The chunk size used for n items when `chunksize` is 0, as Python's
 * Pool.map chooses it: ceil(n / (4 * workers)), at least 1, at most
 * CL_PROCESS_POOL_MAX_CHUNK. */
unsigned cl_process_pool_auto_chunk(size_t n, unsigned workers);

/* results[i] = fn(args[i]) for i < n, computed by the workers in chunks of
 * `chunksize` consecutive items (0 = automatic). fn must exist in the worker
 * (any function of the program does). Returns 0, CL_EINVAL or CL_EWORKER. */
int cl_process_pool_map(struct cl_process_pool *pool, cl_map_fn fn, const uint64_t *args,
                        uint64_t *results, size_t n, unsigned chunksize);

/* Runs every task of the batch in the workers, in chunks of `chunksize`
 * consecutive tasks (0 = automatic); results, status, pc and worker land in
 * the tasks as with any executor. Tasks travel as descriptors (index and
 * phases); CPU phases read batch->data at the address it had when the pool
 * was created. Returns 0, the first task error (with its detail), CL_EINVAL,
 * CL_ESYS or CL_EWORKER. */
int cl_process_pool_run(struct cl_process_pool *pool, struct cl_batch *batch, unsigned chunksize);

/* Resource use of the workers during the last map or run (each worker's
 * getrusage(RUSAGE_SELF) difference, as it reported it with its results),
 * the largest worker's max RSS, and the chunk size used. */
void cl_process_pool_usage(const struct cl_process_pool *pool, struct cl_exec_usage *out);

/* Number of workers, and their process ids (for tests and reports): stores
 * up to `max` pids in out and returns the number of workers. */
unsigned cl_process_pool_pids(const struct cl_process_pool *pool, int *out, unsigned max);

/* True once a worker has died. */
bool cl_process_pool_broken(const struct cl_process_pool *pool);

/* Stops the workers (they exit when their socket closes; any still running
 * after 2 s is killed), reaps every one and closes every descriptor the pool
 * opened. NULL is ignored. */
void cl_process_pool_destroy(struct cl_process_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
