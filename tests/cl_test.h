/* A tiny assertion kit: every check prints both sides on failure, and every
 * test binary ends with "N passed, N failed". */
#ifndef CL_TEST_H
#define CL_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cl_t_pass, cl_t_fail;

#define CL_T_REPORT(ok, fmt, ...)                                                                  \
  do {                                                                                             \
    if (ok) {                                                                                      \
      cl_t_pass++;                                                                                 \
    } else {                                                                                       \
      cl_t_fail++;                                                                                 \
      fprintf(stderr, "%s:%d: FAIL: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__);                  \
    }                                                                                              \
  } while (0)

#define CHECK(cond) CL_T_REPORT((cond), "%s", #cond)
#define CHECK_EQ_U64(a, b)                                                                         \
  do {                                                                                             \
    uint64_t cl_a_ = (uint64_t)(a), cl_b_ = (uint64_t)(b);                                         \
    CL_T_REPORT(cl_a_ == cl_b_, "%s == %s (%" PRIu64 " vs %" PRIu64 ")", #a, #b, cl_a_, cl_b_);    \
  } while (0)
#define CHECK_EQ_INT(a, b)                                                                         \
  do {                                                                                             \
    long long cl_a_ = (long long)(a), cl_b_ = (long long)(b);                                      \
    CL_T_REPORT(cl_a_ == cl_b_, "%s == %s (%lld vs %lld)", #a, #b, cl_a_, cl_b_);                  \
  } while (0)
#define CHECK_NEAR(a, b, tol)                                                                      \
  do {                                                                                             \
    double cl_a_ = (double)(a), cl_b_ = (double)(b), cl_t_ = (double)(tol);                        \
    CL_T_REPORT(cl_a_ - cl_b_ <= cl_t_ && cl_b_ - cl_a_ <= cl_t_,                                  \
                "%s ~= %s (%.9g vs %.9g, tolerance %.3g)", #a, #b, cl_a_, cl_b_, cl_t_);           \
  } while (0)
#define CHECK_LE(a, b)                                                                             \
  do {                                                                                             \
    double cl_a_ = (double)(a), cl_b_ = (double)(b);                                               \
    CL_T_REPORT(cl_a_ <= cl_b_, "%s <= %s (%.9g vs %.9g)", #a, #b, cl_a_, cl_b_);                  \
  } while (0)
#define CHECK_STR(a, b)                                                                            \
  do {                                                                                             \
    const char *cl_a_ = (a), *cl_b_ = (b);                                                         \
    CL_T_REPORT(cl_a_ &&cl_b_ &&strcmp(cl_a_, cl_b_) == 0, "%s == %s (\"%s\" vs \"%s\")", #a, #b,  \
                cl_a_ ? cl_a_ : "(null)", cl_b_ ? cl_b_ : "(null)");                               \
  } while (0)

/* Ends main(): prints the closing line and returns the exit status. */
#define CL_TEST_DONE() (printf("%d passed, %d failed\n", cl_t_pass, cl_t_fail), cl_t_fail ? 1 : 0)

#endif
