#include <stddef.h>
#include <string.h>

#include "harness/harness.h"

#ifdef CL_HAVE_OPENMP
#define OMP_NAME ",openmp"
#else
#define OMP_NAME ""
#endif

/* The story's convoy, CPython's side: its own GIL (switch interval 5 ms)
 * on a Python-sized task list, about 2 s (--quick: 1 s). 6,000,000 integers
 * are about 0.2 s in CPython, 20 wakeups of 1 ms + 5 ms about 0.12 s. */
static const struct cl__suite story_convoy_python = {
    .name = "story.convoy.python",
    .summary = "the story's convoy probe in CPython",
    .workloads = "probe.convoy",
    .executors = "py.sequential,py.threads",
    .reps = 3,
    .warmup = 1,
    .tasks = 21,
    .quick_tasks = 11,
    .sizes = {6000000},
    .nsizes = 1,
    .quick_sizes = {3000000},
    .quick_nsizes = 1,
};

/* The story's convoy (issue 6): wakeups beside one CPU-bound task under
 * threads and thread_pool, with and without the emulated GIL (the convoy
 * figure and the story's convoy panel). Task 0 is 600,000,000 integers,
 * about 0.2 s, enough for 20 wakeups of 1 ms + 5 ms; 7 cells of 4 runs add
 * about 6 s (--quick: 11 tasks, 300,000,000 integers, about 3 s). */
static const struct cl__suite story_convoy = {
    .name = "story.convoy",
    .summary = "the story's convoy probe",
    .workloads = "probe.convoy",
    .executors = "threads,thread_pool",
    .reps = 3,
    .warmup = 1,
    .gil = true,
    .tasks = 21,
    .quick_tasks = 11,
    .sizes = {600000000},
    .nsizes = 1,
    .quick_sizes = {300000000},
    .quick_nsizes = 1,
    .also = &story_convoy_python,
};

/* The CPython part of the story: the same workloads under the seed's Python
 * patterns, on a task list small enough for an interpreter (20 tasks of
 * 250,000 integers: about 0.4 s in CPython, 1.5 ms in C). Its task counts
 * differ from the first part's, so every row names one task list. The
 * convoy parts follow it. */
static const struct cl__suite story_python = {
    .name = "story.python",
    .summary = "the story's CPython rows",
    .workloads = "cpu.sumsq,io.sleep",
    .executors = "py",
    .reps = 5,
    .warmup = 1,
    .tasks = 20,
    .quick_tasks = 16,
    .sizes = {250000},
    .nsizes = 1,
    .quick_sizes = {75000},
    .quick_nsizes = 1,
    .also = &story_convoy,
};

/* The convoy probe's CPython rows: CPython's own GIL (switch interval
 * 5 ms, sys.getswitchinterval()) on a Python-sized task list. Task 0 must
 * outlast the wakeups: 6,000,000 integers are about 0.2 s in CPython, 20
 * wakeups of 1 ms + 5 ms about 0.12 s. */
static const struct cl__suite probe_python = {
    .name = "probe.python",
    .summary = "the convoy probe's CPython rows",
    .workloads = "probe.convoy",
    .executors = "py.sequential,py.threads,py.thread_pool",
    .reps = 3,
    .warmup = 1,
    .tasks = 21,
    .quick_tasks = 11,
    .sizes = {6000000},
    .nsizes = 1,
    .quick_sizes = {3000000},
    .quick_nsizes = 1,
};

/* The story suite is what `make run` shows: CPU-bound and I/O-bound work under
 * every executor over the automatic worker list. */
static const struct cl__suite suites[] = {
    {.name = "story",
     .summary = "CPU- and I/O-bound workloads under every executor (the default, ~90 s on 2 cores)",
     .workloads = "cpu.sumsq,io.sleep,mixed.request",
     .executors = "all",
     .reps = 5,
     .warmup = 1,
     .gil = true,
     .gil_io_threads_only = true,
     .also = &story_python},
    {.name = "quick",
     .summary = "the story at small sizes, 3 repetitions (under 20 s)",
     .workloads = "cpu.sumsq,io.sleep",
     .executors = "all",
     .reps = 3,
     .warmup = 1,
     .quick = true,
     .gil = true,
     .gil_io_threads_only = true,
     .also = &story_python},
    {.name = "full",
     .summary = "every workload under every executor",
     .workloads = "",
     .executors = "all",
     .reps = 5,
     .warmup = 1,
     .gil = true},
    /* Task sizes from about 1 us to 10 ms (cpu.sumsq: about 0.3 ns per
     * integer) feed the granularity figure; the micro-benchmarks add the
     * per-task cost of 100,000 empty tasks, latency, timers and the
     * harness's own cost (overhead.csv). */
    {.name = "overhead",
     .summary = "executor overhead: per-task cost, latency, timers, granularity sweep (~2 min)",
     .workloads = "cpu.sumsq",
     .executors = "threads,thread_pool,process_pool,event_loop" OMP_NAME,
     .reps = 3,
     .warmup = 1,
     .tasks = 100,
     .quick_tasks = 20,
     .sizes = {3000, 30000, 300000, 3000000, 30000000},
     .nsizes = 5,
     .quick_sizes = {3000, 30000, 300000},
     .quick_nsizes = 3,
     .micro = "overhead"},
    /* The convoy effect (issue 6): wakeups beside one CPU-bound task, with
     * and without the emulated GIL (--switch-interval sets its interval),
     * then CPython's real GIL; summary.csv wake_mean_ms / wake_max_ms. */
    {.name = "probe",
     .summary = "convoy probe: I/O wakeup latency beside a CPU-bound thread, with and without "
                "the GIL, C and CPython (~20 s)",
     .workloads = "probe.convoy",
     .executors = "threads,thread_pool",
     .reps = 3,
     .warmup = 1,
     .gil = true,
     .also = &probe_python},
    /* Side by side with OpenMP and libuv (peers.csv). */
    {.name = "peers",
     .summary = "conlab against OpenMP (dynamic schedule) and libuv, measured in the same run",
     .workloads = "noop",
     .executors = "thread_pool,event_loop" OMP_NAME,
     .reps = 3,
     .warmup = 1,
     .tasks = 100000,
     .quick_tasks = 10000,
     .micro = "peers"},
};

size_t cl__suite_count(void) {
  return sizeof suites / sizeof suites[0];
}

const struct cl__suite *cl__suite_at(size_t i) {
  return i < cl__suite_count() ? &suites[i] : NULL;
}

const struct cl__suite *cl__suite_find(const char *name) {
  for (size_t i = 0; i < cl__suite_count(); i++)
    if (strcmp(suites[i].name, name) == 0) return &suites[i];
  return NULL;
}

const char *cl__suite_names(void) {
  static char names[256];
  if (!names[0]) {
    for (size_t i = 0; i < cl__suite_count(); i++) {
      if (i) strcat(names, ", ");
      strcat(names, suites[i].name);
    }
  }
  return names;
}
