/* conlab: the command-line front end. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "conlab/error.h"
#include "harness/harness.h"
#ifdef CL_HAVE_MICRO
#include "bench/micro.h"
#endif

static void usage(FILE *f) {
  fprintf(f, "usage: conlab <command> [options]\n\n"
             "A concurrency benchmark and teaching lab: identical workloads under every\n"
             "executor, checksums verified, speedups compared.\n\n"
             "commands:\n"
             "  run [options]   run a suite or a chosen plan (default: the story suite)\n"
             "  list            workloads, executors and suites with descriptions\n"
             "  plot RUN_DIR    draw a run's figures with gnuplot and rewrite its report.md\n"
             "  topo [options]  this machine's cores, caches and what the lab will use on it;\n"
             "                  --synthetic \"pack:2 core:8 pu:2\" or --topology FILE.xml\n"
             "                  plan for another machine (`conlab topo --help`)\n"
             "  lab [N]         the lab sheets (labs/): list them, or run sheet N's\n"
             "                  experiment, draw its figures and check its expectations\n"
             "                  for this machine's cores (`conlab lab --help`)\n\n"
             "  --help          this help; `conlab run --help` lists the run options\n"
             "  --version       the version\n");
}

static int cmd_list(void) {
  printf("workloads (--workload):\n");
  for (size_t i = 0; i < cl_workload_count(); i++) {
    const struct cl_workload *w = cl_workload_at(i);
    printf("  %-15s %-8s %s\n  %-15s %-8s --size: %s\n", w->name, w->kind, w->summary, "", "",
           w->size_doc);
  }
  printf("\nexecutors (--executor):\n");
  for (size_t i = 0; i < cl_executor_count(); i++) {
    const struct cl_executor_ops *e = cl_executor_at(i);
    printf("  %-15s %s\n", e->name, e->summary);
  }
  printf("\nsuites (--suite):\n");
  for (size_t i = 0; i < cl__suite_count(); i++)
    printf("  %-15s %s\n", cl__suite_at(i)->name, cl__suite_at(i)->summary);
  return 0;
}

static int cmd_run(int argc, char **argv) {
  /* From here a first Ctrl-C or SIGTERM stops the run and keeps what finished;
   * a second one exits at once (harness/signals.c). */
  if (cl__signals_install() != 0)
    fprintf(stderr, "conlab: warning: cannot catch signals; Ctrl-C will lose this run\n");
  struct cl__options o;
  int rc = cl__parse_run_options(argc, argv, &o);
  if (rc < 0) rc = cl__run_topology_load(&o);
  if (rc >= 0) {
    cl__options_free(&o);
    return rc;
  }
  struct cl__plan plan;
  rc = cl__plan_build(&o, &plan);
  if (rc >= 0) {
    cl__options_free(&o);
    return rc;
  }
  struct cl__run_info ri;
  int err = cl__run_dir_create(&o, &ri);
  if (err) {
    fprintf(stderr, "conlab: --out: %s\n", cl_error_detail());
    cl__plan_free(&plan);
    cl__options_free(&o);
    return CL__EXIT_USAGE;
  }
  unsigned lo, hi;
  cl__plan_reps_range(&plan, &lo, &hi);
  if (lo == hi)
    fprintf(stderr, "conlab: %zu cells, %u repetitions each, results in %s\n", plan.ncells, lo,
            ri.dir);
  else
    fprintf(stderr, "conlab: %zu cells, %u to %u repetitions each, results in %s\n", plan.ncells,
            lo, hi, ri.dir);
  cl__signals_set_run_dir(ri.dir);
  int run_err = cl__plan_run(&plan, &o);
  int sig = cl__signals_pending();
  ri.finished_s = cl__wall_s();
  ri.complete = run_err == 0 && !sig;
  ri.signal = sig;
  cl__table_print(stdout, &plan);
  fflush(stdout);
  err = cl__results_write(&plan, &o, &ri);
  if (!err) err = cl__run_dir_link_latest(&o, &ri);
  if (err) {
    fprintf(stderr, "conlab: writing results failed: %s\n", cl_error_detail());
    rc = CL__EXIT_FAILED;
  } else {
    fprintf(stderr, "conlab: results written to %s\n", ri.dir);
    rc = CL__EXIT_OK;
#ifdef CL_HAVE_MICRO
    /* The suite's micro-benchmarks run after the cells, on a quiet machine. */
    if (o.suite && o.suite->micro && !sig && !cl__signals_pending()) {
      fprintf(stderr, "conlab: micro-benchmarks '%s'%s\n", o.suite->micro,
              o.quick ? " (quick)" : "");
      cl_error_clear();
      err = cl__micro_run(o.suite->micro, o.quick, ri.dir, stdout);
      fflush(stdout);
      if (err) {
        fprintf(stderr, "conlab: micro-benchmarks: %s: %s\n", cl_strerror(err), cl_error_detail());
        rc = CL__EXIT_FAILED;
      } else {
        fprintf(stderr, "conlab: micro-benchmarks written to %s/%s.csv\n", ri.dir, o.suite->micro);
      }
      err = 0;
    }
#endif
    if (!o.no_plot && !sig) {
      cl_error_clear();
      err = cl__plot_run_dir(ri.dir, stderr);
      if (err) {
        fprintf(stderr, "conlab: plots: %s\n", cl_error_detail());
        rc = CL__EXIT_FAILED;
      }
    }
  }
  if (!sig) sig = cl__signals_pending(); /* one that came while writing */
  if (sig) {
    size_t done = 0;
    for (size_t i = 0; i < plan.ncells; i++)
      done += plan.cells[i].done;
    fprintf(stderr, "conlab: stopped by SIG%s: %zu of %zu cells finished%s\n",
            sig == SIGINT ? "INT" : "TERM", done, plan.ncells,
            err           ? ""
            : ri.complete ? ", results complete"
                          : ", kept and marked incomplete");
    cl__reap_strays(true);
    rc = 128 + sig;
  } else if (run_err) {
    fprintf(stderr, "conlab: the run failed: %s (see the FAILED/MISMATCH rows)\n",
            cl_strerror(run_err));
    rc = CL__EXIT_FAILED;
  }
  /* The handlers stay until exit: a late Ctrl-C only sets the flag. */
  cl__plan_free(&plan);
  cl__options_free(&o);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CL__EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("conlab %s\n", CONLAB_VERSION);
    return 0;
  }
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
  if (strcmp(cmd, "plot") == 0) return cl__cmd_plot(argc - 1, argv + 1);
  if (strcmp(cmd, "topo") == 0) return cl__cmd_topo(argc - 1, argv + 1);
  if (strcmp(cmd, "lab") == 0) return cl__cmd_lab(argc - 1, argv + 1);
  if (strcmp(cmd, "list") == 0) {
    if (argc > 2) {
      fprintf(stderr, "conlab: list: unexpected argument '%s'\n", argv[2]);
      return CL__EXIT_USAGE;
    }
    return cmd_list();
  }
  fprintf(stderr,
          "conlab: unknown command '%s' (valid: run, list, plot, topo, lab, --help, --version)\n",
          cmd);
  return CL__EXIT_USAGE;
}
