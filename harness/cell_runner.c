/* One cell: its warm-ups and timed repetitions over a batch.
 *
 * Cell isolation. By default every cell runs in a child forked for it: the
 * parent built the batch, the child inherits it copy-on-write (so every
 * executor sees the very same tasks), creates the executor, runs warm-ups and
 * repetitions, and writes each sample to a pipe as soon as it is measured.
 * The parent only waits on that pipe with poll() and a deadline. Then:
 *   - a crash in a kernel or an executor (SIGSEGV, abort) fails one cell,
 *     named by its signal, and the run goes on;
 *   - --timeout kills a hung cell (SIGKILL to its process group) and marks it
 *     CL_ETIMEDOUT; the run goes on;
 *   - SIGINT/SIGTERM wake the poll through the self-pipe (signals.c); the
 *     parent kills the cell's group, keeps the samples already received and
 *     stops the run.
 * The child leads its own process group (setpgid), so one kill reaches the
 * process-pool workers it forked; conlab is a child subreaper, so processes
 * that left the group (a CPython interpreter) are swept up afterwards.
 *
 * Trade-offs. The fork costs a few milliseconds per cell, before any timing;
 * only the samples cross the pipe, after each repetition, so the timed region
 * is the same code as in-process. Task results are written into the child's
 * copy of the batch: cl_batch_reset touches every task before the first
 * timed repetition, so copy-on-write faults land in the untimed part (kernel
 * data that executors write would fault in the warm-up, which is why warm-up
 * defaults to 1). RUSAGE_CHILDREN inside the child still sees process-pool
 * workers, and max_rss_kb becomes the cell's own peak rather than the whole
 * run's. --no-isolate runs the cell in this process (for a debugger, or to
 * compare); then a crash ends the run, --timeout is refused, and a signal
 * stops the run between repetitions. A watchdog thread with cooperative
 * cancellation was the alternative: it cannot stop a kernel stuck in a loop
 * nor survive a segfault, which is what isolation is for. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conlab/error.h"
#include "harness/harness.h"

static double tv_s(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Resource use of this process and of its reaped children at one instant. */
struct snapshot {
  double t;
  struct rusage self, children;
};

static void snap(struct snapshot *s) {
  getrusage(RUSAGE_SELF, &s->self);
  getrusage(RUSAGE_CHILDREN, &s->children);
  s->t = cl__now_s();
}

static void fill_sample(struct cl__sample *out, const struct snapshot *a,
                        const struct snapshot *b) {
  out->wall_s = b->t - a->t;
  out->user_s = tv_s(b->self.ru_utime) - tv_s(a->self.ru_utime) + tv_s(b->children.ru_utime) -
                tv_s(a->children.ru_utime);
  out->sys_s = tv_s(b->self.ru_stime) - tv_s(a->self.ru_stime) + tv_s(b->children.ru_stime) -
               tv_s(a->children.ru_stime);
  out->nvcsw =
      (b->self.ru_nvcsw - a->self.ru_nvcsw) + (b->children.ru_nvcsw - a->children.ru_nvcsw);
  out->nivcsw =
      (b->self.ru_nivcsw - a->self.ru_nivcsw) + (b->children.ru_nivcsw - a->children.ru_nivcsw);
  out->max_rss_kb = b->self.ru_maxrss;
}

/* The repetition's wakeup latencies: each task's mean (wake_ns / wakes) over
 * the tasks that measured one. */
static void wake_stats(const struct cl_batch *b, struct cl__sample *s) {
  double sum = 0, max = 0;
  uint32_t n = 0;
  for (size_t i = 0; i < b->ntasks; i++) {
    const struct cl_task *t = &b->tasks[i];
    if (!t->wakes) continue;
    double lat = (double)t->wake_ns / t->wakes / 1e9;
    sum += lat;
    if (lat > max) max = lat;
    n++;
  }
  s->wake_tasks = n;
  s->wake_mean_s = n ? sum / n : NAN;
  s->wake_max_s = n ? max : NAN;
}

static void fail_cell(struct cl__cell *c, int err, const char *what) {
  c->status = err;
  const char *d = cl_error_detail();
  snprintf(c->error, sizeof c->error, "%s: %s%s%s", what, cl_strerror(err), *d ? ": " : "", d);
}

/* What the repetition loop reports as it goes. */
struct hooks {
  void (*rep_start)(void *ctx, struct cl__cell *c, unsigned rep); /* timed reps only */
  void (*sample_done)(void *ctx, struct cl__cell *c);
  bool (*should_stop)(void *ctx);
  void *ctx;
};

/* Runs warm-ups and repetitions of one cell over `batch`, filling c. */
static void run_reps(struct cl__cell *c, struct cl_batch *batch, const struct cl__plan *plan,
                     const struct hooks *h) {
  struct cl_executor *ex = NULL;
  cl_error_clear();
  int err = c->ex->create(&c->cfg, &ex);
  if (err) {
    fail_cell(c, err, "create");
    c->checksum_ok = false;
    return;
  }
  unsigned total = plan->warmup + c->reps;
  for (unsigned r = 0; r < total; r++) {
    if (h->should_stop && h->should_stop(h->ctx)) {
      c->status = CL_EINTR;
      snprintf(c->error, sizeof c->error, "interrupted after %u of %u repetitions", c->nsamples,
               c->reps);
      break;
    }
    bool timed = r >= plan->warmup;
    if (timed && h->rep_start) h->rep_start(h->ctx, c, r - plan->warmup);
    struct snapshot a, b;
    cl_batch_reset(batch);
    snap(&a);
    err = c->ex->run(ex, batch);
    snap(&b);
    if (!err) err = cl_batch_status(batch);
    if (err) {
      fail_cell(c, err, "run");
      c->checksum_ok = false;
      break;
    }
    uint64_t sum = cl_batch_checksum(batch);
    c->checksum = sum;
    if (sum != batch->expected) {
      c->checksum_ok = false;
      c->status = CL_ECHECKSUM;
      snprintf(c->error, sizeof c->error, "checksum %llu, expected %llu", (unsigned long long)sum,
               (unsigned long long)batch->expected);
    }
    if (!timed) continue;
    struct cl__sample *s = &c->samples[c->nsamples++];
    fill_sample(s, &a, &b);
    wake_stats(batch, s);
    s->checksum = sum;
    if (batch->self_timed_ns) s->wall_s = (double)batch->self_timed_ns / 1e9;
    struct cl_exec_usage u = {0};
    if (c->ex->usage && c->ex->usage(ex, &u) == 0) {
      s->user_s += u.user_s;
      s->sys_s += u.sys_s;
      s->nvcsw += u.nvcsw;
      s->nivcsw += u.nivcsw;
      if (u.max_rss_kb > s->max_rss_kb) s->max_rss_kb = u.max_rss_kb;
      c->chunksize = u.effective_chunk;
      if (u.runtime) {
        struct cl__interp *in = &c->interp;
        in->startup_s = u.startup_s;
        snprintf(in->runtime, sizeof in->runtime, "%s", u.runtime);
        snprintf(in->version, sizeof in->version, "%s", u.version ? u.version : "");
        snprintf(in->implementation, sizeof in->implementation, "%s",
                 u.implementation ? u.implementation : "");
        in->gil_disabled = u.gil_disabled;
      }
    }
    if (h->sample_done) h->sample_done(h->ctx, c);
  }
  c->ex->destroy(ex);
}

/* ---- In this process (--no-isolate). ---- */

static void inproc_rep(void *ctx, struct cl__cell *c, unsigned rep) {
  cl__progress_rep(ctx, c, rep, c->reps);
}

static bool inproc_stop(void *ctx) {
  (void)ctx;
  return cl__signals_pending() != 0;
}

/* ---- In a child: the messages it sends. ---- */

enum { MSG_REP = 1, MSG_SAMPLE, MSG_END };

/* One message per write, at most PIPE_BUF bytes, so writes are atomic and a
 * reader never sees half of one unless the writer died mid-way (it cannot:
 * a pipe write of <= PIPE_BUF bytes is all or nothing). */
struct cell_msg {
  uint32_t type;
  uint32_t rep;
  int32_t status;
  uint32_t chunksize;
  uint64_t checksum;
  uint32_t checksum_ok;
  uint32_t pad_;
  struct cl__sample sample;
  struct cl__interp interp;
  char error[256];
};
_Static_assert(sizeof(struct cell_msg) <= PIPE_BUF, "a message is one atomic pipe write");

static void send_msg(int fd, const struct cell_msg *m) {
  const char *p = (const char *)m;
  size_t left = sizeof *m;
  while (left) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(3); /* the parent is gone */
    p += n;
    left -= (size_t)n;
  }
}

static void child_rep(void *ctx, struct cl__cell *c, unsigned rep) {
  (void)c;
  struct cell_msg m = {.type = MSG_REP, .rep = rep};
  send_msg(*(int *)ctx, &m);
}

static void child_sample(void *ctx, struct cl__cell *c) {
  struct cell_msg m = {.type = MSG_SAMPLE,
                       .rep = c->nsamples - 1,
                       .chunksize = c->chunksize,
                       .sample = c->samples[c->nsamples - 1],
                       .interp = c->interp};
  send_msg(*(int *)ctx, &m);
}

static _Noreturn void child_main(struct cl__cell *c, struct cl_batch *batch,
                                 const struct cl__plan *plan, int fd, pid_t parent) {
  /* Die with the parent even if it is killed with SIGKILL. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid() != parent) _exit(4);
  struct hooks h = {child_rep, child_sample, NULL, &fd};
  run_reps(c, batch, plan, &h);
  struct cell_msg m = {.type = MSG_END,
                       .status = c->status,
                       .chunksize = c->chunksize,
                       .checksum = c->checksum,
                       .checksum_ok = c->checksum_ok,
                       .interp = c->interp};
  snprintf(m.error, sizeof m.error, "%s", c->error);
  send_msg(fd, &m);
  close(fd);
#ifdef CL_SANITIZED
  /* exit() runs the sanitizers' end-of-process checks (leaks) on the cell. */
  exit(0);
#else
  _exit(0);
#endif
}

/* ---- The parent side. ---- */

static const char *sig_name(int sig) {
  const char *n = sigabbrev_np(sig);
  return n ? n : "?";
}

static void where(char *buf, size_t len, const struct cl__cell *c, bool got_end, int rep_seen) {
  if (got_end)
    snprintf(buf, len, "after the last repetition");
  else if (rep_seen < 0)
    snprintf(buf, len, "before the first timed repetition");
  else
    snprintf(buf, len, "during repetition %d of %u", rep_seen + 1, c->reps);
}

/* Takes the interpreter's description from a message, strings terminated. */
static void take_interp(struct cl__cell *c, const struct cell_msg *m) {
  c->interp = m->interp;
  c->interp.runtime[sizeof c->interp.runtime - 1] = '\0';
  c->interp.version[sizeof c->interp.version - 1] = '\0';
  c->interp.implementation[sizeof c->interp.implementation - 1] = '\0';
}

/* Applies one message from the child to the cell. Returns false on nonsense. */
static bool apply_msg(struct cl__cell *c, const struct cell_msg *m, struct cl__progress *pg,
                      bool *got_end, int *rep_seen) {
  switch (m->type) {
  case MSG_REP:
    if (m->rep >= c->reps) return false;
    *rep_seen = (int)m->rep;
    cl__progress_rep(pg, c, m->rep, c->reps);
    return true;
  case MSG_SAMPLE:
    if (m->rep != c->nsamples || c->nsamples >= c->reps) return false;
    c->samples[c->nsamples++] = m->sample;
    c->chunksize = m->chunksize;
    take_interp(c, m);
    c->checksum = m->sample.checksum;
    return true;
  case MSG_END:
    c->status = m->status;
    c->chunksize = m->chunksize;
    take_interp(c, m);
    c->checksum = m->checksum;
    c->checksum_ok = m->checksum_ok != 0;
    memcpy(c->error, m->error, sizeof c->error);
    c->error[sizeof c->error - 1] = '\0';
    *got_end = true;
    return true;
  }
  return false;
}

static int run_isolated(struct cl__cell *c, struct cl_batch *batch, const struct cl__plan *plan,
                        const struct cl__options *o, struct cl__progress *pg) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    cl_error_set(CL_ESYS, "pipe: %s", strerror(errno));
    fail_cell(c, CL_ESYS, "isolate");
    return 0;
  }
  fflush(NULL); /* nothing buffered may be written twice */
  sigset_t old;
  cl__signals_block(&old);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    cl__signals_child_reset(&old);
    close(fds[0]);
    child_main(c, batch, plan, fds[1], parent);
  }
  if (pid > 0) {
    setpgid(pid, pid); /* also here: a kill must not race the child's own setpgid */
    cl__signals_set_cell(pid);
  }
  cl__signals_unblock(&old);
  close(fds[1]);
  if (pid < 0) {
    int e = errno;
    close(fds[0]);
    cl_error_set(e == EAGAIN ? CL_ELIMIT : CL_EPROC, "cannot fork the cell's process: %s",
                 strerror(e));
    fail_cell(c, e == EAGAIN ? CL_ELIMIT : CL_EPROC, "isolate");
    return 0;
  }

  /* The child is watched two ways: end of file on the pipe, and waitpid
   * every 100 ms, because processes it forked (pool workers) hold copies of
   * the pipe's write end and may outlive it. */
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  double deadline = o->timeout_ns ? cl__now_s() + (double)o->timeout_ns / 1e9 : 0;
  struct cell_msg m;
  size_t have = 0;
  bool got_end = false, timed_out = false, bad = false, reaped = false;
  int rep_seen = -1, sig = 0, status = 0;
  for (;;) {
    sig = cl__signals_pending();
    if (sig) break;
    int wait_ms = 100;
    if (deadline) {
      double left = deadline - cl__now_s();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      if (left * 1000 < wait_ms) wait_ms = (int)(left * 1000) + 1;
    }
    struct pollfd p[2] = {{fds[0], POLLIN, 0}, {cl__signals_fd(), POLLIN, 0}};
    int n = poll(p, p[1].fd >= 0 ? 2 : 1, wait_ms);
    if (n < 0 && errno != EINTR) break;
    /* Every whole message available now; r == 0 is the end of file. */
    ssize_t r = -1;
    while (!bad && (r = read(fds[0], (char *)&m + have, sizeof m - have)) > 0) {
      have += (size_t)r;
      if (have < sizeof m) continue;
      have = 0;
      bad = !apply_msg(c, &m, pg, &got_end, &rep_seen);
    }
    if (bad || r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) break;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      /* What it wrote before it exited is in the pipe already. */
      while (!bad && (r = read(fds[0], (char *)&m + have, sizeof m - have)) > 0) {
        have += (size_t)r;
        if (have < sizeof m) continue;
        have = 0;
        bad = !apply_msg(c, &m, pg, &got_end, &rep_seen);
      }
      break;
    }
  }
  close(fds[0]);
  if (sig || timed_out || bad) kill(-pid, SIGKILL);
  while (!reaped && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  /* Whatever is left of the cell's process group (workers whose parent
   * died) goes too; normally there is none. */
  kill(-pid, SIGKILL);
  cl__signals_set_cell(0);
  /* Processes the cell started outside its group (now re-parented to us). */
  cl__reap_strays(false);

  char at[64];
  where(at, sizeof at, c, got_end, rep_seen);
  if (sig) {
    c->status = CL_EINTR;
    snprintf(c->error, sizeof c->error, "interrupted by SIG%s %s (%u of %u repetitions kept)",
             sig_name(sig), at, c->nsamples, c->reps);
    c->checksum_ok = false;
    return CL_EINTR;
  }
  if (timed_out) {
    char lim[32];
    cl_format_duration(o->timeout_ns, lim, sizeof lim);
    c->status = CL_ETIMEDOUT;
    snprintf(c->error, sizeof c->error,
             "timed out after %s %s and was killed (%u of %u "
             "repetitions kept)",
             lim, at, c->nsamples, c->reps);
    c->checksum_ok = false;
    return 0;
  }
  if (bad) {
    c->status = CL_ESTATE;
    snprintf(c->error, sizeof c->error, "the cell's process sent a malformed message %s", at);
    c->checksum_ok = false;
    return 0;
  }
  if (!got_end || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char how[96];
    if (WIFSIGNALED(status))
      snprintf(how, sizeof how, "was killed by signal %d (SIG%s)", WTERMSIG(status),
               sig_name(WTERMSIG(status)));
    else
      snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
    if (!got_end || c->status == 0) {
      c->status = CL_EWORKER;
      c->checksum_ok = false;
      snprintf(c->error, sizeof c->error,
               "the cell's process (pid %d) %s %s (%u of %u "
               "repetitions kept)",
               (int)pid, how, at, c->nsamples, c->reps);
    }
  }
  return 0;
}

int cl__cell_run(struct cl__cell *c, struct cl_batch *batch, const struct cl__plan *plan,
                 const struct cl__options *o, struct cl__progress *pg) {
  c->checksum_ok = true;
  c->status = 0;
  c->error[0] = '\0';
  c->nsamples = 0;
  memset(&c->interp, 0, sizeof c->interp);
  c->interp.startup_s = NAN;
  c->wake_mean_s = c->wake_max_s = NAN;
  int rc = 0;
  if (o->no_isolate) {
    struct hooks h = {inproc_rep, NULL, inproc_stop, pg};
    run_reps(c, batch, plan, &h);
    if (c->status == CL_EINTR) {
      int sig = cl__signals_pending();
      snprintf(c->error, sizeof c->error, "interrupted by SIG%s after %u of %u repetitions",
               sig_name(sig), c->nsamples, c->reps);
      c->checksum_ok = false;
      rc = CL_EINTR;
    }
  } else {
    rc = run_isolated(c, batch, plan, o, pg);
  }
  c->done = c->status == 0 && c->nsamples == c->reps;
  return rc;
}
