#include "executors/event_loop_internal.h"

#include "conlab/error.h"

#include <stdint.h>
#include <stdlib.h>

/* The heap is a complete binary tree of linked nodes: a node's position is
 * given by the path from the root, and the bottom row fills left to right.
 * The path to position k (1-based) is the binary form of k without its top
 * bit, read from the top: 0 goes left, 1 goes right. */

/* Exchanges a parent and its child in the tree (their links, not their
 * memory), fixing the links of everything around them. */
static void swap_with_child(struct cl__heap *h, struct cl_heap_node *parent,
                            struct cl_heap_node *child) {
  struct cl_heap_node t = *parent;
  *parent = *child;
  *child = t;

  /* child now holds parent's old links, one of which points at itself. */
  parent->parent = child;
  struct cl_heap_node *sibling;
  if (child->left == child) {
    child->left = parent;
    sibling = child->right;
  } else {
    child->right = parent;
    sibling = child->left;
  }
  if (sibling) sibling->parent = child;
  if (parent->left) parent->left->parent = parent;
  if (parent->right) parent->right->parent = parent;

  if (!child->parent)
    h->min = child;
  else if (child->parent->left == parent)
    child->parent->left = child;
  else
    child->parent->right = child;
}

/* Path bits for position k, lowest bit = first step from the root, and the
 * number of steps. */
static size_t path_to(size_t k, unsigned *steps) {
  size_t path = 0;
  unsigned d = 0;
  for (; k >= 2; k /= 2, d++)
    path = (path << 1) | (k & 1);
  *steps = d;
  return path;
}

void cl__heap_insert(struct cl__heap *h, struct cl_heap_node *node, cl__heap_less less) {
  node->left = node->right = node->parent = NULL;
  unsigned steps;
  size_t path = path_to(h->n + 1, &steps);

  struct cl_heap_node **parent = &h->min, **child = &h->min;
  for (; steps > 0; steps--, path >>= 1) {
    parent = child;
    child = (path & 1) ? &(*child)->right : &(*child)->left;
  }
  node->parent = *parent;
  *child = node;
  h->n++;

  while (node->parent && less(node, node->parent))
    swap_with_child(h, node->parent, node);
}

void cl__heap_remove(struct cl__heap *h, struct cl_heap_node *node, cl__heap_less less) {
  if (h->n == 0) return;
  unsigned steps;
  size_t path = path_to(h->n, &steps);

  /* Unlink the last node of the bottom row. */
  struct cl_heap_node **last = &h->min;
  for (; steps > 0; steps--, path >>= 1)
    last = (path & 1) ? &(*last)->right : &(*last)->left;
  h->n--;
  struct cl_heap_node *child = *last;
  *last = NULL;
  if (child == node) {
    if (child == h->min) h->min = NULL;
    return;
  }

  /* Put it where `node` was. */
  child->left = node->left;
  child->right = node->right;
  child->parent = node->parent;
  if (child->left) child->left->parent = child;
  if (child->right) child->right->parent = child;
  if (!node->parent)
    h->min = child;
  else if (node->parent->left == node)
    node->parent->left = child;
  else
    node->parent->right = child;

  /* It may be too large for its new place (sift down) or, when `node` sat in
   * another subtree, too small (sift up). */
  for (;;) {
    struct cl_heap_node *smallest = child;
    if (child->left && less(child->left, smallest)) smallest = child->left;
    if (child->right && less(child->right, smallest)) smallest = child->right;
    if (smallest == child) break;
    swap_with_child(h, child, smallest);
  }
  while (child->parent && less(child, child->parent))
    swap_with_child(h, child->parent, child);
}

/* ---- The event loop's array heap. ---- */

static bool timer_before(const struct cl__timer *a, const struct cl__timer *b) {
  return a->deadline != b->deadline ? a->deadline < b->deadline : a->seq < b->seq;
}

/* Stores t in slot i and tells its coroutine where it is. */
static void put(struct cl__timerq *q, size_t i, struct cl__timer t) {
  q->v[i] = t;
  t.co->timer_slot = i;
}

/* Moves t up from the hole at i while it is earlier than the parent. Entries
 * are moved into the hole rather than swapped: one store each. */
static void sift_up(struct cl__timerq *q, size_t i, struct cl__timer t) {
  while (i > 0) {
    size_t p = (i - 1) / 4;
    if (!timer_before(&t, &q->v[p])) break;
    put(q, i, q->v[p]);
    i = p;
  }
  put(q, i, t);
}

/* Moves t down from the hole at i while a child is earlier. */
static void sift_down(struct cl__timerq *q, size_t i, struct cl__timer t) {
  for (;;) {
    size_t c = 4 * i + 1;
    if (c >= q->n) break;
    size_t end = c + 4 < q->n ? c + 4 : q->n, best = c;
    for (size_t k = c + 1; k < end; k++)
      if (timer_before(&q->v[k], &q->v[best])) best = k;
    if (!timer_before(&q->v[best], &t)) break;
    put(q, i, q->v[best]);
    i = best;
  }
  put(q, i, t);
}

int cl__timerq_reserve(struct cl__timerq *q, size_t want) {
  if (want <= q->cap) return 0;
  size_t cap = q->cap ? q->cap : 64;
  while (cap < want) {
    if (cap > SIZE_MAX / 2 / sizeof *q->v) return CL_ENOMEM;
    cap *= 2;
  }
  struct cl__timer *v = realloc(q->v, cap * sizeof *v);
  if (!v) return CL_ENOMEM;
  q->v = v;
  q->cap = cap;
  return 0;
}

void cl__timerq_insert(struct cl__timerq *q, struct cl__timer t) {
  sift_up(q, q->n++, t);
}

void cl__timerq_remove(struct cl__timerq *q, size_t slot) {
  struct cl__timer last = q->v[--q->n];
  if (slot == q->n) return;
  /* The last entry fills the hole: it may belong above it (when the hole was
   * in another subtree) or below it. */
  if (slot > 0 && timer_before(&last, &q->v[(slot - 1) / 4]))
    sift_up(q, slot, last);
  else
    sift_down(q, slot, last);
}
