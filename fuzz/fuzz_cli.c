/* Fuzzes `conlab run` argument parsing and plan building: NUL-separated
 * arguments. Every outcome must be a clean usage error or a plan within the
 * limits; nothing is run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness/harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_ARGS = 64 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *buf = malloc(size + 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  char *argv[MAX_ARGS + 2];
  int argc = 0;
  argv[argc++] = (char *)"run";
  for (char *p = buf; p < buf + size && argc < MAX_ARGS; p += strlen(p) + 1)
    argv[argc++] = p;
  argv[argc] = NULL;

  struct cl__options o;
  int rc = cl__parse_run_options(argc, argv, &o);
  if (rc < 0) {
    struct cl__plan plan;
    rc = cl__plan_build(&o, &plan);
    if (rc < 0) {
      /* A chained suite's parts may differ in repetitions. */
      size_t total = 0;
      for (size_t i = 0; i < plan.ncells; i++) {
        const struct cl__cell *c = &plan.cells[i];
        if (!c->w || !c->ex || c->workers < 1 || c->workers > CL__MAX_WORKERS || c->reps < 1 ||
            c->reps > CL__MAX_REPS || !c->samples)
          abort();
        total += c->reps;
      }
      if (plan.ncells > CL__MAX_CELLS || total > CL__MAX_PLAN_REPS) abort();
      cl__plan_free(&plan);
    } else if (rc != CL__EXIT_USAGE && rc != CL__EXIT_FAILED) {
      abort();
    }
  } else if (rc != 0 && rc != CL__EXIT_USAGE) {
    abort();
  }
  cl__options_free(&o);
  free(buf);
  return 0;
}
