#include <errno.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>

#include "executors/exec_internal.h"

bool cl__reap_within(int pid, int *status, int ms) {
  for (int waited = 0;; waited++) {
    int r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) {
      *status = -1;
      return true;
    }
    if (waited >= ms) return false;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}
