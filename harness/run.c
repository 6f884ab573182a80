#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conlab/error.h"
#include "harness/harness.h"

double cl__now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double cl__wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail_cell(struct cl__cell *c, int err, const char *what) {
  c->status = err;
  const char *d = cl_error_detail();
  snprintf(c->error, sizeof c->error, "%s: %s%s%s", what, cl_strerror(err), *d ? ": " : "", d);
}

/* Sets up one cell's configuration, then runs it (isolated unless
 * --no-isolate). Returns CL_EINTR when a signal stopped it. */
static int run_cell(struct cl__cell *c, struct cl_batch *batch, const struct cl__plan *plan,
                    const struct cl__options *o, struct cl__progress *pg) {
  c->cfg = o->exec;
  c->cfg.workers = c->workers;
  c->cfg.gil = c->gil;
  if (!(c->ex->flags & CL_EXEC_BINDS)) c->cfg.bind = CL_BIND_NONE; /* rows say what happened */
  c->expected = batch->expected;
  return cl__cell_run(c, batch, plan, o, pg);
}

static void summarize_cell(struct cl__cell *c) {
  if (!c->nsamples) return;
  double v[CL__MAX_REPS], scratch[CL__MAX_REPS];
  for (unsigned i = 0; i < c->nsamples; i++)
    v[i] = c->samples[i].wall_s;
  cl_summarize(v, c->nsamples, &c->wall);
  c->noisy = c->wall.cv > 0.05;
  for (unsigned i = 0; i < c->nsamples; i++)
    v[i] = c->samples[i].user_s;
  c->user_s = cl_median(v, c->nsamples, scratch);
  for (unsigned i = 0; i < c->nsamples; i++)
    v[i] = c->samples[i].sys_s;
  c->sys_s = cl_median(v, c->nsamples, scratch);
  for (unsigned i = 0; i < c->nsamples; i++)
    v[i] = (double)c->samples[i].nvcsw;
  c->nvcsw = lround(cl_median(v, c->nsamples, scratch));
  for (unsigned i = 0; i < c->nsamples; i++)
    v[i] = (double)c->samples[i].nivcsw;
  c->nivcsw = lround(cl_median(v, c->nsamples, scratch));
  c->max_rss_kb = 0;
  for (unsigned i = 0; i < c->nsamples; i++)
    if (c->samples[i].max_rss_kb > c->max_rss_kb) c->max_rss_kb = c->samples[i].max_rss_kb;
  /* Wakeup latencies: medians over the repetitions that measured one. */
  size_t n = 0;
  for (unsigned i = 0; i < c->nsamples; i++)
    if (!isnan(c->samples[i].wake_mean_s)) v[n++] = c->samples[i].wake_mean_s;
  c->wake_mean_s = n ? cl_median(v, n, scratch) : NAN;
  n = 0;
  for (unsigned i = 0; i < c->nsamples; i++)
    if (!isnan(c->samples[i].wake_max_s)) v[n++] = c->samples[i].wake_max_s;
  c->wake_max_s = n ? cl_median(v, n, scratch) : NAN;
}

/* Speedups of cells [from, to) against their group's sequential cell; the
 * CPython rows against py.sequential when the group has it, so that their
 * speedups say what the interpreter's own patterns gain. */
static void derive(struct cl__cell *cells, size_t from, size_t to) {
  double base = NAN, py_base = NAN;
  for (size_t i = from; i < to; i++) {
    if (cells[i].gil || !cells[i].nsamples) continue;
    if (strcmp(cells[i].ex->name, "sequential") == 0) base = cells[i].wall.median;
    if (strcmp(cells[i].ex->name, "py.sequential") == 0) py_base = cells[i].wall.median;
  }
  for (size_t i = from; i < to; i++) {
    struct cl__cell *c = &cells[i];
    double b = (c->ex->flags & CL_EXEC_EXTERNAL) && !isnan(py_base) ? py_base : base;
    c->speedup = c->efficiency = c->karp_flatt = NAN;
    if (!c->nsamples || isnan(b)) continue;
    c->speedup = cl_speedup(b, c->wall.median);
    c->efficiency = cl_efficiency(c->speedup, c->workers);
    c->karp_flatt = cl_karp_flatt(c->speedup, c->workers);
  }
}

int cl__plan_run(struct cl__plan *plan, const struct cl__options *o) {
  struct cl__progress pg;
  int first_err = 0;
  bool stopped = false;
  cl__progress_init(&pg, plan->ncells);
  for (size_t i = 0; i < plan->ncells && !stopped;) {
    const struct cl__cell *head = &plan->cells[i];
    size_t j = i;
    while (j < plan->ncells && plan->cells[j].w == head->w &&
           plan->cells[j].req_tasks == head->req_tasks && plan->cells[j].req_size == head->req_size)
      j++;
    struct cl_workload_params p = {.tasks = head->req_tasks,
                                   .size = head->req_size,
                                   .delay_ns = o->delay_ns,
                                   .quick = o->quick};
    struct cl_batch batch = {0};
    cl_error_clear();
    int err = cl_workload_build(plan->cells[i].w, &p, &batch);
    for (size_t k = i; k < j && !stopped; k++) {
      struct cl__cell *c = &plan->cells[k];
      c->params = p;
      /* A signal stops the run: cells not started stay "incomplete". */
      if (cl__signals_pending()) {
        stopped = true;
        break;
      }
      /* A thread per task: the row's worker count is the number of threads. */
      if (!err && (c->ex->flags & CL_EXEC_PER_TASK)) c->workers = (unsigned)batch.ntasks;
      cl__progress_cell_start(&pg, c);
      if (err) {
        fail_cell(c, err, "build");
      } else {
        if (run_cell(c, &batch, plan, o, &pg) == CL_EINTR) stopped = true;
        summarize_cell(c);
      }
      /* A cell its executor cannot run (no Python port of a kernel) is
       * reported as unsupported, not as a failed run. */
      if (c->status && c->status != CL_EUNSUPPORTED && !first_err) first_err = c->status;
      cl__progress_cell_done(&pg, c);
    }
    if (!err) cl_workload_release(plan->cells[i].w, &batch);
    derive(plan->cells, i, j);
    i = j;
  }
  cl__progress_finish(&pg);
  if (stopped || cl__signals_pending()) return CL_EINTR;
  return first_err;
}
