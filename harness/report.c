/* report.md: the machine, findings as sentences derived from summary.csv,
 * the figures and the table. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/harness.h"
#include "harness/plot.h"

#define MAX_EXECS 64
#define MAX_WORKLOADS 64

struct report {
  const char *dir;
  const struct cl__summary_csv *s;
  const struct cl__run_meta *m;
  const char *note;
  unsigned cores;
};

static bool is_py(const char *ex) {
  return strncmp(ex, "py.", 3) == 0;
}

static bool is_baseline(const char *ex) {
  return strcmp(ex, "sequential") == 0 || strcmp(ex, "py.sequential") == 0;
}

/* "reached 2.03x", "stayed at 1.00x" or "fell to 0.41x". */
static const char *verb(double s) {
  return s >= 1.15 ? "reached" : s >= 0.87 ? "stayed at" : "fell to";
}

/* One claim: "`thread_pool` reached 2.03x with 2 workers". */
static void claim(FILE *f, const struct cl__srow *r) {
  fprintf(f, "`%s`%s %s %.2fx", r->executor, r->gil ? " (GIL)" : "", verb(r->speedup), r->speedup);
  if (!cl__executor_fixed(r->executor))
    fprintf(f, " with %u worker%s", r->workers, r->workers == 1 ? "" : "s");
  else if (strcmp(r->executor + (is_py(r->executor) ? 3 : 0), "threads") == 0)
    fputs(" with a thread per task", f);
}

/* Writes claims joined by ", " and a final " and ". */
static void claims(FILE *f, const struct cl__srow **rs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (i) fputs(i + 1 == n ? " and " : ", ", f);
    claim(f, rs[i]);
  }
}

static void sort_by_speedup(const struct cl__srow **rs, size_t n) {
  for (size_t a = 1; a < n; a++)
    for (size_t b = a; b > 0 && rs[b - 1]->speedup < rs[b]->speedup; b--) {
      const struct cl__srow *t = rs[b];
      rs[b] = rs[b - 1];
      rs[b - 1] = t;
    }
}

static size_t distinct_workloads(const struct cl__summary_csv *s, const char **out, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < s->n && n < max; i++) {
    bool seen = false;
    for (size_t k = 0; k < n && !seen; k++)
      seen = strcmp(out[k], s->rows[i].workload) == 0;
    if (!seen) out[n++] = s->rows[i].workload;
  }
  return n;
}

/* Best rows of a workload's main group, split into plain C executors, GIL
 * runs and CPython runs (sequential excluded). */
struct best {
  const struct cl__srow *c[MAX_EXECS], *gil[MAX_EXECS], *py[MAX_EXECS];
  size_t nc, ngil, npy;
  const struct cl__srow *event_loop, *seq, *py_seq;
  uint64_t tasks, size;
  const char *kind;
};

static bool best_of(const struct cl__summary_csv *s, const char *w, struct best *b) {
  memset(b, 0, sizeof *b);
  if (!cl__main_group(s, w, &b->tasks, &b->size)) return false;
  b->seq = cl__baseline_row(s, w, b->tasks, b->size);
  if (!b->seq) return false;
  const char *ex[MAX_EXECS];
  size_t ne = cl__executor_order(s, ex, MAX_EXECS);
  for (size_t e = 0; e < ne; e++) {
    for (int g = 0; g < 2; g++) {
      const struct cl__srow *r = cl__story_row(s, w, ex[e], g == 1, b->tasks, b->size);
      if (!r) continue;
      if (strcmp(ex[e], "py.sequential") == 0 && !g) b->py_seq = r;
      if (is_baseline(ex[e])) continue;
      b->kind = r->kind;
      if (is_py(ex[e]))
        b->py[b->npy++] = r;
      else if (g)
        b->gil[b->ngil++] = r;
      else if (strcmp(ex[e], "event_loop") == 0)
        b->event_loop = r;
      else
        b->c[b->nc++] = r;
    }
  }
  return b->nc + b->ngil + b->npy + (b->event_loop != NULL) > 0;
}

/* The same executor's run without the GIL, or NULL. */
static const struct cl__srow *no_gil_twin(const struct best *b, const struct cl__srow *r) {
  for (size_t i = 0; i < b->nc; i++)
    if (strcmp(b->c[i]->executor, r->executor) == 0) return b->c[i];
  return NULL;
}

static void workload_bullet(FILE *f, const struct report *rp, const char *w) {
  struct best b;
  if (!best_of(rp->s, w, &b) || strcmp(b.kind, "probe") == 0) return; /* see convoy_bullet */
  bool cpu = strcmp(b.kind, "cpu") == 0, io = strcmp(b.kind, "io") == 0;
  fprintf(f, "- On `%s` (%s%s, %u cores", w, b.kind, cpu || io ? "-bound" : "", rp->cores);
  char note[64];
  cl__group_note(note, sizeof note, rp->s, w, b.tasks, b.size);
  if (note[0]) fprintf(f, ", %s", note);
  fputs("): ", f);
  sort_by_speedup(b.c, b.nc);
  bool all_won = b.nc > 0 && (!b.event_loop || b.event_loop->speedup >= 1.5);
  for (size_t i = 0; i < b.nc; i++)
    all_won = all_won && b.c[i]->speedup >= 1.5;
  if (io && all_won) fputs("every concurrent executor won: ", f);
  const struct cl__srow *list[MAX_EXECS + 1];
  size_t n = 0;
  if (io && b.event_loop) list[n++] = b.event_loop;
  for (size_t i = 0; i < b.nc; i++)
    list[n++] = b.c[i];
  if (io) sort_by_speedup(list, n);
  claims(f, list, n);
  if (!io && b.event_loop) {
    fputs(n ? "; " : "", f);
    claim(f, b.event_loop);
    if (cpu && b.event_loop->speedup < 1.15) fputs(", since it runs one CPU phase at a time", f);
  }
  fputs(".", f);
  if (b.ngil) {
    bool same = true;
    for (size_t i = 0; i < b.ngil; i++) {
      const struct cl__srow *twin = no_gil_twin(&b, b.gil[i]);
      same = same && twin && fabs(b.gil[i]->speedup / twin->speedup - 1) < 0.15;
    }
    if (same && !cpu)
      fputs(" The emulated GIL made no difference here: ", f);
    else
      fputs(" Under the emulated GIL ", f);
    claims(f, b.gil, b.ngil);
    if (cpu && !same) fputs(": the lock lets one thread compute at a time", f);
    fputs(".", f);
  }
  if (b.npy) {
    double slower = b.py_seq ? b.py_seq->median_s / b.seq->median_s : NAN;
    if (b.py_seq && slower >= 1.5)
      fprintf(f, " In CPython, against `py.sequential` (%.0fx slower than C's sequential), ",
              slower);
    else if (b.py_seq)
      fputs(" In CPython, against `py.sequential`, ", f);
    else
      fputs(" In CPython, against C's sequential, ", f);
    claims(f, b.py, b.npy);
    fputs(".", f);
  }
  fputc('\n', f);
}

/* The headline: the CPU-bound and the I/O-bound story workloads. */
static void headline(FILE *f, const struct report *rp) {
  const char *cpu = NULL, *io = NULL;
  for (size_t i = 0; i < rp->s->n; i++) {
    const struct cl__srow *r = &rp->s->rows[i];
    if (!cpu && strcmp(r->kind, "cpu") == 0) cpu = r->workload;
    if (!io && strcmp(r->kind, "io") == 0) io = r->workload;
    if (strcmp(r->workload, "cpu.sumsq") == 0) cpu = r->workload;
    if (strcmp(r->workload, "io.sleep") == 0) io = r->workload;
  }
  struct best b;
  bool any = false;
  if (cpu && best_of(rp->s, cpu, &b) && (b.nc || b.event_loop)) {
    sort_by_speedup(b.c, b.nc);
    fprintf(f, "On `%s`, with %u cores, ", cpu, rp->cores);
    if (b.nc) claim(f, b.c[0]);
    if (b.event_loop) {
      fputs(b.nc ? " while " : "", f);
      claim(f, b.event_loop);
    }
    const struct cl__srow *g = NULL;
    for (size_t i = 0; i < b.ngil; i++)
      if (!g || b.gil[i]->speedup > g->speedup) g = b.gil[i];
    if (g) {
      fputs(g->speedup < 1.15 ? ". Under the emulated GIL nothing scaled: at best "
                              : ". Under the emulated GIL the best was: ",
            f);
      claim(f, g);
    }
    const struct cl__srow *pt = NULL, *pp = NULL;
    for (size_t i = 0; i < b.npy; i++) {
      if (strcmp(b.py[i]->executor, "py.threads") == 0) pt = b.py[i];
      if (strcmp(b.py[i]->executor, "py.process_pool") == 0) pp = b.py[i];
    }
    if (pt && pp) {
      fputs(". In CPython ", f);
      claim(f, pt);
      fputs(" while ", f);
      claim(f, pp);
    }
    fputs(".", f);
    any = true;
  }
  if (io && best_of(rp->s, io, &b)) {
    const struct cl__srow *list[MAX_EXECS + 1];
    size_t n = 0;
    if (b.event_loop) list[n++] = b.event_loop;
    for (size_t i = 0; i < b.nc; i++)
      list[n++] = b.c[i];
    sort_by_speedup(list, n);
    if (n > 3) n = 3;
    if (n) {
      fprintf(f, "%sOn `%s`, ", any ? " " : "", io);
      claims(f, list, n);
      fputs(".", f);
      any = true;
    }
  }
  if (any) fputs("\n\n", f);
}

static const char *workload_kind(const struct cl__summary_csv *s, const char *w) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->rows[i].workload, w) == 0) return s->rows[i].kind;
  return "";
}

/* "12.2 ms under `threads` and 5.19 ms under `thread_pool` (2 workers)". */
static void wake_list(FILE *f, const struct cl__srow **rs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char d[32];
    cl__fmt_duration(d, sizeof d, rs[i]->wake_mean_ms / 1e3);
    fprintf(f, "%s%s under `%s`", i ? (i + 1 == n ? " and " : ", ") : "", d, rs[i]->executor);
    if (!cl__executor_fixed(rs[i]->executor))
      fprintf(f, " (%u worker%s)", rs[i]->workers, rs[i]->workers == 1 ? "" : "s");
  }
}

/* The convoy: mean wakeup latency beside a CPU-bound task, with the
 * emulated GIL, without it, and under CPython's own (cl__convoy_rows). */
static void convoy_bullet(FILE *f, const struct report *rp) {
  const struct cl__srow *rows[MAX_EXECS * 2], *gil[MAX_EXECS * 2], *c[MAX_EXECS * 2],
      *py[MAX_EXECS * 2], *alone = NULL;
  size_t n = cl__convoy_rows(rp->s, rows, sizeof rows / sizeof rows[0]), ng = 0, nc = 0, np = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(rows[i]->executor, "sequential") == 0)
      alone = rows[i];
    else if (is_baseline(rows[i]->executor))
      continue;
    else if (is_py(rows[i]->executor))
      py[np++] = rows[i];
    else if (rows[i]->gil)
      gil[ng++] = rows[i];
    else
      c[nc++] = rows[i];
  }
  if (!ng && !nc && !np) return;
  double interval = isfinite(rp->m->switch_interval_ms) ? rp->m->switch_interval_ms : 5.0;
  const struct cl__srow *r0 = rows[0];
  fprintf(f, "- The convoy (`%s`", r0->workload);
  if (r0->tasks > 1 && isfinite(r0->delay_s) && r0->delay_s > 0) {
    char d[32];
    cl__fmt_duration(d, sizeof d, r0->delay_s);
    fprintf(f, ": %llu I/O tasks wake after %s beside one CPU-bound task",
            (unsigned long long)(r0->tasks - 1), d);
  }
  fputs("): ", f);
  const char *sep = "";
  if (ng) {
    fprintf(f, "with the emulated GIL (switch interval %g ms) a wakeup waited ", interval);
    wake_list(f, gil, ng);
    sep = "; ";
  }
  if (nc) {
    fprintf(f, "%s%s", sep, ng ? "without it " : "without a GIL a wakeup waited ");
    wake_list(f, c, nc);
    sep = "; ";
  }
  if (np) {
    fprintf(f, "%sunder CPython's own GIL (switch interval 5 ms) ", sep);
    wake_list(f, py, np);
  }
  fputs(".", f);
  /* The test: at least half the interval with a GIL, near zero without. */
  bool convoy = ng > 0, free_ = nc > 0;
  for (size_t i = 0; i < ng; i++)
    convoy = convoy && gil[i]->wake_mean_ms >= 0.5 * interval;
  for (size_t i = 0; i < nc; i++)
    free_ = free_ && c[i]->wake_mean_ms < 0.1 * interval;
  if (convoy && free_)
    fputs(" Under the GIL a wakeup waited on average at least half a switch interval for the lock "
          "(the convoy effect); without it, less than a tenth of one.",
          f);
  if (alone) {
    char d[32];
    cl__fmt_duration(d, sizeof d, alone->wake_mean_ms / 1e3);
    fprintf(f, " With nothing beside it (`sequential`) a wakeup took %s.", d);
  }
  fputc('\n', f);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Granularity: where each executor first beats sequential in a size sweep. */
static void granularity_bullets(FILE *f, const struct report *rp) {
  const char *ws[MAX_WORKLOADS], *ex[MAX_EXECS];
  size_t nw = distinct_workloads(rp->s, ws, MAX_WORKLOADS);
  size_t ne = cl__executor_order(rp->s, ex, MAX_EXECS);
  for (size_t wi = 0; wi < nw; wi++) {
    uint64_t sizes[64];
    size_t nz = 0;
    for (size_t i = 0; i < rp->s->n && nz < 64; i++) {
      const struct cl__srow *r = &rp->s->rows[i];
      bool seen = strcmp(r->workload, ws[wi]) != 0;
      for (size_t k = 0; k < nz && !seen; k++)
        seen = sizes[k] == r->size;
      if (!seen) sizes[nz++] = r->size;
    }
    if (nz < 2 || strcmp(workload_kind(rp->s, ws[wi]), "probe") == 0) continue;
    qsort(sizes, nz, sizeof sizes[0], cmp_u64);
    fprintf(f, "- On `%s` with sizes %llu to %llu: ", ws[wi], (unsigned long long)sizes[0],
            (unsigned long long)sizes[nz - 1]);
    int said = 0;
    for (size_t e = 0; e < ne; e++) {
      if (is_baseline(ex[e])) continue;
      for (int g = 0; g < 2; g++) {
        bool ran = false;
        uint64_t win = 0;
        double per_task = NAN;
        for (size_t z = 0; z < nz && !win; z++) {
          uint64_t tasks = 0;
          for (size_t i = 0; i < rp->s->n; i++)
            if (strcmp(rp->s->rows[i].workload, ws[wi]) == 0 && rp->s->rows[i].size == sizes[z] &&
                rp->s->rows[i].tasks > tasks)
              tasks = rp->s->rows[i].tasks;
          const struct cl__srow *base = cl__baseline_row(rp->s, ws[wi], tasks, sizes[z]);
          const struct cl__srow *r = cl__best_row(rp->s, ws[wi], ex[e], g == 1, tasks, sizes[z]);
          if (!base || !r || !tasks) continue;
          ran = true;
          if (cl__beats_sequential(r, cl__row_base_s(r, base))) {
            win = sizes[z];
            per_task = base->median_s / (double)tasks;
          }
        }
        if (!ran) continue;
        fputs(said++ ? "; " : "", f);
        if (win) {
          char d[32];
          cl__fmt_duration(d, sizeof d, per_task);
          fprintf(f, "`%s`%s first beat sequential at size %llu (%s per task)", ex[e],
                  g ? " (GIL)" : "", (unsigned long long)win, d);
        } else {
          fprintf(f, "`%s`%s never beat sequential", ex[e], g ? " (GIL)" : "");
        }
      }
    }
    fputs(".\n", f);
  }
}

/* I/O concurrency: wall time at the fewest and the most tasks in flight. */
static void io_bullet(FILE *f, const struct report *rp) {
  const char *ws[MAX_WORKLOADS], *ex[MAX_EXECS];
  size_t nw = distinct_workloads(rp->s, ws, MAX_WORKLOADS);
  size_t ne = cl__executor_order(rp->s, ex, MAX_EXECS);
  for (size_t wi = 0; wi < nw; wi++) {
    uint64_t tasks = 0, size = 0, lo = UINT64_MAX, hi = 0;
    cl__main_group(rp->s, ws[wi], &tasks, &size);
    double delay = NAN;
    for (size_t i = 0; i < rp->s->n; i++) {
      const struct cl__srow *r = &rp->s->rows[i];
      if (strcmp(r->workload, ws[wi]) != 0 || strcmp(r->kind, "io") != 0 || r->size != size)
        continue;
      lo = r->tasks < lo ? r->tasks : lo;
      hi = r->tasks > hi ? r->tasks : hi;
      if (isfinite(r->delay_s) && r->delay_s > 0) delay = r->delay_s;
    }
    if (hi <= lo || lo == UINT64_MAX) continue;
    fprintf(f, "- On `%s` with %llu to %llu tasks in flight", ws[wi], (unsigned long long)lo,
            (unsigned long long)hi);
    if (isfinite(delay)) {
      char d[32];
      cl__fmt_duration(d, sizeof d, delay);
      fprintf(f, " (each waits %s)", d);
    }
    fputs(": ", f);
    int said = 0;
    for (size_t e = 0; e < ne; e++) {
      if (!cl__executor_all_in_flight(ex[e])) continue;
      const struct cl__srow *a = cl__story_row(rp->s, ws[wi], ex[e], false, lo, size);
      const struct cl__srow *b = cl__story_row(rp->s, ws[wi], ex[e], false, hi, size);
      if (!a || !b) continue;
      char da[32], db[32];
      cl__fmt_duration(da, sizeof da, a->median_s);
      cl__fmt_duration(db, sizeof db, b->median_s);
      fprintf(f, "%s`%s` took %s with %llu tasks and %s with %llu", said++ ? "; " : "", ex[e], da,
              (unsigned long long)lo, db, (unsigned long long)hi);
    }
    if (!said) fputs("no executor ran every task at once", f);
    fputs(".\n", f);
    return;
  }
}

static bool have_png(const struct report *rp, const char *name) {
  char path[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof path, "%s/plots/%s.png", rp->dir, name);
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

static const char *const captions[CL__NFIGURES] = {
    "**The story.** Each executor's best speedup over sequential on a CPU-bound and an "
    "I/O-bound workload (bar: the median; whisker: the 95% interval of the median, the "
    "sequential time taken as exact). Hatched bars ran under the emulated GIL, pale bars in "
    "CPython (against `py.sequential`); the label above a bar gives its speedup and the worker "
    "count of its best run.",
    "**Speedup against workers**, a panel per workload. The dashed diagonal is ideal speedup, "
    "the dotted curve Amdahl's law with the serial fraction measured by the Karp-Flatt metric, "
    "the vertical line the number of cores. Executors without a worker count (`threads`: a "
    "thread per task; `event_loop`: one thread) are flat lines; dashed lines ran under the "
    "emulated GIL.",
    "**Granularity**: speedup against the time one task takes sequentially. A circle marks the "
    "smallest task at which each executor beats sequential (at least 10% faster, its whole 95% "
    "interval above 1).",
    "**I/O concurrency**: wall time and peak memory (max RSS of the process) per task against "
    "the number of tasks in flight. The dotted line is one delay, the least any executor can "
    "take.",
    "**The convoy**: how long an I/O task waits, after its I/O ends, to run again beside a "
    "CPU-bound thread (bar: the mean wakeup latency; whisker: up to the largest; medians over "
    "the repetitions). Grouped: C without a GIL, C under the emulated GIL (hatched), CPython "
    "(pale). The dashed line is the switch interval: a woken thread under a GIL waits for the "
    "holder to drop the lock, which it does only once asked and the interval has passed."};

static const char *const missing_hint[CL__NFIGURES] = {
    "No story figure: this run has neither a CPU-bound nor an I/O-bound workload with a "
    "sequential baseline.",
    "No speedup figure: no workload (other than a probe) has a sequential baseline.",
    "No granularity figure: this run has no size sweep (for one, run `conlab run -w cpu.sumsq "
    "--size 1000,10000,100000,1000000`).",
    "No I/O concurrency figure: this run has no I/O workload with several task counts (for one, "
    "run `conlab run -w io.sleep -e threads,event_loop --tasks 10,100,1000`).",
    "No convoy figure: this run measured no wakeup latency of a probe (for one, run `conlab run "
    "--suite probe`)."};

static void machine_table(FILE *f, const struct report *rp) {
  const struct cl__run_meta *m = rp->m;
  fputs("## Machine\n\n", f);
  if (!m->have_json) {
    fputs("run.json is missing or unreadable: the machine is unknown.\n\n", f);
    return;
  }
  fputs("| | |\n|---|---|\n", f);
  fprintf(f, "| CPU | %s |\n", m->cpu_model[0] ? m->cpu_model : "unknown");
  fprintf(f, "| Cores | %u online CPUs; the figures assume %u physical cores |\n", m->online_cpus,
          rp->cores);
  if (isfinite(m->memory_bytes))
    fprintf(f, "| Memory | %.1f GiB |\n", m->memory_bytes / (1024.0 * 1024 * 1024));
  if (m->kernel[0]) fprintf(f, "| Kernel | %s |\n", m->kernel);
  fprintf(f, "| CPU frequency governor | %s |\n", m->governor[0] ? m->governor : "not exposed");
  if (m->loadavg[0]) fprintf(f, "| Load average at start | %s |\n", m->loadavg);
  fprintf(f, "| Compiler | %s", m->compiler[0] ? m->compiler : "unknown");
  if (m->build_type[0]) fprintf(f, ", %s build", m->build_type);
  if (m->flags[0] && strspn(m->flags, " ") < strlen(m->flags)) fprintf(f, ", flags `%s`", m->flags);
  fputs(" |\n", f);
  fprintf(f, "| Environment | %s |\n\n",
          m->environment[0] ? m->environment : "no OMP_* or PYTHONHASHSEED variable set");
}

static void results_table(FILE *f, const struct report *rp) {
  fputs("## Results\n\nMedian wall time over the repetitions, its 95% interval, and the speedup "
        "over the sequential run of the same batch.\n\n"
        "| workload | executor | workers | GIL | tasks | size | median | 95% interval | speedup "
        "| efficiency | check |\n"
        "|---|---|--:|:-:|--:|--:|--:|--:|--:|--:|:-:|\n",
        f);
  for (size_t i = 0; i < rp->s->n; i++) {
    const struct cl__srow *r = &rp->s->rows[i];
    char med[32], lo[32], hi[32], sp[32] = "-", ef[32] = "-";
    cl__fmt_duration(med, sizeof med, r->median_s);
    cl__fmt_duration(lo, sizeof lo, r->ci_low_s);
    cl__fmt_duration(hi, sizeof hi, r->ci_high_s);
    if (isfinite(r->speedup)) snprintf(sp, sizeof sp, "%.2fx", r->speedup);
    /* Efficiency means nothing for executors without a worker count. */
    if (isfinite(r->efficiency) && !cl__executor_fixed(r->executor))
      snprintf(ef, sizeof ef, "%.0f%%", r->efficiency * 100);
    const char *check = r->ok                                      ? "ok"
                        : !r->checksum_ok && isfinite(r->median_s) ? "MISMATCH"
                                                                   : "FAILED";
    fprintf(f, "| %s | %s | %u | %s | %llu | %llu | %s | %s - %s | %s | %s | %s |\n", r->workload,
            r->executor, r->workers, r->gil ? "yes" : "", (unsigned long long)r->tasks,
            (unsigned long long)r->size, med, lo, hi, sp, ef, check);
  }
  fputc('\n', f);
}

static int fill_report(FILE *f, const void *arg) {
  const struct report *rp = arg;
  const struct cl__run_meta *m = rp->m;
  fprintf(f, "# conlab run %s\n\n", m->run_id);
  if (m->have_json) {
    fprintf(f, "`%s`", m->command[0] ? m->command : "conlab run");
    if (m->started[0]) fprintf(f, ", started %s", m->started);
    if (isfinite(m->duration_s)) fprintf(f, ", took %.1f s", m->duration_s);
    fprintf(f, "%s.\n\n", m->complete ? "" : "; **the run did not complete** (see FAILED rows)");
  }
  fputs("## What the run shows\n\n", f);
  headline(f, rp);
  double load = m->loadavg[0] ? strtod(m->loadavg, NULL) : 0;
  if (load >= 0.5 * rp->cores)
    fprintf(f,
            "> The load average was %.2f when the run started, on %u cores: other programs "
            "competed for the CPUs, so CPU-bound speedups understate what the cores can do. "
            "Rerun on a quiet machine to see them.\n\n",
            load, rp->cores);
  const char *ws[MAX_WORKLOADS];
  size_t nw = distinct_workloads(rp->s, ws, MAX_WORKLOADS);
  for (size_t i = 0; i < nw; i++)
    workload_bullet(f, rp, ws[i]);
  convoy_bullet(f, rp);
  granularity_bullets(f, rp);
  io_bullet(f, rp);
  fputs("\n## Figures\n\n", f);
  if (rp->note) fprintf(f, "%s\n\n", rp->note);
  for (int i = 0; i < CL__NFIGURES; i++) {
    const char *name = cl__figure_names[i];
    if (have_png(rp, name))
      fprintf(f, "![%s](plots/%s.png)\n\n%s ([SVG](plots/%s.svg))\n\n", name, name, captions[i],
              name);
    else if (!rp->note)
      fprintf(f, "%s\n\n", missing_hint[i]);
  }
  machine_table(f, rp);
  results_table(f, rp);
  return 0;
}

int cl__report_write(const char *dir, const struct cl__summary_csv *s, const struct cl__run_meta *m,
                     const char *plots_note) {
  struct report rp = {dir, s, m, plots_note, cl__plot_cores(m)};
  return cl__write_atomic(dir, "report.md", fill_report, &rp);
}
