/* bench/micro.c: the set names, the CSV it writes, and its failure paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/micro.h"
#include "cl_test.h"
#include "conlab/error.h"

/* Number of data lines in path whose first field is `bench`, or -1. */
static int count_rows(const char *path, const char *bench) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[1024];
  int n = 0;
  size_t len = strlen(bench);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, bench, len) == 0 && line[len] == ',') n++;
  fclose(f);
  return n;
}

int main(void) {
  CHECK_EQ_INT(cl__micro_run("nope", true, NULL, NULL), CL_EINVAL);
  CHECK(strstr(cl_error_detail(), "overhead") != NULL);
  CHECK_EQ_INT(cl__micro_run(NULL, true, NULL, NULL), CL_EINVAL);

  char dir[] = "/tmp/cl_test_micro.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  CHECK_EQ_INT(cl__micro_run("overhead", true, dir, NULL), 0);
  char path[256];
  snprintf(path, sizeof path, "%s/overhead.csv", dir);
  /* One noop row per C executor, two for the process pool (both chunk sizes). */
  CHECK(count_rows(path, "noop_per_task") >= 6);
  CHECK_EQ_INT(count_rows(path, "latency"), 1);
  CHECK_EQ_INT(count_rows(path, "timers"), 1);
  CHECK_EQ_INT(count_rows(path, "harness"), 2);
  CHECK_EQ_INT(count_rows(path, "bench"), 1); /* the header */
  unlink(path);
  rmdir(dir);

  /* A directory that does not exist: the write fails, nothing is left. */
  CHECK(cl__micro_run("peers", true, "/nonexistent/conlab-micro", NULL) != 0);
  return CL_TEST_DONE();
}
