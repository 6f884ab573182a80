#include "executors/exec_internal.h"

#include "conlab/error.h"
#include "conlab/gil.h"
#include "conlab/kernel.h"
#include "conlab/topology.h"
#include "conlab/net.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void cl_exec_config_default(struct cl_exec_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->workers = 1;
  cfg->omp_schedule = CL_OMP_STATIC;
  cfg->bind = CL_BIND_NONE;
  cfg->gil = false;
  cfg->switch_interval_ns = 5000000;
}

int cl_executor_run_once(const struct cl_executor_ops *ops, const struct cl_exec_config *cfg,
                         struct cl_batch *batch) {
  if (!ops || !cfg || !batch) return cl_error_set(CL_EINVAL, "run_once: NULL argument");
  struct cl_executor *ex = NULL;
  int rc = ops->create(cfg, &ex);
  if (rc) return rc;
  rc = ops->run(ex, batch);
  ops->destroy(ex);
  return rc;
}

const char *cl_bind_name(enum cl_bind b) {
  switch (b) {
  case CL_BIND_NONE:
    return "none";
  case CL_BIND_CORE:
    return "core";
  case CL_BIND_PU:
    return "pu";
  case CL_BIND_COMPACT:
    return "compact";
  case CL_BIND_SCATTER:
    return "scatter";
  case CL_BIND_LIST:
    return "list";
  }
  return "?";
}

const char *cl_omp_schedule_name(enum cl_omp_schedule s) {
  switch (s) {
  case CL_OMP_STATIC:
    return "static";
  case CL_OMP_DYNAMIC:
    return "dynamic";
  case CL_OMP_GUIDED:
    return "guided";
  }
  return "?";
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int cl_task_step(struct cl_task *t, const struct cl_batch *b) {
  if (t->io_end_ns) {
    if (t->pc < t->nphases && t->pc < CL_TASK_MAX_PHASES && t->phase[t->pc].kind == CL_PHASE_CPU) {
      uint64_t now = mono_ns();
      t->wake_ns += now > t->io_end_ns ? now - t->io_end_ns : 0;
      t->wakes++;
    }
    t->io_end_ns = 0;
  }
  if (t->nphases > CL_TASK_MAX_PHASES) {
    t->status = cl_error_set(CL_EINVAL, "task %u has %u phases (at most %d)", t->index, t->nphases,
                             CL_TASK_MAX_PHASES);
    t->pc = t->nphases;
    return -1;
  }
  while (t->pc < t->nphases) {
    const struct cl_phase *p = &t->phase[t->pc];
    if (p->kind == CL_PHASE_IO) return (int)t->pc;
    if (p->kind != CL_PHASE_CPU) {
      t->status = cl_error_set(CL_EINVAL, "task %u phase %u: unknown phase kind %u", t->index,
                               t->pc, p->kind);
      t->pc = t->nphases;
      return -1;
    }
    t->result += cl_kernel_run(p->op, p->a, p->b, b->data);
    t->pc++;
  }
  return -1;
}

/* Sleeps until ns from now; *end_ns is the deadline (CLOCK_MONOTONIC). */
static int sleep_ns(uint64_t ns, uint64_t *end_ns) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  uint64_t nsec = (uint64_t)deadline.tv_nsec + ns % 1000000000u;
  deadline.tv_sec += (time_t)(ns / 1000000000u + nsec / 1000000000u);
  deadline.tv_nsec = (long)(nsec % 1000000000u);
  *end_ns = (uint64_t)deadline.tv_sec * 1000000000u + (uint64_t)deadline.tv_nsec;
  int rc;
  do
    rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
  while (rc == EINTR);
  return rc;
}

/* cl_io_blocking, also telling when the IO ended: a sleep at its deadline, a
 * request when its reply was in. */
static int io_blocking(const struct cl_batch *b, const struct cl_phase *p, uint64_t *token,
                       uint32_t task_index, uint64_t *end_ns) {
  if (p->kind != CL_PHASE_IO)
    return cl_error_set(CL_EINVAL, "task %u: phase kind %u is not IO", task_index, p->kind);
  switch (p->op) {
  case CL_IO_SLEEP: {
    int rc = sleep_ns(p->a, end_ns);
    if (rc)
      return cl_error_set(CL_ESYS, "task %u: clock_nanosleep failed: %s", task_index, strerror(rc));
    *token = cl_io_token(task_index, p);
    return 0;
  }
  case CL_IO_NET: {
    int rc = cl_net_request_blocking(b ? &b->io : NULL, p, task_index, token);
    *end_ns = mono_ns();
    return rc;
  }
  }
  return cl_error_set(CL_EINVAL, "task %u: unknown IO kind %u", task_index, p->op);
}

int cl_io_blocking(const struct cl_batch *b, const struct cl_phase *p, uint64_t *token,
                   uint32_t task_index) {
  uint64_t end_ns;
  return io_blocking(b, p, token, task_index, &end_ns);
}

void cl_task_run_blocking(struct cl_task *t, const struct cl_batch *b, struct cl_gil *gil) {
  t->status = 0;
  while (t->pc < t->nphases) {
    int io = (int)t->pc;
    if (t->nphases > CL_TASK_MAX_PHASES || t->phase[t->pc].kind != CL_PHASE_IO) {
      if (gil) cl_gil_acquire(gil);
      io = cl_task_step(t, b);
      if (gil) cl_gil_release(gil);
      if (io < 0) break;
    }
    uint64_t token = 0, end_ns = 0;
    int rc = io_blocking(b, &t->phase[io], &token, t->index, &end_ns);
    if (rc) {
      t->status = rc;
      break;
    }
    t->result += token;
    t->pc++;
    /* The next cl_task_step() charges the wait from here to its CPU phase,
     * the GIL acquisition included. */
    t->io_end_ns = end_ns;
  }
  t->io_end_ns = 0;
}

int cl__exec_check_config(const char *who, const struct cl_exec_config *cfg, bool workers) {
  if (!cfg) return cl_error_set(CL_EINVAL, "%s: NULL config", who);
  if (!workers) {
    /* Only the stack size matters. */
  } else if (cfg->workers == 0)
    return cl_error_set(CL_EINVAL, "%s: workers must be at least 1", who);
  if (cfg->workers > CL__MAX_WORKERS)
    return cl_error_set(CL_ERANGE, "%s: %u workers requested, at most %d", who, cfg->workers,
                        CL__MAX_WORKERS);
  if (cfg->stack_size != 0 && cfg->stack_size < (size_t)PTHREAD_STACK_MIN)
    return cl_error_set(CL_EINVAL, "%s: stack size %zu is below the minimum %zu", who,
                        cfg->stack_size, (size_t)PTHREAD_STACK_MIN);
  int rc = cl_topology_check_bind(cfg);
  if (rc) {
    char why[256];
    snprintf(why, sizeof why, "%s", cl_error_detail());
    return cl_error_set(rc, "%s: %s", who, why);
  }
  return 0;
}

int cl__exec_gil_create(const struct cl_exec_config *cfg, struct cl_gil **out) {
  *out = NULL;
  if (!cfg->gil) return 0;
  return cl_gil_create(cfg->switch_interval_ns, out);
}

int cl__thread_attr_init(pthread_attr_t *attr, size_t stack_size) {
  int rc = pthread_attr_init(attr);
  if (rc) return rc;
  if (stack_size) rc = pthread_attr_setstacksize(attr, stack_size);
  if (rc) pthread_attr_destroy(attr);
  return rc;
}

int cl__first_error_init(struct cl__first_error *fe) {
  fe->code = 0;
  fe->task = 0;
  fe->detail[0] = '\0';
  int rc = pthread_mutex_init(&fe->lock, NULL);
  if (rc) return cl_error_set(CL_ESYS, "pthread_mutex_init failed: %s", strerror(rc));
  return 0;
}

void cl__first_error_destroy(struct cl__first_error *fe) {
  pthread_mutex_destroy(&fe->lock);
}

void cl__first_error_reset(struct cl__first_error *fe) {
  pthread_mutex_lock(&fe->lock);
  fe->code = 0;
  fe->detail[0] = '\0';
  pthread_mutex_unlock(&fe->lock);
}

void cl__first_error_note(struct cl__first_error *fe, const struct cl_task *t) {
  pthread_mutex_lock(&fe->lock);
  if (fe->code == 0) {
    fe->code = t->status;
    fe->task = t->index;
    snprintf(fe->detail, sizeof fe->detail, "%s", cl_error_detail());
  }
  pthread_mutex_unlock(&fe->lock);
}

int cl__first_error_raise(struct cl__first_error *fe) {
  pthread_mutex_lock(&fe->lock);
  int code = fe->code;
  if (code) {
    if (fe->detail[0])
      cl_error_set(code, "%s", fe->detail);
    else
      cl_error_set(code, "task %u: %s", fe->task, cl_strerror(code));
  }
  pthread_mutex_unlock(&fe->lock);
  return code;
}
