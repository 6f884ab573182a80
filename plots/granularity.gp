# granularity.gp: speedup against task size, one panel per workload that the
# run swept over sizes (`conlab run -w cpu.sumsq --size 1000,10000,100000`).
# The x axis is the time one task takes sequentially; a line per executor
# (solid: C; dashed: under the emulated GIL; dash-dot: CPython) with the 95%
# interval as error bars. A circle marks the smallest task at which each
# executor beats sequential (at least 10% faster, its whole 95% interval
# above 1); the key says where.
#
# Data: RUN_DIR/plots/granularity.dat (column 5: the --size value) and
# granularity.vars, which conlab derives from summary.csv.
# By hand: cd RUN_DIR && gnuplot plots/granularity.gp

if (!exists("rundir")) rundir = "."
load rundir . "/plots/common.gp"
load rundir . "/plots/run.vars"
load rundir . "/plots/granularity.vars"
if (np == 0) {
  print "granularity.gp: this run has no size sweep (several --size values); nothing to draw"
  exit
}

data = rundir . "/plots/granularity.dat"
width = 1600
height = 90 + np * 640

do for [fmt in formats] {
  reset
  load rundir . "/plots/common.gp"
  eval figure_term(fmt, width, height)
  set output figure_output("granularity", fmt)
  set multiplot layout np, 1 title \
      sprintf("When does concurrency pay? Speedup against task size (run %s, %s)", \
              run_id, run_machine)
  do for [p=1:np] {
    set title ptitle[p] textcolor rgb ink
    set xlabel "task size: time one task takes sequentially"
    set ylabel "speedup over sequential (x)"
    set logscale x 10
    if (ymax[p] / ymin[p] > 64) { set logscale y 10 } else { set logscale y 2 }
    set format x "%.0s %cs"
    set format y "%g"
    set xrange [xmin[p] : xmax[p]]
    set yrange [ymin[p] : ymax[p]]
    set key outside right top vertical Left reverse samplen 3 spacing 1.2 \
        title "executor: smallest task that wins" left
    unset arrow
    unset label
    do for [i=first[p] : first[p] + count[p] - 1] {
      if (swinx[i] == swinx[i]) {
        set label 10 + i "" at swinx[i], swiny[i] point pt 6 ps (2.7 * point_size(fmt)) lw 2.5 lc rgb palette[scolor[i]]
      }
    }
    plot 1 with lines dt 2 lw 1.2 lc rgb faint title "sequential (1x)", \
         for [i=first[p] : first[p] + count[p] - 1] data index (i - 1) using 1:2:3:4 \
        with yerrorlines lw 2.5 lc rgb palette[scolor[i]] dt variant_dt[svariant[i] + 1] \
        pt variant_pt[svariant[i] + 1] title stitle[i]
  }
  unset multiplot
  unset output
}
