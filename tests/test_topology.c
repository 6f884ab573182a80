/* Topology on synthetic machines: counts, --workers auto, placement of
 * workers under each binding policy, refusals, XML round trips. Synthetic
 * topologies make this deterministic on any machine. */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/topology.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct cl_topology *synth(const char *desc) {
  struct cl_topology *t = NULL;
  int rc = cl_topology_load_synthetic(desc, &t);
  CL_T_REPORT(rc == 0 && t, "load_synthetic(\"%s\") = %s (%s)", desc, cl_errname(rc),
              cl_error_detail());
  return t;
}

/* out[] joined as "1,2,4". */
static const char *counts(const struct cl_topology *t, const char *kind, size_t max) {
  static char buf[256];
  unsigned w[32];
  size_t n = cl_topology_auto_workers(t, kind, w, max);
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n; i++)
    used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%u", i ? "," : "", w[i]);
  return buf;
}

static const char *place(const struct cl_exec_config *cfg, unsigned worker) {
  static char buf[128];
  int rc = cl_topology_worker_cpus(cfg, worker, buf, sizeof buf);
  if (rc) snprintf(buf, sizeof buf, "error %s: %s", cl_errname(rc), cl_error_detail());
  return buf;
}

static void test_two_packages(void) {
  struct cl_topology *t = synth("pack:2 core:8 pu:2");
  if (!t) return;
  struct cl_topology_summary s;
  CHECK_EQ_INT(cl_topology_summary(t, &s), 0);
  CHECK_EQ_INT(s.packages, 2);
  CHECK_EQ_INT(s.numa_nodes, 1);
  CHECK_EQ_INT(s.cores, 16);
  CHECK_EQ_INT(s.pus, 32);
  CHECK(s.smt);
  CHECK(!s.this_system);
  CHECK_STR(s.pu_list, "0-31");
  CHECK(strstr(s.source, "synthetic") != NULL);
  CHECK_STR(counts(t, "cpu", 32), "1,2,4,8,16,32");
  CHECK_STR(counts(t, "mem", 32), "1,2,4,8,16,32");
  CHECK_STR(counts(t, "io", 32), "1,2,4,8,16,32,64");
  CHECK_STR(counts(t, "mixed", 32), "1,2,4,8,16,32,64");
  CHECK_STR(counts(t, "cpu", 3), "1,2,4");

  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.topo = t;
  CHECK_STR(place(&cfg, 5), "all");
  /* core: both hardware threads of core i; wraps after 16 cores. */
  cfg.bind = CL_BIND_CORE;
  CHECK_STR(place(&cfg, 0), "0-1");
  CHECK_STR(place(&cfg, 9), "18-19");
  CHECK_STR(place(&cfg, 17), "2-3");
  /* pu: OS numbering, wraps after 32 PUs. */
  cfg.bind = CL_BIND_PU;
  CHECK_STR(place(&cfg, 1), "1");
  CHECK_STR(place(&cfg, 31), "31");
  CHECK_STR(place(&cfg, 33), "1");
  /* compact: worker 1 is worker 0's SMT sibling. */
  cfg.bind = CL_BIND_COMPACT;
  CHECK_STR(place(&cfg, 0), "0");
  CHECK_STR(place(&cfg, 1), "1");
  CHECK_STR(place(&cfg, 2), "2");
  /* scatter: packages alternate, then cores, then SMT siblings. */
  cfg.bind = CL_BIND_SCATTER;
  CHECK_STR(place(&cfg, 0), "0");
  CHECK_STR(place(&cfg, 1), "16");
  CHECK_STR(place(&cfg, 2), "2");
  CHECK_STR(place(&cfg, 3), "18");
  CHECK_STR(place(&cfg, 15), "30");
  CHECK_STR(place(&cfg, 16), "1");
  CHECK_STR(place(&cfg, 17), "17");
  CHECK_STR(place(&cfg, 32), "0");
  /* Every PU gets exactly one of the first 32 scatter workers. */
  int seen[32] = {0};
  for (unsigned i = 0; i < 32; i++) {
    int pu = -1;
    sscanf(place(&cfg, i), "%d", &pu);
    if (pu >= 0 && pu < 32) seen[pu]++;
  }
  int once = 0;
  for (int i = 0; i < 32; i++)
    once += seen[i] == 1;
  CHECK_EQ_INT(once, 32);
  /* list: worker i on list[i mod n]. */
  static const unsigned list[] = {5, 5, 3};
  cfg.bind = CL_BIND_LIST;
  cfg.bind_cpus = list;
  cfg.nbind_cpus = 3;
  CHECK_STR(place(&cfg, 0), "5");
  CHECK_STR(place(&cfg, 1), "5");
  CHECK_STR(place(&cfg, 2), "3");
  CHECK_STR(place(&cfg, 3), "5");
  char label[64];
  cl_bind_describe(&cfg, label, sizeof label);
  CHECK_STR(label, "cpus:5+5+3");
  cfg.bind = CL_BIND_SCATTER;
  cl_bind_describe(&cfg, label, sizeof label);
  CHECK_STR(label, "scatter");
  /* A synthetic machine plans but never binds this one. */
  CHECK_EQ_INT(cl_topology_check_bind(&cfg), CL_EUNSUPPORTED);
  CHECK(strstr(cl_error_detail(), "another machine") != NULL);
  CHECK_EQ_INT(cl_topology_bind_thread(&cfg, 0), CL_EUNSUPPORTED);
  cl_topology_destroy(t);
}

static void test_small_and_smt(void) {
  struct cl_topology *t = synth("pack:1 core:2 pu:1");
  if (t) {
    struct cl_topology_summary s;
    cl_topology_summary(t, &s);
    CHECK_EQ_INT(s.packages, 1);
    CHECK_EQ_INT(s.cores, 2);
    CHECK_EQ_INT(s.pus, 2);
    CHECK(!s.smt);
    CHECK_STR(counts(t, "cpu", 32), "1,2");
    CHECK_STR(counts(t, "io", 32), "1,2,4");
    cl_topology_destroy(t);
  }
  t = synth("pack:1 core:6 pu:2");
  if (t) {
    CHECK_STR(counts(t, "cpu", 32), "1,2,4,6,12");
    CHECK_STR(counts(t, "io", 32), "1,2,4,6,12,24");
    cl_topology_destroy(t);
  }
  t = synth("pack:1 core:1 pu:1");
  if (t) {
    CHECK_STR(counts(t, "cpu", 32), "1");
    CHECK_STR(counts(t, "io", 32), "1,2");
    cl_topology_destroy(t);
  }
  /* NUMA nodes and cache levels of a described machine. */
  t = synth("pack:2 numa:2 l3:1 core:4 pu:2");
  if (t) {
    struct cl_topology_summary s;
    cl_topology_summary(t, &s);
    CHECK_EQ_INT(s.numa_nodes, 4);
    CHECK_EQ_INT(s.cores, 16);
    CHECK_EQ_INT(s.ncaches, 1);
    CHECK_STR(s.caches[0].name, "L3");
    CHECK_EQ_INT(s.caches[0].count, 4);
    cl_topology_destroy(t);
  }
}

static void test_refusals(void) {
  struct cl_topology *t = NULL;
  CHECK_EQ_INT(cl_topology_load_synthetic("pack:2 bogus:3", &t), CL_EINVAL);
  CHECK(strstr(cl_error_detail(), "pack:2 core:8 pu:2") != NULL);
  CHECK_EQ_INT(cl_topology_load_synthetic("", &t), CL_EINVAL);
  CHECK_EQ_INT(cl_topology_load_synthetic("pack:1000 core:1000 pu:2", &t), CL_ERANGE);
  CHECK_EQ_INT(cl_topology_load_synthetic("pack:1 core:1 pu:1", NULL), CL_EINVAL);
  CHECK(t == NULL);
  CHECK_EQ_INT(cl_topology_load_xml("/nonexistent/topology.xml", &t), CL_ENOENT);
  CHECK(t == NULL);
  CHECK_EQ_INT(cl_topology_auto_workers(NULL, "cpu", (unsigned[4]){0}, 4), 0);

  t = synth("pack:1 core:2 pu:1");
  if (!t) return;
  /* Binding to a PU that does not exist is refused, naming the ones that do. */
  static const unsigned bad[] = {0, 7};
  CHECK_EQ_INT(cl_topology_check_cpus(t, bad, 2), CL_ERANGE);
  CHECK(strstr(cl_error_detail(), "PU 7 does not exist") != NULL);
  CHECK(strstr(cl_error_detail(), "PUs 0-1") != NULL);
  CHECK_EQ_INT(cl_topology_check_cpus(t, bad, 1), 0);
  CHECK_EQ_INT(cl_topology_check_cpus(t, bad, 0), CL_EINVAL);
  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.topo = t;
  cfg.bind = CL_BIND_LIST;
  cfg.bind_cpus = bad;
  cfg.nbind_cpus = 2;
  CHECK_EQ_INT(cl_topology_check_bind(&cfg), CL_ERANGE);
  char buf[64];
  CHECK_EQ_INT(cl_topology_worker_cpus(&cfg, 1, buf, sizeof buf), CL_ERANGE);
  /* Executors refuse such a binding in create(), before any thread starts. */
  cfg.workers = 2;
  const char *names[] = {"threads", "thread_pool", "openmp"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const struct cl_executor_ops *ops = cl_executor_find(names[i]);
    if (!ops) continue; /* openmp is optional */
    CHECK(ops->flags & CL_EXEC_BINDS);
    struct cl_executor *ex = NULL;
    int rc = ops->create(&cfg, &ex);
    CL_T_REPORT(rc == CL_ERANGE && !ex, "%s create with PU 7: %s", names[i], cl_errname(rc));
    CHECK(strstr(cl_error_detail(), "PU 7 does not exist") != NULL);
    if (!rc) ops->destroy(ex);
  }
  CHECK(!(cl_executor_find("sequential")->flags & CL_EXEC_BINDS));
  /* A policy without a topology is refused, not ignored. */
  cfg.topo = NULL;
  cfg.bind = CL_BIND_CORE;
  CHECK_EQ_INT(cl_topology_check_bind(&cfg), CL_EINVAL);
  struct cl_executor *ex = NULL;
  CHECK_EQ_INT(cl_executor_find("thread_pool")->create(&cfg, &ex), CL_EINVAL);
  cfg.bind = CL_BIND_NONE;
  CHECK_EQ_INT(cl_topology_check_bind(&cfg), 0);
  CHECK_EQ_INT(cl_topology_bind_thread(&cfg, 3), 0);
  cl_topology_destroy(t);

  enum cl_bind b = CL_BIND_NONE;
  CHECK_EQ_INT(cl_bind_parse("scatter", &b), 0);
  CHECK_EQ_INT(b, CL_BIND_SCATTER);
  CHECK_EQ_INT(cl_bind_parse("list", &b), CL_EINVAL);
  CHECK_EQ_INT(cl_bind_parse("tight", &b), CL_EINVAL);
  CHECK(strstr(cl_error_detail(), "valid: none, core, pu, compact, scatter") != NULL);
  CHECK_STR(cl_bind_name(CL_BIND_LIST), "list");
}

/* What is exported loads back with the same shape. */
static void roundtrip(struct cl_topology *t) {
  char path[] = "/tmp/cl_topo_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  close(fd);
  CHECK_EQ_INT(cl_topology_export_xml(t, path), 0);
  struct cl_topology *back = NULL;
  int rc = cl_topology_load_xml(path, &back);
  CL_T_REPORT(rc == 0, "load_xml: %s (%s)", cl_errname(rc), cl_error_detail());
  if (back) {
    struct cl_topology_summary a, b;
    cl_topology_summary(t, &a);
    cl_topology_summary(back, &b);
    CHECK_EQ_INT(b.packages, a.packages);
    CHECK_EQ_INT(b.cores, a.cores);
    CHECK_EQ_INT(b.pus, a.pus);
    CHECK_EQ_INT(b.numa_nodes, a.numa_nodes);
    CHECK_EQ_INT(b.ncaches, a.ncaches);
    CHECK_STR(b.pu_list, a.pu_list);
    CHECK(!b.this_system);
    CHECK(strstr(b.source, "xml") != NULL);
    cl_topology_destroy(back);
  }
  unlink(path);
}

static void test_xml(void) {
  struct cl_topology *t = synth("pack:2 core:8 pu:2");
  if (t) roundtrip(t);
  cl_topology_destroy(t);
  t = NULL;
  CHECK_EQ_INT(cl_topology_load(&t), 0);
  if (t) roundtrip(t);
  cl_topology_destroy(t);

  char path[] = "/tmp/cl_topo_junk_XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) {
    CHECK(write(fd, "not xml\n", 8) == 8);
    close(fd);
    struct cl_topology *junk = NULL;
    CHECK_EQ_INT(cl_topology_load_xml(path, &junk), CL_EINVAL);
    CHECK(junk == NULL);
    CHECK(strstr(cl_error_detail(), "not an hwloc topology") != NULL);
    unlink(path);
  }
  CHECK_EQ_INT(cl_topology_export_xml(NULL, "/tmp/x.xml"), CL_EINVAL);
}

int main(void) {
  test_two_packages();
  test_small_and_smt();
  test_refusals();
  test_xml();
  return CL_TEST_DONE();
}
