# speedup.gp: speedup against workers, one panel per workload.
#
# A line per executor (its colour) and variant (solid: C; dashed: under the
# emulated GIL; dash-dot: CPython), with the 95% interval as error bars. The
# grey diagonal is ideal speedup, the black dotted curve Amdahl's law with the
# serial fraction pf[p] that the Karp-Flatt metric measured, the vertical line
# the number of physical cores. Executors that have no worker count (threads:
# a thread per task; event_loop: one thread) are flat lines.
#
# Data: RUN_DIR/plots/speedup.dat and speedup.vars, which conlab derives from
# summary.csv (`conlab plot RUN_DIR` rewrites them and runs this script).
# By hand: cd RUN_DIR && gnuplot plots/speedup.gp

if (!exists("rundir")) rundir = "."
load rundir . "/plots/common.gp"
load rundir . "/plots/run.vars"
load rundir . "/plots/speedup.vars"
if (np == 0) {
  print "speedup.gp: no workload with a sequential baseline in this run; nothing to draw"
  exit
}

data = rundir . "/plots/speedup.dat"
amdahl(p, f) = 1.0 / (f + (1.0 - f) / p)

# Layout: two panels a row, a title strip on top, the shared key at the bottom.
cols = (np > 1) ? 2 : 1
rows = (np + cols - 1) / cols
key_cols = (cols == 2) ? 3 : 2
legend_rows = (nl + 2 + key_cols - 1) / key_cols
width = (cols == 2) ? 1600 : 1100
height = 90 + rows * 560 + 30 + legend_rows * 30
title_h = 70.0 / height
legend_h = (30.0 + legend_rows * 30) / height
panel_w = 1.0 / cols
panel_h = (1.0 - title_h - legend_h) / rows

do for [fmt in formats] {
  reset
  load rundir . "/plots/common.gp"
  # gnuplot evaluates an empty plot-for's clause once; keep its index valid.
  si(i) = i > ns ? ns : i
  eval figure_term(fmt, width, height)
  set output figure_output("speedup", fmt)
  set multiplot title sprintf("Speedup against workers (run %s, %s)", run_id, run_machine)
  do for [p=1:np] {
    set origin ((p - 1) % cols) * panel_w, 1.0 - title_h - ((p - 1) / cols + 1) * panel_h
    set size panel_w, panel_h
    # The title's second line: the serial fraction behind the Amdahl curve.
    set title ptitle[p] . (pfnote[p] eq "" ? "" : "\n" . pfnote[p]) textcolor rgb ink
    set xlabel "workers (threads or processes)"
    set ylabel "speedup over sequential (x)"
    set logscale x 2
    set xrange [xmin[p] / 1.1 : xmax[p] * 1.1]
    if (ylog[p]) {
      if (ymax[p] / ymin[p] > 64) { set logscale y 10 } else { set logscale y 2 }
      set yrange [ymin[p] / 1.4 : ymax[p] * 1.6]
    } else {
      unset logscale y
      set yrange [0 : ymax[p] * 1.12]
    }
    set format y "%g"
    unset arrow
    unset label
    set arrow 1 from run_cores, graph 0 to run_cores, graph 1 nohead dt 3 lw 1.2 lc rgb faint
    set label 1 sprintf("%d cores ", run_cores) at run_cores, graph 0.96 right \
        textcolor rgb faint
    f = pf[p]
    plot x with lines dt 2 lw 1.2 lc rgb "#999999", \
         (f == f ? amdahl(x, f) : NaN) with lines dt 3 lw 2 lc rgb ink, \
         for [i=first[p]:flat_from[p] - 1] data index (i - 1) using 1:2:3:4 \
             with yerrorlines lw 2.5 lc rgb palette[scolor[i]] dt variant_dt[svariant[i] + 1] \
             pt variant_pt[svariant[i] + 1], \
         for [i=flat_from[p]:first[p] + count[p] - 1] data index (i - 1) using 1:2 \
             with lines lw 2.5 lc rgb palette[scolor[si(i)]] dt variant_dt[svariant[si(i)] + 1]
  }
  eval legend_strip(legend_h, key_cols)
  plot NaN with lines dt 2 lw 1.2 lc rgb "#999999" title "ideal", \
       NaN with lines dt 3 lw 2 lc rgb ink title "Amdahl (Karp-Flatt fit)", \
       for [k=1:nl] NaN with linespoints lw 2.5 lc rgb palette[lcolor[k]] \
           dt variant_dt[lvariant[k] + 1] pt (lflat[k] ? 0 : variant_pt[lvariant[k] + 1]) \
           ps (lflat[k] ? 0 : point_size(fmt)) title ltitle[k]
  unset multiplot
  unset output
}
