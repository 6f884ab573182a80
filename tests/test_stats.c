/* Statistics against values computed by hand. */
#include <math.h>

#include "cl_test.h"
#include "conlab/stats.h"

int main(void) {
  struct cl_summary s;
  const double five[] = {5, 1, 4, 2, 3};
  CHECK_EQ_INT(cl_summarize(five, 5, &s), 0);
  CHECK_NEAR(s.median, 3.0, 1e-12);
  CHECK_NEAR(s.mean, 3.0, 1e-12);
  CHECK_NEAR(s.stddev, sqrt(2.5), 1e-12); /* sample stddev of 1..5 */
  CHECK_NEAR(s.cv, sqrt(2.5) / 3.0, 1e-12);
  CHECK_NEAR(s.ci_low, 1.0, 0); /* n < 6: [min, max] */
  CHECK_NEAR(s.ci_high, 5.0, 0);
  CHECK_NEAR(five[0], 5.0, 0); /* input untouched */

  const double even[] = {4, 1, 3, 2};
  CHECK_EQ_INT(cl_summarize(even, 4, &s), 0);
  CHECK_NEAR(s.median, 2.5, 1e-12);

  /* n = 20, values 1..20: ranks round(10 - 4.383) = 6 and round(11 + 4.383) = 15,
   * the textbook 95% interval for the median of 20. */
  double twenty[20];
  for (int i = 0; i < 20; i++)
    twenty[i] = 20 - i;
  CHECK_EQ_INT(cl_summarize(twenty, 20, &s), 0);
  CHECK_NEAR(s.median, 10.5, 1e-12);
  CHECK_NEAR(s.ci_low, 6.0, 0);
  CHECK_NEAR(s.ci_high, 15.0, 0);

  /* n = 10: ranks 2 and 9. */
  double ten[10];
  for (int i = 0; i < 10; i++)
    ten[i] = i + 1;
  CHECK_EQ_INT(cl_summarize(ten, 10, &s), 0);
  CHECK_NEAR(s.ci_low, 2.0, 0);
  CHECK_NEAR(s.ci_high, 9.0, 0);

  const double one[] = {0.25};
  CHECK_EQ_INT(cl_summarize(one, 1, &s), 0);
  CHECK_NEAR(s.median, 0.25, 0);
  CHECK_NEAR(s.stddev, 0.0, 0);
  CHECK(cl_summarize(one, 0, &s) != 0);

  double scratch[10];
  CHECK_NEAR(cl_quantile(ten, 10, 0.5, scratch), 5.5, 1e-12);
  CHECK_NEAR(cl_quantile(ten, 10, 0.99, scratch), 9.91, 1e-12);
  CHECK_NEAR(cl_quantile(ten, 10, 0.0, scratch), 1.0, 0);
  CHECK_NEAR(cl_median(ten, 10, scratch), 5.5, 1e-12);

  /* Speedup 1.8 on 2 workers: efficiency 0.9, Karp-Flatt 1/9, Amdahl back to 1.8. */
  CHECK_NEAR(cl_speedup(0.2, 0.2 / 1.8), 1.8, 1e-12);
  CHECK_NEAR(cl_efficiency(1.8, 2), 0.9, 1e-12);
  CHECK_NEAR(cl_karp_flatt(1.8, 2), 1.0 / 9.0, 1e-12);
  CHECK_NEAR(cl_amdahl(1.0 / 9.0, 2), 1.8, 1e-12);
  /* Perfect speedup: serial fraction 0. Speedup 3 on 4: (1/3 - 1/4) / (3/4) = 1/9. */
  CHECK_NEAR(cl_karp_flatt(4.0, 4), 0.0, 1e-12);
  CHECK_NEAR(cl_karp_flatt(3.0, 4), 1.0 / 9.0, 1e-12);
  CHECK(isnan(cl_karp_flatt(1.0, 1)));
  CHECK_NEAR(cl_amdahl(0.0, 8), 8.0, 1e-12);
  CHECK_NEAR(cl_amdahl(1.0, 8), 1.0, 1e-12);
  return CL_TEST_DONE();
}
