/* The loopback delay server behind io.net. It runs in its own process,
 * forked by cl_delay_server_start: a process rather than a thread, so that a
 * process pool forked later never inherits a lock the server holds, and so
 * that killing it is a clean test of the clients' error paths.
 *
 * One epoll loop serves every connection: read the 32-byte request, wait its
 * delay (an intrusive timer heap, ties in arrival order), write the header
 * and the body that cl_net_fill() defines, then wait for the client to close.
 * The connection table is allocated by the parent before the fork, so the
 * server allocates nothing; when it is full, the listening socket is set
 * aside and new clients wait in the kernel's backlog. */
#include "conlab/net.h"

#include "conlab/error.h"
#include "executors/event_loop_internal.h"
#include "executors/exec_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { C_FREE = 0, C_READING, C_DELAYING, C_WRITING, C_DRAINING };

#define TAG_LISTEN UINT64_MAX
#define TAG_CONTROL (UINT64_MAX - 1)

struct conn {
  int fd;
  int state;
  struct conn *next_free;
  struct cl_heap_node timer;
  bool timer_armed;
  uint64_t deadline, seq;
  size_t req_got;
  unsigned char req[sizeof(struct cl_net_request)];
  struct cl_net_request r;
  uint64_t sent, total; /* header and body bytes */
};

/* The server is single-threaded: nothing here is shared. */
struct server {
  int epfd, lfd, ctl, spare;
  bool accepting;
  struct conn *conns;
  size_t max;
  struct conn *free_list;
  struct cl__heap timers;
  uint64_t seq;
  struct epoll_event events[256];
};

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct conn *conn_of_timer(const struct cl_heap_node *n) {
  return (struct conn *)((const char *)n - offsetof(struct conn, timer));
}

static bool timer_less(const struct cl_heap_node *a, const struct cl_heap_node *b) {
  const struct conn *x = conn_of_timer(a), *y = conn_of_timer(b);
  if (x->deadline != y->deadline) return x->deadline < y->deadline;
  return x->seq < y->seq;
}

static void watch(struct server *s, int op, int fd, uint32_t events, uint64_t tag) {
  struct epoll_event ev = {.events = events, .data.u64 = tag};
  if (epoll_ctl(s->epfd, op, fd, &ev) != 0 && op != EPOLL_CTL_DEL) _exit(4);
}

static void set_accepting(struct server *s, bool on) {
  if (on == s->accepting) return;
  if (on)
    watch(s, EPOLL_CTL_ADD, s->lfd, EPOLLIN, TAG_LISTEN);
  else
    watch(s, EPOLL_CTL_DEL, s->lfd, 0, TAG_LISTEN);
  s->accepting = on;
}

static void close_conn(struct server *s, struct conn *c) {
  if (c->timer_armed) cl__heap_remove(&s->timers, &c->timer, timer_less);
  c->timer_armed = false;
  close(c->fd); /* also removes it from the epoll set */
  c->fd = -1;
  c->state = C_FREE;
  c->next_free = s->free_list;
  s->free_list = c;
  set_accepting(s, true);
}

/* Byte k of what a connection sends: the header, then the body. */
static void fill_stream(const struct conn *c, uint64_t off, unsigned char *buf, size_t len) {
  struct cl_net_reply_header h = {
      .magic = CL_NET_REPLY_MAGIC, .status = CL_NET_REPLY_OK, .id = c->r.id};
  size_t done = 0;
  while (done < len && off + done < sizeof h) {
    buf[done] = ((const unsigned char *)&h)[off + done];
    done++;
  }
  if (done < len) cl_net_fill(c->r.id, off + done - sizeof h, buf + done, len - done);
}

static void write_more(struct server *s, struct conn *c) {
  unsigned char buf[16384];
  while (c->sent < c->total) {
    uint64_t left = c->total - c->sent;
    size_t len = left < sizeof buf ? (size_t)left : sizeof buf;
    fill_stream(c, c->sent, buf, len);
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (c->state != C_WRITING)
          watch(s, EPOLL_CTL_MOD, c->fd, EPOLLOUT, (uint64_t)(c - s->conns));
        c->state = C_WRITING;
        return;
      }
      close_conn(s, c);
      return;
    }
    c->sent += (uint64_t)n;
  }
  /* Everything is sent: wait for the client to close. */
  c->state = C_DRAINING;
  watch(s, EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLRDHUP, (uint64_t)(c - s->conns));
}

static void got_request(struct server *s, struct conn *c) {
  memcpy(&c->r, c->req, sizeof c->r);
  if (c->r.magic != CL_NET_REQUEST_MAGIC || c->r.version != CL_NET_VERSION ||
      c->r.reply_bytes > CL_NET_MAX_REPLY || c->r.delay_ns > CL_NET_MAX_DELAY_NS) {
    struct cl_net_reply_header h = {
        .magic = CL_NET_REPLY_MAGIC, .status = CL_NET_REPLY_BAD_REQUEST, .id = c->r.id};
    send(c->fd, &h, sizeof h, MSG_NOSIGNAL | MSG_DONTWAIT);
    close_conn(s, c);
    return;
  }
  c->sent = 0;
  c->total = sizeof(struct cl_net_reply_header) + c->r.reply_bytes;
  c->state = C_DELAYING;
  c->deadline = mono_ns() + c->r.delay_ns;
  c->seq = ++s->seq;
  cl__heap_insert(&s->timers, &c->timer, timer_less);
  c->timer_armed = true;
}

static void on_conn_event(struct server *s, struct conn *c, uint32_t events) {
  if (c->state == C_WRITING) {
    if (events & (EPOLLERR | EPOLLHUP))
      close_conn(s, c);
    else
      write_more(s, c);
    return;
  }
  unsigned char buf[512];
  for (;;) {
    unsigned char *dst = buf;
    size_t want = sizeof buf;
    if (c->state == C_READING) {
      dst = c->req + c->req_got;
      want = sizeof c->req - c->req_got;
    }
    ssize_t n = recv(c->fd, dst, want, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) { /* closed or reset by the client */
      close_conn(s, c);
      return;
    }
    if (c->state == C_READING) {
      c->req_got += (size_t)n;
      if (c->req_got == sizeof c->req) {
        got_request(s, c);
        return;
      }
    } else if (c->state == C_DELAYING) {
      close_conn(s, c); /* bytes beyond the request: not our protocol */
      return;
    }
    /* C_DRAINING: whatever the client still sends is discarded. */
  }
}

static void accept_all(struct server *s) {
  while (s->free_list) {
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && s->spare >= 0) {
        /* Out of descriptors: accept with the spare one and close at once, so
         * the client gets an error instead of waiting in the backlog. */
        close(s->spare);
        fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) close(fd);
        s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
        continue;
      }
      return;
    }
    struct conn *c = s->free_list;
    s->free_list = c->next_free;
    c->fd = fd;
    c->state = C_READING;
    c->req_got = 0;
    c->timer_armed = false;
    watch(s, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP, (uint64_t)(c - s->conns));
  }
  set_accepting(s, false);
}

/* Closes every descriptor above 2 except a and b. */
static void close_all_but(int a, int b) {
  int lo = a < b ? a : b, hi = a < b ? b : a;
  bool ok = true;
  if (lo > 3) ok = ok && close_range(3, (unsigned)lo - 1, 0) == 0;
  if (hi > lo + 1) ok = ok && close_range((unsigned)lo + 1, (unsigned)hi - 1, 0) == 0;
  ok = ok && close_range((unsigned)hi + 1, ~0u, 0) == 0;
  if (!ok) {
    struct rlimit rl = {1024, 1024};
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t max = rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur;
    for (rlim_t fd = 3; fd < max; fd++)
      if ((int)fd != a && (int)fd != b) close((int)fd);
  }
}

static void server_main(int lfd, int ctl, struct conn *conns, size_t max) __attribute__((noreturn));

static void server_main(int lfd, int ctl, struct conn *conns, size_t max) {
  if (lfd <= 2 || ctl <= 2) _exit(5);
  close_all_but(lfd, ctl);
  signal(SIGINT, SIG_IGN); /* the parent handles Ctrl-C, then stops us */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, SIG_DFL);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  static struct server s;
  s.lfd = lfd;
  s.ctl = ctl;
  s.conns = conns;
  s.max = max;
  s.spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  cl__heap_init(&s.timers);
  for (size_t i = max; i-- > 0;) {
    conns[i].fd = -1;
    conns[i].next_free = s.free_list;
    s.free_list = &conns[i];
  }
  s.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s.epfd < 0) _exit(4);
  watch(&s, EPOLL_CTL_ADD, ctl, EPOLLIN, TAG_CONTROL);
  set_accepting(&s, true);
  bool no_pwait2 = false;
  for (;;) {
    struct timespec ts, *timeout = NULL;
    struct cl_heap_node *first = cl__heap_min(&s.timers);
    if (first) {
      uint64_t now = mono_ns(), dl = conn_of_timer(first)->deadline;
      uint64_t d = dl > now ? dl - now : 0;
      ts.tv_sec = (time_t)(d / 1000000000u);
      ts.tv_nsec = (long)(d % 1000000000u);
      timeout = &ts;
    }
    int n;
    if (!no_pwait2) {
      n = epoll_pwait2(s.epfd, s.events, 256, timeout, NULL);
      if (n < 0 && errno == ENOSYS) {
        no_pwait2 = true;
        continue;
      }
    } else {
      int ms = -1;
      if (timeout) {
        uint64_t t = (uint64_t)ts.tv_sec * 1000u + ((uint64_t)ts.tv_nsec + 999999u) / 1000000u;
        ms = t > 3600000u ? 3600000 : (int)t;
      }
      n = epoll_wait(s.epfd, s.events, 256, ms);
    }
    if (n < 0 && errno != EINTR) _exit(4);
    for (int i = 0; i < n; i++) {
      uint64_t tag = s.events[i].data.u64;
      if (tag == TAG_CONTROL) _exit(0); /* the parent closed its end, or died */
      if (tag == TAG_LISTEN) {
        accept_all(&s);
        continue;
      }
      struct conn *c = &s.conns[tag];
      if (c->state != C_FREE) on_conn_event(&s, c, s.events[i].events);
    }
    uint64_t now = mono_ns();
    while ((first = cl__heap_min(&s.timers)) != NULL && conn_of_timer(first)->deadline <= now) {
      struct conn *c = conn_of_timer(first);
      cl__heap_pop(&s.timers, timer_less);
      c->timer_armed = false;
      write_more(&s, c);
    }
  }
}

int cl_delay_server_start(size_t max_conns, struct cl_delay_server *out) {
  if (!out || max_conns == 0 || max_conns > (1u << 20))
    return cl_error_set(CL_EINVAL, "delay server: room for %zu connections (1..1048576)",
                        max_conns);
  memset(out, 0, sizeof *out);
  struct conn *conns = calloc(max_conns, sizeof *conns);
  if (!conns)
    return cl_error_set(CL_ENOMEM, "delay server: no memory for %zu connections", max_conns);
  int rc = 0, lfd = -1, ctl[2] = {-1, -1};
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) {
    int e = errno;
    rc = cl_error_set(e == EMFILE || e == ENFILE ? CL_ELIMIT : CL_ESYS, "delay server: socket: %s",
                      strerror(e));
    goto fail;
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 65535) != 0 ||
      getsockname(lfd, (struct sockaddr *)&sa, &len) != 0) {
    rc = cl_error_set(CL_ESYS, "delay server: listening on 127.0.0.1: %s", strerror(errno));
    goto fail;
  }
  if (pipe2(ctl, O_CLOEXEC) != 0) {
    int e = errno;
    rc = cl_error_set(e == EMFILE || e == ENFILE ? CL_ELIMIT : CL_ESYS, "delay server: pipe: %s",
                      strerror(e));
    goto fail;
  }
  int pid = fork();
  if (pid == 0) {
    close(ctl[1]);
    server_main(lfd, ctl[0], conns, max_conns);
  }
  if (pid < 0) {
    rc = cl_error_set(CL_EPROC, "delay server: fork: %s", strerror(errno));
    goto fail;
  }
  /* The listening socket now belongs to the server; connections queue in its
   * backlog even before the server first waits. */
  close(lfd);
  close(ctl[0]);
  free(conns);
  out->pid = pid;
  out->control_fd = ctl[1];
  out->addr = INADDR_LOOPBACK;
  out->port = ntohs(sa.sin_port);
  out->max_conns = max_conns;
  return 0;

fail:
  if (lfd >= 0) close(lfd);
  if (ctl[0] >= 0) close(ctl[0]);
  if (ctl[1] >= 0) close(ctl[1]);
  free(conns);
  return rc;
}

int cl_delay_server_stop(struct cl_delay_server *s) {
  if (!s) return 0;
  if (s->pid <= 0) {
    memset(s, 0, sizeof *s);
    return 0;
  }
  /* A live server exits with status 0 as soon as its control pipe closes, so
   * any other end means it had died before (killed, or failed); one that
   * does not exit within a second is killed. */
  int status = 0, rc = 0;
  if (s->control_fd >= 0) close(s->control_fd);
  if (!cl__reap_within(s->pid, &status, 1000)) {
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {
    }
  } else if (status != -1 && WIFSIGNALED(status)) {
    const char *abbrev = sigabbrev_np(WTERMSIG(status));
    rc = cl_error_set(CL_ENET, "delay server (pid %d) had died: killed by signal %d (SIG%s)",
                      s->pid, WTERMSIG(status), abbrev ? abbrev : "?");
  } else if (status != -1 && WEXITSTATUS(status) != 0) {
    rc = cl_error_set(CL_ENET, "delay server (pid %d) had died: exit status %d", s->pid,
                      WEXITSTATUS(status));
  }
  memset(s, 0, sizeof *s);
  return rc;
}

void cl_delay_server_env(const struct cl_delay_server *s, struct cl_io_env *env) {
  memset(env, 0, sizeof *env);
  env->net_addr = s->addr;
  env->net_port = s->port;
}
