set datafile separator ','
set terminal pngcairo size 900,600 enhanced font 'DejaVu Sans,11'
set output 'scaling_T.png'
set title 'training step time vs T (B 16; log–log)'
set xlabel 'T'
set ylabel 'ms per step'
set logscale xy
set grid
set key top left
plot 'scaling_T.csv' using 1:2 with linespoints pt 7 ps 0.6 lw 2 title 'linear', \
     'scaling_T.csv' using 1:3 with linespoints pt 7 ps 0.6 lw 2 title 'softmax', \
     'scaling_T.csv' using 1:4 with linespoints pt 7 ps 0.6 lw 2 title 'mesa'
unset output
reset
set datafile separator ','
set terminal svg size 900,600 enhanced font 'DejaVu Sans,11' background rgb 'white'
set output 'scaling_T.svg'
set title 'training step time vs T (B 16; log–log)'
set xlabel 'T'
set ylabel 'ms per step'
set logscale xy
set grid
set key top left
plot 'scaling_T.csv' using 1:2 with linespoints pt 7 ps 0.6 lw 2 title 'linear', \
     'scaling_T.csv' using 1:3 with linespoints pt 7 ps 0.6 lw 2 title 'softmax', \
     'scaling_T.csv' using 1:4 with linespoints pt 7 ps 0.6 lw 2 title 'mesa'
unset output