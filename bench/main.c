/* conlab-overhead: the micro-benchmarks of `conlab run --suite overhead` and
 * `--suite peers` on their own, without the cells. */
#include <stdio.h>
#include <string.h>

#include "bench/micro.h"
#include "conlab/error.h"

int main(int argc, char **argv) {
  const char *set = "overhead", *dir = NULL;
  bool quick = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if (strcmp(argv[i], "overhead") == 0 || strcmp(argv[i], "peers") == 0) {
      set = argv[i];
    } else {
      fprintf(stderr, "usage: conlab-overhead [overhead|peers] [--quick] [--out DIR]\n");
      return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  int rc = cl__micro_run(set, quick, dir, stdout);
  if (rc) {
    fprintf(stderr, "conlab-overhead: %s: %s\n", cl_strerror(rc), cl_error_detail());
    return 1;
  }
  return 0;
}
