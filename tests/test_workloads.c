/* The catalogue: every workload builds, its tasks computed by a plain loop
 * give exactly the expected checksum, limits are refused, release is safe. */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/kernel.h"
#include "conlab/workload.h"

#include <stdbool.h>
#include <string.h>

static const char *const names[] = {"cpu.sumsq",  "cpu.fib",     "cpu.primes", "cpu.mandel",
                                    "mem.stream", "io.sleep",    "io.net",     "mixed.request",
                                    "noop",       "probe.convoy"};
#define NNAMES (sizeof names / sizeof names[0])

/* The phase rule, without executors: a task's result is the wrapping sum of
 * its CPU phases' kernel results and its IO phases' tokens (no waiting). */
static uint64_t run_plain(struct cl_batch *b) {
  uint64_t sum = 0;
  for (size_t i = 0; i < b->ntasks; i++) {
    struct cl_task *t = &b->tasks[i];
    uint64_t r = 0;
    for (uint32_t k = 0; k < t->nphases; k++) {
      const struct cl_phase *p = &t->phase[k];
      if (p->kind == CL_PHASE_CPU)
        r += cl_kernel_run(p->op, p->a, p->b, b->data);
      else
        r += cl_io_token(t->index, p);
    }
    t->result = r;
    sum += r;
  }
  return sum;
}

static bool batch_is_zero(const struct cl_batch *b) {
  static const struct cl_batch zero;
  return memcmp(b, &zero, sizeof zero) == 0;
}

static bool detail_has(const char *s) {
  return strstr(cl_error_detail(), s) != NULL;
}

static void test_catalogue(void) {
  CHECK_EQ_U64(cl_workload_count(), NNAMES);
  CHECK(cl_workload_at(cl_workload_count()) == NULL);
  CHECK(cl_workload_find("nope") == NULL);
  CHECK(cl_workload_find(NULL) == NULL);
  CHECK(cl_workload_find("cpu.") == NULL);
  for (size_t i = 0; i < NNAMES; i++) {
    const struct cl_workload *w = cl_workload_find(names[i]);
    CHECK(w != NULL);
    if (!w) continue;
    CHECK_STR(w->name, names[i]);
    bool listed = false;
    for (size_t j = 0; j < cl_workload_count(); j++)
      listed |= cl_workload_at(j) == w;
    CHECK(listed);
  }
  const char *kinds[] = {"cpu", "io", "mem", "mixed", "overhead", "probe"};
  for (size_t i = 0; i < cl_workload_count(); i++) {
    const struct cl_workload *w = cl_workload_at(i);
    CHECK(w->name && w->summary && w->summary[0] && w->size_doc && w->size_doc[0]);
    bool kind_ok = false;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
      kind_ok |= strcmp(w->kind, kinds[k]) == 0;
    CHECK(kind_ok);
    CHECK(w->build && w->release);
    CHECK(w->default_tasks >= 1 && w->default_tasks <= w->max_tasks);
    CHECK(w->quick_tasks >= 1 && w->quick_tasks <= w->default_tasks);
    CHECK(w->default_size <= w->max_size && w->quick_size <= w->default_size);
    CHECK(w->uses_delay == (w->default_delay_ns > 0));
    CHECK(w->quick_delay_ns <= w->default_delay_ns);
    for (size_t j = 0; j < i; j++)
      CHECK(strcmp(cl_workload_at(j)->name, w->name) != 0);
  }
  CHECK_STR(cl_workload_find("noop")->kind, "overhead");
  CHECK_STR(cl_workload_find("mem.stream")->kind, "mem");
  CHECK_STR(cl_workload_find("io.sleep")->kind, "io");
  CHECK_STR(cl_workload_find("mixed.request")->kind, "mixed");
}

/* Builds with `p`, checks the batch's shape, runs it plainly against its
 * expected checksum, releases it. Returns the checksum. */
static uint64_t build_and_check_p(const struct cl_workload *w, struct cl_workload_params *pp) {
  struct cl_workload_params p = *pp;
  struct cl_batch b;
  memset(&b, 0xab, sizeof b);
  int rc = cl_workload_build(w, &p, &b);
  *pp = p;
  CL_T_REPORT(rc == 0, "build %s: %s (%s)", w->name, cl_errname(rc), cl_error_detail());
  if (rc) return 0;
  CHECK(b.workload == w);
  CHECK_EQ_U64(b.ntasks, p.tasks);
  CHECK_EQ_U64(b.self_timed_ns, 0);
  bool shape = true;
  for (size_t i = 0; i < b.ntasks; i++) {
    const struct cl_task *t = &b.tasks[i];
    shape &= t->index == i && t->nphases >= 1 && t->nphases <= CL_TASK_MAX_PHASES;
    shape &= t->pc == 0 && t->result == 0 && t->status == 0 && t->next == NULL;
    for (uint32_t k = 0; k < t->nphases; k++) {
      const struct cl_phase *ph = &t->phase[k];
      if (ph->kind == CL_PHASE_CPU)
        shape &= ph->op < CL_K__COUNT;
      else
        shape &=
            ph->kind == CL_PHASE_IO &&
            (ph->op == CL_IO_SLEEP || (ph->op == CL_IO_NET && strcmp(w->name, "io.net") == 0)) &&
            ph->a == p.delay_ns;
    }
  }
  CL_T_REPORT(shape, "%s: tasks are well formed", w->name);
  uint64_t sum = run_plain(&b);
  CL_T_REPORT(sum == b.expected, "%s tasks=%llu size=%llu: plain run %llu vs expected %llu",
              w->name, (unsigned long long)p.tasks, (unsigned long long)p.size,
              (unsigned long long)sum, (unsigned long long)b.expected);
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  /* Running again after a reset gives the same answer. */
  cl_batch_reset(&b);
  CHECK_EQ_U64(cl_batch_checksum(&b), 0);
  CHECK_EQ_U64(run_plain(&b), b.expected);
  cl_workload_release(w, &b);
  CHECK(batch_is_zero(&b));
  cl_workload_release(w, &b);
  CHECK(batch_is_zero(&b));
  return sum;
}

static uint64_t build_and_check(const struct cl_workload *w, struct cl_workload_params p) {
  return build_and_check_p(w, &p);
}

static void test_defaults(void) {
  for (size_t i = 0; i < cl_workload_count(); i++) {
    const struct cl_workload *w = cl_workload_at(i);
    for (int quick = 0; quick <= 1; quick++) {
      struct cl_workload_params p = {.quick = quick};
      build_and_check_p(w, &p);
      /* The resolved parameters are written back. */
      CHECK_EQ_U64(p.tasks, quick ? w->quick_tasks : w->default_tasks);
      CHECK_EQ_U64(p.size, quick ? w->quick_size : w->default_size);
      CHECK_EQ_U64(p.delay_ns, quick ? w->quick_delay_ns : w->default_delay_ns);
    }
  }
}

static const struct cl_workload *find(const char *name) {
  return cl_workload_find(name);
}

static void test_shapes(void) {
  /* Small and awkward shapes: a single task, sizes not dividing evenly. */
  build_and_check(find("cpu.sumsq"), (struct cl_workload_params){.tasks = 3, .size = 7});
  build_and_check(find("cpu.sumsq"), (struct cl_workload_params){.tasks = 1, .size = 1});
  build_and_check(find("cpu.sumsq"), (struct cl_workload_params){.tasks = 5, .size = 100003});
  build_and_check(find("cpu.fib"), (struct cl_workload_params){.tasks = 9, .size = 1});
  build_and_check(find("cpu.fib"), (struct cl_workload_params){.tasks = 20, .size = 20});
  build_and_check(find("cpu.primes"), (struct cl_workload_params){.tasks = 7, .size = 13});
  build_and_check(find("cpu.primes"), (struct cl_workload_params){.tasks = 1, .size = 1});
  build_and_check(find("cpu.mandel"), (struct cl_workload_params){.tasks = 17, .size = 17});
  build_and_check(find("cpu.mandel"), (struct cl_workload_params){.tasks = 5, .size = 33});
  build_and_check(find("cpu.mandel"), (struct cl_workload_params){.tasks = 1, .size = 1});
  build_and_check(find("mem.stream"), (struct cl_workload_params){.tasks = 3, .size = 1001});
  build_and_check(find("mem.stream"), (struct cl_workload_params){.tasks = 1, .size = 1});
  build_and_check(find("io.sleep"), (struct cl_workload_params){.tasks = 7, .delay_ns = 3});
  build_and_check(find("mixed.request"),
                  (struct cl_workload_params){.tasks = 3, .size = 5, .delay_ns = 11});
  build_and_check(find("noop"), (struct cl_workload_params){.tasks = 1});

  /* The mandel bands tile the rows exactly; fib tasks differ in size. */
  struct cl_workload_params p = {.tasks = 5, .size = 33};
  struct cl_batch b;
  if (cl_workload_build(find("cpu.mandel"), &p, &b) == 0) {
    uint64_t next = 0;
    bool tiled = true;
    for (size_t i = 0; i < b.ntasks; i++) {
      tiled &= b.tasks[i].phase[0].a == next && b.tasks[i].phase[0].b > next;
      next = b.tasks[i].phase[0].b;
    }
    CHECK(tiled && next == 33);
    const struct cl_mandel_data *md = b.data;
    CHECK(md->width == 33 && md->height == 33 && md->max_iter > 0);
    cl_workload_release(find("cpu.mandel"), &b);
  }
  p = (struct cl_workload_params){.quick = true};
  if (cl_workload_build(find("cpu.fib"), &p, &b) == 0) {
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < b.ntasks; i++) {
      uint64_t n = b.tasks[i].phase[0].a;
      lo = n < lo ? n : lo;
      hi = n > hi ? n : hi;
      CHECK(n + 2 >= p.size && n <= p.size + 2);
    }
    CHECK(hi > lo);
    cl_workload_release(NULL, &b);
  }
  /* IO tokens depend on the task, so a skipped or repeated wait shows. */
  p = (struct cl_workload_params){.tasks = 4, .delay_ns = 1000};
  if (cl_workload_build(find("io.sleep"), &p, &b) == 0) {
    uint64_t t0 = cl_io_token(0, &b.tasks[0].phase[0]);
    CHECK(b.expected != 4 * t0);
    CHECK(cl_io_token(1, &b.tasks[1].phase[0]) != t0);
    cl_workload_release(find("io.sleep"), &b);
  }
  /* Parameters a workload does not use are ignored and reported as 0. */
  p = (struct cl_workload_params){.tasks = 2, .size = 5, .delay_ns = 1000};
  if (cl_workload_build(find("io.sleep"), &p, &b) == 0) {
    CHECK_EQ_U64(p.size, 0);
    CHECK_EQ_U64(p.delay_ns, 1000);
    cl_workload_release(find("io.sleep"), &b);
  }
  p = (struct cl_workload_params){.tasks = 2, .size = 5, .delay_ns = 1000};
  if (cl_workload_build(find("cpu.sumsq"), &p, &b) == 0) {
    CHECK_EQ_U64(p.delay_ns, 0);
    CHECK_EQ_U64(p.size, 5);
    cl_workload_release(find("cpu.sumsq"), &b);
  }
}

/* A refused build returns CL_ERANGE, names the flag and the limit in the
 * detail, and leaves a zeroed batch. */
static void check_refused(const char *name, struct cl_workload_params p, const char *flag,
                          uint64_t limit) {
  struct cl_batch b;
  memset(&b, 0xcd, sizeof b);
  cl_error_clear();
  int rc = cl_workload_build(find(name), &p, &b);
  CL_T_REPORT(rc == CL_ERANGE, "%s %s: %s", name, flag, cl_errname(rc));
  char lim[32];
  snprintf(lim, sizeof lim, "%llu", (unsigned long long)limit);
  CL_T_REPORT(detail_has(flag) && detail_has(lim) && detail_has(name),
              "detail \"%s\" names %s, %s and %s", cl_error_detail(), flag, lim, name);
  CHECK(batch_is_zero(&b));
  if (rc == 0) cl_workload_release(find(name), &b);
}

static void test_limits(void) {
  for (size_t i = 0; i < cl_workload_count(); i++) {
    const struct cl_workload *w = cl_workload_at(i);
    check_refused(w->name, (struct cl_workload_params){.tasks = w->max_tasks + 1}, "--tasks",
                  w->max_tasks);
    check_refused(w->name, (struct cl_workload_params){.tasks = UINT64_MAX}, "--tasks",
                  w->max_tasks);
    if (w->max_size)
      check_refused(w->name, (struct cl_workload_params){.tasks = 1, .size = w->max_size + 1},
                    "--size", w->max_size);
    if (w->uses_delay)
      check_refused(w->name,
                    (struct cl_workload_params){.tasks = 1, .delay_ns = UINT64_C(60000000001)},
                    "--delay", UINT64_C(60000000000));
  }
  check_refused("cpu.sumsq", (struct cl_workload_params){.tasks = 5000000}, "--tasks", 1000000);
  check_refused("cpu.fib", (struct cl_workload_params){.size = 46}, "--size", 45);
  /* Limits on combinations, checked by the workloads themselves. */
  check_refused("cpu.primes", (struct cl_workload_params){.tasks = 1000, .size = 100000000},
                "--tasks", UINT64_C(1) << 32);
  check_refused("cpu.mandel", (struct cl_workload_params){.tasks = 65, .size = 64}, "--tasks", 64);
  check_refused("mem.stream", (struct cl_workload_params){.tasks = 1000, .size = 1u << 28},
                "--size", UINT64_C(8) << 30);

  /* At the limit itself a build is accepted. */
  struct cl_workload_params p = {.tasks = 64, .size = 64};
  struct cl_batch b;
  CHECK_EQ_INT(cl_workload_build(find("cpu.mandel"), &p, &b), 0);
  cl_workload_release(find("cpu.mandel"), &b);

  CHECK_EQ_INT(cl_workload_build(NULL, &p, &b), CL_EINVAL);
  CHECK_EQ_INT(cl_workload_build(find("noop"), NULL, &b), CL_EINVAL);
  CHECK_EQ_INT(cl_workload_build(find("noop"), &p, NULL), CL_EINVAL);
}

static void test_release_zeroed(void) {
  for (size_t i = 0; i < cl_workload_count(); i++) {
    const struct cl_workload *w = cl_workload_at(i);
    struct cl_batch b = {0};
    w->release(&b);
    CHECK(batch_is_zero(&b));
    cl_workload_release(w, &b);
    CHECK(batch_is_zero(&b));
    w->release(NULL);
  }
  struct cl_batch b = {0};
  cl_workload_release(NULL, &b);
  cl_workload_release(NULL, NULL);
  CHECK(batch_is_zero(&b));
}

int main(void) {
  test_catalogue();
  test_defaults();
  test_shapes();
  test_limits();
  test_release_zeroed();
  return CL_TEST_DONE();
}
