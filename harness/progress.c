#include <stdio.h>
#include <unistd.h>

#include "conlab/error.h"
#include "harness/harness.h"

void cl__progress_init(struct cl__progress *p, size_t total) {
  p->f = stderr;
  p->tty = isatty(fileno(stderr));
  p->total = total;
  p->done = 0;
  p->start_s = cl__now_s();
}

static void bar(struct cl__progress *p, const struct cl__cell *c, unsigned rep, unsigned reps) {
  enum { WIDTH = 24 };
  double frac = p->total ? ((double)p->done + (reps ? (double)rep / reps : 0)) / p->total : 1;
  int fill = (int)(frac * WIDTH);
  char b[WIDTH + 1];
  for (int i = 0; i < WIDTH; i++)
    b[i] = i < fill ? '#' : '.';
  b[WIDTH] = '\0';
  double el = cl__now_s() - p->start_s;
  fprintf(p->f, "\r\033[K[%s] %zu/%zu %.0fs  %s %s w=%u%s rep %u/%u", b, p->done + 1, p->total, el,
          c->w->name, c->ex->name, c->workers, c->gil ? " gil" : "", rep + 1, reps);
  fflush(p->f);
}

void cl__progress_cell_start(struct cl__progress *p, const struct cl__cell *c) {
  if (p->tty) bar(p, c, 0, c->reps);
}

void cl__progress_rep(struct cl__progress *p, const struct cl__cell *c, unsigned rep,
                      unsigned reps) {
  if (p->tty) bar(p, c, rep, reps);
}

void cl__progress_cell_done(struct cl__progress *p, const struct cl__cell *c) {
  p->done++;
  if (p->tty) {
    if (c->status)
      fprintf(p->f, "\r\033[K%s %s w=%u: FAILED: %s\n", c->w->name, c->ex->name, c->workers,
              c->error);
    return;
  }
  if (c->status) {
    fprintf(p->f, "[%zu/%zu] %s %s workers=%u%s: FAILED: %s\n", p->done, p->total, c->w->name,
            c->ex->name, c->workers, c->gil ? " gil" : "", c->error);
  } else {
    fprintf(p->f, "[%zu/%zu] %s %s workers=%u%s: median %.4f s\n", p->done, p->total, c->w->name,
            c->ex->name, c->workers, c->gil ? " gil" : "", c->wall.median);
  }
  fflush(p->f);
}

void cl__progress_finish(struct cl__progress *p) {
  if (p->tty) fprintf(p->f, "\r\033[K");
  fprintf(p->f, "%zu cells in %.1f s\n", p->done, cl__now_s() - p->start_s);
  fflush(p->f);
}
