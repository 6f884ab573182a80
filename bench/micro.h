/* Micro-benchmarks of executor overhead (issue 8): what the cells of a run
 * cannot show, measured in this process and written beside the run's
 * summary. Internal to the conlab executable and bench/conlab-overhead. */
#ifndef CONLAB_BENCH_MICRO_H
#define CONLAB_BENCH_MICRO_H

#include <stdbool.h>
#include <stdio.h>

/* Runs the set named `set`: "overhead" (per-task cost of 100,000 empty tasks
 * under every C executor, thread-pool submit-to-completion latency, event
 * loop ready tasks and timers, thread creation, the harness's own cost) or
 * "peers" (OpenMP's dynamic schedule and libuv's timers beside conlab's
 * thread pool and event loop). `quick` uses small counts. Prints a table to
 * `out` (may be NULL) and, when dir is not NULL, writes DIR/<set>.csv
 * atomically with the columns
 *   bench,subject,count,total_s,us_per_op,ops_per_s,p50_us,p99_us,ratio,note
 * (empty where a figure does not apply). Returns 0, CL_EINVAL (unknown set)
 * or the first error of a benchmark (detail set). */
int cl__micro_run(const char *set, bool quick, const char *dir, FILE *out);

#endif
