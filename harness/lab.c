/* `conlab lab`: runs the experiment of a lab sheet (labs/NN-*.md), draws its
 * figures and checks the sheet's expectations against the data.
 *
 * A lab is a fixed set of `conlab run` plans (the `lab_table` below). Each
 * plan runs as `conlab run ... --out DIR/PART` in a child process (this very
 * executable), so a lab run is exactly what a student gets by typing the
 * sheet's commands. Expected numbers come from formulas over this machine's
 * core count (hwloc), the plan's own parameters and, for the schedule and
 * pool-size predictions, a profile of the tasks: never from numbers written
 * for one machine. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conlab/error.h"
#include "conlab/kernel.h"
#include "conlab/stats.h"
#include "conlab/topology.h"
#include "conlab/workload.h"
#include "harness/harness.h"
#include "harness/plot.h"

#define LAB_MAX_PARTS 5
#define LAB_MAX_ARGS 48
#define LAB_TEXT 400

struct lab_ctx;

/* One `conlab run` of a lab; its run directory is DIR/name. */
struct lab_part {
  const char *name;
  const char *args;  /* the `conlab run` arguments at the sheet's sizes */
  const char *quick; /* the same at quick sizes */
};

/* One lab sheet: everything `conlab lab N` needs, in one place. */
struct lab {
  const char *slug, *title, *seed;
  struct lab_part parts[LAB_MAX_PARTS];
  const char *figures; /* comma list, relative to the lab's run directory */
  /* When set, compare/ holds the rows of these parts (a comma list), each
   * workload shown as "workload[part]": one figure, a panel per part. */
  const char *compare;
  void (*expect)(struct lab_ctx *x);
};

static void expect_io(struct lab_ctx *x);
static void expect_pool(struct lab_ctx *x);
static void expect_gil(struct lab_ctx *x);
static void expect_granularity(struct lab_ctx *x);
static void expect_amdahl(struct lab_ctx *x);
static void expect_topology(struct lab_ctx *x);
static void expect_schedules(struct lab_ctx *x);
static void expect_memory(struct lab_ctx *x);

/* The labs. Sheet N is labs/NN-slug.md; its commands quote these plans. */
static const struct lab lab_table[] = {
    {.slug = "io-concurrency",
     .title = "I/O concurrency: overlap the waits",
     .seed = "59, 60, 66",
     .parts = {{"waits",
                "-w io.sleep -e threads,event_loop --workers 1 --tasks 10,100,1000 --delay 2ms "
                "--reps 3",
                "-w io.sleep -e threads,event_loop --workers 1 --tasks 10,100,300 --delay 2ms "
                "--reps 3"}},
     .figures = "waits/plots/io_concurrency.png",
     .expect = expect_io},
    {.slug = "sizing-a-pool",
     .title = "Sizing a pool",
     .seed = "67",
     .parts =
         {{"rounds",
           "-w io.sleep -e thread_pool --tasks 10 --workers 1,2,3,4,5,10 --delay 50ms --reps 3",
           "-w io.sleep -e thread_pool --tasks 10 --workers 1,2,3,4,5,10 --delay 10ms --reps 3"},
          {"mixed",
           "-w mixed.request -e thread_pool --tasks 48 --size 3000000 --delay 10ms "
           "--workers 1,2,4,8,16,32 --reps 3",
           "-w mixed.request -e thread_pool --tasks 48 --size 1500000 --delay 5ms "
           "--workers 1,2,4,8,16,32 --reps 3"}},
     .figures = "rounds/plots/speedup.png,mixed/plots/speedup.png",
     .expect = expect_pool},
    {.slug = "cpu-bound-and-the-gil",
     .title = "CPU-bound work and the GIL (emulated and CPython)",
     .seed = "66, 68",
     .parts = {{"c",
                "-w cpu.sumsq -e threads,thread_pool,process_pool --gil --workers auto --reps 3",
                "-w cpu.sumsq -e threads,thread_pool,process_pool --gil --workers auto --reps 3 "
                "--quick"},
               {"python", "-w cpu.sumsq -e py --tasks 20 --size 250000 --workers auto --reps 3",
                "-w cpu.sumsq -e py --tasks 16 --size 75000 --workers auto --reps 3"}},
     .figures = "c/plots/story.png,python/plots/story.png",
     .expect = expect_gil},
    {.slug = "granularity-and-overhead",
     .title = "Granularity and overhead",
     .seed = "67, 68",
     .parts = {{"sweep",
                "-w cpu.sumsq -e threads,thread_pool,process_pool,event_loop,openmp --tasks 100 "
                "--size 3000,30000,300000,3000000 --reps 3",
                "-w cpu.sumsq -e threads,thread_pool,process_pool,event_loop,openmp --tasks 40 "
                "--size 3000,30000,300000,3000000 --reps 3"}},
     .figures = "sweep/plots/granularity.png",
     .expect = expect_granularity},
    {.slug = "amdahl-and-karp-flatt",
     .title = "Amdahl's law and the Karp-Flatt metric",
     .seed = "68",
     .parts = {{"even",
                "-w cpu.sumsq -e thread_pool,openmp --tasks 48 --size 10000000 --workers auto "
                "--reps 3",
                "-w cpu.sumsq -e thread_pool,openmp --tasks 48 --size 2000000 --workers auto "
                "--reps 3"},
               {"uneven",
                "-w cpu.sumsq -e thread_pool,openmp --tasks 3 --size 160000000 --workers auto "
                "--reps 3",
                "-w cpu.sumsq -e thread_pool,openmp --tasks 3 --size 32000000 --workers auto "
                "--reps 3"}},
     .figures = "even/plots/speedup.png,uneven/plots/speedup.png",
     .expect = expect_amdahl},
    {.slug = "topology-binding-smt-oversubscription",
     .title = "Topology, binding, SMT and oversubscription",
     .seed = "68",
     .parts = {{"pu0",
                "-w cpu.sumsq -e thread_pool --tasks 16 --size 10000000 --workers auto "
                "--bind-cpus 0 --reps 3",
                "-w cpu.sumsq -e thread_pool --tasks 16 --size 2000000 --workers auto "
                "--bind-cpus 0 --reps 3"},
               {"core",
                "-w cpu.sumsq -e thread_pool --tasks 16 --size 10000000 --workers auto --bind core "
                "--reps 3",
                "-w cpu.sumsq -e thread_pool --tasks 16 --size 2000000 --workers auto --bind core "
                "--reps 3"},
               {"compact",
                "-w cpu.sumsq -e thread_pool --tasks 16 --size 10000000 --workers auto --bind "
                "compact --reps 3",
                "-w cpu.sumsq -e thread_pool --tasks 16 --size 2000000 --workers auto --bind "
                "compact --reps 3"},
               {"scatter",
                "-w cpu.sumsq -e thread_pool --tasks 16 --size 10000000 --workers auto --bind "
                "scatter --reps 3",
                "-w cpu.sumsq -e thread_pool --tasks 16 --size 2000000 --workers auto --bind "
                "scatter --reps 3"},
               {"over",
                "-w cpu.sumsq -e threads,thread_pool,openmp --tasks 64 --size 2500000 "
                "--workers 1,2,4,8,16,32,64 --reps 3",
                "-w cpu.sumsq -e threads,thread_pool,openmp --tasks 64 --size 2500000 "
                "--workers 1,2,4,8,16,32,64 --reps 3"}},
     .figures = "compare/plots/speedup.png,over/plots/speedup.png",
     .compare = "pu0,core,compact,scatter",
     .expect = expect_topology},
    {.slug = "load-imbalance-and-schedules",
     .title = "Load imbalance and schedules",
     .seed = "64",
     .parts = {{"static",
                "-w cpu.fib,cpu.mandel,cpu.primes -e openmp,thread_pool --omp-schedule static "
                "--workers auto --reps 3",
                "-w cpu.fib,cpu.mandel,cpu.primes -e openmp,thread_pool --omp-schedule static "
                "--workers auto --reps 5 --quick"},
               {"dynamic",
                "-w cpu.fib,cpu.mandel,cpu.primes -e openmp --omp-schedule dynamic --workers auto "
                "--reps 3",
                "-w cpu.fib,cpu.mandel,cpu.primes -e openmp --omp-schedule dynamic --workers auto "
                "--reps 5 --quick"}},
     .figures = "compare/plots/speedup.png",
     .compare = "static,dynamic",
     .expect = expect_schedules},
    {.slug = "memory-bandwidth",
     .title = "Memory bandwidth as the limit",
     .seed = "65",
     .parts = {{"scaling", "-w mem.stream,cpu.sumsq -e thread_pool,openmp --workers auto --reps 3",
                "-w mem.stream,cpu.sumsq -e thread_pool,openmp --workers auto --reps 3 --quick"},
               {"caches", "-w mem.stream -e sequential --tasks 16 --size 8192,2097152 --reps 3",
                "-w mem.stream -e sequential --tasks 16 --size 8192,1048576 --reps 3"}},
     .figures = "scaling/plots/speedup.png",
     .expect = expect_memory},
};

#define NLABS (sizeof lab_table / sizeof lab_table[0])

/* A part's arguments split into an argv for cl__parse_run_options. */
struct part_args {
  char buf[1024];
  char *argv[LAB_MAX_ARGS];
  int argc;
};

struct lab_ctx {
  const struct lab *lab;
  unsigned number;
  bool quick;
  bool have_data; /* the parts ran: verdicts, not only expectations */
  struct cl_topology *topology;
  struct cl_topology_summary topo;
  unsigned cores; /* physical cores: the ideal CPU speedup */
  size_t nparts;
  struct part_args args[LAB_MAX_PARTS];
  struct cl__options opts[LAB_MAX_PARTS];
  bool parsed[LAB_MAX_PARTS];
  struct cl__summary_csv data[LAB_MAX_PARTS];
  unsigned next_id, pass, fail, unchecked;
  double others_cores; /* cores other programs kept busy during the runs, or NaN */
  FILE *out;
};

/* ---- Small helpers. ---- */

static void put(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(char *buf, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, LAB_TEXT, fmt, ap);
  va_end(ap);
}

/* Appends to a LAB_TEXT buffer. */
static void add(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(char *buf, const char *fmt, ...) {
  size_t n = strlen(buf);
  if (n + 1 >= LAB_TEXT) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, LAB_TEXT - n, fmt, ap);
  va_end(ap);
}

static void dur(char *buf, size_t len, double s) {
  cl__fmt_duration(buf, len, s);
}

static uint64_t ceil_div(uint64_t a, uint64_t b) {
  return b ? (a + b - 1) / b : 0;
}

/* Speedup of n equal tasks on w workers: n / ceil(n / w) (the last round may
 * be partly empty). */
static double rounds_ideal(uint64_t n, unsigned w) {
  return n && w ? (double)n / (double)ceil_div(n, w) : NAN;
}

/* The Karp-Flatt fraction of n equal tasks on w workers: the partly empty
 * last round is all that does not run in parallel. */
static double stair_e(uint64_t n, unsigned w) {
  return cl_karp_flatt(rounds_ideal(n, w), w);
}

/* Whether the kernels run at full speed: an optimised build without a
 * sanitizer (the whole project is built with the same flags). */
static bool optimised_build(void) {
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return false;
#endif
#endif
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  return true;
#else
  return false;
#endif
}

/* Whether ThreadSanitizer instruments this build: it makes starting a
 * thread cost far more than an uninstrumented one. */
static bool tsan_build(void) {
#if defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return true;
#endif
#endif
  return false;
}

static bool has_executor(const char *name) {
  const struct cl_executor_ops *e = cl_executor_find(name);
  if (!e) return false;
  if (e->available && e->available() != 0) {
    cl_error_clear();
    return false;
  }
  return true;
}

/* ---- A part's plan: its arguments parsed as `conlab run` parses them. ---- */

/* Splits `args` (single spaces, no quoting) after "run" into pa. Executors
 * this build lacks (openmp without OpenMP) are left out of -e lists; a list
 * left empty becomes "sequential". */
static int split_args(const char *args, struct part_args *pa) {
  memset(pa, 0, sizeof *pa);
  if (snprintf(pa->buf, sizeof pa->buf, "%s", args) >= (int)sizeof pa->buf)
    return cl_error_set(CL_ERANGE, "lab arguments too long");
  pa->argv[pa->argc++] = (char *)"run";
  for (char *save = NULL, *tok = strtok_r(pa->buf, " ", &save); tok;
       tok = strtok_r(NULL, " ", &save)) {
    if (pa->argc + 1 >= LAB_MAX_ARGS) return cl_error_set(CL_ERANGE, "too many lab arguments");
    pa->argv[pa->argc++] = tok;
  }
  for (int i = 1; i + 1 < pa->argc; i++) {
    if (strcmp(pa->argv[i], "-e") != 0) continue;
    char *list = pa->argv[i + 1], *w = list;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
      bool keep = strcmp(name, "py") == 0 || strcmp(name, "all") == 0 || cl_executor_find(name);
      if (!keep) continue;
      size_t len = strlen(name);
      if (w != list) *w++ = ',';
      memmove(w, name, len); /* leftwards over names already read */
      w += len;
    }
    *w = '\0';
    /* Nothing left: the plan still runs its sequential baseline. */
    if (w == list) pa->argv[i + 1] = (char *)"sequential";
  }
  pa->argv[pa->argc] = NULL;
  return 0;
}

static const char *part_args_text(const struct lab_ctx *x, size_t i) {
  return x->quick ? x->lab->parts[i].quick : x->lab->parts[i].args;
}

/* Parses every part's arguments. Returns 0, or CL__EXIT_FAILED after one
 * line when the table does not parse (a bug in this file). */
static int parts_parse(struct lab_ctx *x) {
  for (size_t i = 0; i < x->nparts; i++) {
    if (split_args(part_args_text(x, i), &x->args[i]) != 0) {
      fprintf(stderr, "conlab: lab %u: %s\n", x->number, cl_error_detail());
      return CL__EXIT_FAILED;
    }
    int rc = cl__parse_run_options(x->args[i].argc, x->args[i].argv, &x->opts[i]);
    x->parsed[i] = true;
    if (rc >= 0) {
      fprintf(stderr, "conlab: lab %u: the plan '%s' does not parse\n", x->number,
              x->lab->parts[i].name);
      return CL__EXIT_FAILED;
    }
  }
  return 0;
}

/* The i-th --tasks value of a part, or the workload's default. */
static uint64_t part_tasks(const struct lab_ctx *x, size_t part, size_t i, const char *workload) {
  const struct cl__options *o = &x->opts[part];
  if (o->ntasks) return o->tasks[i < o->ntasks ? i : o->ntasks - 1];
  const struct cl_workload *w = cl_workload_find(workload);
  return w ? (o->quick ? w->quick_tasks : w->default_tasks) : 0;
}

static uint64_t part_size(const struct lab_ctx *x, size_t part, size_t i, const char *workload) {
  const struct cl__options *o = &x->opts[part];
  if (o->nsizes) return o->size[i < o->nsizes ? i : o->nsizes - 1];
  const struct cl_workload *w = cl_workload_find(workload);
  return w ? (o->quick ? w->quick_size : w->default_size) : 0;
}

static double part_delay_s(const struct lab_ctx *x, size_t part, const char *workload) {
  const struct cl__options *o = &x->opts[part];
  if (o->delay_ns) return (double)o->delay_ns * 1e-9;
  const struct cl_workload *w = cl_workload_find(workload);
  return w ? (double)(o->quick ? w->quick_delay_ns : w->default_delay_ns) * 1e-9 : NAN;
}

/* The worker counts a part runs: its --workers list or this machine's auto list. */
static size_t part_workers(const struct lab_ctx *x, size_t part, const char *kind, unsigned *out) {
  const struct cl__options *o = &x->opts[part];
  if (o->nworkers) {
    memcpy(out, o->workers, o->nworkers * sizeof *out);
    return o->nworkers;
  }
  return cl_topology_auto_workers(x->topology, kind, out, CL__MAX_WORKER_COUNTS);
}

/* The largest worker count of a part that does not exceed the cores. */
static unsigned part_wc(const struct lab_ctx *x, size_t part, const char *kind) {
  unsigned w[CL__MAX_WORKER_COUNTS], best = 1;
  size_t n = part_workers(x, part, kind, w);
  for (size_t i = 0; i < n; i++)
    if (w[i] <= x->cores && w[i] > best) best = w[i];
  return best;
}

/* ---- The data. ---- */

/* An ok row of a part: workload, executor, workers (0: any), gil, tasks and
 * size (0: any). */
static const struct cl__srow *find(const struct lab_ctx *x, size_t part, const char *w,
                                   const char *e, unsigned workers, bool gil, uint64_t tasks,
                                   uint64_t size) {
  if (!x->have_data || part >= x->nparts) return NULL;
  const struct cl__summary_csv *s = &x->data[part];
  for (size_t i = 0; i < s->n; i++) {
    const struct cl__srow *r = &s->rows[i];
    if (r->ok && r->gil == gil && strcmp(r->workload, w) == 0 && strcmp(r->executor, e) == 0 &&
        (!workers || r->workers == workers) && (!tasks || r->tasks == tasks) &&
        (!size || r->size == size))
      return r;
  }
  return NULL;
}

static double speedup(const struct cl__srow *r) {
  return r ? r->speedup : NAN;
}

/* ---- Expectations: a statement, what is expected, a verdict. ---- */

struct expectation {
  char what[LAB_TEXT];      /* the statement, computed for this machine */
  char expected[LAB_TEXT];  /* the expected value(s) and the margin */
  char measured[LAB_TEXT];  /* after a run */
  char unchecked[LAB_TEXT]; /* why the data cannot check it here: "on 2 cores: ..." */
  bool ok;
};

static void report(struct lab_ctx *x, const struct expectation *e) {
  FILE *f = x->out;
  unsigned id = ++x->next_id;
  fprintf(f, "E%u  %s\n", id, e->what);
  fprintf(f, "    expected: %s\n", e->expected);
  if (e->unchecked[0]) {
    x->unchecked++;
    fprintf(f, "    not checkable %s", e->unchecked);
    /* What was measured, when there was something to measure. */
    if (x->have_data && e->measured[0] && !strstr(e->measured, "nan"))
      fprintf(f, "; measured %s", e->measured);
    fputc('\n', f);
  } else if (!x->have_data) {
    fprintf(f, "    checkable here: `conlab lab %u` runs it and checks\n", x->number);
  } else if (e->ok) {
    x->pass++;
    fprintf(f, "    PASS  measured %s\n", e->measured);
  } else {
    x->fail++;
    fprintf(f, "    FAIL  measured %s\n", e->measured[0] ? e->measured : "nothing (no data)");
  }
}

/* "on 1 core: ..." when the machine has fewer than `need` cores. */
static bool need_cores(const struct lab_ctx *x, struct expectation *e, unsigned need,
                       const char *why) {
  if (x->cores >= need) return true;
  put(e->unchecked, "on %u core%s: %s", x->cores, x->cores == 1 ? "" : "s", why);
  return false;
}

static bool need_openmp(struct expectation *e) {
  if (has_executor("openmp")) return true;
  put(e->unchecked, "in this build: it has no OpenMP (configure with -DCL_OPENMP=ON)");
  return false;
}

/* ---- Profiles: each task's CPU phases timed alone (seed ex. 64). ---- */

/* Times the CPU phases of every task of a batch built as the part builds it,
 * the best of `passes`, into costs[0 .. *n). Returns 0 or CL_E*. */
static int profile(const char *workload, uint64_t tasks, uint64_t size, bool quick, unsigned passes,
                   double **costs, size_t *n) {
  const struct cl_workload *w = cl_workload_find(workload);
  if (!w) return cl_error_set(CL_ENOENT, "no workload %s", workload);
  struct cl_workload_params p = {.tasks = tasks, .size = size, .quick = quick};
  struct cl_batch b;
  memset(&b, 0, sizeof b);
  int err = cl_workload_build(w, &p, &b);
  if (err) return err;
  double *c = malloc((b.ntasks ? b.ntasks : 1) * sizeof *c);
  if (!c) {
    cl_workload_release(w, &b);
    return cl_error_set(CL_ENOMEM, "profile of %s", workload);
  }
  volatile uint64_t sink = 0;
  for (size_t i = 0; i < b.ntasks; i++)
    c[i] = INFINITY;
  for (unsigned pass = 0; pass < passes; pass++)
    for (size_t i = 0; i < b.ntasks; i++) {
      const struct cl_task *t = &b.tasks[i];
      double t0 = cl__now_s();
      for (uint32_t k = 0; k < t->nphases; k++)
        if (t->phase[k].kind == CL_PHASE_CPU)
          sink += cl_kernel_run(t->phase[k].op, t->phase[k].a, t->phase[k].b, b.data);
      double d = cl__now_s() - t0;
      if (d < c[i]) c[i] = d;
    }
  (void)sink;
  *n = b.ntasks;
  *costs = c;
  cl_workload_release(w, &b);
  return 0;
}

static double sum_of(const double *c, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += c[i];
  return s;
}

/* OpenMP's static schedule without a chunk: worker i gets one contiguous
 * block, the first n mod w blocks one task longer. Returns the makespan. */
static double makespan_static(const double *c, size_t n, unsigned w) {
  size_t q = n / w, t = n % w, at = 0;
  double worst = 0;
  for (unsigned i = 0; i < w; i++) {
    size_t len = q + (i < t ? 1 : 0);
    double load = 0;
    for (size_t k = 0; k < len; k++)
      load += c[at + k];
    at += len;
    if (load > worst) worst = load;
  }
  return worst;
}

/* A dynamic schedule (chunk 1) or one shared queue: tasks in order, each to
 * the worker that becomes free first. Returns the makespan. */
static double makespan_dynamic(const double *c, size_t n, unsigned w) {
  double *busy = calloc(w, sizeof *busy);
  if (!busy) return NAN;
  for (size_t i = 0; i < n; i++) {
    unsigned k = 0;
    for (unsigned j = 1; j < w; j++)
      if (busy[j] < busy[k]) k = j;
    busy[k] += c[i];
  }
  double worst = 0;
  for (unsigned j = 0; j < w; j++)
    if (busy[j] > worst) worst = busy[j];
  free(busy);
  return worst;
}

/* ---- Lab 1: I/O concurrency. ---- */

static void expect_io(struct lab_ctx *x) {
  const char *w = "io.sleep";
  size_t nt = x->opts[0].ntasks;
  uint64_t n_min = part_tasks(x, 0, 0, w), n_max = part_tasks(x, 0, nt - 1, w);
  double d = part_delay_s(x, 0, w);
  char ds[32], a[32], b[32];
  dur(ds, sizeof ds, d);

  struct expectation e = {0};
  dur(a, sizeof a, (double)n_max * d);
  put(e.what, "sequential waits one delay after another: %llu tasks x %s = %s",
      (unsigned long long)n_max, ds, a);
  put(e.expected, "n x %s at each task count (", ds);
  for (size_t i = 0; i < nt; i++)
    add(e.expected, "%s%llu", i ? ", " : "", (unsigned long long)part_tasks(x, 0, i, w));
  add(e.expected, " tasks), within 0.95x-1.5x");
  e.ok = true;
  for (size_t i = 0; i < nt; i++) {
    uint64_t n = part_tasks(x, 0, i, w);
    const struct cl__srow *r = find(x, 0, w, "sequential", 1, false, n, 0);
    double ratio = r ? r->median_s / ((double)n * d) : NAN;
    if (!(ratio >= 0.95 && ratio <= 1.5)) e.ok = false;
    if (r) {
      dur(a, sizeof a, r->median_s);
      add(e.measured, "%s%llu tasks %s (%.2fx n x d)", i ? ", " : "", (unsigned long long)n, a,
          ratio);
    } else {
      add(e.measured, "%s%llu tasks: no data", i ? ", " : "", (unsigned long long)n);
    }
  }
  report(x, &e);

  memset(&e, 0, sizeof e);
  put(e.what,
      "one event loop (one thread) overlaps all %llu waits: the speedup is about the task count, "
      "%llux, not the %u cores",
      (unsigned long long)n_max, (unsigned long long)n_max, x->cores);
  put(e.expected, "at least %.0fx (half of %llu) at %llu tasks", (double)n_max / 2,
      (unsigned long long)n_max, (unsigned long long)n_max);
  if ((double)n_max / 2 <= x->cores)
    put(e.unchecked, "on %u cores: %llu tasks cannot show a speedup above the core count", x->cores,
        (unsigned long long)n_max);
  const struct cl__srow *el = find(x, 0, w, "event_loop", 1, false, n_max, 0);
  e.ok = speedup(el) >= (double)n_max / 2;
  if (el) {
    dur(a, sizeof a, el->median_s);
    put(e.measured, "%.1fx (%s for all %llu tasks)", el->speedup, a, (unsigned long long)n_max);
  }
  report(x, &e);

  memset(&e, 0, sizeof e);
  put(e.what,
      "a thread per task overlaps the waits too, but each thread costs its creation: at %llu "
      "tasks `threads` is slower than the event loop",
      (unsigned long long)n_max);
  put(e.expected, "threads' wall time at %llu tasks at least 1.2x the event loop's",
      (unsigned long long)n_max);
  const struct cl__srow *th = find(x, 0, w, "threads", 0, false, n_max, 0);
  const struct cl__srow *th0 = find(x, 0, w, "threads", 0, false, n_min, 0);
  e.ok = th && el && th->median_s >= 1.2 * el->median_s;
  if (th && el) {
    dur(a, sizeof a, th->median_s);
    dur(b, sizeof b, el->median_s);
    put(e.measured, "threads %s, event loop %s (%.1fx)", a, b, th->median_s / el->median_s);
    if (th0) {
      dur(a, sizeof a, th0->median_s);
      add(e.measured, "; %llu threads %s", (unsigned long long)n_min, a);
    }
  }
  report(x, &e);

  memset(&e, 0, sizeof e);
  put(e.what, "a thread per task needs memory per task (a stack each); the event loop keeps only "
              "a small record per task");
  put(e.expected, "peak memory of threads at %llu tasks at least 1.2x the event loop's",
      (unsigned long long)n_max);
  e.ok = th && el && th->max_rss_kb >= 1.2 * el->max_rss_kb;
  if (th && el)
    put(e.measured, "threads %.1f MiB, event loop %.1f MiB (%.1f KiB per task more)",
        th->max_rss_kb / 1024, el->max_rss_kb / 1024,
        (th->max_rss_kb - el->max_rss_kb) / (double)n_max);
  report(x, &e);
}

/* ---- Lab 2: sizing a pool. ---- */

/* A pool of w workers taking n tasks in order from one queue; a task
 * computes c1, waits d, computes c2. The p cores are shared fairly: k tasks
 * computing at once each progress at min(1, p/k) (the kernel's time slicing
 * as a fluid). Returns when the last task ends, or NaN. */
static double simulate_pool(uint64_t n, unsigned w, unsigned p, double c1, double d, double c2) {
  enum { IDLE, PARSE, WAIT, RENDER };
  int *phase = calloc(w, sizeof *phase);
  double *left = calloc(w, sizeof *left);
  if (!phase || !left || !(c1 + c2 > 0)) {
    free(phase);
    free(left);
    return NAN;
  }
  uint64_t next = 0;
  for (unsigned i = 0; i < w && next < n; i++, next++) {
    phase[i] = PARSE;
    left[i] = c1;
  }
  double t = 0;
  for (;;) {
    unsigned busy = 0, active = 0;
    for (unsigned i = 0; i < w; i++) {
      busy += phase[i] == PARSE || phase[i] == RENDER;
      active += phase[i] != IDLE;
    }
    if (!active) break;
    double rate = busy > p ? (double)p / busy : 1.0, step = INFINITY;
    for (unsigned i = 0; i < w; i++)
      if (phase[i] != IDLE) step = fmin(step, phase[i] == WAIT ? left[i] : left[i] / rate);
    t += step;
    for (unsigned i = 0; i < w; i++) {
      if (phase[i] == IDLE) continue;
      left[i] -= phase[i] == WAIT ? step : step * rate;
      if (left[i] > 1e-12 * (c1 + c2 + d)) continue;
      if (phase[i] == PARSE) {
        phase[i] = WAIT;
        left[i] = d;
      } else if (phase[i] == WAIT) {
        phase[i] = RENDER;
        left[i] = c2;
      } else if (next < n) {
        phase[i] = PARSE;
        left[i] = c1;
        next++;
      } else {
        phase[i] = IDLE;
      }
    }
  }
  free(phase);
  free(left);
  return t;
}

static void expect_pool(struct lab_ctx *x) {
  const char *w = "io.sleep";
  uint64_t n = part_tasks(x, 0, 0, w);
  double d = part_delay_s(x, 0, w);
  unsigned ws[CL__MAX_WORKER_COUNTS];
  size_t nw = part_workers(x, 0, "io", ws);
  char ds[32], a[32], b[32];
  dur(ds, sizeof ds, d);

  struct expectation e = {0};
  put(e.what,
      "W workers run %llu waits of %s in ceil(%llu/W) rounds: speedup %llu/ceil(%llu/W), on any "
      "number of cores",
      (unsigned long long)n, ds, (unsigned long long)n, (unsigned long long)n,
      (unsigned long long)n);
  e.ok = true;
  for (size_t i = 0; i < nw; i++) {
    double ideal = rounds_ideal(n, ws[i]);
    add(e.expected, "%sW=%u %.2fx%s", i ? ", " : "", ws[i], ideal,
        ws[i] == 3 && n == 10 ? " (4 rounds: seed ex. 67)" : "");
    const struct cl__srow *r = find(x, 0, w, "thread_pool", ws[i], false, n, 0);
    double s = speedup(r);
    if (!(s >= 0.8 * ideal && s <= 1.1 * ideal)) e.ok = false;
    add(e.measured, "%sW=%u %.2fx", i ? ", " : "", ws[i], s);
  }
  add(e.expected, "; each within 0.8x-1.1x");
  report(x, &e);

  /* Mixed tasks: CPU c, then a wait d, then CPU again. */
  const char *m = "mixed.request";
  uint64_t mn = part_tasks(x, 1, 0, m);
  double md = part_delay_s(x, 1, m), c = NAN;
  /* c from a profile (the best of 5), not from the sequential run: a
   * disturbed baseline would move the prediction with the measurement. */
  double *costs = NULL;
  size_t np = 0;
  if (profile(m, 1, part_size(x, 1, 0, m), x->opts[1].quick, 5, &costs, &np) == 0 && np)
    c = costs[0];
  free(costs);
  if (!(c > 0)) c = NAN;
  size_t nmw = part_workers(x, 1, "mixed", ws);
  unsigned P = x->cores;
  double wstar = P * (1 + md / c), ceiling = P * (c + md) / c;
  dur(a, sizeof a, c);
  dur(b, sizeof b, md);
  memset(&e, 0, sizeof e);
  put(e.what,
      "%llu tasks of CPU c = %s (profiled) and a wait d = %s on W workers and %u cores: between "
      "the cores time-sliced fairly (simulated) and the bound n(c+d) / max(ceil(n/W)(c+d), n "
      "c/min(W,P))",
      (unsigned long long)mn, a, b, P);
  double upper = x->topo.smt ? 1.5 : 1.15;
  e.ok = isfinite(c);
  for (size_t i = 0; i < nmw; i++) {
    unsigned W = ws[i];
    double rounds = (double)ceil_div(mn, W) * (c + md);
    double cpu = (double)mn * c / (W < P ? W : P);
    double bound = (double)mn * (c + md) / (rounds > cpu ? rounds : cpu);
    double sliced = (double)mn * (c + md) / simulate_pool(mn, W, P, c / 2, md, c / 2);
    add(e.expected, "%sW=%u %.1f-%.1fx", i ? ", " : "", W, sliced, bound);
    const struct cl__srow *r = find(x, 1, m, "thread_pool", W, false, mn, 0);
    double s = speedup(r);
    if (!(s >= 0.6 * sliced && s <= upper * bound)) e.ok = false;
    add(e.measured, "%sW=%u %.1fx", i ? ", " : "", W, s);
  }
  add(e.expected, "; each at least 0.6x the first, at most %.2fx the second", upper);
  report(x, &e);

  /* Goetz's rule: W* = P (1 + d/c) keeps the cores busy. */
  memset(&e, 0, sizeof e);
  put(e.what,
      "the best pool size is about W* = P (1 + d/c) = %u x (1 + %s/%s) = %.1f: beyond it the %u "
      "cores are busy and the speedup levels off, under P (c+d)/c = %.1fx",
      P, b, a, wstar, P, ceiling);
  unsigned wa = 0, wb = 0;
  for (size_t i = 0; i < nmw; i++) {
    if (!wa && ws[i] >= wstar)
      wa = ws[i];
    else if (wa && ws[i] > wb)
      wb = ws[i];
  }
  if (wa && wb) {
    put(e.expected,
        "%.1fx the workers (%u against %u) gain at most 1 + 0.35 x %.1f = %.2fx (below W*, more "
        "workers gain about in proportion)",
        (double)wb / wa, wb, wa, (double)wb / wa - 1, 1 + 0.35 * ((double)wb / wa - 1));
  } else {
    put(e.expected, "no gain above %.0f workers", wstar);
    put(e.unchecked,
        "on %u cores: W* = %.0f leaves fewer than two worker counts above it (the largest is %u)",
        P, wstar, ws[nmw - 1]);
  }
  const struct cl__srow *ra = wa ? find(x, 1, m, "thread_pool", wa, false, mn, 0) : NULL;
  const struct cl__srow *rb = wb ? find(x, 1, m, "thread_pool", wb, false, mn, 0) : NULL;
  e.ok = ra && rb && rb->speedup <= (1 + 0.35 * ((double)wb / wa - 1)) * ra->speedup;
  if (ra && rb)
    put(e.measured, "W=%u %.1fx, W=%u %.1fx (%.2fx)", wa, ra->speedup, wb, rb->speedup,
        rb->speedup / ra->speedup);
  report(x, &e);
}

/* ---- Lab 3: CPU-bound work and the GIL. ---- */

static void expect_gil(struct lab_ctx *x) {
  const char *w = "cpu.sumsq";
  uint64_t n = part_tasks(x, 0, 0, w);
  unsigned W = part_wc(x, 0, "cpu"), P = x->cores;
  double ideal = rounds_ideal(n, W);
  const char *one = "one core runs one task at a time whatever the executor";

  struct expectation e = {0};
  put(e.what,
      "C threads have no GIL: thread_pool with %u workers runs %llu equal tasks about %.2fx "
      "faster (n/ceil(n/W))",
      W, (unsigned long long)n, ideal);
  put(e.expected, "at least %.2fx (0.6 of %.2fx)", 0.6 * ideal, ideal);
  need_cores(x, &e, 2, one);
  const struct cl__srow *r = find(x, 0, w, "thread_pool", W, false, n, 0);
  e.ok = speedup(r) >= 0.6 * ideal;
  put(e.measured, "%.2fx", speedup(r));
  report(x, &e);

  memset(&e, 0, sizeof e);
  put(e.what,
      "under the emulated GIL one thread computes at a time: threads (%llu) and thread_pool (%u "
      "workers) stay near 1x on the %u cores",
      (unsigned long long)n, W, P);
  put(e.expected, "at most 1.2x each");
  need_cores(x, &e, 2, "without a second core the GIL takes nothing away");
  const struct cl__srow *tg = find(x, 0, w, "threads", 0, true, n, 0);
  const struct cl__srow *pg = find(x, 0, w, "thread_pool", W, true, n, 0);
  e.ok = tg && pg && tg->speedup <= 1.2 && pg->speedup <= 1.2;
  put(e.measured, "threads + GIL %.2fx, thread_pool + GIL %.2fx", speedup(tg), speedup(pg));
  report(x, &e);

  memset(&e, 0, sizeof e);
  put(e.what,
      "a process pool has a GIL per process: process_pool + GIL with %u workers still "
      "reaches about %.2fx",
      W, ideal);
  put(e.expected, "at least %.2fx (0.6 of %.2fx)", 0.6 * ideal, ideal);
  need_cores(x, &e, 2, one);
  const struct cl__srow *pp = find(x, 0, w, "process_pool", W, true, n, 0);
  e.ok = speedup(pp) >= 0.6 * ideal;
  put(e.measured, "%.2fx", speedup(pp));
  report(x, &e);

  /* CPython: the real GIL. */
  bool python = x->have_data ? find(x, 1, w, "py.sequential", 1, false, 0, 0) != NULL
                             : has_executor("py.sequential");
  uint64_t pn = part_tasks(x, 1, 0, w);
  unsigned pw = part_wc(x, 1, "cpu");
  memset(&e, 0, sizeof e);
  put(e.what,
      "CPython's threads share one GIL (seed ex. 66): py.threads (%llu threads) stays near "
      "1x against py.sequential",
      (unsigned long long)pn);
  put(e.expected, "at most 1.3x");
  if (need_cores(x, &e, 2, one) && !python)
    put(e.unchecked, "without CPython: python3 3.8 or newer was not found");
  const struct cl__srow *pt = find(x, 1, w, "py.threads", 0, false, pn, 0);
  e.ok = pt && pt->speedup <= 1.3;
  put(e.measured, "%.2fx", speedup(pt));
  report(x, &e);

  memset(&e, 0, sizeof e);
  put(e.what,
      "CPython's process pool (seed ex. 68) has an interpreter, and a GIL, per process: "
      "py.process_pool beats py.sequential (ideal %.2fx at %u workers, less the pool's start-up)",
      rounds_ideal(pn, pw), pw);
  put(e.expected, "at least 1.3x at its best worker count");
  if (need_cores(x, &e, 2, one) && !python)
    put(e.unchecked, "without CPython: python3 3.8 or newer was not found");
  double best = NAN;
  unsigned bw = 0;
  unsigned pws[CL__MAX_WORKER_COUNTS];
  size_t npw = part_workers(x, 1, "cpu", pws);
  for (size_t i = 0; i < npw; i++) {
    const struct cl__srow *q = find(x, 1, w, "py.process_pool", pws[i], false, pn, 0);
    if (q && !(q->speedup <= best)) {
      best = q->speedup;
      bw = pws[i];
    }
  }
  e.ok = best >= 1.3;
  put(e.measured, "%.2fx at %u workers", best, bw);
  report(x, &e);
}

/* ---- Lab 4: granularity and overhead. ---- */

static void expect_granularity(struct lab_ctx *x) {
  const char *w = "cpu.sumsq";
  const char *pools[] = {"thread_pool", "process_pool", "event_loop", "openmp"};
  uint64_t n = part_tasks(x, 0, 0, w);
  size_t nz = x->opts[0].nsizes;
  uint64_t s0 = part_size(x, 0, 0, w), sl = part_size(x, 0, nz - 1, w);
  unsigned W = part_wc(x, 0, "cpu");
  double ideal = rounds_ideal(n, W);
  char a[32], b[32];

  /* Task length from the sequential row (about 0.3 ns per integer). */
  const struct cl__srow *q0 = find(x, 0, w, "sequential", 1, false, n, s0);
  const struct cl__srow *ql = find(x, 0, w, "sequential", 1, false, n, sl);
  dur(a, sizeof a, q0 ? q0->median_s / (double)n : (double)s0 * 0.3e-9);
  dur(b, sizeof b, ql ? ql->median_s / (double)n : (double)sl * 0.3e-9);

  struct expectation e = {0};
  put(e.what,
      "creating a thread costs tens of microseconds: with the smallest tasks (size %llu, about "
      "%s each) a thread per task loses to sequential",
      (unsigned long long)s0, a);
  put(e.expected, "threads below 0.5x");
  const struct cl__srow *t0 = find(x, 0, w, "threads", 0, false, n, s0);
  e.ok = t0 && t0->speedup < 0.5;
  if (t0) {
    char c[32];
    dur(c, sizeof c, t0->median_s / (double)n);
    put(e.measured, "%.2fx (about %s per task, thread included)", t0->speedup, c);
  }
  report(x, &e);

  memset(&e, 0, sizeof e);
  put(e.what,
      "with the largest tasks (size %llu, about %s each) the overhead is noise: every pool with %u "
      "workers reaches about n/ceil(n/W) = %.2fx",
      (unsigned long long)sl, b, W, ideal);
  put(e.expected, "each pool at least %.2fx (0.6 of %.2fx)", 0.6 * ideal, ideal);
  need_cores(x, &e, 2, "one core runs one task at a time whatever the executor");
  e.ok = true;
  for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) {
    if (!has_executor(pools[i])) continue;
    const struct cl__srow *r = find(x, 0, w, pools[i], W, false, n, sl);
    if (!(speedup(r) >= 0.6 * ideal)) e.ok = false;
    add(e.measured, "%s%s %.2fx", e.measured[0] ? ", " : "", pools[i], speedup(r));
  }
  report(x, &e);

  /* Tasks of about 10 us: the second size of the sweep. */
  uint64_t s1 = part_size(x, 0, nz > 1 ? 1 : 0, w);
  const struct cl__srow *q1 = find(x, 0, w, "sequential", 1, false, n, s1);
  dur(a, sizeof a, q1 ? q1->median_s / (double)n : (double)s1 * 0.3e-9);
  memset(&e, 0, sizeof e);
  put(e.what,
      "a pool pays far less per task than a thread per task: at size %llu (about %s a task) "
      "thread_pool (%u workers) is well ahead of threads",
      (unsigned long long)s1, a, W);
  put(e.expected, "thread_pool's speedup at size %llu at least 2x threads'",
      (unsigned long long)s1);
  const struct cl__srow *p1 = find(x, 0, w, "thread_pool", W, false, n, s1);
  const struct cl__srow *t1 = find(x, 0, w, "threads", 0, false, n, s1);
  e.ok = p1 && t1 && p1->speedup >= 2 * t1->speedup;
  put(e.measured, "thread_pool %.2fx, threads %.2fx", speedup(p1), speedup(t1));
  report(x, &e);
}

/* ---- Lab 5: Amdahl and Karp-Flatt. ---- */

static void expect_amdahl(struct lab_ctx *x) {
  const char *w = "cpu.sumsq";
  const char *ex[] = {"thread_pool", "openmp"};
  unsigned P = x->cores, ws[CL__MAX_WORKER_COUNTS];
  size_t nw = part_workers(x, 0, "cpu", ws);
  const char *one = "the Karp-Flatt metric needs at least 2 workers";

  for (size_t part = 0; part < 2; part++) {
    uint64_t n = part_tasks(x, part, 0, w);
    struct expectation e = {0};
    if (part == 0)
      put(e.what,
          "%llu equal tasks: the only serial part is the partly empty last round, so the "
          "Karp-Flatt e = (1/S - 1/W)/(1 - 1/W) stays near that round's share",
          (unsigned long long)n);
    else
      put(e.what,
          "%llu tasks on W workers run in ceil(%llu/W) rounds, the last with idle workers: "
          "Karp-Flatt reports that idle share as a serial fraction, e = (ceil(n/W)/n - 1/W) / "
          "(1 - 1/W)",
          (unsigned long long)n, (unsigned long long)n);
    e.ok = true;
    size_t checked = 0;
    for (size_t i = 0; i < nw; i++) {
      if (ws[i] < 2 || ws[i] > P) continue;
      double ee = stair_e(n, ws[i]);
      add(e.expected, "%sW=%u e=%.3f", checked++ ? ", " : "", ws[i], ee);
      for (size_t k = 0; k < sizeof ex / sizeof ex[0]; k++) {
        if (!has_executor(ex[k])) continue;
        const struct cl__srow *r = find(x, part, w, ex[k], ws[i], false, n, 0);
        double m = r ? r->karp_flatt : NAN;
        bool fine = part == 0 ? m <= ee + 0.15 : fabs(m - ee) <= 0.15;
        if (!fine) e.ok = false;
        add(e.measured, "%s%s W=%u e=%.3f (%.2fx)", e.measured[0] ? ", " : "", ex[k], ws[i], m,
            speedup(r));
      }
    }
    add(e.expected, part == 0 ? "; measured e at most 0.15 above" : "; measured e within 0.15");
    need_cores(x, &e, 2, one);
    report(x, &e);
  }

  /* Amdahl: what e at P workers predicts for larger machines. */
  uint64_t n = part_tasks(x, 0, 0, w);
  const struct cl__srow *r = find(x, 0, w, "thread_pool", P, false, n, 0);
  double f = r ? fmax(r->karp_flatt, 0.0) : NAN;
  struct expectation e = {0};
  put(e.what,
      "Amdahl's law S(p) = 1/(f + (1-f)/p) with f = e measured at %u workers predicts larger "
      "machines and caps every speedup at 1/f",
      P);
  if (isfinite(f))
    put(e.expected, "f = %.3f: S(%u) = %.2fx, S(%u) = %.2fx, S(%u) = %.2fx, at most %.1fx", f,
        2 * P, cl_amdahl(f, 2 * P), 4 * P, cl_amdahl(f, 4 * P), 8 * P, cl_amdahl(f, 8 * P),
        f > 0 ? 1 / f : INFINITY);
  else
    put(e.expected, "S(%u), S(%u), S(%u) from f = e(%u) (after a run)", 2 * P, 4 * P, 8 * P, P);
  if (P >= 2)
    put(e.unchecked, "on %u cores: a prediction for %u, %u and %u cores", P, 2 * P, 4 * P, 8 * P);
  else
    put(e.unchecked, "on 1 core: e needs at least 2 workers");
  if (r) put(e.measured, "e(%u) = %.3f", P, r->karp_flatt);
  report(x, &e);

  uint64_t un = part_tasks(x, 1, 0, w);
  memset(&e, 0, sizeof e);
  put(e.what,
      "%llu tasks never run more than %llux faster: with W >= %llu workers each task has its own "
      "core and the speedup stops at the task count",
      (unsigned long long)un, (unsigned long long)un, (unsigned long long)un);
  put(e.expected, "thread_pool with %llu or more workers (up to the cores) between %.2fx and %.2fx",
      (unsigned long long)un, 0.6 * (double)un, 1.15 * (double)un);
  char why[96];
  snprintf(why, sizeof why, "needs at least %llu cores", (unsigned long long)un);
  need_cores(x, &e, (unsigned)un, why);
  e.ok = true;
  for (size_t i = 0; i < nw; i++) {
    if (ws[i] < un || ws[i] > P) continue;
    const struct cl__srow *q = find(x, 1, w, "thread_pool", ws[i], false, un, 0);
    double s = speedup(q);
    if (!(s >= 0.6 * (double)un && s <= 1.15 * (double)un)) e.ok = false;
    add(e.measured, "%sW=%u %.2fx", e.measured[0] ? ", " : "", ws[i], s);
  }
  report(x, &e);
}

/* ---- Lab 6: topology, binding, SMT, oversubscription. ---- */

static void expect_topology(struct lab_ctx *x) {
  const char *w = "cpu.sumsq";
  unsigned P = x->cores, ws[CL__MAX_WORKER_COUNTS];
  size_t nw = part_workers(x, 0, "cpu", ws);
  uint64_t n = part_tasks(x, 0, 0, w);
  double ideal = rounds_ideal(n, P);

  struct expectation e = {0};
  put(e.what, "--bind-cpus 0 puts every worker on PU 0: they share one hardware thread, so no "
              "worker count runs faster than one");
  put(e.expected, "at most 1.2x at every worker count (");
  for (size_t i = 0; i < nw; i++)
    add(e.expected, "%s%u", i ? "," : "", ws[i]);
  add(e.expected, ")");
  need_cores(x, &e, 2, "every run shares the one core anyway");
  e.ok = true;
  for (size_t i = 0; i < nw; i++) {
    double s = speedup(find(x, 0, w, "thread_pool", ws[i], false, n, 0));
    if (!(s <= 1.2)) e.ok = false;
    add(e.measured, "%sW=%u %.2fx", i ? ", " : "", ws[i], s);
  }
  report(x, &e);

  memset(&e, 0, sizeof e);
  put(e.what,
      "--bind core puts worker i on core i: %u workers use all %u cores, n/ceil(n/P) = "
      "%.2fx",
      P, P, ideal);
  put(e.expected, "at least %.2fx (0.6 of %.2fx)", 0.6 * ideal, ideal);
  need_cores(x, &e, 2, "one core runs one task at a time whatever the binding");
  const struct cl__srow *rc = find(x, 1, w, "thread_pool", P, false, n, 0);
  e.ok = speedup(rc) >= 0.6 * ideal;
  put(e.measured, "%.2fx", speedup(rc));
  report(x, &e);

  unsigned per = x->topo.cores ? x->topo.pus / x->topo.cores : 1;
  memset(&e, 0, sizeof e);
  put(e.what,
      "SMT: --bind compact fills the hardware threads of a core first (%u workers on %u cores), "
      "--bind scatter spreads them (%u workers on %u cores)",
      P, per > 1 ? (P + per - 1) / per : P, P, P);
  put(e.expected, "scatter at least 1.15x compact at %u workers", P);
  if (!x->topo.smt)
    put(e.unchecked,
        "on %u cores without SMT: compact and scatter both put one worker per core (%u hardware "
        "thread%s per core)",
        P, per, per == 1 ? "" : "s");
  const struct cl__srow *cc = find(x, 2, w, "thread_pool", P, false, n, 0);
  const struct cl__srow *cs = find(x, 3, w, "thread_pool", P, false, n, 0);
  e.ok = cc && cs && cs->speedup >= 1.15 * cc->speedup;
  put(e.measured, "compact %.2fx, scatter %.2fx", speedup(cc), speedup(cs));
  report(x, &e);

  /* Oversubscription: more workers than cores. */
  uint64_t on = part_tasks(x, 4, 0, w);
  unsigned ows[CL__MAX_WORKER_COUNTS];
  size_t now = part_workers(x, 4, "cpu", ows);
  unsigned wmax = ows[now - 1], wp = part_wc(x, 4, "cpu");
  memset(&e, 0, sizeof e);
  put(e.what,
      "more workers than cores: thread_pool with %u workers runs no faster than with %u (the %u "
      "cores are the limit) and, on equal tasks, hardly slower",
      wmax, wp, P);
  put(e.expected, "speedup at %u workers within 0.6x-1.2x of the speedup at %u", wmax, wp);
  if (wmax <= P)
    put(e.unchecked, "on %u cores: the largest worker count, %u, does not oversubscribe them", P,
        wmax);
  const struct cl__srow *oa = find(x, 4, w, "thread_pool", wp, false, on, 0);
  const struct cl__srow *ob = find(x, 4, w, "thread_pool", wmax, false, on, 0);
  e.ok = oa && ob && ob->speedup >= 0.6 * oa->speedup && ob->speedup <= 1.2 * oa->speedup;
  put(e.measured, "W=%u %.2fx, W=%u %.2fx", wp, speedup(oa), wmax, speedup(ob));
  report(x, &e);

  double tideal = (double)(on < P ? on : P);
  memset(&e, 0, sizeof e);
  put(e.what,
      "a thread per task (%llu threads on %u cores) still reaches about %.0fx: the kernel "
      "time-slices equal tasks fairly",
      (unsigned long long)on, P, tideal);
  put(e.expected, "at least %.2fx (0.6 of %.0fx)", 0.6 * tideal, tideal);
  if (need_cores(x, &e, 2, "one core runs one task at a time whatever the thread count") &&
      tsan_build())
    put(e.unchecked, "in this build: ThreadSanitizer makes every thread start cost more than a "
                     "task here");
  const struct cl__srow *tt = find(x, 4, w, "threads", 0, false, on, 0);
  e.ok = speedup(tt) >= 0.6 * tideal;
  put(e.measured, "%.2fx", speedup(tt));
  report(x, &e);
}

/* ---- Lab 7: load imbalance and schedules. ---- */

static void expect_schedules(struct lab_ctx *x) {
  static const char *const ws[] = {"cpu.fib", "cpu.mandel", "cpu.primes"};
  unsigned W = part_wc(x, 0, "cpu"), P = x->cores;
  double pool_pred[sizeof ws / sizeof ws[0]];
  for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
    const char *w = ws[k];
    uint64_t n = part_tasks(x, 0, 0, w), size = part_size(x, 0, 0, w);
    double *c = NULL;
    size_t nc = 0;
    int err = profile(w, n, size, x->opts[0].quick, 2, &c, &nc);
    double total = err ? NAN : sum_of(c, nc);
    double ps = err ? NAN : total / makespan_static(c, nc, W);
    double pd = err ? NAN : total / makespan_dynamic(c, nc, W);
    pool_pred[k] = pd;
    double cmin = INFINITY, cmax = 0;
    for (size_t i = 0; i < nc; i++) {
      cmin = fmin(cmin, c[i]);
      cmax = fmax(cmax, c[i]);
    }
    free(c);
    char a[32], b[32];
    dur(a, sizeof a, cmin);
    dur(b, sizeof b, cmax);
    const struct cl__srow *rs = find(x, 0, w, "openmp", W, false, n, size);
    const struct cl__srow *rd = find(x, 1, w, "openmp", W, false, n, size);

    struct expectation e = {0};
    put(e.what,
        "%s, %llu tasks of %s to %s (profiled alone): openmp static gives each of %u workers one "
        "contiguous block; total work / largest block = %.2fx",
        w, (unsigned long long)n, a, b, W, ps);
    put(e.expected, "%.2fx, within 0.65x-1.2x", ps);
    if (need_cores(x, &e, 2, "a schedule needs two workers to be unbalanced")) need_openmp(&e);
    e.ok = speedup(rs) >= 0.65 * ps && speedup(rs) <= 1.2 * ps;
    put(e.measured, "%.2fx", speedup(rs));
    report(x, &e);

    memset(&e, 0, sizeof e);
    put(e.what,
        "%s: openmp dynamic hands the next task to the first free worker; the same profile "
        "predicts %.2fx on %u workers",
        w, pd, W);
    put(e.expected, "%.2fx, within 0.65x-1.2x", pd);
    if (need_cores(x, &e, 2, "a schedule needs two workers to be unbalanced")) need_openmp(&e);
    e.ok = speedup(rd) >= 0.65 * pd && speedup(rd) <= 1.2 * pd;
    put(e.measured, "%.2fx", speedup(rd));
    report(x, &e);

    double gap = pd / ps - 1;
    memset(&e, 0, sizeof e);
    put(e.what,
        "%s: the schedule the profile predicts faster is measured faster (predicted %s by "
        "%.0f%%)",
        w, gap >= 0 ? "dynamic ahead" : "static ahead", fabs(gap) * 100);
    put(e.expected, "%s/%s at least %.2f", gap >= 0 ? "dynamic" : "static",
        gap >= 0 ? "static" : "dynamic", 1 + fabs(gap) / 3);
    if (need_cores(x, &e, 2, "a schedule needs two workers to be unbalanced") && need_openmp(&e) &&
        !(fabs(gap) >= 0.10))
      put(e.unchecked,
          "on %u cores: with %u workers the two schedules are predicted within %.0f%% of each "
          "other (at least 10%% is needed to tell them apart)",
          P, W, fabs(gap) * 100);
    double ratio = speedup(rd) / speedup(rs);
    if (gap < 0) ratio = 1 / ratio;
    e.ok = ratio >= 1 + fabs(gap) / 3;
    put(e.measured, "static %.2fx, dynamic %.2fx", speedup(rs), speedup(rd));
    report(x, &e);
  }

  /* The pool's one queue hands out tasks as the dynamic schedule does. */
  struct expectation e = {0};
  put(e.what,
      "thread_pool (%u workers, one shared queue) is a dynamic schedule whatever "
      "--omp-schedule says: the dynamic predictions hold for it too",
      W);
  e.ok = true;
  for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
    uint64_t n = part_tasks(x, 0, 0, ws[k]), size = part_size(x, 0, 0, ws[k]);
    const struct cl__srow *r = find(x, 0, ws[k], "thread_pool", W, false, n, size);
    double s = speedup(r);
    if (!(s >= 0.65 * pool_pred[k] && s <= 1.2 * pool_pred[k])) e.ok = false;
    add(e.expected, "%s%s %.2fx", k ? ", " : "", ws[k], pool_pred[k]);
    add(e.measured, "%s%s %.2fx", k ? ", " : "", ws[k], s);
  }
  add(e.expected, "; each within 0.65x-1.2x");
  need_cores(x, &e, 2, "a schedule needs two workers to be unbalanced");
  report(x, &e);
}

/* ---- Lab 8: memory bandwidth. ---- */

/* Bytes one mem.stream run moves: 3 sweeps of a = b + 3c, 24 bytes per element. */
static double stream_bytes(uint64_t tasks, uint64_t size) {
  return 3.0 * 24.0 * (double)tasks * (double)size;
}

static void expect_memory(struct lab_ctx *x) {
  const char *m = "mem.stream", *c = "cpu.sumsq";
  unsigned W = part_wc(x, 0, "mem");
  uint64_t mn = part_tasks(x, 0, 0, m), cn = part_tasks(x, 0, 0, c);
  uint64_t msz = part_size(x, 0, 0, m);

  struct expectation e = {0};
  put(e.what,
      "mem.stream moves bytes, not arithmetic: the %u cores share one memory system, so with %u "
      "workers it gains less than cpu.sumsq does",
      x->cores, W);
  put(e.expected, "thread_pool at %u workers: mem.stream's speedup below cpu.sumsq's", W);
  need_cores(x, &e, 2, "there is no second core to compete for memory");
  const struct cl__srow *rm = find(x, 0, m, "thread_pool", W, false, mn, 0);
  const struct cl__srow *r1 = find(x, 0, m, "thread_pool", 1, false, mn, 0);
  const struct cl__srow *rc = find(x, 0, c, "thread_pool", W, false, cn, 0);
  e.ok = rm && rc && rm->speedup < rc->speedup;
  put(e.measured, "mem.stream %.2fx", speedup(rm));
  if (rm && r1)
    add(e.measured, " (%.1f GB/s with 1 worker, %.1f GB/s with %u)",
        stream_bytes(mn, msz) / r1->median_s * 1e-9, stream_bytes(mn, msz) / rm->median_s * 1e-9,
        W);
  add(e.measured, ", cpu.sumsq %.2fx", speedup(rc));
  report(x, &e);

  /* The last-level cache: the largest cache level hwloc reports. */
  uint64_t llc = 0;
  char llc_name[8] = "cache";
  for (unsigned i = 0; i < x->topo.ncaches; i++)
    if (x->topo.caches[i].name[strlen(x->topo.caches[i].name) - 1] != 'i' &&
        x->topo.caches[i].size_bytes >= llc) {
      llc = x->topo.caches[i].size_bytes;
      snprintf(llc_name, sizeof llc_name, "%s", x->topo.caches[i].name);
    }
  uint64_t tn = part_tasks(x, 1, 0, m), small = part_size(x, 1, 0, m), big = part_size(x, 1, 1, m);
  double sb = 24.0 * (double)tn * (double)small, bb = 24.0 * (double)tn * (double)big;
  memset(&e, 0, sizeof e);
  const double mib = 1024.0 * 1024.0;
  put(e.what,
      "buffers that fit the caches stream faster than buffers in DRAM: %.1f MiB (size %llu) "
      "against %.0f MiB (size %llu), %s %.0f MiB",
      sb / mib, (unsigned long long)small, bb / mib, (unsigned long long)big, llc_name,
      (double)llc / mib);
  put(e.expected, "one worker: GB/s of size %llu at least 1.2x GB/s of size %llu",
      (unsigned long long)small, (unsigned long long)big);
  if (!optimised_build())
    put(e.unchecked, "in this build: it is not optimised or it is instrumented (a Debug or "
                     "sanitizer build), so the loop itself, not memory, sets the speed");
  else if (!llc)
    put(e.unchecked, "on this machine: hwloc reports no data cache");
  else if (sb > (double)llc || bb < 4.0 * (double)llc)
    put(e.unchecked, "on this machine: its %.0f MiB %s does not separate %.1f MiB from %.0f MiB",
        (double)llc / mib, llc_name, sb / mib, bb / mib);
  const struct cl__srow *qs = find(x, 1, m, "sequential", 1, false, tn, small);
  const struct cl__srow *qb = find(x, 1, m, "sequential", 1, false, tn, big);
  double gs = qs ? stream_bytes(tn, small) / qs->median_s * 1e-9 : NAN;
  double gb = qb ? stream_bytes(tn, big) / qb->median_s * 1e-9 : NAN;
  e.ok = gs >= 1.2 * gb;
  put(e.measured, "%.1f GB/s against %.1f GB/s (%.2fx)", gs, gb, gs / gb);
  report(x, &e);
}

/* ---- Running the parts. ---- */

/* CPU seconds the whole machine has been busy (user, nice, system, irq,
 * softirq and steal in /proc/stat), or NaN. */
static double machine_busy_s(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return NAN;
  unsigned long long v[8];
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                 &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  long hz = sysconf(_SC_CLK_TCK);
  if (n != 8 || hz <= 0) return NAN;
  return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)hz;
}

/* CPU seconds this process and its children (the runs, once reaped) used. */
static double own_cpu_s(void) {
  struct rusage self, kids;
  if (getrusage(RUSAGE_SELF, &self) != 0 || getrusage(RUSAGE_CHILDREN, &kids) != 0) return NAN;
  return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                  kids.ru_stime.tv_sec) +
         (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                  kids.ru_stime.tv_usec) *
             1e-6;
}

/* "a/b" into buf; false when it does not fit. */
static bool path_join(char *buf, size_t len, const char *a, const char *b) {
  return snprintf(buf, len, "%s/%s", a, b) < (int)len;
}

/* The child running a part; signals are forwarded to it once. */
static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  if (!stop_signal) stop_signal = sig;
  if (child_pid > 0) kill((pid_t)child_pid, sig);
}

/* Runs `conlab run ARGS --out DIR [--no-plot]` with this executable in a
 * process group of its own (a signal reaches it once, through us). Returns
 * its exit status, 128 + signal, or -1 when it could not be started. */
static int run_child(const struct part_args *pa, const char *dir, bool no_plot) {
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return -1;
  self[len] = '\0';
  char *argv[LAB_MAX_ARGS + 6];
  int argc = 0;
  argv[argc++] = (char *)"conlab";
  for (int i = 0; i < pa->argc; i++)
    argv[argc++] = pa->argv[i];
  argv[argc++] = (char *)"--out";
  argv[argc++] = (char *)dir;
  if (no_plot) argv[argc++] = (char *)"--no-plot";
  argv[argc] = NULL;
  fflush(stdout);
  fflush(stderr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    setpgid(0, 0);
    /* If conlab lab dies, the run stops and cleans up as on SIGTERM. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(143);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execv(self, argv);
    _exit(127);
  }
  setpgid(pid, pid);
  child_pid = pid;
  if (stop_signal) kill(pid, stop_signal);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      child_pid = 0;
      return -1;
    }
  child_pid = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* compare/summary.csv: the rows of the parts named in lab->compare, each
 * workload shown as "workload[part]" with its own sequential baseline, so
 * that the figures draw a panel per part side by side. Columns are found by
 * name: a summary with more columns merges the same way. */
struct merge_arg {
  const struct lab_ctx *x;
  const char *dir;
};

/* A part's summary.csv as lines; `col` is the workload column. */
struct csv_lines {
  char **line;
  size_t n;
  int col;
};

static void csv_free(struct csv_lines *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->line[i]);
  free(c->line);
  memset(c, 0, sizeof *c);
  c->col = -1;
}

/* Loads path; a missing file leaves c empty (that part wrote nothing). */
static int csv_load(const char *path, struct csv_lines *c) {
  memset(c, 0, sizeof *c);
  c->col = -1;
  FILE *in = fopen(path, "r");
  if (!in) return 0;
  char *line = NULL;
  size_t cap = 0, alloc = 0;
  int err = 0;
  while (getline(&line, &cap, in) >= 0) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) continue;
    if (c->n == alloc) {
      size_t na = alloc ? 2 * alloc : 32;
      char **nl = realloc(c->line, na * sizeof *nl);
      if (!nl) {
        err = cl_error_set(CL_ENOMEM, "merging %s", path);
        break;
      }
      c->line = nl;
      alloc = na;
    }
    if (!(c->line[c->n] = strdup(line))) {
      err = cl_error_set(CL_ENOMEM, "merging %s", path);
      break;
    }
    c->n++;
  }
  free(line);
  fclose(in);
  if (!err && c->n) {
    int k = 0;
    for (const char *f = c->line[0]; f; k++) {
      if (strncmp(f, "workload", 8) == 0 && (f[8] == ',' || f[8] == '\0')) c->col = k;
      f = strchr(f, ',');
      if (f) f++;
    }
  }
  if (err) csv_free(c);
  return err;
}

/* Field `col` of a CSV line (conlab never quotes fields): start and length. */
static const char *csv_field(const char *line, int col, size_t *len) {
  const char *f = line;
  for (int k = 0; k < col && f; k++) {
    f = strchr(f, ',');
    if (f) f++;
  }
  if (f) *len = strcspn(f, ",");
  return f;
}

/* Whether row r of c is a row of workload w (wlen bytes). */
static bool csv_is(const struct csv_lines *c, size_t r, const char *w, size_t wlen) {
  size_t l;
  const char *v = c->col >= 0 ? csv_field(c->line[r], c->col, &l) : NULL;
  return v && l == wlen && strncmp(v, w, l) == 0;
}

static bool in_list(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; p && *p;) {
    if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0')) return true;
    p = strchr(p, ',');
    if (p) p++;
  }
  return false;
}

static int fill_merged(FILE *out, const void *arg) {
  const struct merge_arg *ma = arg;
  const struct lab_ctx *x = ma->x;
  struct csv_lines c[LAB_MAX_PARTS];
  for (size_t p = 0; p < LAB_MAX_PARTS; p++) {
    memset(&c[p], 0, sizeof c[p]);
    c[p].col = -1;
  }
  int err = 0;
  for (size_t p = 0; p < x->nparts && !err; p++) {
    char path[PATH_MAX];
    if (!in_list(x->lab->compare, x->lab->parts[p].name) ||
        snprintf(path, sizeof path, "%s/%s/summary.csv", ma->dir, x->lab->parts[p].name) >=
            (int)sizeof path)
      continue;
    err = csv_load(path, &c[p]);
  }
  bool header = false;
  /* Each workload once, in the order the parts list them, then its parts. */
  for (size_t p = 0; p < x->nparts && !err; p++)
    for (size_t r = 1; c[p].col >= 0 && r < c[p].n; r++) {
      size_t wlen;
      const char *w = csv_field(c[p].line[r], c[p].col, &wlen);
      if (!w) continue;
      bool seen = false;
      for (size_t q = 0; q <= p && !seen; q++)
        for (size_t k = 1; k < (q == p ? r : c[q].n) && !seen; k++)
          seen = csv_is(&c[q], k, w, wlen);
      if (seen) continue;
      if (!header) fprintf(out, "%s\n", c[p].line[0]);
      header = true;
      for (size_t q = 0; q < x->nparts; q++)
        for (size_t k = 1; k < c[q].n; k++) {
          if (!csv_is(&c[q], k, w, wlen)) continue;
          size_t l;
          const char *v = csv_field(c[q].line[k], c[q].col, &l);
          fprintf(out, "%.*s%.*s[%s]%s\n", (int)(v - c[q].line[k]), c[q].line[k], (int)l, v,
                  x->lab->parts[q].name, v + l);
        }
    }
  for (size_t p = 0; p < LAB_MAX_PARTS; p++)
    csv_free(&c[p]);
  return err;
}

/* The first compared part's run.json with the run id set to "compare". */
static int fill_run_json(FILE *out, const void *arg) {
  FILE *in = fopen(arg, "r");
  if (!in) return cl_error_set(CL_EIO, "cannot read %s: %s", (const char *)arg, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, in) >= 0) {
    const char *key = strstr(line, "\"run_id\":");
    if (key)
      fprintf(out, "%.*s\"run_id\": \"compare\",\n", (int)(key - line), line);
    else
      fputs(line, out);
  }
  free(line);
  fclose(in);
  return 0;
}

static int fill_text(FILE *out, const void *arg) {
  fputs(arg, out);
  return 0;
}

/* Writes DIR/compare/ (merged summary, the first part's run.json) and draws
 * its figures unless no_plot. Returns 0 or CL_E* with a detail. */
static int write_compare(const struct lab_ctx *x, const char *dir, bool no_plot) {
  char cdir[PATH_MAX], src[PATH_MAX];
  if (snprintf(cdir, sizeof cdir, "%s/compare", dir) >= (int)sizeof cdir)
    return cl_error_set(CL_ERANGE, "path too long: %s", dir);
  if (mkdir(cdir, 0755) != 0 && errno != EEXIST)
    return cl_error_set(CL_EIO, "cannot create %s: %s", cdir, strerror(errno));
  struct merge_arg ma = {x, dir};
  int err = cl__write_atomic(cdir, "summary.csv", fill_merged, &ma);
  size_t first = 0;
  while (first + 1 < x->nparts && !in_list(x->lab->compare, x->lab->parts[first].name))
    first++;
  bool fits =
      snprintf(src, sizeof src, "%s/%s/run.json", dir, x->lab->parts[first].name) < (int)sizeof src;
  if (!err && fits && access(src, R_OK) == 0)
    err = cl__write_atomic(cdir, "run.json", fill_run_json, src);
  if (!err && !no_plot) err = cl__plot_run_dir(cdir, stderr);
  return err;
}

/* ---- The command. ---- */

static void lab_usage(FILE *f) {
  fprintf(f,
          "usage: conlab lab                 list the labs\n"
          "       conlab lab N [options]     run lab N's experiment, draw its figures and check\n"
          "                                  its expectations against the data\n\n"
          "Each lab is a sheet in labs/ (labs/README.md): a goal, a prediction to write down,\n"
          "the commands, the figure to read, questions and the instructor's expectations.\n"
          "The expected numbers are computed for this machine's cores (hwloc).\n\n"
          "options:\n"
          "  --quick            small sizes: a few seconds per lab\n"
          "  --out DIR          write the lab's runs to DIR (must not exist); default:\n"
          "                     results/lab-N-YYYYmmdd-HHMMSS\n"
          "  --no-plot          do not draw the figures\n"
          "  --expect           only print the expectations, computed for this machine\n"
          "  --dry-run          only print (and check) the `conlab run` commands of the lab\n"
          "  --synthetic DESC   with --expect: compute them for a described machine, e.g.\n"
          "                     \"pack:1 core:16 pu:2\"\n"
          "  --topology FILE    with --expect: for a machine saved by lstopo (FILE.xml)\n");
}

static void lab_list(FILE *f) {
  fprintf(f, "labs (`conlab lab N` runs sheet N's experiment; `conlab lab --help` for options):\n");
  for (size_t i = 0; i < NLABS; i++) {
    char sheet[96];
    snprintf(sheet, sizeof sheet, "labs/%02zu-%s.md", i + 1, lab_table[i].slug);
    fprintf(f, "  %zu  %-50s seed ex. %s\n     sheet   %s\n", i + 1, lab_table[i].title,
            lab_table[i].seed, sheet);
    char figs[256];
    snprintf(figs, sizeof figs, "%s", lab_table[i].figures);
    for (char *save = NULL, *g = strtok_r(figs, ",", &save); g; g = strtok_r(NULL, ",", &save))
      fprintf(f, "     figure  DIR/%s\n", g);
  }
}

static int usage_error(const char *fmt, const char *a) {
  fprintf(stderr, "conlab: lab: ");
  fprintf(stderr, fmt, a);
  fputc('\n', stderr);
  return CL__EXIT_USAGE;
}

static const char *const valid_options =
    "valid: --quick, --out DIR, --no-plot, --expect, --dry-run, --synthetic DESC, "
    "--topology FILE";

static void ctx_free(struct lab_ctx *x) {
  for (size_t i = 0; i < LAB_MAX_PARTS; i++) {
    if (x->parsed[i]) cl__options_free(&x->opts[i]);
    cl__summary_free(&x->data[i]);
  }
  cl_topology_destroy(x->topology);
  free(x);
}

/* Prints the lab's commands and checks them on this machine by building
 * each plan as `conlab run` would. Returns 0 or CL__EXIT_FAILED. */
static int dry_run(struct lab_ctx *x, const char *dir) {
  int rc = 0;
  for (size_t i = 0; i < x->nparts; i++) {
    printf("conlab run %s --out %s/%s\n", part_args_text(x, i), dir, x->lab->parts[i].name);
    int prc = cl__run_topology_load(&x->opts[i]);
    struct cl__plan plan;
    if (prc < 0) prc = cl__plan_build(&x->opts[i], &plan);
    if (prc < 0) {
      printf("    %zu cells, %u repetitions each\n", plan.ncells, plan.reps);
      cl__plan_free(&plan);
    } else {
      printf("    does not plan on this machine (see the line above)\n");
      rc = CL__EXIT_FAILED;
    }
  }
  return rc;
}

static void print_machine(const struct lab_ctx *x, FILE *f) {
  fprintf(f, "machine: %s: %u physical core%s, %u hardware thread%s (%s)\n", x->topo.source,
          x->cores, x->cores == 1 ? "" : "s", x->topo.pus, x->topo.pus == 1 ? "" : "s",
          x->topo.smt ? "SMT" : "no SMT");
}

/* Expectations for x (with or without data) to stdout and, when dir is set,
 * DIR/expectations.txt. */
static int print_expectations(struct lab_ctx *x, const char *dir) {
  char *text = NULL;
  size_t len = 0;
  x->out = open_memstream(&text, &len);
  if (!x->out) return cl_error_set(CL_ENOMEM, "expectations");
  fprintf(x->out, "\nlab %u: %s: expectations computed for the machine below\n", x->number,
          x->lab->title);
  print_machine(x, x->out);
  if (x->have_data && x->others_cores >= 0.2)
    fprintf(x->out,
            "note: other programs kept %.1f of the %u cores busy while the lab ran (/proc/stat), "
            "so CPU-bound speedups may fall short\n",
            x->others_cores, x->cores);
  fputc('\n', x->out);
  x->lab->expect(x);
  if (x->have_data)
    fprintf(x->out, "\nlab %u: %u expectations: %u PASS, %u FAIL, %u not checkable here\n",
            x->number, x->next_id, x->pass, x->fail, x->unchecked);
  else
    fprintf(x->out, "\nlab %u: %u expectations, %u checkable on this machine\n", x->number,
            x->next_id, x->next_id - x->unchecked);
  fclose(x->out);
  x->out = NULL;
  fputs(text, stdout);
  fflush(stdout);
  int err = dir ? cl__write_atomic(dir, "expectations.txt", fill_text, text) : 0;
  free(text);
  return err;
}

/* The options of `conlab lab N`. */
struct lab_opts {
  bool quick, no_plot, expect, dry_run;
  const char *out, *synthetic, *topology;
};

static int parse_lab_options(int argc, char **argv, struct lab_opts *lo) {
  memset(lo, 0, sizeof *lo);
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    bool *flag = strcmp(a, "--quick") == 0     ? &lo->quick
                 : strcmp(a, "--no-plot") == 0 ? &lo->no_plot
                 : strcmp(a, "--expect") == 0  ? &lo->expect
                 : strcmp(a, "--dry-run") == 0 ? &lo->dry_run
                                               : NULL;
    const char **value = strcmp(a, "--out") == 0         ? &lo->out
                         : strcmp(a, "--synthetic") == 0 ? &lo->synthetic
                         : strcmp(a, "--topology") == 0  ? &lo->topology
                                                         : NULL;
    if (flag) {
      if (*flag) return usage_error("%s given more than once", a);
      *flag = true;
    } else if (value) {
      if (*value) return usage_error("%s given more than once", a);
      if (i + 1 >= argc || !*argv[i + 1])
        return usage_error(strcmp(a, "--out") == 0 ? "%s needs a directory"
                                                   : "%s needs a machine description or file",
                           a);
      *value = argv[++i];
    } else if (a[0] == '-') {
      fprintf(stderr, "conlab: lab: unknown option '%s' (%s)\n", a, valid_options);
      return CL__EXIT_USAGE;
    } else {
      return usage_error("unexpected argument '%s' (one lab number, then options)", a);
    }
  }
  if (lo->synthetic && lo->topology)
    return usage_error("%s: --synthetic and --topology describe one machine each; give one",
                       "--topology");
  if ((lo->synthetic || lo->topology) && (!lo->expect || lo->dry_run))
    return usage_error("%s plans for another machine: use it with --expect (and without "
                       "--dry-run, which plans on this one)",
                       lo->synthetic ? "--synthetic" : "--topology");
  if (lo->out && (lo->expect || lo->dry_run))
    return usage_error("--out: %s runs nothing, so it writes no directory",
                       lo->expect ? "--expect" : "--dry-run");
  if (lo->out) {
    struct stat st;
    if (stat(lo->out, &st) == 0)
      return usage_error("--out: '%s' already exists (choose a new directory)", lo->out);
  }
  return -1;
}

/* Runs the lab's plans into DIR (--out or results/lab-N-DATE), merges
 * compare/, and prints the verdicts. Returns the exit status. */
static int run_lab(struct lab_ctx *x, const struct lab_opts *lo) {
  char dir[PATH_MAX];
  if (lo->out) {
    if (snprintf(dir, sizeof dir, "%s", lo->out) >= (int)sizeof dir || mkdir(dir, 0755) != 0) {
      fprintf(stderr, "conlab: lab: --out: cannot create '%s': %s\n", lo->out, strerror(errno));
      return CL__EXIT_USAGE;
    }
  } else {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "lab-%u-", x->number);
    if (cl__results_dir_create(prefix, dir, sizeof dir) != 0) {
      fprintf(stderr, "conlab: lab: %s\n", cl_error_detail());
      return CL__EXIT_FAILED;
    }
  }
  printf("conlab lab %u: %s (labs/%02u-%s.md, seed ex. %s)\n", x->number, x->lab->title, x->number,
         x->lab->slug, x->lab->seed);
  print_machine(x, stdout);
  printf("%zu run%s into %s%s\n\n", x->nparts, x->nparts == 1 ? "" : "s", dir,
         x->quick ? " at quick sizes" : "");
  double busy0 = machine_busy_s(), own0 = own_cpu_s(), wall0 = cl__now_s();
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  bool failed = false;
  for (size_t i = 0; i < x->nparts && !stop_signal; i++) {
    char pdir[PATH_MAX];
    if (!path_join(pdir, sizeof pdir, dir, x->lab->parts[i].name)) continue;
    fprintf(stderr, "conlab: lab %u, run %zu of %zu: conlab run %s --out %s\n", x->number, i + 1,
            x->nparts, part_args_text(x, i), pdir);
    int st = run_child(&x->args[i], pdir, lo->no_plot);
    if (st != 0 && !stop_signal) {
      fprintf(stderr, "conlab: lab %u: run %zu (%s) %s %d\n", x->number, i + 1,
              x->lab->parts[i].name, st < 0 ? "could not start:" : "failed with exit status", st);
      failed = true;
    }
    printf("\n");
    fflush(stdout);
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  x->others_cores = (machine_busy_s() - busy0 - (own_cpu_s() - own0)) / (cl__now_s() - wall0);
  if (stop_signal) {
    fprintf(stderr, "conlab: lab %u stopped by SIG%s; what finished is in %s\n", x->number,
            stop_signal == SIGINT ? "INT" : "TERM", dir);
    return 128 + stop_signal;
  }
  if (x->lab->compare) {
    cl_error_clear();
    if (write_compare(x, dir, lo->no_plot) != 0) {
      fprintf(stderr, "conlab: lab %u: compare/: %s\n", x->number, cl_error_detail());
      failed = true;
    }
  }
  x->have_data = true;
  for (size_t i = 0; i < x->nparts; i++) {
    char pdir[PATH_MAX];
    if (!path_join(pdir, sizeof pdir, dir, x->lab->parts[i].name) ||
        cl__summary_read(pdir, &x->data[i]) != 0)
      failed = true;
  }
  /* The figures the sheet asks for. */
  char figs[256];
  snprintf(figs, sizeof figs, "%s", x->lab->figures);
  printf("lab %u figure%s:\n", x->number, strchr(figs, ',') ? "s" : "");
  for (char *save = NULL, *f = strtok_r(figs, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
    char path[PATH_MAX];
    if (!path_join(path, sizeof path, dir, f)) continue;
    printf("  %s%s\n", path,
           lo->no_plot               ? " (not drawn: --no-plot)"
           : access(path, R_OK) != 0 ? " (not drawn: see the messages above)"
                                     : "");
  }
  if (print_expectations(x, dir) != 0) {
    fprintf(stderr, "conlab: lab %u: %s\n", x->number, cl_error_detail());
    failed = true;
  } else {
    printf("expectations written to %s/expectations.txt\n", dir);
  }
  if (failed) fprintf(stderr, "conlab: lab %u: a run failed (see above)\n", x->number);
  return failed || x->fail ? CL__EXIT_FAILED : CL__EXIT_OK;
}

int cl__cmd_lab(int argc, char **argv) {
  if (argc == 1) {
    lab_list(stdout);
    return CL__EXIT_OK;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    lab_usage(stdout);
    fputc('\n', stdout);
    lab_list(stdout);
    return CL__EXIT_OK;
  }
  char *end = NULL;
  errno = 0;
  unsigned long number = strtoul(argv[1], &end, 10);
  if (argv[1][0] == '-' && argv[1][1] != '\0' && !(argv[1][1] >= '0' && argv[1][1] <= '9')) {
    fprintf(stderr, "conlab: lab: expected a lab number before '%s' (valid: 1-%zu)\n", argv[1],
            NLABS);
    return CL__EXIT_USAGE;
  }
  if (errno || !end || *end || end == argv[1] || number < 1 || number > NLABS) {
    fprintf(stderr, "conlab: lab: '%s' is not a lab (valid: 1-%zu)\n", argv[1], NLABS);
    return CL__EXIT_USAGE;
  }
  struct lab_opts lo;
  int rc = parse_lab_options(argc, argv, &lo);
  if (rc >= 0) return rc;

  struct lab_ctx *x = calloc(1, sizeof *x);
  if (!x) return CL__EXIT_FAILED;
  x->number = (unsigned)number;
  x->lab = &lab_table[number - 1];
  x->quick = lo.quick;
  for (x->nparts = 0; x->nparts < LAB_MAX_PARTS && x->lab->parts[x->nparts].name; x->nparts++)
    ;
  int err = lo.synthetic  ? cl_topology_load_synthetic(lo.synthetic, &x->topology)
            : lo.topology ? cl_topology_load_xml(lo.topology, &x->topology)
                          : cl_topology_load(&x->topology);
  if (err) {
    if (lo.synthetic || lo.topology) {
      fprintf(stderr, "conlab: lab: %s: %s\n", lo.synthetic ? "--synthetic" : "--topology",
              cl_error_detail());
      ctx_free(x);
      return CL__EXIT_USAGE;
    }
    fprintf(stderr, "conlab: lab: cannot read this machine's topology: %s\n", cl_error_detail());
    ctx_free(x);
    return CL__EXIT_FAILED;
  }
  cl_topology_summary(x->topology, &x->topo);
  x->cores = x->topo.cores ? x->topo.cores : 1;
  rc = parts_parse(x);
  if (rc) {
    ctx_free(x);
    return rc;
  }

  if (lo.dry_run || lo.expect) {
    rc = CL__EXIT_OK;
    if (lo.dry_run) rc = dry_run(x, "DIR");
    if (lo.expect && print_expectations(x, NULL) != 0) rc = CL__EXIT_FAILED;
    ctx_free(x);
    return rc;
  }

  rc = run_lab(x, &lo);
  ctx_free(x);
  return rc;
}
