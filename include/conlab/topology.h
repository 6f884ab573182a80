/* Hardware topology through hwloc: what this machine (or a described one)
 * has, the worker counts that follow from it, and the binding of workers to
 * cores or hardware threads.
 *
 *   struct cl_topology *topo;
 *   cl_topology_load(&topo);                  // this machine
 *   struct cl_exec_config cfg;
 *   cl_exec_config_default(&cfg);
 *   cfg.topo = topo;
 *   cfg.bind = CL_BIND_CORE;                  // worker i on core i mod cores
 *   ... in worker i:  cl_topology_bind_thread(&cfg, i);
 *   cl_topology_destroy(topo);
 *
 * A loaded topology is read-only: every function taking a const topology may
 * be called from any number of threads at once. */
#ifndef CONLAB_TOPOLOGY_H
#define CONLAB_TOPOLOGY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conlab/executor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque: an hwloc topology with its summary and placement tables. */
struct cl_topology;

enum { CL_TOPO_MAX_CACHES = 8 };

/* One cache level and type, e.g. "L3", 32 MiB, 1 instance. */
struct cl_topo_cache {
  char name[8];        /* "L1d", "L1i", "L2", "L3", "L4" ("d"/"i": data/instruction) */
  unsigned level;      /* 1 .. 5 */
  uint64_t size_bytes; /* of one instance (the first one found) */
  unsigned count;      /* number of instances */
};

struct cl_topology_summary {
  unsigned packages;     /* sockets (at least 1) */
  unsigned numa_nodes;   /* at least 1 */
  unsigned cores;        /* physical cores (= pus when the platform reports no cores) */
  unsigned pus;          /* hardware threads (processing units) */
  bool smt;              /* some core has more than one hardware thread */
  bool this_system;      /* describes the machine we run on: binding is possible */
  uint64_t memory_bytes; /* total of the NUMA nodes, 0 when unknown */
  unsigned ncaches;
  struct cl_topo_cache caches[CL_TOPO_MAX_CACHES]; /* by level, data before instruction */
  char pu_list[128]; /* OS numbers of the PUs, as in taskset: "0-1", "0-3,8-11" */
  char source[320];  /* "this machine", "synthetic \"pack:2 core:8 pu:2\"", "xml FILE" */
};

/* Loads the topology of the machine we run on: the PUs this process may use
 * (a cgroup cpuset or a CPU binding such as taskset narrows it, as it does
 * nproc; the summary's source then says so). Returns 0, CL_ENOMEM or CL_ESYS
 * (hwloc failed; detail says why). *out is untouched on error. */
int cl_topology_load(struct cl_topology **out);

/* Builds a described machine, in hwloc's synthetic syntax, e.g.
 * "pack:2 core:8 pu:2" (2 packages of 8 cores of 2 hardware threads). Its PUs
 * are numbered 0 .. n-1 in order. Returns 0, CL_EINVAL (not a valid
 * description; the detail shows an example), CL_ERANGE (more than 65536 PUs)
 * or CL_ENOMEM. Such a topology plans but cannot bind. */
int cl_topology_load_synthetic(const char *desc, struct cl_topology **out);

/* Loads a topology saved by hwloc (lstopo FILE.xml, or a run's topology.xml).
 * Returns 0, CL_ENOENT (no readable file), CL_EINVAL (not an hwloc topology)
 * or CL_ENOMEM. Such a topology plans but cannot bind. */
int cl_topology_load_xml(const char *path, struct cl_topology **out);

/* Frees a topology (NULL is fine). */
void cl_topology_destroy(struct cl_topology *topo);

/* Copies the summary. Returns 0 or CL_EINVAL (NULL argument). */
int cl_topology_summary(const struct cl_topology *topo, struct cl_topology_summary *out);

/* hwloc's version as "2.9.0". */
const char *cl_topology_hwloc_version(void);

/* Worker counts for `--workers auto` on topo, ascending, into out[0 .. max):
 * powers of two below the physical core count, the core count, then the
 * hardware-thread count when SMT is present; for "io" and "mixed" kinds also
 * twice the last (oversubscription: waiting workers do not need a core).
 * "pack:2 core:8 pu:2" gives 1,2,4,8,16,32 (io: ..,64); "pack:1 core:2 pu:1"
 * gives 1,2 (io: 1,2,4). Returns the number stored (0 for NULL arguments). */
size_t cl_topology_auto_workers(const struct cl_topology *topo, const char *kind, unsigned *out,
                                size_t max);

/* Saves the topology as hwloc XML (loadable with cl_topology_load_xml and
 * lstopo --input). Writes a temporary file and renames it. Returns 0, CL_EIO
 * (detail names the file and the reason) or CL_ENOMEM. */
int cl_topology_export_xml(const struct cl_topology *topo, const char *path);

/* Checks that every OS PU number in cpus[0 .. n) exists in topo. Returns 0,
 * CL_EINVAL (NULL topo, or n == 0) or CL_ERANGE with a detail such as
 * "PU 7 does not exist (this machine has PUs 0-1)". */
int cl_topology_check_cpus(const struct cl_topology *topo, const unsigned *cpus, size_t n);

/* Binding. Worker i of an executor configured by cfg (cfg->bind, cfg->topo,
 * cfg->bind_cpus) is placed as follows; more workers than places wrap around
 * (oversubscription):
 *   core     all hardware threads of physical core i mod cores (logical order)
 *   pu       hardware thread number i mod pus, in OS numbering (as in
 *            /proc/cpuinfo and sched_getcpu)
 *   compact  hardware thread i mod pus in topology order: SMT siblings of a
 *            core first, then the next core, then the next package
 *   scatter  spread: one per package first, then one per core (or cache
 *            domain) in each, then the SMT siblings
 *   list     the PU whose OS number is cfg->bind_cpus[i mod nbind_cpus]
 *
 * Checks cfg for binding: 0 when cfg->bind is CL_BIND_NONE or when the
 * binding can be applied; CL_EINVAL (no topology, an unknown policy, or an
 * empty list), CL_ERANGE (a listed PU does not exist) or CL_EUNSUPPORTED (the
 * topology is synthetic or loaded from XML: it describes another machine). */
int cl_topology_check_bind(const struct cl_exec_config *cfg);

/* Writes worker's CPU set under cfg as a PU list ("3", "0-1"; "all" when
 * cfg->bind is CL_BIND_NONE). Works on synthetic topologies too (a planning
 * aid). Returns 0, CL_EINVAL or CL_ERANGE. */
int cl_topology_worker_cpus(const struct cl_exec_config *cfg, unsigned worker, char *buf,
                            size_t len);

/* Binds the calling thread as worker `worker` of cfg. A no-op returning 0
 * when cfg->bind is CL_BIND_NONE. In a child process right after fork (one
 * thread) this binds the whole process. Allocates nothing of its own.
 * Returns 0, the errors of cl_topology_check_bind, or CL_ESYS (the system
 * refused; detail names the worker, the PUs and the reason). */
int cl_topology_bind_thread(const struct cl_exec_config *cfg, unsigned worker);

/* Binds process `pid` (all its threads) as worker `worker` of cfg, through
 * hwloc: for process-pool workers, called by the parent right after fork so
 * that a failure is reported by create(). A no-op returning 0 when cfg->bind
 * is CL_BIND_NONE. Returns 0, the errors of cl_topology_check_bind, or
 * CL_ESYS. */
int cl_topology_bind_process(const struct cl_exec_config *cfg, unsigned worker, pid_t pid);

/* Sets attr so that a thread created with it starts bound as worker
 * `worker` of cfg (for per-task threads and pools: no moment runs unbound).
 * A no-op returning 0 when cfg->bind is CL_BIND_NONE. Returns 0, the errors
 * of cl_topology_check_bind, or CL_ESYS. */
int cl_topology_bind_attr(const struct cl_exec_config *cfg, unsigned worker, pthread_attr_t *attr);

/* Describes cfg's binding for results: "none", "core", "pu", "compact",
 * "scatter", or for a list "cpus:0+0+1" (no commas: it goes in a CSV
 * field). Truncates to len. */
void cl_bind_describe(const struct cl_exec_config *cfg, char *buf, size_t len);

/* Parses a binding policy name ("none", "core", "pu", "compact", "scatter").
 * Returns 0 or CL_EINVAL. "list" is not a name: it is chosen by giving a
 * list (conlab run --bind-cpus). */
int cl_bind_parse(const char *name, enum cl_bind *out);

#ifdef __cplusplus
}
#endif
#endif
