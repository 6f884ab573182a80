/* The phase interpreter, the config and name helpers, and the registry. */
#include "cl_test.h"
#include "test_exec_common.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "executors/exec_internal.h"

#include <signal.h>
#include <sys/time.h>

static void test_config_and_names(void) {
  struct cl_exec_config cfg;
  memset(&cfg, 0xff, sizeof cfg);
  cl_exec_config_default(&cfg);
  CHECK_EQ_INT(cfg.workers, 1);
  CHECK_EQ_INT(cfg.stack_size, 0);
  CHECK(!cfg.gil);
  CHECK_EQ_U64(cfg.switch_interval_ns, 5000000);
  CHECK_EQ_INT(cfg.bind, CL_BIND_NONE);
  CHECK(cfg.topo == NULL);
  CHECK_STR(cl_bind_name(CL_BIND_NONE), "none");
  CHECK_STR(cl_bind_name(CL_BIND_SCATTER), "scatter");
  CHECK_STR(cl_bind_name((enum cl_bind)99), "?");
  CHECK_STR(cl_omp_schedule_name(CL_OMP_STATIC), "static");
  CHECK_STR(cl_omp_schedule_name(CL_OMP_DYNAMIC), "dynamic");
  CHECK_STR(cl_omp_schedule_name(CL_OMP_GUIDED), "guided");
  CHECK_STR(cl_omp_schedule_name((enum cl_omp_schedule)7), "?");
}

static void test_registry(void) {
  static const char *const listed[] = {
#define NAME(sym, name) name,
      CL__EXECUTOR_LIST(NAME)
#undef NAME
  };
  size_t n = cl_executor_count();
  CHECK_EQ_U64(n, sizeof listed / sizeof listed[0]);
#ifdef CL_HAVE_OPENMP
  CHECK(cl_executor_find("openmp") != NULL);
#else
  CHECK(cl_executor_find("openmp") == NULL);
#endif
  for (size_t i = 0; i < n; i++) {
    const struct cl_executor_ops *ops = cl_executor_at(i);
    CHECK(ops != NULL);
    if (!ops) continue;
    CHECK_STR(ops->name, listed[i]);
    CHECK(cl_executor_find(listed[i]) == ops);
    CHECK(ops->create && ops->run && ops->destroy && ops->summary && ops->summary[0]);
  }
  CHECK(cl_executor_at(n) == NULL);
  CHECK(cl_executor_find("no_such_executor") == NULL);
  CHECK(cl_executor_find(NULL) == NULL);
  CHECK(cl_executor_find("sequential") != NULL);
  CHECK(cl_executor_find("threads") != NULL);
  CHECK(cl_executor_find("thread_pool") != NULL);
  CHECK(cl_executor_find("thread_pool")->flags & CL_EXEC_PARALLEL);
  CHECK(cl_executor_find("threads")->flags & CL_EXEC_GIL_CAPABLE);
  CHECK(!(cl_executor_find("sequential")->flags & CL_EXEC_GIL_CAPABLE));
}

static void test_step(void) {
  struct cl_task tasks[1];
  struct cl_phase ph[3] = {tx_cpu(CL_K_SUMSQ, 0, 1000), tx_sleep(1000), tx_cpu(CL_K_SPIN, 5, 5000)};
  tx_task(tasks, 0, 3, ph);
  tasks[0].index = 42;
  struct cl_batch b;
  tx_batch(&b, tasks, 1);
  struct cl_task *t = &tasks[0];
  CHECK_EQ_INT(cl_task_step(t, &b), 1);
  CHECK_EQ_INT(t->pc, 1);
  CHECK_EQ_U64(t->result, cl_kernel_run(CL_K_SUMSQ, 0, 1000, NULL));
  /* sum of i*i for i < 1000, computed in closed form. */
  CHECK_EQ_U64(t->result, 999ull * 1000 * 1999 / 6);
  CHECK_EQ_INT(cl_task_step(t, &b), 1); /* still due: the caller has not done it */
  uint64_t token = 0;
  CHECK_EQ_INT(cl_io_blocking(&b, &t->phase[1], &token, t->index), 0);
  CHECK_EQ_U64(token, cl_io_token(42, &t->phase[1]));
  t->result += token;
  t->pc++;
  CHECK_EQ_INT(cl_task_step(t, &b), -1);
  CHECK_EQ_INT(t->pc, 3);
  CHECK_EQ_INT(t->status, 0);
  CHECK_EQ_U64(t->result, tx_expected_task(t, NULL));
  CHECK_EQ_INT(cl_task_step(t, &b), -1); /* done stays done */

  /* An IO-first task. */
  struct cl_phase io_first[2] = {tx_sleep(0), tx_cpu(CL_K_SPIN, 0, 10)};
  tx_task(tasks, 0, 2, io_first);
  CHECK_EQ_INT(cl_task_step(&tasks[0], &b), 0);
  CHECK_EQ_U64(tasks[0].result, 0);

  /* A bad phase kind and too many phases fail the task. */
  struct cl_phase bad = {7, 0, 0, 0};
  tx_task(tasks, 0, 1, &bad);
  CHECK_EQ_INT(cl_task_step(&tasks[0], &b), -1);
  CHECK_EQ_INT(tasks[0].status, CL_EINVAL);
  tx_task(tasks, 0, 1, ph);
  tasks[0].nphases = CL_TASK_MAX_PHASES + 1;
  CHECK_EQ_INT(cl_task_step(&tasks[0], &b), -1);
  CHECK_EQ_INT(tasks[0].status, CL_EINVAL);
  CHECK_EQ_U64(tasks[0].result, 0);
}

static void on_alarm(int sig) {
  (void)sig;
}

static void test_io(void) {
  struct cl_batch b;
  memset(&b, 0, sizeof b);
  uint64_t token = 0;
  struct cl_phase p = tx_sleep(30 * 1000000ull);
  double t0 = tx_now();
  CHECK_EQ_INT(cl_io_blocking(&b, &p, &token, 3), 0);
  double el = tx_now() - t0;
  CHECK_LE(0.030, el);
  CHECK_EQ_U64(token, cl_io_token(3, &p));

  /* Signals interrupt the sleep; it resumes to the same deadline. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART */
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval itv = {{0, 5000}, {0, 5000}};
  setitimer(ITIMER_REAL, &itv, NULL);
  p = tx_sleep(60 * 1000000ull);
  t0 = tx_now();
  int rc = cl_io_blocking(&b, &p, &token, 3);
  el = tx_now() - t0;
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  CHECK_EQ_INT(rc, 0);
  CHECK_LE(0.060, el);

  struct cl_phase net = {CL_PHASE_IO, CL_IO_NET, 1000, 64};
  cl_error_clear();
  CHECK_EQ_INT(cl_io_blocking(&b, &net, &token, 7), CL_EINVAL);
  CHECK(strstr(cl_error_detail(), "task 7") != NULL);
  struct cl_phase odd = {CL_PHASE_IO, 99, 0, 0};
  CHECK_EQ_INT(cl_io_blocking(&b, &odd, &token, 7), CL_EINVAL);
  struct cl_phase cpu = tx_cpu(CL_K_SPIN, 0, 1);
  CHECK_EQ_INT(cl_io_blocking(&b, &cpu, &token, 7), CL_EINVAL);
}

static void test_run_blocking(void) {
  struct cl_task tasks[3];
  struct cl_phase a[3] = {tx_cpu(CL_K_SPIN, 0, 20000), tx_sleep(2000000),
                          tx_cpu(CL_K_SUMSQ, 10, 50000)};
  struct cl_phase c[2] = {tx_sleep(1000), tx_sleep(1000)};
  struct cl_phase net[2] = {tx_cpu(CL_K_SPIN, 0, 10), {CL_PHASE_IO, CL_IO_NET, 0, 0}};
  tx_task(tasks, 0, 3, a);
  tx_task(tasks, 1, 2, c);
  tx_task(tasks, 2, 2, net);
  struct cl_batch b;
  tx_batch(&b, tasks, 2);
  for (int i = 0; i < 2; i++) {
    tasks[i].status = 99;
    cl_task_run_blocking(&tasks[i], &b, NULL);
    CHECK_EQ_INT(tasks[i].status, 0);
    CHECK_EQ_INT(tasks[i].pc, tasks[i].nphases);
  }
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  CHECK_EQ_U64(tasks[0].result, cl_kernel_run(CL_K_SPIN, 0, 20000, NULL) + cl_io_token(0, &a[1]) +
                                    cl_kernel_run(CL_K_SUMSQ, 10, 50000, NULL));
  cl_task_run_blocking(&tasks[2], &b, NULL);
  CHECK_EQ_INT(tasks[2].status, CL_EINVAL);
  CHECK_EQ_INT(tasks[2].pc, 1);

  /* run_once: create, run, destroy. */
  b.ntasks = 3;
  cl_batch_reset(&b);
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cl_error_clear();
  CHECK_EQ_INT(cl_executor_run_once(cl_executor_find("sequential"), &cfg, &b), CL_EINVAL);
  CHECK(strstr(cl_error_detail(), "task 2") != NULL);
  b.ntasks = 2;
  cl_batch_reset(&b);
  CHECK_EQ_INT(cl_executor_run_once(cl_executor_find("sequential"), &cfg, &b), 0);
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  CHECK_EQ_INT(cl_executor_run_once(NULL, &cfg, &b), CL_EINVAL);
}

int main(void) {
  test_config_and_names();
  test_registry();
  test_step();
  test_io();
  test_run_blocking();
  return CL_TEST_DONE();
}
