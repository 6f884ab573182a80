#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conlab/error.h"
#include "conlab/topology.h"
#include "harness/harness.h"

enum opt_id {
  O_SUITE,
  O_WORKLOAD,
  O_EXECUTOR,
  O_WORKERS,
  O_TASKS,
  O_SIZE,
  O_DELAY,
  O_REPS,
  O_WARMUP,
  O_QUICK,
  O_OUT,
  O_NO_PLOT,
  O_OMP_SCHEDULE,
  O_OMP_CHUNK,
  O_STACK_SIZE,
  O_CHUNKSIZE,
  O_GIL,
  O_SWITCH_INTERVAL,
  O_BIND,
  O_BIND_CPUS,
  O_TIMEOUT,
  O_NO_ISOLATE,
  O_HELP,
  O__COUNT
};

struct opt_def {
  const char *name;
  char short_name;
  const char *arg; /* NULL: a switch */
  const char *help;
};

/* Grouped by topic, in the order --help prints them. */
static const struct opt_def opts[O__COUNT] = {
    [O_SUITE] = {"suite", 's', "NAME", "run a named suite (see `conlab list`); default: story"},
    [O_WORKLOAD] = {"workload", 'w', "W[,W..]", "workloads to run (see `conlab list`)"},
    [O_EXECUTOR] = {"executor", 'e', "E[,E..]", "executors to run, or `all`"},
    [O_WORKERS] = {"workers", 'j', "N[,N..]|auto",
                   "worker counts; auto: 1, 2, 4 .. cores, hardware threads (x2 for I/O; "
                   "`conlab topo`)"},
    [O_TASKS] = {"tasks", 'n', "N[,N..]", "tasks per batch (default: per workload); a list sweeps"},
    [O_SIZE] = {"size", 0, "N[,N..]",
                "work per task, per workload (see `conlab list`); a list sweeps"},
    [O_DELAY] = {"delay", 'd', "DURATION", "I/O phase length, e.g. 250us, 20ms, 1s"},
    [O_REPS] = {"reps", 'r', "N", "timed repetitions per cell (default: 5)"},
    [O_WARMUP] = {"warmup", 0, "N", "untimed warm-up runs per cell (default: 1)"},
    [O_QUICK] = {"quick", 'q', NULL, "small sizes and 3 repetitions (under 20 s)"},
    [O_OUT] = {"out", 'o', "DIR", "write results to DIR (must not exist)"},
    [O_NO_PLOT] = {"no-plot", 0, NULL, "do not draw plots at the end"},
    [O_OMP_SCHEDULE] = {"omp-schedule", 0, "static|dynamic|guided",
                        "OpenMP loop schedule (default: static)"},
    [O_OMP_CHUNK] = {"omp-chunk", 0, "N", "OpenMP schedule chunk (default: runtime's)"},
    [O_STACK_SIZE] = {"stack-size", 0, "BYTES", "stack per thread for `threads`, e.g. 256K"},
    [O_CHUNKSIZE] = {"chunksize", 0, "N", "tasks per message for `process_pool`"},
    [O_GIL] = {"gil", 0, NULL, "also run threads, thread_pool and openmp under an emulated GIL"},
    [O_SWITCH_INTERVAL] = {"switch-interval", 0, "DURATION",
                           "GIL forced-switch interval (default: 5ms, like Python)"},
    [O_BIND] = {"bind", 0, "POLICY",
                "bind workers: none, core, pu, compact, scatter (`conlab topo --help`)"},
    [O_BIND_CPUS] = {"bind-cpus", 0, "LIST",
                     "bind worker i to PU LIST[i mod n] (OS numbers, e.g. 0,0 or 0-3)"},
    [O_TIMEOUT] = {"timeout", 0, "DURATION",
                   "kill a cell that runs longer (e.g. 30s), mark it timed out, go on"},
    [O_NO_ISOLATE] = {"no-isolate", 0, NULL,
                      "run cells in this process, not each in a forked child (for a debugger)"},
    [O_HELP] = {"help", 'h', NULL, "show this help"},
};

void cl__print_run_usage(FILE *f) {
  fprintf(f, "usage: conlab run [options]\n\n"
             "Runs workloads under executors, verifies checksums, writes results.\n"
             "With no options it runs the story suite.\n\noptions:\n");
  for (int i = 0; i < O__COUNT; i++) {
    char left[64];
    if (opts[i].short_name)
      snprintf(left, sizeof left, "-%c, --%s%s%s", opts[i].short_name, opts[i].name,
               opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
    else
      snprintf(left, sizeof left, "    --%s%s%s", opts[i].name, opts[i].arg ? " " : "",
               opts[i].arg ? opts[i].arg : "");
    fprintf(f, "  %-34s %s\n", left, opts[i].help);
  }
}

static int usage_error(const char *flag, const char *fmt, const char *detail) {
  if (flag)
    fprintf(stderr, "conlab: --%s: ", flag);
  else
    fprintf(stderr, "conlab: ");
  fprintf(stderr, fmt, detail);
  fputc('\n', stderr);
  return CL__EXIT_USAGE;
}

static int find_long(const char *name, size_t len) {
  for (int i = 0; i < O__COUNT; i++)
    if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return i;
  return -1;
}

static int find_short(char c) {
  for (int i = 0; i < O__COUNT; i++)
    if (opts[i].short_name == c) return i;
  return -1;
}

static int parse_workers(const char *v, struct cl__options *o) {
  if (strcmp(v, "auto") == 0) {
    o->nworkers = 0;
    return 0;
  }
  struct cl_list l;
  int err = cl_parse_list(v, &l);
  if (err) return err;
  if (l.n > CL__MAX_WORKER_COUNTS) {
    cl_list_free(&l);
    return cl_error_set(CL_ERANGE, "at most %d worker counts", CL__MAX_WORKER_COUNTS);
  }
  for (size_t i = 0; i < l.n; i++) {
    uint64_t w;
    err = cl_parse_u64(l.items[i], 1, CL__MAX_WORKERS, &w);
    if (err) break;
    o->workers[i] = (unsigned)w;
  }
  o->nworkers = err ? 0 : l.n;
  cl_list_free(&l);
  return err;
}

/* A comma list of numbers in [min, max] into out[]. */
static int parse_u64_list(const char *v, uint64_t min, uint64_t max, uint64_t *out, size_t *n) {
  struct cl_list l;
  int err = cl_parse_list(v, &l);
  if (err) return err;
  if (l.n > CL__MAX_SWEEP) {
    cl_list_free(&l);
    return cl_error_set(CL_ERANGE, "at most %d values", CL__MAX_SWEEP);
  }
  for (size_t i = 0; i < l.n && !err; i++)
    err = cl_parse_u64(l.items[i], min, max, &out[i]);
  *n = err ? 0 : l.n;
  cl_list_free(&l);
  return err;
}

int cl__parse_cpu_list(const char *v, unsigned *out, unsigned *n) {
  *n = 0;
  if (!*v) return cl_error_set(CL_EINVAL, "the list is empty");
  char item[64];
  for (const char *p = v;; p++) {
    size_t len = strcspn(p, ",");
    if (len == 0) return cl_error_set(CL_EINVAL, "'%s' has an empty entry", v);
    if (len >= sizeof item) return cl_error_set(CL_EINVAL, "'%.*s' is not a PU number", 20, p);
    memcpy(item, p, len);
    item[len] = '\0';
    char *dash = strchr(item, '-');
    uint64_t lo, hi;
    if (dash && dash != item) *dash = '\0';
    int err = cl_parse_u64(item, 0, 65535, &lo);
    if (!err && dash && dash != item) {
      err = cl_parse_u64(dash + 1, 0, 65535, &hi);
      if (!err && hi < lo)
        err = cl_error_set(CL_EINVAL, "range '%s-%s' runs backwards", item, dash + 1);
    } else {
      hi = lo;
    }
    if (err) return err;
    for (uint64_t c = lo; c <= hi; c++) {
      if (*n >= CL__MAX_BIND_CPUS)
        return cl_error_set(CL_ERANGE, "at most %d entries", CL__MAX_BIND_CPUS);
      out[(*n)++] = (unsigned)c;
    }
    p += len;
    if (!*p) break;
  }
  return 0;
}

static int apply(struct cl__options *o, int id, const char *v) {
  uint64_t u = 0;
  int err = 0;
  switch (id) {
  case O_SUITE:
    o->suite = cl__suite_find(v);
    if (!o->suite) {
      fprintf(stderr, "conlab: --suite: unknown suite '%s' (valid: %s)\n", v, cl__suite_names());
      return CL__EXIT_USAGE;
    }
    return 0;
  case O_WORKLOAD:
    err = cl_parse_list(v, &o->workloads);
    break;
  case O_EXECUTOR:
    err = cl_parse_list(v, &o->executors);
    break;
  case O_WORKERS:
    err = parse_workers(v, o);
    break;
  case O_TASKS:
    err = parse_u64_list(v, 1, 100000000, o->tasks, &o->ntasks);
    break;
  case O_SIZE:
    err = parse_u64_list(v, 1, 1ULL << 40, o->size, &o->nsizes);
    break;
  case O_DELAY:
    err = cl_parse_duration(v, 1000, 60ULL * 1000000000ULL, &o->delay_ns);
    break;
  case O_REPS:
    err = cl_parse_u64(v, 1, CL__MAX_REPS, &u);
    o->reps = (unsigned)u;
    o->reps_set = true;
    break;
  case O_WARMUP:
    err = cl_parse_u64(v, 0, 100, &u);
    o->warmup = (unsigned)u;
    o->warmup_set = true;
    break;
  case O_QUICK:
    o->quick = true;
    break;
  case O_OUT:
    if (!*v) return usage_error(opts[id].name, "%san empty directory name", "");
    o->out = v;
    break;
  case O_NO_PLOT:
    o->no_plot = true;
    break;
  case O_OMP_SCHEDULE:
    if (strcmp(v, "static") == 0)
      o->exec.omp_schedule = CL_OMP_STATIC;
    else if (strcmp(v, "dynamic") == 0)
      o->exec.omp_schedule = CL_OMP_DYNAMIC;
    else if (strcmp(v, "guided") == 0)
      o->exec.omp_schedule = CL_OMP_GUIDED;
    else
      return usage_error(opts[id].name, "unknown schedule '%s' (valid: static, dynamic, guided)",
                         v);
    break;
  case O_OMP_CHUNK:
    err = cl_parse_u64(v, 1, 1000000, &u);
    o->exec.omp_chunk = (unsigned)u;
    break;
  case O_STACK_SIZE:
    err = cl_parse_bytes(v, 16384, 1ULL << 30, &u);
    o->exec.stack_size = (size_t)u;
    break;
  case O_GIL:
    o->gil = true;
    break;
  case O_SWITCH_INTERVAL:
    err = cl_parse_duration(v, 1000, 10ULL * 1000000000ULL, &o->exec.switch_interval_ns);
    break;
  case O_TIMEOUT:
    err = cl_parse_duration(v, 1000000, 7ULL * 86400 * 1000000000ULL, &o->timeout_ns);
    break;
  case O_NO_ISOLATE:
    o->no_isolate = true;
    break;
  case O_CHUNKSIZE:
    err = cl_parse_u64(v, 1, 1000000, &u);
    o->exec.chunksize = (unsigned)u;
    break;
  case O_BIND:
    if (o->exec.bind == CL_BIND_LIST)
      return usage_error(opts[id].name,
                         "%scannot be combined with --bind-cpus (a list is its "
                         "own policy)",
                         "");
    if (cl_bind_parse(v, &o->exec.bind))
      return usage_error(opts[id].name,
                         "unknown binding '%s' (valid: none, core, pu, compact, scatter)", v);
    o->bind_set = true;
    break;
  case O_BIND_CPUS:
    if (o->bind_set)
      return usage_error(opts[id].name,
                         "%scannot be combined with --bind (a list is its own "
                         "policy)",
                         "");
    err = cl__parse_cpu_list(v, o->bind_cpus, &o->exec.nbind_cpus);
    o->exec.bind = CL_BIND_LIST;
    o->exec.bind_cpus = o->bind_cpus;
    break;
  }
  if (err) return usage_error(opts[id].name, "%s", cl_error_detail());
  return 0;
}

int cl__parse_run_options(int argc, char **argv, struct cl__options *o) {
  memset(o, 0, sizeof *o);
  cl_exec_config_default(&o->exec);
  o->argc = argc;
  o->argv = argv;
  bool seen[O__COUNT] = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int id;
    const char *value = NULL;
    char shown[64];
    if (a[0] == '-' && a[1] == '-' && a[2]) {
      const char *eq = strchr(a + 2, '=');
      size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
      id = find_long(a + 2, len);
      if (id < 0) {
        fprintf(stderr, "conlab: unknown option '%.*s' (see `conlab run --help`)\n", (int)(len + 2),
                a);
        return CL__EXIT_USAGE;
      }
      if (eq) value = eq + 1;
    } else if (a[0] == '-' && a[1] && !a[2]) {
      id = find_short(a[1]);
      if (id < 0) {
        fprintf(stderr, "conlab: unknown option '%s' (see `conlab run --help`)\n", a);
        return CL__EXIT_USAGE;
      }
    } else {
      fprintf(stderr, "conlab: unexpected argument '%s' (see `conlab run --help`)\n", a);
      return CL__EXIT_USAGE;
    }
    snprintf(shown, sizeof shown, "%s", opts[id].name);
    if (id == O_HELP) {
      cl__print_run_usage(stdout);
      return 0;
    }
    if (seen[id]) return usage_error(shown, "%sgiven more than once", "");
    seen[id] = true;
    if (opts[id].arg && !value) {
      if (i + 1 >= argc) return usage_error(shown, "needs a value (%s)", opts[id].arg);
      value = argv[++i];
    } else if (!opts[id].arg && value) {
      return usage_error(shown, "%stakes no value", "");
    }
    int rc = apply(o, id, value);
    if (rc) return rc;
  }
  if (o->timeout_ns && o->no_isolate)
    return usage_error("timeout",
                       "%scannot be used with --no-isolate (only a cell in a process "
                       "of its own can be killed)",
                       "");
  if (!o->suite && !o->workloads.n && !o->executors.n)
    o->suite = cl__suite_find(o->quick ? "quick" : "story");
  if (o->suite && o->suite->quick) o->quick = true;
  if (o->suite && o->suite->gil) o->gil = true;
  if (o->suite && !o->ntasks) {
    uint64_t t = o->quick ? o->suite->quick_tasks : o->suite->tasks;
    if (t) o->tasks[o->ntasks++] = t;
  }
  if (o->suite && !o->nsizes) {
    o->nsizes = o->quick ? o->suite->quick_nsizes : o->suite->nsizes;
    memcpy(o->size, o->quick ? o->suite->quick_sizes : o->suite->sizes,
           o->nsizes * sizeof o->size[0]);
  }
  return -1;
}

void cl__options_free(struct cl__options *o) {
  cl_list_free(&o->workloads);
  cl_list_free(&o->executors);
  cl_topology_destroy(o->topo);
  o->topo = NULL;
  o->exec.topo = NULL;
}
