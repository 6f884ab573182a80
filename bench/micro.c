#include "bench/micro.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conlab/error.h"
#include "conlab/event_loop.h"
#include "conlab/executor.h"
#include "conlab/thread_pool.h"
#include "conlab/workload.h"
#include "harness/harness.h"

#ifdef CL_HAVE_LIBUV
#include <uv.h>
#endif

#define MAX_ROWS 64

/* One line of the table and of <set>.csv; NAN prints as an empty field. */
struct row {
  const char *bench;
  char subject[48];
  double count, total_s, us_per_op, ops_per_s, p50_us, p99_us, ratio;
  char note[160];
};

struct rows {
  struct row r[MAX_ROWS];
  size_t n;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct row *add(struct rows *rs, const char *bench, const char *subject, double count,
                       double total_s) {
  struct row *r = &rs->r[rs->n < MAX_ROWS ? rs->n++ : MAX_ROWS - 1];
  memset(r, 0, sizeof *r);
  r->bench = bench;
  snprintf(r->subject, sizeof r->subject, "%s", subject);
  r->count = count;
  r->total_s = total_s;
  r->us_per_op = count > 0 ? total_s * 1e6 / count : NAN;
  r->ops_per_s = total_s > 0 ? count / total_s : NAN;
  r->p50_us = r->p99_us = r->ratio = NAN;
  return r;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median3(double *v) {
  qsort(v, 3, sizeof v[0], cmp_double);
  return v[1];
}

/* ---- Empty tasks through an executor's run(), as the cells do. ---- */

/* Median of 3 timed runs after one warm-up of `n` noop tasks on `ops`. */
static int noop_cost(const struct cl_executor_ops *ops, const struct cl_exec_config *cfg,
                     uint64_t n, double *median_s) {
  struct cl_workload_params p = {.tasks = n};
  struct cl_batch b = {0};
  const struct cl_workload *w = cl_workload_find("noop");
  int rc = cl_workload_build(w, &p, &b);
  if (rc) return rc;
  struct cl_exec_config c = *cfg;
  if (ops->flags & CL_EXEC_PER_TASK) c.workers = (unsigned)n;
  struct cl_executor *ex = NULL;
  rc = ops->create(&c, &ex);
  double t[3];
  for (int r = 0; !rc && r < 4; r++) {
    cl_batch_reset(&b);
    double t0 = now_s();
    rc = ops->run(ex, &b);
    double el = now_s() - t0;
    if (!rc) rc = cl_batch_status(&b);
    if (!rc && cl_batch_checksum(&b) != b.expected)
      rc = cl_error_set(CL_ECHECKSUM, "%s: noop checksum mismatch", ops->name);
    if (r > 0) t[r - 1] = el;
  }
  if (ex) ops->destroy(ex);
  cl_workload_release(w, &b);
  if (!rc) *median_s = median3(t);
  return rc;
}

static int bench_noop(struct rows *rs, bool quick, unsigned workers, const char *only) {
  for (size_t i = 0; i < cl_executor_count(); i++) {
    const struct cl_executor_ops *ops = cl_executor_at(i);
    if (ops->flags & CL_EXEC_EXTERNAL) continue; /* CPython: see README */
    if (only && !strstr(only, ops->name)) continue;
    bool per_task = ops->flags & CL_EXEC_PER_TASK;
    /* A thread per task costs tens of microseconds: fewer tasks keep it short. */
    uint64_t n = per_task ? (quick ? 200 : 4000) : (quick ? 5000 : 100000);
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    cfg.workers = workers;
    if (strcmp(ops->name, "openmp") == 0) cfg.omp_schedule = CL_OMP_DYNAMIC;
    int chunks = strcmp(ops->name, "process_pool") == 0 ? 2 : 1;
    for (int k = 0; k < chunks; k++) {
      cfg.chunksize = k; /* 0: automatic, then 1 */
      double med;
      int rc = noop_cost(ops, &cfg, n, &med);
      if (rc) return rc;
      char subject[48];
      snprintf(subject, sizeof subject, "%s%s", ops->name, k ? " chunksize=1" : "");
      struct row *r = add(rs, "noop_per_task", subject, (double)n, med);
      snprintf(r->note, sizeof r->note, "%u workers, run() of %llu empty tasks, median of 3%s",
               per_task                          ? (unsigned)n
               : (ops->flags & CL_EXEC_PARALLEL) ? workers
                                                 : 1,
               (unsigned long long)n, per_task ? "; one pthread_create+join per task" : "");
    }
  }
  return 0;
}

/* ---- Thread pool futures. ---- */

static uint64_t noop_fn(void *arg) {
  return (uint64_t)(uintptr_t)arg;
}

static int bench_futures(struct rows *rs, bool quick, unsigned workers) {
  size_t n = quick ? 5000 : 100000, nlat = quick ? 1000 : 10000;
  struct cl_future *f = calloc(n, sizeof *f);
  double *lat = calloc(nlat, sizeof *lat);
  struct cl_thread_pool *pool = NULL;
  int rc = f && lat ? cl_thread_pool_create(workers, NULL, &pool) : CL_ENOMEM;
  double t[3];
  /* Throughput: submit every future, then wait for each (ThreadPoolExecutor.map). */
  for (int r = 0; !rc && r < 4; r++) {
    for (size_t i = 0; i < n; i++)
      cl_future_init(&f[i]);
    double t0 = now_s();
    for (size_t i = 0; !rc && i < n; i++)
      rc = cl_thread_pool_submit(pool, &f[i], noop_fn, (void *)(uintptr_t)i);
    uint64_t sum = 0, v = 0;
    for (size_t i = 0; !rc && i < n; i++) {
      rc = cl_future_wait(&f[i], &v);
      sum += v;
    }
    double el = now_s() - t0;
    if (!rc && sum != (uint64_t)n * (n - 1) / 2)
      rc = cl_error_set(CL_ECHECKSUM, "futures: wrong sum of results");
    if (r > 0) t[r - 1] = el;
  }
  if (!rc) {
    struct row *r = add(rs, "futures_per_task", "thread_pool", (double)n, median3(t));
    snprintf(r->note, sizeof r->note, "%u workers, submit all then wait each, median of 3",
             workers);
  }
  /* Latency: one future at a time, submit to the caller seeing it done. */
  for (size_t i = 0; !rc && i < nlat; i++) {
    cl_future_init(&f[0]);
    double t0 = now_s();
    rc = cl_thread_pool_submit(pool, &f[0], noop_fn, NULL);
    if (!rc) rc = cl_future_wait(&f[0], NULL);
    lat[i] = (now_s() - t0) * 1e6;
  }
  if (!rc) {
    double total = 0;
    for (size_t i = 0; i < nlat; i++)
      total += lat[i];
    qsort(lat, nlat, sizeof lat[0], cmp_double);
    struct row *r = add(rs, "latency", "thread_pool", (double)nlat, total / 1e6);
    r->p50_us = lat[nlat / 2];
    r->p99_us = lat[nlat * 99 / 100];
    snprintf(r->note, sizeof r->note, "%u workers, one future in flight: submit to wait returning",
             workers);
  }
  if (pool) cl_thread_pool_destroy(pool, CL_POOL_DRAIN);
  free(lat);
  free(f);
  return rc;
}

/* ---- Event loop: ready coroutines and timers. ---- */

static int done_at_once(struct cl_coro *co, void *arg) {
  (void)arg;
  return cl_coro_return(co, 0, 1);
}

static int sleeper(struct cl_coro *co, void *arg) {
  if (co->pc == 0) {
    co->pc = 1;
    cl_coro_sleep(co, *(const uint64_t *)arg);
    return CL_CORO_PENDING;
  }
  return cl_coro_return(co, cl_coro_wait_status(co), 1);
}

/* Timer i's delay: 1 to 50 ms, spread by a hash. */
static uint64_t timer_delay_ns(size_t i) {
  return 1000000 + cl_mix64(i + 1) % 49000001;
}

static int bench_loop_ready(struct rows *rs, bool quick) {
  size_t n = quick ? 5000 : 100000;
  struct cl_coro *co = calloc(n, sizeof *co);
  if (!co) return CL_ENOMEM;
  struct cl_loop *loop = NULL;
  int rc = cl_loop_create(NULL, &loop);
  double t[3];
  for (int r = 0; !rc && r < 4; r++) {
    memset(co, 0, n * sizeof *co);
    double t0 = now_s();
    for (size_t i = 0; !rc && i < n; i++)
      rc = cl_loop_spawn(loop, &co[i], done_at_once, NULL);
    if (!rc) rc = cl_loop_run(loop);
    if (r > 0) t[r - 1] = now_s() - t0;
  }
  if (!rc) {
    struct row *r = add(rs, "loop_ready_task", "event_loop", (double)n, median3(t));
    snprintf(r->note, sizeof r->note, "spawn + run to completion, one loop, median of 3");
  }
  cl_loop_destroy(loop);
  free(co);
  return rc;
}

/* All-in: create the loop, arm n timers of 1-50 ms, run until all fired. */
static int conlab_timers(size_t n, double *total_s) {
  struct cl_coro *co = calloc(n, sizeof *co);
  uint64_t *delay = malloc(n * sizeof *delay);
  int rc = co && delay ? 0 : CL_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++)
    delay[i] = timer_delay_ns(i);
  double t0 = now_s();
  struct cl_loop *loop = NULL;
  if (!rc) rc = cl_loop_create(NULL, &loop);
  for (size_t i = 0; !rc && i < n; i++)
    rc = cl_loop_spawn(loop, &co[i], sleeper, &delay[i]);
  if (!rc) rc = cl_loop_run(loop);
  cl_loop_destroy(loop);
  *total_s = now_s() - t0;
  for (size_t i = 0; !rc && i < n; i++)
    if (!cl_coro_done(&co[i]) || co[i].status)
      rc = cl_error_set(CL_ECHECKSUM, "timer %zu did not fire cleanly", i);
  free(delay);
  free(co);
  return rc;
}

#ifdef CL_HAVE_LIBUV
static void on_timer(uv_timer_t *t) {
  ++*(size_t *)t->data;
}

/* The same timers on libuv, all-in from uv_loop_init to the last callback. */
static int libuv_timers(size_t n, double *total_s) {
  uv_timer_t *t = calloc(n, sizeof *t);
  if (!t) return CL_ENOMEM;
  size_t fired = 0;
  uv_loop_t loop;
  double t0 = now_s();
  int rc = uv_loop_init(&loop);
  if (rc) {
    free(t);
    return cl_error_set(CL_ESYS, "uv_loop_init: %s", uv_strerror(rc));
  }
  for (size_t i = 0; i < n; i++) {
    uv_timer_init(&loop, &t[i]);
    t[i].data = &fired;
    uv_timer_start(&t[i], on_timer, timer_delay_ns(i) / 1000000, 0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  *total_s = now_s() - t0;
  for (size_t i = 0; i < n; i++)
    uv_close((uv_handle_t *)&t[i], NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(t);
  if (fired != n) return cl_error_set(CL_ECHECKSUM, "libuv: %zu of %zu timers fired", fired, n);
  return 0;
}
#endif

static int bench_timers(struct rows *rs, bool quick, bool with_libuv) {
  size_t n = quick ? 20000 : 1000000;
  double total = 0;
  int rc = conlab_timers(n, &total);
  if (rc) return rc;
  struct row *r = add(rs, "timers", "event_loop", (double)n, total);
  snprintf(r->note, sizeof r->note, "%zu coroutines sleeping 1-50 ms, all-in", n);
  double ours = total;
  if (!with_libuv) return 0;
#ifdef CL_HAVE_LIBUV
  rc = libuv_timers(n, &total);
  if (rc) return rc;
  r = add(rs, "timers", "libuv", (double)n, total);
  r->ratio = total / ours;
  snprintf(r->note, sizeof r->note,
           "libuv %s, %zu uv_timer_t of 1-50 ms, all-in; ratio: libuv/conlab time",
           uv_version_string(), n);
#else
  r = add(rs, "timers", "libuv", 0, NAN);
  snprintf(r->note, sizeof r->note, "not measured: built without libuv (Debian: libuv1-dev)");
#endif
  return 0;
}

/* ---- Threads: what a thread per task pays. ---- */

static void *empty_thread(void *arg) {
  return arg;
}

static int bench_thread_create(struct rows *rs, bool quick) {
  size_t n = quick ? 200 : 4000;
  double t0 = now_s();
  for (size_t i = 0; i < n; i++) {
    pthread_t th;
    int e = pthread_create(&th, NULL, empty_thread, NULL);
    if (e) return cl_error_set(CL_ETHREAD, "pthread_create: %s", strerror(e));
    pthread_join(th, NULL);
  }
  struct row *r = add(rs, "thread_create_join", "pthread", (double)n, now_s() - t0);
  snprintf(r->note, sizeof r->note, "one empty thread at a time, default stack");
  return 0;
}

/* ---- The harness's own cost: an empty batch through the cell runner. ---- */

static int harness_cost(struct rows *rs, bool quick, bool isolate) {
  unsigned reps = isolate ? 1 : (quick ? 200 : 1000);
  unsigned cells = isolate ? (quick ? 5 : 50) : 1;
  struct cl__options o;
  memset(&o, 0, sizeof o);
  cl_exec_config_default(&o.exec);
  o.no_isolate = !isolate;
  struct cl__plan plan = {.reps = reps, .warmup = 0};
  struct cl__sample *samples = calloc(reps, sizeof *samples);
  FILE *null = fopen("/dev/null", "w");
  if (!samples || !null) {
    free(samples);
    if (null) fclose(null);
    return CL_ENOMEM;
  }
  struct cl__progress pg;
  cl__progress_init(&pg, cells);
  pg.f = null;
  pg.tty = false;
  struct cl_batch b = {0}; /* no tasks: only the harness is timed */
  int rc = 0;
  double t0 = now_s();
  for (unsigned k = 0; !rc && k < cells; k++) {
    struct cl__cell c;
    memset(&c, 0, sizeof c);
    c.w = cl_workload_find("noop");
    c.ex = cl_executor_find("sequential");
    c.workers = 1;
    c.reps = reps;
    c.samples = samples;
    c.cfg = o.exec;
    rc = cl__cell_run(&c, &b, &plan, &o, &pg);
    if (!rc && c.status) rc = c.status;
    if (!rc && c.nsamples != reps) rc = cl_error_set(CL_ESTATE, "harness: samples missing");
  }
  double el = now_s() - t0;
  fclose(null);
  free(samples);
  if (rc) return rc;
  struct row *r = add(rs, "harness", isolate ? "cell (forked child)" : "repetition (in process)",
                      (double)(isolate ? cells : reps), el);
  snprintf(r->note, sizeof r->note, "%s",
           isolate ? "an empty cell of 1 repetition in a child of its own (the default)"
                   : "one timed repetition of an empty batch: rusage, clock, run, checksum");
  return 0;
}

/* ---- OpenMP's dynamic schedule over empty iterations. ---- */

static int bench_openmp(struct rows *rs, bool quick, unsigned workers) {
#ifdef CL_HAVE_OPENMP
  long n = quick ? 1000000 : 20000000;
  double t[3];
  for (int r = 0; r < 4; r++) {
    double t0 = now_s();
#pragma omp parallel for schedule(dynamic) num_threads(workers)
    for (long i = 0; i < n; i++)
      __asm__ volatile("" ::: "memory");
    if (r > 0) t[r - 1] = now_s() - t0;
  }
  struct row *r = add(rs, "openmp_dynamic_iter", "openmp", (double)n, median3(t));
  snprintf(r->note, sizeof r->note,
           "%u threads, schedule(dynamic) chunk 1, empty body: a shared counter per iteration",
           workers);
#else
  (void)quick;
  (void)workers;
  struct row *r = add(rs, "openmp_dynamic_iter", "openmp", 0, NAN);
  snprintf(r->note, sizeof r->note, "not measured: built without OpenMP");
#endif
  return 0;
}

static const struct row *find(const struct rows *rs, const char *bench, const char *subject) {
  for (size_t i = 0; i < rs->n; i++)
    if (strcmp(rs->r[i].bench, bench) == 0 && strcmp(rs->r[i].subject, subject) == 0)
      return &rs->r[i];
  return NULL;
}

/* Thread pool against OpenMP, per task: how many times OpenMP's cost. */
static void add_ratios(struct rows *rs) {
  const struct row *omp = find(rs, "openmp_dynamic_iter", "openmp");
  if (!omp || !(omp->us_per_op > 0)) return;
  const char *mine[][2] = {{"noop_per_task", "thread_pool"}, {"futures_per_task", "thread_pool"}};
  for (size_t i = 0; i < 2; i++) {
    const struct row *tp = find(rs, mine[i][0], mine[i][1]);
    if (!tp) continue;
    struct row *r = add(rs, "ratio_to_openmp", mine[i][0], NAN, NAN);
    r->ratio = tp->us_per_op / omp->us_per_op;
    snprintf(r->note, sizeof r->note, "thread_pool us/task (%s) / openmp us/iteration", mine[i][0]);
  }
}

/* ---- Output. ---- */

static void csv_num(FILE *f, const char *fmt, double v) {
  if (!isnan(v)) fprintf(f, fmt, v);
  fputc(',', f);
}

static int fill_csv(FILE *f, const void *arg) {
  const struct rows *rs = arg;
  fputs("bench,subject,count,total_s,us_per_op,ops_per_s,p50_us,p99_us,ratio,note\n", f);
  for (size_t i = 0; i < rs->n; i++) {
    const struct row *r = &rs->r[i];
    fprintf(f, "%s,%s,", r->bench, r->subject);
    csv_num(f, "%.0f", r->count);
    csv_num(f, "%.9f", r->total_s);
    csv_num(f, "%.9g", r->us_per_op);
    csv_num(f, "%.1f", r->ops_per_s);
    csv_num(f, "%.3f", r->p50_us);
    csv_num(f, "%.3f", r->p99_us);
    csv_num(f, "%.3f", r->ratio);
    /* The note is the last field; commas in it become semicolons, so that the
     * CSV stays unquoted like the run's other files. */
    for (const char *p = r->note; *p; p++)
      fputc(*p == ',' ? ';' : *p, f);
    fputc('\n', f);
  }
  return 0;
}

static void print_table(FILE *out, const char *set, const struct rows *rs) {
  fprintf(out, "\n%s micro-benchmarks\n%-20s %-26s %10s %12s %14s %9s %9s %7s\n", set, "bench",
          "subject", "count", "us/op", "ops/s", "p50 us", "p99 us", "ratio");
  for (size_t i = 0; i < rs->n; i++) {
    const struct row *r = &rs->r[i];
    fprintf(out, "%-20s %-26s %10.0f %12.4f %14.0f %9.2f %9.2f %7.2f  %s\n", r->bench, r->subject,
            r->count, r->us_per_op, r->ops_per_s, r->p50_us, r->p99_us, r->ratio, r->note);
  }
}

int cl__micro_run(const char *set, bool quick, const char *dir, FILE *out) {
  bool overhead = set && strcmp(set, "overhead") == 0;
  bool peers = set && strcmp(set, "peers") == 0;
  if (!overhead && !peers)
    return cl_error_set(CL_EINVAL, "unknown micro-benchmark set '%s' (valid: overhead, peers)",
                        set ? set : "(null)");
  static struct rows rs; /* large; one run at a time */
  memset(&rs, 0, sizeof rs);
  unsigned workers = cl__online_cpus();
  int rc = 0;
  if (overhead) {
    rc = bench_noop(&rs, quick, workers, NULL);
    if (!rc) rc = bench_futures(&rs, quick, workers);
    if (!rc) rc = bench_loop_ready(&rs, quick);
    if (!rc) rc = bench_timers(&rs, quick, false);
    if (!rc) rc = bench_thread_create(&rs, quick);
    if (!rc) rc = harness_cost(&rs, quick, false);
    if (!rc) rc = harness_cost(&rs, quick, true);
  } else {
    rc = bench_noop(&rs, quick, workers, "thread_pool,openmp");
    if (!rc) rc = bench_futures(&rs, quick, workers);
    if (!rc) rc = bench_openmp(&rs, quick, workers);
    if (!rc) rc = bench_timers(&rs, quick, true);
    if (!rc) add_ratios(&rs);
  }
  if (rc) return rc;
  if (out) print_table(out, set, &rs);
  if (dir) {
    char name[64];
    snprintf(name, sizeof name, "%s.csv", set);
    rc = cl__write_atomic(dir, name, fill_csv, &rs);
  }
  return rc;
}
