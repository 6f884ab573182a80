/* Real network I/O: the reply format, the delay server and the blocking
 * client, errors that must not hang (no server, refused, the server killed
 * in the middle of a run, a server that cannot start), RLIMIT_NOFILE below
 * the number of connections, and the io.net workload's lifecycle (no
 * zombie, no descriptor left). */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/net.h"
#include "conlab/workload.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS UINT64_C(1000000)

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

static bool no_children(void) {
  int st;
  errno = 0;
  return waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct cl_phase net_phase(uint64_t delay, uint64_t bytes) {
  struct cl_phase p = {CL_PHASE_IO, CL_IO_NET, delay, bytes};
  return p;
}

static void test_fill(void) {
  unsigned char a[100], b[100];
  uint64_t id = 0x1234567890abcdefULL;
  cl_net_fill(id, 0, a, sizeof a);
  int bad = 0;
  for (unsigned k = 0; k < sizeof a; k++)
    bad += a[k] != (unsigned char)(cl_mix64(id + k / 8 + 1) >> (8 * (k % 8)));
  CHECK_EQ_INT(bad, 0);
  cl_net_fill(id, 0, b, 37);
  cl_net_fill(id, 37, b + 37, 63);
  CHECK(memcmp(a, b, sizeof a) == 0);
  cl_net_fill(id + 1, 0, b, sizeof b);
  CHECK(memcmp(a, b, sizeof a) != 0);
}

static void test_requests(void) {
  int fds = count_fds();
  struct cl_delay_server srv;
  CHECK_EQ_INT(cl_delay_server_start(64, &srv), 0);
  CHECK(srv.pid > 0 && srv.port != 0);
  struct cl_io_env env;
  cl_delay_server_env(&srv, &env);
  CHECK_EQ_U64(env.net_addr, 0x7f000001);

  struct cl_phase p = net_phase(50 * MS, 1000);
  uint64_t token = 0;
  double t0 = now_s();
  CHECK_EQ_INT(cl_net_request_blocking(&env, &p, 7, &token), 0);
  CHECK(now_s() - t0 >= 0.045); /* the server waited the delay */
  CHECK_EQ_U64(token, cl_io_token(7, &p));

  /* A large reply and an empty one, both checked byte by byte. */
  p = net_phase(0, 3u << 20);
  CHECK_EQ_INT(cl_net_request_blocking(&env, &p, 8, &token), 0);
  CHECK_EQ_U64(token, cl_io_token(8, &p));
  p = net_phase(1 * MS, 0);
  CHECK_EQ_INT(cl_net_request_blocking(&env, &p, 9, &token), 0);
  CHECK_EQ_U64(token, cl_io_token(9, &p));

  /* Out of range, not a net phase, no server. */
  p = net_phase(0, CL_NET_MAX_REPLY + 1);
  CHECK_EQ_INT(cl_net_request_blocking(&env, &p, 1, &token), CL_ERANGE);
  struct cl_phase sleep = {CL_PHASE_IO, CL_IO_SLEEP, 1, 0};
  CHECK_EQ_INT(cl_net_request_blocking(&env, &sleep, 1, &token), CL_EINVAL);
  struct cl_io_env none = {0, 0, 0};
  p = net_phase(0, 8);
  CHECK_EQ_INT(cl_net_request_blocking(&none, &p, 1, &token), CL_EINVAL);
  CHECK(strstr(cl_error_detail(), "no delay server") != NULL);

  /* The server refuses what it does not understand. */
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons(env.net_port),
                           .sin_addr.s_addr = htonl(env.net_addr)};
  CHECK_EQ_INT(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
  struct cl_net_request req = {0x12345678, CL_NET_VERSION, 5, 0, 10};
  CHECK_EQ_INT(send(s, &req, sizeof req, 0), sizeof req);
  struct cl_net_reply_header h = {0, 0, 0};
  CHECK_EQ_INT(recv(s, &h, sizeof h, MSG_WAITALL), sizeof h);
  CHECK_EQ_INT(h.status, CL_NET_REPLY_BAD_REQUEST);
  close(s);

  CHECK_EQ_INT(cl_delay_server_stop(&srv), 0);
  CHECK_EQ_INT(srv.pid, 0);
  CHECK(no_children());
  CHECK_EQ_INT(count_fds(), fds);

  /* Nobody listens any more: refused at once, not a hang. */
  t0 = now_s();
  CHECK_EQ_INT(cl_net_request_blocking(&env, &p, 3, &token), CL_ENET);
  CHECK(strstr(cl_error_detail(), "refused") != NULL);
  CHECK_LE(now_s() - t0, 2.0);
  CHECK_EQ_INT(cl_delay_server_start(0, &srv), CL_EINVAL);
  CHECK_EQ_INT(cl_delay_server_stop(&srv), 0); /* on a stopped server */
}

/* A fake server: answers one request correctly except for byte `flip`. */
struct liar {
  int lfd;
  uint64_t flip;
};

static void *liar_main(void *arg) {
  struct liar *l = arg;
  int c = accept(l->lfd, NULL, NULL);
  if (c < 0) return NULL;
  struct cl_net_request req;
  if (recv(c, &req, sizeof req, MSG_WAITALL) == (ssize_t)sizeof req) {
    struct cl_net_reply_header h = {CL_NET_REPLY_MAGIC, CL_NET_REPLY_OK, req.id};
    unsigned char body[300];
    cl_net_fill(req.id, 0, body, sizeof body);
    body[l->flip] ^= 0x40;
    if (send(c, &h, sizeof h, MSG_NOSIGNAL) == (ssize_t)sizeof h)
      send(c, body, sizeof body, MSG_NOSIGNAL);
  }
  char drain[16];
  while (recv(c, drain, sizeof drain, 0) > 0) {
  }
  close(c);
  return NULL;
}

static void test_corrupt_reply(void) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  CHECK_EQ_INT(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  CHECK_EQ_INT(listen(lfd, 4), 0);
  CHECK_EQ_INT(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
  struct liar l = {lfd, 257};
  pthread_t tid;
  CHECK_EQ_INT(pthread_create(&tid, NULL, liar_main, &l), 0);
  struct cl_io_env env = {INADDR_LOOPBACK, ntohs(sa.sin_port), 0};
  struct cl_phase p = net_phase(0, 300);
  uint64_t token = 12345;
  CHECK_EQ_INT(cl_net_request_blocking(&env, &p, 4, &token), CL_ENET);
  CHECK(strstr(cl_error_detail(), "reply byte 257") != NULL);
  CHECK_EQ_U64(token, 12345); /* no token for a wrong reply */
  pthread_join(tid, NULL);
  close(lfd);
}

struct killer {
  int pid;
  double delay_s;
};

static void *killer_main(void *arg) {
  struct killer *k = arg;
  struct timespec ts = {0, (long)(k->delay_s * 1e9)};
  nanosleep(&ts, NULL);
  kill(k->pid, SIGKILL);
  return NULL;
}

enum { NKILL = 8 };
static struct cl_task ktasks[NKILL];

/* The server dies while `name` waits for 2 s replies: the run fails with a
 * network error right away, long before the delay and the grace period. */
static void server_dies_under(const char *name, unsigned workers) {
  const struct cl_executor_ops *ops = cl_executor_find(name);
  CHECK(ops != NULL);
  if (!ops) return;
  struct cl_delay_server srv;
  CHECK_EQ_INT(cl_delay_server_start(64, &srv), 0);
  struct cl_batch b = {.tasks = ktasks, .ntasks = NKILL};
  cl_delay_server_env(&srv, &b.io);
  for (uint32_t i = 0; i < NKILL; i++) {
    memset(&ktasks[i], 0, sizeof ktasks[i]);
    ktasks[i].index = i;
    ktasks[i].nphases = 1;
    ktasks[i].phase[0] = net_phase(2000 * MS, 64);
  }
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = workers;
  struct cl_executor *ex = NULL;
  CHECK_EQ_INT(ops->create(&cfg, &ex), 0);
  if (!ex) return;
  struct killer k = {srv.pid, 0.2};
  pthread_t tid;
  CHECK_EQ_INT(pthread_create(&tid, NULL, killer_main, &k), 0);
  cl_error_clear();
  double t0 = now_s();
  int rc = ops->run(ex, &b);
  double took = now_s() - t0;
  pthread_join(tid, NULL);
  CHECK_EQ_INT(rc, CL_ENET);
  CHECK_LE(took, 1.8);
  if (rc != CL_ENET || took > 1.8)
    fprintf(stderr, "  %s: %s after %.3f s: %s\n", name, cl_errname(rc), took, cl_error_detail());
  CHECK(strstr(cl_error_detail(), "delay server") != NULL);
  ops->destroy(ex);
  CHECK_EQ_INT(cl_delay_server_stop(&srv), CL_ENET); /* it had died: said so, and reaped */
  CHECK(strstr(cl_error_detail(), "SIGKILL") != NULL);
  CHECK(no_children());
}

static void test_server_dies(void) {
  int fds = count_fds();
  server_dies_under("threads", 1);
  server_dies_under("thread_pool", 8);
  server_dies_under("event_loop", 1);
  server_dies_under("process_pool", 2);
  CHECK_EQ_INT(count_fds(), fds);
}

static void test_workload_lifecycle(void) {
  const struct cl_workload *w = cl_workload_find("io.net");
  CHECK(w != NULL);
  if (!w) return;
  CHECK_STR(w->kind, "io");
  int fds = count_fds();
  struct cl_workload_params p = {.quick = true};
  struct cl_batch b;
  CHECK_EQ_INT(cl_workload_build(w, &p, &b), 0);
  CHECK_EQ_U64(p.tasks, 16);
  CHECK_EQ_U64(p.delay_ns, 10 * MS);
  CHECK(b.io.net_port != 0);
  CHECK(!no_children()); /* the server runs */
  uint64_t expected = 0;
  for (size_t i = 0; i < b.ntasks; i++)
    expected += cl_io_token((uint32_t)i, &b.tasks[i].phase[0]);
  CHECK_EQ_U64(b.expected, expected);
  const struct cl_executor_ops *seq = cl_executor_find("sequential");
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  double t0 = now_s();
  CHECK_EQ_INT(cl_executor_run_once(seq, &cfg, &b), 0);
  CHECK(now_s() - t0 >= 16 * 0.009); /* one delay after another */
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  cl_workload_release(w, &b);
  CHECK(no_children());
  CHECK_EQ_INT(count_fds(), fds);

  /* --size is the reply size. */
  struct cl_workload_params q = {.tasks = 3, .size = 100000, .delay_ns = 1 * MS};
  CHECK_EQ_INT(cl_workload_build(w, &q, &b), 0);
  CHECK_EQ_U64(b.tasks[2].phase[0].b, 100000);
  CHECK_EQ_U64(q.reply_bytes, 100000);
  cl_batch_reset(&b);
  CHECK_EQ_INT(cl_executor_run_once(seq, &cfg, &b), 0);
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  cl_workload_release(w, &b);
  CHECK(no_children());
}

/* The descriptor number the next open would get. */
static int lowest_free_fd(void) {
  int fd = open("/dev/null", O_RDONLY);
  if (fd >= 0) close(fd);
  return fd;
}

/* More connections at once than RLIMIT_NOFILE allows: a clear CL_ELIMIT naming
 * the limit, never a crash or a hang. Only the soft limit is lowered, and
 * restored after. */
static void test_nofile_limit(void) {
  struct rlimit saved;
  CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &saved), 0);
  const struct cl_workload *w = cl_workload_find("io.net");
  struct cl_workload_params p = {.tasks = 300, .delay_ns = 300 * MS, .size = 64};
  struct cl_batch b;
  CHECK_EQ_INT(cl_workload_build(w, &p, &b), 0);
  const char *names[2] = {"threads", "event_loop"};
  for (int i = 0; i < 2; i++) {
    const struct cl_executor_ops *ops = cl_executor_find(names[i]);
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    struct cl_executor *ex = NULL;
    CHECK_EQ_INT(ops->create(&cfg, &ex), 0);
    if (!ex) continue;
    struct rlimit low = saved;
    low.rlim_cur = 64;
    CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    cl_batch_reset(&b);
    cl_error_clear();
    double t0 = now_s();
    int rc = ops->run(ex, &b);
    setrlimit(RLIMIT_NOFILE, &saved);
    CHECK_EQ_INT(rc, CL_ELIMIT);
    CHECK_LE(now_s() - t0, 5.0);
    if (rc != CL_ELIMIT)
      fprintf(stderr, "  %s: %s: %s\n", names[i], cl_errname(rc), cl_error_detail());
    CHECK(strstr(cl_error_detail(), "RLIMIT_NOFILE") != NULL);
    CHECK(strstr(cl_error_detail(), "soft limit 64") != NULL);
    ops->destroy(ex);
  }
  /* With the limit back, the same batch runs. */
  const struct cl_executor_ops *ev = cl_executor_find("event_loop");
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cl_batch_reset(&b);
  CHECK_EQ_INT(cl_executor_run_once(ev, &cfg, &b), 0);
  CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
  cl_workload_release(w, &b);

  /* No descriptor left at all, hard limit included (so in a child): the
   * server cannot start, and the build says so. */
  int pid = fork();
  if (pid == 0) {
    struct rlimit none;
    none.rlim_cur = none.rlim_max = (rlim_t)lowest_free_fd();
    if (setrlimit(RLIMIT_NOFILE, &none) != 0) _exit(3);
    struct cl_workload_params q = {.tasks = 4};
    int rc = cl_workload_build(w, &q, &b);
    if (rc != CL_ELIMIT) {
      fprintf(stderr, "  build under no descriptors: %s: %s\n", cl_errname(rc), cl_error_detail());
      _exit(1);
    }
    _exit(strstr(cl_error_detail(), "delay server") ? 0 : 2);
  }
  CHECK(pid > 0);
  int st = -1;
  CHECK_EQ_INT(waitpid(pid, &st, 0), pid);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
  CHECK(no_children());
}

int main(void) {
  signal(SIGPIPE, SIG_DFL); /* the client must never raise it */
  test_fill();
  test_requests();
  test_corrupt_reply();
  test_server_dies();
  test_workload_lifecycle();
  test_nofile_limit();
  return CL_TEST_DONE();
}
