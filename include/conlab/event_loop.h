/* A single-threaded event loop with coroutine-like tasks: the C form of the
 * seed's asyncio (examples 59 and 60) and contextvars (example 70), in the
 * spirit of libuv's loop: epoll for descriptors, a timer min-heap whose ties
 * are broken by insertion order, and a FIFO of coroutines ready to resume.
 *
 * A coroutine is a caller-allocated struct cl_coro plus a step function.
 * The loop calls the step function to start the coroutine and again each time
 * what it waits for has happened. The step function keeps its place in
 * `co->pc` (or in its own state), registers exactly one wait and returns
 * CL_CORO_PENDING, or finishes with `return cl_coro_return(co, status, value)`:
 *
 *   static int fetch(struct cl_coro *co, void *arg) {   // async def fetch(url)
 *     switch (co->pc) {
 *     case 0:
 *       co->pc = 1;
 *       cl_coro_sleep(co, 1000000000);                  // await asyncio.sleep(1)
 *       return CL_CORO_PENDING;
 *     default:
 *       return cl_coro_return(co, cl_coro_wait_status(co), *(uint64_t *)arg);
 *     }
 *   }
 *
 *   struct cl_loop *loop;
 *   struct cl_coro co[3];
 *   struct cl_coro *set[3] = {&co[0], &co[1], &co[2]};
 *   uint64_t results[3];
 *   cl_loop_create(NULL, &loop);
 *   for (int i = 0; i < 3; i++) cl_loop_spawn(loop, &co[i], fetch, &urls[i]);
 *   cl_loop_gather(loop, set, 3, results);              // asyncio.gather(...)
 *   cl_loop_destroy(loop);
 *
 * Threads: a loop and its coroutines belong to one thread at a time; none of
 * these functions may be called on a loop that another thread is running.
 * Several loops on several threads are independent (the event_loop executor
 * runs one per worker and shards the tasks across them). Nothing here
 * allocates after cl_loop_create except cl_loop_spawn, which grows the
 * loop's timer array geometrically (amortised; never per timer). */
#ifndef CONLAB_EVENT_LOOP_H
#define CONLAB_EVENT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cl_loop;
struct cl_coro;

/* A step function: returns CL_CORO_PENDING after registering one wait,
 * CL_CORO_DONE (usually through cl_coro_return) when finished, or a negative
 * CL_E* code, which finishes the coroutine with that status. Returning
 * CL_CORO_PENDING without registering a wait behaves like cl_coro_yield(). */
typedef int (*cl_coro_fn)(struct cl_coro *co, void *arg);

enum { CL_CORO_DONE = 0, CL_CORO_PENDING = 1 };

/* Intrusive min-heap link (the loop's timers); private. */
struct cl_heap_node {
  struct cl_heap_node *left, *right, *parent;
};

/* A task-local variable (contextvars.ContextVar). Its identity is its
 * address; `default_value` is what cl_ctxvar_get returns where it was never
 * set. Define one per variable, statically or for the loop's lifetime. */
struct cl_ctxvar {
  void *default_value;
};

/* How many distinct variables one coroutine can hold. */
#define CL_CORO_CTX_SLOTS 4

/* One coroutine. Zero-initialise it before its first spawn; cl_loop_spawn
 * then initialises the rest, and a done coroutine may be spawned again. Keep
 * it alive and unmoved until it is done (or its loop destroyed). Only `pc` is
 * yours; every other field is private to the loop. */
struct cl_coro {
  unsigned pc; /* free for the step function; 0 when it first runs */
  int status;  /* set when done */
  uint64_t result;
  struct cl_loop *loop;
  cl_coro_fn fn;
  void *arg;
  struct cl_coro *next_ready;          /* ready FIFO link */
  struct cl_coro *all_prev, *all_next; /* the loop's list of pending coroutines */
  struct cl_coro *waiters;             /* coroutines awaiting this one */
  struct cl_coro *next_waiter;
  struct cl_coro *awaited; /* the coroutine this one awaits */
  struct cl_heap_node timer;
  uint64_t deadline, timer_seq, done_seq;
  size_t timer_slot; /* index in the loop's timer heap while timer_armed */
  int state, wait, wait_status, fd;
  uint32_t events, revents;
  int registered_fd; /* descriptor known to epoll, or -1 */
  bool timer_armed, cancel_pending, started;
  struct {
    const struct cl_ctxvar *var;
    void *value;
  } ctx[CL_CORO_CTX_SLOTS];
};

/* A clock the loop reads instead of CLOCK_MONOTONIC, so that tests can drive
 * timers without sleeping. `now` returns nanoseconds. `idle_until`, when not
 * NULL, is called instead of blocking when the loop has nothing to do before
 * the timer due at `deadline_ns` (a fake clock jumps there); with it NULL the
 * loop sleeps in real time for the clock's difference. */
struct cl_loop_clock {
  uint64_t (*now)(void *ctx);
  void (*idle_until)(void *ctx, uint64_t deadline_ns);
  void *ctx;
};

/* A ready-made fake clock: time stands still until cl_manual_clock_advance,
 * or until the loop idles and jumps it to the next timer. */
struct cl_manual_clock {
  uint64_t now_ns;
};

/* Sets the time to `start_ns` and fills *out with a clock reading it. */
void cl_manual_clock_init(struct cl_manual_clock *mc, uint64_t start_ns, struct cl_loop_clock *out);
void cl_manual_clock_advance(struct cl_manual_clock *mc, uint64_t ns);

/* Creates a loop. `clock` may be NULL (CLOCK_MONOTONIC); it is copied.
 * Returns 0, CL_ENOMEM, CL_ELIMIT (no descriptor for epoll) or CL_ESYS. */
int cl_loop_create(const struct cl_loop_clock *clock, struct cl_loop **out);

/* Frees the loop and closes its epoll descriptor. Coroutines still pending
 * are finished with CL_ECANCELED without being resumed; descriptors they
 * waited on are not closed. NULL is ignored. */
void cl_loop_destroy(struct cl_loop *loop);

/* The loop's clock, in nanoseconds. */
uint64_t cl_loop_now(const struct cl_loop *loop);

/* Number of coroutines spawned and not yet done. */
size_t cl_loop_pending(const struct cl_loop *loop);

/* Schedules co to start running fn(co, arg) (asyncio.create_task): it runs
 * when the loop next runs, after the coroutines already ready. Called from
 * inside a coroutine of the same loop, the new one starts with a copy of the
 * caller's task-local variables (as asyncio copies the context). Returns 0,
 * CL_EINVAL, CL_ESTATE (co is pending on a loop) or CL_ENOMEM (the loop's
 * timer array, sized for one timer per pending coroutine, could not grow). */
int cl_loop_spawn(struct cl_loop *loop, struct cl_coro *co, cl_coro_fn fn, void *arg);

/* Waits from inside a coroutine's step function; the step function then
 * returns CL_CORO_PENDING. Each returns 0, or CL_ESTATE when co is not the
 * running coroutine or already waits. After the wait, cl_coro_wait_status()
 * says how it ended: 0, CL_ETIMEDOUT (an fd wait expired) or CL_ECANCELED. */

/* Resumes co after `ns` nanoseconds (asyncio.sleep); 0 yields once. */
int cl_coro_sleep(struct cl_coro *co, uint64_t ns);
/* Resumes co on the loop's next turn, after the other ready coroutines. */
int cl_coro_yield(struct cl_coro *co);
/* Resumes co when fd is ready for `events` (EPOLLIN, EPOLLOUT) or has an error,
 * or after `timeout_ns` (0: no timeout) with CL_ETIMEDOUT. The descriptor
 * stays registered with the loop until cl_coro_release_fd or co finishes, so
 * repeated waits on one socket cost one epoll_ctl each. Also returns CL_ESYS
 * (epoll_ctl failed; detail set) or CL_EINVAL (negative fd). */
int cl_coro_wait_fd(struct cl_coro *co, int fd, uint32_t events, uint64_t timeout_ns);
/* Unregisters co's descriptor from the loop. Call it before closing the
 * descriptor: the loop would otherwise unregister, when co finishes, whatever
 * descriptor has reused the number. Harmless when none is registered. */
void cl_coro_release_fd(struct cl_coro *co);
/* Resumes co when `other` is done (await task); at once if it already is.
 * CL_EINVAL when other is co or was never spawned on this loop. */
int cl_coro_await(struct cl_coro *co, struct cl_coro *other);

/* How the last wait ended (see above), and the epoll events an fd wait saw. */
int cl_coro_wait_status(const struct cl_coro *co);
uint32_t cl_coro_revents(const struct cl_coro *co);

/* Finishes the coroutine: `return cl_coro_return(co, 0, value);`. */
int cl_coro_return(struct cl_coro *co, int status, uint64_t value);

/* True once co is done. */
bool cl_coro_done(const struct cl_coro *co);
/* co's status (0 or CL_E*) once done, CL_ESTATE before; its value in *value
 * (may be NULL). */
int cl_coro_result(const struct cl_coro *co, uint64_t *value);

/* Requests cancellation (task.cancel()). A coroutine that has not started is
 * finished with CL_ECANCELED without running. A waiting one has its wait
 * ended and is resumed with cl_coro_wait_status() == CL_ECANCELED; the
 * running one gets CL_ECANCELED from its next wait. What it does then is its
 * own choice, as with CancelledError. Returns 0, or CL_ESTATE when co is
 * already done or was never spawned. */
int cl_coro_cancel(struct cl_coro *co);

/* The coroutine running on this thread, or NULL. */
struct cl_coro *cl_coro_current(void);

/* The loop co was last spawned on (NULL if never): to spawn siblings. */
struct cl_loop *cl_coro_loop(const struct cl_coro *co);

/* Task-local storage (contextvars). get returns the running coroutine's
 * value, or var->default_value where it was never set or outside any
 * coroutine. set returns 0, CL_ESTATE (no coroutine is running on this
 * thread) or CL_ELIMIT (the coroutine already holds CL_CORO_CTX_SLOTS
 * other variables). */
void *cl_ctxvar_get(const struct cl_ctxvar *var);
int cl_ctxvar_set(const struct cl_ctxvar *var, void *value);

/* Running the loop. Each returns 0, CL_ESTATE when coroutines still pending
 * can never be resumed (they only await each other: a deadlock, detail says
 * how many), CL_EINVAL, or CL_ESYS (epoll_wait failed). The coroutines'
 * own statuses are theirs, except where a function says otherwise. */

/* Runs until no coroutine is pending. */
int cl_loop_run(struct cl_loop *loop);
/* Runs until co is done. */
int cl_loop_run_until(struct cl_loop *loop, struct cl_coro *co);
/* Runs one turn without blocking: due timers, ready descriptors, and the
 * coroutines ready at its start. Returns the number resumed (>= 0) or a
 * negative CL_E* code. */
int cl_loop_run_nowait(struct cl_loop *loop);
/* asyncio.gather: runs until all n coroutines are done and stores their
 * values in results[i] (results may be NULL), in the order given whatever
 * the completion order. Returns the status of the first of them, in that
 * order, that failed, or 0. */
int cl_loop_gather(struct cl_loop *loop, struct cl_coro *const *coros, size_t n, uint64_t *results);
/* asyncio.wait(..., return_when=FIRST_COMPLETED): runs until at least one of
 * the n coroutines is done and stores the index of the one that finished
 * first in *index; the others stay pending (run the loop again, or cancel
 * them). Returns 0, CL_EEMPTY (n is 0) or the run errors. */
int cl_loop_wait_first(struct cl_loop *loop, struct cl_coro *const *coros, size_t n, size_t *index);

#ifdef __cplusplus
}
#endif
#endif
