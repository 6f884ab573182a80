/* Cell isolation at the C level: executors that really abort, exit, hang,
 * leave a process behind or get interrupted, run through cl__cell_run. Each
 * must fail its own cell with a clear reason and leave nothing running. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cl_test.h"
#include "conlab/error.h"
#include "harness/harness.h"

/* The test's executors. `calls` counts runs inside the cell's process. */
static unsigned calls;
static int leak_fd = -1; /* where the escaping grandchild writes its pid */

struct fake {
  struct cl_executor base;
};

static int fake_create(const struct cl_exec_config *cfg, struct cl_executor **out) {
  struct fake *f = calloc(1, sizeof *f);
  if (!f) return CL_ENOMEM;
  f->base.cfg = *cfg;
  *out = &f->base;
  return 0;
}

static void fake_destroy(struct cl_executor *ex) {
  free(ex);
}

/* Runs the batch correctly, one task after another. */
static int run_all(struct cl_batch *b) {
  for (size_t i = 0; i < b->ntasks; i++)
    cl_task_run_blocking(&b->tasks[i], b, NULL);
  return 0;
}

static int abort_run(struct cl_executor *ex, struct cl_batch *b) {
  (void)ex;
  if (++calls == 3) abort(); /* one warm-up, one sample, then a crash */
  return run_all(b);
}

static int exit_run(struct cl_executor *ex, struct cl_batch *b) {
  (void)ex;
  (void)b;
  _exit(7);
}

static _Noreturn void hang(void) {
  for (;;)
    pause();
}

static int hang_run(struct cl_executor *ex, struct cl_batch *b) {
  (void)ex;
  (void)b;
  hang();
}

/* Starts a process in a group of its own (as a CPython interpreter is
 * started), reports its pid, then hangs. */
static int escape_run(struct cl_executor *ex, struct cl_batch *b) {
  (void)ex;
  (void)b;
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    hang();
  }
  if (write(leak_fd, &pid, sizeof pid) != (ssize_t)sizeof pid) abort();
  hang();
}

static int interrupt_run(struct cl_executor *ex, struct cl_batch *b) {
  (void)ex;
  if (++calls == 2) {
    kill(getppid(), SIGINT); /* as a Ctrl-C would reach conlab */
    hang();
  }
  return run_all(b);
}

#define FAKE(n, r)                                                                                 \
  {                                                                                                \
    .name = n, .summary = "test executor", .create = fake_create, .run = r,                        \
    .destroy = fake_destroy                                                                        \
  }
static const struct cl_executor_ops abort_ops = FAKE("aborts", abort_run);
static const struct cl_executor_ops exit_ops = FAKE("exits", exit_run);
static const struct cl_executor_ops hang_ops = FAKE("hangs", hang_run);
static const struct cl_executor_ops escape_ops = FAKE("escapes", escape_run);
static const struct cl_executor_ops interrupt_ops = FAKE("interrupted", interrupt_run);

static bool alive(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return false;
  char buf[256] = "";
  char *r = fgets(buf, sizeof buf, f);
  fclose(f);
  const char *p = r ? strrchr(buf, ')') : NULL;
  return p && p[2] != 'Z';
}

struct env {
  struct cl__plan plan;
  struct cl__options o;
  struct cl__progress pg;
  struct cl_batch batch;
  struct cl__sample samples[4];
};

static void run_with(struct env *e, struct cl__cell *c, const struct cl_executor_ops *ops,
                     uint64_t timeout_ns) {
  memset(c, 0, sizeof *c);
  memset(e->samples, 0, sizeof e->samples);
  c->w = cl_workload_find("noop");
  c->ex = ops;
  c->workers = 1;
  c->reps = 3;
  c->samples = e->samples;
  cl_exec_config_default(&c->cfg);
  c->expected = e->batch.expected;
  e->o.timeout_ns = timeout_ns;
  calls = 0;
}

int main(void) {
  struct env e;
  memset(&e, 0, sizeof e);
  e.plan.reps = 3;
  e.plan.warmup = 1;
  cl__progress_init(&e.pg, 1);
  struct cl_workload_params p = {.tasks = 8};
  CHECK_EQ_INT(cl_workload_build(cl_workload_find("noop"), &p, &e.batch), 0);
  CHECK_EQ_INT(cl__signals_install(), 0);
  struct cl__cell c;

  /* A correct run: three samples and the right checksum. */
  run_with(&e, &c, cl_executor_find("sequential"), 10ULL * 1000000000ULL);
  CHECK_EQ_INT(cl__cell_run(&c, &e.batch, &e.plan, &e.o, &e.pg), 0);
  CHECK_EQ_INT(c.status, 0);
  CHECK_EQ_INT(c.nsamples, 3);
  CHECK(c.done && c.checksum_ok);
  CHECK_EQ_U64(c.checksum, e.batch.expected);
  CHECK(c.samples[2].wall_s > 0 && c.samples[2].max_rss_kb > 0);

  /* abort() in the executor: one cell fails, its first sample is kept. */
  run_with(&e, &c, &abort_ops, 0);
  CHECK_EQ_INT(cl__cell_run(&c, &e.batch, &e.plan, &e.o, &e.pg), 0);
  CHECK_EQ_INT(c.status, CL_EWORKER);
  CHECK(strstr(c.error, "killed by signal 6 (SIGABRT)") != NULL);
  CHECK(strstr(c.error, "during repetition 2 of 3") != NULL);
  CHECK_EQ_INT(c.nsamples, 1);
  CHECK(!c.done && !c.checksum_ok);
  CHECK_EQ_U64(c.samples[0].checksum, e.batch.expected);
  fprintf(stderr, "abort: %s\n", c.error);

  /* _exit() in the executor. */
  run_with(&e, &c, &exit_ops, 0);
  cl__cell_run(&c, &e.batch, &e.plan, &e.o, &e.pg);
  CHECK_EQ_INT(c.status, CL_EWORKER);
  CHECK(strstr(c.error, "exited with status 7") != NULL);
  CHECK(strstr(c.error, "before the first timed repetition") != NULL);
  fprintf(stderr, "exit: %s\n", c.error);

  /* A hang past --timeout is killed, within a sensible time. */
  run_with(&e, &c, &hang_ops, 200000000ULL);
  double t0 = cl__now_s();
  CHECK_EQ_INT(cl__cell_run(&c, &e.batch, &e.plan, &e.o, &e.pg), 0);
  double took = cl__now_s() - t0;
  CHECK_EQ_INT(c.status, CL_ETIMEDOUT);
  CHECK(strstr(c.error, "timed out after 200 ms") != NULL);
  CHECK(took >= 0.19 && took < 5.0);
  fprintf(stderr, "hang: %s (%.3f s)\n", c.error, took);

  /* A process started outside the cell's group is swept up too. */
  int pfd[2];
  CHECK_EQ_INT(pipe(pfd), 0);
  leak_fd = pfd[1];
  run_with(&e, &c, &escape_ops, 300000000ULL);
  cl__cell_run(&c, &e.batch, &e.plan, &e.o, &e.pg);
  close(pfd[1]);
  pid_t escaped = 0;
  CHECK_EQ_INT(read(pfd[0], &escaped, sizeof escaped), (long)sizeof escaped);
  close(pfd[0]);
  CHECK_EQ_INT(c.status, CL_ETIMEDOUT);
  CHECK(escaped > 0 && !alive(escaped));

  /* SIGINT while a cell runs: CL_EINTR, its first sample kept, quickly. */
  run_with(&e, &c, &interrupt_ops, 0);
  t0 = cl__now_s();
  CHECK_EQ_INT(cl__cell_run(&c, &e.batch, &e.plan, &e.o, &e.pg), CL_EINTR);
  took = cl__now_s() - t0;
  CHECK_EQ_INT(c.status, CL_EINTR);
  CHECK_EQ_INT(cl__signals_pending(), SIGINT);
  CHECK(strstr(c.error, "interrupted by SIGINT") != NULL);
  CHECK_EQ_INT(c.nsamples, 0); /* the warm-up ran, the first timed rep was stopped */
  CHECK(took < 5.0);
  fprintf(stderr, "interrupt: %s\n", c.error);
  cl__signals_restore();

  /* Nothing of ours is left running. */
  CHECK_EQ_INT(cl__reap_strays(true), 0);
  int st;
  CHECK(waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD);

  /* A full disk: no file under the final name, no temporary (fault hook). */
  char dir[] = "/tmp/conlab-relXXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  setenv("CONLAB_TEST_WRITE_VIA", "/dev/full", 1);
  struct cl__plan empty = {0};
  struct cl__options o = {0};
  struct cl__run_info ri = {0};
  snprintf(ri.dir, sizeof ri.dir, "%s", dir);
  int err = cl__results_write(&empty, &o, &ri);
  CHECK_EQ_INT(err, CL_EIO);
  CHECK(strstr(cl_error_detail(), "No space left on device") != NULL);
  unsetenv("CONLAB_TEST_WRITE_VIA");
  CHECK_EQ_INT(rmdir(dir), 0); /* fails unless the directory is empty */

  cl_workload_release(cl_workload_find("noop"), &e.batch);
  return CL_TEST_DONE();
}
