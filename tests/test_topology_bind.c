/* Binding on this machine: a bound worker runs where it was bound. Every PU
 * of the topology is tried; nothing assumes more than the PUs hwloc reports. */
#include "cl_test.h"
#include "test_exec_common.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/thread_pool.h"
#include "conlab/topology.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct cl_topology *topo;
static struct cl_topology_summary sum;

/* Parses an hwloc list ("0-1,4") into a CPU set. */
static void parse_list(const char *s, cpu_set_t *set) {
  CPU_ZERO(set);
  while (*s) {
    char *end;
    unsigned long lo = strtoul(s, &end, 10), hi = lo;
    if (*end == '-') hi = strtoul(end + 1, &end, 10);
    for (unsigned long c = lo; c <= hi && c < CPU_SETSIZE; c++)
      CPU_SET(c, set);
    s = *end == ',' ? end + 1 : end;
    if (end == s && *s) break;
  }
}

/* The OS number of PU i (in OS order). */
static int pu_os(unsigned i) {
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.topo = topo;
  cfg.bind = CL_BIND_PU;
  char buf[32];
  if (cl_topology_worker_cpus(&cfg, i, buf, sizeof buf)) return -1;
  return atoi(buf);
}

struct probe {
  const struct cl_exec_config *cfg;
  unsigned worker;
  bool bind_here; /* bind in the thread (else the attribute did) */
  int rc;
  cpu_set_t mask;
  int cpu_ok, cpu_bad, last_cpu;
};

/* Binds (if asked), then samples where the thread runs. */
static void *probe_main(void *arg) {
  struct probe *p = arg;
  if (p->bind_here) p->rc = cl_topology_bind_thread(p->cfg, p->worker);
  sched_getaffinity(0, sizeof p->mask, &p->mask);
  for (int i = 0; i < 200; i++) {
    int cpu = sched_getcpu();
    p->last_cpu = cpu;
    if (cpu >= 0 && CPU_ISSET((unsigned)cpu, &p->mask))
      p->cpu_ok++;
    else
      p->cpu_bad++;
    if (i % 20 == 0) sched_yield();
  }
  return NULL;
}

static void run_probe(struct probe *p, const pthread_attr_t *attr) {
  pthread_t tid;
  CHECK_EQ_INT(pthread_create(&tid, attr, probe_main, p), 0);
  pthread_join(tid, NULL);
}

static void test_summary(void) {
  CHECK(sum.packages >= 1);
  CHECK(sum.numa_nodes >= 1);
  CHECK(sum.cores >= 1);
  CHECK(sum.pus >= sum.cores);
  CHECK(sum.this_system);
  CHECK_EQ_INT(sum.smt, sum.pus > sum.cores);
  CHECK(sum.pu_list[0] != '\0');
  CHECK(strncmp(sum.source, "this machine", 12) == 0);
  unsigned w[32];
  size_t n = cl_topology_auto_workers(topo, "cpu", w, 32);
  CHECK(n >= 1);
  CHECK_EQ_INT(w[0], 1);
  CHECK_EQ_INT(w[n - 1], sum.smt ? sum.pus : sum.cores);
}

/* Each PU in turn: bound there, the thread's mask is that PU alone and
 * sched_getcpu() always answers it. */
static void test_every_pu(void) {
  for (unsigned i = 0; i < sum.pus; i++) {
    int os = pu_os(i);
    CHECK(os >= 0);
    unsigned list[1] = {(unsigned)os};
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    cfg.topo = topo;
    cfg.bind = CL_BIND_LIST;
    cfg.bind_cpus = list;
    cfg.nbind_cpus = 1;
    struct probe p = {.cfg = &cfg, .worker = 0, .bind_here = true};
    run_probe(&p, NULL);
    CL_T_REPORT(p.rc == 0, "bind to PU %d: %s (%s)", os, cl_errname(p.rc), cl_error_detail());
    CL_T_REPORT(CPU_COUNT(&p.mask) == 1 && CPU_ISSET((unsigned)os, &p.mask),
                "PU %d: mask has %d CPUs", os, CPU_COUNT(&p.mask));
    CL_T_REPORT(p.cpu_bad == 0 && p.last_cpu == os, "PU %d: sched_getcpu %d, %d samples elsewhere",
                os, p.last_cpu, p.cpu_bad);

    /* The same through a thread attribute: bound from its first instruction. */
    cfg.bind = CL_BIND_PU;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    CHECK_EQ_INT(cl_topology_bind_attr(&cfg, i, &attr), 0);
    struct probe q = {.cfg = &cfg, .worker = i, .bind_here = false};
    run_probe(&q, &attr);
    pthread_attr_destroy(&attr);
    CL_T_REPORT(CPU_COUNT(&q.mask) == 1 && q.last_cpu == os && q.cpu_bad == 0,
                "attr worker %u: cpu %d, expected %d", i, q.last_cpu, os);
  }
}

/* Every policy, every worker up to twice the PUs: the thread's mask is the
 * set the topology names for it. */
static void test_policies(void) {
  static const enum cl_bind policies[] = {CL_BIND_CORE, CL_BIND_PU, CL_BIND_COMPACT,
                                          CL_BIND_SCATTER};
  for (size_t k = 0; k < sizeof policies / sizeof policies[0]; k++) {
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    cfg.topo = topo;
    cfg.bind = policies[k];
    CHECK_EQ_INT(cl_topology_check_bind(&cfg), 0);
    for (unsigned i = 0; i < 2 * sum.pus; i++) {
      char where[128];
      CHECK_EQ_INT(cl_topology_worker_cpus(&cfg, i, where, sizeof where), 0);
      cpu_set_t want;
      parse_list(where, &want);
      struct probe p = {.cfg = &cfg, .worker = i, .bind_here = true};
      run_probe(&p, NULL);
      CL_T_REPORT(p.rc == 0 && CPU_EQUAL(&want, &p.mask) && p.cpu_bad == 0,
                  "%s worker %u: rc %d, wanted PUs %s, mask has %d, cpu %d",
                  cl_bind_name(policies[k]), i, p.rc, where, CPU_COUNT(&p.mask), p.last_cpu);
    }
  }
}

static uint64_t where_am_i(void *arg) {
  (void)arg;
  cpu_set_t m;
  sched_getaffinity(0, sizeof m, &m);
  /* The CPU in the low bits, the mask's size above. */
  return (uint64_t)(unsigned)sched_getcpu() | (uint64_t)CPU_COUNT(&m) << 32;
}

/* The pool API binds its workers: a list naming one PU twice puts both
 * workers there, and every future runs on it. */
static void test_pool(void) {
  int last = pu_os(sum.pus - 1);
  unsigned list[2] = {(unsigned)last, (unsigned)last};
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.topo = topo;
  cfg.bind = CL_BIND_LIST;
  cfg.bind_cpus = list;
  cfg.nbind_cpus = 2;
  struct cl_thread_pool *pool = NULL;
  int rc = cl_thread_pool_create(2, &cfg, &pool);
  CL_T_REPORT(rc == 0, "pool create: %s (%s)", cl_errname(rc), cl_error_detail());
  if (rc) return;
  enum { N = 16 };
  struct cl_future f[N];
  memset(f, 0, sizeof f);
  for (int i = 0; i < N; i++)
    CHECK_EQ_INT(cl_thread_pool_submit(pool, &f[i], where_am_i, NULL), 0);
  int on_it = 0;
  for (int i = 0; i < N; i++) {
    uint64_t v = 0;
    CHECK_EQ_INT(cl_future_wait(&f[i], &v), 0);
    on_it += (int)(v & 0xffffffffu) == last && (v >> 32) == 1;
  }
  CHECK_EQ_INT(on_it, N);
  cl_thread_pool_destroy(pool, CL_POOL_DRAIN);

  /* One worker per PU: every future runs on a single-PU mask. */
  cfg.bind = CL_BIND_PU;
  rc = cl_thread_pool_create(sum.pus, &cfg, &pool);
  CHECK_EQ_INT(rc, 0);
  if (rc) return;
  for (int i = 0; i < N; i++)
    CHECK_EQ_INT(cl_thread_pool_submit(pool, &f[i], where_am_i, NULL), 0);
  int single = 0;
  for (int i = 0; i < N; i++) {
    uint64_t v = 0;
    cl_future_wait(&f[i], &v);
    single += (v >> 32) == 1;
  }
  CHECK_EQ_INT(single, N);
  cl_thread_pool_destroy(pool, CL_POOL_DRAIN);
}

/* A process bound from its parent after fork (as a process pool does) runs
 * on its PU, and the parent stays where it was. */
static void test_process(void) {
  int last = pu_os(sum.pus - 1);
  unsigned list[1] = {(unsigned)last};
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.topo = topo;
  cfg.bind = CL_BIND_LIST;
  cfg.bind_cpus = list;
  cfg.nbind_cpus = 1;
  cpu_set_t before, after;
  sched_getaffinity(0, sizeof before, &before);
  int go[2], back[2];
  CHECK(pipe(go) == 0 && pipe(back) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(2);
    cpu_set_t m;
    sched_getaffinity(0, sizeof m, &m);
    int r[2] = {sched_getcpu(), CPU_COUNT(&m)};
    _exit(write(back[1], r, sizeof r) == sizeof r ? 0 : 3);
  }
  CHECK(pid > 0);
  int rc = cl_topology_bind_process(&cfg, 0, pid);
  CL_T_REPORT(rc == 0, "bind_process: %s (%s)", cl_errname(rc), cl_error_detail());
  CHECK(write(go[1], "x", 1) == 1);
  int r[2] = {-1, -1}, status = 0;
  CHECK(read(back[0], r, sizeof r) == sizeof r);
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CL_T_REPORT(r[0] == last && r[1] == 1, "child on cpu %d with %d CPUs, expected %d alone", r[0],
              r[1], last);
  sched_getaffinity(0, sizeof after, &after);
  CHECK(CPU_EQUAL(&before, &after));
  close(go[0]);
  close(go[1]);
  close(back[0]);
  close(back[1]);
}

/* The binding executors run a bound batch correctly and leave the calling
 * thread's own placement as it was (an OpenMP team includes the caller). */
static void test_executors(void) {
  cpu_set_t before, after;
  sched_getaffinity(0, sizeof before, &before);
  enum { N = 8 };
  struct cl_task tasks[N];
  for (uint32_t i = 0; i < N; i++) {
    struct cl_phase p = tx_cpu(CL_K_SUMSQ, i * 1000, (i + 1) * 1000);
    tx_task(tasks, i, 1, &p);
  }
  struct cl_batch b;
  tx_batch(&b, tasks, N);
  static const char *const names[] = {"threads", "thread_pool", "openmp"};
  static const enum cl_bind policies[] = {CL_BIND_CORE, CL_BIND_SCATTER, CL_BIND_LIST};
  unsigned list[2] = {(unsigned)pu_os(0), (unsigned)pu_os(0)};
  for (size_t e = 0; e < sizeof names / sizeof names[0]; e++) {
    const struct cl_executor_ops *ops = cl_executor_find(names[e]);
    if (!ops) continue; /* openmp is optional */
    for (size_t k = 0; k < sizeof policies / sizeof policies[0]; k++) {
      struct cl_exec_config cfg;
      cl_exec_config_default(&cfg);
      cfg.workers = 2;
      cfg.topo = topo;
      cfg.bind = policies[k];
      cfg.bind_cpus = list;
      cfg.nbind_cpus = 2;
      cl_batch_reset(&b);
      int rc = cl_executor_run_once(ops, &cfg, &b);
      CL_T_REPORT(rc == 0, "%s bound %s: %s (%s)", names[e], cl_bind_name(policies[k]),
                  cl_errname(rc), cl_error_detail());
      CHECK_EQ_U64(cl_batch_checksum(&b), b.expected);
      sched_getaffinity(0, sizeof after, &after);
      CL_T_REPORT(CPU_EQUAL(&before, &after), "%s bound %s changed the caller's affinity", names[e],
                  cl_bind_name(policies[k]));
    }
  }
}

/* After a bound OpenMP run, an unbound one releases the runtime's threads:
 * every thread of the process is back on the caller's CPU set. */
static void test_openmp_release(void) {
  const struct cl_executor_ops *ops = cl_executor_find("openmp");
  if (!ops) return; /* openmp is optional */
  cpu_set_t before;
  sched_getaffinity(0, sizeof before, &before);
  enum { N = 4 };
  struct cl_task tasks[N];
  for (uint32_t i = 0; i < N; i++) {
    struct cl_phase p = tx_cpu(CL_K_SUMSQ, 0, 1000);
    tx_task(tasks, i, 1, &p);
  }
  struct cl_batch b;
  tx_batch(&b, tasks, N);
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = 3;
  cfg.topo = topo;
  cfg.bind = CL_BIND_PU;
  CHECK_EQ_INT(cl_executor_run_once(ops, &cfg, &b), 0);
  cfg.bind = CL_BIND_NONE;
  cl_batch_reset(&b);
  CHECK_EQ_INT(cl_executor_run_once(ops, &cfg, &b), 0);
  DIR *d = opendir("/proc/self/task");
  CHECK(d != NULL);
  if (!d) return;
  int threads = 0, pinned = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    cpu_set_t m;
    if (sched_getaffinity((pid_t)atoi(e->d_name), sizeof m, &m) != 0) continue;
    threads++;
    pinned += !CPU_EQUAL(&m, &before);
  }
  closedir(d);
  CHECK(threads >= 1);
  CL_T_REPORT(pinned == 0, "%d of %d threads still pinned after an unbound openmp run", pinned,
              threads);
}

int main(void) {
  int rc = cl_topology_load(&topo);
  CL_T_REPORT(rc == 0, "load: %s (%s)", cl_errname(rc), cl_error_detail());
  if (rc) return CL_TEST_DONE();
  cl_topology_summary(topo, &sum);
  printf("this machine: %u packages, %u cores, %u PUs (%s)\n", sum.packages, sum.cores, sum.pus,
         sum.pu_list);
  test_summary();
  test_every_pu();
  test_policies();
  test_pool();
  test_process();
  test_executors();
  test_openmp_release();
  cl_topology_destroy(topo);
  return CL_TEST_DONE();
}
