/* Seed example 64 (profiling with cProfile): finds the hot function of
 * calculate_sequence(), fib(i) for i in range(25) by naive recursion. C has
 * no cProfile; perf or gprof play its part, and this program prints how to
 * run them, the call count cProfile would report and a crude self-timed
 * breakdown per call of the kernel. An optional argument sets the count
 * (25 by default; use 35 to give perf enough samples). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "conlab/kernel.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The seed's fibonacci() with a call counter: what cProfile's ncalls counts. */
static unsigned long long ncalls;

static uint64_t fibonacci(uint64_t n) {
  ncalls++;
  return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2);
}

int main(int argc, char **argv) {
  unsigned count = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 25;
  if (count < 1 || count > 45) {
    fprintf(stderr, "usage: %s [count 1..45]\n", argv[0]);
    return 2;
  }
  double t_total = 0, t_max = 0;
  unsigned n_max = 0;
  static double t_each[45];
  uint64_t last = 0;
  /* calculate_sequence(): the hot loop, on conlab's fib kernel. Each call is
   * timed five times and the fastest kept, so that a preemption does not
   * masquerade as a hot spot. */
  for (unsigned i = 0; i < count; i++) {
    t_each[i] = 1e9;
    for (int rep = 0; rep < 5; rep++) {
      double t0 = now_s();
      last = cl_kernel_run(CL_K_FIB, i, i + 1, NULL);
      double t = now_s() - t0;
      if (t < t_each[i]) t_each[i] = t;
    }
    t_total += t_each[i];
    if (t_each[i] > t_max) {
      t_max = t_each[i];
      n_max = i;
    }
  }
  for (unsigned i = 0; i < count; i++) {
    if (fibonacci(i) != cl_kernel_run(CL_K_FIB, i, i + 1, NULL)) {
      fprintf(stderr, "fib(%u) differs between the kernel and fibonacci()\n", i);
      return 1;
    }
  }
  printf("fib(%u) = %llu\n", count - 1, (unsigned long long)last);
  printf("ncalls: %llu (fibonacci called %llu times for just %u numbers)\n", ncalls, ncalls, count);
  printf("cumtime: %.4fs (total time of the %u kernel calls)\n", t_total, count);
  printf("Self-timed breakdown, the largest calls:\n");
  for (unsigned i = count > 5 ? count - 5 : 0; i < count; i++)
    printf("  fib(%2u): %9.6f s  %5.1f%%\n", i, t_each[i],
           t_total > 0 ? 100.0 * t_each[i] / t_total : 0.0);
  printf("Hot spot: fib(%u) alone takes %.1f%% of the time\n", n_max,
         t_total > 0 ? 100.0 * t_max / t_total : 0.0);
  printf("Key insight: exponential recursion; use memoization or an iterative loop\n");
  printf("To find the hot kernel with perf:\n");
  printf(
      "  perf record -g ./ex64_profile 35 && perf report   (look for fib_plain / fib_yielding)\n");
  printf("With gprof:\n");
  printf("  cmake -DCMAKE_C_FLAGS=-pg -DCMAKE_EXE_LINKER_FLAGS=-pg ..., then\n");
  printf("  ./ex64_profile 35 && gprof ./ex64_profile gmon.out | head -20\n");
  return 0;
}
