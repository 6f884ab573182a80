# io_concurrency.gp: an I/O-bound workload with every task in flight at once,
# threads against the event loop, over a sweep of task counts
# (`conlab run -w io.sleep -e threads,event_loop --tasks 10,100,1000`).
# Left: wall time, with the 95% interval; the dotted line is one delay, the
# least any executor can take. Right: peak memory (the process's max RSS, a
# high-water mark over the run) divided by the number of tasks.
#
# Data: RUN_DIR/plots/io_concurrency.dat (x: tasks, y: wall seconds, column 5:
# KiB per task) and io_concurrency.vars, which conlab derives from summary.csv.
# By hand: cd RUN_DIR && gnuplot plots/io_concurrency.gp

if (!exists("rundir")) rundir = "."
load rundir . "/plots/common.gp"
load rundir . "/plots/run.vars"
load rundir . "/plots/io_concurrency.vars"
if (np == 0) {
  print "io_concurrency.gp: this run has no I/O workload with several --tasks values; " . \
        "nothing to draw"
  exit
}

data = rundir . "/plots/io_concurrency.dat"
last = first[1] + count[1] - 1
delay = pextra[1]
width = 1600
height = 820
legend_h = 80.0 / height
title_h = 70.0 / height

do for [fmt in formats] {
  reset
  load rundir . "/plots/common.gp"
  eval figure_term(fmt, width, height)
  set output figure_output("io_concurrency", fmt)
  set multiplot title sprintf("%s (run %s, %s)", ptitle[1], run_id, run_machine)
  set logscale x 10
  set xrange [xmin[1] : xmax[1]]
  set xlabel "tasks in flight"
  set format x "%g"

  # Wall time against tasks in flight.
  set origin 0, legend_h
  set size 0.5, 1 - legend_h - title_h
  set title "wall time" textcolor rgb ink
  set ylabel "wall time (s)"
  set logscale y 10
  set format y "%.0s %cs"
  set ytics 10
  do for [e=-6:3] {  # 1-2-5 tics: 10 ms, 20 ms, 50 ms, 100 ms ...
    set ytics add (2 * 10.0**e, 5 * 10.0**e)
  }
  set yrange [ymin[1] / 1.5 : ymax[1] * 1.5]
  unset arrow
  unset label
  if (delay == delay) {
    set arrow 1 from graph 0, first delay to graph 1, first delay nohead dt 3 lw 2 lc rgb faint
    set label 1 sprintf(" one delay (%.3g ms)", delay * 1e3) at graph 0, first delay \
        offset 0, -0.8 textcolor rgb faint
  }
  plot for [i=first[1] : last] data index (i - 1) using 1:2:3:4 \
      with yerrorlines lw 2.5 lc rgb palette[scolor[i]] dt variant_dt[svariant[i] + 1] \
      pt variant_pt[svariant[i] + 1]

  # Memory per task against tasks in flight.
  set origin 0.5, legend_h
  set title "peak memory per task" textcolor rgb ink
  set ylabel "max RSS / tasks (KiB)"
  set format y "%g"
  set ytics autofreq
  set autoscale y
  unset arrow
  unset label
  plot for [i=first[1] : last] data index (i - 1) using 1:5 \
      with linespoints lw 2.5 lc rgb palette[scolor[i]] dt variant_dt[svariant[i] + 1] \
      pt variant_pt[svariant[i] + 1]

  eval legend_strip(legend_h, 4)
  plot for [k=1:nl] NaN with linespoints lw 2.5 lc rgb palette[lcolor[k]] \
      dt variant_dt[lvariant[k] + 1] pt variant_pt[lvariant[k] + 1] title ltitle[k]
  unset multiplot
  unset output
}
