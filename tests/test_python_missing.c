/* Without python3 the py.* executors refuse to start, in one clear line,
 * without starting anything. */
#include "cl_test.h"

#include "conlab/error.h"
#include "conlab/executor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const py_names[] = {"py.sequential", "py.threads", "py.thread_pool",
                                       "py.process_pool", "py.event_loop"};

static void expect_refused(const char *detail) {
  for (size_t k = 0; k < sizeof py_names / sizeof py_names[0]; k++) {
    const struct cl_executor_ops *ops = cl_executor_find(py_names[k]);
    CHECK(ops != NULL);
    if (!ops) continue;
    struct cl_exec_config cfg;
    cl_exec_config_default(&cfg);
    struct cl_executor *ex = NULL;
    cl_error_clear();
    CHECK_EQ_INT(ops->create(&cfg, &ex), CL_EUNSUPPORTED);
    CHECK(ex == NULL);
    CL_T_REPORT(strstr(cl_error_detail(), detail) != NULL, "detail \"%s\" has \"%s\"",
                cl_error_detail(), detail);
  }
}

int main(void) {
  char dir[] = "/tmp/conlab-test-nopy-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  unsetenv("CONLAB_PYTHON");

  /* An empty directory as the whole PATH. */
  setenv("PATH", dir, 1);
  expect_refused("python3 not found on PATH");
  CHECK_STR(cl_error_detail(), "python3 not found on PATH");

  /* A PATH entry that is a directory named python3 does not count. */
  char sub[256];
  snprintf(sub, sizeof sub, "%s/python3", dir);
  CHECK_EQ_INT(mkdir(sub, 0700), 0);
  expect_refused("python3 not found on PATH");
  rmdir(sub);

  /* CONLAB_PYTHON naming something that is not there. */
  setenv("CONLAB_PYTHON", "/nonexistent/python3.13t", 1);
  expect_refused("CONLAB_PYTHON=/nonexistent/python3.13t is not an executable file");
  unsetenv("CONLAB_PYTHON");

  /* Nothing was started. */
  errno = 0;
  CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
  CHECK_EQ_INT(rmdir(dir), 0);
  return CL_TEST_DONE();
}
