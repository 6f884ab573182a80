/* The emulated GIL: one lock that a thread holds while it runs CPU phases, with
 * CPython-style forced switching (Python/ceval_gil.c, FORCE_SWITCHING).
 *
 * A thread that wants the lock waits; once it has waited longer than the
 * switch interval without the holder changing, it sets a drop request. The
 * holder sees the request at its next yield point (cl_yield_point() in
 * kernel.h), releases the lock and does not take it back until another
 * thread has taken it. Like sys.setswitchinterval(), the interval is a
 * minimum wait before a request, not a time slice. */
#ifndef CONLAB_GIL_H
#define CONLAB_GIL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cl_gil;

/* Counters since creation, read under the GIL's own mutex. */
struct cl_gil_stats {
  uint64_t acquisitions;    /* times any thread took the lock */
  uint64_t drop_requests;   /* times a waiter asked the holder to drop it */
  uint64_t forced_switches; /* times a holder dropped it at a yield point */
};

/* Creates a GIL with the given switch interval (0 means 5 ms, CPython's
 * default). Returns 0, CL_ENOMEM or CL_ESYS (detail in cl_error_detail()). */
int cl_gil_create(uint64_t interval_ns, struct cl_gil **out);

/* Frees a GIL. No thread may hold it or wait for it. NULL is ignored. */
void cl_gil_destroy(struct cl_gil *gil);

/* Takes the GIL, blocking until it is free, and makes it this thread's GIL
 * for yield points (cl__tls_gil). The calling thread must not hold it. */
void cl_gil_acquire(struct cl_gil *gil);

/* Releases the GIL and clears this thread's yield-point hook. The calling
 * thread must hold it. Never waits for another thread to take it. */
void cl_gil_release(struct cl_gil *gil);

/* Copies the counters. */
void cl_gil_stats(struct cl_gil *gil, struct cl_gil_stats *out);

/* The switch interval in nanoseconds (after the 0 -> 5 ms default). */
uint64_t cl_gil_interval_ns(const struct cl_gil *gil);

#ifdef __cplusplus
}
#endif
#endif
