/* Kernel results against values computed here by other methods: closed
 * forms, iteration, a sieve, the buffers' formula. */
#include "cl_test.h"

#include "conlab/kernel.h"
#include "conlab/task.h"
#include "workloads/workloads_internal.h"

#include <stdint.h>
#include <stdlib.h>

/* Sum of i*i for i < n, straight from n(n-1)(2n-1)/6 in 128 bits; exact for
 * n < 2^41, where the product still fits. */
static uint64_t sumsq_formula(uint64_t n) {
  unsigned __int128 m = n;
  return (uint64_t)(m * (m - (n > 0)) * (2 * m - (n > 0)) / 6);
}

static uint64_t sumsq_loop(uint64_t begin, uint64_t end) {
  uint64_t s = 0;
  for (uint64_t i = begin; i < end; i++)
    s += i * i;
  return s;
}

static uint64_t fib_iter(uint64_t n) {
  uint64_t a = 0, b = 1;
  while (n--) {
    uint64_t t = a + b;
    a = b;
    b = t;
  }
  return a;
}

/* Primes in [lo, hi) by sieving the window with the primes up to sqrt(hi). */
static uint64_t primes_sieve(uint64_t lo, uint64_t hi) {
  if (hi <= lo) return 0;
  uint64_t root = 1;
  while ((root + 1) * (root + 1) < hi)
    root++;
  unsigned char *small = calloc(root + 2, 1);
  unsigned char *win = calloc(hi - lo, 1);
  if (!small || !win) abort();
  for (uint64_t i = 2; i <= root; i++) {
    if (small[i]) continue;
    for (uint64_t j = i * i; j <= root; j += i)
      small[j] = 1;
    uint64_t start = (lo + i - 1) / i * i;
    if (start < i * i) start = i * i;
    for (uint64_t j = start; j < hi; j += i)
      win[j - lo] = 1;
  }
  uint64_t count = 0;
  for (uint64_t n = lo; n < hi; n++)
    count += n >= 2 && !win[n - lo];
  free(small);
  free(win);
  return count;
}

static void test_names(void) {
  CHECK_STR(cl_kernel_name(CL_K_NOOP), "noop");
  CHECK_STR(cl_kernel_name(CL_K_SUMSQ), "sumsq");
  CHECK_STR(cl_kernel_name(CL_K_FIB), "fib");
  CHECK_STR(cl_kernel_name(CL_K_PRIMES), "primes");
  CHECK_STR(cl_kernel_name(CL_K_MANDEL), "mandel");
  CHECK_STR(cl_kernel_name(CL_K_STREAM), "stream");
  CHECK_STR(cl_kernel_name(CL_K_SPIN), "spin");
  CHECK_STR(cl_kernel_name(CL_K__COUNT), "?");
  CHECK_STR(cl_kernel_name(UINT32_MAX), "?");
  CHECK_EQ_U64(cl_kernel_run(CL_K__COUNT, 5, 10, NULL), 0);
  CHECK_EQ_U64(cl_kernel_run(9999, 5, 10, NULL), 0);
}

static void test_noop(void) {
  CHECK_EQ_U64(cl_kernel_run(CL_K_NOOP, 0, 0, NULL), 0);
  CHECK_EQ_U64(cl_kernel_run(CL_K_NOOP, 12345, 99999999999, NULL), 12345);
}

static void test_sumsq(void) {
  CHECK_EQ_U64(cl_kernel_run(CL_K_SUMSQ, 0, 0, NULL), 0);
  CHECK_EQ_U64(cl_kernel_run(CL_K_SUMSQ, 7, 7, NULL), 0);
  CHECK_EQ_U64(cl_kernel_run(CL_K_SUMSQ, 9, 3, NULL), 0);
  CHECK_EQ_U64(cl_kernel_run(CL_K_SUMSQ, 0, 4, NULL), 14);
  /* Ranges around the chunk size, and the seed's 10^7 (ex. 68 prints it). */
  const uint64_t ends[] = {1, 2, 4095, 4096, 4097, 8192, 100003, 10000000};
  for (size_t k = 0; k < sizeof ends / sizeof ends[0]; k++)
    CHECK_EQ_U64(cl_kernel_run(CL_K_SUMSQ, 0, ends[k], NULL), sumsq_formula(ends[k]));
  /* Seed ex. 68's sum for 10^7 is 333333283333335000000 (its comment drops
   * three zeros); it exceeds 2^64, so the kernel returns it wrapped. */
  CHECK_EQ_U64(cl_kernel_run(CL_K_SUMSQ, 0, 10000000, NULL),
               (uint64_t)((unsigned __int128)UINT64_C(333333283333335) * 1000000));
  /* An inner range, and one whose squares wrap past 2^64. */
  CHECK_EQ_U64(cl_kernel_run(CL_K_SUMSQ, 1000, 50000, NULL),
               sumsq_formula(50000) - sumsq_formula(1000));
  uint64_t hi = UINT64_C(1) << 40;
  CHECK_EQ_U64(cl_kernel_run(CL_K_SUMSQ, hi - 300000, hi, NULL),
               sumsq_formula(hi) - sumsq_formula(hi - 300000));
  CHECK_EQ_U64(cl_kernel_run(CL_K_SUMSQ, hi - 300000, hi, NULL), sumsq_loop(hi - 300000, hi));

  /* The catalogue's closed forms: against the direct formula where it is
   * exact, and by their differences where n is too large for it. */
  const uint64_t ns[] = {0, 1, 2, 3, 5, 6, 7, 1000, 999999, (UINT64_C(1) << 40) + 3};
  for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
    CHECK_EQ_U64(cl__wl_sumsq_below(ns[k]), sumsq_formula(ns[k]));
    CHECK_EQ_U64(cl__wl_sum_below(ns[k]),
                 (uint64_t)((unsigned __int128)ns[k] * (ns[k] ? ns[k] - 1 : 0) / 2));
  }
  const uint64_t big[] = {UINT64_C(1) << 50, (UINT64_C(1) << 62) + 11, (UINT64_C(1) << 63) - 2};
  for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
    uint64_t n = big[k];
    CHECK_EQ_U64(cl__wl_sumsq_below(n + 1) - cl__wl_sumsq_below(n), n * n);
    CHECK_EQ_U64(cl__wl_sumsq_below(n + 3) - cl__wl_sumsq_below(n),
                 n * n + (n + 1) * (n + 1) + (n + 2) * (n + 2));
    CHECK_EQ_U64(cl__wl_sum_below(n + 1) - cl__wl_sum_below(n), n);
  }
}

static void test_fib(void) {
  for (uint64_t n = 0; n <= 30; n++)
    CHECK_EQ_U64(cl_kernel_run(CL_K_FIB, n, 0, NULL), fib_iter(n));
  CHECK_EQ_U64(cl_kernel_run(CL_K_FIB, 24, 25, NULL), 46368);
}

static void test_primes(void) {
  CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, 0, 0, NULL), 0);
  CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, 0, 2, NULL), 0);
  CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, 0, 3, NULL), 1);
  CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, 2, 4, NULL), 2);
  CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, 0, 100, NULL), 25);
  CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, 0, 1000000, NULL), 78498);
  for (uint64_t hi = 0; hi < 200; hi++)
    CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, 0, hi, NULL), primes_sieve(0, hi));
  CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, 0, 300000, NULL), primes_sieve(0, 300000));
  CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, 999000, 1001017, NULL), primes_sieve(999000, 1001017));
  /* Squares of primes are where an off-by-one in the bound shows. */
  const uint64_t squares[] = {9, 25, 49, 121, 169, 65521ull * 65521ull};
  for (size_t k = 0; k < sizeof squares / sizeof squares[0]; k++)
    CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, squares[k], squares[k] + 1, NULL), 0);
  /* Above 2^32 the kernel leaves its 32-bit path; 2^32 + 15 is the first
   * prime there. */
  uint64_t t32 = UINT64_C(1) << 32;
  CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, t32, t32 + 16, NULL), 1);
  CHECK_EQ_U64(cl_kernel_run(CL_K_PRIMES, t32 - 2000, t32 + 2000, NULL),
               primes_sieve(t32 - 2000, t32 + 2000));
}

/* The Mandelbrot grid, recomputed here pixel by pixel. */
static uint64_t mandel_rows(const struct cl_mandel_data *md, uint32_t r0, uint32_t r1) {
  uint64_t sum = 0;
  for (uint32_t py = r0; py < r1; py++)
    for (uint32_t px = 0; px < md->width; px++) {
      double cr = -2.0 + ((double)px + 0.5) * (2.5 / (double)md->width);
      double ci = -1.25 + ((double)py + 0.5) * (2.5 / (double)md->height);
      double zr = 0, zi = 0;
      uint32_t it = 0;
      while (it < md->max_iter && zr * zr + zi * zi <= 4.0) {
        double t = zr * zr - zi * zi + cr;
        zi = 2.0 * zr * zi + ci;
        zr = t;
        it++;
      }
      sum += it;
    }
  return sum;
}

static void test_mandel(void) {
  struct cl_mandel_data md = {.width = 96, .height = 64, .max_iter = 200};
  uint64_t whole = cl_kernel_run(CL_K_MANDEL, 0, md.height, &md);
  CHECK_EQ_U64(whole, mandel_rows(&md, 0, md.height));
  uint64_t parts = 0;
  for (uint32_t r = 0; r < md.height; r += 7)
    parts += cl_kernel_run(CL_K_MANDEL, r, r + 7 < md.height ? r + 7 : md.height, &md);
  CHECK_EQ_U64(parts, whole);
  CHECK_EQ_U64(cl_kernel_run(CL_K_MANDEL, 10, 11, &md), mandel_rows(&md, 10, 11));
  /* Rows past the grid are ignored; no data means no work. */
  CHECK_EQ_U64(cl_kernel_run(CL_K_MANDEL, 60, 1000, &md), mandel_rows(&md, 60, 64));
  CHECK_EQ_U64(cl_kernel_run(CL_K_MANDEL, 0, 64, NULL), 0);
  /* Every pixel iterates at least once; points inside the set run to max_iter. */
  CHECK(whole >= (uint64_t)md.width * md.height);
  CHECK(whole < (uint64_t)md.width * md.height * md.max_iter);
  /* Load imbalance: the middle band costs far more than the top one. */
  uint64_t top = cl_kernel_run(CL_K_MANDEL, 0, 8, &md);
  uint64_t mid = cl_kernel_run(CL_K_MANDEL, 28, 36, &md);
  CHECK(mid > 5 * top);
}

static void test_stream(void) {
  const uint64_t len = 10007;
  struct cl_stream_data sd = {
      .a = calloc(len, 8), .b = malloc(len * 8), .c = malloc(len * 8), .len = len};
  if (!sd.a || !sd.b || !sd.c) abort();
  for (uint64_t i = 0; i < len; i++) {
    sd.b[i] = i * 5 + 1;
    sd.c[i] = i ^ 0x55;
  }
  uint64_t want = 0;
  for (uint64_t i = 0; i < len; i++)
    want += (i * 5 + 1) + 3 * (i ^ 0x55);
  CHECK_EQ_U64(cl_kernel_run(CL_K_STREAM, 0, len, &sd), want);
  int ok = 1;
  for (uint64_t i = 0; i < len; i++)
    ok &= sd.a[i] == (i * 5 + 1) + 3 * (i ^ 0x55);
  CHECK(ok);
  uint64_t part = 0;
  for (uint64_t i = 100; i < 5000; i++)
    part += sd.a[i];
  CHECK_EQ_U64(cl_kernel_run(CL_K_STREAM, 100, 5000, &sd), part);
  /* The range is clipped to the buffers. */
  CHECK_EQ_U64(cl_kernel_run(CL_K_STREAM, 0, len + 100000, &sd), want);
  CHECK_EQ_U64(cl_kernel_run(CL_K_STREAM, 0, len, NULL), 0);
  free(sd.a);
  free(sd.b);
  free(sd.c);
}

static void test_spin(void) {
  CHECK_EQ_U64(cl_kernel_run(CL_K_SPIN, 77, 77, NULL), 77);
  const uint64_t cases[][2] = {{0, 1}, {0, 1023}, {0, 1024}, {5, 5000}, {1u << 20, (1u << 20) + 3}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    uint64_t x = cases[k][0];
    for (uint64_t r = cases[k][0]; r < cases[k][1]; r++)
      x = cl_mix64(x + r);
    CHECK_EQ_U64(cl_kernel_run(CL_K_SPIN, cases[k][0], cases[k][1], NULL), x);
  }
}

int main(void) {
  test_names();
  test_noop();
  test_sumsq();
  test_fib();
  test_primes();
  test_mandel();
  test_stream();
  test_spin();
  return CL_TEST_DONE();
}
