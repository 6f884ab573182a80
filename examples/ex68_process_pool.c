/* Seed example 68 (multiprocessing for CPU-bound tasks): Pool(processes=4)
 * maps a sum of squares over four inputs of 10**7. Each worker is its own
 * process, so the four sums run in parallel on as many cores as there are. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "conlab/error.h"
#include "conlab/kernel.h"
#include "conlab/process_pool.h"

#define N 10000000ull
#define BIG 200000000ull /* for the timing: long enough to hide the messages */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* def cpu_intensive_task(n): sum of i ** 2 for i in range(n). It runs in a
 * worker process; the pool sends it by address, which the fork preserved. */
static uint64_t cpu_intensive_task(uint64_t n) {
  return cl_kernel_run(CL_K_SUMSQ, 0, n, NULL);
}

int main(void) {
  uint64_t args[4] = {N, N, N, N}, results[4], seq[4];

  struct cl_process_pool *pool;
  struct cl_process_pool_options opt = {.workers = 4};
  int rc = cl_process_pool_create(&opt, &pool); /* with Pool(processes=4) as pool */
  if (rc != 0) {
    fprintf(stderr, "cl_process_pool_create: %s %s\n", cl_strerror(rc), cl_error_detail());
    return 1;
  }
  rc = cl_process_pool_map(pool, cpu_intensive_task, args, results, 4, 0); /* pool.map */

  /* Timing: the same map on bigger inputs, against a plain loop. */
  uint64_t big[4] = {BIG, BIG, BIG, BIG}, big_results[4];
  double t0 = now_s(), t_pool = 0;
  if (rc == 0) rc = cl_process_pool_map(pool, cpu_intensive_task, big, big_results, 4, 0);
  t_pool = now_s() - t0;
  cl_process_pool_destroy(pool);
  if (rc != 0) {
    fprintf(stderr, "cl_process_pool_map: %s %s\n", cl_strerror(rc), cl_error_detail());
    return 1;
  }
  t0 = now_s();
  for (size_t i = 0; i < 4; i++)
    seq[i] = cpu_intensive_task(big[i]);
  double t_seq = now_s() - t0;
  printf("Results: [%llu, %llu, %llu, %llu]\n", (unsigned long long)results[0],
         (unsigned long long)results[1], (unsigned long long)results[2],
         (unsigned long long)results[3]);
  for (size_t i = 0; i < 4; i++) {
    if (big_results[i] != seq[i]) {
      fprintf(stderr, "result %zu differs from the sequential one\n", i);
      return 1;
    }
  }
  printf("(C sums wrap modulo 2**64; Python's exact sum, 333333283333335000000, does not)\n");
  printf("4 tasks of n = %llu: sequential %.3f s, Pool(processes=4) %.3f s, speedup %.2fx on %ld "
         "cores\n",
         (unsigned long long)BIG, t_seq, t_pool, t_pool > 0 ? t_seq / t_pool : 0.0,
         sysconf(_SC_NPROCESSORS_ONLN));
  return 0;
}
