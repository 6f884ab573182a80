/* Internal to workloads/: the catalogue list and the helpers that the
 * per-workload files share. Not installed, not part of the contract. */
#ifndef CONLAB_WORKLOADS_INTERNAL_H
#define CONLAB_WORKLOADS_INTERNAL_H

#include <stdint.h>

#include "conlab/workload.h"

/* X(symbol): every workload, in `conlab list` order. Each symbol is defined
 * in its own file (cpu_sumsq.c defines cl__wl_cpu_sumsq). */
#define CL__WORKLOAD_LIST(X)                                                                       \
  X(cl__wl_cpu_sumsq)                                                                              \
  X(cl__wl_cpu_fib)                                                                                \
  X(cl__wl_cpu_primes)                                                                             \
  X(cl__wl_cpu_mandel)                                                                             \
  X(cl__wl_mem_stream)                                                                             \
  X(cl__wl_io_sleep)                                                                               \
  X(cl__wl_io_net)                                                                                 \
  X(cl__wl_mixed_request)                                                                          \
  X(cl__wl_noop)                                                                                   \
  X(cl__wl_probe_convoy)

#define CL__WL_DECLARE(sym) extern const struct cl_workload sym;
CL__WORKLOAD_LIST(CL__WL_DECLARE)
#undef CL__WL_DECLARE

/* Limits shared by several workloads. */
#define CL__WL_MAX_TASKS UINT64_C(1000000)
#define CL__WL_MAX_DELAY_NS UINT64_C(60000000000) /* 60 s */

/* Allocates `ntasks` zeroed tasks with their index and phase count set, into
 * out->tasks / out->ntasks. Returns 0 or CL_ENOMEM (with a detail). */
int cl__wl_alloc_tasks(struct cl_batch *out, uint64_t ntasks, uint32_t nphases);

/* Frees out->tasks and zeroes the whole batch; the release of workloads
 * without shared data. Safe on a zeroed batch. */
void cl__wl_release_tasks(struct cl_batch *b);

void cl__wl_cpu_phase(struct cl_phase *p, uint32_t kernel, uint64_t begin, uint64_t end);
void cl__wl_io_phase(struct cl_phase *p, uint32_t io_kind, uint64_t a, uint64_t b);

/* Closed forms, wrapping modulo 2^64, computed through unsigned __int128:
 * sum of i and of i*i for 0 <= i < n. n must be below 2^63. */
uint64_t cl__wl_sum_below(uint64_t n);
uint64_t cl__wl_sumsq_below(uint64_t n);

#endif
