#include "conlab/topology.h"

#include "conlab/error.h"

#include <errno.h>
#include <hwloc.h>
#include <hwloc/glibc-sched.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_SYNTHETIC_PUS = 65536 };

/* Everything is filled at load time and read-only afterwards. */
struct cl_topology {
  hwloc_topology_t h;
  struct cl_topology_summary sum;
  hwloc_obj_t *by_os;   /* PUs by OS number */
  hwloc_obj_t *scatter; /* PUs in scatter order */
  unsigned ncores;      /* Core objects hwloc found (may be 0) */
  bool narrowed;        /* restricted to the process's CPU binding */
};

const char *cl_topology_hwloc_version(void) {
#ifdef HWLOC_VERSION
  return HWLOC_VERSION;
#else
  static char v[32];
  unsigned a = hwloc_get_api_version();
  snprintf(v, sizeof v, "%u.%u (API)", a >> 16, (a >> 8) & 0xff);
  return v;
#endif
}

static void add_caches(struct cl_topology *t) {
  static const struct {
    hwloc_obj_type_t type;
    unsigned level;
    const char *name;
  } kinds[] = {
      {HWLOC_OBJ_L1CACHE, 1, "L1"}, {HWLOC_OBJ_L1ICACHE, 1, "L1i"},
      {HWLOC_OBJ_L2CACHE, 2, "L2"}, {HWLOC_OBJ_L2ICACHE, 2, "L2i"},
      {HWLOC_OBJ_L3CACHE, 3, "L3"}, {HWLOC_OBJ_L3ICACHE, 3, "L3i"},
      {HWLOC_OBJ_L4CACHE, 4, "L4"}, {HWLOC_OBJ_L5CACHE, 5, "L5"},
  };
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    int n = hwloc_get_nbobjs_by_type(t->h, kinds[k].type);
    if (n <= 0 || t->sum.ncaches >= CL_TOPO_MAX_CACHES) continue;
    hwloc_obj_t o = hwloc_get_obj_by_type(t->h, kinds[k].type, 0);
    struct cl_topo_cache *c = &t->sum.caches[t->sum.ncaches++];
    c->level = kinds[k].level;
    c->size_bytes = o->attr ? o->attr->cache.size : 0;
    c->count = (unsigned)n;
    bool data = o->attr && o->attr->cache.type == HWLOC_OBJ_CACHE_DATA;
    snprintf(c->name, sizeof c->name, "%s%s", kinds[k].name, data ? "d" : "");
  }
}

static int cmp_os(const void *a, const void *b) {
  unsigned x = (*(const hwloc_obj_t *)a)->os_index, y = (*(const hwloc_obj_t *)b)->os_index;
  return x < y ? -1 : x > y;
}

/* A PU with its ranks among siblings, from itself up to the root's child. */
struct scatter_key {
  hwloc_obj_t pu;
  const unsigned *rank;
  unsigned depth;
};

/* The least significant place is the top of the tree, so consecutive
 * entries differ first in their package, then their core, then their
 * hardware thread. */
static int cmp_scatter(const void *a, const void *b) {
  const struct scatter_key *x = a, *y = b;
  unsigned d = x->depth < y->depth ? x->depth : y->depth;
  for (unsigned i = 0; i < d; i++)
    if (x->rank[i] != y->rank[i]) return x->rank[i] < y->rank[i] ? -1 : 1;
  if (x->depth != y->depth) return x->depth < y->depth ? -1 : 1;
  return x->pu->logical_index < y->pu->logical_index ? -1 : 1;
}

static int build_tables(struct cl_topology *t) {
  unsigned n = t->sum.pus, depth = (unsigned)hwloc_topology_get_depth(t->h);
  t->by_os = calloc(n, sizeof *t->by_os);
  t->scatter = calloc(n, sizeof *t->scatter);
  struct scatter_key *keys = calloc(n, sizeof *keys);
  unsigned *ranks = calloc((size_t)n * depth, sizeof *ranks);
  int rc = 0;
  if (!t->by_os || !t->scatter || !keys || !ranks) {
    rc = cl_error_set(CL_ENOMEM, "topology: no memory for %u PUs", n);
    goto out;
  }
  for (unsigned i = 0; i < n; i++) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(t->h, HWLOC_OBJ_PU, i);
    t->by_os[i] = pu;
    unsigned *r = &ranks[(size_t)i * depth], d = 0;
    for (hwloc_obj_t o = pu; o && o->parent && d < depth; o = o->parent)
      r[d++] = o->sibling_rank;
    keys[i] = (struct scatter_key){pu, r, d};
  }
  qsort(t->by_os, n, sizeof *t->by_os, cmp_os);
  qsort(keys, n, sizeof *keys, cmp_scatter);
  for (unsigned i = 0; i < n; i++)
    t->scatter[i] = keys[i].pu;
out:
  free(keys);
  free(ranks);
  return rc;
}

/* Keeps only the PUs this process is bound to (taskset, a batch system's
 * cpuset), as nproc does. Returns whether the topology was narrowed. */
static bool restrict_to_binding(struct cl_topology *t) {
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  bool narrowed = false;
  hwloc_const_cpuset_t all = hwloc_get_root_obj(t->h)->cpuset;
  if (set && hwloc_get_cpubind(t->h, set, HWLOC_CPUBIND_PROCESS) == 0) {
    hwloc_bitmap_and(set, set, all);
    if (!hwloc_bitmap_iszero(set) && !hwloc_bitmap_isequal(set, all))
      narrowed = hwloc_topology_restrict(t->h, set, 0) == 0;
  }
  hwloc_bitmap_free(set);
  return narrowed;
}

/* Loads t->h (already configured) and fills the summary and tables. */
static int finish_load(struct cl_topology *t, const char *what) {
  if (hwloc_topology_load(t->h) != 0)
    return cl_error_set(errno == ENOMEM ? CL_ENOMEM : CL_EINVAL, "%s: hwloc could not load it: %s",
                        what, strerror(errno));
  struct cl_topology_summary *s = &t->sum;
  s->this_system = hwloc_topology_is_thissystem(t->h) != 0;
  t->narrowed = s->this_system && strcmp(what, "this machine") == 0 && restrict_to_binding(t);
  if (t->narrowed) {
    char pus[64];
    hwloc_bitmap_list_snprintf(pus, sizeof pus, hwloc_get_root_obj(t->h)->cpuset);
    snprintf(s->source, sizeof s->source,
             "this machine, limited to PUs %s by the process's CPU "
             "binding",
             pus);
  }
  int n = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_PU);
  if (n <= 0) return cl_error_set(CL_EINVAL, "%s: no processing units", what);
  s->pus = (unsigned)n;
  n = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_CORE);
  t->ncores = n > 0 ? (unsigned)n : 0;
  s->cores = t->ncores ? t->ncores : s->pus;
  n = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_PACKAGE);
  s->packages = n > 0 ? (unsigned)n : 1;
  n = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_NUMANODE);
  s->numa_nodes = n > 0 ? (unsigned)n : 1;
  s->smt = s->pus > s->cores;
  hwloc_obj_t root = hwloc_get_root_obj(t->h);
  s->memory_bytes = root->total_memory;
  hwloc_bitmap_list_snprintf(s->pu_list, sizeof s->pu_list, root->cpuset);
  add_caches(t);
  return build_tables(t);
}

static int start(struct cl_topology **out, struct cl_topology **t) {
  if (!out) return cl_error_set(CL_EINVAL, "topology: NULL out");
  *t = calloc(1, sizeof **t);
  if (!*t) return cl_error_set(CL_ENOMEM, "topology: out of memory");
  if (hwloc_topology_init(&(*t)->h) != 0) {
    free(*t);
    return cl_error_set(CL_ENOMEM, "topology: hwloc_topology_init failed");
  }
  /* Instruction caches too: `conlab topo` lists every cache. */
  hwloc_topology_set_icache_types_filter((*t)->h, HWLOC_TYPE_FILTER_KEEP_ALL);
  return 0;
}

static int done(struct cl_topology *t, int rc, struct cl_topology **out) {
  if (rc)
    cl_topology_destroy(t);
  else
    *out = t;
  return rc;
}

int cl_topology_load(struct cl_topology **out) {
  struct cl_topology *t;
  int rc = start(out, &t);
  if (rc) return rc;
  snprintf(t->sum.source, sizeof t->sum.source, "this machine");
  rc = finish_load(t, "this machine");
  if (rc == CL_EINVAL) rc = CL_ESYS;
  return done(t, rc, out);
}

/* The number of PUs a synthetic description asks for: the product of its
 * arities ("pack:2 core:8 pu:2" or "2 8 2"), capped above the limit. */
static unsigned long long synthetic_pus(const char *d) {
  unsigned long long product = 1;
  int paren = 0;
  const char *p = d;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == '\n')
      p++;
    if (!*p) break;
    const char *tok = p, *num = NULL;
    for (; *p && (paren || (*p != ' ' && *p != '\t' && *p != '\n')); p++) {
      if (*p == '(' || *p == '[')
        paren++;
      else if ((*p == ')' || *p == ']') && paren)
        paren--;
      else if (*p == ':' && !paren && !num)
        num = p + 1;
    }
    if (!num && tok[0] >= '0' && tok[0] <= '9') num = tok;
    if (tok[0] == '[' || !num) continue;
    unsigned long long v = strtoull(num, NULL, 10);
    if (v == 0) v = 1;
    product = product > MAX_SYNTHETIC_PUS || v > MAX_SYNTHETIC_PUS ? MAX_SYNTHETIC_PUS + 1ULL
                                                                   : product * v;
  }
  return product;
}

int cl_topology_load_synthetic(const char *desc, struct cl_topology **out) {
  if (!desc || !*desc)
    return cl_error_set(CL_EINVAL, "synthetic topology: empty description (e.g. \"pack:2 "
                                   "core:8 pu:2\")");
  unsigned long long pus = synthetic_pus(desc);
  if (pus > MAX_SYNTHETIC_PUS)
    return cl_error_set(CL_ERANGE, "synthetic topology \"%.200s\" has more than %d PUs", desc,
                        MAX_SYNTHETIC_PUS);
  struct cl_topology *t;
  int rc = start(out, &t);
  if (rc) return rc;
  if (hwloc_topology_set_synthetic(t->h, desc) != 0) {
    rc = cl_error_set(CL_EINVAL,
                      "synthetic topology \"%.200s\" is not valid (write levels with their "
                      "arity, e.g. \"pack:2 core:8 pu:2\" or \"numa:2 core:4 pu:1\")",
                      desc);
    return done(t, rc, out);
  }
  snprintf(t->sum.source, sizeof t->sum.source, "synthetic \"%.300s\"", desc);
  rc = finish_load(t, "synthetic topology");
  return done(t, rc, out);
}

int cl_topology_load_xml(const char *path, struct cl_topology **out) {
  if (!path || !*path) return cl_error_set(CL_EINVAL, "topology file: empty path");
  FILE *f = fopen(path, "r");
  if (!f)
    return cl_error_set(CL_ENOENT, "cannot read topology file '%s': %s", path, strerror(errno));
  fclose(f);
  struct cl_topology *t;
  int rc = start(out, &t);
  if (rc) return rc;
  if (hwloc_topology_set_xml(t->h, path) != 0) {
    rc = cl_error_set(CL_EINVAL,
                      "'%s' is not an hwloc topology file (make one with lstopo "
                      "FILE.xml)",
                      path);
    return done(t, rc, out);
  }
  snprintf(t->sum.source, sizeof t->sum.source, "xml %.300s", path);
  rc = finish_load(t, path);
  if (rc == CL_EINVAL)
    rc = cl_error_set(CL_EINVAL,
                      "'%s' is not an hwloc topology file (make one with lstopo "
                      "FILE.xml)",
                      path);
  return done(t, rc, out);
}

void cl_topology_destroy(struct cl_topology *topo) {
  if (!topo) return;
  hwloc_topology_destroy(topo->h);
  free(topo->by_os);
  free(topo->scatter);
  free(topo);
}

int cl_topology_summary(const struct cl_topology *topo, struct cl_topology_summary *out) {
  if (!topo || !out) return cl_error_set(CL_EINVAL, "topology summary: NULL argument");
  *out = topo->sum;
  return 0;
}

size_t cl_topology_auto_workers(const struct cl_topology *topo, const char *kind, unsigned *out,
                                size_t max) {
  if (!topo || !kind || !out) return 0;
  unsigned cores = topo->sum.cores, pus = topo->sum.pus;
  size_t n = 0;
  for (unsigned w = 1; w < cores && n < max; w *= 2)
    out[n++] = w;
  if (n < max) out[n++] = cores;
  if (pus > cores && n < max) out[n++] = pus;
  bool io = strcmp(kind, "io") == 0 || strcmp(kind, "mixed") == 0;
  if (io && n < max) {
    out[n] = 2 * out[n - 1];
    n++;
  }
  return n;
}

int cl_topology_export_xml(const struct cl_topology *topo, const char *path) {
  if (!topo || !path) return cl_error_set(CL_EINVAL, "topology export: NULL argument");
  char *xml = NULL;
  int len = 0;
  if (hwloc_topology_export_xmlbuffer(topo->h, &xml, &len, 0) != 0 || !xml)
    return cl_error_set(CL_ENOMEM, "topology export: hwloc could not write XML: %s",
                        strerror(errno));
  char tmp[PATH_MAX];
  int rc = 0;
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    rc = cl_error_set(CL_EIO, "topology export: path too long: %s", path);
    goto out;
  }
  FILE *f = fopen(tmp, "w");
  if (!f) {
    rc = cl_error_set(CL_EIO, "cannot create %s: %s", tmp, strerror(errno));
    goto out;
  }
  /* hwloc counts the terminating NUL in len. */
  size_t n = len > 0 && xml[len - 1] == '\0' ? (size_t)len - 1 : (size_t)len;
  bool ok = fwrite(xml, 1, n, f) == n;
  ok = fflush(f) == 0 && ok && fsync(fileno(f)) == 0;
  if (fclose(f) != 0) ok = false;
  if (!ok || rename(tmp, path) != 0) {
    rc = cl_error_set(CL_EIO, "cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
  }
out:
  hwloc_free_xmlbuffer(topo->h, xml);
  return rc;
}

int cl_topology_check_cpus(const struct cl_topology *topo, const unsigned *cpus, size_t n) {
  if (!topo) return cl_error_set(CL_EINVAL, "binding: no topology");
  if (!cpus || n == 0) return cl_error_set(CL_EINVAL, "binding: the PU list is empty");
  for (size_t i = 0; i < n; i++) {
    if (!hwloc_get_pu_obj_by_os_index(topo->h, cpus[i]))
      return cl_error_set(CL_ERANGE, "PU %u does not exist (%s PU%s %s)", cpus[i],
                          !topo->sum.this_system ? "the topology has"
                          : topo->narrowed       ? "this process may use"
                                                 : "this machine has",
                          topo->sum.pus > 1 ? "s" : "", topo->sum.pu_list);
  }
  return 0;
}

int cl_topology_check_bind(const struct cl_exec_config *cfg) {
  if (!cfg) return cl_error_set(CL_EINVAL, "binding: NULL config");
  if (cfg->bind == CL_BIND_NONE) return 0;
  if (cfg->bind < CL_BIND_NONE || cfg->bind > CL_BIND_LIST)
    return cl_error_set(CL_EINVAL, "binding: unknown policy %d", (int)cfg->bind);
  if (!cfg->topo)
    return cl_error_set(CL_EINVAL, "binding '%s' needs a topology (cfg.topo is NULL)",
                        cl_bind_name(cfg->bind));
  if (cfg->bind == CL_BIND_LIST) {
    int rc = cl_topology_check_cpus(cfg->topo, cfg->bind_cpus, cfg->nbind_cpus);
    if (rc) return rc;
  }
  if (!cfg->topo->sum.this_system)
    return cl_error_set(CL_EUNSUPPORTED,
                        "binding '%s': the topology (%s) describes another machine; binding "
                        "needs this machine's",
                        cl_bind_name(cfg->bind), cfg->topo->sum.source);
  return 0;
}

/* The CPU set of worker under cfg (bind not NONE, topology present). */
static int worker_set(const struct cl_exec_config *cfg, unsigned worker,
                      hwloc_const_cpuset_t *out) {
  const struct cl_topology *t = cfg->topo;
  unsigned npus = t->sum.pus;
  hwloc_obj_t o = NULL;
  switch (cfg->bind) {
  case CL_BIND_CORE:
    o = t->ncores ? hwloc_get_obj_by_type(t->h, HWLOC_OBJ_CORE, worker % t->ncores)
                  : hwloc_get_obj_by_type(t->h, HWLOC_OBJ_PU, worker % npus);
    break;
  case CL_BIND_PU:
    o = t->by_os[worker % npus];
    break;
  case CL_BIND_COMPACT:
    o = hwloc_get_obj_by_type(t->h, HWLOC_OBJ_PU, worker % npus);
    break;
  case CL_BIND_SCATTER:
    o = t->scatter[worker % npus];
    break;
  case CL_BIND_LIST:
    if (!cfg->bind_cpus || !cfg->nbind_cpus)
      return cl_error_set(CL_EINVAL, "binding: the PU list is empty");
    o = hwloc_get_pu_obj_by_os_index(t->h, cfg->bind_cpus[worker % cfg->nbind_cpus]);
    if (!o) return cl_topology_check_cpus(t, cfg->bind_cpus, cfg->nbind_cpus);
    break;
  case CL_BIND_NONE:
  default:
    return cl_error_set(CL_EINVAL, "binding: unknown policy %d", (int)cfg->bind);
  }
  if (!o || !o->cpuset) return cl_error_set(CL_EINVAL, "binding: worker %u has no place", worker);
  *out = o->cpuset;
  return 0;
}

int cl_topology_worker_cpus(const struct cl_exec_config *cfg, unsigned worker, char *buf,
                            size_t len) {
  if (!cfg || !buf || !len) return cl_error_set(CL_EINVAL, "binding: NULL argument");
  if (cfg->bind == CL_BIND_NONE) {
    snprintf(buf, len, "all");
    return 0;
  }
  if (!cfg->topo) return cl_error_set(CL_EINVAL, "binding: no topology");
  hwloc_const_cpuset_t set;
  int rc = worker_set(cfg, worker, &set);
  if (rc) return rc;
  hwloc_bitmap_list_snprintf(buf, len, set);
  return 0;
}

/* Checks cfg and converts worker's CPU set to the system's type. */
static int worker_sched_set(const struct cl_exec_config *cfg, unsigned worker, cpu_set_t *cs,
                            hwloc_const_cpuset_t *set) {
  int rc = cl_topology_check_bind(cfg);
  if (!rc) rc = worker_set(cfg, worker, set);
  if (rc) return rc;
  hwloc_cpuset_to_glibc_sched_affinity(cfg->topo->h, *set, cs, sizeof *cs);
  return 0;
}

static int bind_failed(const struct cl_exec_config *cfg, unsigned worker, hwloc_const_cpuset_t set,
                       int err) {
  char pus[64];
  hwloc_bitmap_list_snprintf(pus, sizeof pus, set);
  return cl_error_set(CL_ESYS, "binding worker %u (%s) to PU %s: %s", worker,
                      cl_bind_name(cfg->bind), pus, strerror(err));
}

int cl_topology_bind_thread(const struct cl_exec_config *cfg, unsigned worker) {
  if (cfg && cfg->bind == CL_BIND_NONE) return 0;
  cpu_set_t cs;
  hwloc_const_cpuset_t set;
  int rc = worker_sched_set(cfg, worker, &cs, &set);
  if (rc) return rc;
  /* sched_setaffinity rather than hwloc_set_cpubind: the same system call,
   * without hwloc's per-call allocation. */
  if (sched_setaffinity(0, sizeof cs, &cs) != 0) return bind_failed(cfg, worker, set, errno);
  return 0;
}

int cl_topology_bind_process(const struct cl_exec_config *cfg, unsigned worker, pid_t pid) {
  if (cfg && cfg->bind == CL_BIND_NONE) return 0;
  cpu_set_t cs;
  hwloc_const_cpuset_t set;
  int rc = worker_sched_set(cfg, worker, &cs, &set);
  if (rc) return rc;
  if (hwloc_set_proc_cpubind(cfg->topo->h, pid, set, HWLOC_CPUBIND_PROCESS) != 0)
    return bind_failed(cfg, worker, set, errno);
  return 0;
}

int cl_topology_bind_attr(const struct cl_exec_config *cfg, unsigned worker, pthread_attr_t *attr) {
  if (cfg && cfg->bind == CL_BIND_NONE) return 0;
  if (!attr) return cl_error_set(CL_EINVAL, "binding: NULL thread attributes");
  cpu_set_t cs;
  hwloc_const_cpuset_t set;
  int rc = worker_sched_set(cfg, worker, &cs, &set);
  if (rc) return rc;
  rc = pthread_attr_setaffinity_np(attr, sizeof cs, &cs);
  if (rc) return bind_failed(cfg, worker, set, rc);
  return 0;
}

void cl_bind_describe(const struct cl_exec_config *cfg, char *buf, size_t len) {
  if (!buf || !len) return;
  if (!cfg) {
    snprintf(buf, len, "none");
    return;
  }
  if (cfg->bind != CL_BIND_LIST || !cfg->bind_cpus || !cfg->nbind_cpus) {
    snprintf(buf, len, "%s", cl_bind_name(cfg->bind));
    return;
  }
  size_t used = (size_t)snprintf(buf, len, "cpus:");
  for (unsigned i = 0; i < cfg->nbind_cpus && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, "%s%u", i ? "+" : "", cfg->bind_cpus[i]);
}

int cl_bind_parse(const char *name, enum cl_bind *out) {
  static const enum cl_bind all[] = {CL_BIND_NONE, CL_BIND_CORE, CL_BIND_PU, CL_BIND_COMPACT,
                                     CL_BIND_SCATTER};
  for (size_t i = 0; name && out && i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(name, cl_bind_name(all[i])) == 0) {
      *out = all[i];
      return 0;
    }
  }
  return cl_error_set(CL_EINVAL, "unknown binding '%s' (valid: none, core, pu, compact, scatter)",
                      name ? name : "(null)");
}
