/* Real network I/O over loopback TCP: the delay server that the io.net
 * workload starts, and the client side of a CL_IO_NET phase, blocking (threads,
 * pools) or as a non-blocking state machine (the event loop).
 *
 * One request per connection. The client connects to the server, sends a
 * 32-byte request naming an id, a delay and a reply size; the server waits the
 * delay, then sends a 16-byte header and `reply_bytes` bytes computed from the
 * id by cl_net_fill(). The client checks every byte, so a phase's token,
 * cl_io_token(task, phase), is only produced for a correct reply. Both ends
 * run on the same machine, so the wire format is in host byte order.
 *
 * Timeouts: connecting, and every wait for the next bytes of a reply, are
 * bounded (CL_NET_GRACE_NS, plus the phase's delay while waiting for the
 * reply), so a dead or missing server is an error, never a hang. */
#ifndef CONLAB_NET_H
#define CONLAB_NET_H

#include <stddef.h>
#include <stdint.h>

#include "conlab/task.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CL_NET_REQUEST_MAGIC 0x51524c43u /* "CLRQ" */
#define CL_NET_REPLY_MAGIC 0x50524c43u   /* "CLRP" */
#define CL_NET_VERSION 1u
/* Largest reply a request may ask for (the io.net workload's --size limit). */
#define CL_NET_MAX_REPLY (UINT64_C(64) << 20)
/* Longest delay a request may ask for (the workloads' --delay limit). */
#define CL_NET_MAX_DELAY_NS UINT64_C(60000000000)
/* How long a connect, or a wait for reply bytes beyond the delay, may take. */
#define CL_NET_GRACE_NS UINT64_C(5000000000)

/* What the client sends. */
struct cl_net_request {
  uint32_t magic;   /* CL_NET_REQUEST_MAGIC */
  uint32_t version; /* CL_NET_VERSION */
  uint64_t id;      /* chosen by the client; seeds the reply bytes */
  uint64_t delay_ns;
  uint64_t reply_bytes;
};

/* Reply status codes (cl_net_reply_header.status). */
enum { CL_NET_REPLY_OK = 0, CL_NET_REPLY_BAD_REQUEST = 1 };

/* What the server sends before the reply bytes (none when status is not OK). */
struct cl_net_reply_header {
  uint32_t magic;  /* CL_NET_REPLY_MAGIC */
  uint32_t status; /* CL_NET_REPLY_OK or CL_NET_REPLY_BAD_REQUEST */
  uint64_t id;     /* the request's id */
};

/* Writes bytes [offset, offset + len) of the reply body for `id` into buf.
 * Byte k is byte (k % 8) (little end first) of cl_mix64(id + k / 8 + 1). */
void cl_net_fill(uint64_t id, uint64_t offset, void *buf, size_t len);

/* The request id a CL_IO_NET phase of task `task_index` uses. */
uint64_t cl_net_request_id(uint32_t task_index, const struct cl_phase *p);

/* Performs one CL_IO_NET phase (p->a = delay in ns, p->b = reply bytes) on its
 * own connection to the server in `env`, blocking the calling thread, and
 * stores cl_io_token(task_index, p) in *token once every reply byte has been
 * checked. Returns 0 or:
 *   CL_EINVAL      p is not a CL_IO_NET phase, or env has no server (port 0);
 *   CL_ERANGE      the delay or reply size exceeds CL_NET_MAX_*;
 *   CL_ELIMIT      no socket could be opened: the process is at its
 *                  RLIMIT_NOFILE (the detail names the limit) or the
 *                  system's, or no local port was left;
 *   CL_ENET        connection refused or reset, the server closed early, or
 *                  a reply byte differs from cl_net_fill() (the detail says
 *                  which);
 *   CL_ETIMEDOUT   no progress within the delay + CL_NET_GRACE_NS;
 *   CL_ESYS        another system call failed.
 * The detail in cl_error_detail() names the task and the server. */
int cl_net_request_blocking(const struct cl_io_env *env, const struct cl_phase *p,
                            uint32_t task_index, uint64_t *token);

/* The same request as a non-blocking state machine, for an event loop.
 * Caller-allocated; fields are private. Usage:
 *
 *   int r = cl_net_conn_start(&c, env, p, task_index);
 *   while (r > 0) {        // CL_NET_WANT_READ or CL_NET_WANT_WRITE
 *     wait until cl_net_conn_fd(&c) is readable/writable, for at most
 *     cl_net_conn_timeout_ns(&c) (on expiry: r = cl_net_conn_timeout(&c));
 *     r = cl_net_conn_advance(&c);
 *   }
 *   cl_net_conn_close(&c);  // r == 0: token in cl_net_conn_token(&c)
 *
 * Only start closes the socket by itself (when it fails); afterwards it stays
 * open, done or failed, until cl_net_conn_close, so that an event loop can
 * unregister it first. */
enum { CL_NET_DONE = 0, CL_NET_WANT_READ = 1, CL_NET_WANT_WRITE = 2 };

struct cl_net_conn {
  int fd;
  int state;
  uint32_t task_index;
  uint32_t port;
  uint64_t id, delay_ns, reply_bytes, token;
  uint64_t sent, got; /* request bytes sent; reply bytes (header included) received */
  unsigned char header[sizeof(struct cl_net_reply_header)];
};

/* Opens a non-blocking socket and starts connecting. Returns
 * CL_NET_WANT_WRITE or CL_NET_WANT_READ (wait, then advance), or a negative
 * CL_E* code as for cl_net_request_blocking (the socket is then closed).
 * Never returns CL_NET_DONE. */
int cl_net_conn_start(struct cl_net_conn *c, const struct cl_io_env *env, const struct cl_phase *p,
                      uint32_t task_index);

/* Makes whatever progress the socket allows without blocking. Returns
 * CL_NET_DONE (the reply is complete and correct), CL_NET_WANT_READ,
 * CL_NET_WANT_WRITE, or a negative CL_E* code (the request has failed). */
int cl_net_conn_advance(struct cl_net_conn *c);

/* The socket to wait on, or -1 once closed. */
int cl_net_conn_fd(const struct cl_net_conn *c);

/* How long the current wait may last before the request is declared dead. */
uint64_t cl_net_conn_timeout_ns(const struct cl_net_conn *c);

/* Ends a request whose wait expired: returns CL_ETIMEDOUT with a detail
 * saying what it was waiting for. */
int cl_net_conn_timeout(struct cl_net_conn *c);

/* The phase's token, valid after CL_NET_DONE. */
uint64_t cl_net_conn_token(const struct cl_net_conn *c);

/* Closes the socket (abortively, so neither side keeps a TIME_WAIT entry);
 * safe to call twice. */
void cl_net_conn_close(struct cl_net_conn *c);

/* The loopback delay server: its own process (forked, so that it shares no
 * lock with a process pool forked later), epoll-based, serving each
 * connection's request after its delay. */
struct cl_delay_server {
  int pid;        /* 0 when not running */
  int control_fd; /* while pid > 0: a pipe's write end; the server exits when it closes */
  uint32_t addr;  /* 127.0.0.1, host byte order */
  uint16_t port;  /* ephemeral port it listens on */
  uint16_t pad_;
  size_t max_conns; /* connections served at once; more wait in the backlog */
};

/* Starts a server on 127.0.0.1 with an ephemeral port, able to hold
 * `max_conns` (1..1048576) connections at once. The listening socket is
 * bound before this returns, so clients may connect at once. Returns 0,
 * CL_EINVAL, CL_ENOMEM, CL_ELIMIT (no descriptor left), CL_EPROC (fork
 * failed) or CL_ESYS; nothing is left running on error. */
int cl_delay_server_start(size_t max_conns, struct cl_delay_server *out);

/* Stops the server and waits for it, so that no zombie is left: closing the
 * control pipe makes it exit at once; one still running after a second is
 * sent SIGKILL. Zeroes *s. Safe on a zeroed or stopped server. Returns 0, or
 * CL_ENET when the server had died before (killed, or failed; the detail
 * names the signal or exit status). */
int cl_delay_server_stop(struct cl_delay_server *s);

/* Fills env with the server's address and port. */
void cl_delay_server_env(const struct cl_delay_server *s, struct cl_io_env *env);

#ifdef __cplusplus
}
#endif
#endif
