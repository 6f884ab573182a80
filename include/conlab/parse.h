/* Parsers for command-line values. They never print; on failure they return
 * CL_EINVAL or CL_ERANGE and describe the problem in cl_error_detail(). */
#ifndef CONLAB_PARSE_H
#define CONLAB_PARSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Parses a decimal unsigned integer in [min, max]. Rejects signs, spaces,
 * empty strings, trailing characters and overflow. */
int cl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a byte count with an optional K, M or G suffix (powers of 1024). */
int cl_parse_bytes(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a duration with a unit: "250us", "20ms", "1.5s" (also "ns"). A bare
 * number without a unit is refused. The result is in [min_ns, max_ns]. */
int cl_parse_duration(const char *s, uint64_t min_ns, uint64_t max_ns, uint64_t *out_ns);

/* A comma-separated list of non-empty, distinct items. */
struct cl_list {
  char **items;
  size_t n;
};

/* Splits s on commas. Refuses empty input, empty entries ("a,,b", "a,") and
 * duplicated entries. Free with cl_list_free. */
int cl_parse_list(const char *s, struct cl_list *out);
void cl_list_free(struct cl_list *l);

/* Formats a duration for people: "20 ms", "1.50 s", "250 us". */
void cl_format_duration(uint64_t ns, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
