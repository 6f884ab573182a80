/* Fuzzes the value parsers (numbers, sizes, durations, lists, PU lists) and
 * checks their promises: results within [min, max], lists of distinct
 * non-empty items that join back to the input, numbers that round-trip. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conlab/parse.h"
#include "harness/harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t take_u64(const uint8_t **d, size_t *n) {
  uint64_t v = 0;
  for (int i = 0; i < 8 && *n; i++, (*d)++, (*n)--)
    v = v << 8 | **d;
  return v;
}

static void check_list(const char *s) {
  struct cl_list l;
  if (cl_parse_list(s, &l) != 0) {
    if (l.items || l.n) abort(); /* nothing left allocated on error */
    return;
  }
  size_t len = 0;
  for (size_t i = 0; i < l.n; i++) {
    if (!*l.items[i] || strchr(l.items[i], ',')) abort();
    for (size_t k = 0; k < i; k++)
      if (strcmp(l.items[i], l.items[k]) == 0) abort();
    /* The items, joined by commas, are the input. */
    size_t il = strlen(l.items[i]);
    if (strncmp(s + len, l.items[i], il) != 0) abort();
    len += il;
    if (i + 1 < l.n && s[len++] != ',') abort();
  }
  if (s[len] != '\0') abort();
  cl_list_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 1024) return 0;
  uint8_t which = *data++;
  size--;
  uint64_t a = take_u64(&data, &size), b = take_u64(&data, &size);
  uint64_t min = a < b ? a : b, max = a < b ? b : a;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  uint64_t v = 0;
  char buf[64];
  switch (which % 6) {
  case 0:
    if (cl_parse_u64(s, min, max, &v) == 0) {
      if (v < min || v > max) abort();
      snprintf(buf, sizeof buf, "%" PRIu64, v);
      uint64_t w;
      if (cl_parse_u64(buf, min, max, &w) != 0 || w != v) abort();
    }
    break;
  case 1:
    if (cl_parse_bytes(s, min, max, &v) == 0 && (v < min || v > max)) abort();
    break;
  case 2:
    if (cl_parse_duration(s, min, max, &v) == 0) {
      if (v < min || v > max) abort();
      snprintf(buf, sizeof buf, "%" PRIu64 "ns", v);
      uint64_t w;
      if (cl_parse_duration(buf, min, max, &w) != 0 || w != v) abort();
    }
    cl_format_duration(v ? v : a, buf, sizeof buf);
    if (!memchr(buf, '\0', sizeof buf)) abort();
    break;
  case 3:
    check_list(s);
    break;
  case 4: {
    static unsigned cpus[CL__MAX_BIND_CPUS];
    unsigned n = 0;
    if (cl__parse_cpu_list(s, cpus, &n) == 0) {
      if (n == 0 || n > CL__MAX_BIND_CPUS) abort();
      for (unsigned i = 0; i < n; i++)
        if (cpus[i] > 65535) abort();
    }
    break;
  }
  case 5:
    cl_format_duration(a, buf, sizeof buf);
    if (strlen(buf) >= sizeof buf) abort();
    break;
  }
  free(s);
  return 0;
}
