/* A thread per task can run out of threads: run() must join what it started,
 * return CL_ETHREAD with a detail, and never crash or hang. */
#include "cl_test.h"
#include "test_exec_common.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/thread_pool.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MS = 1000000, NTASKS = 64 };

static struct cl_task tasks[NTASKS];

/* A stack too large to map: pthread_create fails for the first thread. */
static void test_absurd_stack(void) {
  struct cl_batch b;
  tx_sleep_batch(&b, tasks, 8, 1 * MS);
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.stack_size = (size_t)1 << 46; /* 64 TiB */
  const struct cl_executor_ops *ops = cl_executor_find("threads");
  struct cl_executor *ex = NULL;
  CHECK_EQ_INT(ops->create(&cfg, &ex), 0);
  if (!ex) return;
  cl_error_clear();
  double t0 = tx_now();
  int rc = ops->run(ex, &b);
  CHECK_LE(tx_now() - t0, 5.0);
  CHECK_EQ_INT(rc, CL_ETHREAD);
  printf("absurd stack: %s\n", cl_error_detail());
  CHECK(strstr(cl_error_detail(), "0 threads running") != NULL);
  CHECK_EQ_INT(cl_batch_status(&b), CL_ETHREAD);
  /* The same executor still works with a sane stack afterwards. */
  ops->destroy(ex);
  cfg.stack_size = 256 * 1024;
  cl_batch_reset(&b);
  CHECK_EQ_INT(cl_executor_run_once(ops, &cfg, &b), 0);
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);

  struct cl_thread_pool *pool = NULL;
  cfg.stack_size = (size_t)1 << 46;
  CHECK_EQ_INT(cl_thread_pool_create(3, &cfg, &pool), CL_ETHREAD);
  CHECK(pool == NULL);
  CHECK(strstr(cl_error_detail(), "0 of 3 workers") != NULL);
}

/* Tasks (threads) that user `uid` owns right now, from /proc. */
static long count_tasks_of(uid_t uid) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  long total = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300], line[256];
    snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    long ruid = -1, threads = 0;
    while (fgets(line, sizeof line, f)) {
      if (sscanf(line, "Uid: %ld", &ruid) == 1) continue;
      if (sscanf(line, "Threads: %ld", &threads) == 1) break;
    }
    fclose(f);
    if (ruid == (long)uid) total += threads;
  }
  closedir(d);
  return total;
}

/* In the child: a low RLIMIT_NPROC lets a few threads start, then
 * pthread_create fails with EAGAIN. Root ignores RLIMIT_NPROC, so as root the
 * child first becomes a user of its own (a uid derived from its pid, so that
 * concurrent runs do not share the count), or `nobody` where that uid is not
 * available. Returns the number of failed checks. */
static int child_low_nproc(void) {
  if (geteuid() == 0) {
    uid_t uid = (uid_t)(3000000 + getpid());
    if (setgid(uid) != 0 || setuid(uid) != 0) uid = 65534;
    if (getuid() != uid && (setgid(uid) != 0 || setuid(uid) != 0)) {
      fprintf(stderr, "child: cannot leave root\n");
      return 1;
    }
  }
  long mine = count_tasks_of(getuid());
  if (mine < 1) return 1;
  struct rlimit rl = {(rlim_t)mine + 3, (rlim_t)mine + 3};
  if (setrlimit(RLIMIT_NPROC, &rl) != 0) {
    perror("child: setrlimit");
    return 1;
  }
  struct cl_batch b;
  tx_sleep_batch(&b, tasks, NTASKS, 200 * MS);
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.stack_size = 256 * 1024;
  cl_error_clear();
  double t0 = tx_now();
  int rc = cl_executor_run_once(cl_executor_find("threads"), &cfg, &b);
  double el = tx_now() - t0;
  printf("low RLIMIT_NPROC (uid %u: %ld + 3): rc %s after %.0f ms: %s\n", (unsigned)getuid(), mine,
         cl_errname(rc), el * 1e3, cl_error_detail());
  CHECK_EQ_INT(rc, CL_ETHREAD);
  CHECK_LE(el, 5.0);
  size_t running = 0;
  const char *at = strstr(cl_error_detail(), "with ");
  CHECK(at && sscanf(at, "with %zu threads running", &running) == 1);
  size_t ok = 0, failed = 0;
  for (size_t i = 0; i < NTASKS; i++) {
    if (tasks[i].status == 0 && tasks[i].result == cl_io_token((uint32_t)i, &tasks[i].phase[0]))
      ok++;
    if (tasks[i].status == CL_ETHREAD) failed++;
  }
  /* The threads that did start finished their task before run() returned. */
  CHECK_EQ_U64(ok, running);
  CHECK_EQ_U64(ok + failed, NTASKS);
  CHECK(failed > 0);
  if (ok > 0) CHECK_LE(0.2, el);

  struct cl_thread_pool *pool = NULL;
  CHECK_EQ_INT(cl_thread_pool_create(16, &cfg, &pool), CL_ETHREAD);
  CHECK(pool == NULL);
  printf("pool: %s\n", cl_error_detail());
  CHECK(strstr(cl_error_detail(), "of 16 workers running") != NULL);

  /* Everything was joined: two threads fit again. */
  tx_sleep_batch(&b, tasks, 2, 1 * MS);
  CHECK_EQ_INT(cl_executor_run_once(cl_executor_find("threads"), &cfg, &b), 0);
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  return cl_t_fail;
}

static void test_low_nproc(void) {
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int fails = child_low_nproc();
    fflush(stdout);
    _exit(fails ? 1 : 0);
  }
  int st = 0;
  CHECK_EQ_INT(waitpid(pid, &st, 0), pid);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
}

int main(void) {
  test_absurd_stack();
  test_low_nproc();
  return CL_TEST_DONE();
}
