#include "conlab/parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conlab/error.h"

/* Parses leading decimal digits of s into *out; returns the count consumed or
 * -1 on overflow. */
static int parse_digits(const char *s, uint64_t *out) {
  uint64_t v = 0;
  int n = 0;
  for (; s[n] >= '0' && s[n] <= '9'; n++) {
    uint64_t d = (uint64_t)(s[n] - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return n;
}

static int range_check(const char *s, uint64_t v, uint64_t min, uint64_t max, uint64_t *out) {
  if (v < min)
    return cl_error_set(CL_ERANGE, "'%s' is below the minimum %llu", s, (unsigned long long)min);
  if (v > max)
    return cl_error_set(CL_ERANGE, "'%s' exceeds the limit %llu", s, (unsigned long long)max);
  *out = v;
  return 0;
}

int cl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (!s || !*s) return cl_error_set(CL_EINVAL, "an empty value is not a number");
  if (*s == '-') return cl_error_set(CL_ERANGE, "'%s' is negative", s);
  uint64_t v;
  int n = parse_digits(s, &v);
  if (n < 0) return cl_error_set(CL_ERANGE, "'%s' is too large", s);
  if (n == 0 || s[n] != '\0') return cl_error_set(CL_EINVAL, "'%s' is not a whole number", s);
  return range_check(s, v, min, max, out);
}

int cl_parse_bytes(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (!s || !*s) return cl_error_set(CL_EINVAL, "an empty value is not a size");
  if (*s == '-') return cl_error_set(CL_ERANGE, "'%s' is negative", s);
  uint64_t v;
  int n = parse_digits(s, &v);
  if (n < 0) return cl_error_set(CL_ERANGE, "'%s' is too large", s);
  if (n == 0) return cl_error_set(CL_EINVAL, "'%s' is not a size (e.g. 65536, 256K, 8M)", s);
  unsigned shift = 0;
  const char *u = s + n;
  if (*u == 'K' || *u == 'k')
    shift = 10;
  else if (*u == 'M' || *u == 'm')
    shift = 20;
  else if (*u == 'G' || *u == 'g')
    shift = 30;
  if (shift) u++;
  if (*u != '\0') return cl_error_set(CL_EINVAL, "'%s' is not a size (e.g. 65536, 256K, 8M)", s);
  if (shift && v > (UINT64_MAX >> shift)) return cl_error_set(CL_ERANGE, "'%s' is too large", s);
  return range_check(s, v << shift, min, max, out);
}

int cl_parse_duration(const char *s, uint64_t min_ns, uint64_t max_ns, uint64_t *out_ns) {
  if (!s || !*s) return cl_error_set(CL_EINVAL, "an empty value is not a duration");
  if (*s == '-') return cl_error_set(CL_ERANGE, "'%s' is negative", s);
  uint64_t ip, fp = 0;
  int n = parse_digits(s, &ip);
  if (n < 0) return cl_error_set(CL_ERANGE, "'%s' is too large", s);
  if (n == 0) return cl_error_set(CL_EINVAL, "'%s' is not a duration (e.g. 250us, 20ms, 1.5s)", s);
  const char *p = s + n;
  int fdigits = 0;
  if (*p == '.') {
    p++;
    for (; *p >= '0' && *p <= '9'; p++) {
      if (fdigits < 9) {
        fp = fp * 10 + (uint64_t)(*p - '0');
        fdigits++;
      }
    }
    if (fdigits == 0)
      return cl_error_set(CL_EINVAL, "'%s' is not a duration (e.g. 250us, 20ms, 1.5s)", s);
  }
  uint64_t unit;
  if (strcmp(p, "ns") == 0)
    unit = 1;
  else if (strcmp(p, "us") == 0)
    unit = 1000;
  else if (strcmp(p, "ms") == 0)
    unit = 1000000;
  else if (strcmp(p, "s") == 0)
    unit = 1000000000;
  else if (*p == '\0')
    return cl_error_set(CL_EINVAL, "'%s' needs a unit (ns, us, ms or s)", s);
  else
    return cl_error_set(CL_EINVAL, "'%s' has an unknown unit (valid: ns, us, ms, s)", s);
  if (ip > UINT64_MAX / unit) return cl_error_set(CL_ERANGE, "'%s' is too large", s);
  uint64_t ns = ip * unit;
  /* Scale the fraction to the unit: fp / 10^fdigits * unit. */
  uint64_t scale = 1;
  for (int i = 0; i < fdigits; i++)
    scale *= 10;
  uint64_t frac = (uint64_t)((unsigned __int128)fp * unit / scale);
  if (ns > UINT64_MAX - frac) return cl_error_set(CL_ERANGE, "'%s' is too large", s);
  ns += frac;
  if (ns < min_ns) {
    char lim[32];
    cl_format_duration(min_ns, lim, sizeof lim);
    return cl_error_set(CL_ERANGE, "'%s' is below the minimum %s", s, lim);
  }
  if (ns > max_ns) {
    char lim[32];
    cl_format_duration(max_ns, lim, sizeof lim);
    return cl_error_set(CL_ERANGE, "'%s' exceeds the limit %s", s, lim);
  }
  *out_ns = ns;
  return 0;
}

void cl_list_free(struct cl_list *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++)
    free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

int cl_parse_list(const char *s, struct cl_list *out) {
  out->items = NULL;
  out->n = 0;
  if (!s || !*s) return cl_error_set(CL_EINVAL, "the list is empty");
  size_t cap = 1;
  for (const char *p = s; *p; p++)
    cap += *p == ',';
  char **items = calloc(cap, sizeof *items);
  if (!items) return CL_ENOMEM;
  struct cl_list l = {items, 0};
  const char *p = s;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == 0) {
      cl_list_free(&l);
      return cl_error_set(CL_EINVAL, "'%s' has an empty entry", s);
    }
    char *item = strndup(p, len);
    if (!item) {
      cl_list_free(&l);
      return CL_ENOMEM;
    }
    for (size_t i = 0; i < l.n; i++) {
      if (strcmp(l.items[i], item) == 0) {
        int err = cl_error_set(CL_EINVAL, "'%s' lists '%s' twice", s, item);
        free(item);
        cl_list_free(&l);
        return err;
      }
    }
    l.items[l.n++] = item;
    if (!comma) break;
    p = comma + 1;
  }
  *out = l;
  return 0;
}

void cl_format_duration(uint64_t ns, char *buf, size_t len) {
  if (ns >= 1000000000ULL)
    snprintf(buf, len, "%.2f s", (double)ns / 1e9);
  else if (ns >= 1000000ULL)
    snprintf(buf, len, "%.3g ms", (double)ns / 1e6);
  else if (ns >= 1000ULL)
    snprintf(buf, len, "%.3g us", (double)ns / 1e3);
  else
    snprintf(buf, len, "%llu ns", (unsigned long long)ns);
}
