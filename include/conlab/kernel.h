/* CPU kernels: pure functions over a range whose results combine by wrapping
 * sum, plus the yield point the emulated GIL hooks into. */
#ifndef CONLAB_KERNEL_H
#define CONLAB_KERNEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(id, name): the kernel table. The id is what a CPU phase's `op` holds. */
#define CL_KERNEL_MAP(X)                                                                           \
  X(CL_K_NOOP, "noop")                                                                             \
  X(CL_K_SUMSQ, "sumsq")                                                                           \
  X(CL_K_FIB, "fib")                                                                               \
  X(CL_K_PRIMES, "primes")                                                                         \
  X(CL_K_MANDEL, "mandel")                                                                         \
  X(CL_K_STREAM, "stream")                                                                         \
  X(CL_K_SPIN, "spin")

enum cl_kernel_id {
#define CL__K_ENUM(id, name) id,
  CL_KERNEL_MAP(CL__K_ENUM)
#undef CL__K_ENUM
      CL_K__COUNT
};

/* Parameters the mandel kernel reads from batch->data. */
struct cl_mandel_data {
  uint32_t width, height, max_iter, pad_;
};

/* Buffers the stream kernel reads from batch->data: a = b + 3 * c. */
struct cl_stream_data {
  uint64_t *a, *b, *c;
  uint64_t len;
};

/* Runs kernel `id` over [begin, end) and returns its result.
 *   noop:   returns begin (no work).
 *   sumsq:  sum of i*i, wrapping (seed ex. 68).
 *   fib:    recursive fib(begin) (seed ex. 64); end is unused.
 *   primes: count of primes in [begin, end) by trial division.
 *   mandel: sum of escape iterations over rows [begin, end); data is cl_mandel_data.
 *   stream: triad a[i] = b[i] + 3*c[i] over [begin, end), returns sum of a[i];
 *           data is cl_stream_data.
 *   spin:   busy work of `end - begin` mixing steps (probes and granularity).
 * Unknown ids return 0. */
uint64_t cl_kernel_run(uint32_t id, uint64_t begin, uint64_t end, const void *data);

/* Name of a kernel id, or "?". */
const char *cl_kernel_name(uint32_t id);

/* The yield point. Kernels call it every few microseconds of work. It is a
 * predictable branch except on a thread that holds the emulated GIL, where it
 * may hand the lock to a waiting thread. */
struct cl_gil;
extern _Thread_local struct cl_gil *cl__tls_gil;
void cl__gil_yield(struct cl_gil *gil);

static inline void cl_yield_point(void) {
  if (__builtin_expect(cl__tls_gil != 0, 0)) cl__gil_yield(cl__tls_gil);
}

#ifdef __cplusplus
}
#endif
#endif
