/* Seed example 67 (ThreadPoolExecutor): 10 tasks on a pool of 3 workers,
 * collected with as_completed. Each task waits 0.1 s (the seed's 1 s, scaled
 * down), so the pool needs ceil(10 / 3) = 4 rounds: about 0.4 s. */
#include <stdio.h>
#include <time.h>

#include "conlab/error.h"
#include "conlab/thread_pool.h"

#define NTASKS 10

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* def process_task(task_id): returns the id; main prints "Task X completed". */
static uint64_t process_task(void *arg) {
  struct timespec d = {.tv_sec = 0, .tv_nsec = 100000000}; /* time.sleep(0.1) */
  while (nanosleep(&d, &d) != 0) {
  }
  return *(const uint64_t *)arg;
}

int main(void) {
  struct cl_thread_pool *pool;
  struct cl_future futures[NTASKS] = {0};
  struct cl_future *set[NTASKS];
  uint64_t ids[NTASKS];
  int rc = cl_thread_pool_create(3, NULL, &pool); /* ThreadPoolExecutor(max_workers=3) */
  if (rc != 0) {
    fprintf(stderr, "cl_thread_pool_create: %s\n", cl_strerror(rc));
    return 1;
  }
  double t0 = now_s();
  for (size_t i = 0; i < NTASKS; i++) {
    ids[i] = i;
    set[i] = &futures[i];
    rc = cl_thread_pool_submit(pool, &futures[i], process_task, &ids[i]); /* executor.submit */
    if (rc != 0) {
      fprintf(stderr, "submit: %s\n", cl_strerror(rc));
      cl_thread_pool_destroy(pool, CL_POOL_CANCEL);
      return 1;
    }
  }
  struct cl_as_completed it;
  struct cl_future *done;
  int status = cl_as_completed_init(&it, set, NTASKS);
  while (status == 0 && cl_as_completed_next(&it, &done) == 0) { /* for f in as_completed() */
    uint64_t result;
    status = cl_future_wait(done, &result); /* future.result(): done, so no wait */
    if (status == 0) printf("Task %llu completed\n", (unsigned long long)result);
  }
  cl_thread_pool_destroy(pool, CL_POOL_DRAIN); /* shutdown(wait=True) */
  if (status != 0) {
    fprintf(stderr, "as_completed: %s\n", cl_strerror(status));
    return 1;
  }
  printf("All %d tasks complete in %.3f s (%d tasks / 3 workers = 4 rounds of 0.1 s)\n", NTASKS,
         now_s() - t0, NTASKS);
  return 0;
}
