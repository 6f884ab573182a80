/* The py.* executors: the same batch, run by CPython with the seed's own
 * patterns (python/conlab_ref.py). create() starts one interpreter and waits
 * until it is ready, so start-up is paid once and reported apart; run() sends
 * the tasks and reads back the results and the wall time the interpreter
 * measured around the batch (batch->self_timed_ns).
 *
 * Protocol, over one stream socket (the interpreter's fd 3), one exchange at
 * a time; numbers are decimal, lines end in '\n':
 *   interpreter, once:  "ready VERSION IMPL GIL PID EXECUTABLE" | "fatal MESSAGE"
 *   request:            "batch N WIDTH HEIGHT MAX_ITER", then N lines
 *                       "INDEX NPHASES" + " KIND OP A B" per phase
 *   answer:             "done NS USER_S SYS_S NVCSW NIVCSW MAX_RSS_KB CHUNK", then
 *                       N lines "POS RESULT WORKER WAKES WAKE_NS" in request order
 *                       (POS 0..N-1; WAKES and WAKE_NS as in struct cl_task);
 *                       or "error CODE MESSAGE" (the interpreter stays usable)
 *   end:                "quit" or end of file. */
#include "executors/exec_internal.h"

#include "conlab/error.h"
#include "conlab/kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef CL_PYTHON_RUNNER
#define CL_PYTHON_RUNNER "python/conlab_runner.py"
#endif

enum {
  CHAN_FD = 3,              /* the interpreter's end of the socket */
  HIGH_FD = 10,             /* our descriptors are moved at or above this before spawning */
  READY_TIMEOUT_MS = 60000, /* start-up, imports and pool creation */
  QUIT_TIMEOUT_MS = 5000,   /* clean exit after "quit" before SIGKILL */
  LINE_CAP = 8192,          /* longest line accepted from the interpreter */
  IN_CAP = 65536,
  OUT_CAP = 65536,
  LOG_TAIL = 320 /* bytes of the interpreter's stderr quoted in errors */
};

struct py_executor {
  struct cl_executor base;
  const char *pattern; /* "threads": the runner's name for the pattern */
  pid_t pid;           /* the interpreter, leader of its own process group; 0 once reaped */
  int chan;            /* our end of the socket; -1 once closed */
  int log;             /* memfd holding the interpreter's stdout and stderr; -1 if none */
  bool broken;         /* the interpreter died or the stream lost step */
  int first_err;       /* the first task refused by check_batch() in this run */
  char first_detail[256];
  double startup_s;
  char runtime[192];
  char version[24];
  char implementation[32];
  struct cl_exec_usage usage;
  /* Bytes [rpos, rlen) of `in` are read but not yet consumed. */
  size_t rpos, rlen;
  char in[IN_CAP];
  char line[LINE_CAP];
  /* Bytes [0, olen) of `out` are queued for sending. */
  size_t olen;
  char out[OUT_CAP];
};

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *who(const struct py_executor *ex) {
  return ex->base.ops->name;
}

static bool is_executable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Finds `name` in $PATH like execvp does. Returns 0 or CL_ENOENT. */
static int search_path(const char *name, char *buf, size_t len) {
  const char *path = getenv("PATH");
  if (!path) path = "/bin:/usr/bin";
  while (*path) {
    const char *end = strchr(path, ':');
    size_t n = end ? (size_t)(end - path) : strlen(path);
    int w = n ? snprintf(buf, len, "%.*s/%s", (int)n, path, name) : snprintf(buf, len, "%s", name);
    if (w > 0 && (size_t)w < len && is_executable(buf)) return 0;
    if (!end) break;
    path = end + 1;
  }
  return CL_ENOENT;
}

/* The interpreter: $CONLAB_PYTHON when set, else python3 on $PATH. */
static int find_python(const char *name, char *buf, size_t len) {
  const char *env = getenv("CONLAB_PYTHON");
  if (env && *env) {
    if (strchr(env, '/')) {
      if (!is_executable(env))
        return cl_error_set(CL_EUNSUPPORTED, "%s: CONLAB_PYTHON=%s is not an executable file", name,
                            env);
      snprintf(buf, len, "%s", env);
      return 0;
    }
    if (search_path(env, buf, len))
      return cl_error_set(CL_EUNSUPPORTED, "%s: CONLAB_PYTHON=%s not found on PATH", name, env);
    return 0;
  }
  if (search_path("python3", buf, len))
    return cl_error_set(CL_EUNSUPPORTED, "python3 not found on PATH");
  return 0;
}

/* Quotes the end of the interpreter's stderr into buf, one line. */
static void log_tail(const struct py_executor *ex, char *buf, size_t len) {
  buf[0] = '\0';
  struct stat st;
  if (ex->log < 0 || fstat(ex->log, &st) != 0 || st.st_size <= 0 || len < 8) return;
  size_t want = len - 1 < LOG_TAIL ? len - 1 : LOG_TAIL;
  off_t from = st.st_size > (off_t)want ? st.st_size - (off_t)want : 0;
  ssize_t n = pread(ex->log, buf, want, from);
  if (n <= 0) {
    buf[0] = '\0';
    return;
  }
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  for (ssize_t i = 0; i < n; i++)
    if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t') buf[i] = ' ';
}

enum child_state { CHILD_EXITED, CHILD_ALIVE, CHILD_GONE };

/* Waits up to timeout_ms for the interpreter to exit, without reaping it.
 * CHILD_GONE: it is no longer our child (someone else reaped it). */
static enum child_state wait_exit(pid_t pid, int timeout_ms) {
  double deadline = mono_s() + timeout_ms / 1e3;
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0 && si.si_pid == pid) return CHILD_EXITED;
    if (rc != 0 && errno != EINTR) return CHILD_GONE;
    if (mono_s() >= deadline) return CHILD_ALIVE;
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
}

/* Ends the interpreter and whatever is left of its process group, reaps it,
 * and returns its wait status (-1 if it could not be reaped). */
static int reap(struct py_executor *ex, int timeout_ms) {
  if (ex->pid <= 0) return -1;
  pid_t pid = ex->pid;
  ex->pid = 0;
  if (wait_exit(pid, timeout_ms) == CHILD_GONE) return -1;
  /* The leader is alive or a zombie, so its group id cannot have been reused;
   * the group also holds multiprocessing's workers. */
  kill(-pid, SIGKILL);
  int status = -1;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

static const char *signal_name(int sig) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *d = sigdescr_np(sig);
  return d ? d : "unknown signal";
#else
  (void)sig;
  return "signal";
#endif
}

/* After the stream ended or lost step: marks the executor broken, reaps the
 * interpreter and describes what happened. Returns `code`. */
static int fail_dead(struct py_executor *ex, int code, const char *what) {
  ex->broken = true;
  pid_t pid = ex->pid;
  int status = reap(ex, 1000);
  char how[96] = "";
  if (status != -1 && WIFEXITED(status))
    snprintf(how, sizeof how, " exited with status %d", WEXITSTATUS(status));
  else if (status != -1 && WIFSIGNALED(status))
    snprintf(how, sizeof how, " was killed by signal %d (%s)", WTERMSIG(status),
             signal_name(WTERMSIG(status)));
  char tail[LOG_TAIL + 1];
  log_tail(ex, tail, sizeof tail);
  return cl_error_set(code, "%s: the interpreter (pid %d)%s %s%s%s", who(ex), (int)pid, how, what,
                      *tail ? "; its stderr ends: " : "", tail);
}

/* Reads one line into ex->line (without its '\n'). timeout_ms < 0 waits for
 * ever. Returns 0, CL_ETIMEDOUT, CL_EIO (line too long) or CL_EWORKER (end
 * of file: the interpreter is gone). */
static int read_line(struct py_executor *ex, int timeout_ms) {
  size_t n = 0;
  double deadline = mono_s() + (timeout_ms < 0 ? 0 : timeout_ms / 1e3);
  for (;;) {
    while (ex->rpos < ex->rlen) {
      char c = ex->in[ex->rpos++];
      if (c == '\n') {
        ex->line[n] = '\0';
        return 0;
      }
      if (n + 1 >= sizeof ex->line) return CL_EIO;
      ex->line[n++] = c;
    }
    if (timeout_ms >= 0) {
      int left = (int)((deadline - mono_s()) * 1e3);
      if (left <= 0) return CL_ETIMEDOUT;
      struct pollfd pfd = {.fd = ex->chan, .events = POLLIN};
      int rc = poll(&pfd, 1, left);
      if (rc < 0 && errno != EINTR) return CL_EWORKER;
      if (rc <= 0) continue;
    }
    ssize_t got = read(ex->chan, ex->in, sizeof ex->in);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return CL_EWORKER;
    ex->rpos = 0;
    ex->rlen = (size_t)got;
  }
}

static int flush_out(struct py_executor *ex) {
  size_t off = 0;
  while (off < ex->olen) {
    ssize_t n = send(ex->chan, ex->out + off, ex->olen - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail_dead(ex, CL_EWORKER, "stopped reading its requests");
    off += (size_t)n;
  }
  ex->olen = 0;
  return 0;
}

/* Queues formatted text, sending whenever the buffer fills. */
__attribute__((format(printf, 2, 3))) static int put(struct py_executor *ex, const char *fmt, ...) {
  for (int attempt = 0; attempt < 2; attempt++) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ex->out + ex->olen, sizeof ex->out - ex->olen, fmt, ap);
    va_end(ap);
    if (n < 0) return cl_error_set(CL_EINVAL, "%s: cannot format a request", who(ex));
    if ((size_t)n < sizeof ex->out - ex->olen) {
      ex->olen += (size_t)n;
      return 0;
    }
    int rc = flush_out(ex);
    if (rc) return rc;
  }
  return cl_error_set(CL_EINVAL, "%s: request line too long", who(ex));
}

/* Starts the interpreter on the runner script with `chan_child` as its fd 3
 * and `logfd` as its stdout and stderr, in a process group of its own. */
static int spawn(struct py_executor *ex, const char *python, const char *runner, int chan_child,
                 int logfd) {
  char workers[16], chunk[16];
  snprintf(workers, sizeof workers, "%u", ex->base.cfg.workers ? ex->base.cfg.workers : 1);
  snprintf(chunk, sizeof chunk, "%u", ex->base.cfg.chunksize);
  char fdarg[8];
  snprintf(fdarg, sizeof fdarg, "%d", CHAN_FD);
  char *argv[] = {(char *)python,      (char *)runner, "serve", fdarg,
                  (char *)ex->pattern, workers,        chunk,   NULL};

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc) return cl_error_set(CL_EPROC, "%s: posix_spawn setup: %s", who(ex), strerror(rc));
  rc = posix_spawnattr_init(&at);
  if (rc) {
    posix_spawn_file_actions_destroy(&fa);
    return cl_error_set(CL_EPROC, "%s: posix_spawn setup: %s", who(ex), strerror(rc));
  }
  sigset_t none, dflt;
  sigemptyset(&none);
  sigemptyset(&dflt);
  const int reset[] = {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++)
    sigaddset(&dflt, reset[i]);
  /* Descriptors here are all at or above HIGH_FD, so no dup2 clobbers one
   * that a later action still needs. */
  if (!rc) rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, logfd, 1);
  if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, logfd, 2);
  if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, chan_child, CHAN_FD);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  if (!rc) rc = posix_spawn_file_actions_addclosefrom_np(&fa, CHAN_FD + 1);
#endif
  if (!rc) rc = posix_spawnattr_setsigmask(&at, &none);
  if (!rc) rc = posix_spawnattr_setsigdefault(&at, &dflt);
  if (!rc) rc = posix_spawnattr_setpgroup(&at, 0);
  if (!rc)
    rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                           POSIX_SPAWN_SETSIGDEF);
  if (!rc) rc = posix_spawn(&ex->pid, python, &fa, &at, argv, environ);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  if (rc) {
    ex->pid = 0;
    return cl_error_set(CL_EPROC, "%s: cannot start %s: %s", who(ex), python, strerror(rc));
  }
  return 0;
}

/* Reads the interpreter's first line and records what it is. */
static int await_ready(struct py_executor *ex, double started) {
  int rc = read_line(ex, READY_TIMEOUT_MS);
  if (rc == CL_ETIMEDOUT)
    return fail_dead(ex, CL_ETIMEDOUT, "was not ready within 60 s and was killed");
  if (rc == CL_EWORKER) return fail_dead(ex, CL_EPROC, "exited before it was ready");
  if (rc) return fail_dead(ex, CL_EIO, "sent an overlong first line");
  if (strncmp(ex->line, "fatal ", 6) == 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", ex->line + 6);
    reap(ex, QUIT_TIMEOUT_MS);
    ex->broken = true;
    return cl_error_set(CL_EUNSUPPORTED, "%s: %s", who(ex), msg);
  }
  unsigned major = 0, minor = 0, micro = 0, gil = 1;
  int pid = 0, used = 0;
  char impl[32] = "";
  if (sscanf(ex->line, "ready %u.%u.%u %31s %u %d %n", &major, &minor, &micro, impl, &gil, &pid,
             &used) < 6 ||
      used == 0)
    return fail_dead(ex, CL_EIO, "did not answer 'ready' as python/conlab_runner.py does");
  if (major < 3 || (major == 3 && minor < 8)) {
    reap(ex, QUIT_TIMEOUT_MS);
    ex->broken = true;
    return cl_error_set(CL_EUNSUPPORTED, "%s: python %u.%u.%u is older than 3.8", who(ex), major,
                        minor, micro);
  }
  ex->startup_s = mono_s() - started;
  snprintf(ex->implementation, sizeof ex->implementation, "%s",
           strcmp(impl, "cpython") == 0 ? "CPython" : impl);
  snprintf(ex->version, sizeof ex->version, "%u.%u.%u", major, minor, micro);
  snprintf(ex->runtime, sizeof ex->runtime, "%s %s (%s) %s", ex->implementation, ex->version,
           gil ? "GIL" : "free-threaded, GIL disabled", ex->line + used);
  ex->usage.gil_disabled = gil == 0;
  return 0;
}

static int py_create(const struct cl_exec_config *cfg, struct cl_executor **out,
                     const struct cl_executor_ops *ops, const char *pattern) {
  int rc = cl__exec_check_config(ops->name, cfg, (ops->flags & CL_EXEC_PARALLEL) != 0);
  if (rc) return rc;
  char python[4096];
  rc = find_python(ops->name, python, sizeof python);
  if (rc) return rc;
  const char *runner = getenv("CONLAB_PYTHON_RUNNER");
  if (!runner || !*runner) runner = CL_PYTHON_RUNNER;
  if (access(runner, R_OK) != 0)
    return cl_error_set(CL_ENOENT,
                        "%s: cannot read the runner script %s (%s); set "
                        "CONLAB_PYTHON_RUNNER to python/conlab_runner.py",
                        ops->name, runner, strerror(errno));

  struct py_executor *ex = calloc(1, sizeof *ex);
  if (!ex) return cl_error_set(CL_ENOMEM, "%s: out of memory", ops->name);
  ex->base.ops = ops;
  ex->base.cfg = *cfg;
  if (!(ops->flags & CL_EXEC_PARALLEL)) ex->base.cfg.workers = 1;
  ex->pattern = pattern;
  ex->chan = -1;
  ex->log = -1;

  int sv[2] = {-1, -1}, child = -1;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    rc = cl_error_set(CL_ESYS, "%s: socketpair: %s", ops->name, strerror(errno));
    goto fail;
  }
  ex->chan = fcntl(sv[0], F_DUPFD_CLOEXEC, HIGH_FD);
  child = fcntl(sv[1], F_DUPFD_CLOEXEC, HIGH_FD);
  close(sv[0]);
  close(sv[1]);
  int log = memfd_create("conlab-python-log", MFD_CLOEXEC);
  if (log < 0) log = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (log >= 0) {
    ex->log = fcntl(log, F_DUPFD_CLOEXEC, HIGH_FD);
    close(log);
  }
  if (ex->chan < 0 || child < 0 || ex->log < 0) {
    rc = cl_error_set(CL_ESYS, "%s: cannot set up descriptors: %s", ops->name, strerror(errno));
    goto fail;
  }
  double started = mono_s();
  rc = spawn(ex, python, runner, child, ex->log);
  close(child);
  child = -1;
  if (rc) goto fail;
  rc = await_ready(ex, started);
  if (rc) goto fail;
  ex->usage.startup_s = ex->startup_s;
  ex->usage.runtime = ex->runtime;
  ex->usage.version = ex->version;
  ex->usage.implementation = ex->implementation;
  *out = &ex->base;
  return 0;

fail:
  if (child >= 0) close(child);
  if (ex->pid > 0) reap(ex, 0);
  if (ex->chan >= 0) close(ex->chan);
  if (ex->log >= 0) close(ex->log);
  free(ex);
  return rc;
}

static bool kernel_ported(uint32_t op) {
  return op == CL_K_NOOP || op == CL_K_SUMSQ || op == CL_K_FIB || op == CL_K_PRIMES ||
         op == CL_K_MANDEL || op == CL_K_SPIN;
}

/* Marks the tasks that the runner cannot run with their error (they are not
 * sent) and keeps the first one's detail. Returns how many can be sent. */
static size_t check_batch(struct py_executor *ex, struct cl_batch *b, bool *mandel) {
  size_t ok = 0;
  *mandel = false;
  ex->first_err = 0;
  for (size_t i = 0; i < b->ntasks; i++) {
    struct cl_task *t = &b->tasks[i];
    int rc = 0;
    if (t->nphases == 0 || t->nphases > CL_TASK_MAX_PHASES)
      rc = cl_error_set(CL_EINVAL, "%s: task %u has %u phases (1 to %d)", who(ex), t->index,
                        t->nphases, CL_TASK_MAX_PHASES);
    for (uint32_t k = 0; !rc && k < t->nphases; k++) {
      const struct cl_phase *p = &t->phase[k];
      if (p->kind == CL_PHASE_CPU && !kernel_ported(p->op))
        rc = cl_error_set(CL_EUNSUPPORTED,
                          "%s: task %u uses kernel '%s', which has no Python port (ported: "
                          "noop, sumsq, fib, primes, mandel, spin)",
                          who(ex), t->index, cl_kernel_name(p->op));
      else if (p->kind == CL_PHASE_IO && p->op != CL_IO_SLEEP)
        rc = cl_error_set(CL_EUNSUPPORTED,
                          "%s: task %u has a%s IO phase, which has no Python port (ported: "
                          "sleep)",
                          who(ex), t->index, p->op == CL_IO_NET ? " net" : "n unknown");
      else if (p->kind != CL_PHASE_CPU && p->kind != CL_PHASE_IO)
        rc = cl_error_set(CL_EINVAL, "%s: task %u phase %u: unknown kind %u", who(ex), t->index, k,
                          p->kind);
      else if (p->kind == CL_PHASE_CPU && p->op == CL_K_MANDEL)
        *mandel = true;
    }
    t->status = rc;
    if (!rc) {
      ok++;
    } else if (!ex->first_err) {
      ex->first_err = rc;
      snprintf(ex->first_detail, sizeof ex->first_detail, "%s", cl_error_detail());
    }
  }
  return ok;
}

/* Sends the tasks whose status is still 0, in batch order. */
static int send_batch(struct py_executor *ex, const struct cl_batch *b, size_t n, bool mandel) {
  const struct cl_mandel_data *md = mandel ? b->data : NULL;
  ex->olen = 0;
  int rc = put(ex, "batch %zu %u %u %u\n", n, md ? md->width : 0, md ? md->height : 0,
               md ? md->max_iter : 0);
  for (size_t i = 0; !rc && i < b->ntasks; i++) {
    const struct cl_task *t = &b->tasks[i];
    if (t->status) continue;
    rc = put(ex, "%u %u", t->index, t->nphases);
    for (uint32_t k = 0; !rc && k < t->nphases; k++) {
      const struct cl_phase *p = &t->phase[k];
      rc = put(ex, " %u %u %" PRIu64 " %" PRIu64, p->kind, p->op, p->a, p->b);
    }
    if (!rc) rc = put(ex, "\n");
  }
  return rc ? rc : flush_out(ex);
}

/* Reads "done ..." and the result lines into the tasks that were sent. */
static int read_answer(struct py_executor *ex, struct cl_batch *b, size_t n) {
  int rc = read_line(ex, -1);
  if (rc == CL_EWORKER) return fail_dead(ex, CL_EWORKER, "died while it ran the batch");
  if (rc) return fail_dead(ex, CL_EIO, "sent an overlong line");
  if (strncmp(ex->line, "error ", 6) == 0) {
    char *end = NULL;
    long code = strtol(ex->line + 6, &end, 10);
    if (code >= 0 || code < -100) code = CL_EIO;
    while (end && *end == ' ')
      end++;
    return cl_error_set((int)code, "%s: %s", who(ex), end && *end ? end : "failed");
  }
  uint64_t ns = 0;
  double user = 0, sys = 0;
  long nvcsw = 0, nivcsw = 0, rss = 0;
  unsigned chunk = 0;
  if (sscanf(ex->line, "done %" SCNu64 " %lf %lf %ld %ld %ld %u", &ns, &user, &sys, &nvcsw, &nivcsw,
             &rss, &chunk) != 7)
    return fail_dead(ex, CL_EIO, "answered neither 'done' nor 'error'");
  size_t pos = 0;
  for (size_t i = 0; i < b->ntasks; i++) {
    struct cl_task *t = &b->tasks[i];
    if (t->status) continue;
    rc = read_line(ex, -1);
    if (rc == CL_EWORKER) return fail_dead(ex, CL_EWORKER, "died while it sent the results");
    if (rc) return fail_dead(ex, CL_EIO, "sent an overlong line");
    size_t got = 0;
    unsigned worker = 0, wakes = 0;
    uint64_t result = 0, wake_ns = 0;
    int nf = sscanf(ex->line, "%zu %" SCNu64 " %u %u %" SCNu64, &got, &result, &worker, &wakes,
                    &wake_ns);
    if ((nf != 3 && nf != 5) || got != pos)
      return fail_dead(ex, CL_EIO, "sent a result out of order");
    t->result = result;
    t->worker = worker;
    t->pc = t->nphases;
    /* A runner without the two fields measured nothing: wakes stays 0. */
    t->wakes = nf == 5 ? wakes : 0;
    t->wake_ns = nf == 5 ? wake_ns : 0;
    pos++;
  }
  if (pos != n) return fail_dead(ex, CL_EIO, "lost count of the tasks");
  b->self_timed_ns = ns ? ns : 1;
  ex->usage.user_s = user;
  ex->usage.sys_s = sys;
  ex->usage.nvcsw = nvcsw;
  ex->usage.nivcsw = nivcsw;
  ex->usage.max_rss_kb = rss;
  ex->usage.effective_chunk = chunk;
  return 0;
}

static int py_run(struct cl_executor *base, struct cl_batch *batch) {
  struct py_executor *ex = (struct py_executor *)base;
  if (!batch) return cl_error_set(CL_EINVAL, "%s: NULL batch", who(ex));
  if (ex->broken)
    return cl_error_set(CL_ESTATE, "%s: the interpreter is gone after an earlier failure", who(ex));
  bool mandel = false;
  size_t n = check_batch(ex, batch, &mandel);
  /* A batch with nothing runnable fails at once; otherwise the runnable
   * tasks still run, as in the other executors. */
  if (n > 0 || batch->ntasks == 0) {
    int rc = send_batch(ex, batch, n, mandel);
    if (!rc) rc = read_answer(ex, batch, n);
    if (rc) return rc;
  }
  if (ex->first_err) return cl_error_set(ex->first_err, "%s", ex->first_detail);
  return 0;
}

static int py_usage(struct cl_executor *base, struct cl_exec_usage *out) {
  struct py_executor *ex = (struct py_executor *)base;
  *out = ex->usage;
  return 0;
}

static void py_destroy(struct cl_executor *base) {
  if (!base) return;
  struct py_executor *ex = (struct py_executor *)base;
  if (ex->chan >= 0) {
    static const char quit[] = "quit\n";
    if (!ex->broken) send(ex->chan, quit, sizeof quit - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(ex->chan, SHUT_WR);
  }
  reap(ex, QUIT_TIMEOUT_MS);
  if (ex->chan >= 0) close(ex->chan);
  if (ex->log >= 0) close(ex->log);
  free(ex);
}

/* Whether an interpreter can be found, checked once before planning. */
static int py_available(void) {
  char path[4096];
  return find_python("py", path, sizeof path);
}

#define PY_EXECUTOR(sym, pat, fl, text)                                                            \
  extern const struct cl_executor_ops cl__exec_##sym;                                              \
  static int create_##sym(const struct cl_exec_config *cfg, struct cl_executor **out) {            \
    return py_create(cfg, out, &cl__exec_##sym, pat);                                              \
  }                                                                                                \
  const struct cl_executor_ops cl__exec_##sym = {                                                  \
      .name = "py." pat,                                                                           \
      .summary = text,                                                                             \
      .flags = CL_EXEC_EXTERNAL | (fl),                                                            \
      .create = create_##sym,                                                                      \
      .run = py_run,                                                                               \
      .destroy = py_destroy,                                                                       \
      .usage = py_usage,                                                                           \
      .available = py_available,                                                                   \
  };

PY_EXECUTOR(py_sequential, "sequential", 0u, "CPython: a plain loop over the tasks (baseline)")
PY_EXECUTOR(py_threads, "threads", CL_EXEC_PER_TASK,
            "CPython: one threading.Thread per task, then join (seed ex. 66; real GIL)")
PY_EXECUTOR(py_thread_pool, "thread_pool", CL_EXEC_PARALLEL,
            "CPython: ThreadPoolExecutor(max_workers=N), submit + as_completed (seed ex. 67)")
PY_EXECUTOR(py_process_pool, "process_pool", CL_EXEC_PARALLEL | CL_EXEC_PROCESSES,
            "CPython: multiprocessing.Pool(N).map with a chunksize (seed ex. 68)")
PY_EXECUTOR(py_event_loop, "event_loop", 0u,
            "CPython: asyncio.gather, IO phases await asyncio.sleep (seed ex. 59/60)")
