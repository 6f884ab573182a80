/* Reads a run directory back (summary.csv, run.json) for the figures and the
 * report, so that `conlab plot` works on runs made by older versions. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conlab/error.h"
#include "conlab/parse.h"
#include "harness/harness.h"
#include "harness/plot.h"

enum col {
  C_WORKLOAD,
  C_KIND,
  C_EXECUTOR,
  C_WORKERS,
  C_GIL,
  C_TASKS,
  C_SIZE,
  C_DELAY,
  C_MEDIAN,
  C_CI_LOW,
  C_CI_HIGH,
  C_CV,
  C_SPEEDUP,
  C_EFFICIENCY,
  C_KARP_FLATT,
  C_MAX_RSS,
  C_CHECKSUM_OK,
  C_STATUS,
  C_WAKE_MEAN,
  C_WAKE_MAX,
  C__COUNT
};

static const char *const col_names[C__COUNT] = {
    "workload",   "kind",        "executor", "workers",      "gil",
    "tasks",      "size",        "delay_s",  "median_s",     "ci_low_s",
    "ci_high_s",  "cv",          "speedup",  "efficiency",   "karp_flatt",
    "max_rss_kb", "checksum_ok", "status",   "wake_mean_ms", "wake_max_ms"};

/* Splits a CSV line in place at commas (conlab never quotes fields). */
static size_t split(char *line, char **fields, size_t max) {
  size_t n = 0;
  line[strcspn(line, "\r\n")] = '\0';
  char *p = line;
  while (n < max) {
    fields[n++] = p;
    char *comma = strchr(p, ',');
    if (!comma) break;
    *comma = '\0';
    p = comma + 1;
  }
  return n;
}

static double field_num(char **f, size_t nf, const int *idx, enum col c) {
  if (idx[c] < 0 || (size_t)idx[c] >= nf || !*f[idx[c]]) return NAN;
  char *end;
  double v = strtod(f[idx[c]], &end);
  return *end ? NAN : v;
}

static void field_str(char **f, size_t nf, const int *idx, enum col c, char *buf, size_t len) {
  buf[0] = '\0';
  if (idx[c] >= 0 && (size_t)idx[c] < nf) snprintf(buf, len, "%s", f[idx[c]]);
}

static uint64_t to_u64(double v) {
  /* 2^64 and above do not convert (undefined behaviour); found by fuzzing. */
  return isfinite(v) && v > 0 && v < 18446744073709551616.0 ? (uint64_t)v : 0;
}

static void parse_row(struct cl__srow *r, char **f, size_t nf, const int *idx) {
  memset(r, 0, sizeof *r);
  r->py_base_median_s = NAN;
  field_str(f, nf, idx, C_WORKLOAD, r->workload, sizeof r->workload);
  field_str(f, nf, idx, C_KIND, r->kind, sizeof r->kind);
  field_str(f, nf, idx, C_EXECUTOR, r->executor, sizeof r->executor);
  field_str(f, nf, idx, C_STATUS, r->status, sizeof r->status);
  double w = field_num(f, nf, idx, C_WORKERS);
  r->workers = isfinite(w) && w >= 1 && w <= UINT_MAX ? (unsigned)w : 1;
  double g = field_num(f, nf, idx, C_GIL);
  r->gil = isfinite(g) && g != 0;
  r->tasks = to_u64(field_num(f, nf, idx, C_TASKS));
  r->size = to_u64(field_num(f, nf, idx, C_SIZE));
  r->delay_s = field_num(f, nf, idx, C_DELAY);
  r->median_s = field_num(f, nf, idx, C_MEDIAN);
  r->ci_low_s = field_num(f, nf, idx, C_CI_LOW);
  r->ci_high_s = field_num(f, nf, idx, C_CI_HIGH);
  r->cv = field_num(f, nf, idx, C_CV);
  r->speedup = field_num(f, nf, idx, C_SPEEDUP);
  r->efficiency = field_num(f, nf, idx, C_EFFICIENCY);
  r->karp_flatt = field_num(f, nf, idx, C_KARP_FLATT);
  r->max_rss_kb = field_num(f, nf, idx, C_MAX_RSS);
  r->wake_mean_ms = field_num(f, nf, idx, C_WAKE_MEAN);
  r->wake_max_ms = field_num(f, nf, idx, C_WAKE_MAX);
  if (!isfinite(r->wake_mean_ms) || !isfinite(r->wake_max_ms) || r->wake_mean_ms < 0 ||
      r->wake_max_ms < r->wake_mean_ms)
    r->wake_mean_ms = r->wake_max_ms = NAN; /* both, consistent, or neither */
  double ok = field_num(f, nf, idx, C_CHECKSUM_OK);
  r->checksum_ok = idx[C_CHECKSUM_OK] < 0 || (isfinite(ok) && ok != 0);
  bool status_ok = idx[C_STATUS] < 0 || strcmp(r->status, "ok") == 0;
  r->ok = status_ok && r->checksum_ok && isfinite(r->median_s) && r->median_s > 0;
}

/* CPython rows are compared with py.sequential, not with C's sequential
 * (CPython is tens of times slower than C at the same work): the GIL story is
 * py.threads against py.sequential. Rows of a group without py.sequential
 * keep the speedup summary.csv gives. */
static void rebase_python(struct cl__summary_csv *s) {
  for (size_t i = 0; i < s->n; i++) {
    struct cl__srow *r = &s->rows[i];
    if (strncmp(r->executor, "py.", 3) != 0 || !r->ok) continue;
    for (size_t k = 0; k < s->n; k++) {
      const struct cl__srow *b = &s->rows[k];
      if (b->ok && !b->gil && strcmp(b->executor, "py.sequential") == 0 &&
          strcmp(b->workload, r->workload) == 0 && b->tasks == r->tasks && b->size == r->size) {
        r->speedup = cl_speedup(b->median_s, r->median_s);
        r->efficiency = cl_efficiency(r->speedup, r->workers);
        r->karp_flatt = cl_karp_flatt(r->speedup, r->workers);
        r->py_base_median_s = b->median_s;
        break;
      }
    }
  }
}

int cl__summary_read(const char *dir, struct cl__summary_csv *s) {
  memset(s, 0, sizeof *s);
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/summary.csv", dir) >= (int)sizeof path)
    return cl_error_set(CL_ERANGE, "path too long: %s", dir);
  FILE *f = fopen(path, "r");
  if (!f) return cl_error_set(CL_ENOENT, "%s: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  char *fields[64];
  int idx[C__COUNT];
  int err = 0;
  size_t alloc = 0;
  if (getline(&line, &cap, f) < 0) {
    err = cl_error_set(CL_EINVAL, "%s is empty", path);
    goto out;
  }
  size_t nh = split(line, fields, 64);
  for (int c = 0; c < C__COUNT; c++) {
    idx[c] = -1;
    for (size_t k = 0; k < nh; k++)
      if (strcmp(fields[k], col_names[c]) == 0) idx[c] = (int)k;
  }
  if (idx[C_WORKLOAD] < 0 || idx[C_EXECUTOR] < 0 || idx[C_MEDIAN] < 0) {
    err = cl_error_set(CL_EINVAL,
                       "%s is not a conlab summary (no workload, executor and "
                       "median_s columns)",
                       path);
    goto out;
  }
  while (getline(&line, &cap, f) >= 0) {
    if (line[0] == '\n' || line[0] == '\0') continue;
    if (s->n == alloc) {
      size_t na = alloc ? 2 * alloc : 64;
      struct cl__srow *nr = realloc(s->rows, na * sizeof *nr);
      if (!nr) {
        err = cl_error_set(CL_ENOMEM, "reading %s", path);
        goto out;
      }
      s->rows = nr;
      alloc = na;
    }
    size_t nf = split(line, fields, 64);
    parse_row(&s->rows[s->n], fields, nf, idx);
    if (s->rows[s->n].workload[0] && s->rows[s->n].executor[0]) s->n++;
  }
out:
  free(line);
  fclose(f);
  if (err)
    cl__summary_free(s);
  else
    rebase_python(s);
  return err;
}

void cl__summary_free(struct cl__summary_csv *s) {
  free(s->rows);
  s->rows = NULL;
  s->n = 0;
}

/* ---- run.json: the few members the report shows, found by key. ---- */

/* Returns a pointer just past `"key":` at or after `from`, or NULL. */
static const char *json_key(const char *from, const char *key) {
  size_t kl = strlen(key);
  for (const char *p = from; p && (p = strchr(p, '"')) != NULL; p++) {
    if (strncmp(p + 1, key, kl) == 0 && p[kl + 1] == '"') {
      const char *q = p + kl + 2;
      while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
        q++;
      if (*q == ':') {
        q++;
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
          q++;
        return q;
      }
    }
  }
  return NULL;
}

/* Decodes a JSON string at p into buf; returns the position after it. */
static const char *json_string(const char *p, char *buf, size_t len) {
  size_t n = 0;
  if (len) buf[0] = '\0';
  if (!p || *p != '"') return p;
  for (p++; *p && *p != '"'; p++) {
    char ch = *p;
    if (ch == '\\' && p[1]) {
      p++;
      ch = *p == 'n' ? ' ' : *p == 't' ? ' ' : *p == 'u' ? '?' : *p;
      if (*p == 'u')
        for (int k = 0; k < 4 && p[1]; k++)
          p++;
    }
    if (n + 1 < len) buf[n++] = ch;
  }
  if (len) buf[n] = '\0';
  return *p ? p + 1 : p;
}

static void json_get_str(const char *from, const char *key, char *buf, size_t len) {
  buf[0] = '\0';
  const char *p = json_key(from, key);
  if (p && *p == '"') json_string(p, buf, len);
}

static double json_get_num(const char *from, const char *key) {
  const char *p = json_key(from, key);
  if (!p) return NAN;
  char *end;
  double v = strtod(p, &end);
  return end == p ? NAN : v;
}

static bool json_get_bool(const char *from, const char *key) {
  const char *p = json_key(from, key);
  return p && strncmp(p, "true", 4) == 0;
}

/* Appends a word to a shell-like command line, quoting it when needed. */
static void append_word(char *buf, size_t len, const char *w) {
  size_t n = strlen(buf);
  bool plain = *w != '\0';
  for (const char *c = w; *c; c++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/=:+%@", *c))
      plain = false;
  snprintf(buf + n, len - n, "%s%s%s%s", n ? " " : "", plain ? "" : "'", w, plain ? "" : "'");
}

static void json_command(const char *text, char *buf, size_t len) {
  buf[0] = '\0';
  const char *p = json_key(text, "command");
  if (!p || *p != '[') return;
  p++;
  while (*p && *p != ']') {
    if (*p == '"') {
      char word[512];
      p = json_string(p, word, sizeof word);
      append_word(buf, len, word);
    } else {
      p++;
    }
  }
}

/* "NAME=value, ..." for the environment members that are strings. */
static void json_environment(const char *text, char *buf, size_t len) {
  buf[0] = '\0';
  const char *p = json_key(text, "environment");
  if (!p || *p != '{') return;
  const char *end = strchr(p, '}');
  p++;
  while (p && end && p < end) {
    p = strchr(p, '"');
    if (!p || p >= end) break;
    char name[64], value[192];
    p = json_string(p, name, sizeof name);
    while (*p == ' ' || *p == ':')
      p++;
    if (*p == '"') {
      p = json_string(p, value, sizeof value);
      size_t n = strlen(buf);
      snprintf(buf + n, len - n, "%s%s=%s", n ? ", " : "", name, value);
    }
  }
}

/* The value of --switch-interval in a command line, in ms, or NaN. */
static double command_switch_interval(const char *command) {
  const char *p = strstr(command, "--switch-interval");
  if (!p) return NAN;
  p += strlen("--switch-interval");
  if (*p != '=' && *p != ' ') return NAN;
  p += strspn(p + 1, "'") + 1;
  char v[64];
  size_t n = strcspn(p, "' ");
  if (n == 0 || n >= sizeof v) return NAN;
  memcpy(v, p, n);
  v[n] = '\0';
  uint64_t ns;
  if (cl_parse_duration(v, 1000, 10ULL * 1000000000ULL, &ns) != 0) return NAN;
  return (double)ns / 1e6;
}

static char *read_file(const char *path, size_t max) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char *buf = malloc(max + 1);
  size_t n = buf ? fread(buf, 1, max, f) : 0;
  fclose(f);
  if (buf) buf[n] = '\0';
  return buf;
}

void cl__run_meta_read(const char *dir, struct cl__run_meta *m) {
  memset(m, 0, sizeof *m);
  m->duration_s = NAN;
  m->memory_bytes = NAN;
  m->switch_interval_ms = NAN;
  const char *slash = strrchr(dir, '/');
  while (slash && slash[1] == '\0' && slash > dir) { /* "dir/" */
    const char *q = slash - 1;
    while (q > dir && *q != '/')
      q--;
    slash = *q == '/' ? q : NULL;
  }
  snprintf(m->run_id, sizeof m->run_id, "%s", slash ? slash + 1 : dir);
  m->run_id[strcspn(m->run_id, "/")] = '\0';
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/run.json", dir) >= (int)sizeof path) return;
  char *text = read_file(path, 1 << 20);
  if (!text) return;
  if (!json_key(text, "machine") && !json_key(text, "run_id")) {
    free(text);
    return;
  }
  m->have_json = true;
  char id[128];
  json_get_str(text, "run_id", id, sizeof id);
  if (id[0]) snprintf(m->run_id, sizeof m->run_id, "%s", id);
  json_get_str(text, "started", m->started, sizeof m->started);
  json_get_str(text, "suite", m->suite, sizeof m->suite);
  json_command(text, m->command, sizeof m->command);
  m->duration_s = json_get_num(text, "duration_s");
  m->quick = json_get_bool(text, "quick");
  m->complete = json_get_bool(text, "complete");
  /* Every GIL row with a wakeup latency names the one interval of the run;
   * else the command line may. */
  double si = json_get_num(text, "switch_interval_ms");
  if (isfinite(si) && si > 0)
    m->switch_interval_ms = si;
  else
    m->switch_interval_ms = command_switch_interval(m->command);
  const char *mach = json_key(text, "machine");
  if (mach) {
    json_get_str(mach, "cpu_model", m->cpu_model, sizeof m->cpu_model);
    json_get_str(mach, "kernel", m->kernel, sizeof m->kernel);
    json_get_str(mach, "governor", m->governor, sizeof m->governor);
    double v = json_get_num(mach, "online_cpus");
    m->online_cpus = isfinite(v) && v >= 1 && v < 1e6 ? (unsigned)v : 0;
    v = json_get_num(mach, "physical_cores");
    m->physical_cores = isfinite(v) && v >= 1 && v < 1e6 ? (unsigned)v : 0;
    m->memory_bytes = json_get_num(mach, "memory_bytes");
    const char *la = json_key(mach, "loadavg_at_start");
    if (la && *la == '[') {
      size_t n = strcspn(la + 1, "]");
      snprintf(m->loadavg, sizeof m->loadavg, "%.*s", (int)n, la + 1);
    }
  }
  const char *comp = json_key(text, "compiler");
  if (comp) {
    json_get_str(comp, "version", m->compiler, sizeof m->compiler);
    json_get_str(comp, "build_type", m->build_type, sizeof m->build_type);
    json_get_str(comp, "flags", m->flags, sizeof m->flags);
  }
  json_environment(text, m->environment, sizeof m->environment);
  free(text);
}

unsigned cl__plot_cores(const struct cl__run_meta *m) {
  if (m->physical_cores) return m->physical_cores;
  if (m->online_cpus) return m->online_cpus;
  return cl__online_cpus();
}

/* ---- Selections shared by the figures and the report. ---- */

bool cl__main_group(const struct cl__summary_csv *s, const char *workload, uint64_t *tasks,
                    uint64_t *size) {
  bool found = false;
  for (size_t i = 0; i < s->n; i++) {
    const struct cl__srow *r = &s->rows[i];
    if (strcmp(r->workload, workload) != 0) continue;
    if (!found || r->size > *size || (r->size == *size && r->tasks > *tasks)) {
      *size = r->size;
      *tasks = r->tasks;
    }
    found = true;
  }
  return found;
}

static bool in_group(const struct cl__srow *r, const char *workload, uint64_t tasks,
                     uint64_t size) {
  return strcmp(r->workload, workload) == 0 && r->tasks == tasks && r->size == size;
}

const struct cl__srow *cl__best_row(const struct cl__summary_csv *s, const char *workload,
                                    const char *executor, bool gil, uint64_t tasks, uint64_t size) {
  const struct cl__srow *best = NULL;
  for (size_t i = 0; i < s->n; i++) {
    const struct cl__srow *r = &s->rows[i];
    if (!r->ok || !isfinite(r->speedup) || r->gil != gil || strcmp(r->executor, executor) != 0 ||
        !in_group(r, workload, tasks, size))
      continue;
    if (!best || r->speedup > best->speedup) best = r;
  }
  return best;
}

const struct cl__srow *cl__baseline_row(const struct cl__summary_csv *s, const char *workload,
                                        uint64_t tasks, uint64_t size) {
  for (size_t i = 0; i < s->n; i++) {
    const struct cl__srow *r = &s->rows[i];
    if (r->ok && !r->gil && strcmp(r->executor, "sequential") == 0 &&
        in_group(r, workload, tasks, size))
      return r;
  }
  return NULL;
}

static const char *const known_order[] = {
    "sequential",    "threads",    "thread_pool",    "process_pool",    "event_loop",   "openmp",
    "py.sequential", "py.threads", "py.thread_pool", "py.process_pool", "py.event_loop"};
#define NKNOWN (sizeof known_order / sizeof known_order[0])

size_t cl__executor_order(const struct cl__summary_csv *s, const char **names, size_t max) {
  size_t n = 0;
  for (size_t k = 0; k < NKNOWN && n < max; k++)
    for (size_t i = 0; i < s->n; i++)
      if (strcmp(s->rows[i].executor, known_order[k]) == 0) {
        names[n++] = s->rows[i].executor;
        break;
      }
  for (size_t i = 0; i < s->n && n < max; i++) {
    bool seen = false;
    for (size_t k = 0; k < NKNOWN && !seen; k++)
      seen = strcmp(s->rows[i].executor, known_order[k]) == 0;
    for (size_t k = 0; k < n && !seen; k++)
      seen = strcmp(s->rows[i].executor, names[k]) == 0;
    if (!seen) names[n++] = s->rows[i].executor;
  }
  return n;
}

const char *cl__convoy_workload(const struct cl__summary_csv *s) {
  const char *w = NULL;
  for (size_t i = 0; i < s->n; i++) {
    const struct cl__srow *r = &s->rows[i];
    if (strcmp(r->kind, "probe") != 0 || !isfinite(r->wake_mean_ms)) continue;
    if (strcmp(r->workload, "probe.convoy") == 0) return r->workload;
    if (!w) w = r->workload;
  }
  return w;
}

size_t cl__convoy_rows(const struct cl__summary_csv *s, const struct cl__srow **out, size_t max) {
  const char *w = cl__convoy_workload(s);
  uint64_t tasks = 0, size = 0;
  if (!w || !cl__main_group(s, w, &tasks, &size)) return 0;
  const char *ex[64];
  size_t ne = cl__executor_order(s, ex, 64), n = 0;
  /* Passes: C without the GIL, C under it, CPython. */
  for (int pass = 0; pass < 3; pass++) {
    for (size_t e = 0; e < ne && n < max; e++) {
      bool py = strncmp(ex[e], "py.", 3) == 0;
      if (py != (pass == 2)) continue;
      const struct cl__srow *pick = NULL;
      for (size_t i = 0; i < s->n; i++) {
        const struct cl__srow *r = &s->rows[i];
        if (!r->ok || !isfinite(r->wake_mean_ms) || r->gil != (pass == 1) ||
            strcmp(r->executor, ex[e]) != 0 || strcmp(r->workload, w) != 0 ||
            (!py && (r->tasks != tasks || r->size != size)))
          continue;
        if (!pick || r->workers > pick->workers) pick = r;
      }
      if (pick) out[n++] = pick;
    }
  }
  return n;
}

void cl__group_note(char *buf, size_t len, const struct cl__summary_csv *s, const char *w,
                    uint64_t tasks, uint64_t size) {
  bool sizes = false, counts = false;
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->rows[i].workload, w) != 0) continue;
    sizes = sizes || s->rows[i].size != size;
    counts = counts || s->rows[i].tasks != tasks;
  }
  if (sizes && counts)
    snprintf(buf, len, "size %llu, %llu tasks", (unsigned long long)size,
             (unsigned long long)tasks);
  else if (sizes)
    snprintf(buf, len, "size %llu", (unsigned long long)size);
  else if (counts)
    snprintf(buf, len, "%llu tasks", (unsigned long long)tasks);
  else if (len)
    buf[0] = '\0';
}

bool cl__beats_sequential(const struct cl__srow *r, double base_s) {
  return isfinite(r->speedup) && r->speedup >= 1.1 && isfinite(r->ci_high_s) && r->ci_high_s > 0 &&
         base_s / r->ci_high_s > 1.0;
}

double cl__row_base_s(const struct cl__srow *r, const struct cl__srow *seq) {
  if (isfinite(r->py_base_median_s)) return r->py_base_median_s;
  return seq ? seq->median_s : NAN;
}

bool cl__executor_fixed(const char *name) {
  static const char *const fixed[] = {"sequential", "threads", "py.sequential", "py.threads",
                                      "py.event_loop"};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    if (strcmp(name, fixed[i]) == 0) return true;
  return false;
}

bool cl__executor_all_in_flight(const char *name) {
  if (strncmp(name, "py.", 3) == 0) name += 3;
  return strcmp(name, "threads") == 0 || strcmp(name, "event_loop") == 0;
}

const struct cl__srow *cl__story_row(const struct cl__summary_csv *s, const char *workload,
                                     const char *executor, bool gil, uint64_t tasks,
                                     uint64_t size) {
  if (strcmp(executor, "event_loop") == 0)
    for (size_t i = 0; i < s->n; i++) {
      const struct cl__srow *r = &s->rows[i];
      if (r->ok && isfinite(r->speedup) && r->workers == 1 && r->gil == gil &&
          strcmp(r->executor, executor) == 0 && in_group(r, workload, tasks, size))
        return r;
    }
  const struct cl__srow *best = cl__best_row(s, workload, executor, gil, tasks, size);
  if (best || strncmp(executor, "py.", 3) != 0) return best;
  /* CPython rows run on a Python-sized task list of their own (the story's
   * second part), with speedups against py.sequential in that list, so the
   * panel may take them from any task list of the workload. */
  for (size_t i = 0; i < s->n; i++) {
    const struct cl__srow *r = &s->rows[i];
    if (r->ok && isfinite(r->speedup) && r->gil == gil && strcmp(r->executor, executor) == 0 &&
        strcmp(r->workload, workload) == 0 && (!best || r->speedup > best->speedup))
      best = r;
  }
  return best;
}

void cl__fmt_duration(char *buf, size_t len, double s) {
  if (!isfinite(s))
    snprintf(buf, len, "-");
  else if (s >= 1.0)
    snprintf(buf, len, "%.3g s", s);
  else if (s >= 1e-3)
    snprintf(buf, len, "%.3g ms", s * 1e3);
  else if (s >= 1e-6)
    snprintf(buf, len, "%.3g \xc2\xb5s", s * 1e6);
  else
    snprintf(buf, len, "%.3g ns", s * 1e9);
}
