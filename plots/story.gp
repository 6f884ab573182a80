# story.gp: the story in one picture. A CPU-bound and an I/O-bound panel side
# by side, a bar per executor: its best speedup over sequential across the
# worker counts tried, with the 95% interval of the median as a whisker.
# In C, threads scale on CPU-bound work; under a GIL (hatched: emulated; pale:
# CPython) they do not; on I/O-bound work every concurrent executor wins.
# When the run measured the convoy (probe.convoy), a third panel shows its
# wakeup latency, as plots/convoy.gp does: near 0.1 ms without a GIL, near
# the switch interval (dashed) with one.
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

# Above each bar, upright: its speedup and the worker count of its best run;
# in the convoy panel its mean wakeup latency.
with_note(t, i) = t . (snote[i] eq "" ? "" : " (" . snote[i] . ")")
ms_label(v) = (v >= 1) ? sprintf("%.3g ms", v) : sprintf("%.3g µs", v * 1e3)
value_label(s, i) = (pkind[p] eq "convoy") ? ms_label(s) : \
                    with_note(sprintf(s >= 10 ? "%.1fx" : "%.2fx", s), i)
group_name(v) = (v == 0) ? "C" : (v == 1) ? "C + GIL" : "CPython"

# Wide enough for every bar's name (about 64 pixels a bar), at least slide
# size; each panel as wide as its bars need.
convoy = 0
do for [p=1:np] { convoy = (pkind[p] eq "convoy") ? p : convoy }
array pw[np]
width = 0
do for [p=1:np] { pw[p] = 220 + 64 * count[p]; width = width + pw[p] }
width = (width < 1600) ? ((np >= 2) ? 1600 : 1000) : width
total = 0.0
do for [p=1:np] { total = total + pw[p] }
height = 1000
title_h = 45.0 / height

do for [fmt in formats] {
  reset
  load rundir . "/plots/common.gp"
  eval figure_term(fmt, width, height)
  set output figure_output("story", fmt)
  set multiplot title sprintf("Best speedup over sequential per executor%s (run %s, %s)", \
      convoy ? ", and I/O wakeup latency beside a CPU-bound thread" : "", run_id, run_machine)
  set label 99 "solid: C    hatched: under the emulated GIL    pale: CPython (against " . \
      "py.sequential)" . (np >= 2 ? "    " : "\n") . "whisker: 95% interval of the median" . \
      (convoy ? "    convoy: bar = the mean wakeup latency, whisker up to the largest" : "") \
      at screen 0.01, screen (np >= 2 ? 0.025 : 0.045) font ",14" textcolor rgb faint
  x0 = 0
  do for [p=1:np] {
    set origin x0 / total, 0
    set size pw[p] / total, 1 - title_h
    x0 = x0 + pw[p]
    set title ptitle[p] textcolor rgb ink
    set xrange [xmin[p] : xmax[p]]
    set ytics autofreq
    if (pkind[p] eq "convoy") {
      set ylabel "wakeup latency (ms)"
      set logscale y 10
      set ytics 10
      do for [e=-3:3] {  # 1-2-5 tics: 0.05, 0.1, 0.2, 0.5, 1, 2, 5 ms ...
        set ytics add (2 * 10.0**e, 5 * 10.0**e)
      }
      base = ymin[p]
    } else {
      set ylabel "speedup over sequential (x)"
      if (ylog[p]) {
        if (ymax[p] / ymin[p] > 64) { set logscale y 10 } else { set logscale y 2 }
        base = ymin[p]
      } else {
        unset logscale y
        base = 0
      }
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
    do for [i=1:ns] { unset label 10 + i }
    last = first[p] + count[p] - 1
    if (pkind[p] eq "convoy") {
      # The switch interval, and a dotted line and a name at each group.
      set arrow 1 from graph 0, first pf[p] to graph 1, first pf[p] nohead dt 2 lw 1.5 \
          lc rgb faint
      set label 1 sprintf("switch interval (%g ms)", pf[p]) at graph 0, first pf[p] left \
          offset 0.5, 0.6 font ",13" textcolor rgb faint
      if (pextra[p] == pextra[p]) {  # CPython's, where it differs
        set arrow 2 from graph 0, first pextra[p] to graph 1, first pextra[p] nohead dt 3 lw 1.5 \
            lc rgb faint
        set label 2 sprintf("CPython: %g ms", pextra[p]) at graph 0, first pextra[p] left \
            offset 0.5, (pextra[p] > pf[p] ? 0.6 : -0.8) font ",13" textcolor rgb faint
      }
      do for [i=first[p] : last] {
        if (i == first[p] || svariant[i] != svariant[i - 1]) {
          set label 10 + i group_name(svariant[i]) at first i - first[p] + 0.5, \
              graph 0.97 left offset 0.5, 0 textcolor rgb faint
          if (i > first[p]) {
            set arrow 10 + i from first i - first[p] + 0.5, graph 0 to first i - first[p] + 0.5, \
                graph 1 nohead dt 3 lw 1.2 lc rgb faint
          }
        }
      }
    } else {
      set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.2 lc rgb faint
      if (pextra[p] == pextra[p]) {
        # C bars on the left, CPython bars on the right of this line.
        set arrow 2 from first pextra[p], graph 0 to first pextra[p], graph 1 nohead dt 3 lw 1.2 \
            lc rgb faint
        set label 2 " CPython" at first pextra[p], graph 0.97 left textcolor rgb faint
      }
    }
    # Whiskers: the 95% interval, or in the convoy panel the mean up to the largest.
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
