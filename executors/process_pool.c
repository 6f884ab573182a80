/* The process pool and the process_pool executor (seed ex. 68).
 *
 * Fork, not exec. Workers are forked in cl_process_pool_create, which the
 * harness calls right after building the batch and before timing, while the
 * cell runs no other thread (the delay server of io.net is a process, not a
 * thread). A forked child keeps only the forking thread and a copy of every
 * lock; our workers touch none that another thread could hold: they run pure
 * kernels, IO phases made of system calls, and their own GIL, created here
 * before the fork. Exec'ing a worker entry point would be the cure for a
 * multithreaded parent, but it would lose what fork gives for free and what
 * the lesson is about: the tasks and batch->data at the same addresses in
 * every worker, with no serialisation. So work travels as small
 * descriptors: the task's index and phases plus the batch->data pointer (map
 * sends a function pointer and integers), which the worker resolves in its
 * copy of the address space; batch->data must therefore exist before create.
 *
 * Each worker has one AF_UNIX SOCK_SEQPACKET socket pair to the parent:
 * message boundaries are kept, sends use MSG_NOSIGNAL (a dead worker is an
 * error code, not a SIGPIPE), and the parent's end reads EOF as soon as the
 * worker dies, because every child closes every descriptor it does not need.
 * A shared anonymous page holds, per worker, the task it is running, so that
 * a death names the task even in the middle of a chunk. */
#include "executors/exec_internal.h"

#include "conlab/error.h"
#include "conlab/gil.h"
#include "conlab/process_pool.h"
#include "conlab/topology.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MSG_READY = 1, MSG_TASKS, MSG_CALLS, MSG_RESULTS };
enum { DEPTH = 2 };                /* chunks sent ahead to one worker */
enum { START_TIMEOUT_MS = 10000 }; /* for every worker to report for work */
enum { STOP_TIMEOUT_MS = 2000 };   /* for workers to exit before SIGKILL */
enum { WATCH_MS = 1000 };          /* a death is noticed within this, at worst */

/* Parent to worker: a chunk of consecutive items. */
struct job_header {
  uint32_t type;  /* MSG_TASKS or MSG_CALLS */
  uint32_t count; /* items that follow */
  uint64_t first; /* MSG_CALLS: index of the first item */
  uint64_t ptr;   /* MSG_TASKS: batch->data; MSG_CALLS: the function */
  struct cl_io_env io;
};

struct task_desc {
  uint32_t index, nphases;
  struct cl_phase phase[CL_TASK_MAX_PHASES];
};

struct usage_report {
  int64_t utime_us, stime_us, nvcsw, nivcsw, maxrss_kb;
};

/* Worker to parent: readiness, or the results of one chunk. */
struct result_header {
  uint32_t type;             /* MSG_READY or MSG_RESULTS */
  uint32_t count;            /* items that follow */
  struct usage_report usage; /* getrusage(RUSAGE_SELF) when sent */
  uint32_t has_failure, failed_index;
  char detail[232]; /* the first failure's cl_error_detail() */
};

struct result_item {
  uint32_t index;
  int32_t status;
  uint32_t pc, wakes;
  uint64_t value;
  uint64_t wake_ns; /* the task's wakeup latency, measured in the worker */
};

#define JOB_BYTES (sizeof(struct job_header) + CL_PROCESS_POOL_MAX_CHUNK * sizeof(struct task_desc))
#define RESULT_BYTES                                                                               \
  (sizeof(struct result_header) + CL_PROCESS_POOL_MAX_CHUNK * sizeof(struct result_item))

/* One cache line per worker in the shared page. `running` is the index + 1 of
 * the item the worker runs, 0 when idle; written by the worker only. */
struct shared_slot {
  _Atomic uint64_t running;
  char pad_[56];
};

struct chunk {
  size_t first;
  unsigned count;
};

struct worker {
  int pid; /* 0 once reaped */
  int fd;  /* parent's end, -1 once closed */
  struct cl_gil *gil;
  struct chunk sent[DEPTH]; /* chunks in flight, oldest first */
  unsigned outstanding;
  struct usage_report base; /* at the start of the current call */
  struct usage_report last; /* latest report */
};

/* What a map or run call is doing; lives on the caller's stack. */
struct job {
  uint32_t type;
  size_t n, next, done;
  unsigned chunk;
  uint64_t ptr;
  struct cl_io_env io;
  struct cl_batch *batch; /* MSG_TASKS */
  const uint64_t *args;   /* MSG_CALLS */
  uint64_t *results;      /* MSG_CALLS */
  int err;                /* first failure of an item */
  char detail[256];
};

struct cl_process_pool {
  unsigned nworkers;
  bool broken;
  char broken_detail[512];
  struct shared_slot *slots; /* MAP_SHARED, nworkers entries */
  size_t slots_bytes;
  unsigned char *sendbuf; /* JOB_BYTES; a worker uses its copy to receive */
  unsigned char *recvbuf; /* RESULT_BYTES; a worker uses its copy to send */
  struct pollfd *pfds;
  struct cl_exec_usage usage;
  struct worker w[];
};

static int64_t tv_us(struct timeval tv) {
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void usage_now(struct usage_report *u) {
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  getrusage(RUSAGE_SELF, &ru);
  u->utime_us = tv_us(ru.ru_utime);
  u->stime_us = tv_us(ru.ru_stime);
  u->nvcsw = ru.ru_nvcsw;
  u->nivcsw = ru.ru_nivcsw;
  u->maxrss_kb = ru.ru_maxrss;
}

/* ---- The worker side. ---- */

/* Closes every descriptor but 0-2 and `keep`, so that the worker holds no
 * other socket end (the parent's EOF detection and shutdown rely on it).
 * Returns the kept descriptor, moved above 2 if needed. */
static int close_others(int keep) {
  if (keep <= 2) {
    int moved = fcntl(keep, F_DUPFD, 3);
    if (moved < 0) _exit(125);
    keep = moved; /* the original, below 3, stays open: it is the same socket */
  }
  if ((keep > 3 && close_range(3, (unsigned)keep - 1, 0) != 0) ||
      close_range((unsigned)keep + 1, ~0u, 0) != 0) {
    struct rlimit rl = {1024, 1024};
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t max = rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur;
    for (rlim_t fd = 3; fd < max; fd++)
      if ((int)fd != keep) close((int)fd);
  }
  return keep;
}

static void send_all_or_die(int fd, const void *buf, size_t len) {
  ssize_t n;
  do
    n = send(fd, buf, len, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)len) _exit(0); /* the parent is gone */
}

static void worker_main(struct cl_process_pool *pool, unsigned idx, int fd)
    __attribute__((noreturn));

static void worker_main(struct cl_process_pool *pool, unsigned idx, int fd) {
  fd = close_others(fd);
  /* Ctrl-C is the parent's to handle: it then closes our socket. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_DFL);
  struct cl_gil *gil = pool->w[idx].gil;
  _Atomic uint64_t *running = &pool->slots[idx].running;
  unsigned char *in = pool->sendbuf;
  unsigned char *out = pool->recvbuf;
  struct result_header *rh = (struct result_header *)out;
  struct result_item *ri = (struct result_item *)(out + sizeof *rh);

  memset(rh, 0, sizeof *rh);
  rh->type = MSG_READY;
  usage_now(&rh->usage);
  send_all_or_die(fd, rh, sizeof *rh);

  for (;;) {
    ssize_t n;
    do
      n = recv(fd, in, JOB_BYTES, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) _exit(0); /* EOF: the pool is shutting down or the parent died */
    struct job_header h;
    if ((size_t)n < sizeof h) _exit(3);
    memcpy(&h, in, sizeof h);
    size_t item = h.type == MSG_TASKS ? sizeof(struct task_desc) : sizeof(uint64_t);
    if ((h.type != MSG_TASKS && h.type != MSG_CALLS) || h.count > CL_PROCESS_POOL_MAX_CHUNK ||
        (size_t)n != sizeof h + h.count * item)
      _exit(3);
    memset(rh, 0, sizeof *rh);
    rh->type = MSG_RESULTS;
    rh->count = h.count;
    if (h.type == MSG_TASKS) {
      struct cl_batch b;
      memset(&b, 0, sizeof b);
      b.data = (void *)(uintptr_t)h.ptr;
      b.io = h.io;
      for (uint32_t i = 0; i < h.count; i++) {
        struct task_desc d;
        memcpy(&d, in + sizeof h + i * sizeof d, sizeof d);
        struct cl_task t;
        memset(&t, 0, sizeof t);
        t.index = d.index;
        t.nphases = d.nphases;
        memcpy(t.phase, d.phase, sizeof t.phase);
        atomic_store_explicit(running, (uint64_t)d.index + 1, memory_order_relaxed);
        cl_error_clear();
        cl_task_run_blocking(&t, &b, gil);
        ri[i] = (struct result_item){.index = t.index,
                                     .status = t.status,
                                     .pc = t.pc,
                                     .wakes = t.wakes,
                                     .value = t.result,
                                     .wake_ns = t.wake_ns};
        if (t.status && !rh->has_failure) {
          rh->has_failure = 1;
          rh->failed_index = t.index;
          snprintf(rh->detail, sizeof rh->detail, "%s", cl_error_detail());
        }
      }
    } else {
      cl_map_fn fn = (cl_map_fn)(uintptr_t)h.ptr;
      for (uint32_t i = 0; i < h.count; i++) {
        uint64_t arg;
        memcpy(&arg, in + sizeof h + i * sizeof arg, sizeof arg);
        atomic_store_explicit(running, h.first + i + 1, memory_order_relaxed);
        ri[i] = (struct result_item){.index = (uint32_t)(h.first + i), .value = fn(arg)};
      }
    }
    atomic_store_explicit(running, 0, memory_order_relaxed);
    usage_now(&rh->usage);
    send_all_or_die(fd, out, sizeof *rh + h.count * sizeof *ri);
  }
}

/* ---- The parent side. ---- */

static void reap_or_kill(int pid, int *status, int ms) {
  if (cl__reap_within(pid, status, ms)) return;
  kill(pid, SIGKILL);
  while (waitpid(pid, status, 0) < 0) {
    if (errno != EINTR) {
      *status = -1;
      return;
    }
  }
}

static void close_worker_fd(struct worker *w) {
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
}

/* Kills and reaps every worker still alive and closes every socket. */
static void kill_all(struct cl_process_pool *pool) {
  for (unsigned i = 0; i < pool->nworkers; i++)
    if (pool->w[i].pid > 0) kill(pool->w[i].pid, SIGKILL);
  for (unsigned i = 0; i < pool->nworkers; i++) {
    struct worker *w = &pool->w[i];
    close_worker_fd(w);
    if (w->pid > 0) {
      int st;
      reap_or_kill(w->pid, &st, 0);
      w->pid = 0;
    }
  }
}

static void free_pool(struct cl_process_pool *pool) {
  for (unsigned i = 0; i < pool->nworkers; i++)
    cl_gil_destroy(pool->w[i].gil);
  if (pool->slots) munmap(pool->slots, pool->slots_bytes);
  free(pool->sendbuf);
  free(pool->recvbuf);
  free(pool->pfds);
  free(pool);
}

static void describe_status(int status, char *buf, size_t len) {
  if (status == -1)
    snprintf(buf, len, "exited (status unknown: reaped elsewhere)");
  else if (WIFSIGNALED(status)) {
    const char *abbrev = sigabbrev_np(WTERMSIG(status));
    snprintf(buf, len, "was killed by signal %d (SIG%s)%s", WTERMSIG(status), abbrev ? abbrev : "?",
             WCOREDUMP(status) ? ", core dumped" : "");
  } else if (WIFEXITED(status))
    snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
  else
    snprintf(buf, len, "stopped with wait status %#x", (unsigned)status);
}

/* Worker w has died (or broke the protocol: `why` set): reaps it, marks the
 * item it held CL_EWORKER and every other unanswered one CL_ECANCELED, kills
 * and reaps the others, and breaks the pool. Returns CL_EWORKER. */
static int worker_lost(struct cl_process_pool *pool, struct worker *w, struct job *job,
                       const char *why) {
  unsigned idx = (unsigned)(w - pool->w);
  int pid = w->pid;
  int status;
  if (why) kill(pid, SIGKILL);
  /* EOF comes as the dying worker closes its descriptors, a moment before it
   * can be reaped. */
  reap_or_kill(pid, &status, why ? 0 : WATCH_MS);
  w->pid = 0;
  uint64_t held = atomic_load_explicit(&pool->slots[idx].running, memory_order_relaxed);
  char how[96];
  describe_status(status, how, sizeof how);
  char what[64];
  if (held)
    snprintf(what, sizeof what, "while running %s %llu",
             job && job->type == MSG_CALLS ? "item" : "task", (unsigned long long)(held - 1));
  else
    snprintf(what, sizeof what, "while idle");
  snprintf(pool->broken_detail, sizeof pool->broken_detail,
           "process_pool: worker %u (pid %d) %s %s%s%s; the pool is broken", idx, pid,
           why ? "misbehaved:" : how, why ? why : what, why ? "; it " : "", why ? how : "");
  pool->broken = true;

  if (job && job->type == MSG_TASKS) {
    struct cl_task *tasks = job->batch->tasks;
    for (unsigned k = 0; k < pool->nworkers; k++)
      for (unsigned c = 0; c < pool->w[k].outstanding; c++) {
        struct chunk ch = pool->w[k].sent[c];
        for (size_t i = ch.first; i < ch.first + ch.count; i++)
          tasks[i].status = CL_ECANCELED;
      }
    for (size_t i = job->next; i < job->n; i++)
      tasks[i].status = CL_ECANCELED;
    if (held && held - 1 < job->n) tasks[held - 1].status = CL_EWORKER;
  }
  kill_all(pool);
  return cl_error_set(CL_EWORKER, "%s", pool->broken_detail);
}

/* Sends the next chunk of the job to w. Returns 0 (sent, or the socket is
 * full for now) or CL_EWORKER (w is gone). */
static int send_chunk(struct cl_process_pool *pool, struct worker *w, struct job *job) {
  size_t count = job->n - job->next;
  if (count > job->chunk) count = job->chunk;
  struct job_header h = {.type = job->type,
                         .count = (uint32_t)count,
                         .first = job->next,
                         .ptr = job->ptr,
                         .io = job->io};
  unsigned char *buf = pool->sendbuf;
  memcpy(buf, &h, sizeof h);
  size_t len = sizeof h;
  if (job->type == MSG_TASKS) {
    for (size_t i = 0; i < count; i++) {
      const struct cl_task *t = &job->batch->tasks[job->next + i];
      struct task_desc d;
      memset(&d, 0, sizeof d);
      d.index = t->index;
      d.nphases = t->nphases;
      memcpy(d.phase, t->phase, sizeof d.phase);
      memcpy(buf + len, &d, sizeof d);
      len += sizeof d;
    }
  } else {
    memcpy(buf + len, job->args + job->next, count * sizeof(uint64_t));
    len += count * sizeof(uint64_t);
  }
  ssize_t n;
  do
    n = send(w->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  if (n != (ssize_t)len) return worker_lost(pool, w, job, NULL);
  w->sent[w->outstanding++] = (struct chunk){job->next, (unsigned)count};
  job->next += count;
  return 0;
}

static int dispatch(struct cl_process_pool *pool, struct job *job) {
  /* Every idle worker gets a chunk; then, while plenty is left, each gets a
   * second one to start on as soon as it is done (the tail is not
   * prefetched, so that no worker sits on a chunk another could run). */
  for (int pass = 0; pass < DEPTH; pass++)
    for (unsigned i = 0; i < pool->nworkers && job->next < job->n; i++) {
      struct worker *w = &pool->w[i];
      if (w->outstanding != (unsigned)pass) continue;
      size_t chunks_left = (job->n - job->next + job->chunk - 1) / job->chunk;
      if (pass > 0 && chunks_left <= pool->nworkers) return 0;
      int rc = send_chunk(pool, w, job);
      if (rc) return rc;
    }
  return 0;
}

/* Applies one result message from w. Returns 0 or CL_EWORKER. */
static int take_results(struct cl_process_pool *pool, struct worker *w, struct job *job,
                        size_t len) {
  const unsigned char *buf = pool->recvbuf;
  struct result_header rh;
  if (len < sizeof rh) return worker_lost(pool, w, job, "sent a short message");
  memcpy(&rh, buf, sizeof rh);
  if (rh.type != MSG_RESULTS || w->outstanding == 0 || rh.count != w->sent[0].count ||
      len != sizeof rh + rh.count * sizeof(struct result_item))
    return worker_lost(pool, w, job, "sent a malformed message");
  struct chunk ch = w->sent[0];
  for (uint32_t i = 0; i < rh.count; i++) {
    struct result_item r;
    memcpy(&r, buf + sizeof rh + i * sizeof r, sizeof r);
    if (r.index != ch.first + i) return worker_lost(pool, w, job, "answered the wrong item");
    if (job->type == MSG_TASKS) {
      struct cl_task *t = &job->batch->tasks[r.index];
      t->result = r.value;
      t->status = r.status;
      t->pc = r.pc;
      t->wakes = r.wakes;
      t->wake_ns = r.wake_ns;
      t->worker = (uint32_t)(w - pool->w);
    } else {
      job->results[r.index] = r.value;
    }
  }
  if (rh.has_failure && job->type == MSG_TASKS && !job->err) {
    if (rh.failed_index < ch.first || rh.failed_index >= ch.first + ch.count)
      return worker_lost(pool, w, job, "reported a failure outside its chunk");
    job->err = job->batch->tasks[rh.failed_index].status;
    if (job->err == 0) job->err = CL_EIO;
    rh.detail[sizeof rh.detail - 1] = '\0';
    if (rh.detail[0])
      snprintf(job->detail, sizeof job->detail, "%s", rh.detail);
    else
      snprintf(job->detail, sizeof job->detail, "task %u: %s", rh.failed_index,
               cl_strerror(job->err));
  }
  w->last = rh.usage;
  w->sent[0] = w->sent[1];
  w->outstanding--;
  job->done += rh.count;
  return 0;
}

/* Reads what w has sent. Returns 0 or CL_EWORKER. */
static int drain(struct cl_process_pool *pool, struct worker *w, struct job *job, short revents) {
  for (;;) {
    ssize_t n = recv(w->fd, pool->recvbuf, RESULT_BYTES, MSG_DONTWAIT | MSG_TRUNC);
    if (n > (ssize_t)RESULT_BYTES) return worker_lost(pool, w, job, "sent an oversized message");
    if (n > 0) {
      int rc = take_results(pool, w, job, (size_t)n);
      if (rc) return rc;
      continue;
    }
    if (n == 0) return worker_lost(pool, w, job, NULL);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return (revents & (POLLHUP | POLLERR)) ? worker_lost(pool, w, job, NULL) : 0;
    return worker_lost(pool, w, job, NULL);
  }
}

/* Checks, without waiting, whether a worker has exited unnoticed (say, while
 * a process it forked still holds its socket). */
static int check_alive(struct cl_process_pool *pool, struct job *job) {
  for (unsigned i = 0; i < pool->nworkers; i++) {
    struct worker *w = &pool->w[i];
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == w->pid)
      return worker_lost(pool, w, job, NULL);
  }
  return 0;
}

static int run_job(struct cl_process_pool *pool, struct job *job) {
  if (pool->broken)
    return cl_error_set(CL_EWORKER, "%s (destroy it and create another)", pool->broken_detail);
  for (unsigned i = 0; i < pool->nworkers; i++) {
    pool->w[i].base = pool->w[i].last;
    pool->w[i].outstanding = 0;
  }
  memset(&pool->usage, 0, sizeof pool->usage);
  pool->usage.effective_chunk = job->chunk;
  while (job->done < job->n) {
    int rc = dispatch(pool, job);
    if (rc) return rc;
    for (unsigned i = 0; i < pool->nworkers; i++) {
      pool->pfds[i].fd = pool->w[i].fd;
      pool->pfds[i].events = POLLIN;
      pool->pfds[i].revents = 0;
    }
    int n = poll(pool->pfds, pool->nworkers, WATCH_MS);
    if (n < 0 && errno != EINTR)
      return cl_error_set(CL_ESYS, "process_pool: poll: %s", strerror(errno));
    if (n == 0) {
      rc = check_alive(pool, job);
      if (rc) return rc;
    }
    for (unsigned i = 0; n > 0 && i < pool->nworkers; i++) {
      if (!pool->pfds[i].revents) continue;
      rc = drain(pool, &pool->w[i], job, pool->pfds[i].revents);
      if (rc) return rc;
    }
  }
  for (unsigned i = 0; i < pool->nworkers; i++) {
    const struct usage_report *a = &pool->w[i].base, *b = &pool->w[i].last;
    pool->usage.user_s += (double)(b->utime_us - a->utime_us) / 1e6;
    pool->usage.sys_s += (double)(b->stime_us - a->stime_us) / 1e6;
    pool->usage.nvcsw += (long)(b->nvcsw - a->nvcsw);
    pool->usage.nivcsw += (long)(b->nivcsw - a->nivcsw);
    if (b->maxrss_kb > pool->usage.max_rss_kb) pool->usage.max_rss_kb = (long)b->maxrss_kb;
  }
  if (job->err) return cl_error_set(job->err, "%s", job->detail);
  return 0;
}

unsigned cl_process_pool_auto_chunk(size_t n, unsigned workers) {
  if (workers == 0) workers = 1;
  size_t c = (n + 4 * (size_t)workers - 1) / (4 * (size_t)workers);
  if (c < 1) c = 1;
  if (c > CL_PROCESS_POOL_MAX_CHUNK) c = CL_PROCESS_POOL_MAX_CHUNK;
  return (unsigned)c;
}

static unsigned pick_chunk(const struct cl_process_pool *pool, size_t n, unsigned chunksize) {
  if (chunksize == 0) return cl_process_pool_auto_chunk(n, pool->nworkers);
  return chunksize > CL_PROCESS_POOL_MAX_CHUNK ? CL_PROCESS_POOL_MAX_CHUNK : chunksize;
}

int cl_process_pool_map(struct cl_process_pool *pool, cl_map_fn fn, const uint64_t *args,
                        uint64_t *results, size_t n, unsigned chunksize) {
  if (!pool || !fn || (n && (!args || !results)))
    return cl_error_set(CL_EINVAL, "cl_process_pool_map: NULL argument");
  if (n > UINT32_MAX) return cl_error_set(CL_EINVAL, "cl_process_pool_map: %zu items", n);
  struct job job = {.type = MSG_CALLS,
                    .n = n,
                    .chunk = pick_chunk(pool, n, chunksize),
                    .ptr = (uint64_t)(uintptr_t)fn,
                    .args = args,
                    .results = results};
  return run_job(pool, &job);
}

int cl_process_pool_run(struct cl_process_pool *pool, struct cl_batch *batch, unsigned chunksize) {
  if (!pool || !batch || (batch->ntasks && !batch->tasks))
    return cl_error_set(CL_EINVAL, "cl_process_pool_run: NULL argument");
  for (size_t i = 0; i < batch->ntasks; i++)
    if (batch->tasks[i].index != i)
      return cl_error_set(CL_EINVAL, "process_pool: task %zu has index %u", i,
                          batch->tasks[i].index);
  struct job job = {.type = MSG_TASKS,
                    .n = batch->ntasks,
                    .chunk = pick_chunk(pool, batch->ntasks, chunksize),
                    .ptr = (uint64_t)(uintptr_t)batch->data,
                    .io = batch->io,
                    .batch = batch};
  return run_job(pool, &job);
}

void cl_process_pool_usage(const struct cl_process_pool *pool, struct cl_exec_usage *out) {
  *out = pool->usage;
}

unsigned cl_process_pool_pids(const struct cl_process_pool *pool, int *out, unsigned max) {
  for (unsigned i = 0; i < pool->nworkers && i < max; i++)
    out[i] = pool->w[i].pid;
  return pool->nworkers;
}

bool cl_process_pool_broken(const struct cl_process_pool *pool) {
  return pool->broken;
}

void cl_process_pool_destroy(struct cl_process_pool *pool) {
  if (!pool) return;
  /* Closing a worker's socket is its signal to exit. */
  for (unsigned i = 0; i < pool->nworkers; i++)
    close_worker_fd(&pool->w[i]);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (unsigned i = 0; i < pool->nworkers; i++) {
    struct worker *w = &pool->w[i];
    if (w->pid <= 0) continue;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long spent = (long)(t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
    int st;
    reap_or_kill(w->pid, &st, spent >= STOP_TIMEOUT_MS ? 0 : STOP_TIMEOUT_MS - (int)spent);
    w->pid = 0;
  }
  free_pool(pool);
}

/* Waits until every worker has sent MSG_READY. Returns 0 or CL_EWORKER. */
static int await_ready(struct cl_process_pool *pool) {
  unsigned ready = 0;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  bool *seen = calloc(pool->nworkers, sizeof *seen);
  if (!seen) return cl_error_set(CL_ENOMEM, "process_pool: out of memory");
  int rc = 0;
  while (ready < pool->nworkers && !rc) {
    for (unsigned i = 0; i < pool->nworkers; i++) {
      pool->pfds[i].fd = seen[i] ? -1 : pool->w[i].fd;
      pool->pfds[i].events = POLLIN;
      pool->pfds[i].revents = 0;
    }
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long spent = (long)(t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
    if (spent >= START_TIMEOUT_MS) {
      kill_all(pool);
      rc = cl_error_set(CL_EWORKER, "process_pool: %u of %u workers did not start within %d ms",
                        pool->nworkers - ready, pool->nworkers, START_TIMEOUT_MS);
      break;
    }
    int n = poll(pool->pfds, pool->nworkers, (int)(START_TIMEOUT_MS - spent));
    if (n < 0 && errno != EINTR) {
      kill_all(pool);
      rc = cl_error_set(CL_ESYS, "process_pool: poll: %s", strerror(errno));
      break;
    }
    for (unsigned i = 0; n > 0 && i < pool->nworkers && !rc; i++) {
      if (!pool->pfds[i].revents) continue;
      struct result_header rh;
      ssize_t got = recv(pool->w[i].fd, &rh, sizeof rh, MSG_DONTWAIT);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got != (ssize_t)sizeof rh || rh.type != MSG_READY) {
        rc = worker_lost(pool, &pool->w[i], NULL, got > 0 ? "sent a malformed greeting" : NULL);
        break;
      }
      pool->w[i].last = rh.usage;
      seen[i] = true;
      ready++;
    }
  }
  free(seen);
  return rc;
}

int cl_process_pool_create(const struct cl_process_pool_options *opt,
                           struct cl_process_pool **out) {
  if (!opt || !out) return cl_error_set(CL_EINVAL, "cl_process_pool_create: NULL argument");
  if (opt->workers == 0) return cl_error_set(CL_EINVAL, "process_pool: workers must be at least 1");
  if (opt->workers > CL__MAX_WORKERS)
    return cl_error_set(CL_ERANGE, "process_pool: %u workers requested, at most %d", opt->workers,
                        CL__MAX_WORKERS);
  const struct cl_exec_config *place =
      opt->placement && opt->placement->bind != CL_BIND_NONE ? opt->placement : NULL;
  if (place) {
    int brc = cl_topology_check_bind(place);
    if (brc) return brc;
  }
  unsigned nw = opt->workers;
  struct cl_process_pool *pool = calloc(1, sizeof *pool + nw * sizeof pool->w[0]);
  if (!pool) return cl_error_set(CL_ENOMEM, "process_pool: out of memory");
  pool->nworkers = nw;
  for (unsigned i = 0; i < nw; i++)
    pool->w[i].fd = -1;
  int rc = 0;
  pool->sendbuf = malloc(JOB_BYTES);
  pool->recvbuf = malloc(RESULT_BYTES);
  pool->pfds = calloc(nw, sizeof *pool->pfds);
  if (!pool->sendbuf || !pool->recvbuf || !pool->pfds) {
    rc = cl_error_set(CL_ENOMEM, "process_pool: out of memory");
    goto fail;
  }
  pool->slots_bytes = nw * sizeof(struct shared_slot);
  void *m =
      mmap(NULL, pool->slots_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    rc = cl_error_set(CL_ENOMEM, "process_pool: mmap of %zu shared bytes: %s", pool->slots_bytes,
                      strerror(errno));
    goto fail;
  }
  pool->slots = m;
  if (opt->gil)
    for (unsigned i = 0; i < nw && !rc; i++)
      rc = cl_gil_create(opt->switch_interval_ns, &pool->w[i].gil);
  if (rc) goto fail;

  for (unsigned i = 0; i < nw; i++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      int e = errno;
      rc = cl_error_set(e == EMFILE || e == ENFILE ? CL_ELIMIT : CL_ESYS,
                        "process_pool: socketpair for worker %u of %u: %s", i, nw, strerror(e));
      kill_all(pool);
      goto fail;
    }
    int pid = fork();
    if (pid == 0) {
      close(sv[0]);
      worker_main(pool, i, sv[1]);
    }
    close(sv[1]);
    if (pid < 0) {
      int e = errno;
      close(sv[0]);
      kill_all(pool);
      rc = cl_error_set(CL_EPROC, "process_pool: fork failed for worker %u of %u: %s", i, nw,
                        strerror(e));
      goto fail;
    }
    pool->w[i].pid = pid;
    pool->w[i].fd = sv[0];
    /* Bound before it is sent any work; a refusal fails create(). */
    if (place && (rc = cl_topology_bind_process(place, i, pid)) != 0) {
      kill_all(pool);
      goto fail;
    }
  }
  rc = await_ready(pool);
  if (rc) {
    kill_all(pool);
    goto fail;
  }
  *out = pool;
  return 0;

fail:
  free_pool(pool);
  return rc;
}

/* ---- The executor. ---- */

struct pp_executor {
  struct cl_executor base;
  struct cl_process_pool *pool;
};

static int pp_create(const struct cl_exec_config *cfg, struct cl_executor **out) {
  int rc = cl__exec_check_config("process_pool", cfg, true);
  if (rc) return rc;
  struct pp_executor *ex = calloc(1, sizeof *ex);
  if (!ex) return cl_error_set(CL_ENOMEM, "process_pool: out of memory");
  struct cl_process_pool_options opt = {.workers = cfg->workers,
                                        .gil = cfg->gil,
                                        .switch_interval_ns = cfg->switch_interval_ns,
                                        .placement = cfg};
  rc = cl_process_pool_create(&opt, &ex->pool);
  if (rc) {
    free(ex);
    return rc;
  }
  ex->base.ops = &cl__exec_process_pool;
  ex->base.cfg = *cfg;
  *out = &ex->base;
  return 0;
}

static int pp_run(struct cl_executor *base, struct cl_batch *batch) {
  struct pp_executor *ex = (struct pp_executor *)base;
  return cl_process_pool_run(ex->pool, batch, ex->base.cfg.chunksize);
}

static int pp_usage(struct cl_executor *base, struct cl_exec_usage *out) {
  struct pp_executor *ex = (struct pp_executor *)base;
  cl_process_pool_usage(ex->pool, out);
  return 0;
}

static void pp_destroy(struct cl_executor *base) {
  if (!base) return;
  struct pp_executor *ex = (struct pp_executor *)base;
  cl_process_pool_destroy(ex->pool);
  free(ex);
}

const struct cl_executor_ops cl__exec_process_pool = {
    .name = "process_pool",
    .summary = "worker processes forked before timing, tasks sent in chunks over sockets, "
               "each with its own GIL (seed ex. 68: multiprocessing.Pool.map)",
    .flags = CL_EXEC_PARALLEL | CL_EXEC_GIL_CAPABLE | CL_EXEC_PROCESSES | CL_EXEC_BINDS,
    .create = pp_create,
    .run = pp_run,
    .destroy = pp_destroy,
    .usage = pp_usage,
};
