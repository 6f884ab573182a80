/* Helpers shared by the executor tests: hand-built batches whose expected
 * results are computed here, phase by phase, without any executor. */
#ifndef TEST_EXEC_COMMON_H
#define TEST_EXEC_COMMON_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "conlab/kernel.h"
#include "conlab/task.h"

static inline double tx_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double tx_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline struct cl_phase tx_cpu(uint32_t kernel, uint64_t begin, uint64_t end) {
  struct cl_phase p = {CL_PHASE_CPU, kernel, begin, end};
  return p;
}

static inline struct cl_phase tx_sleep(uint64_t ns) {
  struct cl_phase p = {CL_PHASE_IO, CL_IO_SLEEP, ns, 0};
  return p;
}

/* Sets task i of `tasks` to the given phases. */
static inline void tx_task(struct cl_task *tasks, uint32_t i, uint32_t nphases,
                           const struct cl_phase *phases) {
  memset(&tasks[i], 0, sizeof tasks[i]);
  tasks[i].index = i;
  tasks[i].nphases = nphases;
  for (uint32_t k = 0; k < nphases; k++)
    tasks[i].phase[k] = phases[k];
}

/* The result rule, applied directly: kernels for CPU phases, tokens for IO. */
static inline uint64_t tx_expected_task(const struct cl_task *t, const void *data) {
  uint64_t r = 0;
  for (uint32_t k = 0; k < t->nphases; k++) {
    const struct cl_phase *p = &t->phase[k];
    r +=
        p->kind == CL_PHASE_CPU ? cl_kernel_run(p->op, p->a, p->b, data) : cl_io_token(t->index, p);
  }
  return r;
}

static inline void tx_batch(struct cl_batch *b, struct cl_task *tasks, size_t n) {
  memset(b, 0, sizeof *b);
  b->tasks = tasks;
  b->ntasks = n;
  for (size_t i = 0; i < n; i++)
    b->expected += tx_expected_task(&tasks[i], NULL);
}

/* n tasks of one IO sleep each. */
static inline void tx_sleep_batch(struct cl_batch *b, struct cl_task *tasks, size_t n,
                                  uint64_t ns) {
  for (size_t i = 0; i < n; i++) {
    struct cl_phase p = tx_sleep(ns);
    tx_task(tasks, (uint32_t)i, 1, &p);
  }
  tx_batch(b, tasks, n);
}

#endif
