/* Seed example 65 (memory profiling): process_large_data() builds a list of
 * 1,000,000 squares, filters the even ones and sums them. First its memory
 * line by line (current RSS, as memory_profiler shows), then the peak memory
 * of a batch of four such calls under threads (one address space: the four
 * buffers add up) and under a process pool (each worker holds only its own). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conlab/error.h"
#include "conlab/process_pool.h"
#include "conlab/thread_pool.h"

#define COUNT 1000000u
#define NCALLS 4u

/* Current resident set of this process, in MiB (/proc/self/statm). */
static double rss_mib(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static double peak_mib(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

/* One call of process_large_data(). With `report` it prints a line per step;
 * `hold_ns` keeps both lists alive a while, as a slow consumer would. */
static uint64_t process_large_data(bool report, long hold_ns) {
  double prev = rss_mib(), cur;
  uint64_t *data = malloc(COUNT * sizeof *data); /* data = [i ** 2 for i in range(1000000)] */
  uint64_t *filtered = malloc(COUNT / 2 * sizeof *filtered);
  if (data == NULL || filtered == NULL) {
    free(data);
    free(filtered);
    return 0;
  }
  for (uint64_t i = 0; i < COUNT; i++)
    data[i] = i * i;
  if (report) {
    cur = rss_mib();
    printf("    3 %8.1f MiB %8.1f MiB   data = [...]\n", cur, cur - prev);
    prev = cur;
  }
  size_t nf = 0; /* filtered = [x for x in data if x % 2 == 0] */
  for (uint64_t i = 0; i < COUNT; i++)
    if (data[i] % 2 == 0) filtered[nf++] = data[i];
  if (report) {
    cur = rss_mib();
    printf("    4 %8.1f MiB %8.1f MiB   filtered = [...]\n", cur, cur - prev);
    prev = cur;
  }
  uint64_t result = 0; /* result = sum(filtered) */
  for (size_t i = 0; i < nf; i++)
    result += filtered[i];
  if (report) {
    cur = rss_mib();
    printf("    5 %8.1f MiB %8.1f MiB   result = sum(...)\n", cur, cur - prev);
  }
  if (hold_ns > 0) {
    struct timespec d = {.tv_sec = 0, .tv_nsec = hold_ns};
    while (nanosleep(&d, &d) != 0) {
    }
  }
  free(filtered);
  free(data);
  return result;
}

static uint64_t batch_item_thread(void *arg) {
  (void)arg;
  return process_large_data(false, 100000000);
}

static uint64_t batch_item_process(uint64_t arg) {
  (void)arg;
  return process_large_data(false, 100000000);
}

int main(void) {
  /* The process pool first: it must be forked while no other thread runs,
   * and before this process has grown. */
  struct cl_process_pool *pp;
  struct cl_process_pool_options opt = {.workers = NCALLS};
  uint64_t args[NCALLS] = {0}, proc_results[NCALLS];
  int rc = cl_process_pool_create(&opt, &pp);
  if (rc != 0) {
    fprintf(stderr, "cl_process_pool_create: %s %s\n", cl_strerror(rc), cl_error_detail());
    return 1;
  }
  rc = cl_process_pool_map(pp, batch_item_process, args, proc_results, NCALLS, 1);
  struct cl_exec_usage usage;
  cl_process_pool_usage(pp, &usage);
  cl_process_pool_destroy(pp);
  if (rc != 0) {
    fprintf(stderr, "cl_process_pool_map: %s %s\n", cl_strerror(rc), cl_error_detail());
    return 1;
  }

  /* The same batch on a pool of as many threads. */
  struct cl_thread_pool *tp;
  struct cl_future fut[NCALLS] = {0};
  uint64_t thread_results[NCALLS];
  rc = cl_thread_pool_create(NCALLS, NULL, &tp);
  if (rc != 0) {
    fprintf(stderr, "cl_thread_pool_create: %s\n", cl_strerror(rc));
    return 1;
  }
  for (size_t i = 0; i < NCALLS && rc == 0; i++)
    rc = cl_thread_pool_submit(tp, &fut[i], batch_item_thread, NULL);
  for (size_t i = 0; i < NCALLS && rc == 0; i++)
    rc = cl_future_wait(&fut[i], &thread_results[i]);
  cl_thread_pool_destroy(tp, CL_POOL_DRAIN);
  if (rc != 0) {
    fprintf(stderr, "thread pool: %s\n", cl_strerror(rc));
    return 1;
  }
  double thread_peak = peak_mib(RUSAGE_SELF);

  printf("Line    Mem usage    Increment\n");
  uint64_t result = process_large_data(true, 0);
  for (size_t i = 0; i < NCALLS; i++) {
    if (proc_results[i] != result || thread_results[i] != result) {
      fprintf(stderr, "call %zu computed a different sum\n", i);
      return 1;
    }
  }
  printf("result = %llu\n", (unsigned long long)result);
  double one_call = (double)(COUNT + COUNT / 2) * sizeof(uint64_t) / (1024.0 * 1024.0);
  printf("The same batch of %u calls (%.1f MiB of lists each):\n", NCALLS, one_call);
  printf("  threads:   peak RSS of the process %.1f MiB\n", thread_peak);
  printf("  processes: peak RSS of the largest worker %.1f MiB (%u workers)\n",
         (double)usage.max_rss_kb / 1024.0, NCALLS);
  return 0;
}
