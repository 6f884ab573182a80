# common.gp: palette, styles and output terminals shared by conlab's figures.
# Loaded by every plots/*.gp; it draws nothing itself.

# A colour-blind-safe palette (seaborn "colorblind"). conlab gives every
# executor one index (scolor, lcolor) so that it keeps its colour everywhere:
# threads 1, thread_pool 2, process_pool 3, event_loop 4, openmp 5,
# sequential 7; py.* rows share their C twin's colour.
array palette[9] = ["#0173B2", "#DE8F05", "#029E73", "#CC78BC", "#CA9161", \
                    "#FBAFE4", "#949494", "#ECE133", "#56B4E9"]

# Variants (svariant, lvariant), indexed 1 + variant:
#   0 = C, 1 = C under the emulated GIL, 2 = CPython (py.*).
array variant_dt[3] = [1, 2, 4]          # line: solid, dashed, dash-dot
array variant_pt[3] = [7, 6, 5]          # point: disc, circle, square
array variant_solid[3] = [0.85, 0, 0.35] # bar fill: solid, none, pale
array variant_pattern[3] = [0, 4, 0]     # bar hatching: none, hatched, none

ink = "#222222"
faint = "#666666"

# Output: every figure is drawn as PNG (pngcairo) and SVG, sized for slides.
# A script draws each format from a clean state:
#   do for [fmt in formats] { reset; load rundir . "/plots/common.gp"
#                             eval figure_term(fmt, width, height) ... }
formats = "png svg"
font_size = 17
point_size(fmt) = (fmt eq "png") ? 1.5 : 1.0  # svg draws points larger
figure_term(fmt, w, h) = ((fmt eq "png") \
  ? sprintf("set terminal pngcairo size %d,%d font 'Sans,%d' linewidth 1.6 noenhanced", \
            w, h, font_size) \
  : sprintf("set terminal svg size %d,%d font 'Sans,%d' linewidth 1.6 noenhanced " \
            . "background '#ffffff'", w, h, font_size + 3)) \
  . sprintf("; set pointsize %g", point_size(fmt))
figure_output(name, fmt) = rundir . "/plots/" . name . "." . fmt

set encoding utf8
set micro  # %c in a tic format writes µ, not u
set border 3 lc rgb ink
set tics nomirror textcolor rgb ink
set grid xtics ytics lc rgb "#dddddd" lw 1 dt 1
set errorbars small
set key noautotitle

# A shared key: `eval legend_strip(h)` prepares a strip of height h (a screen
# fraction) at the bottom of a multiplot, `cols` entries a row; the script then plots NaN with the
# titles and styles of its series (ltitle, lcolor, lvariant, lflat).
legend_strip(h, cols) = sprintf( \
  "set origin 0,0; set size 1,%g; unset border; unset xtics; unset ytics; unset grid; " . \
  "unset xlabel; " . \
  "unset ylabel; unset title; unset arrow; unset label; unset logscale; " . \
  "set xrange [0:1]; set yrange [0:1]; set key center center horizontal maxcols %d " . \
  "Left reverse samplen 3 spacing 1.15 width -3", h, cols)
