/* Seed example 59 (asyncio basics): three fetches gathered on one event loop.
 * Each waits 0.1 s (the seed's 1 s, scaled down); together they take about
 * 0.1 s, not 0.3 s, because the loop runs the others while one waits. */
#include <stdio.h>
#include <time.h>

#include "conlab/error.h"
#include "conlab/event_loop.h"

static const char *const urls[3] = {"https://api1.com", "https://api2.com", "https://api3.com"};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* async def fetch_data(url): the argument is the url's index. */
static int fetch_data(struct cl_coro *co, void *arg) {
  size_t i = *(const size_t *)arg;
  switch (co->pc) {
  case 0:
    printf("Fetching %s...\n", urls[i]);
    co->pc = 1;
    cl_coro_sleep(co, 100000000); /* await asyncio.sleep(0.1) */
    return CL_CORO_PENDING;
  default:
    printf("Completed %s\n", urls[i]);
    return cl_coro_return(co, cl_coro_wait_status(co), i); /* "Data from {url}" */
  }
}

int main(void) {
  struct cl_loop *loop;
  struct cl_coro co[3] = {0};
  struct cl_coro *set[3] = {&co[0], &co[1], &co[2]};
  size_t idx[3] = {0, 1, 2};
  uint64_t results[3];
  int rc = cl_loop_create(NULL, &loop);
  if (rc != 0) {
    fprintf(stderr, "cl_loop_create: %s\n", cl_strerror(rc));
    return 1;
  }
  double t0 = now_s();
  for (size_t i = 0; i < 3; i++)
    cl_loop_spawn(loop, &co[i], fetch_data, &idx[i]);
  rc = cl_loop_gather(loop, set, 3, results); /* await asyncio.gather(...) */
  double elapsed = now_s() - t0;
  cl_loop_destroy(loop);
  if (rc != 0) {
    fprintf(stderr, "gather: %s\n", cl_strerror(rc));
    return 1;
  }
  printf("['Data from %s', 'Data from %s', 'Data from %s']\n", urls[results[0]], urls[results[1]],
         urls[results[2]]);
  printf("Total time: %.3f s (3 fetches of 0.1 s each; sequential would take 0.3 s)\n", elapsed);
  return 0;
}
