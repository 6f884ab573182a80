#include "conlab/net.h"

#include "conlab/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { S_CLOSED = 0, S_CONNECTING, S_SENDING, S_RECEIVING, S_DONE, S_FAILED };

enum { HEADER_BYTES = sizeof(struct cl_net_reply_header) };

void cl_net_fill(uint64_t id, uint64_t offset, void *buf, size_t len) {
  unsigned char *out = buf;
  size_t i = 0;
  while (i < len) {
    uint64_t k = offset + i;
    uint64_t word = cl_mix64(id + k / 8 + 1);
    for (unsigned byte = (unsigned)(k % 8); byte < 8 && i < len; byte++, i++)
      out[i] = (unsigned char)(word >> (8 * byte));
  }
}

uint64_t cl_net_request_id(uint32_t task_index, const struct cl_phase *p) {
  return cl_io_token(task_index, p);
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cl_net_conn_close(struct cl_net_conn *c) {
  if (c->fd >= 0) {
    /* An abortive close (RST) leaves no TIME_WAIT entry on either side, so
     * thousands of requests per second do not exhaust the local ports. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c->fd);
    c->fd = -1;
  }
  c->state = S_CLOSED;
}

/* Ends the request (the socket stays open for cl_net_conn_close) and turns
 * errno value `e`, met while `doing`, into a CL_E* code with a detail. */
static int fail_errno(struct cl_net_conn *c, int e, const char *doing) {
  c->state = S_FAILED;
  unsigned port = c->port;
  unsigned task = c->task_index;
  switch (e) {
  case EMFILE: {
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_NOFILE, &rl);
    return cl_error_set(CL_ELIMIT,
                        "task %u: cannot open a socket: this process is at its RLIMIT_NOFILE "
                        "(soft limit %llu, hard %llu descriptors); run fewer tasks at once or "
                        "raise it (ulimit -n)",
                        task, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
  }
  case ENFILE:
    return cl_error_set(CL_ELIMIT,
                        "task %u: cannot open a socket: the system-wide file table is full "
                        "(fs.file-max)",
                        task);
  case ENOBUFS:
  case ENOMEM:
    return cl_error_set(CL_ELIMIT, "task %u: %s: the kernel is out of socket memory", task, doing);
  case EADDRNOTAVAIL:
  case EAGAIN:
    return cl_error_set(CL_ELIMIT,
                        "task %u: %s 127.0.0.1:%u: no local port left "
                        "(net.ipv4.ip_local_port_range)",
                        task, doing, port);
  case ECONNREFUSED:
    return cl_error_set(CL_ENET,
                        "task %u: connection to the delay server at 127.0.0.1:%u refused (is "
                        "it running?)",
                        task, port);
  case ECONNRESET:
  case EPIPE:
    return cl_error_set(CL_ENET,
                        "task %u: connection reset by the delay server at 127.0.0.1:%u while "
                        "%s, after %llu of %llu reply bytes (did the server die?)",
                        task, port, doing, (unsigned long long)c->got,
                        (unsigned long long)(c->reply_bytes + HEADER_BYTES));
  case ETIMEDOUT:
    return cl_error_set(CL_ETIMEDOUT, "task %u: %s 127.0.0.1:%u timed out", task, doing, port);
  default:
    return cl_error_set(CL_ESYS, "task %u: %s 127.0.0.1:%u: %s", task, doing, port, strerror(e));
  }
}

int cl_net_conn_fd(const struct cl_net_conn *c) {
  return c->fd;
}

uint64_t cl_net_conn_token(const struct cl_net_conn *c) {
  return c->token;
}

uint64_t cl_net_conn_timeout_ns(const struct cl_net_conn *c) {
  if (c->state == S_RECEIVING && c->got == 0) return c->delay_ns + CL_NET_GRACE_NS;
  return CL_NET_GRACE_NS;
}

int cl_net_conn_timeout(struct cl_net_conn *c) {
  const char *what = c->state == S_CONNECTING ? "connecting to"
                     : c->state == S_SENDING  ? "sending the request to"
                     : c->got == 0            ? "waiting for the reply from"
                                              : "receiving the reply from";
  unsigned long long ms = (unsigned long long)(cl_net_conn_timeout_ns(c) / 1000000u);
  c->state = S_FAILED;
  return cl_error_set(CL_ETIMEDOUT,
                      "task %u: no progress for %llu ms while %s the delay server at "
                      "127.0.0.1:%u (%llu of %llu reply bytes received)",
                      c->task_index, ms, what, c->port, (unsigned long long)c->got,
                      (unsigned long long)(c->reply_bytes + HEADER_BYTES));
}

/* Checks `n` received bytes against what the reply must contain. Returns 0 or
 * CL_ENET (the request has then failed). */
static int consume(struct cl_net_conn *c, const unsigned char *p, size_t n) {
  const uint64_t total = c->reply_bytes + HEADER_BYTES;
  if (n > total - c->got) {
    c->state = S_FAILED;
    return cl_error_set(CL_ENET, "task %u: the delay server sent more than the %llu bytes asked",
                        c->task_index, (unsigned long long)total);
  }
  if (c->got < HEADER_BYTES) {
    size_t take = HEADER_BYTES - (size_t)c->got;
    if (take > n) take = n;
    memcpy(c->header + c->got, p, take);
    c->got += take;
    p += take;
    n -= take;
    if (c->got < HEADER_BYTES) return 0;
    struct cl_net_reply_header h;
    memcpy(&h, c->header, sizeof h);
    if (h.magic != CL_NET_REPLY_MAGIC || h.id != c->id || h.status != CL_NET_REPLY_OK) {
      c->state = S_FAILED;
      return cl_error_set(CL_ENET,
                          "task %u: bad reply header from the delay server (magic %#x, status "
                          "%u, id %#llx; expected id %#llx)",
                          c->task_index, h.magic, h.status, (unsigned long long)h.id,
                          (unsigned long long)c->id);
    }
  }
  unsigned char want[256];
  while (n > 0) {
    size_t len = n < sizeof want ? n : sizeof want;
    uint64_t off = c->got - HEADER_BYTES;
    cl_net_fill(c->id, off, want, len);
    if (memcmp(want, p, len) != 0) {
      size_t k = 0;
      while (want[k] == p[k])
        k++;
      c->state = S_FAILED;
      return cl_error_set(CL_ENET,
                          "task %u: reply byte %llu is %#x, expected %#x (corrupt reply from "
                          "the delay server)",
                          c->task_index, (unsigned long long)(off + k), p[k], want[k]);
    }
    c->got += len;
    p += len;
    n -= len;
  }
  return 0;
}

int cl_net_conn_advance(struct cl_net_conn *c) {
  switch (c->state) {
  case S_CONNECTING: {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == EINPROGRESS || err == EALREADY) return CL_NET_WANT_WRITE;
    if (err) return fail_errno(c, err, "connecting to");
    c->state = S_SENDING;
  }
    /* fallthrough */
  case S_SENDING: {
    struct cl_net_request req = {.magic = CL_NET_REQUEST_MAGIC,
                                 .version = CL_NET_VERSION,
                                 .id = c->id,
                                 .delay_ns = c->delay_ns,
                                 .reply_bytes = c->reply_bytes};
    while (c->sent < sizeof req) {
      ssize_t n = send(c->fd, (const char *)&req + c->sent, sizeof req - c->sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return CL_NET_WANT_WRITE;
        return fail_errno(c, errno, "sending the request to");
      }
      c->sent += (uint64_t)n;
    }
    c->state = S_RECEIVING;
    return CL_NET_WANT_READ;
  }
  case S_RECEIVING: {
    /* Small enough for a thread started with the smallest stack allowed. */
    unsigned char buf[4096];
    for (;;) {
      ssize_t n = recv(c->fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return CL_NET_WANT_READ;
        return fail_errno(c, errno, "receiving the reply");
      }
      if (n == 0) {
        c->state = S_FAILED;
        return cl_error_set(CL_ENET,
                            "task %u: the delay server at 127.0.0.1:%u closed the connection "
                            "after %llu of %llu reply bytes (did it die?)",
                            c->task_index, c->port, (unsigned long long)c->got,
                            (unsigned long long)(c->reply_bytes + HEADER_BYTES));
      }
      int rc = consume(c, buf, (size_t)n);
      if (rc) return rc;
      if (c->got == c->reply_bytes + HEADER_BYTES) {
        c->token = c->id;
        c->state = S_DONE;
        return CL_NET_DONE;
      }
    }
  }
  case S_DONE:
    return CL_NET_DONE;
  default:
    return cl_error_set(CL_ESTATE, "task %u: network request advanced after it ended",
                        c->task_index);
  }
}

int cl_net_conn_start(struct cl_net_conn *c, const struct cl_io_env *env, const struct cl_phase *p,
                      uint32_t task_index) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->task_index = task_index;
  if (!p || p->kind != CL_PHASE_IO || p->op != CL_IO_NET)
    return cl_error_set(CL_EINVAL, "task %u: not a CL_IO_NET phase", task_index);
  if (!env || env->net_port == 0)
    return cl_error_set(CL_EINVAL,
                        "task %u: no delay server (port 0): CL_IO_NET phases need the server "
                        "that the io.net workload starts",
                        task_index);
  if (p->a > CL_NET_MAX_DELAY_NS || p->b > CL_NET_MAX_REPLY)
    return cl_error_set(CL_ERANGE,
                        "task %u: network phase asks for a %llu ns delay and %llu reply bytes "
                        "(limits %llu ns, %llu bytes)",
                        task_index, (unsigned long long)p->a, (unsigned long long)p->b,
                        (unsigned long long)CL_NET_MAX_DELAY_NS,
                        (unsigned long long)CL_NET_MAX_REPLY);
  c->port = env->net_port;
  c->id = cl_net_request_id(task_index, p);
  c->delay_ns = p->a;
  c->reply_bytes = p->b;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return fail_errno(c, errno, "opening a socket for");
  int rc;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons(env->net_port),
                           .sin_addr.s_addr = htonl(env->net_addr)};
  do
    rc = connect(c->fd, (const struct sockaddr *)&sa, sizeof sa);
  while (rc != 0 && errno == EINTR);
  if (rc == 0) {
    c->state = S_SENDING;
    rc = cl_net_conn_advance(c);
  } else if (errno == EINPROGRESS) {
    c->state = S_CONNECTING;
    rc = CL_NET_WANT_WRITE;
  } else {
    rc = fail_errno(c, errno, "connecting to");
  }
  if (rc < 0) cl_net_conn_close(c);
  return rc;
}

/* Waits until the socket is ready for `want`, at most `timeout_ns`. Returns 1
 * when it is (or has an error to report), 0 on timeout. */
static int wait_ready(int fd, int want, uint64_t timeout_ns) {
  uint64_t deadline = mono_ns() + timeout_ns;
  for (;;) {
    uint64_t now = mono_ns();
    if (now >= deadline) return 0;
    uint64_t left_ms = (deadline - now + 999999u) / 1000000u;
    struct pollfd pfd = {.fd = fd, .events = want == CL_NET_WANT_READ ? POLLIN : POLLOUT};
    int n = poll(&pfd, 1, left_ms > 3600000u ? 3600000 : (int)left_ms);
    if (n > 0) return 1;
    if (n < 0 && errno != EINTR) return 1; /* let advance() report the socket's state */
  }
}

int cl_net_request_blocking(const struct cl_io_env *env, const struct cl_phase *p,
                            uint32_t task_index, uint64_t *token) {
  struct cl_net_conn c;
  int r = cl_net_conn_start(&c, env, p, task_index);
  while (r > 0) {
    if (!wait_ready(c.fd, r, cl_net_conn_timeout_ns(&c))) {
      r = cl_net_conn_timeout(&c);
      break;
    }
    r = cl_net_conn_advance(&c);
  }
  cl_net_conn_close(&c);
  if (r == CL_NET_DONE) *token = c.token;
  return r;
}
