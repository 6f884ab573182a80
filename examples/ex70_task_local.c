/* Seed example 70 (context variables): each task of an event loop keeps its
 * own request_id across an await. Thread-local storage cannot do this, since
 * every task of a loop runs on the same thread; it isolates threads instead. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conlab/error.h"
#include "conlab/event_loop.h"

#define MS 1000000ull

static const char *const reqs[3] = {"REQ-1", "REQ-2", "REQ-3"};

/* request_id: ContextVar[str] = ContextVar('request_id', default='none') */
static struct cl_ctxvar request_id = {.default_value = "none"};

/* The same variable as thread-local storage, for comparison. */
static _Thread_local const char *tls_request_id = "none";

/* async def process_request(req_id), with task-local storage. */
static int process_request(struct cl_coro *co, void *arg) {
  switch (co->pc) {
  case 0:
    cl_ctxvar_set(&request_id, arg); /* request_id.set(req_id) */
    co->pc = 1;
    cl_coro_sleep(co, 100 * MS); /* await asyncio.sleep(0.1) */
    return CL_CORO_PENDING;
  default:
    printf("Processing request: %s\n", (const char *)cl_ctxvar_get(&request_id));
    return cl_coro_return(co, cl_coro_wait_status(co), 0);
  }
}

/* The same coroutine with thread-local storage: the three tasks share it. */
static int process_request_tls(struct cl_coro *co, void *arg) {
  switch (co->pc) {
  case 0:
    tls_request_id = arg;
    co->pc = 1;
    cl_coro_sleep(co, 100 * MS);
    return CL_CORO_PENDING;
  default:
    printf("Thread-local in the loop: %s\n", tls_request_id);
    return cl_coro_return(co, cl_coro_wait_status(co), 0);
  }
}

/* One thread per request with thread-local storage: isolated again. */
static void *thread_request(void *arg) {
  tls_request_id = arg;
  struct timespec d = {.tv_sec = 0, .tv_nsec = 100 * MS};
  while (nanosleep(&d, &d) != 0) {
  }
  printf("Thread-local in a thread: %s\n", tls_request_id);
  return NULL;
}

static int gather3(struct cl_loop *loop, cl_coro_fn fn) {
  struct cl_coro co[3] = {0};
  struct cl_coro *set[3] = {&co[0], &co[1], &co[2]};
  for (size_t i = 0; i < 3; i++)
    cl_loop_spawn(loop, &co[i], fn, (void *)reqs[i]);
  return cl_loop_gather(loop, set, 3, NULL); /* await asyncio.gather(...) */
}

int main(void) {
  struct cl_loop *loop;
  int rc = cl_loop_create(NULL, &loop);
  if (rc != 0) {
    fprintf(stderr, "cl_loop_create: %s\n", cl_strerror(rc));
    return 1;
  }
  rc = gather3(loop, process_request);
  if (rc == 0) rc = gather3(loop, process_request_tls);
  cl_loop_destroy(loop);
  if (rc != 0) {
    fprintf(stderr, "gather: %s\n", cl_strerror(rc));
    return 1;
  }
  printf("Outside any task: %s\n", (const char *)cl_ctxvar_get(&request_id));

  pthread_t th[3];
  size_t started = 0;
  for (size_t i = 0; i < 3; i++) {
    int e = pthread_create(&th[i], NULL, thread_request, (void *)reqs[i]);
    if (e != 0) {
      fprintf(stderr, "pthread_create: %s\n", strerror(e));
      break;
    }
    started++;
  }
  for (size_t i = 0; i < started; i++)
    pthread_join(th[i], NULL);
  return started == 3 ? 0 : 1;
}
