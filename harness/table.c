#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "conlab/error.h"
#include "harness/harness.h"

static void fmt_time(char *buf, size_t len, double s) {
  if (s >= 1.0)
    snprintf(buf, len, "%.3f s", s);
  else if (s >= 1e-3)
    snprintf(buf, len, "%.2f ms", s * 1e3);
  else
    snprintf(buf, len, "%.1f us", s * 1e6);
}

const char *cl__cell_status(const struct cl__cell *c) {
  if (c->status == CL_EINTR) return "interrupted";
  if (c->status == CL_EUNSUPPORTED) return "unsupported";
  if (c->status) return cl_errname(c->status);
  return c->done ? "ok" : "incomplete";
}

/* The console's word for a cell: ok, MISMATCH, or why it has no result. */
static const char *table_word(const struct cl__cell *c) {
  if (c->status == CL_ECHECKSUM) return "MISMATCH";
  if (c->status == CL_EINTR || c->status == CL_EUNSUPPORTED || (!c->status && !c->done))
    return cl__cell_status(c);
  return c->status ? "FAILED" : "ok";
}

/* The probe rows' wakeup latency, under the table. */
static void print_wakeups(FILE *f, const struct cl__plan *plan) {
  bool head = false;
  for (size_t i = 0; i < plan->ncells; i++) {
    const struct cl__cell *c = &plan->cells[i];
    if (strcmp(c->w->kind, "probe") != 0 || !c->nsamples || isnan(c->wake_mean_s)) continue;
    if (!head)
      fprintf(f, "\nwakeup latency, from the end of an IO phase to the start of the next CPU "
                 "phase\n(medians over the repetitions of their mean and largest):\n");
    head = true;
    char mean[16], max[16], note[48] = "";
    fmt_time(mean, sizeof mean, c->wake_mean_s);
    fmt_time(max, sizeof max, c->wake_max_s);
    if (c->gil)
      snprintf(note, sizeof note, "  (GIL, switch interval %.3g ms)",
               (double)(c->cfg.switch_interval_ns ? c->cfg.switch_interval_ns : 5000000) / 1e6);
    fprintf(f, "%-14s %-14s %3u %3d   mean %10s   max %10s%s\n", c->w->name, c->ex->name,
            c->workers, c->gil, mean, max, note);
  }
  bool unmeasured = false;
  for (size_t i = 0; i < plan->ncells && head; i++) {
    const struct cl__cell *c = &plan->cells[i];
    unmeasured |= strcmp(c->w->kind, "probe") == 0 && c->nsamples && isnan(c->wake_mean_s);
  }
  if (unmeasured) fprintf(f, "(rows not listed do not measure it)\n");
}

/* One line per interpreter the py.* rows ran: start-up is outside the medians. */
static void print_interpreters(FILE *f, const struct cl__plan *plan) {
  for (size_t i = 0; i < plan->ncells; i++) {
    const struct cl__cell *c = &plan->cells[i];
    if (!c->interp.runtime[0]) continue;
    bool seen = false;
    for (size_t k = 0; k < i && !seen; k++)
      seen = strcmp(plan->cells[k].interp.runtime, c->interp.runtime) == 0;
    if (seen) continue;
    double lo = c->interp.startup_s, hi = lo;
    size_t n = 0;
    for (size_t k = i; k < plan->ncells; k++) {
      const struct cl__interp *in = &plan->cells[k].interp;
      if (strcmp(in->runtime, c->interp.runtime) != 0 || isnan(in->startup_s)) continue;
      lo = in->startup_s < lo ? in->startup_s : lo;
      hi = in->startup_s > hi ? in->startup_s : hi;
      n++;
    }
    char a[16], b[16];
    fmt_time(a, sizeof a, lo);
    fmt_time(b, sizeof b, hi);
    if (n > 1)
      fprintf(f, "%s: start-up %s to %s per cell (summary.csv startup_s), not in the medians\n",
              c->interp.runtime, a, b);
    else
      fprintf(f, "%s: start-up %s (summary.csv startup_s), not in the medians\n", c->interp.runtime,
              a);
  }
}

void cl__table_print(FILE *f, const struct cl__plan *plan) {
  fprintf(f, "%-14s %-14s %3s %3s %11s %19s %6s %8s %6s %s\n", "workload", "executor", "w", "gil",
          "median", "95% CI", "cv", "speedup", "eff", "check");
  const struct cl_workload *prev = NULL;
  for (size_t i = 0; i < plan->ncells; i++) {
    const struct cl__cell *c = &plan->cells[i];
    if (prev && prev != c->w) fputc('\n', f);
    prev = c->w;
    if (!c->nsamples) {
      fprintf(f, "%-14s %-14s %3u %3d %11s %19s %6s %8s %6s %s\n", c->w->name, c->ex->name,
              c->workers, c->gil, "-", "-", "-", "-", "-", table_word(c));
      continue;
    }
    char med[16], lo[16], hi[16], ci[40], sp[16] = "-", ef[16] = "-";
    fmt_time(med, sizeof med, c->wall.median);
    fmt_time(lo, sizeof lo, c->wall.ci_low);
    fmt_time(hi, sizeof hi, c->wall.ci_high);
    snprintf(ci, sizeof ci, "%s-%s", lo, hi);
    if (!isnan(c->speedup)) snprintf(sp, sizeof sp, "%.2fx", c->speedup);
    if (!isnan(c->efficiency)) snprintf(ef, sizeof ef, "%.0f%%", c->efficiency * 100);
    fprintf(f, "%-14s %-14s %3u %3d %11s %19s %5.1f%%%s %7s %6s %s\n", c->w->name, c->ex->name,
            c->workers, c->gil, med, ci, c->wall.cv * 100, c->noisy ? "!" : " ", sp, ef,
            table_word(c));
  }
  fprintf(f, "(! = noisy: coefficient of variation above 5%%)\n");
  print_wakeups(f, plan);
  print_interpreters(f, plan);
}
