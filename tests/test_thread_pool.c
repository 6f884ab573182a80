/* The thread pool's futures: submit, wait, done, as_completed, shutdown. */
#include "cl_test.h"
#include "test_exec_common.h"

#include "conlab/error.h"
#include "conlab/thread_pool.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

enum { MS = 1000 }; /* usleep units */

/* A job: counts its runs, optionally waits for a gate, returns a value. */
struct job {
  atomic_int runs;
  sem_t gate, started;
  bool gated;
  unsigned sleep_us;
  uint64_t value;
};

static uint64_t job_fn(void *arg) {
  struct job *j = arg;
  atomic_fetch_add(&j->runs, 1);
  if (j->gated) {
    sem_post(&j->started);
    while (sem_wait(&j->gate) != 0) {
    }
  }
  if (j->sleep_us) usleep(j->sleep_us);
  return j->value;
}

static void job_init(struct job *j, uint64_t value, bool gated, unsigned sleep_us) {
  atomic_init(&j->runs, 0);
  sem_init(&j->gate, 0, 0);
  sem_init(&j->started, 0, 0);
  j->gated = gated;
  j->sleep_us = sleep_us;
  j->value = value;
}

static void job_fini(struct job *j) {
  sem_destroy(&j->gate);
  sem_destroy(&j->started);
}

static void test_submit_wait(void) {
  enum { N = 10 };
  struct cl_thread_pool *pool = NULL;
  CHECK_EQ_INT(cl_thread_pool_create(3, NULL, &pool), 0);
  CHECK_EQ_INT(cl_thread_pool_workers(pool), 3);
  struct job jobs[N];
  struct cl_future fut[N] = {0};
  for (int i = 0; i < N; i++) {
    job_init(&jobs[i], 1000u + (uint64_t)i * i, false, (unsigned)(N - i) * MS);
    CHECK_EQ_INT(cl_thread_pool_submit(pool, &fut[i], job_fn, &jobs[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    uint64_t v = 0;
    CHECK_EQ_INT(cl_future_wait(&fut[i], &v), 0);
    CHECK_EQ_U64(v, 1000u + (uint64_t)i * i);
    CHECK(cl_future_done(&fut[i]));
  }
  /* Waiting again on a finished future returns at once, same value. */
  double t0 = tx_now();
  for (int r = 0; r < 1000; r++) {
    uint64_t v = 0;
    CHECK_EQ_INT(cl_future_wait(&fut[3], &v), 0);
    if (v != 1009) CHECK_EQ_U64(v, 1009);
  }
  CHECK_LE(tx_now() - t0, 0.5);
  CHECK_EQ_INT(cl_future_wait(&fut[4], NULL), 0);
  CHECK_EQ_INT(cl_thread_pool_destroy(pool, CL_POOL_DRAIN), 0);
  for (int i = 0; i < N; i++) {
    CHECK_EQ_INT(atomic_load(&jobs[i].runs), 1);
    job_fini(&jobs[i]);
  }
  /* Futures outlive their pool. */
  CHECK(cl_future_done(&fut[0]));
  uint64_t v = 0;
  CHECK_EQ_INT(cl_future_wait(&fut[9], &v), 0);
  CHECK_EQ_U64(v, 1081);
}

static void test_states(void) {
  struct cl_thread_pool *pool = NULL;
  CHECK_EQ_INT(cl_thread_pool_create(1, NULL, &pool), 0);
  struct cl_future never = {0}, f = {0}, g = {0};
  CHECK(!cl_future_done(&never));
  CHECK_EQ_INT(cl_future_wait(&never, NULL), CL_ESTATE);
  struct job j;
  job_init(&j, 7, true, 0);
  CHECK_EQ_INT(cl_thread_pool_submit(pool, &f, job_fn, &j), 0);
  while (sem_wait(&j.started) != 0) {
  }
  CHECK(!cl_future_done(&f));
  /* A pending future cannot be submitted again. */
  CHECK_EQ_INT(cl_thread_pool_submit(pool, &f, job_fn, &j), CL_ESTATE);
  CHECK_EQ_INT(cl_thread_pool_submit(NULL, &g, job_fn, &j), CL_EINVAL);
  CHECK_EQ_INT(cl_thread_pool_submit(pool, &g, NULL, &j), CL_EINVAL);
  /* as_completed rejects a never-submitted future, a NULL and a duplicate,
   * and leaves nothing watched behind. */
  struct cl_as_completed it;
  struct cl_future *bad1[2] = {&f, &never};
  CHECK_EQ_INT(cl_as_completed_init(&it, bad1, 2), CL_ESTATE);
  struct cl_future *bad2[2] = {&f, NULL};
  CHECK_EQ_INT(cl_as_completed_init(&it, bad2, 2), CL_EINVAL);
  struct cl_future *bad3[2] = {&f, &f};
  CHECK_EQ_INT(cl_as_completed_init(&it, bad3, 2), CL_EINVAL);
  struct cl_future *one[1] = {&f};
  CHECK_EQ_INT(cl_as_completed_init(&it, one, 1), 0);
  struct cl_as_completed it2;
  CHECK_EQ_INT(cl_as_completed_init(&it2, one, 1), CL_ESTATE);
  sem_post(&j.gate);
  struct cl_future *out = NULL;
  CHECK_EQ_INT(cl_as_completed_next(&it, &out), 0);
  CHECK(out == &f);
  CHECK_EQ_INT(cl_as_completed_next(&it, &out), CL_EEMPTY);
  CHECK_EQ_INT(cl_as_completed_next(&it, &out), CL_EEMPTY);
  /* Done futures can be submitted again, and complete again. */
  j.gated = false;
  j.value = 8;
  CHECK_EQ_INT(cl_thread_pool_submit(pool, &f, job_fn, &j), 0);
  uint64_t v = 0;
  CHECK_EQ_INT(cl_future_wait(&f, &v), 0);
  CHECK_EQ_U64(v, 8);
  CHECK_EQ_INT(atomic_load(&j.runs), 2);
  struct cl_as_completed empty;
  CHECK_EQ_INT(cl_as_completed_init(&empty, NULL, 0), 0);
  CHECK_EQ_INT(cl_as_completed_next(&empty, &out), CL_EEMPTY);
  CHECK_EQ_INT(cl_thread_pool_destroy(pool, (enum cl_pool_shutdown)5), CL_EINVAL);
  CHECK_EQ_INT(cl_thread_pool_destroy(pool, CL_POOL_DRAIN), 0);
  CHECK_EQ_INT(cl_thread_pool_destroy(NULL, CL_POOL_DRAIN), 0);
  job_fini(&j);

  CHECK_EQ_INT(cl_thread_pool_create(0, NULL, &pool), CL_EINVAL);
  CHECK_EQ_INT(cl_thread_pool_create(100000, NULL, &pool), CL_ERANGE);
}

/* Releases gated jobs in a chosen order, each only after the previous one
 * completed, so that the completion order is known. */
struct releaser {
  struct job *jobs;
  struct cl_future *fut;
  const int *order;
  int n;
};

static void *release_in_order(void *arg) {
  struct releaser *r = arg;
  for (int k = 0; k < r->n; k++) {
    int i = r->order[k];
    while (sem_wait(&r->jobs[i].started) != 0) {
    }
    sem_post(&r->jobs[i].gate);
    cl_future_wait(&r->fut[i], NULL);
  }
  return NULL;
}

static void test_as_completed_order(void) {
  enum { N = 6 };
  static const int order[N] = {4, 1, 5, 0, 3, 2};
  struct cl_thread_pool *pool = NULL;
  CHECK_EQ_INT(cl_thread_pool_create(N, NULL, &pool), 0);
  struct job jobs[N];
  struct cl_future fut[N] = {0};
  struct cl_future *set[N];
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < N; i++) {
      job_init(&jobs[i], 100u + (uint64_t)i, true, 0);
      CHECK_EQ_INT(cl_thread_pool_submit(pool, &fut[i], job_fn, &jobs[i]), 0);
      set[i] = &fut[i];
    }
    struct releaser r = {jobs, fut, order, N};
    pthread_t th;
    struct cl_as_completed it;
    if (round == 0) {
      /* Iterate while they complete. */
      CHECK_EQ_INT(cl_as_completed_init(&it, set, N), 0);
      pthread_create(&th, NULL, release_in_order, &r);
    } else {
      /* All done before the iteration starts: still completion order. */
      release_in_order(&r);
      CHECK_EQ_INT(cl_as_completed_init(&it, set, N), 0);
    }
    struct cl_future *out = NULL;
    int k = 0;
    while (cl_as_completed_next(&it, &out) == 0) {
      CHECK(k < N);
      if (k < N) CHECK(out == &fut[order[k]]);
      uint64_t v = 0;
      CHECK_EQ_INT(cl_future_wait(out, &v), 0);
      CHECK_EQ_U64(v, 100u + (uint64_t)(out - fut));
      k++;
    }
    CHECK_EQ_INT(k, N);
    if (round == 0) pthread_join(th, NULL);
    for (int i = 0; i < N; i++) {
      CHECK_EQ_INT(atomic_load(&jobs[i].runs), 1);
      job_fini(&jobs[i]);
    }
  }
  CHECK_EQ_INT(cl_thread_pool_destroy(pool, CL_POOL_DRAIN), 0);
}

/* Many futures, two submitting threads, two pools, one iterator: each
 * future runs once and is yielded once. */
struct submitter {
  struct cl_thread_pool *pool;
  struct cl_future *fut;
  struct job *jobs;
  int n;
  int errors;
};

static void *submit_all(void *arg) {
  struct submitter *s = arg;
  for (int i = 0; i < s->n; i++)
    if (cl_thread_pool_submit(s->pool, &s->fut[i], job_fn, &s->jobs[i]) != 0) s->errors++;
  return NULL;
}

static void test_many(void) {
  enum { N = 2000 };
  static struct job jobs[N];
  static struct cl_future fut[N];
  static struct cl_future *set[N];
  static unsigned char seen[N];
  struct cl_thread_pool *a = NULL, *b = NULL;
  CHECK_EQ_INT(cl_thread_pool_create(3, NULL, &a), 0);
  CHECK_EQ_INT(cl_thread_pool_create(2, NULL, &b), 0);
  for (int i = 0; i < N; i++) {
    job_init(&jobs[i], (uint64_t)i * 3 + 1, false, 0);
    cl_future_init(&fut[i]);
    set[i] = &fut[i];
  }
  struct submitter s1 = {a, fut, jobs, N / 2, 0};
  struct submitter s2 = {b, fut + N / 2, jobs + N / 2, N / 2, 0};
  pthread_t t1, t2;
  pthread_create(&t1, NULL, submit_all, &s1);
  pthread_create(&t2, NULL, submit_all, &s2);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  CHECK_EQ_INT(s1.errors + s2.errors, 0);
  struct cl_as_completed it;
  CHECK_EQ_INT(cl_as_completed_init(&it, set, N), 0);
  struct cl_future *out = NULL;
  int count = 0, dup = 0, wrong = 0;
  uint64_t last_seq = 0;
  while (cl_as_completed_next(&it, &out) == 0) {
    long i = out - fut;
    if (seen[i]++) dup++;
    uint64_t v = 0;
    if (cl_future_wait(out, &v) != 0 || v != (uint64_t)i * 3 + 1) wrong++;
    if (out->seq <= last_seq) wrong++; /* completion order */
    last_seq = out->seq;
    count++;
  }
  CHECK_EQ_INT(count, N);
  CHECK_EQ_INT(dup, 0);
  CHECK_EQ_INT(wrong, 0);
  CHECK_EQ_INT(cl_thread_pool_destroy(a, CL_POOL_DRAIN), 0);
  CHECK_EQ_INT(cl_thread_pool_destroy(b, CL_POOL_CANCEL), 0);
  int runs_bad = 0;
  for (int i = 0; i < N; i++) {
    if (atomic_load(&jobs[i].runs) != 1) runs_bad++;
    job_fini(&jobs[i]);
  }
  CHECK_EQ_INT(runs_bad, 0);
}

/* An iteration ended early leaves its futures free for another. */
static void test_end_early(void) {
  enum { N = 4 };
  struct cl_thread_pool *pool = NULL;
  CHECK_EQ_INT(cl_thread_pool_create(2, NULL, &pool), 0);
  struct job jobs[N];
  struct cl_future fut[N] = {0};
  struct cl_future *set[N];
  for (int i = 0; i < N; i++) {
    job_init(&jobs[i], (uint64_t)i, false, 2 * MS);
    CHECK_EQ_INT(cl_thread_pool_submit(pool, &fut[i], job_fn, &jobs[i]), 0);
    set[i] = &fut[i];
  }
  struct cl_as_completed it, again;
  CHECK_EQ_INT(cl_as_completed_init(&it, set, N), 0);
  struct cl_future *out = NULL;
  CHECK_EQ_INT(cl_as_completed_next(&it, &out), 0);
  cl_as_completed_end(&it);
  CHECK_EQ_INT(cl_as_completed_next(&it, &out), CL_EEMPTY);
  CHECK_EQ_INT(cl_as_completed_init(&again, set, N), 0);
  int count = 0;
  while (cl_as_completed_next(&again, &out) == 0)
    count++;
  CHECK_EQ_INT(count, N);
  CHECK_EQ_INT(cl_thread_pool_destroy(pool, CL_POOL_DRAIN), 0);
  for (int i = 0; i < N; i++)
    job_fini(&jobs[i]);
}

/* Shutdown with queued work: drain runs it, cancel completes it with
 * CL_ECANCELED; the running future finishes either way. */
/* Opens the gate after a delay, or (cancel) once `after` is done. */
struct delayed_post {
  sem_t *sem;
  unsigned delay_us;
  struct cl_future *after;
};

static void *post_later(void *arg) {
  struct delayed_post *d = arg;
  if (d->after) cl_future_wait(d->after, NULL);
  usleep(d->delay_us);
  sem_post(d->sem);
  return NULL;
}

static void test_shutdown(enum cl_pool_shutdown mode) {
  enum { N = 10 };
  struct cl_thread_pool *pool = NULL;
  CHECK_EQ_INT(cl_thread_pool_create(1, NULL, &pool), 0);
  struct job jobs[N];
  struct cl_future fut[N] = {0};
  struct cl_future *set[N];
  for (int i = 0; i < N; i++) {
    job_init(&jobs[i], 500u + (uint64_t)i, i == 0, 1 * MS);
    CHECK_EQ_INT(cl_thread_pool_submit(pool, &fut[i], job_fn, &jobs[i]), 0);
    set[i] = &fut[i];
  }
  /* Job 0 is running (on the only worker), jobs 1..9 are queued. */
  while (sem_wait(&jobs[0].started) != 0) {
  }
  struct cl_as_completed it;
  CHECK_EQ_INT(cl_as_completed_init(&it, set, N), 0);
  struct delayed_post d = {&jobs[0].gate, 50 * MS, mode == CL_POOL_CANCEL ? &fut[N - 1] : NULL};
  pthread_t th;
  pthread_create(&th, NULL, post_later, &d);
  CHECK_EQ_INT(cl_thread_pool_destroy(pool, mode), 0);
  pthread_join(th, NULL);
  uint64_t v = 0;
  CHECK_EQ_INT(cl_future_wait(&fut[0], &v), 0);
  CHECK_EQ_U64(v, 500);
  for (int i = 1; i < N; i++) {
    v = 99;
    int rc = cl_future_wait(&fut[i], &v);
    if (mode == CL_POOL_DRAIN) {
      CHECK_EQ_INT(rc, 0);
      CHECK_EQ_U64(v, 500u + (uint64_t)i);
      CHECK_EQ_INT(atomic_load(&jobs[i].runs), 1);
    } else {
      CHECK_EQ_INT(rc, CL_ECANCELED);
      CHECK_EQ_U64(v, 0);
      CHECK_EQ_INT(atomic_load(&jobs[i].runs), 0);
    }
  }
  /* Each future is yielded exactly once, whatever the mode. For cancel, the
   * cancelled ones completed before the running one was let go. */
  struct cl_future *out = NULL;
  int count = 0, first_zero_at = -1;
  while (cl_as_completed_next(&it, &out) == 0) {
    if (out == &fut[0]) first_zero_at = count;
    count++;
  }
  CHECK_EQ_INT(count, N);
  CHECK_EQ_INT(first_zero_at, mode == CL_POOL_DRAIN ? 0 : N - 1);
  for (int i = 0; i < N; i++)
    job_fini(&jobs[i]);
}

/* A pool thread may submit, but cannot destroy its own pool. */
static struct cl_thread_pool *self_pool;
static struct cl_future inner;
static struct job inner_job;

static uint64_t destroy_self(void *arg) {
  (void)arg;
  return (uint64_t)(-cl_thread_pool_destroy(self_pool, CL_POOL_DRAIN));
}

static uint64_t submit_inner(void *arg) {
  (void)arg;
  return (uint64_t)(-cl_thread_pool_submit(self_pool, &inner, job_fn, &inner_job));
}

static void test_from_worker(void) {
  CHECK_EQ_INT(cl_thread_pool_create(2, NULL, &self_pool), 0);
  job_init(&inner_job, 77, false, 0);
  struct cl_future f = {0}, g = {0};
  CHECK_EQ_INT(cl_thread_pool_submit(self_pool, &f, destroy_self, NULL), 0);
  uint64_t v = 0;
  CHECK_EQ_INT(cl_future_wait(&f, &v), 0);
  CHECK_EQ_U64(v, (uint64_t)-CL_ESTATE);
  CHECK_EQ_INT(cl_thread_pool_submit(self_pool, &g, submit_inner, NULL), 0);
  CHECK_EQ_INT(cl_future_wait(&g, &v), 0);
  CHECK_EQ_U64(v, 0);
  CHECK_EQ_INT(cl_future_wait(&inner, &v), 0);
  CHECK_EQ_U64(v, 77);
  CHECK_EQ_INT(cl_thread_pool_destroy(self_pool, CL_POOL_DRAIN), 0);
  job_fini(&inner_job);
}

/* Round trips from several threads at once, each reusing one future: the
 * poll paths (an idle worker polling for work, a waiter polling its future)
 * meet sleeping workers and sleeping waiters, on more threads than cores.
 * Every result must come back exactly once and to the right caller. */
struct round_trips {
  struct cl_thread_pool *pool;
  unsigned id, n, wrong;
};

static uint64_t echo_fn(void *arg) {
  return (uint64_t)(uintptr_t)arg;
}

static void *round_trip_main(void *arg) {
  struct round_trips *r = arg;
  struct cl_future f;
  cl_future_init(&f);
  for (unsigned i = 0; i < r->n; i++) {
    uint64_t want = (uint64_t)r->id << 32 | i, got = 0;
    if (cl_thread_pool_submit(r->pool, &f, echo_fn, (void *)(uintptr_t)want) != 0 ||
        cl_future_wait(&f, &got) != 0 || got != want || !cl_future_done(&f))
      r->wrong++;
    if (i % 97 == 0) usleep(200); /* let the workers fall asleep now and then */
  }
  return NULL;
}

static void test_round_trips(unsigned workers, unsigned callers) {
  enum { ROUNDS = 3000 };
  struct cl_thread_pool *pool = NULL;
  CHECK_EQ_INT(cl_thread_pool_create(workers, NULL, &pool), 0);
  if (!pool) return;
  struct round_trips r[8];
  pthread_t tid[8];
  for (unsigned k = 0; k < callers; k++) {
    r[k] = (struct round_trips){pool, k, ROUNDS, 0};
    CHECK_EQ_INT(pthread_create(&tid[k], NULL, round_trip_main, &r[k]), 0);
  }
  unsigned wrong = 0;
  for (unsigned k = 0; k < callers; k++) {
    pthread_join(tid[k], NULL);
    wrong += r[k].wrong;
  }
  CL_T_REPORT(wrong == 0, "%u workers, %u callers: %u wrong round trips", workers, callers, wrong);
  CHECK_EQ_INT(cl_thread_pool_destroy(pool, CL_POOL_DRAIN), 0);
}

int main(void) {
  test_submit_wait();
  test_round_trips(1, 1);
  test_round_trips(2, 4);
  test_round_trips(8, 3);
  test_states();
  test_as_completed_order();
  test_many();
  test_end_early();
  test_shutdown(CL_POOL_DRAIN);
  test_shutdown(CL_POOL_CANCEL);
  test_from_worker();
  return CL_TEST_DONE();
}
