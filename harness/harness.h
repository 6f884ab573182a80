/* Internal interfaces of the harness: options, plan, cells, results. */
#ifndef CONLAB_HARNESS_H
#define CONLAB_HARNESS_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conlab/executor.h"
#include "conlab/parse.h"
#include "conlab/stats.h"
#include "conlab/workload.h"

#define CL__MAX_WORKER_COUNTS 32
#define CL__MAX_REPS 1000
#define CL__MAX_WORKERS 4096
#define CL__MAX_SWEEP 16
#define CL__MAX_CELLS 10000       /* cells in one plan */
#define CL__MAX_PLAN_REPS 1000000 /* cells x repetitions in one plan */
#define CL__MAX_BIND_CPUS 1024

/* Exit statuses of the CLI. */
enum { CL__EXIT_OK = 0, CL__EXIT_FAILED = 1, CL__EXIT_USAGE = 2 };

/* A named suite: what `conlab run --suite NAME` runs. */
struct cl__suite {
  const char *name;
  const char *summary;
  const char *workloads; /* comma list */
  const char *executors; /* comma list, or "all" */
  unsigned reps, warmup;
  bool quick;
  bool gil; /* also run GIL-capable executors under the emulated GIL */
  /* With gil: on I/O-bound workloads only `threads` gets a GIL twin (it
   * carries that lesson; pools under a GIL there add time, not insight). */
  bool gil_io_threads_only;
  /* Defaults for --tasks and --size when the command line gives none (0 and
   * nsizes 0: the workload's own), full and under --quick. */
  uint64_t tasks, quick_tasks;
  uint64_t sizes[CL__MAX_SWEEP], quick_sizes[CL__MAX_SWEEP];
  size_t nsizes, quick_nsizes;
  /* A further part planned after this one with its own task list (the
   * CPython rows need a Python-sized batch), or NULL. */
  const struct cl__suite *also;
  /* Micro-benchmarks run after the cells (bench/micro.h), or NULL. */
  const char *micro;
};

const struct cl__suite *cl__suite_find(const char *name);
size_t cl__suite_count(void);
const struct cl__suite *cl__suite_at(size_t i);
/* Comma list of suite names, for error messages. */
const char *cl__suite_names(void);

/* Everything `conlab run` was asked for. Fields left 0 mean "default". */
struct cl__options {
  const struct cl__suite *suite;
  struct cl_list workloads, executors;
  unsigned workers[CL__MAX_WORKER_COUNTS];
  size_t nworkers;                                    /* 0: auto */
  uint64_t tasks[CL__MAX_SWEEP], size[CL__MAX_SWEEP]; /* sweeps: empty = default */
  size_t ntasks, nsizes;
  uint64_t delay_ns;
  unsigned reps, warmup;
  bool reps_set, warmup_set;
  bool quick;
  bool gil; /* add gil=1 cells for GIL-capable executors */
  bool no_plot;
  uint64_t timeout_ns;                   /* --timeout: per cell, 0 = none */
  bool no_isolate;                       /* --no-isolate: run cells in this process */
  struct cl_topology *topo;              /* owned; exec.topo points here */
  bool bind_set;                         /* --bind given */
  unsigned bind_cpus[CL__MAX_BIND_CPUS]; /* --bind-cpus; exec.bind_cpus points here */
  const char *out;
  struct cl_exec_config exec;
  int argc;
  char **argv;
};

/* Parses `conlab run` arguments (argv[0] is "run"). On bad input prints one
 * line naming the flag and the valid choices to stderr and returns
 * CL__EXIT_USAGE; returns -1 when the options were parsed, 0 after --help. */
int cl__parse_run_options(int argc, char **argv, struct cl__options *o);
void cl__options_free(struct cl__options *o);
/* A PU list for --bind-cpus into out[CL__MAX_BIND_CPUS]: "0,0,1" or "0-3,8";
 * repeats are allowed (workers share a PU on purpose). Returns 0, CL_EINVAL
 * or CL_ERANGE with a detail. */
int cl__parse_cpu_list(const char *v, unsigned *out, unsigned *n);
void cl__print_run_usage(FILE *f);

/* One repetition's measurements. */
struct cl__sample {
  double wall_s, user_s, sys_s;
  long nvcsw, nivcsw, max_rss_kb;
  uint64_t checksum;
  /* Wakeup latency (struct cl_task's wake_ns / wakes) over the tasks that
   * measured one: their mean and the largest, NaN when none did (no task
   * has an IO phase followed by a CPU phase, or the executor does not
   * measure it); wake_tasks counts them. */
  double wake_mean_s, wake_max_s;
  uint32_t wake_tasks;
};

/* What an outside interpreter (py.*) reported (struct cl_exec_usage);
 * runtime is "" for every other executor. */
struct cl__interp {
  double startup_s;  /* spawn to ready, paid once per cell before timing */
  char runtime[192]; /* "CPython 3.11.2 (GIL) /usr/bin/python3" */
  char version[24];  /* "3.11.2" */
  char implementation[32];
  uint32_t gil_disabled; /* 1: free-threaded build running without its GIL */
};

/* One (workload, executor, workers, gil) cell of the plan and its results. */
struct cl__cell {
  const struct cl_workload *w;
  const struct cl_executor_ops *ex;
  unsigned workers;
  bool gil;
  uint64_t req_tasks, req_size;     /* asked for (0: default) */
  struct cl_workload_params params; /* resolved by the workload's build */
  struct cl_exec_config cfg;
  unsigned reps;
  struct cl__sample *samples; /* reps entries; nsamples filled */
  unsigned nsamples;
  /* Derived after the run. */
  struct cl_summary wall;
  double user_s, sys_s; /* medians */
  long nvcsw, nivcsw, max_rss_kb;
  double speedup, efficiency, karp_flatt;
  uint64_t checksum, expected;
  bool checksum_ok, noisy, done;
  int status;         /* 0 or the CL_E* that failed the cell */
  char error[256];    /* detail for a failed cell */
  unsigned chunksize; /* effective, when the executor reports one */
  /* Medians over the repetitions of each one's mean and largest wakeup
   * latency (see cl__sample); NaN when not measured. */
  double wake_mean_s, wake_max_s;
  struct cl__interp interp;
};

struct cl__plan {
  struct cl__cell *cells;
  size_t ncells;
  unsigned reps, warmup;
};

/* Builds the plan from options (workload-major, sequential first). Prints one
 * line and returns CL__EXIT_USAGE on bad names; -1 on success. */
int cl__plan_build(const struct cl__options *o, struct cl__plan *plan);
void cl__plan_free(struct cl__plan *plan);

/* The fewest and most repetitions of the plan's cells (the parts of a
 * chained suite may differ). */
void cl__plan_reps_range(const struct cl__plan *plan, unsigned *lo, unsigned *hi);

/* Worker counts for `--workers auto`: from the topology (cl_topology_auto_workers);
 * without one, 1, 2, 4 .. online CPUs, doubled for io kinds. */
size_t cl__auto_workers(const struct cl_topology *topo, const char *kind, unsigned *out,
                        size_t max);

/* Number of online CPUs (>= 1). */
unsigned cl__online_cpus(void);

/* Runs every cell, showing progress on stderr. Returns 0 when every cell ran
 * and every checksum agreed, CL_ECHECKSUM or the first cell error otherwise. */
int cl__plan_run(struct cl__plan *plan, const struct cl__options *o);

/* Console progress: a bar on a terminal, one line per cell otherwise. */
struct cl__progress {
  bool tty;
  size_t total, done;
  double start_s;
  FILE *f;
};
void cl__progress_init(struct cl__progress *p, size_t total);
void cl__progress_cell_start(struct cl__progress *p, const struct cl__cell *c);
void cl__progress_rep(struct cl__progress *p, const struct cl__cell *c, unsigned rep,
                      unsigned reps);
void cl__progress_cell_done(struct cl__progress *p, const struct cl__cell *c);
void cl__progress_finish(struct cl__progress *p);

/* A cell's status word in summary.csv: ok, interrupted, incomplete or the
 * CL_E* name of its failure. */
const char *cl__cell_status(const struct cl__cell *c);

/* Writes the final table to f. */
void cl__table_print(FILE *f, const struct cl__plan *plan);

/* The run directory and its files. */
struct cl__run_info {
  char dir[4096];
  char id[64];
  double started_s, finished_s; /* wall clock (epoch) */
  double loadavg[3];            /* at the start: 1, 5, 15 minutes */
  int nloadavg;                 /* 3 when loadavg was read */
  bool complete;
  int signal; /* SIGINT or SIGTERM when one stopped the run, else 0 */
};

/* Creates the run directory (opts->out, or results/<run-id>). Refuses an
 * existing --out. Returns 0 or CL_E* with a detail. */
int cl__run_dir_create(const struct cl__options *o, struct cl__run_info *ri);
/* Creates results/PREFIX<date-time>, or with -2, -3 .. when taken; dir gets
 * its path. Returns 0 or CL_EIO (detail names the directory). */
int cl__results_dir_create(const char *prefix, char *dir, size_t len);
/* Points results/latest at the run (only for runs under the default root). */
int cl__run_dir_link_latest(const struct cl__options *o, const struct cl__run_info *ri);

/* Writes summary.csv, samples.csv and run.json, each atomically. */
int cl__results_write(const struct cl__plan *plan, const struct cl__options *o,
                      const struct cl__run_info *ri);

/* Atomic file: write to a temporary name in the same directory, fsync,
 * rename. `fill` writes the content; a nonzero return aborts. */
int cl__write_atomic(const char *dir, const char *name, int (*fill)(FILE *f, const void *arg),
                     const void *arg);

/* Writes the machine description as JSON members (no braces) to f. */
/* The machine block: CPU, memory, kernel, governor, load average at the
 * start of the run (from ri; null without), the topology (null without). */
void cl__machine_json(FILE *f, const char *indent, const struct cl_topology *topo,
                      const struct cl__run_info *ri);

/* Topology (harness/topo.c). Writes a "topology" JSON member (no trailing
 * comma) describing topo, or null. */
void cl__topology_json(FILE *f, const char *indent, const struct cl_topology *topo);
/* `conlab topo [--synthetic DESC | --topology FILE.xml]` (argv[0] is "topo");
 * returns the exit status. */
int cl__cmd_topo(int argc, char **argv);
/* Loads this machine's topology for `conlab run` into o->exec.topo and checks
 * --bind/--bind-cpus against it. Prints one line and returns CL__EXIT_USAGE
 * (a PU that does not exist) or CL__EXIT_FAILED; -1 on success. */
int cl__run_topology_load(struct cl__options *o);

/* JSON string escaping. */
void cl__json_str(FILE *f, const char *s);

/* Figures and report (harness/plot.c, report.c): reads DIR/summary.csv and
 * run.json, writes DIR/plots/ (per-figure data, the gnuplot scripts, and the
 * PNG/SVG images when gnuplot is on PATH) and DIR/report.md. Prints one line
 * to `msg` when gnuplot or the scripts are missing (still returns 0) or when a
 * script fails (returns CL_EIO). CL_ENOENT/CL_EINVAL: no readable summary. */
int cl__plot_run_dir(const char *dir, FILE *msg);
/* `conlab plot RUN_DIR` (argv[0] is "plot"); returns the exit status. */
int cl__cmd_plot(int argc, char **argv);

/* One cell (harness/cell_runner.c): warm-ups and repetitions over `batch`,
 * in a forked child of its own (cell isolation: a crash, a hang past
 * --timeout or a signal fails that cell only) or, with --no-isolate, in this
 * process. The caller has set c->cfg and c->expected; this fills status,
 * error, checksum, samples and done. Returns CL_EINTR when SIGINT or SIGTERM
 * stopped it, else 0 (a failed cell is not a failed call). */
int cl__cell_run(struct cl__cell *c, struct cl_batch *batch, const struct cl__plan *plan,
                 const struct cl__options *o, struct cl__progress *pg);

/* Signals during a run (harness/signals.c). install: SIGINT/SIGTERM handlers
 * and a self-pipe, and makes conlab a child subreaper; the first signal is
 * recorded (pending() returns it, fd() becomes readable), a second one kills
 * the current cell's process group and every child, unlinks the temporary
 * results file and exits 128 + signal at once. */
int cl__signals_install(void);
void cl__signals_restore(void);
int cl__signals_pending(void);
int cl__signals_fd(void);
/* The process group a second signal must kill (0: none). */
void cl__signals_set_cell(int pgid);
/* The temporary file a second signal must unlink (NULL: none). */
void cl__signals_set_tmp(const char *path);
/* The run directory a second signal removes if it is still empty. */
void cl__signals_set_run_dir(const char *path);
/* Around fork: block SIGINT/SIGTERM; in the child, reset them and unblock. */
void cl__signals_block(sigset_t *old);
void cl__signals_unblock(const sigset_t *old);
void cl__signals_child_reset(const sigset_t *old);
/* Kills (SIGKILL) and reaps children of ours outside our process group, or
 * all of them; returns how many. Async-signal-safe. */
size_t cl__reap_strays(bool all);

/* Monotonic and wall-clock seconds. */
double cl__now_s(void);
double cl__wall_s(void);

/* `conlab lab [N] [options]` (harness/lab.c; argv[0] is "lab"): lists the
 * lab sheets, or runs sheet N's plans, draws its figures and checks its
 * expectations for this machine's cores. Returns the exit status. */
int cl__cmd_lab(int argc, char **argv);

#endif
