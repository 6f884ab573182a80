#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conlab/error.h"
#include "conlab/topology.h"
#include "harness/harness.h"

unsigned cl__online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

size_t cl__auto_workers(const struct cl_topology *topo, const char *kind, unsigned *out,
                        size_t max) {
  if (topo) return cl_topology_auto_workers(topo, kind, out, max);
  unsigned cpus = cl__online_cpus();
  unsigned top = strcmp(kind, "io") == 0 || strcmp(kind, "mixed") == 0 ? 2 * cpus : cpus;
  size_t n = 0;
  for (unsigned w = 1; w < top && n < max; w *= 2)
    out[n++] = w;
  if (n < max && (n == 0 || out[n - 1] != top)) out[n++] = top;
  return n;
}

/* Prints the valid names of a registry into buf as "a, b, c". */
static void workload_names(char *buf, size_t len) {
  buf[0] = '\0';
  for (size_t i = 0; i < cl_workload_count(); i++) {
    if (i) strncat(buf, ", ", len - strlen(buf) - 1);
    strncat(buf, cl_workload_at(i)->name, len - strlen(buf) - 1);
  }
}

static void executor_names(char *buf, size_t len) {
  snprintf(buf, len, "all, py");
  for (size_t i = 0; i < cl_executor_count(); i++) {
    strncat(buf, ", ", len - strlen(buf) - 1);
    strncat(buf, cl_executor_at(i)->name, len - strlen(buf) - 1);
  }
}

static int resolve_workloads(const struct cl__options *o, const struct cl_workload **out,
                             size_t *n) {
  struct cl_list own = {0};
  const struct cl_list *l = &o->workloads;
  *n = 0;
  if (!l->n) {
    const char *names = o->suite ? o->suite->workloads : "";
    if (!*names) {
      for (size_t i = 0; i < cl_workload_count(); i++)
        out[(*n)++] = cl_workload_at(i);
      return -1;
    }
    if (cl_parse_list(names, &own)) return CL__EXIT_FAILED;
    l = &own;
  }
  for (size_t i = 0; i < l->n; i++) {
    const struct cl_workload *w = cl_workload_find(l->items[i]);
    if (!w) {
      char valid[1024];
      workload_names(valid, sizeof valid);
      fprintf(stderr, "conlab: --workload: unknown workload '%s' (valid: %s)\n", l->items[i],
              valid);
      cl_list_free(&own);
      return CL__EXIT_USAGE;
    }
    out[(*n)++] = w;
  }
  cl_list_free(&own);
  return -1;
}

static int resolve_executors(const struct cl__options *o, const struct cl_executor_ops **out,
                             size_t *n) {
  struct cl_list own = {0};
  const struct cl_list *l = &o->executors;
  if (!l->n) {
    if (cl_parse_list(o->suite ? o->suite->executors : "all", &own)) return CL__EXIT_FAILED;
    l = &own;
  }
  /* sequential always comes first: it is every cell's speedup baseline. */
  out[0] = cl_executor_find("sequential");
  *n = 1;
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->items[i], "all") == 0) {
      if (l->n > 1) {
        fprintf(stderr, "conlab: --executor: 'all' cannot be combined with other names\n");
        cl_list_free(&own);
        return CL__EXIT_USAGE;
      }
      /* `all` is every C executor; the CPython ones are asked for with `py`. */
      for (size_t k = 0; k < cl_executor_count(); k++)
        if (cl_executor_at(k) != out[0] && !(cl_executor_at(k)->flags & CL_EXEC_EXTERNAL))
          out[(*n)++] = cl_executor_at(k);
      break;
    }
    if (strcmp(l->items[i], "py") == 0) {
      for (size_t k = 0; k < cl_executor_count(); k++) {
        const struct cl_executor_ops *e = cl_executor_at(k);
        bool listed = false;
        for (size_t m = 0; m < *n; m++)
          listed |= out[m] == e;
        if ((e->flags & CL_EXEC_EXTERNAL) && !listed) out[(*n)++] = e;
      }
      continue;
    }
    const struct cl_executor_ops *e = cl_executor_find(l->items[i]);
    if (!e) {
      char valid[1024];
      executor_names(valid, sizeof valid);
      fprintf(stderr, "conlab: --executor: unknown executor '%s' (valid: %s)\n", l->items[i],
              valid);
      cl_list_free(&own);
      return CL__EXIT_USAGE;
    }
    if (e != out[0]) out[(*n)++] = e;
  }
  cl_list_free(&own);
  return -1;
}

/* Leaves out executors whose outside dependency is missing, saying so in one
 * line per reason; the run goes on without them. */
static size_t drop_unavailable(const struct cl_executor_ops **es, size_t n) {
  static char said[256];
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    if (es[i]->available && es[i]->available() != 0) {
      if (strcmp(said, cl_error_detail()) != 0) {
        snprintf(said, sizeof said, "%s", cl_error_detail());
        fprintf(stderr, "conlab: %s: the %s rows are left out\n", said,
                es[i]->flags & CL_EXEC_EXTERNAL ? "CPython (py.*)" : es[i]->name);
      }
      continue;
    }
    es[kept++] = es[i];
  }
  return kept;
}

/* Whether a cell also runs under the emulated GIL. */
static bool gil_twin(const struct cl__options *o, const struct cl_workload *w,
                     const struct cl_executor_ops *e) {
  if (!o->gil || !(e->flags & CL_EXEC_GIL_CAPABLE)) return false;
  bool cpu_bound = strcmp(w->kind, "cpu") == 0 || strcmp(w->kind, "mem") == 0;
  return cpu_bound || !o->suite || !o->suite->gil_io_threads_only ||
         strcmp(e->name, "threads") == 0;
}

static int check_limits(const struct cl__options *o, const struct cl_workload *w) {
  for (size_t i = 0; i < o->ntasks; i++) {
    if (o->tasks[i] > w->max_tasks) {
      fprintf(stderr, "conlab: --tasks: %llu exceeds the limit %llu for %s\n",
              (unsigned long long)o->tasks[i], (unsigned long long)w->max_tasks, w->name);
      return CL__EXIT_USAGE;
    }
  }
  for (size_t i = 0; i < o->nsizes; i++) {
    if (w->max_size && o->size[i] > w->max_size) { /* 0: the workload ignores --size */
      fprintf(stderr, "conlab: --size: %llu exceeds the limit %llu for %s\n",
              (unsigned long long)o->size[i], (unsigned long long)w->max_size, w->name);
      return CL__EXIT_USAGE;
    }
  }
  return -1;
}

static int plan_build_part(const struct cl__options *o, struct cl__plan *plan) {
  memset(plan, 0, sizeof *plan);
  const struct cl_workload **ws = calloc(cl_workload_count() + 1, sizeof *ws);
  const struct cl_executor_ops **es = calloc(cl_executor_count() + 1, sizeof *es);
  size_t nw = 0, ne = 0;
  int rc = ws && es ? -1 : CL__EXIT_FAILED;
  if (rc < 0) rc = resolve_workloads(o, ws, &nw);
  if (rc < 0) rc = resolve_executors(o, es, &ne);
  if (rc < 0) ne = drop_unavailable(es, ne);
  for (size_t i = 0; rc < 0 && i < nw; i++)
    rc = check_limits(o, ws[i]);
  if (rc >= 0) goto out;

  plan->reps = o->reps_set ? o->reps : o->quick ? 3 : o->suite ? o->suite->reps : 5;
  plan->warmup = o->warmup_set ? o->warmup : o->suite ? o->suite->warmup : 1;
  size_t nt = o->ntasks ? o->ntasks : 1, nz = o->nsizes ? o->nsizes : 1;
  /* Count the cells first: an absurd plan is refused with its limit, not
   * attempted (the loops below fill exactly this many). */
  size_t cap = 0;
  for (size_t i = 0; i < nw; i++) {
    unsigned counts[CL__MAX_WORKER_COUNTS];
    size_t ncounts =
        o->nworkers ? o->nworkers
                    : cl__auto_workers(o->exec.topo, ws[i]->kind, counts, CL__MAX_WORKER_COUNTS);
    for (size_t k = 0; k < ne; k++) {
      size_t gils = gil_twin(o, ws[i], es[k]) ? 2 : 1;
      cap += nz * nt * gils * ((es[k]->flags & CL_EXEC_PARALLEL) ? ncounts : 1);
    }
  }
  if (cap > CL__MAX_CELLS || cap * plan->reps > CL__MAX_PLAN_REPS) {
    if (cap > CL__MAX_CELLS)
      fprintf(stderr,
              "conlab: the plan has %zu cells, more than the limit %d (ask for fewer "
              "workloads, executors, worker counts, --tasks or --size values)\n",
              cap, CL__MAX_CELLS);
    else
      fprintf(stderr,
              "conlab: the plan has %zu cells x %u repetitions, more than the limit %d "
              "repetitions in all (lower --reps or ask for fewer cells)\n",
              cap, plan->reps, CL__MAX_PLAN_REPS);
    rc = CL__EXIT_USAGE;
    goto out;
  }
  plan->cells = calloc(cap ? cap : 1, sizeof *plan->cells);
  if (!plan->cells) {
    rc = CL__EXIT_FAILED;
    goto out;
  }
  for (size_t i = 0; i < nw; i++) {
    unsigned counts[CL__MAX_WORKER_COUNTS];
    size_t ncounts = o->nworkers;
    if (ncounts)
      memcpy(counts, o->workers, ncounts * sizeof counts[0]);
    else
      ncounts = cl__auto_workers(o->exec.topo, ws[i]->kind, counts, CL__MAX_WORKER_COUNTS);
    /* Cells of one (workload, size, tasks) group share one batch. */
    for (size_t z = 0; z < nz; z++) {
      for (size_t t = 0; t < nt; t++) {
        for (size_t k = 0; k < ne; k++) {
          bool parallel = es[k]->flags & CL_EXEC_PARALLEL;
          int gils = gil_twin(o, ws[i], es[k]) ? 2 : 1;
          for (int g = 0; g < gils; g++) {
            for (size_t c = 0; c < (parallel ? ncounts : 1); c++) {
              struct cl__cell *cell = &plan->cells[plan->ncells++];
              cell->w = ws[i];
              cell->ex = es[k];
              cell->workers = parallel ? counts[c] : 1;
              cell->gil = g == 1;
              cell->reps = plan->reps;
              cell->req_size = o->nsizes ? o->size[z] : 0;
              cell->req_tasks = o->ntasks ? o->tasks[t] : 0;
            }
          }
        }
      }
    }
  }
  for (size_t i = 0; i < plan->ncells; i++) {
    plan->cells[i].samples = calloc(plan->reps, sizeof(struct cl__sample));
    if (!plan->cells[i].samples) {
      rc = CL__EXIT_FAILED;
      goto out;
    }
  }
  rc = -1;
out:
  free(ws);
  free(es);
  if (rc >= 0) cl__plan_free(plan);
  return rc;
}

void cl__plan_free(struct cl__plan *plan) {
  for (size_t i = 0; i < plan->ncells; i++)
    free(plan->cells[i].samples);
  free(plan->cells);
  plan->cells = NULL;
  plan->ncells = 0;
}

/* A suite may chain further parts, each with its own task list
 * (suite->also, its ->also, and so on); their cells follow the first part's
 * in chain order, each group with its own baseline. */
int cl__plan_build(const struct cl__options *o, struct cl__plan *plan) {
  int rc = plan_build_part(o, plan);
  if (rc >= 0 || !o->suite || o->workloads.n || o->executors.n) return rc;
  for (const struct cl__suite *also = o->suite->also; also; also = also->also) {
    struct cl__options part = *o;
    part.suite = also;
    part.gil = also->gil;
    part.ntasks = 0;
    uint64_t t = o->quick ? also->quick_tasks : also->tasks;
    if (t) part.tasks[part.ntasks++] = t;
    part.nsizes = o->quick ? also->quick_nsizes : also->nsizes;
    memcpy(part.size, o->quick ? also->quick_sizes : also->sizes,
           part.nsizes * sizeof part.size[0]);
    struct cl__plan more;
    rc = plan_build_part(&part, &more);
    if (rc >= 0) {
      cl__plan_free(plan);
      return rc;
    }
    if (!more.ncells) continue;
    struct cl__cell *cells = realloc(plan->cells, (plan->ncells + more.ncells) * sizeof *cells);
    if (!cells) {
      cl__plan_free(&more);
      cl__plan_free(plan);
      return CL__EXIT_FAILED;
    }
    memcpy(cells + plan->ncells, more.cells, more.ncells * sizeof *cells);
    plan->cells = cells;
    plan->ncells += more.ncells;
    free(more.cells); /* the samples now belong to plan's cells */
  }
  /* Each part was held to the limits; so is the whole chain. Parts may
   * differ in repetitions, so count each cell's own. */
  size_t total = 0;
  for (size_t i = 0; i < plan->ncells; i++)
    total += plan->cells[i].reps;
  if (plan->ncells > CL__MAX_CELLS || total > CL__MAX_PLAN_REPS) {
    fprintf(stderr,
            "conlab: the suite's parts add up to %zu cells and %zu repetitions, more than the "
            "limits %d and %d (ask for fewer worker counts or --reps)\n",
            plan->ncells, total, CL__MAX_CELLS, CL__MAX_PLAN_REPS);
    cl__plan_free(plan);
    return CL__EXIT_USAGE;
  }
  return -1;
}

void cl__plan_reps_range(const struct cl__plan *plan, unsigned *lo, unsigned *hi) {
  *lo = *hi = plan->reps;
  for (size_t i = 0; i < plan->ncells; i++) {
    unsigned r = plan->cells[i].reps;
    if (i == 0 || r < *lo) *lo = r;
    if (i == 0 || r > *hi) *hi = r;
  }
}
