#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "conlab/topology.h"
#include "harness/harness.h"

#ifndef CL_BUILD_FLAGS
#define CL_BUILD_FLAGS ""
#endif
#ifndef CL_BUILD_TYPE
#define CL_BUILD_TYPE ""
#endif

/* Reads the first line of a small file into buf; returns buf or NULL. */
static char *read_line(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char *r = fgets(buf, (int)len, f);
  fclose(f);
  if (!r) return NULL;
  buf[strcspn(buf, "\n")] = '\0';
  return buf;
}

static void cpu_model(char *buf, size_t len) {
  snprintf(buf, len, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *colon = strchr(line, ':');
      if (colon) {
        colon++;
        while (*colon == ' ')
          colon++;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, len, "%s", colon);
      }
      break;
    }
  }
  fclose(f);
}

/* Environment variables that change concurrency results. */
static const char *const env_vars[] = {"OMP_WAIT_POLICY",  "OMP_PROC_BIND",     "OMP_PLACES",
                                       "OMP_NUM_THREADS",  "OMP_SCHEDULE",      "OMP_DYNAMIC",
                                       "GOMP_SPINCOUNT",   "GOMP_CPU_AFFINITY", "HWLOC_XMLFILE",
                                       "HWLOC_THISSYSTEM", "PYTHONHASHSEED"};

void cl__machine_json(FILE *f, const char *in, const struct cl_topology *topo,
                      const struct cl__run_info *ri) {
  char buf[512];
  struct utsname u;
  uname(&u);
  cpu_model(buf, sizeof buf);
  fprintf(f, "%s\"machine\": {\n%s  \"cpu_model\": ", in, in);
  cl__json_str(f, buf);
  fprintf(f, ",\n%s  \"online_cpus\": %u,\n%s  \"configured_cpus\": %ld,\n", in, cl__online_cpus(),
          in, sysconf(_SC_NPROCESSORS_CONF));
  fprintf(f, "%s  \"memory_bytes\": %lld,\n", in,
          (long long)sysconf(_SC_PHYS_PAGES) * (long long)sysconf(_SC_PAGESIZE));
  fprintf(f, "%s  \"kernel\": ", in);
  snprintf(buf, sizeof buf, "%s %s %s", u.sysname, u.release, u.machine);
  cl__json_str(f, buf);
  fprintf(f, ",\n%s  \"governor\": ", in);
  if (read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", buf, sizeof buf))
    cl__json_str(f, buf);
  else
    fputs("null", f);
  fprintf(f, ",\n%s  \"loadavg_at_start\": ", in);
  if (ri && ri->nloadavg == 3)
    fprintf(f, "[%.2f, %.2f, %.2f]", ri->loadavg[0], ri->loadavg[1], ri->loadavg[2]);
  else
    fputs("null", f);
  struct cl_topology_summary ts;
  if (topo && cl_topology_summary(topo, &ts) == 0)
    fprintf(f, ",\n%s  \"physical_cores\": %u,\n%s  \"hardware_threads\": %u", in, ts.cores, in,
            ts.pus);
  fputs(",\n", f);
  char deeper[64];
  snprintf(deeper, sizeof deeper, "%s  ", in);
  cl__topology_json(f, deeper, topo);
  fprintf(f, "\n%s},\n%s\"compiler\": {\n%s  \"version\": ", in, in, in);
  cl__json_str(f, __VERSION__);
  fprintf(f, ",\n%s  \"build_type\": ", in);
  cl__json_str(f, CL_BUILD_TYPE);
  fprintf(f, ",\n%s  \"flags\": ", in);
  cl__json_str(f, CL_BUILD_FLAGS);
#ifdef CL_HAVE_OPENMP
  fprintf(f, ",\n%s  \"openmp\": %d", in, _OPENMP);
#else
  fprintf(f, ",\n%s  \"openmp\": null", in);
#endif
  fprintf(f, "\n%s},\n%s\"environment\": {", in, in);
  for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++) {
    const char *v = getenv(env_vars[i]);
    fprintf(f, "%s\n%s  \"%s\": ", i ? "," : "", in, env_vars[i]);
    if (v)
      cl__json_str(f, v);
    else
      fputs("null", f);
  }
  fprintf(f, "\n%s}", in);
}
