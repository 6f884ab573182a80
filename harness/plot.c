/* Figures: derives small per-figure data files from summary.csv, copies the
 * gnuplot scripts into the run directory and runs gnuplot on them. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conlab/error.h"
#include "harness/harness.h"
#include "harness/plot.h"

#ifndef CL_PLOTS_DIR
#define CL_PLOTS_DIR ""
#endif

const char *const cl__figure_names[CL__NFIGURES] = {"story", "speedup", "granularity",
                                                    "io_concurrency", "convoy"};

/* Palette indices into common.gp's `palette` (1-based). */
enum {
  COL_BLUE = 1,
  COL_ORANGE,
  COL_GREEN,
  COL_PINK,
  COL_BROWN,
  COL_LPINK,
  COL_GREY,
  COL_YELLOW,
  COL_SKY
};
/* Series variants: how common.gp dashes lines and fills bars. */
enum { VAR_C = 0, VAR_GIL = 1, VAR_PY = 2 };

#define MAX_PANELS 32
#define MAX_EXECS 64

struct pt {
  double x, y, lo, hi, extra;
};

struct series {
  char title[160], note[64];
  int color, variant;
  bool flat;
  double winx, winy; /* granularity: where it first beats sequential */
  struct pt *pts;
  size_t n;
};

struct panel {
  char title[192];
  char kind[16];       /* "" (speedup bars or curves) or "convoy" (wakeup latency bars) */
  size_t first, count; /* series [first, first + count), flat ones last */
  double xmin, xmax, ymin, ymax, f, extra;
  bool ylog;
  char fnote[160];
};

struct figure {
  const char *name;
  double switch_ms; /* the emulated GIL's switch interval (ms), for the convoy */
  struct panel panels[MAX_PANELS];
  size_t np;
  struct series *series;
  size_t ns, cap;
};

static void figure_free(struct figure *fg) {
  for (size_t i = 0; i < fg->ns; i++)
    free(fg->series[i].pts);
  free(fg->series);
  fg->series = NULL;
  fg->ns = fg->cap = 0;
  fg->np = 0;
}

static struct series *add_series(struct figure *fg) {
  if (fg->ns == fg->cap) {
    size_t nc = fg->cap ? 2 * fg->cap : 16;
    struct series *ns = realloc(fg->series, nc * sizeof *ns);
    if (!ns) return NULL;
    fg->series = ns;
    fg->cap = nc;
  }
  struct series *s = &fg->series[fg->ns++];
  memset(s, 0, sizeof *s);
  s->winx = s->winy = NAN;
  return s;
}

static int add_pt(struct series *s, struct pt p) {
  struct pt *np = realloc(s->pts, (s->n + 1) * sizeof *np);
  if (!np) return cl_error_set(CL_ENOMEM, "plot data");
  s->pts = np;
  s->pts[s->n++] = p;
  return 0;
}

static int exec_color(const char *name) {
  static const struct {
    const char *name;
    int color;
  } map[] = {{"sequential", COL_GREY},    {"threads", COL_BLUE},    {"thread_pool", COL_ORANGE},
             {"process_pool", COL_GREEN}, {"event_loop", COL_PINK}, {"openmp", COL_BROWN}};
  if (strncmp(name, "py.", 3) == 0) name += 3;
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(map[i].name, name) == 0) return map[i].color;
  /* Unknown executors cycle through the colours left over. */
  static const int spare[] = {COL_SKY, COL_LPINK, COL_YELLOW};
  unsigned h = 0;
  for (const char *c = name; *c; c++)
    h = h * 31 + (unsigned char)*c;
  return spare[h % 3];
}

static int exec_variant(const char *name, bool gil) {
  if (strncmp(name, "py.", 3) == 0) return VAR_PY;
  return gil ? VAR_GIL : VAR_C;
}

static void exec_title(char *buf, size_t len, const char *name, bool gil, bool fixed) {
  const char *base = strncmp(name, "py.", 3) == 0 ? name + 3 : name;
  const char *how = !fixed                            ? ""
                    : strcmp(base, "threads") == 0    ? " (a thread per task)"
                    : strcmp(base, "event_loop") == 0 ? " (one thread)"
                                                      : "";
  snprintf(buf, len, "%s%s%s", name, gil ? " + GIL" : "", how);
}

static bool is_baseline(const char *ex) {
  return strcmp(ex, "sequential") == 0 || strcmp(ex, "py.sequential") == 0;
}

static bool row_in(const struct cl__srow *r, const char *w, uint64_t tasks, uint64_t size) {
  return strcmp(r->workload, w) == 0 && r->tasks == tasks && r->size == size;
}

/* Speedup interval from the row's time interval (the baseline taken as exact). */
static struct pt speedup_pt(double x, const struct cl__srow *r, const struct cl__srow *base) {
  struct pt p = {x, r->speedup, r->speedup, r->speedup, NAN};
  double b = cl__row_base_s(r, base);
  if (isfinite(b) && isfinite(r->ci_low_s) && isfinite(r->ci_high_s) && r->ci_low_s > 0) {
    p.lo = b / r->ci_high_s;
    p.hi = b / r->ci_low_s;
  }
  return p;
}

/* Distinct workloads in file order. */
static size_t workloads(const struct cl__summary_csv *s, const char **out, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < s->n && n < max; i++) {
    bool seen = false;
    for (size_t k = 0; k < n && !seen; k++)
      seen = strcmp(out[k], s->rows[i].workload) == 0;
    if (!seen) out[n++] = s->rows[i].workload;
  }
  return n;
}

static const char *workload_kind(const struct cl__summary_csv *s, const char *w) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->rows[i].workload, w) == 0) return s->rows[i].kind;
  return "";
}

/* Probes measure something other than speedup (the convoy's wakeup
 * latency): the speedup and granularity figures leave them out. */
static bool is_probe(const struct cl__summary_csv *s, const char *w) {
  return strcmp(workload_kind(s, w), "probe") == 0;
}

static void panel_title(char *buf, size_t len, const struct cl__summary_csv *s, const char *w,
                        uint64_t tasks, uint64_t size) {
  const char *kind = workload_kind(s, w);
  bool bound = strcmp(kind, "cpu") == 0 || strcmp(kind, "io") == 0 || strcmp(kind, "mem") == 0;
  char note[64];
  cl__group_note(note, sizeof note, s, w, tasks, size);
  snprintf(buf, len, "%s (%s%s)%s%s", w, kind, bound ? "-bound" : "", note[0] ? ", " : "", note);
}

static void range_of(const struct figure *fg, struct panel *p) {
  p->ymin = INFINITY;
  p->ymax = -INFINITY;
  for (size_t i = p->first; i < p->first + p->count; i++)
    for (size_t k = 0; k < fg->series[i].n; k++) {
      const struct pt *q = &fg->series[i].pts[k];
      double lo = isfinite(q->lo) ? fmin(q->lo, q->y) : q->y;
      double hi = isfinite(q->hi) ? fmax(q->hi, q->y) : q->y;
      if (lo > 0) p->ymin = fmin(p->ymin, lo);
      p->ymax = fmax(p->ymax, hi);
    }
}

/* The most workers an executor with a worker count ran with in a group. */
static unsigned group_workers(const struct cl__summary_csv *s, const char *w, uint64_t tasks,
                              uint64_t size) {
  unsigned wmax = 1;
  for (size_t i = 0; i < s->n; i++)
    if (row_in(&s->rows[i], w, tasks, size) && !cl__executor_fixed(s->rows[i].executor) &&
        s->rows[i].workers > wmax)
      wmax = s->rows[i].workers;
  return wmax;
}

/* An executor with a worker count of its own: it ran only at 1 worker while
 * others in the group ran at more, or it is one by construction. */
static bool fixed_in_group(const struct cl__summary_csv *s, const char *ex, const char *w,
                           uint64_t tasks, uint64_t size, unsigned group_max) {
  if (cl__executor_fixed(ex)) return true;
  for (size_t i = 0; i < s->n; i++)
    if (row_in(&s->rows[i], w, tasks, size) && strcmp(s->rows[i].executor, ex) == 0 &&
        s->rows[i].workers > 1)
      return false;
  return group_max > 1;
}

/* Figure 1: speedup against workers, a panel per workload. */
static int build_speedup(const struct cl__summary_csv *s, unsigned cores, struct figure *fg) {
  const char *ws[MAX_PANELS], *ex[MAX_EXECS];
  size_t nw = workloads(s, ws, MAX_PANELS), ne = cl__executor_order(s, ex, MAX_EXECS);
  for (size_t wi = 0; wi < nw; wi++) {
    uint64_t tasks = 0, size = 0;
    cl__main_group(s, ws[wi], &tasks, &size);
    const struct cl__srow *base = cl__baseline_row(s, ws[wi], tasks, size);
    if (!base || is_probe(s, ws[wi])) continue;
    struct panel *p = &fg->panels[fg->np];
    memset(p, 0, sizeof *p);
    p->first = fg->ns;
    p->f = p->extra = NAN;
    unsigned wmax = group_workers(s, ws[wi], tasks, size);
    p->xmin = 1;
    p->xmax = wmax > cores ? wmax : cores;
    if (p->xmax < 2) p->xmax = 2;
    const struct cl__srow *kf = NULL;
    for (size_t e = 0; e < ne; e++) {
      if (is_baseline(ex[e])) continue;
      bool fixed = fixed_in_group(s, ex[e], ws[wi], tasks, size, wmax);
      for (int g = 0; g < 2; g++) {
        /* Rows of this series, in worker order. */
        const struct cl__srow *rows[CL__MAX_WORKER_COUNTS * 2];
        size_t nr = 0;
        for (size_t i = 0; i < s->n && nr < sizeof rows / sizeof rows[0]; i++) {
          const struct cl__srow *r = &s->rows[i];
          if (r->ok && isfinite(r->speedup) && r->gil == (g == 1) &&
              strcmp(r->executor, ex[e]) == 0 && row_in(r, ws[wi], tasks, size))
            rows[nr++] = r;
        }
        if (!nr) continue;
        for (size_t a = 1; a < nr; a++)
          for (size_t b = a; b > 0 && rows[b - 1]->workers > rows[b]->workers; b--) {
            const struct cl__srow *t = rows[b];
            rows[b] = rows[b - 1];
            rows[b - 1] = t;
          }
        struct series *se = add_series(fg);
        if (!se) return cl_error_set(CL_ENOMEM, "plot data");
        exec_title(se->title, sizeof se->title, ex[e], g == 1, fixed);
        se->color = exec_color(ex[e]);
        se->variant = exec_variant(ex[e], g == 1);
        se->flat = fixed;
        int err = 0;
        if (fixed) {
          const struct cl__srow *b = cl__best_row(s, ws[wi], ex[e], g == 1, tasks, size);
          struct pt q = speedup_pt(1, b, base);
          err = add_pt(se, q);
          q.x = p->xmax;
          if (!err) err = add_pt(se, q);
        } else {
          for (size_t k = 0; k < nr && !err; k++)
            err = add_pt(se, speedup_pt(rows[k]->workers, rows[k], base));
          for (size_t k = 0; k < nr && g == 0 && se->variant == VAR_C; k++)
            if (rows[k]->workers > 1 && isfinite(rows[k]->karp_flatt) &&
                (!kf || rows[k]->workers > kf->workers ||
                 (rows[k]->workers == kf->workers && rows[k]->speedup > kf->speedup)))
              kf = rows[k];
        }
        if (err) return err;
      }
    }
    p->count = fg->ns - p->first;
    if (!p->count) continue;
    /* Flat series last, so that the script draws them with one clause. */
    for (size_t a = p->first + 1; a < fg->ns; a++)
      for (size_t b = a; b > p->first && fg->series[b - 1].flat && !fg->series[b].flat; b--) {
        struct series t = fg->series[b];
        fg->series[b] = fg->series[b - 1];
        fg->series[b - 1] = t;
      }
    panel_title(p->title, sizeof p->title, s, ws[wi], tasks, size);
    if (kf) {
      p->f = fmin(fmax(kf->karp_flatt, 0.0), 1.0);
      snprintf(p->fnote, sizeof p->fnote, "Amdahl fit: serial fraction %.3f (%s, %u workers)", p->f,
               kf->executor, kf->workers);
    }
    range_of(fg, p);
    if (p->ymax < p->xmax) p->ymax = p->xmax;
    if (p->ymin > 1) p->ymin = 1;
    p->ylog = p->ymax > 4 * p->xmax || p->ymin < 0.2;
    if (++fg->np == MAX_PANELS) break;
  }
  return 0;
}

/* The workload a story panel shows: the preferred one, else the first of a kind. */
static const char *pick_workload(const struct cl__summary_csv *s, const char *prefer,
                                 const char *kind, const char *kind2) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->rows[i].workload, prefer) == 0) return prefer;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->rows[i].kind, kind) == 0) return s->rows[i].workload;
  for (size_t i = 0; kind2 && i < s->n; i++)
    if (strcmp(s->rows[i].kind, kind2) == 0) return s->rows[i].workload;
  return NULL;
}

static int convoy_panel(const struct cl__summary_csv *s, struct figure *fg);

/* Figure 2: the story, a CPU-bound and an I/O-bound panel of bars, and the
 * convoy's wakeup latency when the run measured it. */
static int build_story(const struct cl__summary_csv *s, unsigned cores, struct figure *fg) {
  (void)cores;
  const char *ex[MAX_EXECS];
  size_t ne = cl__executor_order(s, ex, MAX_EXECS);
  const char *pick[2] = {pick_workload(s, "cpu.sumsq", "cpu", NULL),
                         pick_workload(s, "io.sleep", "io", "mixed")};
  const char *label[2] = {"CPU-bound", "I/O-bound"};
  for (int k = 0; k < 2; k++) {
    if (!pick[k]) continue;
    uint64_t tasks = 0, size = 0;
    cl__main_group(s, pick[k], &tasks, &size);
    const struct cl__srow *base = cl__baseline_row(s, pick[k], tasks, size);
    if (!base) continue;
    unsigned wmax = group_workers(s, pick[k], tasks, size);
    struct panel *p = &fg->panels[fg->np];
    memset(p, 0, sizeof *p);
    p->first = fg->ns;
    p->f = p->extra = NAN;
    for (size_t e = 0; e < ne; e++) {
      bool fixed = fixed_in_group(s, ex[e], pick[k], tasks, size, wmax);
      for (int g = 0; g < 2; g++) {
        const struct cl__srow *r = cl__story_row(s, pick[k], ex[e], g == 1, tasks, size);
        if (!r) continue;
        struct series *se = add_series(fg);
        if (!se) return cl_error_set(CL_ENOMEM, "plot data");
        snprintf(se->title, sizeof se->title, "%s%s", ex[e], g ? " + GIL" : "");
        bool loops = strcmp(ex[e], "event_loop") == 0;
        if (loops && r->workers == 1)
          snprintf(se->note, sizeof se->note, "one loop");
        else if (!fixed)
          snprintf(se->note, sizeof se->note, "%u %s%s", r->workers, loops ? "loop" : "worker",
                   r->workers == 1 ? "" : "s");
        se->color = exec_color(ex[e]);
        se->variant = exec_variant(ex[e], g == 1);
        /* pextra: where the CPython bars begin (a separator is drawn there). */
        if (se->variant == VAR_PY && !isfinite(p->extra))
          p->extra = (double)(fg->ns - p->first) - 0.5;
        int err = add_pt(se, speedup_pt((double)(fg->ns - p->first), r, base));
        if (err) return err;
      }
    }
    p->count = fg->ns - p->first;
    if (!p->count) continue;
    char note[64];
    cl__group_note(note, sizeof note, s, pick[k], tasks, size);
    snprintf(p->title, sizeof p->title, "%s: %s%s%s%s", label[k], pick[k], note[0] ? " (" : "",
             note, note[0] ? ")" : "");
    p->xmin = 0.4;
    p->xmax = (double)p->count + 0.6;
    range_of(fg, p);
    /* Room above the tallest whisker for the upright value labels. */
    p->ylog = p->ymax > 12;
    p->ymin = p->ylog ? fmin(0.5, p->ymin / 1.5) : 0;
    p->ymax = p->ylog ? p->ymax * pow(p->ymax / p->ymin, 0.45) : fmax(p->ymax * 1.55, 1.6);
    fg->np++;
  }
  /* The convoy beside them, when the run measured it. */
  if (!fg->np) return 0;
  size_t np = fg->np;
  int err = convoy_panel(s, fg);
  if (err || fg->np == np) return err;
  struct panel *p = &fg->panels[np];
  snprintf(p->title, sizeof p->title, "Convoy: %s", cl__convoy_workload(s));
  /* Room above the whiskers for the upright labels and the group names. */
  for (size_t i = p->first; i < p->first + p->count; i++)
    p->ymax = fmax(p->ymax, fg->series[i].pts[0].hi * 10);
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Distinct values of `size` (or `tasks`) of a workload, sorted. */
static size_t distinct(const struct cl__summary_csv *s, const char *w, bool want_tasks,
                       uint64_t fixed_size, uint64_t *out, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < s->n && n < max; i++) {
    const struct cl__srow *r = &s->rows[i];
    if (strcmp(r->workload, w) != 0 || (want_tasks && r->size != fixed_size)) continue;
    uint64_t v = want_tasks ? r->tasks : r->size;
    bool seen = false;
    for (size_t k = 0; k < n && !seen; k++)
      seen = out[k] == v;
    if (!seen) out[n++] = v;
  }
  qsort(out, n, sizeof *out, cmp_u64);
  return n;
}

static uint64_t max_tasks_at(const struct cl__summary_csv *s, const char *w, uint64_t size) {
  uint64_t t = 0;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->rows[i].workload, w) == 0 && s->rows[i].size == size && s->rows[i].tasks > t)
      t = s->rows[i].tasks;
  return t;
}

/* Figure 3: speedup against task size, a panel per workload with a size sweep. */
static int build_granularity(const struct cl__summary_csv *s, unsigned cores, struct figure *fg) {
  (void)cores;
  const char *ws[MAX_PANELS], *ex[MAX_EXECS];
  size_t nw = workloads(s, ws, MAX_PANELS), ne = cl__executor_order(s, ex, MAX_EXECS);
  for (size_t wi = 0; wi < nw && fg->np < MAX_PANELS; wi++) {
    uint64_t sizes[CL__MAX_SWEEP * 4];
    size_t nz = distinct(s, ws[wi], false, 0, sizes, sizeof sizes / sizeof sizes[0]);
    if (nz < 2 || is_probe(s, ws[wi])) continue;
    struct panel *p = &fg->panels[fg->np];
    memset(p, 0, sizeof *p);
    p->first = fg->ns;
    p->f = p->extra = NAN;
    p->xmin = INFINITY;
    p->xmax = 0;
    for (size_t e = 0; e < ne; e++) {
      if (is_baseline(ex[e])) continue;
      for (int g = 0; g < 2; g++) {
        struct series *se = NULL;
        for (size_t z = 0; z < nz; z++) {
          uint64_t tasks = max_tasks_at(s, ws[wi], sizes[z]);
          const struct cl__srow *base = cl__baseline_row(s, ws[wi], tasks, sizes[z]);
          const struct cl__srow *r = cl__best_row(s, ws[wi], ex[e], g == 1, tasks, sizes[z]);
          if (!base || !r || !tasks) continue;
          if (!se) {
            se = add_series(fg);
            if (!se) return cl_error_set(CL_ENOMEM, "plot data");
            se->color = exec_color(ex[e]);
            se->variant = exec_variant(ex[e], g == 1);
          }
          struct pt q = speedup_pt(base->median_s / (double)tasks, r, base);
          q.extra = (double)sizes[z];
          p->xmin = fmin(p->xmin, q.x);
          p->xmax = fmax(p->xmax, q.x);
          if (!isfinite(se->winx) && cl__beats_sequential(r, cl__row_base_s(r, base))) {
            se->winx = q.x;
            se->winy = q.y;
          }
          int err = add_pt(se, q);
          if (err) return err;
        }
        if (!se) continue;
        char when[80] = "never beats sequential";
        if (isfinite(se->winx)) {
          char d[32];
          cl__fmt_duration(d, sizeof d, se->winx);
          snprintf(when, sizeof when, "beats sequential from %s", d);
        }
        snprintf(se->title, sizeof se->title, "%s%s: %s", ex[e], g ? " + GIL" : "", when);
      }
    }
    p->count = fg->ns - p->first;
    if (!p->count) continue;
    snprintf(p->title, sizeof p->title, "%s (%s): tasks of growing size", ws[wi],
             workload_kind(s, ws[wi]));
    range_of(fg, p);
    p->ylog = true;
    p->xmin /= 1.6;
    p->xmax *= 1.6;
    p->ymin = fmin(p->ymin / 1.5, 0.5);
    p->ymax = fmax(p->ymax * 1.5, 2);
    fg->np++;
  }
  return 0;
}

/* Figure 4: wall time and memory per task against tasks in flight. */
static int build_io(const struct cl__summary_csv *s, unsigned cores, struct figure *fg) {
  (void)cores;
  const char *ws[MAX_PANELS], *ex[MAX_EXECS], *w = NULL;
  size_t nw = workloads(s, ws, MAX_PANELS), ne = cl__executor_order(s, ex, MAX_EXECS);
  uint64_t tv[CL__MAX_SWEEP * 4], size = 0;
  size_t nt = 0;
  for (int pass = 0; pass < 2 && !w; pass++)
    for (size_t wi = 0; wi < nw && !w; wi++) {
      if (pass == 0 ? strcmp(ws[wi], "io.sleep") != 0 : strcmp(workload_kind(s, ws[wi]), "io") != 0)
        continue;
      uint64_t tasks;
      cl__main_group(s, ws[wi], &tasks, &size);
      nt = distinct(s, ws[wi], true, size, tv, sizeof tv / sizeof tv[0]);
      if (nt >= 2) w = ws[wi];
    }
  if (!w) return 0;
  struct panel *p = &fg->panels[0];
  memset(p, 0, sizeof *p);
  p->f = NAN;
  p->extra = NAN;
  for (size_t e = 0; e < ne; e++) {
    if (!cl__executor_all_in_flight(ex[e])) continue;
    struct series *se = NULL;
    for (size_t t = 0; t < nt; t++) {
      const struct cl__srow *r = cl__story_row(s, w, ex[e], false, tv[t], size);
      if (!r) continue;
      if (!se) {
        se = add_series(fg);
        if (!se) return cl_error_set(CL_ENOMEM, "plot data");
        exec_title(se->title, sizeof se->title, ex[e], false, true);
        se->color = exec_color(ex[e]);
        se->variant = exec_variant(ex[e], false);
      }
      if (isfinite(r->delay_s) && r->delay_s > 0) p->extra = r->delay_s;
      struct pt q = {(double)tv[t], r->median_s, r->ci_low_s, r->ci_high_s,
                     isfinite(r->max_rss_kb) ? r->max_rss_kb / (double)tv[t] : NAN};
      int err = add_pt(se, q);
      if (err) return err;
    }
  }
  p->count = fg->ns;
  if (!p->count) return 0;
  snprintf(p->title, sizeof p->title, "%s: every task in flight at once", w);
  p->xmin = (double)tv[0] / 1.5;
  p->xmax = (double)tv[nt - 1] * 1.5;
  range_of(fg, p);
  if (isfinite(p->extra)) p->ymin = fmin(p->ymin, p->extra);
  p->ylog = true;
  fg->np = 1;
  return 0;
}

/* The convoy panel: a bar per row of cl__convoy_rows, its mean wakeup
 * latency (ms) with a whisker up to the largest; pf is the switch interval
 * drawn across it, pextra CPython's when that differs. No panel without rows. */
static int convoy_panel(const struct cl__summary_csv *s, struct figure *fg) {
  const struct cl__srow *rows[MAX_EXECS * 2];
  size_t n = cl__convoy_rows(s, rows, sizeof rows / sizeof rows[0]);
  if (!n || fg->np == MAX_PANELS) return 0;
  struct panel *p = &fg->panels[fg->np];
  memset(p, 0, sizeof *p);
  snprintf(p->kind, sizeof p->kind, "convoy");
  p->first = fg->ns;
  p->f = isfinite(fg->switch_ms) ? fg->switch_ms : 5.0;
  p->extra = NAN;
  double lo = INFINITY, hi = 0;
  for (size_t i = 0; i < n; i++) {
    const struct cl__srow *r = rows[i];
    struct series *se = add_series(fg);
    if (!se) return cl_error_set(CL_ENOMEM, "plot data");
    snprintf(se->title, sizeof se->title, "%s%s", r->executor, r->gil ? " + GIL" : "");
    if (is_baseline(r->executor))
      snprintf(se->note, sizeof se->note, "one at a time");
    else if (!cl__executor_fixed(r->executor))
      snprintf(se->note, sizeof se->note, "%u worker%s", r->workers, r->workers == 1 ? "" : "s");
    se->color = exec_color(r->executor);
    se->variant = exec_variant(r->executor, r->gil);
    /* CPython keeps its own interval (5 ms unless the program sets one). */
    if (se->variant == VAR_PY && fabs(p->f - 5.0) > 1e-6) p->extra = 5.0;
    struct pt q = {(double)(i + 1), r->wake_mean_ms, r->wake_mean_ms, r->wake_max_ms, NAN};
    int err = add_pt(se, q);
    if (err) return err;
    if (r->wake_mean_ms > 0) lo = fmin(lo, r->wake_mean_ms);
    hi = fmax(hi, r->wake_max_ms);
  }
  p->count = n;
  const struct cl__srow *r0 = rows[0];
  char delay[32] = "";
  if (isfinite(r0->delay_s) && r0->delay_s > 0) {
    cl__fmt_duration(delay, sizeof delay, r0->delay_s);
    snprintf(p->title, sizeof p->title,
             "%s: %llu I/O tasks wake after %s beside one CPU-bound task", r0->workload,
             (unsigned long long)(r0->tasks ? r0->tasks - 1 : 0), delay);
  } else {
    snprintf(p->title, sizeof p->title, "%s: I/O tasks wake beside one CPU-bound task",
             r0->workload);
  }
  p->xmin = 0.4;
  p->xmax = (double)n + 0.6;
  /* 0.05 ms to 50 ms unless the data reach beyond; room above for labels. */
  p->ylog = true;
  p->ymin = fmin(0.05, lo / 1.6);
  p->ymax = fmax(50.0, fmax(hi, p->f) * 4);
  fg->np++;
  return 0;
}

/* Figure 5: the convoy, a bar per row. */
static int build_convoy(const struct cl__summary_csv *s, unsigned cores, struct figure *fg) {
  (void)cores;
  return convoy_panel(s, fg);
}

/* ---- Writing the data (.dat) and variables (.vars) files. ---- */

static void gp_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void gp_num(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.9g", v);
  else
    fputs("NaN", f);
}

static int fill_dat(FILE *f, const void *arg) {
  const struct figure *fg = arg;
  fprintf(f,
          "# %s.dat: written by conlab from summary.csv for plots/%s.gp.\n"
          "# One block per series (gnuplot `index i-1` is series i of %s.vars).\n",
          fg->name, fg->name, fg->name);
  for (size_t i = 0; i < fg->ns; i++) {
    const struct series *se = &fg->series[i];
    fprintf(f, "%s# series %zu: %s\n# x y y_low y_high extra\n", i ? "\n\n" : "", i + 1, se->title);
    for (size_t k = 0; k < se->n; k++) {
      const struct pt *q = &se->pts[k];
      gp_num(f, q->x);
      fputc(' ', f);
      gp_num(f, q->y);
      fputc(' ', f);
      gp_num(f, q->lo);
      fputc(' ', f);
      gp_num(f, q->hi);
      fputc(' ', f);
      gp_num(f, q->extra);
      fputc('\n', f);
    }
  }
  return 0;
}

#define VAR_ARRAY(f, name, n) fprintf(f, "array %s[%zu]\n", name, (n) ? (n) : (size_t)1)

static int fill_vars(FILE *f, const void *arg) {
  const struct figure *fg = arg;
  fprintf(f,
          "# %s.vars: written by conlab from summary.csv, loaded by plots/%s.gp.\n"
          "# Panels p = 1..np show series first[p] .. first[p] + count[p] - 1.\n",
          fg->name, fg->name);
  fprintf(f, "np = %zu\nns = %zu\n", fg->np, fg->ns);
  static const char *const pnames[] = {"ptitle", "first",  "count", "flat_from", "xmin",
                                       "xmax",   "ymin",   "ymax",  "ylog",      "pf",
                                       "pfnote", "pextra", "pkind"};
  for (size_t k = 0; k < sizeof pnames / sizeof pnames[0]; k++)
    VAR_ARRAY(f, pnames[k], fg->np);
  for (size_t i = 0; i < fg->np; i++) {
    const struct panel *p = &fg->panels[i];
    fprintf(f, "ptitle[%zu] = ", i + 1);
    gp_str(f, p->title);
    size_t flat = p->first;
    while (flat < p->first + p->count && !fg->series[flat].flat)
      flat++;
    fprintf(f, "\nfirst[%zu] = %zu; count[%zu] = %zu; flat_from[%zu] = %zu; ylog[%zu] = %d\n",
            i + 1, p->first + 1, i + 1, p->count, i + 1, flat + 1, i + 1, p->ylog);
    const double nums[] = {p->xmin, p->xmax, p->ymin, p->ymax, p->f, p->extra};
    const char *nn[] = {"xmin", "xmax", "ymin", "ymax", "pf", "pextra"};
    for (size_t k = 0; k < 6; k++) {
      fprintf(f, "%s%s[%zu] = ", k ? "; " : "", nn[k], i + 1);
      gp_num(f, nums[k]);
    }
    fprintf(f, "\npfnote[%zu] = ", i + 1);
    gp_str(f, p->fnote);
    fprintf(f, "; pkind[%zu] = ", i + 1);
    gp_str(f, p->kind);
    fputc('\n', f);
  }
  static const char *const snames[] = {"stitle", "snote", "scolor", "svariant",
                                       "sflat",  "swinx", "swiny"};
  for (size_t k = 0; k < sizeof snames / sizeof snames[0]; k++)
    VAR_ARRAY(f, snames[k], fg->ns);
  for (size_t i = 0; i < fg->ns; i++) {
    const struct series *se = &fg->series[i];
    fprintf(f, "stitle[%zu] = ", i + 1);
    gp_str(f, se->title);
    fprintf(f, "; snote[%zu] = ", i + 1);
    gp_str(f, se->note);
    fprintf(f, "\nscolor[%zu] = %d; svariant[%zu] = %d; sflat[%zu] = %d; swinx[%zu] = ", i + 1,
            se->color, i + 1, se->variant, i + 1, se->flat, i + 1);
    gp_num(f, se->winx);
    fprintf(f, "; swiny[%zu] = ", i + 1);
    gp_num(f, se->winy);
    fputc('\n', f);
  }
  /* The legend: series with distinct titles, for a key shared by the panels. */
  size_t nl = 0, *legend = calloc(fg->ns ? fg->ns : 1, sizeof *legend);
  if (!legend) return cl_error_set(CL_ENOMEM, "plot legend");
  for (size_t i = 0; i < fg->ns; i++) {
    bool seen = false;
    for (size_t k = 0; k < nl && !seen; k++)
      seen = strcmp(fg->series[legend[k]].title, fg->series[i].title) == 0;
    if (!seen) legend[nl++] = i;
  }
  fprintf(f, "nl = %zu\n", nl);
  static const char *const lnames[] = {"ltitle", "lcolor", "lvariant", "lflat"};
  for (size_t k = 0; k < sizeof lnames / sizeof lnames[0]; k++)
    VAR_ARRAY(f, lnames[k], nl);
  for (size_t k = 0; k < nl; k++) {
    const struct series *se = &fg->series[legend[k]];
    fprintf(f, "ltitle[%zu] = ", k + 1);
    gp_str(f, se->title);
    fprintf(f, "; lcolor[%zu] = %d; lvariant[%zu] = %d; lflat[%zu] = %d\n", k + 1, se->color, k + 1,
            se->variant, k + 1, se->flat);
  }
  free(legend);
  return 0;
}

struct run_vars {
  const struct cl__run_meta *m;
  unsigned cores;
};

static int fill_run_vars(FILE *f, const void *arg) {
  const struct run_vars *rv = arg;
  fputs("# run.vars: written by conlab from run.json, loaded by every plots/*.gp.\n", f);
  fputs("run_id = ", f);
  gp_str(f, rv->m->run_id);
  fprintf(f, "\nrun_cores = %u\n", rv->cores);
  char machine[256];
  if (rv->m->cpu_model[0])
    snprintf(machine, sizeof machine, "%s, %u cores", rv->m->cpu_model, rv->cores);
  else
    snprintf(machine, sizeof machine, "%u cores", rv->cores);
  fputs("run_machine = ", f);
  gp_str(f, machine);
  fputc('\n', f);
  return 0;
}

/* ---- Finding and copying the scripts, finding and running gnuplot. ---- */

static bool file_exists(const char *dir, const char *name, const char *ext) {
  char path[PATH_MAX];
  struct stat st;
  if (snprintf(path, sizeof path, "%s/%s%s", dir, name, ext) >= (int)sizeof path) return false;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool scripts_in(const char *dir) {
  if (!dir || !*dir || !file_exists(dir, "common", ".gp")) return false;
  for (int i = 0; i < CL__NFIGURES; i++)
    if (!file_exists(dir, cl__figure_names[i], ".gp")) return false;
  return true;
}

static int fill_copy(FILE *out, const void *arg) {
  FILE *in = fopen(arg, "r");
  if (!in) return cl_error_set(CL_EIO, "cannot read %s: %s", (const char *)arg, strerror(errno));
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    fwrite(buf, 1, n, out);
  int err = ferror(in) ? cl_error_set(CL_EIO, "cannot read %s", (const char *)arg) : 0;
  fclose(in);
  return err;
}

static int copy_scripts(const char *from, const char *to) {
  char a[PATH_MAX], b[PATH_MAX];
  if (realpath(from, a) && realpath(to, b) && strcmp(a, b) == 0) return 0;
  for (int i = -1; i < CL__NFIGURES; i++) {
    char src[PATH_MAX], name[64];
    snprintf(name, sizeof name, "%s.gp", i < 0 ? "common" : cl__figure_names[i]);
    if (snprintf(src, sizeof src, "%s/%s", from, name) >= (int)sizeof src)
      return cl_error_set(CL_ERANGE, "path too long: %s", from);
    int err = cl__write_atomic(to, name, fill_copy, src);
    if (err) return err;
  }
  return 0;
}

/* Searches PATH like execvp would. */
static bool find_program(const char *prog, char *out, size_t len) {
  const char *path = getenv("PATH");
  if (!path || !*path) return false;
  for (const char *p = path;;) {
    const char *colon = strchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    struct stat st;
    if (snprintf(out, len, "%.*s/%s", (int)(n ? n : 1), n ? p : ".", prog) < (int)len &&
        stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
      return true;
    if (!colon) return false;
    p = colon + 1;
  }
}

/* Runs `gnuplot plots/NAME.gp` in the run directory, output to plots/gnuplot.log.
 * Returns its exit status, or -1 when it could not be started. */
static int run_gnuplot(const char *gnuplot, const char *dir, const char *name) {
  char script[96];
  snprintf(script, sizeof script, "plots/%s.gp", name);
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0) return -1;
  int rc = posix_spawn_file_actions_addchdir_np(&fa, dir);
  if (!rc) rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (!rc)
    rc = posix_spawn_file_actions_addopen(&fa, 1, "plots/gnuplot.log",
                                          O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
  char *argv[] = {(char *)"gnuplot", (char *)"-e", (char *)"rundir = '.'", script, NULL};
  pid_t pid = -1;
  if (!rc) rc = posix_spawn(&pid, gnuplot, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc) return -1;
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void remove_outputs(const char *dir, const char *name) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/plots/%s.png", dir, name);
  unlink(path);
  snprintf(path, sizeof path, "%s/plots/%s.svg", dir, name);
  unlink(path);
}

typedef int (*build_fn)(const struct cl__summary_csv *s, unsigned cores, struct figure *fg);

/* Builders in cl__figure_names order. */
static const build_fn builders[CL__NFIGURES] = {build_story, build_speedup, build_granularity,
                                                build_io, build_convoy};

int cl__plot_run_dir(const char *dir, FILE *msg) {
  struct cl__summary_csv s;
  int err = cl__summary_read(dir, &s);
  if (err) return err;
  struct cl__run_meta m;
  cl__run_meta_read(dir, &m);
  unsigned cores = cl__plot_cores(&m);
  char pdir[PATH_MAX];
  if (snprintf(pdir, sizeof pdir, "%s/plots", dir) >= (int)sizeof pdir) {
    cl__summary_free(&s);
    return cl_error_set(CL_ERANGE, "path too long: %s", dir);
  }
  if (mkdir(pdir, 0755) != 0 && errno != EEXIST) {
    err = cl_error_set(CL_EIO, "cannot create %s: %s", pdir, strerror(errno));
    cl__summary_free(&s);
    return err;
  }

  /* The data, always: `conlab plot` can draw it later. */
  struct run_vars rv = {&m, cores};
  bool has_data[CL__NFIGURES] = {false};
  err = cl__write_atomic(pdir, "run.vars", fill_run_vars, &rv);
  for (int i = 0; i < CL__NFIGURES && !err; i++) {
    struct figure fg;
    memset(&fg, 0, sizeof fg);
    fg.name = cl__figure_names[i];
    fg.switch_ms = m.switch_interval_ms;
    char dat[80], vars[80];
    snprintf(dat, sizeof dat, "%s.dat", fg.name);
    snprintf(vars, sizeof vars, "%s.vars", fg.name);
    err = builders[i](&s, cores, &fg);
    if (!err) err = cl__write_atomic(pdir, dat, fill_dat, &fg);
    if (!err) err = cl__write_atomic(pdir, vars, fill_vars, &fg);
    has_data[i] = fg.np > 0;
    figure_free(&fg);
  }
  if (err) {
    cl__summary_free(&s);
    return err;
  }

  /* The scripts: CONLAB_PLOTS_DIR, else the source tree, else the run's copies. */
  const char *env = getenv("CONLAB_PLOTS_DIR");
  const char *src = NULL;
  if (env && *env) {
    if (scripts_in(env))
      src = env;
    else
      fprintf(msg, "conlab: CONLAB_PLOTS_DIR=%s lacks the plot scripts; ignoring it\n", env);
  }
  if (!src && scripts_in(CL_PLOTS_DIR)) src = CL_PLOTS_DIR;
  if (!src && scripts_in(pdir)) src = pdir;
  if (src) err = copy_scripts(src, pdir);
  if (err) {
    cl__summary_free(&s);
    return err;
  }

  char gnuplot[PATH_MAX], note[512] = "";
  int failed = 0;
  if (!src) {
    snprintf(note, sizeof note,
             "The gnuplot scripts were not found, so no plots were drawn "
             "(set CONLAB_PLOTS_DIR to conlab's plots/ directory and run "
             "`conlab plot %s`).",
             dir);
    fprintf(msg,
            "conlab: gnuplot scripts not found (set CONLAB_PLOTS_DIR to conlab's plots/ "
            "directory); data written to %s\n",
            pdir);
  } else if (!find_program("gnuplot", gnuplot, sizeof gnuplot)) {
    snprintf(note, sizeof note,
             "gnuplot was not on PATH, so no plots were drawn; the data and "
             "scripts are in `plots/` (install gnuplot, then run `conlab plot "
             "%s`).",
             dir);
    fprintf(msg,
            "conlab: gnuplot not found on PATH: plots not drawn; data and scripts are in %s "
            "(install gnuplot, then run `conlab plot %s`)\n",
            pdir, dir);
  } else {
    char log[PATH_MAX];
    if (snprintf(log, sizeof log, "%s/gnuplot.log", pdir) < (int)sizeof log) unlink(log);
    for (int i = 0; i < CL__NFIGURES; i++) {
      remove_outputs(dir, cl__figure_names[i]);
      if (!has_data[i]) continue;
      int rc = run_gnuplot(gnuplot, dir, cl__figure_names[i]);
      if (rc != 0 || !file_exists(pdir, cl__figure_names[i], ".png")) {
        fprintf(msg, "conlab: gnuplot failed on plots/%s.gp (exit status %d); see %s\n",
                cl__figure_names[i], rc, log);
        failed++;
      }
    }
  }
  err = cl__report_write(dir, &s, &m, note[0] ? note : NULL);
  cl__summary_free(&s);
  if (err) return err;
  char drawn[256] = "";
  for (int i = 0; i < CL__NFIGURES; i++)
    if (file_exists(pdir, cl__figure_names[i], ".png")) {
      size_t n = strlen(drawn);
      snprintf(drawn + n, sizeof drawn - n, "%s%s", n ? ", " : "", cl__figure_names[i]);
    }
  if (drawn[0])
    fprintf(msg, "conlab: figures (%s) in %s, report in %s/report.md\n", drawn, pdir, dir);
  else
    fprintf(msg, "conlab: report in %s/report.md\n", dir);
  if (failed)
    return cl_error_set(CL_EIO, "gnuplot failed on %d script%s", failed, failed == 1 ? "" : "s");
  return 0;
}

static void plot_usage(FILE *f) {
  fprintf(f, "usage: conlab plot RUN_DIR\n\n"
             "Draws the figures of a finished run (RUN_DIR/plots/*.png and *.svg) with gnuplot\n"
             "and rewrites RUN_DIR/report.md. RUN_DIR is a directory made by `conlab run`,\n"
             "e.g. results/latest. Scripts come from $CONLAB_PLOTS_DIR, else the source\n"
             "tree's plots/, else the copies already in RUN_DIR/plots.\n");
}

int cl__cmd_plot(int argc, char **argv) {
  if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    plot_usage(stdout);
    return CL__EXIT_OK;
  }
  if (argc != 2) {
    fprintf(stderr, "conlab: plot: expected one run directory (usage: conlab plot RUN_DIR)\n");
    return CL__EXIT_USAGE;
  }
  const char *dir = argv[1];
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || !file_exists(dir, "summary", ".csv")) {
    fprintf(stderr, "conlab: plot: '%s' is not a conlab run directory (no summary.csv)\n", dir);
    return CL__EXIT_USAGE;
  }
  cl_error_clear();
  int err = cl__plot_run_dir(dir, stderr);
  if (err == CL_EINVAL) {
    fprintf(stderr, "conlab: plot: %s\n", cl_error_detail());
    return CL__EXIT_USAGE;
  }
  if (err) {
    fprintf(stderr, "conlab: plot: %s\n", cl_error_detail());
    return CL__EXIT_FAILED;
  }
  return CL__EXIT_OK;
}
