#include "conlab/error.h"

#include <stdarg.h>
#include <stdio.h>

/* Each thread keeps its own detail, so concurrent failures do not mix. */
static _Thread_local char detail[512];

const char *cl_strerror(int err) {
  switch (err) {
#define CL__ERR_MSG(name, value, msg)                                                              \
  case value:                                                                                      \
    return msg;
    CL_ERROR_MAP(CL__ERR_MSG)
#undef CL__ERR_MSG
  }
  return "unknown error";
}

const char *cl_errname(int err) {
  switch (err) {
#define CL__ERR_NAME(name, value, msg)                                                             \
  case value:                                                                                      \
    return #name;
    CL_ERROR_MAP(CL__ERR_NAME)
#undef CL__ERR_NAME
  }
  return "CL_E?";
}

const char *cl_error_detail(void) {
  return detail;
}

void cl_error_clear(void) {
  detail[0] = '\0';
}

int cl_error_set(int err, const char *fmt, ...) {
  if (!fmt) {
    detail[0] = '\0';
    return err;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return err;
}
