/* A fixed-size thread pool with futures, the C form of the seed's
 * concurrent.futures.ThreadPoolExecutor (example 67): submit, wait,
 * as_completed, shutdown. Futures are intrusive and caller-allocated, so
 * submitting never allocates.
 *
 *   struct cl_thread_pool *pool;
 *   struct cl_future fut[10] = {0};
 *   struct cl_future *set[10];
 *   cl_thread_pool_create(3, NULL, &pool);
 *   for (int i = 0; i < 10; i++) {
 *     cl_thread_pool_submit(pool, &fut[i], process_task, &ids[i]);
 *     set[i] = &fut[i];
 *   }
 *   struct cl_as_completed it;
 *   struct cl_future *done;
 *   cl_as_completed_init(&it, set, 10);
 *   while (cl_as_completed_next(&it, &done) == 0) use(done);
 *   cl_thread_pool_destroy(pool, CL_POOL_DRAIN);
 */
#ifndef CONLAB_THREAD_POOL_H
#define CONLAB_THREAD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conlab/executor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cl_thread_pool;
struct cl_as_completed;

/* The work a future runs on a pool thread; its return value is the result. */
typedef uint64_t (*cl_future_fn)(void *arg);

/* How cl_thread_pool_destroy treats work that has not started yet. */
enum cl_pool_shutdown {
  CL_POOL_DRAIN = 0, /* run every queued future, then stop (shutdown(wait=True)) */
  CL_POOL_CANCEL = 1 /* complete queued futures with CL_ECANCELED (cancel_futures=True) */
};

/* One submitted call. Caller-allocated; zero-initialise it (or call
 * cl_future_init) before its first submit, keep it alive and unmoved until it
 * is done, and reach its result only through the functions below: the fields
 * are private. A future completes exactly once per submit. */
struct cl_future {
  struct cl_future *next;        /* pool queue link */
  struct cl_future *ready_next;  /* as_completed ready-list link */
  struct cl_as_completed *watch; /* the iterator waiting for it, or NULL */
  cl_future_fn fn;
  void *arg;
  uint64_t value;
  uint64_t seq; /* completion order, over every pool */
  int status;
  int state;
};

/* Iterator state for cl_as_completed_*; caller-allocated, fields private. */
struct cl_as_completed {
  struct cl_future *const *futures;
  size_t n, yielded;
  struct cl_future *head, *tail; /* done but not yet yielded, in completion order */
};

/* Starts `workers` threads (1..4096). cfg may be NULL; of it, stack_size
 * and the binding (bind, topo, bind_cpus: worker i is placed as worker i,
 * see conlab/topology.h) are used; the GIL belongs to executors. Returns 0,
 * CL_EINVAL (workers 0, or a stack size below PTHREAD_STACK_MIN), CL_ERANGE,
 * CL_ENOMEM, CL_ETHREAD (no thread is left running; detail names how many
 * had started and the system's reason), or a binding error of
 * cl_topology_check_bind / CL_ESYS. *out is untouched on error. */
int cl_thread_pool_create(unsigned workers, const struct cl_exec_config *cfg,
                          struct cl_thread_pool **out);

/* Queues fn(arg) on the pool; f becomes pending until a worker has run it.
 * Returns 0, CL_EINVAL (a NULL argument) or CL_ESTATE (the pool is shutting
 * down, or f is still pending or watched by an iterator). May be called from
 * any thread, including a pool thread. */
int cl_thread_pool_submit(struct cl_thread_pool *pool, struct cl_future *f, cl_future_fn fn,
                          void *arg);

/* Number of worker threads. */
unsigned cl_thread_pool_workers(const struct cl_thread_pool *pool);

/* Stops the pool. CL_POOL_DRAIN runs every queued future first;
 * CL_POOL_CANCEL completes queued-but-not-started futures with CL_ECANCELED.
 * Futures already running always finish. Every thread is joined and the pool
 * freed before it returns. No other call on this pool may be in progress,
 * except from pool threads: their submits then fail with CL_ESTATE.
 * Returns 0 (also for NULL), CL_EINVAL (bad mode; nothing is done) or
 * CL_ESTATE (called from one of the pool's own threads; nothing is done). */
int cl_thread_pool_destroy(struct cl_thread_pool *pool, enum cl_pool_shutdown mode);

/* Resets a future to "never submitted" (the same as zero-initialising it). It
 * must not be pending. */
void cl_future_init(struct cl_future *f);

/* True once f has completed (with a value or CL_ECANCELED). */
bool cl_future_done(struct cl_future *f);

/* Waits until f is done (returns at once if it already is) and stores its
 * value in *value (may be NULL). Returns 0, CL_ECANCELED (the pool was
 * destroyed with CL_POOL_CANCEL before f started; *value is 0) or CL_ESTATE
 * (f was never submitted). Waiting from a pool thread on a future queued on
 * the same, fully busy, pool deadlocks, as in Python. */
int cl_future_wait(struct cl_future *f, uint64_t *value);

/* Starts iterating over n submitted futures (they may belong to different
 * pools). The array must stay valid until the iterator ends. Returns 0,
 * CL_EINVAL (NULL argument, NULL entry, or the same future twice) or
 * CL_ESTATE (a future never submitted, or watched by another iterator). */
int cl_as_completed_init(struct cl_as_completed *it, struct cl_future *const *futures, size_t n);

/* Waits for the next future to complete and stores it in *out: every future
 * of the set is yielded exactly once, in completion order (those already done
 * at init first, in the order they completed). Returns 0 or CL_EEMPTY when
 * all were yielded. */
int cl_as_completed_next(struct cl_as_completed *it, struct cl_future **out);

/* Ends an iteration early, detaching the futures not yet yielded. Needed only
 * when stopping before CL_EEMPTY; harmless after it. */
void cl_as_completed_end(struct cl_as_completed *it);

#ifdef __cplusplus
}
#endif
#endif
