/* The event loop on its own: timer heap order and ties, timers under a fake
 * clock, gather, FIRST_COMPLETED, cancel, await, deadlock, task-local
 * storage, descriptor waits, and no descriptor left behind. */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/event_loop.h"
#include "executors/event_loop_internal.h"

#include <dirent.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MS UINT64_C(1000000)

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- The heap, against a reference. ---- */

struct item {
  struct cl_heap_node node;
  uint64_t key, seq;
  bool in;
};

static struct item *item_of(const struct cl_heap_node *n) {
  return (struct item *)((const char *)n - offsetof(struct item, node));
}

static bool item_less(const struct cl_heap_node *a, const struct cl_heap_node *b) {
  const struct item *x = item_of(a), *y = item_of(b);
  return x->key != y->key ? x->key < y->key : x->seq < y->seq;
}

static void test_heap(void) {
  enum { N = 2000 };
  static struct item items[N];
  struct cl__heap h;
  cl__heap_init(&h);
  CHECK(cl__heap_min(&h) == NULL);
  uint64_t seq = 0;
  unsigned rnd = 12345;
  /* Insert everything with few distinct keys (many ties), remove a third at
   * random, then pop the rest and check order and tie order. */
  for (int i = 0; i < N; i++) {
    rnd = rnd * 1103515245u + 12345u;
    items[i].key = (rnd >> 16) % 50;
    items[i].seq = ++seq;
    items[i].in = true;
    cl__heap_insert(&h, &items[i].node, item_less);
  }
  CHECK_EQ_U64(h.n, N);
  for (int i = 0; i < N; i += 3) {
    cl__heap_remove(&h, &items[i].node, item_less);
    items[i].in = false;
  }
  size_t left = 0;
  for (int i = 0; i < N; i++)
    left += items[i].in;
  CHECK_EQ_U64(h.n, left);
  int bad = 0;
  const struct item *prev = NULL;
  size_t popped = 0;
  while (cl__heap_min(&h)) {
    const struct item *m = item_of(cl__heap_min(&h));
    cl__heap_pop(&h, item_less);
    if (!m->in) bad++;
    if (prev && (prev->key > m->key || (prev->key == m->key && prev->seq > m->seq))) bad++;
    prev = m;
    popped++;
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_U64(popped, left);
  CHECK_EQ_U64(h.n, 0);

  /* Reinsert into an emptied heap, then remove the root and a leaf. */
  for (int i = 0; i < 7; i++) {
    items[i].key = (uint64_t)(7 - i);
    items[i].seq = ++seq;
    cl__heap_insert(&h, &items[i].node, item_less);
  }
  CHECK(item_of(cl__heap_min(&h)) == &items[6]);
  cl__heap_remove(&h, &items[6].node, item_less);
  cl__heap_remove(&h, &items[0].node, item_less);
  CHECK(item_of(cl__heap_min(&h)) == &items[5]);
  CHECK_EQ_U64(h.n, 5);
}

/* ---- The loop's array heap, against a reference. ---- */

/* Every entry's coroutine knows its slot, and no child is before its parent. */
static int timerq_broken(const struct cl__timerq *q) {
  int bad = 0;
  for (size_t i = 0; i < q->n; i++) {
    if (q->v[i].co->timer_slot != i) bad++;
    if (i > 0) {
      const struct cl__timer *p = &q->v[(i - 1) / 4], *c = &q->v[i];
      if (c->deadline < p->deadline || (c->deadline == p->deadline && c->seq < p->seq)) bad++;
    }
  }
  return bad;
}

static void test_timerq(void) {
  enum { N = 3000 };
  static struct cl_coro co[N];
  static uint64_t key[N];
  static bool in[N];
  struct cl__timerq q;
  cl__timerq_init(&q);
  CHECK(cl__timerq_min(&q) == NULL);
  CHECK_EQ_INT(cl__timerq_reserve(&q, N), 0);
  CHECK(q.cap >= N);
  unsigned rnd = 777;
  uint64_t seq = 0;
  /* Few distinct keys (many ties); remove a third from the middle, at
   * random, interleaved with the inserts. */
  for (int i = 0; i < N; i++) {
    rnd = rnd * 1103515245u + 12345u;
    key[i] = (rnd >> 16) % 40;
    cl__timerq_insert(&q, (struct cl__timer){.deadline = key[i], .seq = ++seq, .co = &co[i]});
    in[i] = true;
    if (i % 3 == 2) {
      int j = (int)((rnd >> 8) % (unsigned)(i + 1));
      if (in[j]) {
        cl__timerq_remove(&q, co[j].timer_slot);
        in[j] = false;
      }
    }
  }
  CHECK_EQ_INT(timerq_broken(&q), 0);
  size_t left = 0;
  for (int i = 0; i < N; i++)
    left += in[i];
  CHECK_EQ_U64(q.n, left);
  CHECK(left < N);
  /* Pop in order: by key, ties by insertion (index order here). */
  int bad = 0;
  long prev = -1;
  size_t popped = 0;
  const struct cl__timer *m;
  while ((m = cl__timerq_min(&q)) != NULL) {
    long i = m->co - co;
    if (!in[i] || m->deadline != key[i]) bad++;
    if (prev >= 0 && (key[prev] > key[i] || (key[prev] == key[i] && prev > i))) bad++;
    in[i] = false;
    prev = i;
    cl__timerq_remove(&q, 0);
    popped++;
    if (popped % 256 == 0) bad += timerq_broken(&q);
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_U64(popped, left);
  CHECK_EQ_U64(q.n, 0);

  /* Removing the root, one from the middle, the last one; then growth. */
  for (int i = 0; i < 6; i++)
    cl__timerq_insert(
        &q, (struct cl__timer){.deadline = (uint64_t)(6 - i), .seq = ++seq, .co = &co[i]});
  CHECK(cl__timerq_min(&q)->co == &co[5]);
  cl__timerq_remove(&q, 0);
  cl__timerq_remove(&q, co[0].timer_slot);
  CHECK(cl__timerq_min(&q)->co == &co[4]);
  cl__timerq_remove(&q, q.n - 1);
  CHECK_EQ_U64(q.n, 3);
  CHECK_EQ_INT(timerq_broken(&q), 0);
  CHECK(cl__timerq_min(&q)->co == &co[4]);
  size_t cap = q.cap;
  CHECK_EQ_INT(cl__timerq_reserve(&q, cap + 1), 0);
  CHECK(q.cap > cap);
  CHECK_EQ_INT(timerq_broken(&q), 0);
  CHECK(cl__timerq_min(&q)->co == &co[4] && cl__timerq_min(&q)->deadline == 2);
  cl__timerq_free(&q);
  CHECK(q.v == NULL && q.n == 0);
}

/* ---- Coroutines used below. ---- */

static int order_log[64];
static int order_n;

struct sleeper {
  uint64_t ns;
  int id;
  int runs;
  int saw;  /* the wait status it saw */
  int fail; /* when not 0: the status it finishes with */
};

static int sleeper_fn(struct cl_coro *co, void *arg) {
  struct sleeper *s = arg;
  s->runs++;
  if (co->pc == 0) {
    co->pc = 1;
    cl_coro_sleep(co, s->ns);
    return CL_CORO_PENDING;
  }
  s->saw = cl_coro_wait_status(co);
  order_log[order_n++] = s->id;
  if (s->saw) return cl_coro_return(co, s->saw, 0);
  if (s->fail) return cl_coro_return(co, s->fail, 0);
  return cl_coro_return(co, 0, (uint64_t)s->id * 100);
}

static void test_timers_fake_clock(void) {
  struct cl_manual_clock mc;
  struct cl_loop_clock clk;
  cl_manual_clock_init(&mc, 1000 * MS, &clk);
  struct cl_loop *loop;
  CHECK_EQ_INT(cl_loop_create(&clk, &loop), 0);
  /* Long virtual delays: the run must not sleep them in real time. */
  struct sleeper s[6] = {{30000 * MS, 0, 0, 0, 0}, {10000 * MS, 1, 0, 0, 0},
                         {20000 * MS, 2, 0, 0, 0}, {10000 * MS, 3, 0, 0, 0},
                         {0, 4, 0, 0, 0},          {10000 * MS, 5, 0, 0, 0}};
  struct cl_coro co[6] = {0};
  order_n = 0;
  for (int i = 0; i < 6; i++)
    CHECK_EQ_INT(cl_loop_spawn(loop, &co[i], sleeper_fn, &s[i]), 0);
  CHECK_EQ_U64(cl_loop_pending(loop), 6);
  double t0 = now_s();
  CHECK_EQ_INT(cl_loop_run(loop), 0);
  CHECK_LE(now_s() - t0, 5.0);
  int want[6] = {4, 1, 3, 5, 2, 0}; /* equal deadlines in the order armed */
  CHECK_EQ_INT(order_n, 6);
  for (int i = 0; i < 6; i++)
    CHECK_EQ_INT(order_log[i], want[i]);
  CHECK_EQ_U64(mc.now_ns, 1000 * MS + 30000 * MS);
  CHECK_EQ_U64(cl_loop_now(loop), mc.now_ns);
  CHECK_EQ_U64(cl_loop_pending(loop), 0);

  /* Step by step with run_nowait: nothing fires before its deadline. */
  struct sleeper a = {10 * MS, 10, 0, 0, 0}, b = {20 * MS, 11, 0, 0, 0};
  struct cl_coro ca = {0}, cb = {0};
  order_n = 0;
  cl_loop_spawn(loop, &ca, sleeper_fn, &a);
  cl_loop_spawn(loop, &cb, sleeper_fn, &b);
  CHECK_EQ_INT(cl_loop_run_nowait(loop), 2); /* both start and arm their timers */
  cl_manual_clock_advance(&mc, 9 * MS);
  CHECK_EQ_INT(cl_loop_run_nowait(loop), 0);
  CHECK(!cl_coro_done(&ca));
  cl_manual_clock_advance(&mc, 1 * MS);
  CHECK_EQ_INT(cl_loop_run_nowait(loop), 1);
  CHECK(cl_coro_done(&ca));
  CHECK(!cl_coro_done(&cb));
  cl_manual_clock_advance(&mc, 10 * MS);
  CHECK_EQ_INT(cl_loop_run_nowait(loop), 1);
  CHECK(cl_coro_done(&cb));
  CHECK_EQ_INT(order_n, 2);
  CHECK_EQ_INT(order_log[0], 10);

  /* Many equal deadlines come out in spawn order. */
  enum { TIES = 40 };
  struct sleeper t[TIES];
  struct cl_coro ct[TIES];
  memset(ct, 0, sizeof ct);
  order_n = 0;
  for (int i = 0; i < TIES && i < 64; i++) {
    t[i] = (struct sleeper){5 * MS, i, 0, 0, 0};
    cl_loop_spawn(loop, &ct[i], sleeper_fn, &t[i]);
  }
  CHECK_EQ_INT(cl_loop_run(loop), 0);
  int unordered = 0;
  for (int i = 0; i < TIES; i++)
    unordered += order_log[i] != i;
  CHECK_EQ_INT(unordered, 0);
  cl_loop_destroy(loop);
}

static void test_gather_and_first(void) {
  struct cl_manual_clock mc;
  struct cl_loop_clock clk;
  cl_manual_clock_init(&mc, 0, &clk);
  struct cl_loop *loop;
  CHECK_EQ_INT(cl_loop_create(&clk, &loop), 0);

  /* gather: results in the order given, whatever the completion order. */
  struct sleeper s[4] = {
      {40 * MS, 1, 0, 0, 0}, {30 * MS, 2, 0, 0, 0}, {20 * MS, 3, 0, 0, 0}, {10 * MS, 4, 0, 0, 0}};
  struct cl_coro co[4] = {0};
  struct cl_coro *set[4];
  for (int i = 0; i < 4; i++) {
    set[i] = &co[i];
    cl_loop_spawn(loop, &co[i], sleeper_fn, &s[i]);
  }
  uint64_t res[4] = {0};
  order_n = 0;
  CHECK_EQ_INT(cl_loop_gather(loop, set, 4, res), 0);
  for (int i = 0; i < 4; i++)
    CHECK_EQ_U64(res[i], (uint64_t)(i + 1) * 100);
  CHECK_EQ_INT(order_log[0], 4); /* completed in reverse */
  CHECK_EQ_INT(order_log[3], 1);

  /* FIRST_COMPLETED: the fastest, even when listed last; the rest stay
   * pending until cancelled. */
  struct sleeper w[3] = {{3000 * MS, 1, 0, 0, 0}, {2000 * MS, 2, 0, 0, 0}, {1000 * MS, 3, 0, 0, 0}};
  struct cl_coro cw[3] = {0};
  struct cl_coro *wset[3] = {&cw[0], &cw[1], &cw[2]};
  for (int i = 0; i < 3; i++)
    cl_loop_spawn(loop, &cw[i], sleeper_fn, &w[i]);
  uint64_t t0 = mc.now_ns;
  size_t first = 99;
  CHECK_EQ_INT(cl_loop_wait_first(loop, wset, 3, &first), 0);
  CHECK_EQ_U64(first, 2);
  CHECK_EQ_U64(mc.now_ns - t0, 1000 * MS);
  CHECK(!cl_coro_done(&cw[0]) && !cl_coro_done(&cw[1]));
  uint64_t v = 0;
  CHECK_EQ_INT(cl_coro_result(&cw[2], &v), 0);
  CHECK_EQ_U64(v, 300);
  CHECK_EQ_INT(cl_coro_result(&cw[0], NULL), CL_ESTATE);
  CHECK_EQ_INT(cl_coro_cancel(&cw[0]), 0);
  CHECK_EQ_INT(cl_coro_cancel(&cw[1]), 0);
  CHECK_EQ_INT(cl_loop_run(loop), 0);
  CHECK_EQ_INT(cl_coro_result(&cw[0], NULL), CL_ECANCELED);
  CHECK_EQ_INT(w[0].saw, CL_ECANCELED);    /* it ran its cancellation path */
  CHECK_EQ_U64(mc.now_ns - t0, 1000 * MS); /* nobody waited for the cancelled timers */

  /* gather reports the first failure in list order, not in time. */
  struct sleeper f[3] = {
      {10 * MS, 1, 0, 0, 0}, {30 * MS, 2, 0, 0, CL_EIO}, {20 * MS, 3, 0, 0, CL_ENET}};
  struct cl_coro cf[3] = {0};
  struct cl_coro *fset[3] = {&cf[0], &cf[1], &cf[2]};
  for (int i = 0; i < 3; i++)
    cl_loop_spawn(loop, &cf[i], sleeper_fn, &f[i]);
  CHECK_EQ_INT(cl_loop_gather(loop, fset, 3, NULL), CL_EIO);
  CHECK_EQ_INT(cl_coro_result(&cf[0], NULL), 0);
  CHECK_EQ_INT(cl_coro_result(&cf[2], NULL), CL_ENET);

  CHECK_EQ_INT(cl_loop_wait_first(loop, fset, 0, &first), CL_EEMPTY);
  struct cl_coro never = {0};
  struct cl_coro *nset[1] = {&never};
  CHECK_EQ_INT(cl_loop_gather(loop, nset, 1, NULL), CL_EINVAL);
  cl_loop_destroy(loop);
}

/* Cancels itself while running, then waits: the wait ends at once. */
static int self_cancel_fn(struct cl_coro *co, void *arg) {
  int *saw = arg;
  if (co->pc == 0) {
    co->pc = 1;
    cl_coro_cancel(co);
    cl_coro_sleep(co, 1000 * MS);
    return CL_CORO_PENDING;
  }
  *saw = cl_coro_wait_status(co);
  return cl_coro_return(co, 0, 7); /* it chose to swallow the cancellation */
}

static void test_cancel(void) {
  struct cl_manual_clock mc;
  struct cl_loop_clock clk;
  cl_manual_clock_init(&mc, 0, &clk);
  struct cl_loop *loop;
  CHECK_EQ_INT(cl_loop_create(&clk, &loop), 0);

  /* Not started: done without running. */
  struct sleeper s0 = {10 * MS, 1, 0, 0, 0};
  struct cl_coro c0 = {0};
  cl_loop_spawn(loop, &c0, sleeper_fn, &s0);
  CHECK_EQ_INT(cl_coro_cancel(&c0), 0);
  CHECK(cl_coro_done(&c0));
  CHECK_EQ_INT(cl_coro_result(&c0, NULL), CL_ECANCELED);
  CHECK_EQ_INT(s0.runs, 0);
  CHECK_EQ_INT(cl_coro_cancel(&c0), CL_ESTATE);
  CHECK_EQ_U64(cl_loop_pending(loop), 0);

  /* Sleeping: woken early with CL_ECANCELED. */
  struct sleeper s1 = {5000 * MS, 2, 0, 0, 0};
  struct cl_coro c1 = {0};
  cl_loop_spawn(loop, &c1, sleeper_fn, &s1);
  cl_loop_run_nowait(loop);
  CHECK_EQ_INT(s1.runs, 1);
  CHECK_EQ_INT(cl_coro_cancel(&c1), 0);
  CHECK_EQ_INT(cl_loop_run(loop), 0);
  CHECK_EQ_INT(s1.runs, 2);
  CHECK_EQ_INT(s1.saw, CL_ECANCELED);
  CHECK_EQ_U64(mc.now_ns, 0);

  /* Running: the next wait is answered with CL_ECANCELED. */
  int saw = 0;
  struct cl_coro c2 = {0};
  cl_loop_spawn(loop, &c2, self_cancel_fn, &saw);
  CHECK_EQ_INT(cl_loop_run(loop), 0);
  CHECK_EQ_INT(saw, CL_ECANCELED);
  uint64_t v = 0;
  CHECK_EQ_INT(cl_coro_result(&c2, &v), 0);
  CHECK_EQ_U64(v, 7);
  CHECK_EQ_U64(mc.now_ns, 0);

  /* Never spawned. */
  struct cl_coro idle = {0};
  CHECK_EQ_INT(cl_coro_cancel(&idle), CL_ESTATE);
  cl_loop_destroy(loop);
}

/* await: `waiter` resumes once `target` is done and reads its result. */
struct awaiter {
  struct cl_coro *target;
  uint64_t seen;
};

static int awaiter_fn(struct cl_coro *co, void *arg) {
  struct awaiter *a = arg;
  if (co->pc == 0) {
    co->pc = 1;
    int rc = cl_coro_await(co, a->target);
    return rc ? rc : CL_CORO_PENDING;
  }
  if (cl_coro_wait_status(co)) return cl_coro_return(co, cl_coro_wait_status(co), 0);
  uint64_t v = 0;
  int st = cl_coro_result(a->target, &v);
  a->seen = v;
  return cl_coro_return(co, st, v + 1);
}

static void test_await_and_deadlock(void) {
  struct cl_manual_clock mc;
  struct cl_loop_clock clk;
  cl_manual_clock_init(&mc, 0, &clk);
  struct cl_loop *loop;
  CHECK_EQ_INT(cl_loop_create(&clk, &loop), 0);
  struct sleeper s = {25 * MS, 5, 0, 0, 0};
  struct cl_coro target = {0}, w1 = {0}, w2 = {0};
  struct awaiter a1 = {&target, 0}, a2 = {&target, 0};
  cl_loop_spawn(loop, &target, sleeper_fn, &s);
  cl_loop_spawn(loop, &w1, awaiter_fn, &a1);
  cl_loop_spawn(loop, &w2, awaiter_fn, &a2);
  uint64_t v = 0;
  CHECK_EQ_INT(cl_loop_run_until(loop, &w2), 0);
  CHECK_EQ_INT(cl_coro_result(&w2, &v), 0);
  CHECK_EQ_U64(v, 501);
  CHECK_EQ_U64(a1.seen, 500);
  CHECK_EQ_U64(mc.now_ns, 25 * MS);

  /* Two coroutines awaiting each other can never resume. */
  struct cl_coro x = {0}, y = {0};
  struct awaiter ax = {&y, 0}, ay = {&x, 0};
  cl_loop_spawn(loop, &x, awaiter_fn, &ax);
  cl_loop_spawn(loop, &y, awaiter_fn, &ay);
  CHECK_EQ_INT(cl_loop_run(loop), CL_ESTATE);
  CHECK(strstr(cl_error_detail(), "2 coroutines") != NULL);
  CHECK_EQ_INT(cl_coro_cancel(&x), 0); /* cancel breaks the cycle */
  CHECK_EQ_INT(cl_loop_run(loop), 0);
  CHECK_EQ_INT(cl_coro_result(&x, NULL), CL_ECANCELED);
  CHECK_EQ_INT(cl_coro_result(&y, NULL), CL_ECANCELED); /* what it read from x */
  CHECK_EQ_INT(cl_coro_await(&x, &x), CL_EINVAL);
  cl_loop_destroy(loop);
}

/* ---- Task-local storage (contextvars, seed ex. 70). ---- */

static struct cl_ctxvar request_id = {"none"};
static struct cl_ctxvar other_vars[CL_CORO_CTX_SLOTS];

struct request {
  const char *id;
  uint64_t delay;
  const char *seen_after;
  const char *child_seen;
  struct cl_coro child;
  int limit_rc;
};

static int child_fn(struct cl_coro *co, void *arg) {
  struct request *r = arg;
  r->child_seen = cl_ctxvar_get(&request_id);
  cl_ctxvar_set(&request_id, "child"); /* its own copy only */
  (void)co;
  return CL_CORO_DONE;
}

static int request_fn(struct cl_coro *co, void *arg) {
  struct request *r = arg;
  switch (co->pc) {
  case 0:
    co->pc = 1;
    cl_ctxvar_set(&request_id, (void *)r->id);
    cl_coro_sleep(co, r->delay);
    return CL_CORO_PENDING;
  case 1:
    co->pc = 2;
    cl_loop_spawn(cl_coro_loop(co), &r->child, child_fn, r);
    cl_coro_await(co, &r->child);
    return CL_CORO_PENDING;
  default:
    r->seen_after = cl_ctxvar_get(&request_id);
    /* One variable is set already; the slots run out after the rest. */
    r->limit_rc = 0;
    for (int i = 0; i < CL_CORO_CTX_SLOTS && !r->limit_rc; i++)
      r->limit_rc = cl_ctxvar_set(&other_vars[i], NULL);
    return CL_CORO_DONE;
  }
}

static void test_ctxvar(void) {
  struct cl_manual_clock mc;
  struct cl_loop_clock clk;
  cl_manual_clock_init(&mc, 0, &clk);
  struct cl_loop *loop;
  CHECK_EQ_INT(cl_loop_create(&clk, &loop), 0);
  struct request req[3] = {{"REQ-1", 30 * MS, 0, 0, {0}, 0},
                           {"REQ-2", 10 * MS, 0, 0, {0}, 0},
                           {"REQ-3", 20 * MS, 0, 0, {0}, 0}};
  struct cl_coro co[3] = {0};
  struct cl_coro *set[3] = {&co[0], &co[1], &co[2]};
  for (int i = 0; i < 3; i++)
    cl_loop_spawn(loop, &co[i], request_fn, &req[i]);
  CHECK_EQ_INT(cl_loop_gather(loop, set, 3, NULL), 0);
  for (int i = 0; i < 3; i++) {
    CHECK_STR(req[i].seen_after, req[i].id); /* isolated across the interleaving */
    CHECK_STR(req[i].child_seen, req[i].id); /* a child starts with a copy */
    CHECK_EQ_INT(req[i].limit_rc, CL_ELIMIT);
  }
  CHECK_STR((const char *)cl_ctxvar_get(&request_id), "none"); /* outside: the default */
  CHECK_EQ_INT(cl_ctxvar_set(&request_id, "x"), CL_ESTATE);
  CHECK(cl_coro_current() == NULL);
  cl_loop_destroy(loop);
}

/* ---- Descriptor waits, on the real clock. ---- */

struct pipe_reader {
  int fd;
  uint64_t timeout;
  int status;
  uint32_t revents;
  char got;
};

static int reader_fn(struct cl_coro *co, void *arg) {
  struct pipe_reader *r = arg;
  if (co->pc == 0) {
    co->pc = 1;
    int rc = cl_coro_wait_fd(co, r->fd, EPOLLIN, r->timeout);
    return rc ? rc : CL_CORO_PENDING;
  }
  r->status = cl_coro_wait_status(co);
  r->revents = cl_coro_revents(co);
  if (r->status == 0 && read(r->fd, &r->got, 1) != 1) r->got = '?';
  cl_coro_release_fd(co);
  return cl_coro_return(co, r->status, 0);
}

struct pipe_writer {
  int fd;
};

static int writer_fn(struct cl_coro *co, void *arg) {
  struct pipe_writer *w = arg;
  if (co->pc == 0) {
    co->pc = 1;
    cl_coro_sleep(co, 20 * MS);
    return CL_CORO_PENDING;
  }
  return write(w->fd, "k", 1) == 1 ? CL_CORO_DONE : CL_EIO;
}

static void test_fd_waits(void) {
  int fds_before = count_fds();
  struct cl_loop *loop;
  CHECK_EQ_INT(cl_loop_create(NULL, &loop), 0);
  int p[2];
  CHECK_EQ_INT(pipe(p), 0);
  struct pipe_reader r = {p[0], 5000 * MS, -1, 0, 0};
  struct pipe_writer w = {p[1]};
  struct cl_coro cr = {0}, cw = {0};
  cl_loop_spawn(loop, &cr, reader_fn, &r);
  cl_loop_spawn(loop, &cw, writer_fn, &w);
  double t0 = now_s();
  CHECK_EQ_INT(cl_loop_run(loop), 0);
  double took = now_s() - t0;
  CHECK_EQ_INT(r.status, 0);
  CHECK(r.revents & EPOLLIN);
  CHECK_EQ_INT(r.got, 'k');
  CHECK(took >= 0.015);
  CHECK_LE(took, 4.0);

  /* Nothing written: the wait times out. */
  struct pipe_reader r2 = {p[0], 15 * MS, -1, 0, 0};
  struct cl_coro cr2 = {0};
  cl_loop_spawn(loop, &cr2, reader_fn, &r2);
  t0 = now_s();
  CHECK_EQ_INT(cl_loop_run(loop), 0);
  CHECK_EQ_INT(r2.status, CL_ETIMEDOUT);
  CHECK(now_s() - t0 >= 0.012);
  CHECK_EQ_INT(cl_coro_wait_fd(&cr2, p[0], EPOLLIN, 0), CL_ESTATE); /* not running */

  /* Destroying a loop with pending coroutines finishes them cancelled. */
  struct pipe_reader r3 = {p[0], 0, -1, 0, 0};
  struct cl_coro cr3 = {0};
  cl_loop_spawn(loop, &cr3, reader_fn, &r3);
  CHECK_EQ_INT(cl_loop_run_nowait(loop), 1);
  CHECK_EQ_U64(cl_loop_pending(loop), 1);
  cl_loop_destroy(loop);
  CHECK(cl_coro_done(&cr3));
  CHECK_EQ_INT(cl_coro_result(&cr3, NULL), CL_ECANCELED);
  close(p[0]);
  close(p[1]);
  CHECK_EQ_INT(count_fds(), fds_before);
}

static int *many_log;
static int many_n;

static int many_fn(struct cl_coro *co, void *arg) {
  struct sleeper *s = arg;
  if (co->pc == 0) {
    co->pc = 1;
    cl_coro_sleep(co, s->ns);
    return CL_CORO_PENDING;
  }
  s->saw = cl_coro_wait_status(co);
  many_log[many_n++] = s->id;
  return cl_coro_return(co, 0, 0);
}

/* Many timers through the loop, with ties, a fifth cancelled while they
 * sleep (removed from the middle of the heap): the rest fire in deadline
 * order, ties in the order they were armed, and the fake clock never sleeps. */
static void test_many_timers_cancel(void) {
  enum { N = 2000 };
  static struct cl_coro co[N];
  static struct sleeper s[N];
  static int fired[N];
  struct cl_manual_clock mc;
  struct cl_loop_clock clk;
  cl_manual_clock_init(&mc, 5 * MS, &clk);
  struct cl_loop *loop;
  CHECK_EQ_INT(cl_loop_create(&clk, &loop), 0);
  unsigned rnd = 99;
  for (int i = 0; i < N; i++) {
    rnd = rnd * 1103515245u + 12345u;
    s[i] = (struct sleeper){.ns = ((rnd >> 16) % 30) * MS, .id = i};
    CHECK_EQ_INT(cl_loop_spawn(loop, &co[i], many_fn, &s[i]), 0);
  }
  /* One turn starts them all: each arms its timer, in index order. */
  many_n = 0;
  many_log = fired;
  CHECK_EQ_INT(cl_loop_run_nowait(loop), N);
  int cancelled = 0;
  for (int i = 0; i < N; i += 5)
    if (s[i].ns > 0 && cl_coro_cancel(&co[i]) == 0) cancelled++;
  double t0 = now_s();
  CHECK_EQ_INT(cl_loop_run(loop), 0);
  CHECK(now_s() - t0 < 5.0);
  CHECK_EQ_U64(cl_loop_pending(loop), 0);
  /* Cancelled ones resume first (they became ready at once), then the
   * timers in order. */
  int bad = 0, saw_cancel = 0;
  for (int k = 0; k < many_n; k++) {
    int i = fired[k];
    if (s[i].saw == CL_ECANCELED) {
      saw_cancel++;
      continue;
    }
    if (s[i].saw != 0) bad++;
  }
  CHECK_EQ_INT(saw_cancel, cancelled);
  CHECK_EQ_INT(many_n, N);
  int prev = -1;
  for (int k = 0; k < many_n; k++) {
    int i = fired[k];
    if (s[i].saw) continue;
    if (prev >= 0 && (s[prev].ns > s[i].ns || (s[prev].ns == s[i].ns && prev > i))) bad++;
    prev = i;
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_U64(mc.now_ns, 5 * MS + 29 * MS);
  cl_loop_destroy(loop);
}

int main(void) {
  test_heap();
  test_timerq();
  test_many_timers_cancel();
  test_timers_fake_clock();
  test_gather_and_first();
  test_cancel();
  test_await_and_deadlock();
  test_ctxvar();
  test_fd_waits();
  return CL_TEST_DONE();
}
