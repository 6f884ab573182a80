# convoy.gp: the convoy effect (`conlab run --suite probe`, or the story run).
# One CPU-bound task runs beside I/O tasks; each I/O task's wakeup latency is
# the time from the end of its I/O phase to the start of its next CPU phase.
# A bar per executor: the mean wakeup latency, a whisker up to the largest
# (medians over the repetitions). Grouped: C, C under the emulated GIL
# (hatched), CPython with its own GIL (pale). The dashed line is the switch
# interval: under a GIL a woken thread waits for the holder to drop the lock,
# which it does only when asked and the interval has passed; without a GIL
# the wakeup takes about 0.1 ms (the timer and the scheduler).
#
# Data: RUN_DIR/plots/convoy.dat (x: slot, y: mean ms, column 4: largest ms)
# and convoy.vars, which conlab derives from summary.csv and run.json.
# By hand: cd RUN_DIR && gnuplot plots/convoy.gp

if (!exists("rundir")) rundir = "."
load rundir . "/plots/common.gp"
load rundir . "/plots/run.vars"
load rundir . "/plots/convoy.vars"
if (np == 0) {
  print "convoy.gp: this run has no wakeup latency of a probe workload " . \
        "(run: conlab run --suite probe); nothing to draw"
  exit
}

data = rundir . "/plots/convoy.dat"
bar = 0.36  # half a bar's width, in slots
last = first[1] + count[1] - 1
ms_label(v) = (v >= 1) ? sprintf("%.3g ms", v) : sprintf("%.3g µs", v * 1e3)
tic_label(i) = stitle[i] . (snote[i] eq "" ? "" : "\n" . snote[i])
group_name(v) = (v == 0) ? "C, no GIL" : (v == 1) ? "C + emulated GIL" : "CPython (its own GIL)"
width = 200 + 185 * count[1]  # room for each bar's two-line name
width = (width < 1600) ? 1600 : width
height = 900

do for [fmt in formats] {
  reset
  load rundir . "/plots/common.gp"
  eval figure_term(fmt, width, height)
  set output figure_output("convoy", fmt)
  set multiplot title sprintf("The convoy effect: wakeup latency beside a CPU-bound thread " . \
      "(run %s, %s)", run_id, run_machine)
  set origin 0, 0.04
  set size 1, 0.91
  set title ptitle[1] textcolor rgb ink
  set xrange [xmin[1] : xmax[1]]
  set logscale y 10
  set yrange [ymin[1] : ymax[1]]
  set ylabel "wakeup latency (ms)"
  set format y "%g"
  set ytics 10
  do for [e=-3:3] {  # 1-2-5 tics: 0.05, 0.1, 0.2, 0.5, 1, 2, 5 ms ...
    set ytics add (2 * 10.0**e, 5 * 10.0**e)
  }
  unset grid
  set grid ytics
  set xtics scale 0 font ",15"
  set xtics ()
  do for [i=first[1] : last] {
    set xtics add (tic_label(i) i - first[1] + 1)
  }
  set bmargin 4.5
  set lmargin 11
  unset arrow
  unset label
  # The switch interval, and CPython's where it differs.
  set arrow 1 from graph 0, first pf[1] to graph 1, first pf[1] nohead dt 2 lw 1.5 lc rgb faint
  set label 1 sprintf("%sswitch interval (%g ms)", \
      pextra[1] == pextra[1] ? "emulated GIL's " : "", pf[1]) at graph 0, first pf[1] left \
      offset 1, 0.7 textcolor rgb faint
  if (pextra[1] == pextra[1]) {
    set arrow 2 from graph 0, first pextra[1] to graph 1, first pextra[1] nohead dt 3 lw 1.5 \
        lc rgb faint
    set label 2 sprintf("CPython's switch interval (%g ms)", pextra[1]) at graph 0, \
        first pextra[1] left offset 1, (pextra[1] > pf[1] ? 0.7 : -0.9) textcolor rgb faint
  }
  # The groups: a dotted line between them, the name above each.
  g0 = first[1]
  do for [i=first[1] + 1 : last + 1] {
    if (i > last || svariant[i] != svariant[g0]) {
      set label 10 + i sprintf("%s", group_name(svariant[g0])) \
          at first (g0 + i - 1) / 2.0 - first[1] + 1, graph 0.96 center textcolor rgb ink
      if (i <= last) {
        set arrow 10 + i from first i - first[1] + 0.5, graph 0 to first i - first[1] + 0.5, \
            graph 1 nohead dt 3 lw 1.2 lc rgb faint
      }
      g0 = i
    }
  }
  set label 99 "bar: the mean wakeup latency (end of an I/O phase to the start of the next " . \
      "CPU phase); whisker: up to the largest; medians over the repetitions" \
      at screen 0.01, screen 0.025 font ",14" textcolor rgb faint
  base = ymin[1]
  plot for [i=first[1]:last] data index (i - 1) using 1:2:($1 - bar):($1 + bar):(base):2 \
           with boxxyerror lc rgb palette[scolor[i]] \
           fs transparent solid variant_solid[svariant[i] + 1] border lc rgb palette[scolor[i]], \
       for [i=first[1]:last] data index (i - 1) using 1:2:($1 - bar):($1 + bar):(base):2 \
           with boxxyerror lc rgb palette[scolor[i]] \
           fs transparent pattern variant_pattern[svariant[i] + 1] noborder, \
       for [i=first[1]:last] data index (i - 1) using 1:2:(0):($4 - $2) \
           with vectors head size screen 0.008, 90 lw 1.5 lc rgb ink, \
       for [i=first[1]:last] data index (i - 1) using 1:($4 * 1.15):(ms_label($2)) \
           with labels center offset 0, 0.3 font ",15" textcolor rgb ink
  unset multiplot
  unset output
}
