/* Seed example 60 (asyncio tasks): tasks run in the background while the main
 * coroutine works, are awaited for their results, and asyncio.wait(...,
 * FIRST_COMPLETED) returns as soon as the first of three is done. Times are
 * the seed's scaled down tenfold (1 s becomes 0.1 s). */
#include <stdio.h>
#include <time.h>

#include "conlab/error.h"
#include "conlab/event_loop.h"

#define MS 1000000ull

struct item {
  const char *name;
  uint64_t delay_ns;
  char result[32]; /* "Processed A", written by the task */
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* async def process_item(item, delay) */
static int process_item(struct cl_coro *co, void *arg) {
  struct item *it = arg;
  switch (co->pc) {
  case 0:
    co->pc = 1;
    cl_coro_sleep(co, it->delay_ns); /* await asyncio.sleep(delay) */
    return CL_CORO_PENDING;
  default:
    snprintf(it->result, sizeof it->result, "Processed %s", it->name);
    return cl_coro_return(co, cl_coro_wait_status(co), 0);
  }
}

/* The seed's main() up to `print(result1, result2)`: a coroutine too, so that
 * it can sleep and await while its two tasks run. */
struct main_state {
  struct item a, b;
  struct cl_coro task1, task2;
};

static int main_coro(struct cl_coro *co, void *arg) {
  struct main_state *s = arg;
  struct cl_loop *loop = cl_coro_loop(co);
  switch (co->pc) {
  case 0:
    cl_loop_spawn(loop, &s->task1, process_item, &s->a); /* asyncio.create_task */
    cl_loop_spawn(loop, &s->task2, process_item, &s->b);
    printf("Tasks running in background...\n");
    co->pc = 1;
    cl_coro_sleep(co, 50 * MS); /* await asyncio.sleep(0.05) */
    return CL_CORO_PENDING;
  case 1:
    printf("Still working...\n");
    co->pc = 2;
    cl_coro_await(co, &s->task1); /* result1 = await task1 */
    return CL_CORO_PENDING;
  case 2:
    co->pc = 3;
    cl_coro_await(co, &s->task2); /* result2 = await task2 (already done) */
    return CL_CORO_PENDING;
  default:
    printf("%s %s\n", s->a.result, s->b.result);
    return cl_coro_return(co, 0, 0);
  }
}

int main(void) {
  struct cl_loop *loop;
  int rc = cl_loop_create(NULL, &loop);
  if (rc != 0) {
    fprintf(stderr, "cl_loop_create: %s\n", cl_strerror(rc));
    return 1;
  }

  struct main_state s = {.a = {.name = "A", .delay_ns = 200 * MS},
                         .b = {.name = "B", .delay_ns = 100 * MS}};
  struct cl_coro main_co = {0};
  double t0 = now_s();
  cl_loop_spawn(loop, &main_co, main_coro, &s);
  rc = cl_loop_run_until(loop, &main_co);
  double t_both = now_s() - t0;
  if (rc != 0 || cl_coro_result(&main_co, NULL) != 0) {
    fprintf(stderr, "main coroutine failed\n");
    cl_loop_destroy(loop);
    return 1;
  }
  printf("Both tasks done in %.3f s (A 0.2 s and B 0.1 s ran together; not 0.3 s)\n", t_both);

  /* Wait for the first of Item1 (0.1 s), Item2 (0.2 s), Item3 (0.3 s). */
  struct item items[3] = {{.name = "Item1", .delay_ns = 100 * MS},
                          {.name = "Item2", .delay_ns = 200 * MS},
                          {.name = "Item3", .delay_ns = 300 * MS}};
  struct cl_coro tasks[3] = {0};
  struct cl_coro *set[3] = {&tasks[0], &tasks[1], &tasks[2]};
  size_t first = 0;
  t0 = now_s();
  for (size_t i = 0; i < 3; i++)
    cl_loop_spawn(loop, &tasks[i], process_item, &items[i]);
  rc = cl_loop_wait_first(loop, set, 3, &first); /* asyncio.wait(FIRST_COMPLETED) */
  double t_first = now_s() - t0;
  if (rc != 0) {
    fprintf(stderr, "wait_first: %s\n", cl_strerror(rc));
    cl_loop_destroy(loop);
    return 1;
  }
  printf("First completed: %s\n", items[first].result);
  size_t pending = 0;
  for (size_t i = 0; i < 3; i++)
    if (!cl_coro_done(&tasks[i])) pending++;
  printf("Returned after %.3f s with %zu tasks still pending\n", t_first, pending);
  /* asyncio.run cancels what is left when main returns; so do we. */
  for (size_t i = 0; i < 3; i++)
    if (!cl_coro_done(&tasks[i])) cl_coro_cancel(&tasks[i]);
  rc = cl_loop_run(loop);
  cl_loop_destroy(loop);
  return rc == 0 ? 0 : 1;
}
