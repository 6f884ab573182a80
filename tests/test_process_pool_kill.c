/* A broken process pool: a worker killed with SIGKILL in the middle of a
 * batch, and a task that crashes its worker, each fail the run with
 * CL_EWORKER within about a second, with a detail naming the pid, the signal
 * and the task; no child is left, reaped or not, and no descriptor. */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/kernel.h"
#include "conlab/process_pool.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Sanitizers would catch the crash below and exit instead of dying by the
 * signal; let the signal through so the report is the same in every build. */
#ifdef CL_SANITIZED
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "handle_segv=0";
}
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) {
  return "handle_segv=0";
}
#endif

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

static bool no_children(void) {
  int st;
  errno = 0;
  return waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct killer {
  int pid;
  double delay_s;
  double killed_at;
};

static void *killer_main(void *arg) {
  struct killer *k = arg;
  struct timespec ts = {0, (long)(k->delay_s * 1e9)};
  nanosleep(&ts, NULL);
  k->killed_at = now_s();
  kill(k->pid, SIGKILL);
  return NULL;
}

enum { NTASKS = 8 };
static struct cl_task tasks[NTASKS];

static void test_sigkill(void) {
  int fds = count_fds();
  /* Long CPU tasks (seconds each): the run is far from over at the kill. */
  for (uint32_t i = 0; i < NTASKS; i++) {
    memset(&tasks[i], 0, sizeof tasks[i]);
    tasks[i].index = i;
    tasks[i].nphases = 1;
    tasks[i].phase[0] = (struct cl_phase){CL_PHASE_CPU, CL_K_SPIN, 0, 2000000000};
  }
  struct cl_batch b = {.tasks = tasks, .ntasks = NTASKS};
  struct cl_process_pool_options opt = {.workers = 2};
  struct cl_process_pool *pool;
  CHECK_EQ_INT(cl_process_pool_create(&opt, &pool), 0);
  int pids[2];
  cl_process_pool_pids(pool, pids, 2);
  struct killer k = {pids[1], 0.3, 0};
  pthread_t tid;
  CHECK_EQ_INT(pthread_create(&tid, NULL, killer_main, &k), 0);
  cl_error_clear();
  double t0 = now_s();
  int rc = cl_process_pool_run(pool, &b, 1);
  double end = now_s();
  pthread_join(tid, NULL);
  CHECK_EQ_INT(rc, CL_EWORKER);
  CHECK_LE(end - k.killed_at, 1.5); /* noticed within about a second */
  CHECK_LE(end - t0, 3.0);
  const char *d = cl_error_detail();
  char want[64];
  snprintf(want, sizeof want, "pid %d", pids[1]);
  CHECK(strstr(d, want) != NULL);
  CHECK(strstr(d, "SIGKILL") != NULL);
  CHECK(strstr(d, "while running task 1") != NULL); /* worker 1's first chunk */
  CHECK(strstr(d, "broken") != NULL);
  if (rc) fprintf(stderr, "  detail: %s\n", d);
  CHECK_EQ_INT(tasks[1].status, CL_EWORKER);
  CHECK_EQ_INT(tasks[7].status, CL_ECANCELED);
  /* Every worker, the survivor too, is already reaped. */
  CHECK(no_children());
  CHECK(cl_process_pool_broken(pool));
  CHECK_EQ_INT(cl_process_pool_run(pool, &b, 1), CL_EWORKER);
  CHECK(strstr(cl_error_detail(), "broken") != NULL);
  uint64_t x = 1, y;
  CHECK_EQ_INT(cl_process_pool_map(pool, (cl_map_fn)cl_mix64, &x, &y, 1, 0), CL_EWORKER);
  cl_process_pool_destroy(pool);
  CHECK_EQ_INT(count_fds(), fds);
  CHECK(no_children());
}

/* Stream buffers at addresses nobody maps: the kernel faults on the first
 * element. It is static, so it exists before the pool is created. */
static struct cl_stream_data bogus = {(uint64_t *)64, (uint64_t *)128, (uint64_t *)192, 1000};

static void test_crash(void) {
  int fds = count_fds();
  for (uint32_t i = 0; i < NTASKS; i++) {
    memset(&tasks[i], 0, sizeof tasks[i]);
    tasks[i].index = i;
    tasks[i].nphases = 1;
    tasks[i].phase[0] = (struct cl_phase){CL_PHASE_IO, CL_IO_SLEEP, 20000000, 0};
  }
  tasks[5].phase[0] = (struct cl_phase){CL_PHASE_CPU, CL_K_STREAM, 0, 1000};
  struct cl_batch b = {.tasks = tasks, .ntasks = NTASKS, .data = &bogus};
  struct cl_process_pool_options opt = {.workers = 2};
  struct cl_process_pool *pool;
  CHECK_EQ_INT(cl_process_pool_create(&opt, &pool), 0);
  int pids[2];
  cl_process_pool_pids(pool, pids, 2);
  cl_error_clear();
  double t0 = now_s();
  int rc = cl_process_pool_run(pool, &b, 1);
  CHECK_EQ_INT(rc, CL_EWORKER);
  CHECK_LE(now_s() - t0, 2.0);
  const char *d = cl_error_detail();
  if (rc) fprintf(stderr, "  detail: %s\n", d);
  CHECK(strstr(d, "while running task 5") != NULL);
  CHECK(strstr(d, "SIGSEGV") != NULL);
  char p0[32], p1[32];
  snprintf(p0, sizeof p0, "pid %d", pids[0]);
  snprintf(p1, sizeof p1, "pid %d", pids[1]);
  CHECK(strstr(d, p0) != NULL || strstr(d, p1) != NULL);
  CHECK_EQ_INT(tasks[5].status, CL_EWORKER);
  CHECK(no_children());
  cl_process_pool_destroy(pool);
  CHECK_EQ_INT(count_fds(), fds);
}

int main(void) {
  test_sigkill();
  test_crash();
  return CL_TEST_DONE();
}
