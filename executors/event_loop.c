#include "executors/event_loop_internal.h"

#include "conlab/error.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* Coroutine states and what a waiting coroutine waits for. */
enum { ST_IDLE = 0, ST_READY, ST_RUNNING, ST_WAITING, ST_DONE };
enum { W_NONE = 0, W_TIMER, W_FD, W_CORO };

enum { MAX_EVENTS = 256 };

/* A loop is used by one thread at a time, so nothing here is locked. */
struct cl_loop {
  int epfd;
  bool custom_clock;
  bool no_pwait2; /* epoll_pwait2 is missing: fall back to epoll_wait */
  struct cl_loop_clock clock;
  struct cl__timerq timers; /* room for one timer per pending coroutine */
  uint64_t timer_seq, done_seq;
  struct cl_coro *ready_head, *ready_tail; /* FIFO through next_ready */
  size_t nready;
  struct cl_coro *all; /* pending coroutines, through all_next/all_prev */
  size_t pending;
  size_t fd_waits; /* coroutines in W_FD */
  struct epoll_event events[MAX_EVENTS];
};

/* The coroutine whose step function runs on this thread. */
static _Thread_local struct cl_coro *current;

static uint64_t mono_now(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t manual_now(void *ctx) {
  return ((struct cl_manual_clock *)ctx)->now_ns;
}

static void manual_idle_until(void *ctx, uint64_t deadline_ns) {
  struct cl_manual_clock *mc = ctx;
  if (deadline_ns > mc->now_ns) mc->now_ns = deadline_ns;
}

void cl_manual_clock_init(struct cl_manual_clock *mc, uint64_t start_ns,
                          struct cl_loop_clock *out) {
  mc->now_ns = start_ns;
  out->now = manual_now;
  out->idle_until = manual_idle_until;
  out->ctx = mc;
}

void cl_manual_clock_advance(struct cl_manual_clock *mc, uint64_t ns) {
  mc->now_ns += ns;
}

uint64_t cl_loop_now(const struct cl_loop *loop) {
  return loop->clock.now(loop->clock.ctx);
}

size_t cl_loop_pending(const struct cl_loop *loop) {
  return loop->pending;
}

struct cl_coro *cl_coro_current(void) {
  return current;
}

struct cl_loop *cl_coro_loop(const struct cl_coro *co) {
  return co->loop;
}

int cl_loop_create(const struct cl_loop_clock *clock, struct cl_loop **out) {
  if (!out || (clock && !clock->now))
    return cl_error_set(CL_EINVAL, "cl_loop_create: bad argument");
  struct cl_loop *loop = calloc(1, sizeof *loop);
  if (!loop) return cl_error_set(CL_ENOMEM, "cl_loop_create: out of memory");
  loop->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (loop->epfd < 0) {
    int e = errno;
    free(loop);
    if (e == EMFILE || e == ENFILE)
      return cl_error_set(CL_ELIMIT, "cl_loop_create: no descriptor left for epoll: %s",
                          strerror(e));
    return cl_error_set(CL_ESYS, "cl_loop_create: epoll_create1: %s", strerror(e));
  }
  if (clock) {
    loop->clock = *clock;
    loop->custom_clock = true;
  } else {
    loop->clock.now = mono_now;
  }
  cl__timerq_init(&loop->timers);
  *out = loop;
  return 0;
}

static void push_ready(struct cl_loop *loop, struct cl_coro *co) {
  co->state = ST_READY;
  co->next_ready = NULL;
  if (loop->ready_tail)
    loop->ready_tail->next_ready = co;
  else
    loop->ready_head = co;
  loop->ready_tail = co;
  loop->nready++;
}

static struct cl_coro *pop_ready(struct cl_loop *loop) {
  struct cl_coro *co = loop->ready_head;
  if (!co) return NULL;
  loop->ready_head = co->next_ready;
  if (!loop->ready_head) loop->ready_tail = NULL;
  loop->nready--;
  co->next_ready = NULL;
  return co;
}

/* Unlinks co from the ready FIFO; O(n), used only by cancellation. */
static void remove_ready(struct cl_loop *loop, struct cl_coro *co) {
  struct cl_coro *prev = NULL;
  for (struct cl_coro *c = loop->ready_head; c; prev = c, c = c->next_ready) {
    if (c != co) continue;
    if (prev)
      prev->next_ready = c->next_ready;
    else
      loop->ready_head = c->next_ready;
    if (loop->ready_tail == c) loop->ready_tail = prev;
    loop->nready--;
    c->next_ready = NULL;
    return;
  }
}

/* Never fails: cl_loop_spawn reserved a slot for every pending coroutine,
 * and a coroutine has at most one timer armed. */
static void arm_timer(struct cl_loop *loop, struct cl_coro *co, uint64_t deadline) {
  co->deadline = deadline;
  co->timer_seq = ++loop->timer_seq;
  cl__timerq_insert(&loop->timers,
                    (struct cl__timer){.deadline = deadline, .seq = co->timer_seq, .co = co});
  co->timer_armed = true;
}

static void disarm_timer(struct cl_loop *loop, struct cl_coro *co) {
  if (!co->timer_armed) return;
  cl__timerq_remove(&loop->timers, co->timer_slot);
  co->timer_armed = false;
}

/* Removes waiter `w` from the list of coroutines awaiting `target`. */
static void unlink_waiter(struct cl_coro *target, struct cl_coro *w) {
  for (struct cl_coro **p = &target->waiters; *p; p = &(*p)->next_waiter) {
    if (*p == w) {
      *p = w->next_waiter;
      w->next_waiter = NULL;
      return;
    }
  }
}

/* Ends co's wait, whatever it was, and makes it ready with `status`. */
static void complete_wait(struct cl_loop *loop, struct cl_coro *co, int status) {
  disarm_timer(loop, co);
  if (co->wait == W_FD) loop->fd_waits--;
  if (co->wait == W_CORO && co->awaited) unlink_waiter(co->awaited, co);
  co->awaited = NULL;
  co->wait = W_NONE;
  co->wait_status = status;
  push_ready(loop, co);
}

void cl_coro_release_fd(struct cl_coro *co) {
  if (!co || !co->loop || co->registered_fd < 0) return;
  epoll_ctl(co->loop->epfd, EPOLL_CTL_DEL, co->registered_fd, NULL);
  co->registered_fd = -1;
}

static void unlink_pending(struct cl_loop *loop, struct cl_coro *co) {
  if (co->all_prev)
    co->all_prev->all_next = co->all_next;
  else
    loop->all = co->all_next;
  if (co->all_next) co->all_next->all_prev = co->all_prev;
  co->all_prev = co->all_next = NULL;
  loop->pending--;
}

/* Marks co done and wakes the coroutines awaiting it. */
static void finish(struct cl_loop *loop, struct cl_coro *co, int status) {
  if (co->state == ST_READY) remove_ready(loop, co);
  disarm_timer(loop, co);
  if (co->wait == W_FD) loop->fd_waits--;
  if (co->wait == W_CORO && co->awaited) unlink_waiter(co->awaited, co);
  co->wait = W_NONE;
  co->awaited = NULL;
  cl_coro_release_fd(co);
  co->status = status;
  co->state = ST_DONE;
  co->done_seq = ++loop->done_seq;
  unlink_pending(loop, co);
  struct cl_coro *w = co->waiters;
  co->waiters = NULL;
  while (w) {
    struct cl_coro *next = w->next_waiter;
    w->next_waiter = NULL;
    w->awaited = NULL; /* already unlinked: the whole list is taken */
    complete_wait(loop, w, 0);
    w = next;
  }
}

void cl_loop_destroy(struct cl_loop *loop) {
  if (!loop) return;
  /* Pending coroutines are finished in place, without waking anyone. */
  for (struct cl_coro *co = loop->all; co;) {
    struct cl_coro *next = co->all_next;
    co->state = ST_DONE;
    co->status = CL_ECANCELED;
    co->wait = W_NONE;
    co->timer_armed = false;
    co->waiters = co->next_waiter = co->awaited = co->next_ready = NULL;
    co->all_prev = co->all_next = NULL;
    co->registered_fd = -1;
    co = next;
  }
  close(loop->epfd);
  cl__timerq_free(&loop->timers);
  free(loop);
}

int cl_loop_spawn(struct cl_loop *loop, struct cl_coro *co, cl_coro_fn fn, void *arg) {
  if (!loop || !co || !fn) return cl_error_set(CL_EINVAL, "cl_loop_spawn: NULL argument");
  if (co->state == ST_READY || co->state == ST_RUNNING || co->state == ST_WAITING)
    return cl_error_set(CL_ESTATE, "cl_loop_spawn: the coroutine is still pending");
  if (cl__timerq_reserve(&loop->timers, loop->pending + 1))
    return cl_error_set(CL_ENOMEM, "cl_loop_spawn: no memory for %zu timers", loop->pending + 1);
  struct cl_coro *parent = current && current->loop == loop ? current : NULL;
  if (parent)
    memcpy(co->ctx, parent->ctx, sizeof co->ctx);
  else
    memset(co->ctx, 0, sizeof co->ctx);
  co->pc = 0;
  co->status = 0;
  co->result = 0;
  co->loop = loop;
  co->fn = fn;
  co->arg = arg;
  co->waiters = co->next_waiter = co->awaited = NULL;
  co->timer_armed = false;
  co->cancel_pending = false;
  co->started = false;
  co->wait = W_NONE;
  co->wait_status = 0;
  co->fd = -1;
  co->registered_fd = -1;
  co->events = co->revents = 0;
  co->done_seq = 0;
  co->all_prev = NULL;
  co->all_next = loop->all;
  if (loop->all) loop->all->all_prev = co;
  loop->all = co;
  loop->pending++;
  push_ready(loop, co);
  return 0;
}

/* Common checks before a wait; delivers a pending cancellation. Returns 1
 * when the wait may be registered, 0 when it was answered at once, or a
 * negative CL_E* code. */
static int begin_wait(struct cl_coro *co) {
  if (!co || co != current || co->state != ST_RUNNING || co->wait != W_NONE)
    return cl_error_set(CL_ESTATE, "a coroutine can only wait from its own step function, once");
  if (co->cancel_pending) {
    co->cancel_pending = false;
    co->wait_status = CL_ECANCELED;
    push_ready(co->loop, co);
    return 0;
  }
  return 1;
}

int cl_coro_sleep(struct cl_coro *co, uint64_t ns) {
  int rc = begin_wait(co);
  if (rc <= 0) return rc;
  struct cl_loop *loop = co->loop;
  uint64_t now = cl_loop_now(loop);
  co->wait = W_TIMER;
  co->state = ST_WAITING;
  co->wait_status = 0;
  arm_timer(loop, co, ns > UINT64_MAX - now ? UINT64_MAX : now + ns);
  return 0;
}

int cl_coro_yield(struct cl_coro *co) {
  int rc = begin_wait(co);
  if (rc <= 0) return rc;
  co->wait_status = 0;
  push_ready(co->loop, co);
  return 0;
}

int cl_coro_wait_fd(struct cl_coro *co, int fd, uint32_t events, uint64_t timeout_ns) {
  if (fd < 0) return cl_error_set(CL_EINVAL, "cl_coro_wait_fd: negative descriptor");
  int rc = begin_wait(co);
  if (rc <= 0) return rc;
  struct cl_loop *loop = co->loop;
  /* One-shot registrations: after an event the descriptor stays registered
   * but disarmed, and the next wait re-arms it with EPOLL_CTL_MOD. */
  struct epoll_event ev = {.events = events | EPOLLONESHOT, .data.ptr = co};
  if (co->registered_fd == fd) {
    rc = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
    /* The descriptor was closed (and so unregistered) and its number reused. */
    if (rc != 0 && errno == ENOENT) rc = epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
  } else {
    cl_coro_release_fd(co);
    rc = epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
    if (rc == 0) co->registered_fd = fd;
  }
  if (rc != 0) return cl_error_set(CL_ESYS, "epoll_ctl on descriptor %d: %s", fd, strerror(errno));
  co->fd = fd;
  co->events = events;
  co->revents = 0;
  co->wait = W_FD;
  co->state = ST_WAITING;
  co->wait_status = 0;
  loop->fd_waits++;
  if (timeout_ns) {
    uint64_t now = cl_loop_now(loop);
    arm_timer(loop, co, timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns);
  }
  return 0;
}

int cl_coro_await(struct cl_coro *co, struct cl_coro *other) {
  if (!co || !other || other == co || other->loop != co->loop || other->state == ST_IDLE)
    return cl_error_set(CL_EINVAL, "cl_coro_await: not another coroutine of this loop");
  int rc = begin_wait(co);
  if (rc <= 0) return rc;
  co->wait_status = 0;
  if (other->state == ST_DONE) {
    push_ready(co->loop, co);
    return 0;
  }
  co->wait = W_CORO;
  co->state = ST_WAITING;
  co->awaited = other;
  co->next_waiter = other->waiters;
  other->waiters = co;
  return 0;
}

int cl_coro_wait_status(const struct cl_coro *co) {
  return co->wait_status;
}

uint32_t cl_coro_revents(const struct cl_coro *co) {
  return co->revents;
}

int cl_coro_return(struct cl_coro *co, int status, uint64_t value) {
  co->status = status;
  co->result = value;
  return CL_CORO_DONE;
}

bool cl_coro_done(const struct cl_coro *co) {
  return co->state == ST_DONE;
}

int cl_coro_result(const struct cl_coro *co, uint64_t *value) {
  if (co->state != ST_DONE) return CL_ESTATE;
  if (value) *value = co->result;
  return co->status;
}

int cl_coro_cancel(struct cl_coro *co) {
  if (!co || co->state == ST_IDLE || co->state == ST_DONE)
    return cl_error_set(CL_ESTATE, "cl_coro_cancel: the coroutine is not pending");
  struct cl_loop *loop = co->loop;
  switch (co->state) {
  case ST_READY:
    if (!co->started) {
      co->result = 0;
      finish(loop, co, CL_ECANCELED);
    } else {
      co->wait_status = CL_ECANCELED;
    }
    break;
  case ST_WAITING:
    complete_wait(loop, co, CL_ECANCELED);
    break;
  default: /* ST_RUNNING: delivered by its next wait */
    co->cancel_pending = true;
    break;
  }
  return 0;
}

void *cl_ctxvar_get(const struct cl_ctxvar *var) {
  struct cl_coro *co = current;
  if (co)
    for (int i = 0; i < CL_CORO_CTX_SLOTS; i++)
      if (co->ctx[i].var == var) return co->ctx[i].value;
  return var->default_value;
}

int cl_ctxvar_set(const struct cl_ctxvar *var, void *value) {
  struct cl_coro *co = current;
  if (!co) return cl_error_set(CL_ESTATE, "cl_ctxvar_set: no coroutine is running on this thread");
  int free_slot = -1;
  for (int i = 0; i < CL_CORO_CTX_SLOTS; i++) {
    if (co->ctx[i].var == var) {
      co->ctx[i].value = value;
      return 0;
    }
    if (!co->ctx[i].var && free_slot < 0) free_slot = i;
  }
  if (free_slot < 0)
    return cl_error_set(CL_ELIMIT, "cl_ctxvar_set: a coroutine holds at most %d variables",
                        CL_CORO_CTX_SLOTS);
  co->ctx[free_slot].var = var;
  co->ctx[free_slot].value = value;
  return 0;
}

static void resume(struct cl_loop *loop, struct cl_coro *co) {
  struct cl_coro *prev = current;
  current = co;
  co->state = ST_RUNNING;
  co->started = true;
  int r = co->fn(co, co->arg);
  current = prev;
  if (r == CL_CORO_PENDING) {
    if (co->state == ST_RUNNING) {
      co->wait_status = 0;
      push_ready(loop, co);
    }
    return;
  }
  finish(loop, co, r < 0 ? r : co->status);
}

/* Makes every coroutine whose timer is due ready. */
static void fire_timers(struct cl_loop *loop) {
  if (loop->timers.n == 0) return;
  uint64_t now = cl_loop_now(loop);
  const struct cl__timer *t;
  while ((t = cl__timerq_min(&loop->timers)) != NULL && t->deadline <= now) {
    struct cl_coro *co = t->co;
    cl__timerq_remove(&loop->timers, 0);
    co->timer_armed = false;
    complete_wait(loop, co, co->wait == W_FD ? CL_ETIMEDOUT : 0);
  }
}

/* Resumes the coroutines that are ready now; those made ready meanwhile wait
 * for the next turn. Returns how many ran. */
static int run_ready(struct cl_loop *loop) {
  size_t n = loop->nready;
  int ran = 0;
  for (size_t i = 0; i < n; i++) {
    struct cl_coro *co = pop_ready(loop);
    if (!co) break;
    resume(loop, co);
    ran++;
  }
  return ran;
}

/* Waits for descriptors, at most until the next timer (not at all when
 * `block` is false or coroutines are ready), and makes those ready. */
static int poll_io(struct cl_loop *loop, bool block) {
  struct timespec ts = {0, 0};
  struct timespec *timeout = &ts;
  if (block && loop->nready == 0) {
    const struct cl__timer *first = cl__timerq_min(&loop->timers);
    if (first) {
      uint64_t deadline = first->deadline, now = cl_loop_now(loop);
      if (deadline > now) {
        if (loop->clock.idle_until && loop->fd_waits == 0) {
          loop->clock.idle_until(loop->clock.ctx, deadline);
          return 0;
        }
        if (!loop->clock.idle_until) {
          uint64_t d = deadline - now;
          ts.tv_sec = (time_t)(d / 1000000000u);
          ts.tv_nsec = (long)(d % 1000000000u);
        }
      }
    } else if (loop->fd_waits > 0) {
      timeout = NULL;
    } else if (loop->pending > 0) {
      return cl_error_set(CL_ESTATE,
                          "event loop: %zu coroutines can never resume (they only await each "
                          "other)",
                          loop->pending);
    } else {
      return 0;
    }
  }
  int n;
  for (;;) {
    if (!loop->no_pwait2) {
      n = epoll_pwait2(loop->epfd, loop->events, MAX_EVENTS, timeout, NULL);
      if (n < 0 && errno == ENOSYS) {
        loop->no_pwait2 = true;
        continue;
      }
    } else {
      int ms = -1;
      if (timeout) {
        uint64_t t =
            (uint64_t)timeout->tv_sec * 1000u + ((uint64_t)timeout->tv_nsec + 999999u) / 1000000u;
        ms = t > 3600000u ? 3600000 : (int)t;
      }
      n = epoll_wait(loop->epfd, loop->events, MAX_EVENTS, ms);
    }
    if (n >= 0) break;
    if (errno != EINTR) return cl_error_set(CL_ESYS, "event loop: epoll_wait: %s", strerror(errno));
    if (timeout) return 0; /* the caller recomputes the timeout */
  }
  for (int i = 0; i < n; i++) {
    struct cl_coro *co = loop->events[i].data.ptr;
    /* An event for a wait that already ended (timeout, cancel) is stale. */
    if (co->state != ST_WAITING || co->wait != W_FD) continue;
    co->revents = loop->events[i].events;
    complete_wait(loop, co, 0);
  }
  /* A fake clock with descriptors pending still jumps to its next timer. */
  if (n == 0 && block && loop->clock.idle_until && loop->nready == 0) {
    const struct cl__timer *t = cl__timerq_min(&loop->timers);
    if (t) loop->clock.idle_until(loop->clock.ctx, t->deadline);
  }
  return 0;
}

typedef bool (*stop_fn)(struct cl_loop *loop, void *arg);

static int run_while(struct cl_loop *loop, stop_fn stop, void *arg) {
  for (;;) {
    if (stop(loop, arg)) return 0;
    fire_timers(loop);
    run_ready(loop);
    if (stop(loop, arg)) return 0;
    int rc = poll_io(loop, true);
    if (rc) return rc;
    if (loop->pending == 0 && !stop(loop, arg))
      return cl_error_set(CL_ESTATE, "event loop: nothing left to run, yet the wait goes on");
  }
}

static bool stop_when_idle(struct cl_loop *loop, void *arg) {
  (void)arg;
  return loop->pending == 0;
}

int cl_loop_run(struct cl_loop *loop) {
  if (!loop) return cl_error_set(CL_EINVAL, "cl_loop_run: NULL loop");
  return run_while(loop, stop_when_idle, NULL);
}

struct coro_set {
  struct cl_coro *const *coros;
  size_t n;
  bool any; /* stop at the first done instead of all */
};

static bool stop_set(struct cl_loop *loop, void *arg) {
  (void)loop;
  const struct coro_set *s = arg;
  for (size_t i = 0; i < s->n; i++) {
    bool done = s->coros[i]->state == ST_DONE;
    if (s->any && done) return true;
    if (!s->any && !done) return false;
  }
  return !s->any;
}

static int check_set(struct cl_loop *loop, struct cl_coro *const *coros, size_t n,
                     const char *who) {
  if (!loop || (n && !coros)) return cl_error_set(CL_EINVAL, "%s: NULL argument", who);
  for (size_t i = 0; i < n; i++)
    if (!coros[i] || coros[i]->loop != loop || coros[i]->state == ST_IDLE)
      return cl_error_set(CL_EINVAL, "%s: entry %zu is not a coroutine spawned on this loop", who,
                          i);
  return 0;
}

int cl_loop_run_until(struct cl_loop *loop, struct cl_coro *co) {
  int rc = check_set(loop, &co, 1, "cl_loop_run_until");
  if (rc) return rc;
  struct coro_set s = {&co, 1, false};
  return run_while(loop, stop_set, &s);
}

int cl_loop_run_nowait(struct cl_loop *loop) {
  if (!loop) return cl_error_set(CL_EINVAL, "cl_loop_run_nowait: NULL loop");
  int rc = poll_io(loop, false);
  if (rc) return rc;
  fire_timers(loop);
  return run_ready(loop);
}

int cl_loop_gather(struct cl_loop *loop, struct cl_coro *const *coros, size_t n,
                   uint64_t *results) {
  int rc = check_set(loop, coros, n, "cl_loop_gather");
  if (rc) return rc;
  struct coro_set s = {coros, n, false};
  rc = run_while(loop, stop_set, &s);
  if (rc) return rc;
  int first = 0;
  for (size_t i = 0; i < n; i++) {
    if (results) results[i] = coros[i]->result;
    if (!first && coros[i]->status) first = coros[i]->status;
  }
  return first;
}

int cl_loop_wait_first(struct cl_loop *loop, struct cl_coro *const *coros, size_t n,
                       size_t *index) {
  if (n == 0) return cl_error_set(CL_EEMPTY, "cl_loop_wait_first: no coroutines");
  int rc = check_set(loop, coros, n, "cl_loop_wait_first");
  if (rc) return rc;
  if (!index) return cl_error_set(CL_EINVAL, "cl_loop_wait_first: NULL index");
  struct coro_set s = {coros, n, true};
  rc = run_while(loop, stop_set, &s);
  if (rc) return rc;
  size_t best = n;
  for (size_t i = 0; i < n; i++)
    if (coros[i]->state == ST_DONE && (best == n || coros[i]->done_seq < coros[best]->done_seq))
      best = i;
  *index = best;
  return 0;
}
