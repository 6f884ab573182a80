/* `conlab topo`, the topology block of run.json, and the topology that
 * `conlab run` loads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conlab/error.h"
#include "conlab/topology.h"
#include "harness/harness.h"

/* "48 KB", "1 MB", "32 MB" (powers of 1024, as lstopo writes them). */
static void format_size(uint64_t bytes, char *buf, size_t len) {
  static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = (double)bytes;
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024;
    u++;
  }
  if (v == (double)(uint64_t)v)
    snprintf(buf, len, "%llu %s", (unsigned long long)v, units[u]);
  else
    snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void format_counts(const unsigned *w, size_t n, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, "%s%u", i ? "," : "", w[i]);
}

static void print_summary(FILE *f, const struct cl_topology *topo) {
  struct cl_topology_summary s;
  cl_topology_summary(topo, &s);
  char buf[512], size[32];
  fprintf(f, "topology: %s (hwloc %s)\n\n", s.source, cl_topology_hwloc_version());
  fprintf(f, "  %-19s %u\n", "packages", s.packages);
  fprintf(f, "  %-19s %u\n", "NUMA nodes", s.numa_nodes);
  fprintf(f, "  %-19s %u\n", "physical cores", s.cores);
  if (s.smt)
    fprintf(f, "  %-19s %u (SMT: %u per core)\n", "hardware threads", s.pus, s.pus / s.cores);
  else
    fprintf(f, "  %-19s %u (no SMT: one per core)\n", "hardware threads", s.pus);
  size_t used = 0;
  buf[0] = '\0';
  for (unsigned i = 0; i < s.ncaches && used < sizeof buf; i++) {
    format_size(s.caches[i].size_bytes, size, sizeof size);
    used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s %s x%u", i ? ", " : "",
                             s.caches[i].name, size, s.caches[i].count);
  }
  fprintf(f, "  %-19s %s\n", "caches", s.ncaches ? buf : "none reported");
  if (s.memory_bytes && strncmp(s.source, "synthetic", 9) != 0) {
    format_size(s.memory_bytes, size, sizeof size);
    fprintf(f, "  %-19s %s\n", "memory", size);
  }
  fprintf(f, "  %-19s %s\n", "PUs (OS numbers)", s.pu_list);

  fprintf(f, "\nwhat follows for the lab:\n");
  unsigned w[CL__MAX_WORKER_COUNTS];
  size_t n = cl_topology_auto_workers(topo, "cpu", w, CL__MAX_WORKER_COUNTS);
  format_counts(w, n, buf, sizeof buf);
  fprintf(f, "  %-19s cpu, mem: %s\n", "--workers auto", buf);
  n = cl_topology_auto_workers(topo, "io", w, CL__MAX_WORKER_COUNTS);
  format_counts(w, n, buf, sizeof buf);
  fprintf(f, "  %-19s io, mixed: %s (oversubscribed: waiting workers need no core)\n", "", buf);
  const struct cl__suite *story = cl__suite_find("story");
  struct cl_list names = {0};
  if (story && cl_parse_list(story->workloads, &names) == 0) {
    fprintf(f, "  default suite (story) with --workers auto:\n");
    for (size_t i = 0; i < names.n; i++) {
      const struct cl_workload *wl = cl_workload_find(names.items[i]);
      if (!wl) continue;
      n = cl_topology_auto_workers(topo, wl->kind, w, CL__MAX_WORKER_COUNTS);
      format_counts(w, n, buf, sizeof buf);
      fprintf(f, "    %-17s %-6s workers %s\n", wl->name, wl->kind, buf);
    }
  }
  cl_list_free(&names);
  if (s.smt)
    fprintf(f, "  %-19s %ux (one per physical core; the %u hardware threads share them)\n",
            "ideal CPU speedup", s.cores, s.pus);
  else
    fprintf(f, "  %-19s %ux (one per physical core)\n", "ideal CPU speedup", s.cores);
  fprintf(f, "  %-19s %s\n", "binding",
          s.this_system ? "possible: conlab run --bind core|pu|compact|scatter, --bind-cpus LIST"
                        : "planning only (this is not the machine we run on)");
}

/* Where each of `workers` workers would run under cfg. */
static int print_binding(FILE *f, const struct cl_exec_config *cfg, unsigned workers) {
  struct cl_topology_summary s;
  cl_topology_summary(cfg->topo, &s);
  char label[256], where[128];
  cl_bind_describe(cfg, label, sizeof label);
  fprintf(f, "\nbinding %s, %u worker%s:\n", label, workers, workers == 1 ? "" : "s");
  for (unsigned i = 0; i < workers; i++) {
    int err = cl_topology_worker_cpus(cfg, i, where, sizeof where);
    if (err) return err;
    fprintf(f, "  worker %-4u PU%s %s\n", i, strpbrk(where, ",-") ? "s" : "", where);
  }
  unsigned places = cfg->bind == CL_BIND_CORE ? s.cores : s.pus;
  if (cfg->bind == CL_BIND_LIST) places = cfg->nbind_cpus;
  if (workers > places)
    fprintf(f, "  (%u workers on %u places: they wrap around and share, oversubscribed)\n", workers,
            places);
  return 0;
}

static void topo_usage(FILE *f) {
  fprintf(f, "usage: conlab topo [--synthetic DESC | --topology FILE.xml]\n"
             "                  [--bind POLICY | --bind-cpus LIST] [--workers N]\n\n"
             "Shows the hardware topology that hwloc detects (packages, NUMA nodes, physical\n"
             "cores, hardware threads, caches) and what follows for the lab: the worker\n"
             "counts of --workers auto and the ideal CPU speedup.\n\n"
             "options:\n"
             "  --synthetic DESC      plan for a described machine, e.g. \"pack:2 core:8 pu:2\"\n"
             "  --topology FILE.xml   plan for a saved machine (lstopo FILE.xml, or a run's\n"
             "                        topology.xml)\n"
             "  --bind POLICY         also show where workers would run (as conlab run --bind):\n"
             "                          core     worker i on all threads of core i\n"
             "                          pu       worker i on hardware thread i (OS numbers)\n"
             "                          compact  fill a core's SMT siblings, then the next core\n"
             "                          scatter  spread over packages, then cores, then SMT\n"
             "                        more workers than places wrap around (oversubscription)\n"
             "  --bind-cpus LIST      ... or worker i on PU LIST[i mod n] (e.g. 0,0 or 0-3)\n"
             "  --workers N           how many workers to place (default: hardware threads)\n"
             "  -h, --help            this help\n");
}

static int topo_error(const char *flag, const char *detail) {
  if (flag)
    fprintf(stderr, "conlab: topo: --%s: %s\n", flag, detail);
  else
    fprintf(stderr, "conlab: topo: %s\n", detail);
  return CL__EXIT_USAGE;
}

int cl__cmd_topo(int argc, char **argv) {
  const char *synthetic = NULL, *xml = NULL, *bind = NULL, *cpus = NULL, *workers = NULL;
  struct {
    const char *name;
    const char **value;
  } flags[] = {{"synthetic", &synthetic},
               {"topology", &xml},
               {"bind", &bind},
               {"bind-cpus", &cpus},
               {"workers", &workers}};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      topo_usage(stdout);
      return 0;
    }
    size_t k = 0, nflags = sizeof flags / sizeof flags[0];
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a) - (a[0] == '-' && a[1] == '-' ? 2 : 0);
    for (; a[0] == '-' && a[1] == '-' && k < nflags; k++)
      if (strlen(flags[k].name) == len && strncmp(a + 2, flags[k].name, len) == 0) break;
    if (a[0] != '-' || a[1] != '-' || k == nflags) {
      fprintf(stderr, "conlab: topo: unknown %s '%s' (see `conlab topo --help`)\n",
              a[0] == '-' ? "option" : "argument", a);
      return CL__EXIT_USAGE;
    }
    if (*flags[k].value) return topo_error(flags[k].name, "given more than once");
    if (eq)
      *flags[k].value = eq + 1;
    else if (i + 1 < argc)
      *flags[k].value = argv[++i];
    else
      return topo_error(flags[k].name, "needs a value");
  }
  if (synthetic && xml) return topo_error(NULL, "--synthetic and --topology exclude each other");
  if (bind && cpus) return topo_error("bind-cpus", "cannot be combined with --bind");

  struct cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  unsigned list[CL__MAX_BIND_CPUS];
  if (bind && cl_bind_parse(bind, &cfg.bind)) return topo_error("bind", cl_error_detail());
  if (cpus) {
    if (cl__parse_cpu_list(cpus, list, &cfg.nbind_cpus))
      return topo_error("bind-cpus", cl_error_detail());
    cfg.bind = CL_BIND_LIST;
    cfg.bind_cpus = list;
  }
  uint64_t nworkers = 0;
  if (workers && cl_parse_u64(workers, 1, CL__MAX_WORKERS, &nworkers))
    return topo_error("workers", cl_error_detail());
  if (workers && cfg.bind == CL_BIND_NONE)
    return topo_error("workers", "places workers only with --bind or --bind-cpus");

  struct cl_topology *topo = NULL;
  int err = synthetic ? cl_topology_load_synthetic(synthetic, &topo)
            : xml     ? cl_topology_load_xml(xml, &topo)
                      : cl_topology_load(&topo);
  if (err) {
    const char *flag = synthetic ? "synthetic" : xml ? "topology" : NULL;
    if (flag) return topo_error(flag, cl_error_detail());
    fprintf(stderr, "conlab: topo: %s\n", cl_error_detail());
    return CL__EXIT_FAILED;
  }
  cfg.topo = topo;
  int rc = CL__EXIT_OK;
  if (cfg.bind == CL_BIND_LIST && cl_topology_check_cpus(topo, cfg.bind_cpus, cfg.nbind_cpus)) {
    rc = topo_error("bind-cpus", cl_error_detail());
    goto out;
  }
  print_summary(stdout, topo);
  if (cfg.bind != CL_BIND_NONE) {
    struct cl_topology_summary s;
    cl_topology_summary(topo, &s);
    if (print_binding(stdout, &cfg, nworkers ? (unsigned)nworkers : s.pus)) {
      fprintf(stderr, "conlab: topo: %s\n", cl_error_detail());
      rc = CL__EXIT_FAILED;
    }
  }
out:
  cl_topology_destroy(topo);
  return rc;
}

static void json_counts(FILE *f, const unsigned *w, size_t n) {
  fputc('[', f);
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s%u", i ? ", " : "", w[i]);
  fputc(']', f);
}

void cl__topology_json(FILE *f, const char *in, const struct cl_topology *topo) {
  fprintf(f, "%s\"topology\": ", in);
  struct cl_topology_summary s;
  if (!topo || cl_topology_summary(topo, &s)) {
    fputs("null", f);
    return;
  }
  fprintf(f, "{\n%s  \"source\": ", in);
  cl__json_str(f, s.source);
  fprintf(f, ",\n%s  \"hwloc\": ", in);
  cl__json_str(f, cl_topology_hwloc_version());
  fprintf(f,
          ",\n%s  \"packages\": %u,\n%s  \"numa_nodes\": %u,\n%s  \"cores\": %u,\n%s  \"pus\": "
          "%u,\n%s  \"smt\": %s,\n%s  \"pu_list\": ",
          in, s.packages, in, s.numa_nodes, in, s.cores, in, s.pus, in, s.smt ? "true" : "false",
          in);
  cl__json_str(f, s.pu_list);
  fprintf(f, ",\n%s  \"memory_bytes\": %llu,\n%s  \"caches\": [", in,
          (unsigned long long)s.memory_bytes, in);
  for (unsigned i = 0; i < s.ncaches; i++)
    fprintf(f, "%s\n%s    {\"name\": \"%s\", \"level\": %u, \"size_bytes\": %llu, \"count\": %u}",
            i ? "," : "", in, s.caches[i].name, s.caches[i].level,
            (unsigned long long)s.caches[i].size_bytes, s.caches[i].count);
  if (s.ncaches) fprintf(f, "\n%s  ", in);
  fprintf(f, "],\n%s  \"auto_workers\": {\"cpu\": ", in);
  unsigned w[CL__MAX_WORKER_COUNTS];
  json_counts(f, w, cl_topology_auto_workers(topo, "cpu", w, CL__MAX_WORKER_COUNTS));
  fputs(", \"io\": ", f);
  json_counts(f, w, cl_topology_auto_workers(topo, "io", w, CL__MAX_WORKER_COUNTS));
  fprintf(f, "},\n%s  \"ideal_cpu_speedup\": %u,\n%s  \"xml\": \"topology.xml\"\n%s}", in, s.cores,
          in, in);
}

int cl__run_topology_load(struct cl__options *o) {
  const char *flag = o->exec.bind == CL_BIND_LIST ? "bind-cpus" : "bind";
  int err = cl_topology_load(&o->topo);
  if (err) {
    if (o->exec.bind != CL_BIND_NONE) {
      fprintf(stderr, "conlab: --%s: cannot read this machine's topology: %s\n", flag,
              cl_error_detail());
      return CL__EXIT_FAILED;
    }
    fprintf(stderr,
            "conlab: warning: hwloc cannot read this machine's topology (%s); worker counts "
            "follow the online CPU count\n",
            cl_error_detail());
    o->topo = NULL;
    return -1;
  }
  o->exec.topo = o->topo;
  err = cl_topology_check_bind(&o->exec);
  if (err) {
    fprintf(stderr, "conlab: --%s: %s\n", flag, cl_error_detail());
    return err == CL_ERANGE || err == CL_EINVAL ? CL__EXIT_USAGE : CL__EXIT_FAILED;
  }
  return -1;
}
