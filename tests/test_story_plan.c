/* The story's plan follows its whole chain of parts (suite->also->also...):
 * the story, its CPython rows, then the convoy probe in C with and without
 * the emulated GIL and in CPython, each part on its own task list, full and
 * under --quick. A command line naming workloads or executors plans one part. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cl_test.h"
#include "conlab/executor.h"
#include "harness/harness.h"

/* The convoy cells expected of a part, in plan order from `at`; returns
 * the index after them. */
static size_t check_convoy_c(const struct cl__plan *plan, size_t at, uint64_t tasks, uint64_t size,
                             const unsigned *counts, size_t ncounts) {
  struct want {
    const char *ex;
    unsigned workers;
    bool gil;
  } want[2 + 2 * 2 * CL__MAX_WORKER_COUNTS];
  size_t n = 0;
  want[n++] = (struct want){"sequential", 1, false};
  want[n++] = (struct want){"threads", 0, false}; /* workers: the task count */
  want[n++] = (struct want){"threads", 0, true};
  for (int g = 0; g < 2; g++)
    for (size_t c = 0; c < ncounts; c++)
      want[n++] = (struct want){"thread_pool", counts[c], g == 1};
  for (size_t i = 0; i < n; i++, at++) {
    CHECK(at < plan->ncells);
    if (at >= plan->ncells) return at;
    const struct cl__cell *c = &plan->cells[at];
    CHECK_STR(c->w->name, "probe.convoy");
    CHECK_STR(c->ex->name, want[i].ex);
    CHECK_EQ_INT(c->gil, want[i].gil);
    if (want[i].workers) CHECK_EQ_INT(c->workers, want[i].workers);
    CHECK_EQ_U64(c->req_tasks, tasks);
    CHECK_EQ_U64(c->req_size, size);
    CHECK_EQ_INT(c->reps, 3);
  }
  return at;
}

static size_t check_convoy_py(const struct cl__plan *plan, size_t at, uint64_t tasks, uint64_t size,
                              bool python) {
  const char *want[] = {"sequential", "py.sequential", "py.threads"};
  size_t n = python ? 3 : 1;
  for (size_t i = 0; i < n; i++, at++) {
    CHECK(at < plan->ncells);
    if (at >= plan->ncells) return at;
    const struct cl__cell *c = &plan->cells[at];
    CHECK_STR(c->w->name, "probe.convoy");
    CHECK_STR(c->ex->name, want[i]);
    CHECK(!c->gil);
    CHECK_EQ_U64(c->req_tasks, tasks);
    CHECK_EQ_U64(c->req_size, size);
  }
  return at;
}

/* Plans `conlab run ARGS...` and checks its convoy parts: the last cells. */
static void check_story(int argc, char **argv, uint64_t c_tasks, uint64_t c_size, uint64_t py_tasks,
                        uint64_t py_size, bool python) {
  struct cl__options o;
  memset(&o, 0, sizeof o);
  CHECK_EQ_INT(cl__parse_run_options(argc, argv, &o), -1);
  struct cl__plan plan;
  CHECK_EQ_INT(cl__plan_build(&o, &plan), -1);
  unsigned counts[CL__MAX_WORKER_COUNTS];
  size_t ncounts = cl__auto_workers(o.exec.topo, "probe", counts, CL__MAX_WORKER_COUNTS);
  size_t nconvoy = 3 + 2 * ncounts + (python ? 3 : 1);
  CHECK(plan.ncells > nconvoy);
  if (plan.ncells > nconvoy) {
    size_t first = plan.ncells - nconvoy;
    /* The story's own parts come first, with no probe among them, and the
     * CPython part (when python3 is here) before the convoy. */
    bool probe_before = false, py_story = false;
    for (size_t i = 0; i < first; i++) {
      probe_before |= strcmp(plan.cells[i].w->name, "probe.convoy") == 0;
      py_story |= strncmp(plan.cells[i].ex->name, "py.", 3) == 0;
    }
    CHECK(!probe_before);
    CHECK(py_story == python);
    size_t at = check_convoy_c(&plan, first, c_tasks, c_size, counts, ncounts);
    at = check_convoy_py(&plan, at, py_tasks, py_size, python);
    CHECK_EQ_U64(at, plan.ncells);
  }
  for (size_t i = 0; i < plan.ncells; i++)
    CHECK(plan.cells[i].samples != NULL);
  cl__plan_free(&plan);
  cl__options_free(&o);
}

/* Cells of a plan whose workload is `w`. */
static size_t count_workload(int argc, char **argv, const char *w, size_t *total) {
  struct cl__options o;
  memset(&o, 0, sizeof o);
  CHECK_EQ_INT(cl__parse_run_options(argc, argv, &o), -1);
  struct cl__plan plan;
  size_t n = 0;
  *total = 0;
  CHECK_EQ_INT(cl__plan_build(&o, &plan), -1);
  for (size_t i = 0; i < plan.ncells; i++)
    n += strcmp(plan.cells[i].w->name, w) == 0;
  *total = plan.ncells;
  cl__plan_free(&plan);
  cl__options_free(&o);
  return n;
}

int main(void) {
  const struct cl_executor_ops *py = cl_executor_find("py.threads");
  bool python = py && (!py->available || py->available() == 0);
  printf("python3 %s\n", python ? "available" : "not available: the py.* cells are left out");

  char *quick[] = {"run", "--quick"};
  check_story(2, quick, 11, 300000000, 11, 3000000, python);
  char *story_quick[] = {"run", "--suite", "story", "--quick"};
  check_story(4, story_quick, 11, 300000000, 11, 3000000, python);
  char *story[] = {"run"};
  check_story(1, story, 21, 600000000, 21, 6000000, python);

  /* Workloads or executors named: one part, no chain. */
  size_t total;
  char *named[] = {"run", "--suite", "story", "--quick", "-w", "cpu.sumsq"};
  size_t nsumsq = count_workload(6, named, "cpu.sumsq", &total);
  CHECK(nsumsq == total && total > 0);
  char *exec[] = {"run", "--suite", "story", "--quick", "-e", "threads"};
  CHECK_EQ_U64(count_workload(6, exec, "probe.convoy", &total), 0);
  CHECK(total > 0);
  /* The probe suite: its own two parts, every cell a probe. */
  char *probe[] = {"run", "--suite", "probe", "--quick"};
  size_t nprobe = count_workload(4, probe, "probe.convoy", &total);
  CHECK(nprobe == total && total > 4);
  return CL_TEST_DONE();
}
