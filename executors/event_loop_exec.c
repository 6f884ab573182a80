/* The event_loop executor: every task is a coroutine on an event loop (seed
 * ex. 59/60). CPU phases run inline on the loop's thread; IO phases become
 * timers (CL_IO_SLEEP) or non-blocking sockets (CL_IO_NET) and the loop moves
 * on to another task meanwhile. With workers N > 1, N loops run on N threads
 * (the caller's and N - 1 started per run; all N started, each bound, when
 * cfg.bind asks for binding) and task i goes to loop i % N. */
#include "executors/exec_internal.h"

#include "conlab/error.h"
#include "conlab/event_loop.h"
#include "conlab/net.h"
#include "conlab/topology.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

struct el_executor;

/* Resume points of a task coroutine. */
enum { PC_STEP = 0, PC_SLEPT, PC_NET };

/* One task's coroutine and what its IO phases need. */
struct el_item {
  struct cl_coro co;
  struct cl_task *t;
  const struct cl_batch *batch;
  struct el_executor *ex;
  struct cl_loop *loop; /* the loop it runs on */
  struct cl_net_conn net;
  uint64_t sleep_due_ns; /* when the current sleep ends, on the loop's clock */
};

/* A shard belongs to one thread during a run; its fields are written before
 * that thread starts and read after it is joined. */
struct el_shard {
  struct el_executor *ex;
  struct cl_loop *loop;
  unsigned index;
  pthread_t tid;
  bool started;
  int rc; /* the loop's own failure, 0 if none */
  char detail[256];
};

struct el_executor {
  struct cl_executor base;
  unsigned nloops;
  struct el_shard *shards;
  struct el_item *items; /* grown to the largest batch seen, reused */
  size_t cap;
  struct cl_batch *batch;
  struct cl__first_error err;
};

static int task_fail(struct el_item *it, int rc) {
  it->t->status = rc;
  cl__first_error_note(&it->ex->err, it->t);
  return cl_coro_return(&it->co, rc, it->t->result);
}

static int net_wait(struct el_item *it, int want) {
  int rc = cl_coro_wait_fd(&it->co, cl_net_conn_fd(&it->net),
                           want == CL_NET_WANT_READ ? EPOLLIN : EPOLLOUT,
                           cl_net_conn_timeout_ns(&it->net));
  if (rc) {
    cl_coro_release_fd(&it->co);
    cl_net_conn_close(&it->net);
    return task_fail(it, rc);
  }
  return CL_CORO_PENDING;
}

static int task_coro(struct cl_coro *co, void *arg) {
  struct el_item *it = arg;
  struct cl_task *t = it->t;
  for (;;) {
    switch (co->pc) {
    case PC_SLEPT: {
      int st = cl_coro_wait_status(co);
      if (st)
        return task_fail(
            it, cl_error_set(st, "task %u: sleep interrupted: %s", t->index, cl_strerror(st)));
      t->result += cl_io_token(t->index, &t->phase[t->pc]);
      t->pc++;
      /* The wakeup latency runs from the deadline: time the loop spent on
       * other coroutines' CPU phases after it counts. */
      t->io_end_ns = it->sleep_due_ns;
      co->pc = PC_STEP;
      break;
    }
    case PC_NET: {
      int st = cl_coro_wait_status(co);
      int r;
      if (st == CL_ETIMEDOUT)
        r = cl_net_conn_timeout(&it->net);
      else if (st)
        r = cl_error_set(st, "task %u: network request interrupted: %s", t->index, cl_strerror(st));
      else
        r = cl_net_conn_advance(&it->net);
      if (r > 0) return net_wait(it, r);
      cl_coro_release_fd(co);
      cl_net_conn_close(&it->net);
      if (r < 0) return task_fail(it, r);
      t->result += cl_net_conn_token(&it->net);
      t->pc++;
      t->io_end_ns = cl_loop_now(it->loop); /* when the loop read the reply */
      co->pc = PC_STEP;
      break;
    }
    default: {
      int io = cl_task_step(t, it->batch);
      if (io < 0) {
        if (t->status) return task_fail(it, t->status);
        return cl_coro_return(co, 0, t->result);
      }
      const struct cl_phase *p = &t->phase[io];
      if (p->op == CL_IO_SLEEP) {
        co->pc = PC_SLEPT;
        uint64_t now = cl_loop_now(it->loop);
        it->sleep_due_ns = p->a > UINT64_MAX - now ? UINT64_MAX : now + p->a;
        int rc = cl_coro_sleep(co, p->a);
        return rc ? task_fail(it, rc) : CL_CORO_PENDING;
      }
      if (p->op == CL_IO_NET) {
        int r = cl_net_conn_start(&it->net, &it->batch->io, p, t->index);
        if (r < 0) return task_fail(it, r);
        co->pc = PC_NET;
        return net_wait(it, r);
      }
      return task_fail(it, cl_error_set(CL_EINVAL, "task %u: unknown IO kind %u", t->index, p->op));
    }
    }
  }
}

static void run_shard(struct el_shard *s) {
  struct el_executor *ex = s->ex;
  struct cl_batch *b = ex->batch;
  s->rc = 0;
  s->detail[0] = '\0';
  if (!s->loop) {
    int rc = cl_loop_create(NULL, &s->loop);
    if (rc) {
      s->rc = rc;
      snprintf(s->detail, sizeof s->detail, "loop %u: %s", s->index, cl_error_detail());
      return;
    }
  }
  for (size_t i = s->index; i < b->ntasks; i += ex->nloops) {
    struct el_item *it = &ex->items[i];
    it->t = &b->tasks[i];
    it->t->worker = s->index;
    it->batch = b;
    it->ex = ex;
    it->loop = s->loop;
    int rc = cl_loop_spawn(s->loop, &it->co, task_coro, it);
    if (rc) {
      it->t->status = rc;
      cl__first_error_note(&ex->err, it->t);
    }
  }
  int rc = cl_loop_run(s->loop);
  if (rc) {
    s->rc = rc;
    snprintf(s->detail, sizeof s->detail, "loop %u: %s", s->index, cl_error_detail());
    /* Whatever is still pending is abandoned with the loop; the next run
     * starts on a fresh one. */
    cl_loop_destroy(s->loop);
    s->loop = NULL;
  }
}

static void *shard_main(void *arg) {
  run_shard(arg);
  return NULL;
}

static void el_destroy(struct cl_executor *base) {
  if (!base) return;
  struct el_executor *ex = (struct el_executor *)base;
  if (ex->shards)
    for (unsigned i = 0; i < ex->nloops; i++)
      cl_loop_destroy(ex->shards[i].loop);
  cl__first_error_destroy(&ex->err);
  free(ex->shards);
  free(ex->items);
  free(ex);
}

static int el_create(const struct cl_exec_config *cfg, struct cl_executor **out) {
  int rc = cl__exec_check_config("event_loop", cfg, true);
  if (!rc) rc = cl_topology_check_bind(cfg);
  if (rc) return rc;
  struct el_executor *ex = calloc(1, sizeof *ex);
  if (!ex) return cl_error_set(CL_ENOMEM, "event_loop: out of memory");
  rc = cl__first_error_init(&ex->err);
  if (rc) {
    free(ex);
    return rc;
  }
  ex->base.ops = &cl__exec_event_loop;
  ex->base.cfg = *cfg;
  ex->nloops = cfg->workers;
  ex->shards = calloc(ex->nloops, sizeof *ex->shards);
  if (!ex->shards) {
    el_destroy(&ex->base);
    return cl_error_set(CL_ENOMEM, "event_loop: no memory for %u loops", cfg->workers);
  }
  for (unsigned i = 0; i < ex->nloops; i++) {
    ex->shards[i].ex = ex;
    ex->shards[i].index = i;
    rc = cl_loop_create(NULL, &ex->shards[i].loop);
    if (rc) {
      char why[256];
      snprintf(why, sizeof why, "%s", cl_error_detail());
      el_destroy(&ex->base);
      return cl_error_set(rc, "event_loop: loop %u of %u: %s", i, cfg->workers, why);
    }
  }
  *out = &ex->base;
  return 0;
}

static int el_run(struct cl_executor *base, struct cl_batch *batch) {
  struct el_executor *ex = (struct el_executor *)base;
  size_t n = batch->ntasks;
  if (n > ex->cap) {
    struct el_item *items = realloc(ex->items, n * sizeof *items);
    if (!items) return cl_error_set(CL_ENOMEM, "event_loop: no memory for %zu coroutines", n);
    /* Coroutines must be zeroed before their first spawn. */
    memset(items + ex->cap, 0, (n - ex->cap) * sizeof *items);
    ex->items = items;
    ex->cap = n;
  }
  cl__first_error_reset(&ex->err);
  ex->batch = batch;
  /* Loop 0 runs on the calling thread unless it must be bound. */
  const struct cl_exec_config *cfg = &ex->base.cfg;
  unsigned first = cfg->bind == CL_BIND_NONE ? 1 : 0;
  int bind_err = 0;
  for (unsigned i = first; i < ex->nloops; i++) {
    struct el_shard *s = &ex->shards[i];
    pthread_attr_t attr;
    s->started = false;
    if (cl__thread_attr_init(&attr, cfg->stack_size) != 0) continue;
    int brc = cl_topology_bind_attr(cfg, i, &attr);
    if (brc) {
      bind_err = brc;
      pthread_attr_destroy(&attr);
      break;
    }
    s->started = pthread_create(&s->tid, &attr, shard_main, s) == 0;
    pthread_attr_destroy(&attr);
  }
  if (first == 1 && !bind_err) run_shard(&ex->shards[0]);
  /* A loop whose thread could not start runs here (unbound), after the rest. */
  for (unsigned i = first; i < ex->nloops; i++) {
    struct el_shard *s = &ex->shards[i];
    if (s->started)
      pthread_join(s->tid, NULL);
    else if (!bind_err)
      run_shard(s);
    s->started = false;
  }
  if (bind_err) {
    for (size_t i = 0; i < n; i++)
      if (batch->tasks[i].pc < batch->tasks[i].nphases && !batch->tasks[i].status)
        batch->tasks[i].status = bind_err;
    return bind_err; /* its detail names the worker and the PUs */
  }
  for (unsigned i = 0; i < ex->nloops; i++)
    if (ex->shards[i].rc)
      return cl_error_set(ex->shards[i].rc, "event_loop: %s", ex->shards[i].detail);
  return cl__first_error_raise(&ex->err);
}

const struct cl_executor_ops cl__exec_event_loop = {
    .name = "event_loop",
    .summary = "epoll event loop: IO phases overlap as timers and non-blocking sockets, CPU "
               "phases run inline (seed ex. 59/60: asyncio); N workers = N loops on N threads",
    .flags = CL_EXEC_PARALLEL | CL_EXEC_BINDS,
    .create = el_create,
    .run = el_run,
    .destroy = el_destroy,
};
