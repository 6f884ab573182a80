/* Statistics over repeated measurements. */
#ifndef CONLAB_STATS_H
#define CONLAB_STATS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cl_summary {
  size_t n;
  double median;
  double ci_low, ci_high;  /* 95% confidence interval of the median */
  double mean, stddev, cv; /* cv = stddev / mean (sample stddev) */
  double min, max;
};

/* Summarises n samples (n >= 1; the array is not modified). The median's
 * interval uses order statistics (binomial ranks n/2 - 1.96 sqrt(n)/2 and
 * 1 + n/2 + 1.96 sqrt(n)/2, rounded); with
 * fewer than 6 samples it is [min, max]. Returns 0 or CL_EINVAL. */
int cl_summarize(const double *samples, size_t n, struct cl_summary *out);

/* Median of n values (n >= 1); `scratch` holds n doubles. */
double cl_median(const double *v, size_t n, double *scratch);

/* Quantile q in [0,1] of n values by linear interpolation; `scratch` n doubles. */
double cl_quantile(const double *v, size_t n, double q, double *scratch);

/* Speedup of `t` against the baseline time `t_seq`. */
double cl_speedup(double t_seq, double t);

/* Efficiency: speedup / workers. */
double cl_efficiency(double speedup, unsigned workers);

/* Karp-Flatt experimentally determined serial fraction
 * e = (1/S - 1/p) / (1 - 1/p); NaN for p <= 1 or S <= 0. */
double cl_karp_flatt(double speedup, unsigned p);

/* Amdahl's law: speedup on p workers with serial fraction f. */
double cl_amdahl(double f, unsigned p);

#ifdef __cplusplus
}
#endif
#endif
