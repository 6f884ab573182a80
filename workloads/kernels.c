#include "conlab/kernel.h"

#include "conlab/task.h"

#include <stddef.h>

/* Mandel results must be bit-identical wherever they are computed, so no
 * multiply-add contraction (gcc already contracts nothing under -std=c17). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* An empty asm that claims to change `x`: the compiler can no longer see the
 * induction value, so it cannot fold a loop into a closed form or hoist it. */
#define OPAQUE(x) __asm__ volatile("" : "+r"(x))

/* Work between yield points, chosen so that each chunk takes a few
 * microseconds on a current core. */
enum {
  SUMSQ_CHUNK = 4096,
  SPIN_CHUNK = 1024,
  STREAM_CHUNK = 4096,
  PRIMES_CHUNK = 16,
  FIB_LEAF = 18,
  MANDEL_BUDGET = 4096
};

static const char *const kernel_names[] = {
#define KERNEL_NAME(id, name) [id] = name,
    CL_KERNEL_MAP(KERNEL_NAME)
#undef KERNEL_NAME
};

const char *cl_kernel_name(uint32_t id) {
  if (id >= CL_K__COUNT || !kernel_names[id]) return "?";
  return kernel_names[id];
}

static uint64_t k_sumsq(uint64_t begin, uint64_t end) {
  uint64_t sum = 0;
  uint64_t i = begin;
  while (i < end) {
    uint64_t stop = end - i > SUMSQ_CHUNK ? i + SUMSQ_CHUNK : end;
    for (; i < stop; i++) {
      uint64_t x = i;
      OPAQUE(x);
      sum += x * x;
    }
    cl_yield_point();
  }
  return sum;
}

static uint64_t fib_plain(uint64_t n) {
  return n < 2 ? n : fib_plain(n - 1) + fib_plain(n - 2);
}

/* Recursion above FIB_LEAF yields after every leaf subtree (about 10^4 calls). */
static uint64_t fib_yielding(uint64_t n) {
  if (n <= FIB_LEAF) {
    uint64_t r = fib_plain(n);
    cl_yield_point();
    return r;
  }
  return fib_yielding(n - 1) + fib_yielding(n - 2);
}

/* 32-bit division is much cheaper than 64-bit on most cores, and almost every
 * range a workload asks for fits. */
static int is_prime32(uint32_t n) {
  if (n < 4) return n >= 2;
  if (n % 2 == 0) return 0;
  /* Quotient and remainder come from one division (written so that clang
   * does not split it in two); `q < d` means d*d > n without computing d*d. */
  for (uint32_t d = 3;; d += 2) {
    uint32_t q = n / d, r = n - q * d;
    if (r == 0) return 0;
    if (q < d) return 1;
  }
}

static int is_prime64(uint64_t n) {
  if (n <= UINT32_MAX) return is_prime32((uint32_t)n);
  if (n % 2 == 0) return 0;
  for (uint64_t d = 3;; d += 2) {
    uint64_t q = n / d, r = n - q * d;
    if (r == 0) return 0;
    if (q < d) return 1;
  }
}

static uint64_t k_primes(uint64_t begin, uint64_t end) {
  uint64_t count = 0;
  uint64_t n = begin;
  while (n < end) {
    uint64_t stop = end - n > PRIMES_CHUNK ? n + PRIMES_CHUNK : end;
    for (; n < stop; n++)
      count += (uint64_t)is_prime64(n);
    cl_yield_point();
  }
  return count;
}

static uint64_t k_mandel(uint64_t begin, uint64_t end, const struct cl_mandel_data *md) {
  if (!md || md->width == 0 || md->height == 0) return 0;
  if (end > md->height) end = md->height;
  const double dx = 2.5 / (double)md->width;
  const double dy = 2.5 / (double)md->height;
  const uint32_t max_iter = md->max_iter;
  uint64_t sum = 0;
  uint64_t budget = 0;
  for (uint64_t py = begin; py < end; py++) {
    const double ci = -1.25 + ((double)py + 0.5) * dy;
    for (uint32_t px = 0; px < md->width; px++) {
      const double cr = -2.0 + ((double)px + 0.5) * dx;
      double zr = 0.0, zi = 0.0, zr2 = 0.0, zi2 = 0.0;
      uint32_t it = 0;
      while (it < max_iter && zr2 + zi2 <= 4.0) {
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        zr2 = zr * zr;
        zi2 = zi * zi;
        it++;
      }
      sum += it;
      /* One unit of budget per iteration, plus one per pixel for the setup. */
      budget += (uint64_t)it + 1;
      if (budget >= MANDEL_BUDGET) {
        budget = 0;
        cl_yield_point();
      }
    }
  }
  return sum;
}

static uint64_t k_stream(uint64_t begin, uint64_t end, const struct cl_stream_data *sd) {
  if (!sd) return 0;
  if (end > sd->len) end = sd->len;
  uint64_t *restrict a = sd->a;
  const uint64_t *restrict b = sd->b;
  const uint64_t *restrict c = sd->c;
  uint64_t sum = 0;
  uint64_t i = begin;
  while (i < end) {
    uint64_t stop = end - i > STREAM_CHUNK ? i + STREAM_CHUNK : end;
    for (; i < stop; i++) {
      uint64_t v = b[i] + 3 * c[i];
      a[i] = v;
      sum += v;
    }
    cl_yield_point();
  }
  return sum;
}

static uint64_t k_spin(uint64_t begin, uint64_t end) {
  uint64_t x = begin;
  uint64_t r = begin;
  while (r < end) {
    uint64_t stop = end - r > SPIN_CHUNK ? r + SPIN_CHUNK : end;
    for (; r < stop; r++)
      x = cl_mix64(x + r);
    cl_yield_point();
  }
  return x;
}

uint64_t cl_kernel_run(uint32_t id, uint64_t begin, uint64_t end, const void *data) {
  switch (id) {
  case CL_K_NOOP:
    return begin;
  case CL_K_SUMSQ:
    return k_sumsq(begin, end);
  case CL_K_FIB:
    return fib_yielding(begin);
  case CL_K_PRIMES:
    return k_primes(begin, end);
  case CL_K_MANDEL:
    return k_mandel(begin, end, data);
  case CL_K_STREAM:
    return k_stream(begin, end, data);
  case CL_K_SPIN:
    return k_spin(begin, end);
  default:
    return 0;
  }
}
