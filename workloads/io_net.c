#include "conlab/error.h"
#include "conlab/net.h"
#include "conlab/workload.h"
#include "workloads/workloads_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

/* What batch->data holds for io.net: the server this batch talks to. */
struct io_net_data {
  struct cl_delay_server server;
};

/* Raises the soft RLIMIT_NOFILE (never the hard one) so that every task can
 * hold its connection at once, as Go's runtime does at start-up. Beyond the
 * hard limit, an executor that opens too many sockets fails with CL_ELIMIT. */
static void raise_nofile(uint64_t want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return;
  rl.rlim_cur = (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) ? rl.rlim_max : (rlim_t)want;
  setrlimit(RLIMIT_NOFILE, &rl);
}

/* One request per task over loopback TCP: the server answers after --delay
 * with --size bytes. Each phase contributes cl_io_token() once its reply has
 * been checked byte by byte. */
static int build(struct cl_workload_params *p, struct cl_batch *out) {
  p->reply_bytes = p->size;
  struct io_net_data *d = calloc(1, sizeof *d);
  if (!d) return cl_error_set(CL_ENOMEM, "io.net: out of memory");
  int rc = cl__wl_alloc_tasks(out, p->tasks, 1);
  if (rc) {
    free(d);
    return rc;
  }
  uint64_t expected = 0;
  for (size_t i = 0; i < out->ntasks; i++) {
    cl__wl_io_phase(&out->tasks[i].phase[0], CL_IO_NET, p->delay_ns, p->size);
    struct cl_phase check = {.kind = CL_PHASE_IO, .op = CL_IO_NET, .a = p->delay_ns, .b = p->size};
    expected += cl_io_token((uint32_t)i, &check);
  }
  raise_nofile(p->tasks + 256);
  rc = cl_delay_server_start((size_t)p->tasks + 64, &d->server);
  if (rc) {
    free(d);
    cl__wl_release_tasks(out);
    char why[256];
    snprintf(why, sizeof why, "%s", cl_error_detail());
    return cl_error_set(rc, "io.net: cannot start the delay server: %s", why);
  }
  cl_delay_server_env(&d->server, &out->io);
  out->data = d;
  out->expected = expected;
  return 0;
}

static void release(struct cl_batch *b) {
  if (!b) return;
  struct io_net_data *d = b->data;
  if (d) {
    cl_delay_server_stop(&d->server);
    free(d);
  }
  cl__wl_release_tasks(b);
}

const struct cl_workload cl__wl_io_net = {
    .name = "io.net",
    .kind = "io",
    .summary = "one request per task over loopback TCP to a delay server the workload forks "
               "(replies checked byte by byte)",
    .size_doc = "reply bytes per request; the server answers after --delay",
    .default_tasks = 64,
    .default_size = 1024,
    .default_delay_ns = 20000000,
    .quick_tasks = 16,
    .quick_size = 256,
    .quick_delay_ns = 10000000,
    .max_tasks = 100000,
    .max_size = CL_NET_MAX_REPLY,
    .uses_delay = true,
    .build = build,
    .release = release,
};
