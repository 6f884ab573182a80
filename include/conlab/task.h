/* Tasks, phases and batches: the data every executor runs. */
#ifndef CONLAB_TASK_H
#define CONLAB_TASK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A phase is CPU(kernel, begin, end) or IO(kind, delay, bytes). */
enum cl_phase_kind { CL_PHASE_CPU = 0, CL_PHASE_IO = 1 };

/* IO phase kinds. */
enum cl_io_kind {
  CL_IO_SLEEP = 0, /* a timed wait of `a` nanoseconds */
  CL_IO_NET = 1    /* one request over loopback TCP: reply after `a` ns, `b` bytes */
};

struct cl_phase {
  uint32_t kind; /* enum cl_phase_kind */
  uint32_t op;   /* CPU: enum cl_kernel_id; IO: enum cl_io_kind */
  uint64_t a;    /* CPU: range begin; IO: delay in nanoseconds */
  uint64_t b;    /* CPU: range end (exclusive); IO: reply bytes (CL_IO_NET) */
};

#define CL_TASK_MAX_PHASES 3

/* One task: a short program of phases. Tasks are caller-allocated in a batch;
 * `next` is an intrusive link that belongs to whichever queue holds the task,
 * so executors never allocate per task. */
struct cl_task {
  struct cl_task *next;
  uint32_t index;   /* position in the batch */
  uint32_t nphases; /* 1..CL_TASK_MAX_PHASES */
  uint32_t pc;      /* next phase to run (used by stepping interpreters) */
  uint32_t worker;  /* which worker ran it, for imbalance reports */
  int32_t status;   /* 0 or a CL_E* code */
  uint32_t wakes;   /* wakeups measured in wake_ns (see below) */
  uint64_t result;  /* wrapping sum of the phase results */
  struct cl_phase phase[CL_TASK_MAX_PHASES];
  /* Wakeup latency: the total time from the end of an IO phase to the start
   * of the CPU phase right after it, over `wakes` such wakeups. Under the
   * emulated GIL it includes the wait to take the lock back (the convoy
   * effect). The end of a sleep is its deadline, the end of a network
   * request the moment its reply was read. Filled by cl_task_step() (and so by
   * cl_task_run_blocking() and every executor built on them) and carried
   * back by the process pool and the py.* executors; both stay 0 for a task
   * with no IO phase followed by a CPU phase, or when the executor does not
   * measure it. */
  uint64_t wake_ns;
  /* The CLOCK_MONOTONIC time, in nanoseconds, at which the IO phase just
   * performed ended, or 0. Set by whoever performs an IO phase before
   * calling cl_task_step() again; cl_task_step() charges the wait and
   * clears it. */
  uint64_t io_end_ns;
};

/* Where IO phases go. Filled by the workload that needs it. */
struct cl_io_env {
  uint32_t net_addr; /* IPv4 address in host byte order (127.0.0.1) */
  uint16_t net_port; /* 0 when there is no delay server */
  uint16_t pad_;
};

struct cl_workload;

/* A batch: the tasks of one cell plus what they read. The checksum of a run is
 * the wrapping sum of task results, so it does not depend on order. */
struct cl_batch {
  struct cl_task *tasks;
  size_t ntasks;
  uint64_t expected;                  /* expected checksum, computed independently */
  const struct cl_workload *workload; /* may be NULL in unit tests */
  void *data;                         /* shared read-mostly kernel data (see kernel.h) */
  struct cl_io_env io;
  /* Set by executors that time the batch themselves (an interpreter beside
   * us); 0 means the harness's own wall-clock is used. */
  uint64_t self_timed_ns;
};

/* Wrapping sum of task results. */
uint64_t cl_batch_checksum(const struct cl_batch *b);

/* Clears results, status, pc, worker and the wakeup fields (wakes, wake_ns,
 * io_end_ns) of every task before a repetition. */
void cl_batch_reset(struct cl_batch *b);

/* First task status that is not 0, or 0. */
int cl_batch_status(const struct cl_batch *b);

/* The result an IO phase contributes, so that skipping a wait changes the
 * checksum: a hash of the task index and the phase. */
uint64_t cl_io_token(uint32_t task_index, const struct cl_phase *p);

/* A 64-bit mixing function (splitmix64 finaliser). */
static inline uint64_t cl_mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

#ifdef __cplusplus
}
#endif
#endif
