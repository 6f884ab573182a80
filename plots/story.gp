# story.gp: the story in one picture. A CPU-bound and an I/O-bound panel side
# by side, a bar per executor: its best speedup over sequential across the
# worker counts tried, with the 95% interval of the median as a whisker.
# In C, threads scale on CPU-bound work; under a GIL (hatched: emulated; pale:
# CPython) they do not; on I/O-bound work every concurrent executor wins.
#
# Data: RUN_DIR/plots/story.dat and story.vars, which conlab derives from
# summary.csv (`conlab plot RUN_DIR` rewrites them and runs this script).
# By hand: cd RUN_DIR && gnuplot plots/story.gp

if (!exists("rundir")) rundir = "."
load rundir . "/plots/common.gp"
load rundir . "/plots/run.vars"
load rundir . "/plots/story.vars"
if (np == 0) {
  print "story.gp: no CPU-bound or I/O-bound workload with a baseline; nothing to draw"
  exit
}

data = rundir . "/plots/story.dat"
bar = 0.38  # half a bar's width, in slots

# Above each bar, upright: its speedup and the worker count of its best run.
value_label(s, i) = sprintf(s >= 10 ? "%.1fx%s" : "%.2fx%s", s, \
                             snote[i] eq "" ? "" : " (" . snote[i] . ")")

# Wide enough for every bar's name (about 64 pixels a bar), at least slide size.
most = 0
do for [p=1:np] { most = (count[p] > most) ? count[p] : most }
width = np * (220 + 64 * most)
width = (width < 1600) ? ((np == 2) ? 1600 : 1000) : width
height = 1000

do for [fmt in formats] {
  reset
  load rundir . "/plots/common.gp"
  eval figure_term(fmt, width, height)
  set output figure_output("story", fmt)
  set multiplot layout 1, np title \
      sprintf("Best speedup over sequential per executor (run %s, %s)", run_id, run_machine)
  set label 99 "solid: C    hatched: under the emulated GIL    pale: CPython (against " . \
      "py.sequential)" . (np == 2 ? "    " : "\n") . "whisker: 95% interval of the median" \
      at screen 0.01, screen (np == 2 ? 0.025 : 0.045) font ",14" textcolor rgb faint
  do for [p=1:np] {
    set title ptitle[p] textcolor rgb ink
    set ylabel "speedup over sequential (x)"
    set xrange [xmin[p] : xmax[p]]
    if (ylog[p]) {
      if (ymax[p] / ymin[p] > 64) { set logscale y 10 } else { set logscale y 2 }
      base = ymin[p]
    } else {
      unset logscale y
      base = 0
    }
    set yrange [base : ymax[p]]
    set format y "%g"
    unset grid
    set grid ytics
    set xtics rotate by 50 right scale 0 font ",15"
    set xtics ()
    do for [i=first[p] : first[p] + count[p] - 1] {
      set xtics add (stitle[i] i - first[p] + 1)
    }
    set bmargin 9
    unset arrow
    unset label 1
    unset label 2
    set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.2 lc rgb faint
    if (pextra[p] == pextra[p]) {
      # C bars on the left, CPython bars on the right of this line.
      set arrow 2 from first pextra[p], graph 0 to first pextra[p], graph 1 nohead dt 3 lw 1.2 \
          lc rgb faint
      set label 2 " CPython" at first pextra[p], graph 0.97 left textcolor rgb faint
    }
    last = first[p] + count[p] - 1
    plot for [i=first[p]:last] data index (i - 1) using 1:2:($1 - bar):($1 + bar):(base):2 \
             with boxxyerror lc rgb palette[scolor[i]] \
             fs transparent solid variant_solid[svariant[i] + 1] border lc rgb palette[scolor[i]], \
         for [i=first[p]:last] data index (i - 1) using 1:2:($1 - bar):($1 + bar):(base):2 \
             with boxxyerror lc rgb palette[scolor[i]] \
             fs transparent pattern variant_pattern[svariant[i] + 1] noborder, \
         for [i=first[p]:last] data index (i - 1) using 1:3:(0):($4 - $3) \
             with vectors heads size screen 0.006, 90 lw 1.5 lc rgb ink, \
         for [i=first[p]:last] data index (i - 1) using 1:(ylog[p] ? $4 * 1.06 : $4):(value_label($2, i)) \
             with labels rotate by 90 left offset 0, 0.4 font ",14" textcolor rgb ink
    unset label 99  # the footnote is drawn once
  }
  unset multiplot
  unset output
}
