/* Seed example 66 (threading for I/O-bound tasks): one thread per download.
 * Each download waits 0.2 s (the seed's 2 s, scaled down); the three threads
 * wait at the same time, so all complete in about 0.2 s, not 0.6 s. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* def download_file(url) */
static void *download_file(void *arg) {
  const char *url = arg;
  printf("Downloading %s...\n", url);
  struct timespec d = {.tv_sec = 0, .tv_nsec = 200000000}; /* time.sleep(0.2) */
  while (nanosleep(&d, &d) != 0) {
  }
  printf("Completed %s\n", url);
  return NULL;
}

int main(void) {
  static char urls[3][8] = {"url1", "url2", "url3"};
  pthread_t threads[3];
  size_t started = 0;
  double t0 = now_s();
  for (size_t i = 0; i < 3; i++) {
    int e = pthread_create(&threads[i], NULL, download_file, urls[i]); /* thread.start() */
    if (e != 0) {
      fprintf(stderr, "pthread_create: %s\n", strerror(e));
      break;
    }
    started++;
  }
  for (size_t i = 0; i < started; i++)
    pthread_join(threads[i], NULL); /* thread.join() */
  if (started != 3) return 1;
  printf("All downloads complete\n");
  printf("Total elapsed: %.3f s (not 0.6 s)\n", now_s() - t0);
  return 0;
}
