/* The command-line value parsers. */
#include <stdint.h>

#include "cl_test.h"
#include "conlab/error.h"
#include "conlab/parse.h"

int main(void) {
  uint64_t v = 0;
  CHECK_EQ_INT(cl_parse_u64("42", 1, 100, &v), 0);
  CHECK_EQ_U64(v, 42);
  CHECK_EQ_INT(cl_parse_u64("0", 1, 100, &v), CL_ERANGE);
  CHECK_EQ_INT(cl_parse_u64("101", 1, 100, &v), CL_ERANGE);
  CHECK_EQ_INT(cl_parse_u64("-3", 1, 100, &v), CL_ERANGE);
  CHECK_EQ_INT(cl_parse_u64("", 1, 100, &v), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_u64("12x", 1, 100, &v), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_u64(" 12", 1, 100, &v), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_u64("+12", 1, 100, &v), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_u64("99999999999999999999999", 1, UINT64_MAX, &v), CL_ERANGE);
  CHECK_EQ_INT(cl_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
  CHECK_EQ_U64(v, UINT64_MAX);
  CHECK_EQ_INT(cl_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), CL_ERANGE);

  CHECK_EQ_INT(cl_parse_bytes("256K", 1, 1ULL << 40, &v), 0);
  CHECK_EQ_U64(v, 262144);
  CHECK_EQ_INT(cl_parse_bytes("8M", 1, 1ULL << 40, &v), 0);
  CHECK_EQ_U64(v, 8ULL << 20);
  CHECK_EQ_INT(cl_parse_bytes("8Q", 1, 1ULL << 40, &v), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_bytes("99999999999999999G", 1, UINT64_MAX, &v), CL_ERANGE);

  CHECK_EQ_INT(cl_parse_duration("20ms", 1, UINT64_MAX, &v), 0);
  CHECK_EQ_U64(v, 20000000);
  CHECK_EQ_INT(cl_parse_duration("250us", 1, UINT64_MAX, &v), 0);
  CHECK_EQ_U64(v, 250000);
  CHECK_EQ_INT(cl_parse_duration("1.5s", 1, UINT64_MAX, &v), 0);
  CHECK_EQ_U64(v, 1500000000);
  CHECK_EQ_INT(cl_parse_duration("0.001ms", 1, UINT64_MAX, &v), 0);
  CHECK_EQ_U64(v, 1000);
  CHECK_EQ_INT(cl_parse_duration("20", 1, UINT64_MAX, &v), CL_EINVAL);
  CHECK(strstr(cl_error_detail(), "unit") != NULL);
  CHECK_EQ_INT(cl_parse_duration("20min", 1, UINT64_MAX, &v), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_duration("-5ms", 1, UINT64_MAX, &v), CL_ERANGE);
  CHECK_EQ_INT(cl_parse_duration("1.s", 1, UINT64_MAX, &v), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_duration("ms", 1, UINT64_MAX, &v), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_duration("61s", 1, 60000000000ULL, &v), CL_ERANGE);
  CHECK(strstr(cl_error_detail(), "60.00 s") != NULL);
  CHECK_EQ_INT(cl_parse_duration("99999999999999999999s", 1, UINT64_MAX, &v), CL_ERANGE);
  CHECK_EQ_INT(cl_parse_duration("18446744074s", 1, UINT64_MAX, &v), CL_ERANGE);

  struct cl_list l;
  CHECK_EQ_INT(cl_parse_list("a,bb,c", &l), 0);
  CHECK_EQ_U64(l.n, 3);
  if (l.n == 3) {
    CHECK_STR(l.items[0], "a");
    CHECK_STR(l.items[1], "bb");
    CHECK_STR(l.items[2], "c");
  }
  cl_list_free(&l);
  CHECK_EQ_INT(cl_parse_list("a", &l), 0);
  CHECK_EQ_U64(l.n, 1);
  cl_list_free(&l);
  CHECK_EQ_INT(cl_parse_list("", &l), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_list("a,,b", &l), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_list("a,", &l), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_list(",a", &l), CL_EINVAL);
  CHECK_EQ_INT(cl_parse_list("a,b,a", &l), CL_EINVAL);
  CHECK(strstr(cl_error_detail(), "twice") != NULL);
  CHECK_EQ_U64(l.n, 0);

  char buf[32];
  cl_format_duration(20000000, buf, sizeof buf);
  CHECK_STR(buf, "20 ms");
  cl_format_duration(1500000000, buf, sizeof buf);
  CHECK_STR(buf, "1.50 s");
  return CL_TEST_DONE();
}
