#include "executors/exec_internal.h"

#include "conlab/error.h"
#include "conlab/gil.h"
#include "conlab/topology.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Future states. */
enum { F_IDLE = 0, F_PENDING, F_DONE };

/* Completion is recorded under one process-wide lock, so that futures of
 * several pools can be waited for together and a done future never refers
 * back to its (possibly destroyed) pool. A future's `value`, `status`, `seq`,
 * `watch` and `ready_next`, every iterator's ready list, `done_seq` and
 * `done_waiters` are protected by `done_lock`. A future's `state` is written
 * only under `done_lock` too, but with atomic stores: F_DONE is stored with
 * release order after `value` and `status`, so a waiter that loads F_DONE
 * with acquire order may read them without the lock (the spin in
 * cl_future_wait). `done_cond` is broadcast at a completion only when someone
 * sleeps on it. Lock order: a pool's `lock` before `done_lock`. */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static uint64_t done_seq;
static unsigned done_waiters;

/* Spinning, and why it pays. A wake-up through a condition variable costs a
 * futex call on each side and, on a virtual machine, a cross-core interrupt:
 * 15-40 us each, so one submit-to-completion round trip was 30-90 us. An idle
 * worker therefore polls for new work for up to SPIN_NS before it sleeps, and
 * cl_future_wait polls its future for up to SPIN_NS before it sleeps; with
 * both, a round trip on an idle pool takes a few microseconds. The cost is
 * bounded: at most one worker per pool spins at a time (`spinners`), each
 * idle period spins once, and a submit does not signal when a spinner will
 * take the work. Batches run through map() never spin on the caller's side. */
#define SPIN_NS 50000u

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One step of a poll loop. The first steps only pause the core; later ones
 * also yield it, so that when the machine has more runnable threads than
 * cores the thread being waited for gets the core instead of losing it to
 * the poller for a whole time slice. */
static inline void poll_step(unsigned i) {
  if (i < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
  } else {
    sched_yield();
  }
}

static int future_state(const struct cl_future *f) {
  return __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
}

static void future_set_state(struct cl_future *f, int state) {
  __atomic_store_n(&f->state, state, __ATOMIC_RELEASE);
}

struct pool_worker {
  pthread_t tid;
  struct cl_thread_pool *pool;
  unsigned index;
};

struct cl_thread_pool {
  pthread_mutex_t lock;
  pthread_cond_t work_cond; /* queued work or `stopping` */
  pthread_cond_t idle_cond; /* `batch_left` reached 0 */
  /* The queues, `batch`, `batch_gil` and `batch_left` are protected by
   * `lock`; so are writes of `stopping`, which a spinning worker also reads
   * without it (hence atomic). A queued future's `next`, `fn` and `arg`, and a
   * queued task's `next`, belong to the queue. */
  struct cl_future *fhead, *ftail;
  struct cl_task *thead, *ttail;
  const struct cl_batch *batch;
  struct cl_gil *batch_gil;
  size_t batch_left;
  atomic_bool stopping;
  struct cl__first_error err;
  /* `sleepers` (workers waiting on `work_cond`) is protected by `lock`.
   * `queued` mirrors the number of queued futures and tasks; it is written
   * under `lock` and read without it only as a hint by a spinning worker,
   * which then takes `lock` and looks at the queues themselves. `spinners` is
   * 0 or 1: the worker allowed to spin claims it with a compare-exchange. */
  unsigned sleepers;
  atomic_size_t queued;
  atomic_uint spinners;
  unsigned nworkers;
  struct pool_worker workers[];
};

static void future_complete(struct cl_future *f, uint64_t value, int status) {
  pthread_mutex_lock(&done_lock);
  f->value = value;
  f->status = status;
  f->seq = ++done_seq;
  struct cl_as_completed *it = f->watch;
  if (it) {
    /* Sequence numbers grow under `done_lock`, so appending keeps the ready
     * list in completion order. */
    f->ready_next = NULL;
    if (it->tail)
      it->tail->ready_next = f;
    else
      it->head = f;
    it->tail = f;
  }
  /* Last touch of `f`: a spinning waiter may reuse it as soon as it sees
   * F_DONE. */
  future_set_state(f, F_DONE);
  if (done_waiters) pthread_cond_broadcast(&done_cond);
  pthread_mutex_unlock(&done_lock);
}

/* Polls for queued work for up to SPIN_NS, if no other worker of the pool is
 * spinning. Called without `lock`; the caller looks at the queues under
 * `lock` afterwards, so a missed hint costs time, never a task. */
static void spin_for_work(struct cl_thread_pool *pool) {
  unsigned expected = 0;
  if (!atomic_compare_exchange_strong(&pool->spinners, &expected, 1)) return;
  uint64_t deadline = mono_ns() + SPIN_NS;
  for (unsigned i = 1;; i++) {
    if (atomic_load_explicit(&pool->queued, memory_order_relaxed) ||
        atomic_load_explicit(&pool->stopping, memory_order_relaxed))
      break;
    poll_step(i);
    if (i % 16 == 0 && mono_ns() > deadline) break;
  }
  atomic_store(&pool->spinners, 0);
}

static void *worker_main(void *arg) {
  struct pool_worker *w = arg;
  struct cl_thread_pool *pool = w->pool;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    bool spun = false; /* one spin per idle period, then sleep */
    while (!pool->thead && !pool->fhead && !pool->stopping) {
      if (!spun) {
        spun = true;
        pthread_mutex_unlock(&pool->lock);
        spin_for_work(pool);
        pthread_mutex_lock(&pool->lock);
        continue;
      }
      pool->sleepers++;
      pthread_cond_wait(&pool->work_cond, &pool->lock);
      pool->sleepers--;
    }
    if (pool->thead) {
      struct cl_task *t = pool->thead;
      pool->thead = t->next;
      if (!pool->thead) pool->ttail = NULL;
      atomic_fetch_sub_explicit(&pool->queued, 1, memory_order_relaxed);
      const struct cl_batch *b = pool->batch;
      struct cl_gil *gil = pool->batch_gil;
      pthread_mutex_unlock(&pool->lock);
      t->worker = w->index;
      cl_task_run_blocking(t, b, gil);
      if (t->status) cl__first_error_note(&pool->err, t);
      pthread_mutex_lock(&pool->lock);
      if (--pool->batch_left == 0) pthread_cond_signal(&pool->idle_cond);
    } else if (pool->fhead) {
      struct cl_future *f = pool->fhead;
      pool->fhead = f->next;
      if (!pool->fhead) pool->ftail = NULL;
      atomic_fetch_sub_explicit(&pool->queued, 1, memory_order_relaxed);
      cl_future_fn fn = f->fn;
      void *fn_arg = f->arg;
      pthread_mutex_unlock(&pool->lock);
      uint64_t value = fn(fn_arg);
      future_complete(f, value, 0);
      pthread_mutex_lock(&pool->lock);
    } else {
      break; /* stopping, and nothing is queued */
    }
  }
  pthread_mutex_unlock(&pool->lock);
  return NULL;
}

/* Stops and joins the first `started` workers, then frees the pool. */
static void pool_free(struct cl_thread_pool *pool, unsigned started) {
  pthread_mutex_lock(&pool->lock);
  pool->stopping = true;
  pthread_cond_broadcast(&pool->work_cond);
  pthread_mutex_unlock(&pool->lock);
  for (unsigned i = 0; i < started; i++)
    pthread_join(pool->workers[i].tid, NULL);
  cl__first_error_destroy(&pool->err);
  pthread_cond_destroy(&pool->idle_cond);
  pthread_cond_destroy(&pool->work_cond);
  pthread_mutex_destroy(&pool->lock);
  free(pool);
}

int cl_thread_pool_create(unsigned workers, const struct cl_exec_config *cfg,
                          struct cl_thread_pool **out) {
  if (!out) return cl_error_set(CL_EINVAL, "thread pool: NULL out");
  struct cl_exec_config c;
  cl_exec_config_default(&c);
  if (cfg) c = *cfg;
  c.workers = workers;
  int rc = cl__exec_check_config("thread pool", &c, true);
  if (rc) return rc;
  struct cl_thread_pool *pool = calloc(1, sizeof *pool + workers * sizeof pool->workers[0]);
  if (!pool) return cl_error_set(CL_ENOMEM, "thread pool: out of memory for %u workers", workers);
  pool->nworkers = workers;
  atomic_init(&pool->queued, 0);
  atomic_init(&pool->spinners, 0);
  atomic_init(&pool->stopping, false);
  rc = pthread_mutex_init(&pool->lock, NULL);
  if (rc) goto fail_free;
  rc = pthread_cond_init(&pool->work_cond, NULL);
  if (rc) goto fail_lock;
  rc = pthread_cond_init(&pool->idle_cond, NULL);
  if (rc) goto fail_work;
  if (cl__first_error_init(&pool->err)) goto fail_idle;

  pthread_attr_t attr;
  rc = cl__thread_attr_init(&attr, c.stack_size);
  if (rc) {
    pool_free(pool, 0);
    return cl_error_set(CL_ETHREAD, "thread pool: thread attributes with stack size %zu: %s",
                        c.stack_size, strerror(rc));
  }
  unsigned started = 0;
  int bind_err = 0;
  for (; started < workers; started++) {
    struct pool_worker *w = &pool->workers[started];
    w->pool = pool;
    w->index = started;
    bind_err = cl_topology_bind_attr(&c, started, &attr);
    if (bind_err) break;
    rc = pthread_create(&w->tid, &attr, worker_main, w);
    if (rc) break;
  }
  pthread_attr_destroy(&attr);
  if (started < workers) {
    pool_free(pool, started);
    if (bind_err) return bind_err; /* its detail names the worker and the PUs */
    return cl_error_set(CL_ETHREAD,
                        "thread pool: pthread_create failed with %u of %u workers running "
                        "(stack size %zu): %s",
                        started, workers, c.stack_size, strerror(rc));
  }
  *out = pool;
  return 0;

fail_idle:
  pthread_cond_destroy(&pool->idle_cond);
fail_work:
  pthread_cond_destroy(&pool->work_cond);
fail_lock:
  pthread_mutex_destroy(&pool->lock);
fail_free:
  free(pool);
  return cl_error_set(CL_ESYS, "thread pool: initialising its locks failed");
}

unsigned cl_thread_pool_workers(const struct cl_thread_pool *pool) {
  return pool->nworkers;
}

int cl_thread_pool_submit(struct cl_thread_pool *pool, struct cl_future *f, cl_future_fn fn,
                          void *arg) {
  if (!pool || !f || !fn) return cl_error_set(CL_EINVAL, "thread pool submit: NULL argument");
  pthread_mutex_lock(&pool->lock);
  if (pool->stopping) {
    pthread_mutex_unlock(&pool->lock);
    return cl_error_set(CL_ESTATE, "thread pool submit: the pool is shutting down");
  }
  pthread_mutex_lock(&done_lock);
  bool busy = f->state == F_PENDING || f->watch != NULL;
  if (!busy) {
    future_set_state(f, F_PENDING);
    f->value = 0;
    f->status = 0;
    f->seq = 0;
  }
  pthread_mutex_unlock(&done_lock);
  if (busy) {
    pthread_mutex_unlock(&pool->lock);
    return cl_error_set(CL_ESTATE,
                        "thread pool submit: the future is still pending or being iterated");
  }
  f->fn = fn;
  f->arg = arg;
  f->next = NULL;
  if (pool->ftail)
    pool->ftail->next = f;
  else
    pool->fhead = f;
  pool->ftail = f;
  size_t was = atomic_fetch_add_explicit(&pool->queued, 1, memory_order_relaxed);
  /* A spinning worker takes a lone future; wake a sleeper for the rest. */
  if (pool->sleepers && (was > 0 || !atomic_load(&pool->spinners)))
    pthread_cond_signal(&pool->work_cond);
  pthread_mutex_unlock(&pool->lock);
  return 0;
}

int cl_thread_pool_destroy(struct cl_thread_pool *pool, enum cl_pool_shutdown mode) {
  if (!pool) return 0;
  if (mode != CL_POOL_DRAIN && mode != CL_POOL_CANCEL)
    return cl_error_set(CL_EINVAL, "thread pool destroy: unknown mode %d", (int)mode);
  pthread_t self = pthread_self();
  for (unsigned i = 0; i < pool->nworkers; i++)
    if (pthread_equal(self, pool->workers[i].tid))
      return cl_error_set(CL_ESTATE, "thread pool destroy: called from worker %u of the pool", i);
  struct cl_future *cancelled = NULL;
  pthread_mutex_lock(&pool->lock);
  pool->stopping = true;
  if (mode == CL_POOL_CANCEL) {
    cancelled = pool->fhead;
    pool->fhead = pool->ftail = NULL;
    size_t n = 0;
    for (struct cl_future *f = cancelled; f; f = f->next)
      n++;
    atomic_fetch_sub_explicit(&pool->queued, n, memory_order_relaxed);
  }
  pthread_cond_broadcast(&pool->work_cond);
  pthread_mutex_unlock(&pool->lock);
  /* The detached futures are ours now: no worker can reach them. */
  while (cancelled) {
    struct cl_future *next = cancelled->next;
    future_complete(cancelled, 0, CL_ECANCELED);
    cancelled = next;
  }
  pool_free(pool, pool->nworkers);
  return 0;
}

int cl__thread_pool_map(struct cl_thread_pool *pool, struct cl_batch *batch, struct cl_gil *gil) {
  size_t n = batch->ntasks;
  if (n == 0) return 0;
  for (size_t i = 0; i + 1 < n; i++)
    batch->tasks[i].next = &batch->tasks[i + 1];
  batch->tasks[n - 1].next = NULL;
  pthread_mutex_lock(&pool->lock);
  if (pool->stopping || pool->batch) {
    pthread_mutex_unlock(&pool->lock);
    return cl_error_set(CL_ESTATE, "thread pool: already running a batch or shutting down");
  }
  cl__first_error_reset(&pool->err);
  pool->batch = batch;
  pool->batch_gil = gil;
  pool->batch_left = n;
  if (pool->ttail)
    pool->ttail->next = &batch->tasks[0];
  else
    pool->thead = &batch->tasks[0];
  pool->ttail = &batch->tasks[n - 1];
  atomic_fetch_add_explicit(&pool->queued, n, memory_order_relaxed);
  pthread_cond_broadcast(&pool->work_cond);
  while (pool->batch_left > 0)
    pthread_cond_wait(&pool->idle_cond, &pool->lock);
  pool->batch = NULL;
  pool->batch_gil = NULL;
  pthread_mutex_unlock(&pool->lock);
  return cl__first_error_raise(&pool->err);
}

void cl_future_init(struct cl_future *f) {
  memset(f, 0, sizeof *f);
}

bool cl_future_done(struct cl_future *f) {
  return future_state(f) == F_DONE;
}

int cl_future_wait(struct cl_future *f, uint64_t *value) {
  if (!f) return cl_error_set(CL_EINVAL, "future wait: NULL future");
  /* Poll first (see SPIN_NS): F_DONE loaded with acquire order makes
   * `value` and `status` readable without the lock. */
  if (future_state(f) == F_PENDING) {
    uint64_t deadline = mono_ns() + SPIN_NS;
    for (unsigned i = 1; future_state(f) == F_PENDING; i++) {
      poll_step(i);
      if (i % 16 == 0 && mono_ns() > deadline) break;
    }
  }
  if (future_state(f) == F_DONE) {
    if (value) *value = f->value;
    return f->status;
  }
  pthread_mutex_lock(&done_lock);
  done_waiters++;
  while (f->state == F_PENDING)
    pthread_cond_wait(&done_cond, &done_lock);
  done_waiters--;
  int rc = CL_ESTATE;
  if (f->state == F_DONE) {
    rc = f->status;
    if (value) *value = f->value;
  }
  pthread_mutex_unlock(&done_lock);
  if (rc == CL_ESTATE) return cl_error_set(rc, "future wait: the future was never submitted");
  return rc;
}

/* Merge sort of a ready list by completion sequence; `done_lock` is held. */
static struct cl_future *sort_by_seq(struct cl_future *list) {
  if (!list || !list->ready_next) return list;
  struct cl_future *slow = list, *fast = list->ready_next;
  while (fast && fast->ready_next) {
    slow = slow->ready_next;
    fast = fast->ready_next->ready_next;
  }
  struct cl_future *second = slow->ready_next;
  slow->ready_next = NULL;
  struct cl_future *a = sort_by_seq(list), *b = sort_by_seq(second);
  struct cl_future head = {0}, *tail = &head;
  while (a && b) {
    struct cl_future **min = a->seq < b->seq ? &a : &b;
    tail->ready_next = *min;
    tail = *min;
    *min = (*min)->ready_next;
  }
  tail->ready_next = a ? a : b;
  return head.ready_next;
}

int cl_as_completed_init(struct cl_as_completed *it, struct cl_future *const *futures, size_t n) {
  if (!it || (!futures && n)) return cl_error_set(CL_EINVAL, "as_completed: NULL argument");
  it->futures = futures;
  it->n = n;
  it->yielded = 0;
  it->head = it->tail = NULL;
  int rc = 0;
  size_t i = 0;
  struct cl_future *ready = NULL;
  pthread_mutex_lock(&done_lock);
  for (; i < n; i++) {
    struct cl_future *f = futures[i];
    if (!f) {
      rc = cl_error_set(CL_EINVAL, "as_completed: future %zu is NULL", i);
      break;
    }
    if (f->watch == it) {
      rc = cl_error_set(CL_EINVAL, "as_completed: future %zu appears twice", i);
      break;
    }
    if (f->watch || f->state == F_IDLE) {
      rc = cl_error_set(CL_ESTATE, "as_completed: future %zu is %s", i,
                        f->watch ? "watched by another iterator" : "not submitted");
      break;
    }
    f->watch = it;
    if (f->state == F_DONE) {
      f->ready_next = ready;
      ready = f;
    }
  }
  if (rc) {
    for (size_t j = 0; j < i; j++)
      futures[j]->watch = NULL;
  } else {
    it->head = sort_by_seq(ready);
    for (struct cl_future *f = it->head; f; f = f->ready_next)
      it->tail = f;
  }
  pthread_mutex_unlock(&done_lock);
  if (rc) it->n = 0;
  return rc;
}

int cl_as_completed_next(struct cl_as_completed *it, struct cl_future **out) {
  pthread_mutex_lock(&done_lock);
  done_waiters++;
  while (!it->head && it->yielded < it->n)
    pthread_cond_wait(&done_cond, &done_lock);
  done_waiters--;
  struct cl_future *f = it->head;
  if (f) {
    it->head = f->ready_next;
    if (!it->head) it->tail = NULL;
    f->ready_next = NULL;
    f->watch = NULL;
    it->yielded++;
  }
  pthread_mutex_unlock(&done_lock);
  if (!f) return CL_EEMPTY;
  *out = f;
  return 0;
}

void cl_as_completed_end(struct cl_as_completed *it) {
  pthread_mutex_lock(&done_lock);
  for (size_t i = 0; i < it->n; i++) {
    struct cl_future *f = it->futures[i];
    if (f->watch == it) {
      f->watch = NULL;
      f->ready_next = NULL;
    }
  }
  it->head = it->tail = NULL;
  it->yielded = it->n;
  pthread_mutex_unlock(&done_lock);
}

/* The thread_pool executor: a pool created before timing; run() is map(). */
struct tp_executor {
  struct cl_executor base;
  struct cl_thread_pool *pool;
  struct cl_gil *gil;
};

static int tp_create(const struct cl_exec_config *cfg, struct cl_executor **out) {
  int rc = cl__exec_check_config("thread_pool", cfg, true);
  if (rc) return rc;
  struct tp_executor *ex = calloc(1, sizeof *ex);
  if (!ex) return cl_error_set(CL_ENOMEM, "thread_pool: out of memory");
  rc = cl__exec_gil_create(cfg, &ex->gil);
  if (rc) goto fail_free;
  rc = cl_thread_pool_create(cfg->workers, cfg, &ex->pool);
  if (rc) goto fail_gil;
  ex->base.ops = &cl__exec_thread_pool;
  ex->base.cfg = *cfg;
  *out = &ex->base;
  return 0;

fail_gil:
  cl_gil_destroy(ex->gil);
fail_free:
  free(ex);
  return rc;
}

static int tp_run(struct cl_executor *base, struct cl_batch *batch) {
  struct tp_executor *ex = (struct tp_executor *)base;
  return cl__thread_pool_map(ex->pool, batch, ex->gil);
}

static void tp_destroy(struct cl_executor *base) {
  if (!base) return;
  struct tp_executor *ex = (struct tp_executor *)base;
  cl_thread_pool_destroy(ex->pool, CL_POOL_DRAIN);
  cl_gil_destroy(ex->gil);
  free(ex);
}

const struct cl_executor_ops cl__exec_thread_pool = {
    .name = "thread_pool",
    .summary = "fixed workers pulling tasks from one queue (seed ex. 67, ThreadPoolExecutor)",
    .flags = CL_EXEC_PARALLEL | CL_EXEC_GIL_CAPABLE | CL_EXEC_BINDS,
    .create = tp_create,
    .run = tp_run,
    .destroy = tp_destroy,
};
