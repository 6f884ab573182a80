#include "conlab/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conlab/error.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median_sorted(const double *s, size_t n) {
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
}

double cl_median(const double *v, size_t n, double *scratch) {
  memcpy(scratch, v, n * sizeof *v);
  qsort(scratch, n, sizeof *scratch, cmp_double);
  return median_sorted(scratch, n);
}

double cl_quantile(const double *v, size_t n, double q, double *scratch) {
  memcpy(scratch, v, n * sizeof *v);
  qsort(scratch, n, sizeof *scratch, cmp_double);
  if (q <= 0) return scratch[0];
  if (q >= 1) return scratch[n - 1];
  double pos = q * (double)(n - 1);
  size_t lo = (size_t)pos;
  double frac = pos - (double)lo;
  return lo + 1 < n ? scratch[lo] + frac * (scratch[lo + 1] - scratch[lo]) : scratch[lo];
}

int cl_summarize(const double *samples, size_t n, struct cl_summary *out) {
  if (!samples || !out || n == 0) return CL_EINVAL;
  double *s = malloc(n * sizeof *s);
  if (!s) return CL_ENOMEM;
  memcpy(s, samples, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_double);
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += s[i];
  double mean = sum / (double)n, ss = 0;
  for (size_t i = 0; i < n; i++)
    ss += (s[i] - mean) * (s[i] - mean);
  out->n = n;
  out->mean = mean;
  out->stddev = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
  out->cv = mean > 0 ? out->stddev / mean : 0.0;
  out->min = s[0];
  out->max = s[n - 1];
  out->median = median_sorted(s, n);
  if (n < 6) {
    out->ci_low = s[0];
    out->ci_high = s[n - 1];
  } else {
    /* 1-based ranks j and k with P(X_(j) <= median <= X_(k)) ~ 0.95. */
    double half = 1.96 * sqrt((double)n) / 2.0;
    long j = lround((double)n / 2.0 - half);
    long k = lround(1.0 + (double)n / 2.0 + half);
    if (j < 1) j = 1;
    if (k > (long)n) k = (long)n;
    out->ci_low = s[j - 1];
    out->ci_high = s[k - 1];
  }
  free(s);
  return 0;
}

double cl_speedup(double t_seq, double t) {
  return t > 0 ? t_seq / t : NAN;
}

double cl_efficiency(double speedup, unsigned workers) {
  return workers ? speedup / (double)workers : NAN;
}

double cl_karp_flatt(double speedup, unsigned p) {
  if (p <= 1 || !(speedup > 0)) return NAN;
  double inv_p = 1.0 / (double)p;
  return (1.0 / speedup - inv_p) / (1.0 - inv_p);
}

double cl_amdahl(double f, unsigned p) {
  if (p == 0) return NAN;
  return 1.0 / (f + (1.0 - f) / (double)p);
}
