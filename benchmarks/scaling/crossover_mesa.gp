set datafile separator ','
set terminal pngcairo size 900,600 enhanced font 'DejaVu Sans,11'
set output 'crossover_mesa.png'
set title 'mesa: forward + backward, quadratic vs chunked form (B 16, H 4, d_k 20; log–log; dashed: where the rule switches)'
set xlabel 'T'
set ylabel 'ms'
set logscale xy
set grid
set key top left
set arrow from first 160, graph 0 to first 160, graph 1 nohead dt 2
plot 'crossover_mesa.csv' using 1:2 with linespoints pt 7 ps 0.6 lw 2 title 'quadratic', \
     'crossover_mesa.csv' using 1:3 with linespoints pt 7 ps 0.6 lw 2 title 'chunked'
unset output
reset
set datafile separator ','
set terminal svg size 900,600 enhanced font 'DejaVu Sans,11' background rgb 'white'
set output 'crossover_mesa.svg'
set title 'mesa: forward + backward, quadratic vs chunked form (B 16, H 4, d_k 20; log–log; dashed: where the rule switches)'
set xlabel 'T'
set ylabel 'ms'
set logscale xy
set grid
set key top left
set arrow from first 160, graph 0 to first 160, graph 1 nohead dt 2
plot 'crossover_mesa.csv' using 1:2 with linespoints pt 7 ps 0.6 lw 2 title 'quadratic', \
     'crossover_mesa.csv' using 1:3 with linespoints pt 7 ps 0.6 lw 2 title 'chunked'
unset output