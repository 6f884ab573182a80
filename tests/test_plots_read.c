/* Reading a run directory back for the figures and the report: summary.csv by
 * column name (older or foreign files), run.json, the selections the figures
 * share, and cl__plot_run_dir without gnuplot on PATH. */
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
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static char *read_all(const char *dir, const char *name) {
  char path[512];
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
  m.physical_cores = 2;
  CHECK_EQ_INT(cl__plot_cores(&m), 2);
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
  CHECK(nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
  return CL_TEST_DONE();
}
