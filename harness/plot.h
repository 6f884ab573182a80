/* Shared by the figure writer (plot.c) and the report (report.c): a run
 * directory read back from its summary.csv and run.json. */
#ifndef CONLAB_HARNESS_PLOT_H
#define CONLAB_HARNESS_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One row of summary.csv. Numbers missing from the file (an empty field, or
 * a column an older run did not write) are NaN or 0. */
struct cl__srow {
  char workload[48], kind[16], executor[48], status[32];
  unsigned workers;
  bool gil;
  uint64_t tasks, size;
  double delay_s, median_s, ci_low_s, ci_high_s, cv;
  double speedup, efficiency, karp_flatt, max_rss_kb;
  /* Wakeup latency (the convoy probe): medians over the repetitions of each
   * one's mean and largest, in ms; NaN where not measured. */
  double wake_mean_ms, wake_max_ms;
  bool checksum_ok;
  bool ok; /* status "ok" (or no status column) and a median */
  /* py.* rows: the py.sequential median their speedup was rebased on, or NaN
   * (then speedup is summary.csv's, against C's sequential). */
  double py_base_median_s;
};

struct cl__summary_csv {
  struct cl__srow *rows;
  size_t n;
};

/* Reads DIR/summary.csv by column name, so older runs with fewer columns
 * still load. The speedup, efficiency and Karp-Flatt of py.* rows are
 * recomputed against py.sequential when the group has it. Returns 0, CL_ENOENT when the file is
 * missing, CL_EINVAL when it is not a conlab summary (no workload/executor/median_s header), or
 * CL_ENOMEM. */
int cl__summary_read(const char *dir, struct cl__summary_csv *s);
void cl__summary_free(struct cl__summary_csv *s);

/* What the report and the figure titles show about the run (run.json). */
struct cl__run_meta {
  bool have_json;
  char run_id[128], started[40], suite[32], command[1024];
  double duration_s;
  bool quick, complete;
  char cpu_model[160], kernel[160], governor[48];
  unsigned online_cpus, physical_cores; /* 0 when unknown */
  double memory_bytes;
  char loadavg[64];
  char compiler[96], build_type[48], flags[256];
  char environment[512]; /* "NAME=value, ..." for the variables that were set */
  /* The emulated GIL's switch interval in ms, from the rows' wakeup latency;
   * NaN when run.json names none. */
  double switch_interval_ms;
};

/* Reads DIR/run.json (a missing or odd file leaves have_json false and the
 * fields empty). The run id falls back to the directory's name. */
void cl__run_meta_read(const char *dir, struct cl__run_meta *m);

/* Cores used for the "physical cores" marker and the report's sentences.
 * hwloc will replace this: for now run.json's physical_cores, else its
 * online_cpus, else this machine's online CPUs. */
unsigned cl__plot_cores(const struct cl__run_meta *m);

/* The (tasks, size) group of a workload that the speedup and story figures
 * and the report use: the largest size, then the most tasks. Returns false
 * when the workload has no row. */
bool cl__main_group(const struct cl__summary_csv *s, const char *workload, uint64_t *tasks,
                    uint64_t *size);

/* What tells a group apart from the workload's other groups: "size 1000",
 * "100 tasks", "size 1000, 8 tasks", or "" when the workload has one group. */
void cl__group_note(char *buf, size_t len, const struct cl__summary_csv *s, const char *w,
                    uint64_t tasks, uint64_t size);

/* The fastest successful row of (workload, executor, gil) within a group:
 * the highest speedup over its worker counts. NULL when there is none. */
const struct cl__srow *cl__best_row(const struct cl__summary_csv *s, const char *workload,
                                    const char *executor, bool gil, uint64_t tasks, uint64_t size);

/* The sequential (gil 0) row of a group, or NULL. */
const struct cl__srow *cl__baseline_row(const struct cl__summary_csv *s, const char *workload,
                                        uint64_t tasks, uint64_t size);

/* The sequential median a row's speedup is relative to: its py.sequential
 * for rebased py.* rows, else `seq` (the group's sequential row, may be NULL). */
double cl__row_base_s(const struct cl__srow *r, const struct cl__srow *seq);

/* Executors in the order the figures and the report list them: known ones
 * first (sequential, threads, thread_pool, process_pool, event_loop, openmp,
 * then the py.* rows), unknown ones after, in file order. Fills names[] with
 * pointers into s (at most max) and returns the count. */
size_t cl__executor_order(const struct cl__summary_csv *s, const char **names, size_t max);

/* True for executors whose worker count is not a knob (sequential, threads,
 * and py.sequential, py.threads, py.event_loop): they run every task at once
 * or one at a time whatever --workers says. */
bool cl__executor_fixed(const char *name);

/* True for executors that keep every task in flight at once (threads,
 * event_loop and their py.* twins): the I/O concurrency figure's subjects. */
bool cl__executor_all_in_flight(const char *name);

/* The row the story figure and the report's sentences show: the best row,
 * except for event_loop, shown with one loop (workers 1, the asyncio model)
 * when the run has that row. */
const struct cl__srow *cl__story_row(const struct cl__summary_csv *s, const char *workload,
                                     const char *executor, bool gil, uint64_t tasks, uint64_t size);

/* The convoy probe's workload: probe.convoy, else the first workload of
 * kind "probe" with a wakeup latency; NULL when the run has none. */
const char *cl__convoy_workload(const struct cl__summary_csv *s);

/* The convoy figure's and the report's rows of that workload, in their
 * order: C without the GIL, C under the emulated GIL, then CPython; per
 * executor (and GIL) one row with a wakeup latency, the one with the most
 * workers (the C rows from the workload's main group, the py.* rows from
 * any). Fills out[] (at most max) and returns the count, 0 without one. */
size_t cl__convoy_rows(const struct cl__summary_csv *s, const struct cl__srow **out, size_t max);

/* The figures, in report order: plots/NAME.gp draws plots/NAME.png and .svg. */
#define CL__NFIGURES 5
extern const char *const cl__figure_names[CL__NFIGURES];

/* Whether a row beats sequential: at least 10% faster, with the whole 95%
 * interval of its speedup above 1 (`base_s`: the sequential median). */
bool cl__beats_sequential(const struct cl__srow *r, double base_s);

/* "12.3 us", "4.56 ms", "1.23 s" (with a micro sign). */
void cl__fmt_duration(char *buf, size_t len, double s);

/* Writes DIR/report.md atomically: the machine, the findings as sentences,
 * the figures that exist under DIR/plots, and the table. `plots_note` is a
 * line to show instead of missing figures (NULL: none). Returns 0 or CL_E*. */
int cl__report_write(const char *dir, const struct cl__summary_csv *s, const struct cl__run_meta *m,
                     const char *plots_note);

#endif
