/* Internal to conlab: the intrusive timer min-heap behind the event loop (and
 * the delay server), after libuv's heap-inl.h. Nodes live inside the timed
 * objects, so inserting never allocates; every operation is O(log n). */
#ifndef CONLAB_EVENT_LOOP_INTERNAL_H
#define CONLAB_EVENT_LOOP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
