#include "conlab/task.h"

#include <string.h>

uint64_t cl_batch_checksum(const struct cl_batch *b) {
  uint64_t sum = 0;
  for (size_t i = 0; i < b->ntasks; i++)
    sum += b->tasks[i].result;
  return sum;
}

void cl_batch_reset(struct cl_batch *b) {
  for (size_t i = 0; i < b->ntasks; i++) {
    struct cl_task *t = &b->tasks[i];
    t->next = NULL;
    t->pc = 0;
    t->worker = 0;
    t->status = 0;
    t->result = 0;
    t->wakes = 0;
    t->wake_ns = 0;
    t->io_end_ns = 0;
  }
  b->self_timed_ns = 0;
}

int cl_batch_status(const struct cl_batch *b) {
  for (size_t i = 0; i < b->ntasks; i++)
    if (b->tasks[i].status != 0) return b->tasks[i].status;
  return 0;
}

uint64_t cl_io_token(uint32_t task_index, const struct cl_phase *p) {
  return cl_mix64(((uint64_t)task_index << 32) ^ (p->op * 0x9e3779b97f4a7c15ULL) ^ p->a ^
                  (p->b << 17));
}
