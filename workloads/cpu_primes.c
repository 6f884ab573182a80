#include "conlab/error.h"
#include "conlab/kernel.h"
#include "conlab/workload.h"
#include "workloads/workloads_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The largest number tested, tasks x size, stays below 2^32. */
#define PRIMES_MAX_END (UINT64_C(1) << 32)
#define SEGMENT (UINT64_C(1) << 16)

static uint64_t isqrt(uint64_t n) {
  uint64_t r = 0;
  for (uint64_t bit = UINT64_C(1) << 31; bit; bit >>= 1) {
    uint64_t t = r | bit;
    if (t * t <= n) r = t;
  }
  return r;
}

/* Counts primes below n with a segmented sieve of Eratosthenes: the check
 * shares nothing with the trial division of the kernel. */
static int count_primes_below(uint64_t n, uint64_t *count) {
  *count = 0;
  if (n <= 2) return 0;
  uint64_t root = isqrt(n - 1);
  unsigned char *small = calloc(root + 1, 1);
  uint32_t *base = malloc((root / 2 + 2) * sizeof *base);
  unsigned char *seg = malloc(SEGMENT);
  if (!small || !base || !seg) {
    free(small);
    free(base);
    free(seg);
    return cl_error_set(CL_ENOMEM, "cpu.primes: cannot allocate the sieve for n < %" PRIu64, n);
  }
  size_t nbase = 0;
  for (uint64_t i = 2; i <= root; i++) {
    if (small[i]) continue;
    base[nbase++] = (uint32_t)i;
    for (uint64_t j = i * i; j <= root; j += i)
      small[j] = 1;
  }
  for (uint64_t low = 0; low < n; low += SEGMENT) {
    uint64_t high = n - low > SEGMENT ? low + SEGMENT : n;
    memset(seg, 0, (size_t)(high - low));
    for (size_t k = 0; k < nbase; k++) {
      uint64_t q = base[k];
      uint64_t start = (low + q - 1) / q * q;
      if (start < q * q) start = q * q;
      for (uint64_t j = start; j < high; j += q)
        seg[j - low] = 1;
    }
    for (uint64_t j = low < 2 ? 2 : low; j < high; j++)
      *count += !seg[j - low];
  }
  free(small);
  free(base);
  free(seg);
  return 0;
}

/* Task i counts the primes in [i*size, (i+1)*size): later tasks test larger
 * numbers and cost more. */
static int build(struct cl_workload_params *p, struct cl_batch *out) {
  if (p->tasks > PRIMES_MAX_END / p->size)
    return cl_error_set(CL_ERANGE,
                        "--tasks %" PRIu64 " x --size %" PRIu64 " exceeds the limit %" PRIu64
                        " numbers tested for cpu.primes",
                        p->tasks, p->size, PRIMES_MAX_END);
  uint64_t expected;
  int rc = count_primes_below(p->tasks * p->size, &expected);
  if (rc) return rc;
  rc = cl__wl_alloc_tasks(out, p->tasks, 1);
  if (rc) return rc;
  for (size_t i = 0; i < out->ntasks; i++)
    cl__wl_cpu_phase(&out->tasks[i].phase[0], CL_K_PRIMES, i * p->size, (i + 1) * p->size);
  out->expected = expected;
  return 0;
}

const struct cl_workload cl__wl_cpu_primes = {
    .name = "cpu.primes",
    .kind = "cpu",
    .summary = "count primes by trial division, task i tests [i*size, (i+1)*size)",
    .size_doc = "integers tested per task (tasks x size must stay below 2^32); later tasks "
                "test larger numbers and cost more",
    .default_tasks = 16,
    .default_size = 175000,
    .quick_tasks = 8,
    .quick_size = 100000,
    .max_tasks = CL__WL_MAX_TASKS,
    .max_size = PRIMES_MAX_END,
    .build = build,
    .release = cl__wl_release_tasks,
};
