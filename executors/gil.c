#include "conlab/gil.h"

#include "conlab/error.h"
#include "conlab/kernel.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Thread_local struct cl_gil *cl__tls_gil;

enum { DEFAULT_INTERVAL_NS = 5000000 };

struct cl_gil {
  pthread_mutex_t mutex;
  /* `cond` is signalled when the lock is released; `switch_cond` is broadcast
   * when a thread takes it (switch_number changes). */
  pthread_cond_t cond;
  pthread_cond_t switch_cond;
  /* `locked`, `switch_number` and the counters are protected by `mutex`. */
  bool locked;
  uint64_t switch_number;
  struct cl_gil_stats stats;
  /* `drop_request` is written only with `mutex` held and only while `locked`
   * is true; the holder reads it without the mutex at every yield point. */
  atomic_bool drop_request;
  uint64_t interval_ns;
};

static void deadline_after(struct timespec *ts, uint64_t ns) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  uint64_t nsec = (uint64_t)ts->tv_nsec + ns % 1000000000u;
  ts->tv_sec += (time_t)(ns / 1000000000u + nsec / 1000000000u);
  ts->tv_nsec = (long)(nsec % 1000000000u);
}

int cl_gil_create(uint64_t interval_ns, struct cl_gil **out) {
  struct cl_gil *gil = calloc(1, sizeof *gil);
  if (!gil) return cl_error_set(CL_ENOMEM, "GIL: out of memory");
  gil->interval_ns = interval_ns ? interval_ns : DEFAULT_INTERVAL_NS;
  atomic_init(&gil->drop_request, false);
  pthread_condattr_t attr;
  int rc = pthread_condattr_init(&attr);
  if (rc) goto fail_free;
  rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rc) goto fail_attr;
  rc = pthread_mutex_init(&gil->mutex, NULL);
  if (rc) goto fail_attr;
  rc = pthread_cond_init(&gil->cond, &attr);
  if (rc) goto fail_mutex;
  rc = pthread_cond_init(&gil->switch_cond, &attr);
  if (rc) goto fail_cond;
  pthread_condattr_destroy(&attr);
  *out = gil;
  return 0;

fail_cond:
  pthread_cond_destroy(&gil->cond);
fail_mutex:
  pthread_mutex_destroy(&gil->mutex);
fail_attr:
  pthread_condattr_destroy(&attr);
fail_free:
  free(gil);
  return cl_error_set(CL_ESYS, "GIL: initialising its mutex or condition failed: %s", strerror(rc));
}

void cl_gil_destroy(struct cl_gil *gil) {
  if (!gil) return;
  pthread_cond_destroy(&gil->switch_cond);
  pthread_cond_destroy(&gil->cond);
  pthread_mutex_destroy(&gil->mutex);
  free(gil);
}

/* Takes the lock; `mutex` is held on entry and on return. A waiter that sees
 * the same holder for a whole interval sets the drop request. */
static void take_locked(struct cl_gil *gil) {
  while (gil->locked) {
    uint64_t seen = gil->switch_number;
    struct timespec deadline;
    deadline_after(&deadline, gil->interval_ns);
    bool timed_out = false;
    while (gil->locked && gil->switch_number == seen && !timed_out)
      timed_out = pthread_cond_timedwait(&gil->cond, &gil->mutex, &deadline) == ETIMEDOUT;
    if (gil->locked && gil->switch_number == seen &&
        !atomic_load_explicit(&gil->drop_request, memory_order_relaxed)) {
      atomic_store_explicit(&gil->drop_request, true, memory_order_relaxed);
      gil->stats.drop_requests++;
    }
  }
  gil->locked = true;
  gil->switch_number++;
  gil->stats.acquisitions++;
  atomic_store_explicit(&gil->drop_request, false, memory_order_relaxed);
  pthread_cond_broadcast(&gil->switch_cond);
}

void cl_gil_acquire(struct cl_gil *gil) {
  pthread_mutex_lock(&gil->mutex);
  take_locked(gil);
  pthread_mutex_unlock(&gil->mutex);
  cl__tls_gil = gil;
}

void cl_gil_release(struct cl_gil *gil) {
  cl__tls_gil = NULL;
  pthread_mutex_lock(&gil->mutex);
  gil->locked = false;
  pthread_cond_signal(&gil->cond);
  pthread_mutex_unlock(&gil->mutex);
}

void cl__gil_yield(struct cl_gil *gil) {
  if (!atomic_load_explicit(&gil->drop_request, memory_order_relaxed)) return;
  pthread_mutex_lock(&gil->mutex);
  if (atomic_load_explicit(&gil->drop_request, memory_order_relaxed)) {
    uint64_t mine = gil->switch_number;
    gil->locked = false;
    gil->stats.forced_switches++;
    pthread_cond_signal(&gil->cond);
    /* The waiter that set the request only leaves by taking the lock, so the
     * switch number is bound to change: FORCE_SWITCHING. */
    while (gil->switch_number == mine)
      pthread_cond_wait(&gil->switch_cond, &gil->mutex);
    take_locked(gil);
  }
  pthread_mutex_unlock(&gil->mutex);
}

void cl_gil_stats(struct cl_gil *gil, struct cl_gil_stats *out) {
  pthread_mutex_lock(&gil->mutex);
  *out = gil->stats;
  pthread_mutex_unlock(&gil->mutex);
}

uint64_t cl_gil_interval_ns(const struct cl_gil *gil) {
  return gil->interval_ns;
}
