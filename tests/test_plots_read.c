/* Reading a run directory back for the figures and the report: summary.csv by
 * column name (older or foreign files), run.json, the selections the figures
 * share, cl__plot_run_dir without gnuplot on PATH, and the convoy probe's
 * rows (wakeup latency, switch interval) in the data, the figures and the
 * report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl_test.h"
#include "conlab/error.h"
#include "harness/harness.h"
#include "harness/plot.h"

static char root[256];

static void write_file(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static char *read_all(const char *dir, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 20);
  if (buf) buf[fread(buf, 1, (1 << 20) - 1, f)] = '\0';
  fclose(f);
  return buf;
}

static void make_dir(char *out, size_t len, const char *name) {
  snprintf(out, len, "%s/%s", root, name);
  CHECK(mkdir(out, 0755) == 0);
}

/* Columns reordered, some missing (karp_flatt, cv, ...), one unknown. */
static const char *const summary =
    "kind,workload,executor,workers,gil,tasks,size,median_s,ci_low_s,ci_high_s,speedup,"
    "efficiency,status,extra\n"
    "cpu,cpu.sumsq,sequential,1,0,8,1000,0.2,0.19,0.21,1.0,1.0,ok,x\n"
    "cpu,cpu.sumsq,mystery,2,0,8,1000,0.05,0.05,0.05,4.0,2.0,ok,x\n"
    "cpu,cpu.sumsq,thread_pool,1,0,8,1000,0.2,0.19,0.21,1.0,1.0,ok,x\n"
    "cpu,cpu.sumsq,thread_pool,2,0,8,1000,0.1,0.09,0.11,2.0,1.0,ok,x\n"
    "cpu,cpu.sumsq,threads,8,0,8,1000,0.1,0.1,0.1,2.0,,ok,x\n"
    "cpu,cpu.sumsq,thread_pool,2,1,8,1000,0.2,0.2,0.2,1.0,0.5,ok,x\n"
    "cpu,cpu.sumsq,thread_pool,4,0,8,1000,,,,,,CL_EWORKER,x\n"
    "cpu,cpu.sumsq,py.process_pool,2,0,8,1000,5,4.5,5.5,0.04,0.02,ok,x\n"
    "cpu,cpu.sumsq,py.sequential,1,0,8,1000,10,10,10,0.02,0.02,ok,x\n"
    "cpu,cpu.sumsq,sequential,1,0,8,10,0.002,0.002,0.002,1,1,ok,x\n"
    "cpu,cpu.sumsq,thread_pool,2,0,16,10,0.002,0.002,0.002,1,1,ok,x\n";

static const char *const run_json =
    "{\n  \"conlab_version\": \"0.1.0\",\n  \"run_id\": \"r1\",\n"
    "  \"command\": [\"conlab\", \"run\", \"--size\", \"10,1000\", \"--out\", \"a b\"],\n"
    "  \"started\": \"2026-01-01T00:00:00Z\",\n  \"duration_s\": 12.5,\n"
    "  \"complete\": true,\n  \"suite\": null,\n  \"quick\": false,\n"
    "  \"machine\": {\n    \"cpu_model\": \"Test \\\"CPU\\\"\",\n    \"online_cpus\": 4,\n"
    "    \"memory_bytes\": 8589934592,\n    \"kernel\": \"Linux 6\",\n    \"governor\": null,\n"
    "    \"loadavg_at_start\": [0.10, 0.20, 0.30]\n  },\n"
    "  \"compiler\": {\n    \"version\": \"12.2.0\",\n    \"build_type\": \"Release\",\n"
    "    \"flags\": \"-O2\"\n  },\n"
    "  \"environment\": {\n    \"OMP_WAIT_POLICY\": \"passive\",\n    \"OMP_SCHEDULE\": null\n  }\n"
    "}\n";

static void test_summary(void) {
  char dir[512];
  make_dir(dir, sizeof dir, "run");
  write_file(dir, "summary.csv", summary);
  struct cl__summary_csv s;
  CHECK_EQ_INT(cl__summary_read(dir, &s), 0);
  CHECK_EQ_U64(s.n, 11);
  if (s.n != 11) return;
  const struct cl__srow *r = &s.rows[3];
  CHECK_STR(r->workload, "cpu.sumsq");
  CHECK_STR(r->kind, "cpu");
  CHECK_STR(r->executor, "thread_pool");
  CHECK_EQ_INT(r->workers, 2);
  CHECK(!r->gil && r->ok && r->checksum_ok);
  CHECK_EQ_U64(r->tasks, 8);
  CHECK_EQ_U64(r->size, 1000);
  CHECK_NEAR(r->median_s, 0.1, 1e-12);
  CHECK_NEAR(r->ci_high_s, 0.11, 1e-12);
  CHECK(isnan(r->karp_flatt) && isnan(r->cv) && isnan(r->delay_s));
  CHECK(isnan(r->wake_mean_ms) && isnan(r->wake_max_ms)); /* no such columns */
  CHECK(cl__convoy_workload(&s) == NULL);
  const struct cl__srow *none[4];
  CHECK_EQ_U64(cl__convoy_rows(&s, none, 4), 0);
  CHECK(isnan(s.rows[4].efficiency));
  CHECK(!s.rows[6].ok);
  CHECK_STR(s.rows[6].status, "CL_EWORKER");
  /* CPython rows are rebased on py.sequential: 10 s / 5 s. */
  CHECK_NEAR(s.rows[7].speedup, 2.0, 1e-12);
  CHECK_NEAR(s.rows[7].efficiency, 1.0, 1e-12);
  CHECK_NEAR(cl__row_base_s(&s.rows[7], &s.rows[0]), 10.0, 1e-12);
  CHECK_NEAR(cl__row_base_s(&s.rows[3], &s.rows[0]), 0.2, 1e-12);

  uint64_t tasks = 0, size = 0;
  CHECK(cl__main_group(&s, "cpu.sumsq", &tasks, &size));
  CHECK_EQ_U64(size, 1000);
  CHECK_EQ_U64(tasks, 8);
  CHECK(!cl__main_group(&s, "io.sleep", &tasks, &size));
  const struct cl__srow *b = cl__best_row(&s, "cpu.sumsq", "thread_pool", false, 8, 1000);
  CHECK(b == &s.rows[3]);
  b = cl__best_row(&s, "cpu.sumsq", "thread_pool", true, 8, 1000);
  CHECK(b == &s.rows[5]);
  CHECK(cl__best_row(&s, "cpu.sumsq", "openmp", false, 8, 1000) == NULL);
  CHECK(cl__baseline_row(&s, "cpu.sumsq", 8, 1000) == &s.rows[0]);
  CHECK(cl__baseline_row(&s, "cpu.sumsq", 16, 10) == NULL);

  const char *names[16];
  size_t n = cl__executor_order(&s, names, 16);
  CHECK_EQ_U64(n, 6);
  if (n == 6) {
    CHECK_STR(names[0], "sequential");
    CHECK_STR(names[1], "threads");
    CHECK_STR(names[2], "thread_pool");
    CHECK_STR(names[3], "py.sequential");
    CHECK_STR(names[4], "py.process_pool");
    CHECK_STR(names[5], "mystery");
  }
  CHECK(cl__executor_fixed("threads") && cl__executor_fixed("py.event_loop"));
  CHECK(!cl__executor_fixed("thread_pool") && !cl__executor_fixed("py.process_pool"));

  char note[64];
  cl__group_note(note, sizeof note, &s, "cpu.sumsq", 8, 1000);
  CHECK_STR(note, "size 1000, 8 tasks");
  cl__summary_free(&s);
  CHECK(s.rows == NULL && s.n == 0);

  /* A single group needs no note. */
  write_file(
      dir, "summary.csv",
      "workload,executor,median_s,tasks,size\nnoop,sequential,0.1,5,0\nnoop,threads,0.1,5,0\n");
  CHECK_EQ_INT(cl__summary_read(dir, &s), 0);
  cl__group_note(note, sizeof note, &s, "noop", 5, 0);
  CHECK_STR(note, "");
  CHECK(s.n == 2 && s.rows[1].ok && s.rows[1].workers == 1);
  cl__summary_free(&s);

  /* Not a summary, empty, missing. */
  write_file(dir, "summary.csv", "a,b,c\n1,2,3\n");
  CHECK_EQ_INT(cl__summary_read(dir, &s), CL_EINVAL);
  write_file(dir, "summary.csv", "");
  CHECK_EQ_INT(cl__summary_read(dir, &s), CL_EINVAL);
  char missing[512];
  snprintf(missing, sizeof missing, "%s/nowhere", root);
  CHECK_EQ_INT(cl__summary_read(missing, &s), CL_ENOENT);
}

static void test_meta(void) {
  char dir[512];
  make_dir(dir, sizeof dir, "meta");
  struct cl__run_meta m;
  cl__run_meta_read(dir, &m);
  CHECK(!m.have_json);
  CHECK_STR(m.run_id, "meta");
  write_file(dir, "run.json", run_json);
  cl__run_meta_read(dir, &m);
  CHECK(m.have_json && m.complete && !m.quick);
  CHECK_STR(m.run_id, "r1");
  CHECK_STR(m.command, "conlab run --size 10,1000 --out 'a b'");
  CHECK_STR(m.cpu_model, "Test \"CPU\"");
  CHECK_STR(m.kernel, "Linux 6");
  CHECK_STR(m.governor, "");
  CHECK_EQ_INT(m.online_cpus, 4);
  CHECK_EQ_INT(m.physical_cores, 0);
  CHECK_EQ_INT(cl__plot_cores(&m), 4);
  CHECK_NEAR(m.memory_bytes, 8589934592.0, 1);
  CHECK_NEAR(m.duration_s, 12.5, 1e-9);
  CHECK_STR(m.loadavg, "0.10, 0.20, 0.30");
  CHECK_STR(m.compiler, "12.2.0");
  CHECK_STR(m.build_type, "Release");
  CHECK_STR(m.flags, "-O2");
  CHECK_STR(m.environment, "OMP_WAIT_POLICY=passive");
  CHECK(isnan(m.switch_interval_ms)); /* neither the rows nor the command name one */
  m.physical_cores = 2;
  CHECK_EQ_INT(cl__plot_cores(&m), 2);
}

/* The convoy probe: wake_max_ms before wake_mean_ms (read by name), a C
 * group and a CPython group, rows without a wakeup latency or with an
 * inconsistent one, a non-probe workload that measured one too. */
static const char *const convoy_summary =
    "workload,kind,executor,workers,gil,tasks,size,delay_s,median_s,ci_low_s,ci_high_s,speedup,"
    "status,wake_max_ms,wake_mean_ms\n"
    "cpu.sumsq,cpu,sequential,1,0,8,1000,0,0.2,0.19,0.21,1.0,ok,,\n"
    "cpu.sumsq,cpu,threads,8,0,8,1000,0,0.1,0.1,0.1,2.0,ok,,\n"
    "probe.convoy,probe,sequential,1,0,21,600000000,0.001,0.2,0.2,0.2,1,ok,0.09,0.08\n"
    "probe.convoy,probe,threads,21,0,21,600000000,0.001,0.19,0.19,0.19,1.05,ok,0.3,0.15\n"
    "probe.convoy,probe,threads,21,1,21,600000000,0.001,0.19,0.19,0.19,1.05,ok,20,8\n"
    "probe.convoy,probe,thread_pool,1,0,21,600000000,0.001,0.2,0.2,0.2,1,ok,0.09,0.08\n"
    "probe.convoy,probe,thread_pool,2,0,21,600000000,0.001,0.19,0.19,0.19,1.05,ok,0.08,0.07\n"
    "probe.convoy,probe,thread_pool,1,1,21,600000000,0.001,0.2,0.2,0.2,1,ok,0.1,0.08\n"
    "probe.convoy,probe,thread_pool,2,1,21,600000000,0.001,0.19,0.19,0.19,1.05,ok,5.4,5.1\n"
    "probe.convoy,probe,thread_pool,4,1,21,600000000,0.001,,,,,CL_EWORKER,,\n"
    "probe.convoy,probe,sequential,1,0,21,6000000,0.001,0.02,0.02,0.02,1,ok,0.08,0.07\n"
    "probe.convoy,probe,py.sequential,1,0,21,6000000,0.001,0.22,0.22,0.22,0.1,ok,0.1,0.08\n"
    "probe.convoy,probe,py.threads,21,0,21,6000000,0.001,0.19,0.19,0.19,0.1,ok,8.3,5.3\n"
    "probe.convoy,probe,py.thread_pool,1,0,21,6000000,0.001,0.2,0.2,0.2,0.1,ok,3,5\n"
    "probe.convoy,probe,py.thread_pool,2,0,21,6000000,0.001,0.2,0.2,0.2,0.1,ok,,\n"
    "mixed.request,mixed,threads,16,1,16,0,0.001,0.1,0.1,0.1,3,ok,9,4.8\n";

static void test_convoy(void) {
  char dir[512], bin[512];
  make_dir(dir, sizeof dir, "convoy");
  make_dir(bin, sizeof bin, "empty-bin-convoy");
  write_file(dir, "summary.csv", convoy_summary);
  struct cl__summary_csv s;
  CHECK_EQ_INT(cl__summary_read(dir, &s), 0);
  CHECK_EQ_U64(s.n, 16);
  if (s.n != 16) return;
  CHECK(isnan(s.rows[0].wake_mean_ms) && isnan(s.rows[0].wake_max_ms));
  CHECK_NEAR(s.rows[4].wake_mean_ms, 8.0, 1e-12);
  CHECK_NEAR(s.rows[4].wake_max_ms, 20.0, 1e-12);
  CHECK(isnan(s.rows[13].wake_mean_ms) && isnan(s.rows[13].wake_max_ms)); /* max < mean */
  CHECK(isnan(s.rows[14].wake_mean_ms));
  CHECK_STR(cl__convoy_workload(&s), "probe.convoy");
  /* C without the GIL, C under it (most workers each), CPython; the
   * sequential of the CPython group and the rows without a latency left out. */
  const struct cl__srow *rows[16];
  size_t n = cl__convoy_rows(&s, rows, 16);
  CHECK_EQ_U64(n, 7);
  const size_t want[7] = {2, 3, 6, 4, 8, 11, 12};
  for (size_t i = 0; i < n && i < 7; i++)
    CHECK_EQ_U64((size_t)(rows[i] - s.rows), want[i]);
  CHECK_EQ_U64(cl__convoy_rows(&s, rows, 2), 2); /* at most max */
  cl__summary_free(&s);

  /* The switch interval: from the rows of run.json, else the command. */
  struct cl__run_meta m;
  write_file(dir, "run.json",
             "{\"run_id\": \"c1\", \"command\": [\"conlab\", \"run\", \"--switch-interval\", "
             "\"3ms\"],\n \"rows\": [{\"workload\": \"probe.convoy\", \"wakeup_latency\": "
             "{\"mean_ms\": 8.0, \"switch_interval_ms\": 2.000}}]}\n");
  cl__run_meta_read(dir, &m);
  CHECK(m.have_json);
  CHECK_NEAR(m.switch_interval_ms, 2.0, 1e-12);
  write_file(dir, "run.json",
             "{\"run_id\": \"c1\", \"command\": [\"conlab\", \"run\", "
             "\"--switch-interval=3ms\"]}\n");
  cl__run_meta_read(dir, &m);
  CHECK_NEAR(m.switch_interval_ms, 3.0, 1e-12);
  write_file(dir, "run.json",
             "{\"run_id\": \"c1\", \"command\": [\"conlab\", \"run\", \"--switch-interval\", "
             "\"soon\"]}\n");
  cl__run_meta_read(dir, &m);
  CHECK(isnan(m.switch_interval_ms));

  /* The figures' data and the report, without gnuplot. */
  write_file(dir, "run.json",
             "{\"run_id\": \"c1\", \"machine\": {\"online_cpus\": 2},\n \"rows\": "
             "[{\"wakeup_latency\": {\"mean_ms\": 8.0, \"switch_interval_ms\": 2.000}}]}\n");
  setenv("PATH", bin, 1);
  unsetenv("CONLAB_PLOTS_DIR");
  FILE *msg = tmpfile();
  CHECK(msg != NULL);
  if (!msg) return;
  CHECK_EQ_INT(cl__plot_run_dir(dir, msg), 0);
  fclose(msg);
  char pdir[600];
  snprintf(pdir, sizeof pdir, "%s/plots", dir);
  char *vars = read_all(pdir, "convoy.vars");
  CHECK(vars && strstr(vars, "np = 1\n") && strstr(vars, "ns = 7\n"));
  CHECK(vars && strstr(vars, "pf[1] = 2;"));
  CHECK(vars && strstr(vars, "pextra[1] = 5\n")); /* CPython's own interval differs */
  CHECK(vars && strstr(vars, "pkind[1] = \"convoy\""));
  CHECK(vars && strstr(vars, "ptitle[1] = \"probe.convoy: 20 I/O tasks wake after 1 ms beside "
                             "one CPU-bound task\""));
  CHECK(vars && strstr(vars, "stitle[5] = \"thread_pool + GIL\"; snote[5] = \"2 workers\""));
  CHECK(vars && strstr(vars, "stitle[7] = \"py.threads\"; snote[7] = \"\""));
  CHECK(vars && strstr(vars, "svariant[4] = 1") && strstr(vars, "svariant[6] = 2"));
  free(vars);
  char *dat = read_all(pdir, "convoy.dat");
  CHECK(dat && strstr(dat, "\n4 8 8 20 NaN\n")); /* threads + GIL: mean 8 ms, largest 20 */
  free(dat);
  vars = read_all(pdir, "story.vars");
  CHECK(vars && strstr(vars, "np = 2\n") && strstr(vars, "pkind[2] = \"convoy\""));
  CHECK(vars && strstr(vars, "ptitle[2] = \"Convoy: probe.convoy\""));
  free(vars);
  /* Probes have no speedup or granularity panel (two sizes notwithstanding). */
  vars = read_all(pdir, "speedup.vars");
  CHECK(vars && strstr(vars, "np = 1\n") && !strstr(vars, "probe"));
  free(vars);
  vars = read_all(pdir, "granularity.vars");
  CHECK(vars && strstr(vars, "np = 0\n"));
  free(vars);
  char *report = read_all(dir, "report.md");
  CHECK(report && strstr(report, "- The convoy (`probe.convoy`: 20 I/O tasks wake after 1 ms "
                                 "beside one CPU-bound task): with the emulated GIL (switch "
                                 "interval 2 ms) a wakeup waited 8 ms under `threads` and 5.1 ms "
                                 "under `thread_pool` (2 workers); without it 150 \xc2\xb5s under "
                                 "`threads` and 70 \xc2\xb5s under `thread_pool` (2 workers); "
                                 "under CPython's own GIL (switch interval 5 ms) 5.3 ms under "
                                 "`py.threads`."));
  CHECK(report && strstr(report, "(the convoy effect)"));
  CHECK(report &&
        strstr(report, "With nothing beside it (`sequential`) a wakeup took 80 \xc2\xb5s."));
  CHECK(report && !strstr(report, "On `probe.convoy`")); /* no speedup bullet for a probe */
  free(report);

  /* No convoy: the GIL rows' latency far below the interval. */
  char *text = strdup(convoy_summary), *p;
  CHECK(text != NULL);
  if (!text) return;
  p = strstr(text, "ok,20,8\n");
  if (p) memcpy(p, "ok,2,.1\n", 8);
  write_file(dir, "summary.csv", text);
  free(text);
  msg = tmpfile();
  if (!msg) return;
  CHECK_EQ_INT(cl__plot_run_dir(dir, msg), 0);
  fclose(msg);
  report = read_all(dir, "report.md");
  CHECK(report && strstr(report, "a wakeup waited 100 \xc2\xb5s under `threads`"));
  CHECK(report && !strstr(report, "convoy effect"));
  free(report);
}

/* Without gnuplot on PATH the data, the scripts and the report are written,
 * one line says so, and the call succeeds. */
static void test_no_gnuplot(void) {
  char dir[512], bin[512];
  make_dir(dir, sizeof dir, "bare");
  make_dir(bin, sizeof bin, "empty-bin");
  write_file(dir, "summary.csv", summary);
  write_file(dir, "run.json", run_json);
  setenv("PATH", bin, 1);
  unsetenv("CONLAB_PLOTS_DIR");
  FILE *msg = tmpfile();
  CHECK(msg != NULL);
  if (!msg) return;
  CHECK_EQ_INT(cl__plot_run_dir(dir, msg), 0);
  rewind(msg);
  char line[1024], all[4096] = "";
  int nlines = 0;
  while (fgets(line, sizeof line, msg)) {
    if (strstr(line, "gnuplot")) nlines++;
    strncat(all, line, sizeof all - strlen(all) - 1);
  }
  fclose(msg);
  CHECK_EQ_INT(nlines, 1);
  CHECK(strstr(all, "gnuplot not found on PATH") != NULL);
  char pdir[600];
  snprintf(pdir, sizeof pdir, "%s/plots", dir);
  for (int i = 0; i < CL__NFIGURES; i++) {
    char name[64];
    snprintf(name, sizeof name, "%s.gp", cl__figure_names[i]);
    char *gp = read_all(pdir, name);
    CHECK(gp != NULL);
    free(gp);
    char png[700];
    snprintf(png, sizeof png, "%s/%s.png", pdir, cl__figure_names[i]);
    CHECK(access(png, F_OK) != 0);
  }
  char *vars = read_all(pdir, "speedup.vars");
  CHECK(vars && strstr(vars, "np = 1\n"));
  CHECK(vars && strstr(vars, "ptitle[1] = \"cpu.sumsq (cpu-bound), size 1000, 8 tasks\""));
  free(vars);
  vars = read_all(pdir, "granularity.vars");
  CHECK(vars && strstr(vars, "np = 1\n")); /* sizes 10 and 1000 */
  free(vars);
  vars = read_all(pdir, "io_concurrency.vars");
  CHECK(vars && strstr(vars, "np = 0\n"));
  free(vars);
  vars = read_all(pdir, "convoy.vars");
  CHECK(vars && strstr(vars, "np = 0\n")); /* no wakeup latency in this run */
  free(vars);
  char *report = read_all(dir, "report.md");
  CHECK(report && strstr(report, "gnuplot was not on PATH"));
  CHECK(report && strstr(report, "`mystery` reached 4.00x with 2 workers"));
  CHECK(report && strstr(report, "`thread_pool` (GIL) stayed at 1.00x with 2 workers"));
  CHECK(report && strstr(report, "`py.process_pool` reached 2.00x with 2 workers"));
  CHECK(report && strstr(report, "| CPU | Test \"CPU\" |"));
  CHECK(report && !strstr(report, "(plots/speedup.png)"));
  free(report);
  char *leftover = read_all(dir, ".report.md.tmp");
  CHECK(leftover == NULL);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/conlab-test-plots-%ld", (long)getpid());
  CHECK(mkdir(root, 0755) == 0);
  test_summary();
  test_meta();
  test_no_gnuplot();
  test_convoy();
  CHECK(nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
  return CL_TEST_DONE();
}
