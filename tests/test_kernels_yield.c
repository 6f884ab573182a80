/* Every kernel reaches its yield point during a long call: a thread that
 * holds the emulated GIL through one kernel call must hand it to a waiting
 * thread before that call returns. A kernel without yield points would keep
 * the waiter out until the end. */
#include "cl_test.h"

#include "conlab/gil.h"
#include "conlab/kernel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct probe {
  struct cl_gil *gil;
  uint32_t id;
  uint64_t begin, end;
  const void *data;
  atomic_int holder_ready, waiter_ready;
  double call_start, call_end; /* written by the holder before it is joined */
  double waiter_got;           /* written by the waiter before it is joined */
  uint64_t result;
};

static void *holder_main(void *arg) {
  struct probe *p = arg;
  cl_gil_acquire(p->gil);
  atomic_store(&p->holder_ready, 1);
  while (!atomic_load(&p->waiter_ready)) {
  }
  p->call_start = now_s();
  p->result = cl_kernel_run(p->id, p->begin, p->end, p->data);
  p->call_end = now_s();
  cl_gil_release(p->gil);
  return NULL;
}

static void *waiter_main(void *arg) {
  struct probe *p = arg;
  while (!atomic_load(&p->holder_ready)) {
  }
  atomic_store(&p->waiter_ready, 1);
  cl_gil_acquire(p->gil);
  p->waiter_got = now_s();
  cl_gil_release(p->gil);
  return NULL;
}

static void probe_kernel(uint32_t id, uint64_t begin, uint64_t end, const void *data) {
  struct probe p = {.id = id, .begin = begin, .end = end, .data = data};
  atomic_init(&p.holder_ready, 0);
  atomic_init(&p.waiter_ready, 0);
  /* A 100 us interval: the waiter asks for the lock almost at once. */
  int rc = cl_gil_create(100000, &p.gil);
  CHECK_EQ_INT(rc, 0);
  if (rc) return;
  pthread_t holder, waiter;
  if (pthread_create(&holder, NULL, holder_main, &p) != 0) abort();
  if (pthread_create(&waiter, NULL, waiter_main, &p) != 0) abort();
  pthread_join(holder, NULL);
  pthread_join(waiter, NULL);
  struct cl_gil_stats st;
  cl_gil_stats(p.gil, &st);
  cl_gil_destroy(p.gil);
  double call_ms = (p.call_end - p.call_start) * 1e3;
  double got_ms = (p.waiter_got - p.call_start) * 1e3;
  printf("%-7s call %8.2f ms, waiter got the GIL after %8.3f ms, %llu forced switches\n",
         cl_kernel_name(id), call_ms, got_ms, (unsigned long long)st.forced_switches);
  CL_T_REPORT(p.waiter_got < p.call_end,
              "%s: the waiter got the GIL only after the call (%.3f ms of %.3f ms)",
              cl_kernel_name(id), got_ms, call_ms);
  CL_T_REPORT(st.forced_switches >= 1, "%s: %llu forced switches", cl_kernel_name(id),
              (unsigned long long)st.forced_switches);
}

int main(void) {
  probe_kernel(CL_K_SUMSQ, 0, UINT64_C(1) << 27, NULL);
  probe_kernel(CL_K_SPIN, 0, UINT64_C(1) << 24, NULL);
  probe_kernel(CL_K_FIB, 36, 37, NULL);
  probe_kernel(CL_K_PRIMES, 0, 1000000, NULL);
  struct cl_mandel_data md = {.width = 320, .height = 320, .max_iter = 1000};
  probe_kernel(CL_K_MANDEL, 0, md.height, &md);

  const uint64_t len = UINT64_C(1) << 23;
  struct cl_stream_data sd = {
      .a = calloc(len, 8), .b = calloc(len, 8), .c = calloc(len, 8), .len = len};
  if (!sd.a || !sd.b || !sd.c) abort();
  probe_kernel(CL_K_STREAM, 0, len, &sd);
  free(sd.a);
  free(sd.b);
  free(sd.c);
  return CL_TEST_DONE();
}
