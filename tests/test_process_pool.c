/* The process pool: every workload of the catalogue (quick sizes) on 1 and 2
 * workers, chunk size 1 and automatic, gives the expected checksum; map;
 * usage reported from the workers; task errors; the emulated GIL per
 * process; every child reaped and every descriptor closed. */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/kernel.h"
#include "conlab/process_pool.h"
#include "conlab/topology.h"
#include "conlab/workload.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

/* True when this process has no child left, reaped or not. */
static bool no_children(void) {
  int st;
  errno = 0;
  return waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD;
}

static const struct cl_executor_ops *pp;

static void run_cell(const char *name, struct cl_batch *b, unsigned workers, unsigned chunk) {
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = workers;
  cfg.chunksize = chunk;
  int fds = count_fds();
  struct cl_executor *ex = NULL;
  int rc = pp->create(&cfg, &ex);
  CHECK_EQ_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "  create: %s\n", cl_error_detail());
    return;
  }
  for (int rep = 0; rep < 2; rep++) {
    cl_batch_reset(b);
    rc = pp->run(ex, b);
    CHECK_EQ_INT(rc, 0);
    if (rc)
      fprintf(stderr, "  %s w=%u chunk=%u: %s: %s\n", name, workers, chunk, cl_errname(rc),
              cl_error_detail());
    CHECK_EQ_U64(cl_batch_checksum(b), b->expected);
    unsigned bad = 0;
    for (size_t i = 0; i < b->ntasks; i++) {
      const struct cl_task *t = &b->tasks[i];
      bad += t->status != 0 || t->pc != t->nphases || t->worker >= workers;
    }
    CHECK_EQ_INT(bad, 0);
    struct cl_exec_usage u;
    CHECK_EQ_INT(pp->usage(ex, &u), 0);
    CHECK_EQ_INT(u.effective_chunk, chunk ? chunk : cl_process_pool_auto_chunk(b->ntasks, workers));
    CHECK(u.max_rss_kb > 0);
  }
  pp->destroy(ex);
  CHECK_EQ_INT(count_fds(), fds);
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
    for (unsigned workers = 1; workers <= 2; workers++) {
      run_cell(w->name, &b, workers, 1);
      run_cell(w->name, &b, workers, 0);
    }
    cl_workload_release(w, &b);
    CHECK(no_children());
  }
}

static uint64_t square_plus(uint64_t x) {
  return x * x + 7;
}

static void test_map(void) {
  int fds = count_fds();
  struct cl_process_pool_options opt = {.workers = 2};
  struct cl_process_pool *pool;
  CHECK_EQ_INT(cl_process_pool_create(&opt, &pool), 0);
  int pids[2] = {0, 0};
  CHECK_EQ_INT(cl_process_pool_pids(pool, pids, 2), 2);
  CHECK(pids[0] > 0 && pids[1] > 0 && pids[0] != pids[1] && pids[0] != getpid());
  enum { N = 1000 };
  static uint64_t args[N], res[N];
  for (int i = 0; i < N; i++)
    args[i] = (uint64_t)i * 3 + 1;
  unsigned chunks[3] = {7, 0, 100000};
  for (int c = 0; c < 3; c++) {
    memset(res, 0, sizeof res);
    CHECK_EQ_INT(cl_process_pool_map(pool, square_plus, args, res, N, chunks[c]), 0);
    int bad = 0;
    for (int i = 0; i < N; i++)
      bad += res[i] != square_plus(args[i]);
    CHECK_EQ_INT(bad, 0);
    struct cl_exec_usage u;
    cl_process_pool_usage(pool, &u);
    unsigned want = c == 0   ? 7
                    : c == 1 ? cl_process_pool_auto_chunk(N, 2)
                             : CL_PROCESS_POOL_MAX_CHUNK;
    CHECK_EQ_INT(u.effective_chunk, want);
  }
  CHECK_EQ_INT(cl_process_pool_map(pool, square_plus, NULL, NULL, 0, 0), 0);
  CHECK_EQ_INT(cl_process_pool_map(pool, NULL, args, res, N, 0), CL_EINVAL);
  CHECK(!cl_process_pool_broken(pool));
  cl_process_pool_destroy(pool);
  CHECK_EQ_INT(count_fds(), fds);
  CHECK(no_children());

  CHECK_EQ_INT(cl_process_pool_auto_chunk(8, 2), 1);
  CHECK_EQ_INT(cl_process_pool_auto_chunk(1000, 2), 125);
  CHECK_EQ_INT(cl_process_pool_auto_chunk(1000000, 1), CL_PROCESS_POOL_MAX_CHUNK);
  CHECK_EQ_INT(cl_process_pool_auto_chunk(0, 3), 1);
  struct cl_process_pool_options zero = {.workers = 0};
  CHECK_EQ_INT(cl_process_pool_create(&zero, &pool), CL_EINVAL);
  struct cl_process_pool_options huge = {.workers = 100000};
  CHECK_EQ_INT(cl_process_pool_create(&huge, &pool), CL_ERANGE);
}

static void test_usage_and_gil(void) {
  /* CPU time spent in the workers is what usage reports. */
  const struct cl_workload *w = cl_workload_find("cpu.sumsq");
  struct cl_workload_params p = {.tasks = 4, .size = 40000000};
  struct cl_batch b;
  CHECK_EQ_INT(cl_workload_build(w, &p, &b), 0);
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = 2;
  cfg.gil = true; /* one GIL per worker process: nothing to contend for */
  struct cl_executor *ex = NULL;
  CHECK_EQ_INT(pp->create(&cfg, &ex), 0);
  CHECK_EQ_INT(pp->run(ex, &b), 0);
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  struct cl_exec_usage u;
  pp->usage(ex, &u);
  /* About 4 x 40M x 0.3 ns = 50 ms of CPU, all of it in the children. */
  CHECK(u.user_s + u.sys_s >= 0.02);
  CHECK_LE(u.user_s + u.sys_s, 30.0);
  CHECK(u.nvcsw + u.nivcsw >= 0);
  pp->destroy(ex);
  cl_workload_release(w, &b);
}

static void test_task_error(void) {
  /* A network phase with no server: the task fails in the worker and its
   * detail comes back; the pool is not broken by it. */
  static struct cl_task tasks[6];
  struct cl_batch b = {.tasks = tasks, .ntasks = 6};
  for (uint32_t i = 0; i < 6; i++) {
    memset(&tasks[i], 0, sizeof tasks[i]);
    tasks[i].index = i;
    tasks[i].nphases = 1;
    tasks[i].phase[0] = (struct cl_phase){CL_PHASE_CPU, CL_K_SUMSQ, 0, 1000 + i};
  }
  tasks[3].phase[0] = (struct cl_phase){CL_PHASE_IO, CL_IO_NET, 1000, 16};
  struct cl_process_pool_options opt = {.workers = 2};
  struct cl_process_pool *pool;
  CHECK_EQ_INT(cl_process_pool_create(&opt, &pool), 0);
  cl_error_clear();
  CHECK_EQ_INT(cl_process_pool_run(pool, &b, 2), CL_EINVAL);
  CHECK(strstr(cl_error_detail(), "task 3") != NULL);
  CHECK_EQ_INT(tasks[3].status, CL_EINVAL);
  CHECK_EQ_INT(tasks[5].status, 0);
  CHECK(tasks[5].result != 0);
  CHECK(!cl_process_pool_broken(pool));
  tasks[3].phase[0] = tasks[2].phase[0];
  cl_batch_reset(&b);
  CHECK_EQ_INT(cl_process_pool_run(pool, &b, 0), 0);
  /* Tasks must sit at their own index. */
  tasks[1].index = 4;
  CHECK_EQ_INT(cl_process_pool_run(pool, &b, 0), CL_EINVAL);
  cl_process_pool_destroy(pool);
}

/* Workers are bound as placement says, right after the fork. */
static void test_placement(void) {
  struct cl_topology *topo = NULL;
  CHECK_EQ_INT(cl_topology_load(&topo), 0);
  if (!topo) return;
  cpu_set_t mine;
  CHECK_EQ_INT(sched_getaffinity(0, sizeof mine, &mine), 0);
  unsigned cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &mine))
    cpu++;
  unsigned list[1] = {cpu};
  struct cl_exec_config place;
  cl_exec_config_default(&place);
  place.topo = topo;
  place.bind = CL_BIND_LIST;
  place.bind_cpus = list;
  place.nbind_cpus = 1;
  struct cl_process_pool_options opt = {.workers = 2, .placement = &place};
  struct cl_process_pool *pool = NULL;
  int rc = cl_process_pool_create(&opt, &pool);
  CHECK_EQ_INT(rc, 0);
  if (rc) fprintf(stderr, "  placement: %s\n", cl_error_detail());
  if (pool) {
    int pids[2];
    cl_process_pool_pids(pool, pids, 2);
    for (int i = 0; i < 2; i++) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CHECK_EQ_INT(sched_getaffinity(pids[i], sizeof set, &set), 0);
      CHECK_EQ_INT(CPU_COUNT(&set), 1);
      CHECK(CPU_ISSET(cpu, &set));
    }
    uint64_t x = 3, y = 0;
    CHECK_EQ_INT(cl_process_pool_map(pool, square_plus, &x, &y, 1, 0), 0);
    CHECK_EQ_U64(y, 16);
    cl_process_pool_destroy(pool);
  }
  /* The parent itself is not moved. */
  cpu_set_t after;
  sched_getaffinity(0, sizeof after, &after);
  CHECK(CPU_EQUAL(&after, &mine));
  /* A PU that does not exist fails create, leaving nothing behind. */
  list[0] = 100000;
  CHECK(cl_process_pool_create(&opt, &pool) != 0);
  CHECK(no_children());
  cl_topology_destroy(topo);
}

int main(void) {
  pp = cl_executor_find("process_pool");
  CHECK(pp != NULL);
  if (!pp) return CL_TEST_DONE();
  CHECK(pp->flags & CL_EXEC_PROCESSES);
  CHECK(pp->usage != NULL);
  CHECK(no_children());
  test_catalogue();
  test_map();
  test_usage_and_gil();
  test_task_error();
  test_placement();
  CHECK(no_children());
  return CL_TEST_DONE();
}
