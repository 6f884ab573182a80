/* The event_loop executor: every workload of the catalogue (quick sizes) on 1
 * and 2 loops gives the expected checksum; IO phases overlap; a failing task
 * is reported with its detail; no descriptor is left behind. */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/workload.h"

#include <dirent.h>
#include <stdio.h>
#include <time.h>

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const struct cl_executor_ops *ev;

/* Runs the batch twice on one executor with `loops` loops; returns the
 * wall time of the second run. */
static double run_checked(const char *what, struct cl_batch *b, unsigned loops) {
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = loops;
  int fds = count_fds();
  struct cl_executor *ex = NULL;
  int rc = ev->create(&cfg, &ex);
  CHECK_EQ_INT(rc, 0);
  if (rc) return 0;
  double took = 0;
  for (int rep = 0; rep < 2; rep++) {
    cl_batch_reset(b);
    double t0 = now_s();
    rc = ev->run(ex, b);
    took = now_s() - t0;
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "  %s x%u: %s: %s\n", what, loops, cl_errname(rc), cl_error_detail());
    CHECK_EQ_U64(cl_batch_checksum(b), b->expected);
    unsigned bad = 0;
    for (size_t i = 0; i < b->ntasks; i++) {
      const struct cl_task *t = &b->tasks[i];
      bad += t->status != 0 || t->pc != t->nphases || t->worker != i % loops;
    }
    CHECK_EQ_INT(bad, 0);
  }
  ev->destroy(ex);
  CHECK_EQ_INT(count_fds(), fds);
  return took;
}

static void test_catalogue(void) {
  for (size_t i = 0; i < cl_workload_count(); i++) {
    const struct cl_workload *w = cl_workload_at(i);
    struct cl_workload_params p = {.quick = true};
    struct cl_batch b;
    int rc = cl_workload_build(w, &p, &b);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
      fprintf(stderr, "  build %s: %s\n", w->name, cl_error_detail());
      continue;
    }
    for (unsigned loops = 1; loops <= 2; loops++)
      run_checked(w->name, &b, loops);
    cl_workload_release(w, &b);
  }
}

static void test_overlap(void) {
  /* 1000 waits of 50 ms overlap: far below the 50 s they take in a row. */
  const struct cl_workload *w = cl_workload_find("io.sleep");
  struct cl_workload_params p = {.tasks = 1000, .delay_ns = 50000000};
  struct cl_batch b;
  CHECK_EQ_INT(cl_workload_build(w, &p, &b), 0);
  double took = run_checked("io.sleep", &b, 1);
  CHECK(took >= 0.045);
  CHECK_LE(took, 2.0);
  cl_workload_release(w, &b);

  /* 300 requests of 20 ms to the delay server, also at once. */
  w = cl_workload_find("io.net");
  struct cl_workload_params q = {.tasks = 300, .delay_ns = 20000000, .size = 4096};
  CHECK_EQ_INT(cl_workload_build(w, &q, &b), 0);
  took = run_checked("io.net", &b, 1);
  CHECK(took >= 0.018);
  CHECK_LE(took, 2.5);
  cl_workload_release(w, &b);
}

static void test_failure(void) {
  /* A network phase without a server fails; the others still complete. */
  struct cl_task tasks[4] = {0};
  struct cl_batch b = {.tasks = tasks, .ntasks = 4};
  for (uint32_t i = 0; i < 4; i++) {
    tasks[i].index = i;
    tasks[i].nphases = 1;
    tasks[i].phase[0] = (struct cl_phase){CL_PHASE_IO, CL_IO_SLEEP, 1000000, 0};
  }
  tasks[2].phase[0] = (struct cl_phase){CL_PHASE_IO, CL_IO_NET, 1000000, 16};
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  struct cl_executor *ex = NULL;
  CHECK_EQ_INT(ev->create(&cfg, &ex), 0);
  cl_error_clear();
  CHECK_EQ_INT(ev->run(ex, &b), CL_EINVAL);
  CHECK(strstr(cl_error_detail(), "task 2") != NULL);
  CHECK_EQ_INT(tasks[2].status, CL_EINVAL);
  CHECK_EQ_INT(tasks[3].status, 0);
  CHECK_EQ_U64(tasks[3].result, cl_io_token(3, &tasks[3].phase[0]));
  /* The executor is still usable. */
  tasks[2].phase[0] = tasks[0].phase[0];
  cl_batch_reset(&b);
  CHECK_EQ_INT(ev->run(ex, &b), 0);
  ev->destroy(ex);
}

int main(void) {
  ev = cl_executor_find("event_loop");
  CHECK(ev != NULL);
  if (!ev) return CL_TEST_DONE();
  CHECK(ev->flags & CL_EXEC_PARALLEL);
  test_catalogue();
  test_overlap();
  test_failure();
  return CL_TEST_DONE();
}
