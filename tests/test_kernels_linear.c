/* Kernel time grows with the work asked for: four times the range takes
 * about four times as long. A compiler that folded a loop into a closed form
 * (or hoisted it) would give a ratio near 1. Kernels work in chunks between
 * yield points, and a closed form per chunk would still scale with the
 * number of chunks, so ranges inside one chunk are compared too, and sumsq
 * must not run faster than any core can square and add.
 * Each time is the minimum of several runs, measured alternately, and the
 * accepted band is wide, so a loaded machine passes. */
#include "cl_test.h"

#include "conlab/kernel.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define RUNS 9
#define ATTEMPTS 3

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps results alive so no call can be dropped. */
static volatile uint64_t sink;

struct range {
  uint64_t begin, end;
};

static double time_calls(uint32_t id, struct range r, unsigned reps, const void *data) {
  double t0 = now_s();
  for (unsigned k = 0; k < reps; k++)
    sink += cl_kernel_run(id, r.begin, r.end, data);
  return now_s() - t0;
}

/* Minimum times of `reps` calls on the small and on the large range,
 * measured alternately so that a change of clock speed or load hits both. */
static void best_times(uint32_t id, struct range small, struct range large, unsigned reps,
                       const void *data, double *t_small, double *t_large) {
  *t_small = *t_large = 1e30;
  for (int r = 0; r < RUNS; r++) {
    double ts = time_calls(id, small, reps, data);
    double tl = time_calls(id, large, reps, data);
    if (ts < *t_small) *t_small = ts;
    if (tl < *t_large) *t_large = tl;
  }
}

/* A ratio outside the band is measured again, up to ATTEMPTS times: noise
 * passes on a later attempt, a closed form never does. Returns the best time
 * of one call on the large range. */
static double check_ratio(const char *what, uint32_t id, struct range small, struct range large,
                          unsigned reps, const void *data, double expect) {
  double ratio = 0, t_large = 0;
  for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
    double t_small;
    best_times(id, small, large, reps, data, &t_small, &t_large);
    ratio = t_large / t_small;
    printf("%-14s %10.4f ms -> %10.4f ms  ratio %.2f (expected about %.2f)\n", what, t_small * 1e3,
           t_large * 1e3, ratio, expect);
    if (ratio >= 2.5 && ratio <= 6.0) break;
  }
  CL_T_REPORT(ratio >= 2.5 && ratio <= 6.0, "%s: time ratio %.2f outside [2.5, 6]", what, ratio);
  return t_large / reps;
}

int main(void) {
  const uint64_t n = UINT64_C(1) << 22;
  double t = check_ratio("sumsq", CL_K_SUMSQ, (struct range){0, n}, (struct range){0, 4 * n}, 1,
                         NULL, 4.0);
  /* A scalar core squares and adds at most a few values per nanosecond; a
   * folded loop does millions. */
  double ns_per_value = t * 1e9 / (double)(4 * n);
  printf("sumsq          %.3f ns per value\n", ns_per_value);
  CL_T_REPORT(ns_per_value > 0.02, "sumsq: %.4f ns per value is faster than a loop can be",
              ns_per_value);
  /* The same range far from zero: no shortcut there either. */
  const uint64_t base = UINT64_C(1) << 40;
  check_ratio("sumsq@2^40", CL_K_SUMSQ, (struct range){base, base + n},
              (struct range){base, base + 4 * n}, 1, NULL, 4.0);
  /* Inside one chunk of 4096 values. */
  check_ratio("sumsq/chunk", CL_K_SUMSQ, (struct range){base, base + 1000},
              (struct range){base, base + 4000}, 2000, NULL, 4.0);

  const uint64_t s = UINT64_C(1) << 18;
  check_ratio("spin", CL_K_SPIN, (struct range){0, s}, (struct range){0, 4 * s}, 1, NULL, 4.0);
  check_ratio("spin/chunk", CL_K_SPIN, (struct range){0, 250}, (struct range){0, 1000}, 1000, NULL,
              4.0);

  /* Both sizes fit in the last-level cache (3 and 12 MiB over the three
   * buffers), so the ratio measures the loop and not a change of level. */
  const uint64_t m = UINT64_C(1) << 17;
  struct cl_stream_data sd = {
      .a = calloc(4 * m, 8), .b = calloc(4 * m, 8), .c = calloc(4 * m, 8), .len = 4 * m};
  if (!sd.a || !sd.b || !sd.c) abort();
  for (uint64_t i = 0; i < 4 * m; i++) {
    sd.b[i] = i;
    sd.c[i] = 2 * i + 1;
  }
  check_ratio("stream", CL_K_STREAM, (struct range){0, m}, (struct range){0, 4 * m}, 1, &sd, 4.0);
  free(sd.a);
  free(sd.b);
  free(sd.c);

  /* fib(n + 3) makes phi^3 (about 4.24) times as many calls as fib(n). */
  check_ratio("fib", CL_K_FIB, (struct range){27, 28}, (struct range){30, 31}, 1, NULL, 4.24);
  return CL_TEST_DONE();
}
