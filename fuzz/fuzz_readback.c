/* Fuzzes what conlab reads back from a run directory: summary.csv and
 * run.json, as `conlab plot` reads them, through the figure data and the
 * report it writes (gnuplot is kept off PATH). The input is split at the
 * first "\n\x01\n": before it summary.csv, after it run.json. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/plot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char dir[64];
static FILE *devnull;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* libFuzzer leaves through exit(): the scratch directory goes with it. */
static void cleanup(void) {
  nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof dir, "%s/conlab-fuzz-%ld", base, (long)getpid());
  mkdir(dir, 0700);
  atexit(cleanup);
  setenv("PATH", "/nonexistent", 1); /* no gnuplot: data and report only */
  setenv("CONLAB_PLOTS_DIR", "/nonexistent", 1);
  devnull = fopen("/dev/null", "w");
  return 0;
}

static void put(const char *name, const uint8_t *d, size_t n) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) abort();
  if (n && fwrite(d, 1, n, f) != n) abort();
  fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 16384) return 0;
  static const uint8_t sep[] = "\n\x01\n";
  const uint8_t *cut = memmem(data, size, sep, 3);
  size_t ns = cut ? (size_t)(cut - data) : size;
  put("summary.csv", data, ns);
  if (cut)
    put("run.json", cut + 3, size - ns - 3);
  else {
    char path[128];
    snprintf(path, sizeof path, "%s/run.json", dir);
    unlink(path);
  }

  struct cl__summary_csv s;
  if (cl__summary_read(dir, &s) == 0) {
    for (size_t i = 0; i < s.n; i++)
      if (!s.rows[i].workload[0] || !s.rows[i].executor[0] || s.rows[i].workers < 1) abort();
    cl__summary_free(&s);
  }
  struct cl__run_meta m;
  cl__run_meta_read(dir, &m);
  if (!memchr(m.run_id, '\0', sizeof m.run_id) || !memchr(m.command, '\0', sizeof m.command))
    abort();
  cl__plot_run_dir(dir, devnull);
  return 0;
}
