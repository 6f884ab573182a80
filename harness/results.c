#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conlab/error.h"
#include "conlab/topology.h"
#include "harness/harness.h"

#define CL__RESULTS_ROOT "results"

int cl__write_atomic(const char *dir, const char *name, int (*fill)(FILE *f, const void *arg),
                     const void *arg) {
  char tmp[PATH_MAX], final[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld", dir, name, (long)getpid()) >= (int)sizeof tmp ||
      snprintf(final, sizeof final, "%s/%s", dir, name) >= (int)sizeof final)
    return cl_error_set(CL_ERANGE, "path too long: %s/%s", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return cl_error_set(CL_EIO, "cannot create %s: %s", tmp, strerror(errno));
  cl__signals_set_tmp(tmp); /* a second Ctrl-C unlinks it before exiting */
  /* Fault injection for the tests: CONLAB_TEST_WRITE_VIA=/dev/full sends the
   * content to that file instead, as a full disk would (ENOSPC). */
  const char *via = getenv("CONLAB_TEST_WRITE_VIA");
  if (via && *via) {
    int vfd = open(via, O_WRONLY | O_CLOEXEC);
    if (vfd >= 0) {
      dup2(vfd, fd);
      close(vfd);
    }
  }
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    unlink(tmp);
    return cl_error_set(CL_EIO, "cannot open %s: %s", tmp, strerror(errno));
  }
  int err = fill(f, arg);
  if (!err && (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0))
    err = cl_error_set(CL_EIO, "cannot write %s: %s", final, strerror(errno));
  if (fclose(f) != 0 && !err)
    err = cl_error_set(CL_EIO, "cannot write %s: %s", final, strerror(errno));
  if (!err && rename(tmp, final) != 0)
    err = cl_error_set(CL_EIO, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
  if (err) unlink(tmp);
  cl__signals_set_tmp(NULL);
  return err;
}

int cl__run_dir_create(const struct cl__options *o, struct cl__run_info *ri) {
  memset(ri, 0, sizeof *ri);
  ri->started_s = cl__wall_s();
  ri->nloadavg = getloadavg(ri->loadavg, 3);
  if (o->out) {
    struct stat st;
    if (stat(o->out, &st) == 0)
      return cl_error_set(CL_EINVAL, "'%s' already exists (choose a new directory)", o->out);
    if (snprintf(ri->dir, sizeof ri->dir, "%s", o->out) >= (int)sizeof ri->dir)
      return cl_error_set(CL_ERANGE, "the path is too long");
    if (mkdir(ri->dir, 0755) != 0)
      return cl_error_set(CL_EIO, "cannot create '%s': %s", ri->dir, strerror(errno));
    const char *slash = strrchr(ri->dir, '/');
    snprintf(ri->id, sizeof ri->id, "%.63s", slash ? slash + 1 : ri->dir);
    return 0;
  }
  int err = cl__results_dir_create("", ri->dir, sizeof ri->dir);
  if (err) return err;
  snprintf(ri->id, sizeof ri->id, "%.63s", ri->dir + strlen(CL__RESULTS_ROOT "/"));
  return 0;
}

int cl__results_dir_create(const char *prefix, char *dir, size_t len) {
  if (mkdir(CL__RESULTS_ROOT, 0755) != 0 && errno != EEXIST)
    return cl_error_set(CL_EIO, "cannot create '%s': %s", CL__RESULTS_ROOT, strerror(errno));
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  for (int n = 1; n < 100; n++) {
    if (n == 1)
      snprintf(dir, len, "%s/%s%s", CL__RESULTS_ROOT, prefix, stamp);
    else
      snprintf(dir, len, "%s/%s%s-%d", CL__RESULTS_ROOT, prefix, stamp, n);
    if (mkdir(dir, 0755) == 0) return 0;
    if (errno != EEXIST)
      return cl_error_set(CL_EIO, "cannot create '%s': %s", dir, strerror(errno));
  }
  return cl_error_set(CL_EIO, "too many runs named %s/%s%s", CL__RESULTS_ROOT, prefix, stamp);
}

int cl__run_dir_link_latest(const struct cl__options *o, const struct cl__run_info *ri) {
  if (o->out) return 0;
  /* A symlink made under a temporary name and renamed over the old one. */
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s/.latest.%ld", CL__RESULTS_ROOT, (long)getpid());
  unlink(tmp);
  if (symlink(ri->id, tmp) != 0)
    return cl_error_set(CL_EIO, "cannot link %s: %s", tmp, strerror(errno));
  if (rename(tmp, CL__RESULTS_ROOT "/latest") != 0) {
    unlink(tmp);
    return cl_error_set(CL_EIO, "cannot update results/latest: %s", strerror(errno));
  }
  return 0;
}

/* A number, or an empty CSV field for NaN. */
static void num(FILE *f, const char *fmt, double v) {
  if (!isnan(v)) fprintf(f, fmt, v);
}

static int fill_summary(FILE *f, const void *arg) {
  const struct cl__plan *plan = arg;
  fputs("workload,kind,executor,workers,gil,tasks,size,delay_s,median_s,ci_low_s,ci_high_s,cv,"
        "noisy,speedup,efficiency,karp_flatt,user_s,sys_s,nvcsw,nivcsw,max_rss_kb,checksum,"
        "expected,checksum_ok,reps,bind,omp_schedule,chunksize,status,us_per_task,tasks_per_s,"
        "wake_mean_ms,wake_max_ms,startup_s\n",
        f);
  for (size_t i = 0; i < plan->ncells; i++) {
    const struct cl__cell *c = &plan->cells[i];
    bool have = c->nsamples > 0;
    fprintf(f, "%s,%s,%s,%u,%d,%llu,%llu,%.6f,", c->w->name, c->w->kind, c->ex->name, c->workers,
            c->gil, (unsigned long long)c->params.tasks, (unsigned long long)c->params.size,
            (double)c->params.delay_ns / 1e9);
    if (have) {
      fprintf(f, "%.9f,%.9f,%.9f,%.6f,%d,", c->wall.median, c->wall.ci_low, c->wall.ci_high,
              c->wall.cv, c->noisy);
    } else {
      fputs(",,,,,", f);
    }
    num(f, "%.6f", c->speedup);
    fputc(',', f);
    num(f, "%.6f", c->efficiency);
    fputc(',', f);
    num(f, "%.6f", c->karp_flatt);
    fputc(',', f);
    if (have)
      fprintf(f, "%.6f,%.6f,%ld,%ld,%ld,", c->user_s, c->sys_s, c->nvcsw, c->nivcsw, c->max_rss_kb);
    else
      fputs(",,,,,", f);
    char bind[256];
    cl_bind_describe(&c->cfg, bind, sizeof bind);
    fprintf(f, "%llu,%llu,%d,%u,%s,%s,%u,%s,", (unsigned long long)c->checksum,
            (unsigned long long)c->expected, c->checksum_ok && have, c->nsamples, bind,
            cl_omp_schedule_name(c->cfg.omp_schedule), c->chunksize, cl__cell_status(c));
    /* The whole cost per task, work included: for noop rows, the overhead. */
    if (have && c->params.tasks && c->wall.median > 0)
      fprintf(f, "%.6f,%.1f,", c->wall.median * 1e6 / (double)c->params.tasks,
              (double)c->params.tasks / c->wall.median);
    else
      fputs(",,", f);
    /* Wakeup latency (empty: not measured) and the interpreter's start-up
     * (empty for C executors). */
    num(f, "%.4f", have ? c->wake_mean_s * 1e3 : NAN);
    fputc(',', f);
    num(f, "%.4f", have ? c->wake_max_s * 1e3 : NAN);
    fputc(',', f);
    num(f, "%.6f", c->interp.runtime[0] ? c->interp.startup_s : NAN);
    fputc('\n', f);
  }
  return 0;
}

static int fill_samples(FILE *f, const void *arg) {
  const struct cl__plan *plan = arg;
  /* tasks and size tell apart the cells of a sweep (and of a suite's parts). */
  fputs("workload,executor,workers,gil,tasks,size,rep,wall_s,user_s,sys_s,nvcsw,nivcsw,max_rss_kb,"
        "checksum,checksum_ok,wake_mean_ms,wake_max_ms\n",
        f);
  for (size_t i = 0; i < plan->ncells; i++) {
    const struct cl__cell *c = &plan->cells[i];
    for (unsigned r = 0; r < c->nsamples; r++) {
      const struct cl__sample *s = &c->samples[r];
      fprintf(f, "%s,%s,%u,%d,%llu,%llu,%u,%.9f,%.6f,%.6f,%ld,%ld,%ld,%llu,%d,", c->w->name,
              c->ex->name, c->workers, c->gil, (unsigned long long)c->params.tasks,
              (unsigned long long)c->params.size, r, s->wall_s, s->user_s, s->sys_s, s->nvcsw,
              s->nivcsw, s->max_rss_kb, (unsigned long long)s->checksum,
              s->checksum == c->expected);
      num(f, "%.4f", s->wake_mean_s * 1e3);
      fputc(',', f);
      num(f, "%.4f", s->wake_max_s * 1e3);
      fputc('\n', f);
    }
  }
  return 0;
}

void cl__json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch == '\n')
      fputs("\\n", f);
    else if (ch == '\t')
      fputs("\\t", f);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

struct json_arg {
  const struct cl__plan *plan;
  const struct cl__options *o;
  const struct cl__run_info *ri;
};

static void iso_time(char *buf, size_t len, double epoch) {
  time_t t = (time_t)epoch;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A number, or null for NaN. */
static void json_num(FILE *f, const char *fmt, double v) {
  if (isnan(v) || isinf(v))
    fputs("null", f);
  else
    fprintf(f, fmt, v);
}

/* "rows": what a summary.csv row cannot hold well, one object per cell in
 * summary order: the wakeup latency where it was measured and, for the py.*
 * executors, the interpreter (its start-up is not in median_s). */
static void json_rows(FILE *f, const struct cl__plan *plan) {
  fputs("  \"rows\": [", f);
  for (size_t i = 0; i < plan->ncells; i++) {
    const struct cl__cell *c = &plan->cells[i];
    bool have = c->nsamples > 0;
    fputs(i ? ",\n    {\"workload\": " : "\n    {\"workload\": ", f);
    cl__json_str(f, c->w->name);
    fputs(", \"executor\": ", f);
    cl__json_str(f, c->ex->name);
    fprintf(f, ", \"workers\": %u, \"gil\": %s, \"tasks\": %llu, \"size\": %llu, \"status\": ",
            c->workers, c->gil ? "true" : "false", (unsigned long long)c->params.tasks,
            (unsigned long long)c->params.size);
    cl__json_str(f, cl__cell_status(c));
    if (have && !isnan(c->wake_mean_s)) {
      fputs(",\n     \"wakeup_latency\": {\"mean_ms\": ", f);
      json_num(f, "%.4f", c->wake_mean_s * 1e3);
      fputs(", \"max_ms\": ", f);
      json_num(f, "%.4f", c->wake_max_s * 1e3);
      fputs(", \"per_rep_mean_ms\": [", f);
      for (unsigned r = 0; r < c->nsamples; r++) {
        if (r) fputs(", ", f);
        json_num(f, "%.4f", c->samples[r].wake_mean_s * 1e3);
      }
      fprintf(f, "], \"tasks\": %u", c->samples[c->nsamples - 1].wake_tasks);
      if (c->gil)
        fprintf(f, ", \"switch_interval_ms\": %.3f",
                (c->cfg.switch_interval_ns ? c->cfg.switch_interval_ns : 5000000) / 1e6);
      fputs("}", f);
    }
    if (c->interp.runtime[0]) {
      fputs(",\n     \"interpreter\": {\"startup_s\": ", f);
      json_num(f, "%.6f", c->interp.startup_s);
      fputs(", \"implementation\": ", f);
      cl__json_str(f, c->interp.implementation);
      fputs(", \"python_version\": ", f);
      cl__json_str(f, c->interp.version);
      /* false only on a free-threaded build running without its GIL */
      fprintf(f, ", \"gil_enabled\": %s, \"runtime\": ", c->interp.gil_disabled ? "false" : "true");
      cl__json_str(f, c->interp.runtime);
      fputs("}", f);
    }
    fputs("}", f);
  }
  fputs(plan->ncells ? "\n  ]" : "]", f);
}

static int fill_json(FILE *f, const void *arg) {
  const struct json_arg *a = arg;
  char ts[32];
  fprintf(f, "{\n  \"conlab_version\": \"%s\",\n  \"run_id\": ", CONLAB_VERSION);
  cl__json_str(f, a->ri->id);
  fputs(",\n  \"command\": [", f);
  fputs("\"conlab\"", f);
  for (int i = 0; i < a->o->argc; i++) {
    fputs(", ", f);
    cl__json_str(f, a->o->argv[i]);
  }
  iso_time(ts, sizeof ts, a->ri->started_s);
  fprintf(f, "],\n  \"started\": \"%s\",\n", ts);
  iso_time(ts, sizeof ts, a->ri->finished_s);
  fprintf(f, "  \"finished\": \"%s\",\n  \"duration_s\": %.3f,\n  \"complete\": %s,\n", ts,
          a->ri->finished_s - a->ri->started_s, a->ri->complete ? "true" : "false");
  fprintf(f, "  \"interrupted_by\": %s,\n",
          a->ri->signal == SIGINT    ? "\"SIGINT\""
          : a->ri->signal == SIGTERM ? "\"SIGTERM\""
                                     : "null");
  fputs("  \"suite\": ", f);
  if (a->o->suite)
    cl__json_str(f, a->o->suite->name);
  else
    fputs("null", f);
  fprintf(f, ",\n  \"reps\": %u,\n  \"warmup\": %u,\n  \"quick\": %s,\n  \"cells\": %zu,\n",
          a->plan->reps, a->plan->warmup, a->o->quick ? "true" : "false", a->plan->ncells);
  char bind[256];
  cl_bind_describe(&a->o->exec, bind, sizeof bind);
  fputs("  \"bind\": ", f);
  cl__json_str(f, bind);
  fputs(",\n", f);
  cl__machine_json(f, "  ", a->o->exec.topo, a->ri);
  fputs(",\n", f);
  json_rows(f, a->plan);
  fputs("\n}\n", f);
  return 0;
}

int cl__results_write(const struct cl__plan *plan, const struct cl__options *o,
                      const struct cl__run_info *ri) {
  int err = cl__write_atomic(ri->dir, "summary.csv", fill_summary, plan);
  if (!err) err = cl__write_atomic(ri->dir, "samples.csv", fill_samples, plan);
  struct json_arg ja = {plan, o, ri};
  if (!err) err = cl__write_atomic(ri->dir, "run.json", fill_json, &ja);
  char xml[PATH_MAX];
  if (!err && o->exec.topo &&
      snprintf(xml, sizeof xml, "%s/topology.xml", ri->dir) < (int)sizeof xml)
    err = cl_topology_export_xml(o->exec.topo, xml);
  return err;
}
