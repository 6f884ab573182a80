#include <stddef.h>
#include <string.h>

#include "harness/harness.h"

/* The story suite is what `make run` shows: CPU-bound and I/O-bound work under
 * every executor over the automatic worker list. */
static const struct cl__suite suites[] = {
    {"story", "CPU- and I/O-bound workloads under every executor (the default, ~90 s on 2 cores)",
     "cpu.sumsq,cpu.mandel,io.sleep,mixed.request", "all", 5, 1, false, true},
    {"quick", "the story at small sizes, 3 repetitions (under 20 s)",
     "cpu.sumsq,cpu.mandel,io.sleep,mixed.request", "all", 3, 1, true, true},
    {"full", "every workload under every executor", "", "all", 5, 1, false, true},
};

size_t cl__suite_count(void) { return sizeof suites / sizeof suites[0]; }

const struct cl__suite *cl__suite_at(size_t i) {
  return i < cl__suite_count() ? &suites[i] : NULL;
}

const struct cl__suite *cl__suite_find(const char *name) {
  for (size_t i = 0; i < cl__suite_count(); i++)
    if (strcmp(suites[i].name, name) == 0) return &suites[i];
  return NULL;
}

const char *cl__suite_names(void) {
  static char names[256];
  if (!names[0]) {
    for (size_t i = 0; i < cl__suite_count(); i++) {
      if (i) strcat(names, ", ");
      strcat(names, suites[i].name);
    }
  }
  return names;
}
