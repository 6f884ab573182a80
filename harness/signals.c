/* SIGINT and SIGTERM during a run, and the sweep that leaves no process
 * behind.
 *
 * The first signal only records itself and wakes the run loop through a
 * self-pipe; the loop then kills the running cell's process group, writes the
 * finished cells and exits 128 + signal. A second signal means "now": the
 * handler itself kills the cell's group and every child, unlinks the results
 * file being written and calls _exit. Everything the handler calls is
 * async-signal-safe (kill, waitpid, open, read, getdents64, unlink, _exit).
 *
 * conlab makes itself a child subreaper, so a process that a cell started in
 * a process group of its own (a CPython interpreter) is re-parented to conlab
 * rather than to init when the cell dies, and the sweep can still find it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conlab/error.h"
#include "harness/harness.h"

/* Written by the handler, read by the run loop. */
static volatile sig_atomic_t first_signal;
static volatile sig_atomic_t cell_pgid;
static volatile sig_atomic_t tmp_set;
static char tmp_path[PATH_MAX];
static volatile sig_atomic_t dir_set;
static char dir_path[PATH_MAX];
static int wake[2] = {-1, -1};
static bool installed;
static struct sigaction old_int, old_term;

/* Parses "pid (comm) state ppid pgrp ..." from /proc/PID/stat. */
static bool read_stat(const char *pid_name, pid_t *ppid, pid_t *pgrp) {
  char path[64] = "/proc/";
  size_t n = strlen(path);
  for (size_t i = 0; pid_name[i] && n < sizeof path - 8; i++)
    path[n++] = pid_name[i];
  memcpy(path + n, "/stat", 6);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  ssize_t len = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (len <= 0) return false;
  buf[len] = '\0';
  /* comm may hold spaces and parentheses: the fields start after the last ')'. */
  char *p = NULL;
  for (ssize_t i = len - 1; i >= 0; i--) {
    if (buf[i] == ')') {
      p = buf + i + 1;
      break;
    }
  }
  if (!p) return false;
  long v[2] = {0, 0};
  int field = 0; /* 0: state, 1: ppid, 2: pgrp */
  while (*p == ' ')
    p++;
  while (*p && field < 3) {
    if (*p == ' ') {
      field++;
      while (*p == ' ')
        p++;
      continue;
    }
    if (field >= 1 && *p >= '0' && *p <= '9') v[field - 1] = v[field - 1] * 10 + (*p - '0');
    p++;
  }
  if (field < 3) return false;
  *ppid = (pid_t)v[0];
  *pgrp = (pid_t)v[1];
  return true;
}

struct dirent64_raw {
  unsigned long long d_ino;
  long long d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* One pass over /proc: SIGKILL every child of ours (those outside our own
 * process group only, unless `all`), with its process group when it leads
 * one, and reap it. Returns how many were killed. */
static size_t sweep_once(bool all) {
  pid_t self = getpid(), own_group = getpgrp();
  int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return 0;
  pid_t victims[256];
  size_t nv = 0;
  char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '1' || d->d_name[0] > '9') continue;
      pid_t ppid, pgrp;
      if (!read_stat(d->d_name, &ppid, &pgrp) || ppid != self) continue;
      if (!all && pgrp == own_group) continue;
      long pid = 0;
      for (const char *c = d->d_name; *c >= '0' && *c <= '9'; c++)
        pid = pid * 10 + (*c - '0');
      if (pgrp == pid && pgrp != own_group) kill(-(pid_t)pgrp, SIGKILL);
      kill((pid_t)pid, SIGKILL);
      if (nv < sizeof victims / sizeof victims[0]) victims[nv++] = (pid_t)pid;
    }
  }
  close(dfd);
  for (size_t i = 0; i < nv; i++) {
    int st;
    while (waitpid(victims[i], &st, 0) < 0 && errno == EINTR) {
    }
  }
  return nv;
}

size_t cl__reap_strays(bool all) {
  int saved = errno;
  size_t total = 0;
  /* Killing a child re-parents its own children to us: sweep until a pass
   * finds nothing (bounded, in case something keeps forking). */
  for (int round = 0; round < 16; round++) {
    size_t n = sweep_once(all);
    total += n;
    if (!n) break;
  }
  errno = saved;
  return total;
}

static void force_exit(int sig) {
  pid_t g = (pid_t)cell_pgid;
  if (g > 0) {
    kill(-g, SIGKILL);
    int st;
    while (waitpid(g, &st, 0) < 0 && errno == EINTR) {
    }
  }
  cl__reap_strays(true);
  if (tmp_set) unlink(tmp_path);
  if (dir_set) rmdir(dir_path); /* only succeeds when nothing was written yet */
  _exit(128 + sig);
}

static void handler(int sig) {
  int saved = errno;
  if (first_signal) force_exit(sig);
  first_signal = sig;
  if (wake[1] >= 0) {
    ssize_t r = write(wake[1], "!", 1);
    (void)r;
  }
  errno = saved;
}

int cl__signals_install(void) {
  if (installed) return 0;
  first_signal = 0;
  cell_pgid = 0;
  tmp_set = 0;
  dir_set = 0;
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) return CL_ESYS;
  /* Orphans of our cells come to us, not to init (see the top of the file). */
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGINT);
  sigaddset(&sa.sa_mask, SIGTERM);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  installed = true;
  return 0;
}

void cl__signals_restore(void) {
  if (!installed) return;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  close(wake[0]);
  close(wake[1]);
  wake[0] = wake[1] = -1;
  installed = false;
}

int cl__signals_pending(void) {
  return first_signal;
}

int cl__signals_fd(void) {
  return wake[0];
}

void cl__signals_set_cell(int pgid) {
  cell_pgid = pgid;
}

void cl__signals_set_tmp(const char *path) {
  tmp_set = 0;
  if (!path || strlen(path) >= sizeof tmp_path) return;
  memcpy(tmp_path, path, strlen(path) + 1);
  tmp_set = 1;
}

void cl__signals_set_run_dir(const char *path) {
  dir_set = 0;
  if (!path || strlen(path) >= sizeof dir_path) return;
  memcpy(dir_path, path, strlen(path) + 1);
  dir_set = 1;
}

void cl__signals_block(sigset_t *old) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  sigprocmask(SIG_BLOCK, &s, old);
}

void cl__signals_unblock(const sigset_t *old) {
  sigprocmask(SIG_SETMASK, old, NULL);
}

void cl__signals_child_reset(const sigset_t *old) {
  /* The parent decides when a cell stops: a Ctrl-C that reached our group
   * before setpgid is dropped here, not acted on. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_DFL);
  signal(SIGPIPE, SIG_IGN);
  if (wake[0] >= 0) close(wake[0]);
  if (wake[1] >= 0) close(wake[1]);
  wake[0] = wake[1] = -1;
  installed = false;
  first_signal = 0;
  cell_pgid = 0;
  tmp_set = 0;
  dir_set = 0;
  sigprocmask(SIG_SETMASK, old, NULL);
}
