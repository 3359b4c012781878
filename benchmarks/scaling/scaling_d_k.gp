set datafile separator ','
set terminal pngcairo size 900,600 enhanced font 'DejaVu Sans,11'
set output 'scaling_d_k.png'
set title 'training step time vs d_k (B 16; log–log)'
set xlabel 'd_k'
set ylabel 'ms per step'
set logscale xy
set grid
set key top left
plot 'scaling_d_k.csv' using 1:2 with linespoints pt 7 ps 0.6 lw 2 title 'linear', \
     'scaling_d_k.csv' using 1:3 with linespoints pt 7 ps 0.6 lw 2 title 'softmax', \
     'scaling_d_k.csv' using 1:4 with linespoints pt 7 ps 0.6 lw 2 title 'mesa'
unset output
reset
set datafile separator ','
set terminal svg size 900,600 enhanced font 'DejaVu Sans,11' background rgb 'white'
set output 'scaling_d_k.svg'
set title 'training step time vs d_k (B 16; log–log)'
set xlabel 'd_k'
set ylabel 'ms per step'
set logscale xy
set grid
set key top left
plot 'scaling_d_k.csv' using 1:2 with linespoints pt 7 ps 0.6 lw 2 title 'linear', \
     'scaling_d_k.csv' using 1:3 with linespoints pt 7 ps 0.6 lw 2 title 'softmax', \
     'scaling_d_k.csv' using 1:4 with linespoints pt 7 ps 0.6 lw 2 title 'mesa'
unset output