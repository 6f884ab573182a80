/* conlab error codes: one X-macro map yields the enum and cl_strerror(). */
#ifndef CONLAB_ERROR_H
#define CONLAB_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message). Library functions return 0 or one of these. */
#define CL_ERROR_MAP(X)                                                                            \
  X(CL_OK, 0, "success")                                                                           \
  X(CL_EINVAL, -1, "invalid argument")                                                             \
  X(CL_ENOMEM, -2, "out of memory")                                                                \
  X(CL_ERANGE, -3, "value out of range")                                                           \
  X(CL_ENOENT, -4, "no such name")                                                                 \
  X(CL_ETHREAD, -5, "thread creation failed")                                                      \
  X(CL_EPROC, -6, "process creation failed")                                                       \
  X(CL_EWORKER, -7, "worker died (broken pool)")                                                   \
  X(CL_EIO, -8, "input/output error")                                                              \
  X(CL_ENET, -9, "network error")                                                                  \
  X(CL_ETIMEDOUT, -10, "timed out")                                                                \
  X(CL_ECHECKSUM, -11, "checksum mismatch")                                                        \
  X(CL_EUNSUPPORTED, -12, "not supported by this build or executor")                               \
  X(CL_ECANCELED, -13, "canceled")                                                                 \
  X(CL_EINTR, -14, "interrupted by a signal")                                                      \
  X(CL_ELIMIT, -15, "resource limit reached")                                                      \
  X(CL_ESTATE, -16, "invalid state for this call")                                                 \
  X(CL_EEMPTY, -17, "nothing left")                                                                \
  X(CL_ESYS, -18, "system call failed")

enum cl_error {
#define CL__ERR_ENUM(name, value, msg) name = (value),
  CL_ERROR_MAP(CL__ERR_ENUM)
#undef CL__ERR_ENUM
};

/* Returns a static message for a CL_E* code (or "unknown error"). */
const char *cl_strerror(int err);

/* Returns the symbolic name of a CL_E* code ("CL_EINVAL"), or "CL_E?". */
const char *cl_errname(int err);

/* Detail for the last error raised on this thread: library code that returns
 * an error may also describe it here ("worker pid 812 killed by SIGKILL while
 * running task 17"). Returns "" when there is none. */
const char *cl_error_detail(void);

/* Sets or clears (fmt NULL) this thread's error detail. Returns err, so that
 * `return cl_error_set(CL_EWORKER, "...")` reads naturally. */
int cl_error_set(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cl_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
