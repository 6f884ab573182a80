/* Internal to conlab: the intrusive timer min-heap behind the delay server,
 * after libuv's heap-inl.h (nodes live inside the timed objects, so inserting
 * never allocates; every operation is O(log n)), and the array heap behind
 * the event loop's timers. */
#ifndef CONLAB_EVENT_LOOP_INTERNAL_H
#define CONLAB_EVENT_LOOP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "conlab/event_loop.h"

struct cl__heap {
  struct cl_heap_node *min; /* the root, NULL when empty */
  size_t n;
};

/* Strict order on nodes; ties must be broken (the loop uses an insertion
 * sequence) so that equal deadlines come out first-in, first-out. */
typedef bool (*cl__heap_less)(const struct cl_heap_node *a, const struct cl_heap_node *b);

static inline void cl__heap_init(struct cl__heap *h) {
  h->min = NULL;
  h->n = 0;
}

static inline struct cl_heap_node *cl__heap_min(const struct cl__heap *h) {
  return h->min;
}

/* Inserts `node`, which must not be in any heap. */
void cl__heap_insert(struct cl__heap *h, struct cl_heap_node *node, cl__heap_less less);

/* Removes `node`, which must be in `h`. */
void cl__heap_remove(struct cl__heap *h, struct cl_heap_node *node, cl__heap_less less);

/* Removes the minimum; no-op on an empty heap. */
static inline void cl__heap_pop(struct cl__heap *h, cl__heap_less less) {
  if (h->min) cl__heap_remove(h, h->min, less);
}

/* The event loop's timers: a 4-ary min-heap of entries stored by value in one
 * array. The linked heap above chases a pointer into a different coroutine at
 * every step (with a million coroutines, a cache miss each); here the keys
 * sit side by side, four children share one or two cache lines, and the tree
 * is half as deep. Each coroutine only keeps its slot (co->timer_slot), so
 * that a timer can be removed before it fires. Order: earlier deadline first,
 * equal deadlines by `seq` (insertion order). */
struct cl__timer {
  uint64_t deadline, seq;
  struct cl_coro *co;
};

struct cl__timerq {
  struct cl__timer *v; /* v[0] is the minimum */
  size_t n, cap;
};

static inline void cl__timerq_init(struct cl__timerq *q) {
  q->v = NULL;
  q->n = q->cap = 0;
}

static inline void cl__timerq_free(struct cl__timerq *q) {
  free(q->v);
  cl__timerq_init(q);
}

/* The earliest timer, NULL when empty. */
static inline const struct cl__timer *cl__timerq_min(const struct cl__timerq *q) {
  return q->n ? &q->v[0] : NULL;
}

/* Makes room for `want` timers in all (geometric growth). Returns 0 or
 * CL_ENOMEM. */
int cl__timerq_reserve(struct cl__timerq *q, size_t want);

/* Inserts t (t.co->timer_slot is set); room must have been reserved. */
void cl__timerq_insert(struct cl__timerq *q, struct cl__timer t);

/* Removes the timer in `slot` (< q->n). */
void cl__timerq_remove(struct cl__timerq *q, size_t slot);

#endif
