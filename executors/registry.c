#include "executors/exec_internal.h"

#include <string.h>

static const struct cl_executor_ops *const table[] = {
#define ENTRY(sym, name) &cl__exec_##sym,
    CL__EXECUTOR_LIST(ENTRY)
#undef ENTRY
};

static const char *const names[] = {
#define NAME(sym, name) name,
    CL__EXECUTOR_LIST(NAME)
#undef NAME
};

size_t cl_executor_count(void) {
  return sizeof table / sizeof table[0];
}

const struct cl_executor_ops *cl_executor_at(size_t i) {
  return i < cl_executor_count() ? table[i] : NULL;
}

const struct cl_executor_ops *cl_executor_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < cl_executor_count(); i++)
    if (strcmp(names[i], name) == 0) return table[i];
  return NULL;
}
