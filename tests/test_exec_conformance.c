/* Every in-process executor, at 1, 2 and 3 workers, with and without the GIL
 * where it is honoured, computes what the result rule says, task by task. */
#include "cl_test.h"
#include "test_exec_common.h"

#include "conlab/error.h"
#include "conlab/executor.h"

#include <stdbool.h>
#include <stdio.h>

enum { NTASKS = 23 };

static struct cl_task tasks[NTASKS];
static uint64_t want[NTASKS];

static void build(struct cl_batch *b) {
  for (uint32_t i = 0; i < NTASKS; i++) {
    struct cl_phase ph[3];
    uint32_t n;
    switch (i % 4) {
    case 0:
      ph[0] = tx_cpu(CL_K_SUMSQ, i * 1000ull, i * 1000ull + 20000 + i * 3000ull);
      n = 1;
      break;
    case 1:
      ph[0] = tx_cpu(CL_K_SPIN, i, i + 30000 + i * 1000ull);
      n = 1;
      break;
    case 2:
      ph[0] = tx_cpu(CL_K_SPIN, 0, 5000);
      ph[1] = tx_sleep(1000000);
      ph[2] = tx_cpu(CL_K_SUMSQ, 7, 9000);
      n = 3;
      break;
    default:
      ph[0] = tx_sleep(200000 + i * 1000ull);
      ph[1] = tx_cpu(CL_K_NOOP, i, i);
      n = 2;
      break;
    }
    tx_task(tasks, i, n, ph);
  }
  tx_batch(b, tasks, NTASKS);
  for (uint32_t i = 0; i < NTASKS; i++)
    want[i] = tx_expected_task(&tasks[i], NULL);
}

/* Executors that run an outside interpreter rebuild the batch from the
 * workload's name, so they cannot run these hand-built batches; the harness's
 * conformance test covers them. */
static bool in_process(const struct cl_executor_ops *ops) {
  return !(ops->flags & CL_EXEC_EXTERNAL);
}

static void check_batch(const char *who, const struct cl_batch *b, unsigned workers,
                        unsigned flags) {
  unsigned bad = 0;
  for (uint32_t i = 0; i < NTASKS; i++) {
    const struct cl_task *t = &b->tasks[i];
    if (t->status != 0 || t->result != want[i] || t->pc != t->nphases) bad++;
    if ((flags & CL_EXEC_PARALLEL) && t->worker >= workers) bad++;
  }
  if (bad) fprintf(stderr, "  %s: %u task problems\n", who, bad);
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_U64(cl_batch_checksum(b), b->expected);
  CHECK_EQ_INT(cl_batch_status(b), 0);
}

static void run_one(const struct cl_executor_ops *ops, struct cl_exec_config *cfg,
                    struct cl_batch *b) {
  char who[128];
  snprintf(who, sizeof who, "%s workers=%u gil=%d sched=%s/%u", ops->name, cfg->workers,
           (int)cfg->gil, cl_omp_schedule_name(cfg->omp_schedule), cfg->omp_chunk);
  struct cl_executor *ex = NULL;
  int rc = ops->create(cfg, &ex);
  CHECK_EQ_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "  %s: create: %s (%s)\n", who, cl_strerror(rc), cl_error_detail());
    return;
  }
  /* Two repetitions on one instance: executors are reusable. */
  for (int rep = 0; rep < 2; rep++) {
    cl_batch_reset(b);
    rc = ops->run(ex, b);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "  %s: run: %s (%s)\n", who, cl_strerror(rc), cl_error_detail());
    check_batch(who, b, cfg->workers, ops->flags);
  }
  ops->destroy(ex);
}

static void test_all_executors(struct cl_batch *b) {
  /* The sequential reference equals the independently computed sum. */
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cl_batch_reset(b);
  CHECK_EQ_INT(cl_executor_run_once(cl_executor_find("sequential"), &cfg, b), 0);
  uint64_t reference = cl_batch_checksum(b);
  CHECK_EQ_U64(reference, b->expected);

  size_t runs = 0;
  for (size_t i = 0; i < cl_executor_count(); i++) {
    const struct cl_executor_ops *ops = cl_executor_at(i);
    if (!in_process(ops)) continue;
    for (unsigned workers = 1; workers <= 3; workers++) {
      for (int gil = 0; gil <= 1; gil++) {
        if (gil && !(ops->flags & CL_EXEC_GIL_CAPABLE)) continue;
        cl_exec_config_default(&cfg);
        cfg.workers = workers;
        cfg.gil = gil;
        cfg.switch_interval_ns = 200000;
        run_one(ops, &cfg, b);
        runs++;
      }
    }
  }
  CHECK(runs >= 15); /* sequential 3, threads 6, thread_pool 6 (+ openmp 6) */

  const struct cl_executor_ops *omp = cl_executor_find("openmp");
  if (omp) {
    for (int s = CL_OMP_STATIC; s <= CL_OMP_GUIDED; s++)
      for (unsigned chunk = 0; chunk <= 3; chunk += 3) {
        cl_exec_config_default(&cfg);
        cfg.workers = 2;
        cfg.omp_schedule = (enum cl_omp_schedule)s;
        cfg.omp_chunk = chunk;
        run_one(omp, &cfg, b);
      }
  }
}

/* A failing task is reported, the others still complete. */
static void test_failure(struct cl_batch *b) {
  struct cl_task saved = tasks[5];
  struct cl_phase ph[2] = {tx_cpu(CL_K_SPIN, 0, 100), {CL_PHASE_IO, CL_IO_NET, 1000, 10}};
  tx_task(tasks, 5, 2, ph);
  for (size_t i = 0; i < cl_executor_count(); i++) {
    const struct cl_executor_ops *ops = cl_executor_at(i);
    if (!in_process(ops)) continue;
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    cfg.workers = 2;
    cl_batch_reset(b);
    cl_error_clear();
    int rc = cl_executor_run_once(ops, &cfg, b);
    CHECK_EQ_INT(rc, CL_EINVAL);
    CHECK(strstr(cl_error_detail(), "task 5") != NULL);
    CHECK_EQ_INT(tasks[5].status, CL_EINVAL);
    CHECK_EQ_INT(cl_batch_status(b), CL_EINVAL);
    unsigned others_ok = 0;
    for (uint32_t k = 0; k < NTASKS; k++)
      if (k != 5 && tasks[k].status == 0 && tasks[k].result == want[k]) others_ok++;
    CHECK_EQ_INT(others_ok, NTASKS - 1);
  }
  tasks[5] = saved;
}

static void test_bad_config(void) {
  for (size_t i = 0; i < cl_executor_count(); i++) {
    const struct cl_executor_ops *ops = cl_executor_at(i);
    struct cl_executor *ex = NULL;
    CHECK_EQ_INT(ops->create(NULL, &ex), CL_EINVAL);
    if (!(ops->flags & CL_EXEC_PARALLEL)) continue;
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    cfg.workers = 0;
    CHECK_EQ_INT(ops->create(&cfg, &ex), CL_EINVAL);
    cfg.workers = 100000;
    CHECK_EQ_INT(ops->create(&cfg, &ex), CL_ERANGE);
    CHECK(ex == NULL);
  }
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.stack_size = 100;
  struct cl_executor *ex = NULL;
  CHECK_EQ_INT(cl_executor_find("threads")->create(&cfg, &ex), CL_EINVAL);
  CHECK_EQ_INT(cl_executor_find("thread_pool")->create(&cfg, &ex), CL_EINVAL);
  CHECK(ex == NULL);
}

/* An empty batch is fine everywhere. */
static void test_empty(void) {
  struct cl_batch b;
  memset(&b, 0, sizeof b);
  for (size_t i = 0; i < cl_executor_count(); i++) {
    if (!in_process(cl_executor_at(i))) continue;
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    cfg.workers = 2;
    CHECK_EQ_INT(cl_executor_run_once(cl_executor_at(i), &cfg, &b), 0);
  }
}

int main(void) {
  struct cl_batch b;
  build(&b);
  test_all_executors(&b);
  test_failure(&b);
  test_bad_config();
  test_empty();
  return CL_TEST_DONE();
}
