/* The py.* executors: every pattern computes the C checksum of the catalogue's
 * workloads; unsupported kernels, a missing python3, a missing or broken
 * runner and a dead interpreter or pool worker are reported clearly; nothing
 * leaks (descriptors, children). Needs python3 on PATH. */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/workload.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const py_names[] = {"py.sequential", "py.threads", "py.thread_pool",
                                       "py.process_pool", "py.event_loop"};
#define NPY (sizeof py_names / sizeof py_names[0])

static char tmpdir[] = "/tmp/conlab-test-py-XXXXXX";

static bool detail_has(const char *s) {
  return strstr(cl_error_detail(), s) != NULL;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

struct shape {
  const char *workload;
  struct cl_workload_params p;
};

/* Small shapes: CPython runs these about 100 times slower than C. */
static const struct shape shapes[] = {
    {"cpu.sumsq", {.tasks = 6, .size = 30001}},
    {"cpu.fib", {.tasks = 5, .size = 15}},
    {"cpu.primes", {.tasks = 4, .size = 1500}},
    {"cpu.mandel", {.tasks = 4, .size = 24}},
    {"io.sleep", {.tasks = 8, .delay_ns = 2000000}},
    {"mixed.request", {.tasks = 6, .size = 20000, .delay_ns = 1000000}},
    {"noop", {.tasks = 50}},
};

static void check_run(const char *name, const struct cl_executor_ops *ops, struct cl_executor *ex,
                      struct cl_batch *b, unsigned workers) {
  for (int rep = 0; rep < 2; rep++) {
    cl_batch_reset(b);
    cl_error_clear();
    int rc = ops->run(ex, b);
    CL_T_REPORT(rc == 0, "%s on %s: %s (%s)", ops->name, name, cl_errname(rc), cl_error_detail());
    CL_T_REPORT(cl_batch_checksum(b) == b->expected, "%s on %s: checksum %llu, expected %llu",
                ops->name, name, (unsigned long long)cl_batch_checksum(b),
                (unsigned long long)b->expected);
    CHECK(b->self_timed_ns > 0);
    unsigned bad = 0;
    for (size_t i = 0; i < b->ntasks; i++) {
      const struct cl_task *t = &b->tasks[i];
      if (t->status || t->pc != t->nphases) bad++;
      if ((ops->flags & CL_EXEC_PARALLEL) && t->worker >= workers) bad++;
      /* The runner measures every IO-to-CPU wakeup, as the C executors do. */
      uint32_t want = 0;
      for (uint32_t k = 0; k + 1 < t->nphases; k++)
        want += t->phase[k].kind == CL_PHASE_IO && t->phase[k + 1].kind == CL_PHASE_CPU;
      if (t->wakes != want || (!want && t->wake_ns) || t->wake_ns > 10000000000ull) bad++;
    }
    CL_T_REPORT(bad == 0, "%s on %s: %u task problems", ops->name, name, bad);
  }
  struct cl_exec_usage u;
  memset(&u, 0xff, sizeof u);
  CHECK_EQ_INT(ops->usage(ex, &u), 0);
  CHECK(u.startup_s > 0 && u.startup_s < 60);
  CHECK(u.runtime != NULL && strstr(u.runtime, "3.") != NULL);
  CHECK(u.version != NULL && strncmp(u.version, "3.", 2) == 0 && strstr(u.runtime, u.version));
  CHECK(u.implementation != NULL && strstr(u.runtime, u.implementation) == u.runtime);
  CHECK(u.user_s >= 0 && u.sys_s >= 0);
}

/* Every pattern, every supported workload, two runs on one instance. */
static void test_checksums(void) {
  for (size_t k = 0; k < NPY; k++) {
    const struct cl_executor_ops *ops = cl_executor_find(py_names[k]);
    CHECK(ops != NULL);
    if (!ops) continue;
    CHECK(ops->flags & CL_EXEC_EXTERNAL);
    CHECK(!(ops->flags & CL_EXEC_GIL_CAPABLE));
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    cfg.workers = 2;
    struct cl_executor *ex = NULL;
    cl_error_clear();
    int rc = ops->create(&cfg, &ex);
    CL_T_REPORT(rc == 0, "%s create: %s (%s)", ops->name, cl_errname(rc), cl_error_detail());
    if (rc) continue;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      struct cl_workload_params p = shapes[s].p;
      struct cl_batch b;
      const struct cl_workload *w = cl_workload_find(shapes[s].workload);
      CHECK(w != NULL);
      if (!w || cl_workload_build(w, &p, &b) != 0) continue;
      check_run(w->name, ops, ex, &b, cfg.workers);
      cl_workload_release(w, &b);
    }
    ops->destroy(ex);
  }
}

/* mem.stream has no Python port: refused with a clear detail, nothing run. */
static void test_unsupported(void) {
  const struct cl_workload *w = cl_workload_find("mem.stream");
  struct cl_workload_params p = {.tasks = 3, .size = 1000};
  struct cl_batch b;
  if (!w || cl_workload_build(w, &p, &b) != 0) {
    CHECK(!"mem.stream builds");
    return;
  }
  for (size_t k = 0; k < NPY; k++) {
    const struct cl_executor_ops *ops = cl_executor_find(py_names[k]);
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    cl_batch_reset(&b);
    cl_error_clear();
    int rc = cl_executor_run_once(ops, &cfg, &b);
    CHECK_EQ_INT(rc, CL_EUNSUPPORTED);
    CL_T_REPORT(detail_has("stream") && detail_has("no Python port") && detail_has(ops->name),
                "detail \"%s\"", cl_error_detail());
    CHECK_EQ_INT(cl_batch_status(&b), CL_EUNSUPPORTED);
    CHECK_EQ_U64(b.self_timed_ns, 0);
  }
  cl_workload_release(w, &b);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

/* Creates py.sequential on the runner `script` (written into tmpdir). */
static int create_on(const char *file, const char *script, struct cl_executor **ex) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, file);
  if (script) write_file(path, script);
  setenv("CONLAB_PYTHON_RUNNER", path, 1);
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  *ex = NULL;
  cl_error_clear();
  int rc = cl_executor_find("py.sequential")->create(&cfg, ex);
  unsetenv("CONLAB_PYTHON_RUNNER");
  return rc;
}

static void test_bad_runners(void) {
  struct cl_executor *ex;
  CHECK_EQ_INT(create_on("missing.py", NULL, &ex), CL_ENOENT);
  CHECK(detail_has("missing.py") && detail_has("CONLAB_PYTHON_RUNNER"));

  CHECK_EQ_INT(create_on("exits.py",
                         "import sys\nsys.stderr.write('boom at start\\n')\n"
                         "sys.exit(5)\n",
                         &ex),
               CL_EPROC);
  CL_T_REPORT(detail_has("exited with status 5") && detail_has("boom at start"), "detail \"%s\"",
              cl_error_detail());

  CHECK_EQ_INT(create_on("garbage.py", "import os\nos.write(3, b'hello there\\n')\n", &ex), CL_EIO);
  CHECK(detail_has("ready"));

  CHECK_EQ_INT(
      create_on("old.py", "import os\nos.write(3, b'fatal python 2.7.18 is too old\\n')\n", &ex),
      CL_EUNSUPPORTED);
  CHECK(detail_has("2.7.18 is too old"));

  /* A free-threaded interpreter running without its GIL is recorded as such. */
  int rc = create_on("freethreaded.py",
                     "import os\n"
                     "os.write(3, b'ready 3.13.0 cpython 0 %d /opt/python3.13t\\n' % os.getpid())\n"
                     "os.fdopen(3, 'rb').read()\n",
                     &ex);
  CHECK_EQ_INT(rc, 0);
  if (rc == 0) {
    struct cl_exec_usage u;
    ex->ops->usage(ex, &u);
    CL_T_REPORT(u.runtime && strstr(u.runtime, "CPython 3.13.0 (free-threaded, GIL disabled)"),
                "runtime \"%s\"", u.runtime ? u.runtime : "(null)");
    CHECK(u.gil_disabled);
    CHECK_STR(u.version, "3.13.0");
    CHECK_STR(u.implementation, "CPython");
    ex->ops->destroy(ex);
  }

  /* Ready, then dies on the first batch: the run fails, the next is refused. */
  const char *dies = "import os, sys\n"
                     "os.write(3, b'ready 3.99.0 cpython 1 %d /fake/python\\n' % os.getpid())\n"
                     "f = os.fdopen(3, 'rb')\n"
                     "f.readline()\n"
                     "sys.stderr.write('dying on purpose\\n')\n"
                     "os._exit(7)\n";
  rc = create_on("dies.py", dies, &ex);
  CHECK_EQ_INT(rc, 0);
  if (rc == 0) {
    struct cl_exec_usage u;
    ex->ops->usage(ex, &u);
    CHECK(u.runtime && strstr(u.runtime, "CPython 3.99.0 (GIL) /fake/python"));
    CHECK(!u.gil_disabled);
    CHECK_STR(u.version, "3.99.0");
    struct cl_workload_params p = {.tasks = 3};
    struct cl_batch b;
    if (cl_workload_build(cl_workload_find("noop"), &p, &b) == 0) {
      CHECK_EQ_INT(ex->ops->run(ex, &b), CL_EWORKER);
      CL_T_REPORT(detail_has("exited with status 7") && detail_has("dying on purpose"),
                  "detail \"%s\"", cl_error_detail());
      CHECK_EQ_INT(ex->ops->run(ex, &b), CL_ESTATE);
      cl_workload_release(NULL, &b);
    }
    ex->ops->destroy(ex);
  }
}

/* The children of `pid`, from /proc. */
static size_t children_of(pid_t pid, pid_t *out, size_t max) {
  size_t n = 0;
  DIR *d = opendir("/proc");
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < max) {
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *rp = strrchr(buf, ')');
    int ppid = 0;
    char state;
    if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == pid)
      out[n++] = (pid_t)atoi(e->d_name);
  }
  closedir(d);
  return n;
}

struct killer {
  pthread_t tid;
  bool killed;
};

/* Lets the batch start, then kills one of the interpreter's pool workers. */
static void *kill_a_worker(void *arg) {
  struct killer *k = arg;
  struct timespec ts = {0, 300000000};
  nanosleep(&ts, NULL);
  pid_t interp[4], workers[8];
  size_t ni = children_of(getpid(), interp, 4);
  for (size_t i = 0; i < ni && !k->killed; i++) {
    size_t nw = children_of(interp[i], workers, 8);
    if (nw == 2 && kill(workers[0], SIGKILL) == 0) k->killed = true;
  }
  return NULL;
}

/* A pool worker killed during a batch fails that batch with CL_EWORKER; the
 * pool is rebuilt and the next batch runs. */
static void test_pool_worker_death(void) {
  const struct cl_executor_ops *ops = cl_executor_find("py.process_pool");
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = 2;
  struct cl_executor *ex = NULL;
  if (ops->create(&cfg, &ex) != 0) {
    CHECK(!"py.process_pool creates");
    return;
  }
  /* About 3 s of CPython work, so the killer finds the workers busy. */
  struct cl_workload_params p = {.tasks = 4, .size = 25000000};
  struct cl_batch b;
  if (cl_workload_build(cl_workload_find("cpu.sumsq"), &p, &b) == 0) {
    struct killer k = {.killed = false};
    pthread_create(&k.tid, NULL, kill_a_worker, &k);
    cl_error_clear();
    int rc = ops->run(ex, &b);
    pthread_join(k.tid, NULL);
    CHECK(k.killed);
    CHECK_EQ_INT(rc, CL_EWORKER);
    CL_T_REPORT(detail_has("worker died"), "detail \"%s\"", cl_error_detail());
    cl_workload_release(NULL, &b);
  }
  p = (struct cl_workload_params){.tasks = 8, .size = 1000};
  if (cl_workload_build(cl_workload_find("cpu.sumsq"), &p, &b) == 0) {
    cl_batch_reset(&b);
    CHECK_EQ_INT(ops->run(ex, &b), 0);
    CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
    cl_workload_release(NULL, &b);
  }
  ops->destroy(ex);
}

/* Bad configurations are refused before python3 is looked for. */
static void test_bad_config(void) {
  struct cl_executor *ex = NULL;
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = 0;
  CHECK_EQ_INT(cl_executor_find("py.thread_pool")->create(&cfg, &ex), CL_EINVAL);
  cfg.workers = 100000;
  CHECK_EQ_INT(cl_executor_find("py.process_pool")->create(&cfg, &ex), CL_ERANGE);
  CHECK_EQ_INT(cl_executor_find("py.threads")->create(NULL, &ex), CL_EINVAL);
  CHECK(ex == NULL);
}

int main(void) {
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  unsetenv("CONLAB_PYTHON_RUNNER");
  int fds_before = count_fds();
  test_bad_config();
  test_checksums();
  test_unsupported();
  test_bad_runners();
  test_pool_worker_death();
  CHECK_EQ_INT(count_fds(), fds_before);
  /* Every interpreter was reaped. */
  errno = 0;
  CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
  const char *files[] = {"exits.py", "garbage.py", "old.py", "freethreaded.py", "dies.py"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
    unlink(path);
  }
  CHECK_EQ_INT(rmdir(tmpdir), 0);
  return CL_TEST_DONE();
}
