#!/bin/sh
# plot: the command line of `qbench plot`: a transfer-function grid drawn on a
# fixed-size terminal (golden), the errors (unknown kind, bad key, bad -o
# extension, bad layer, no gnuplot), then a tiny float mlp and its PTQ
# drawn into PNG files (weights and activations, curve, pareto, heatmap)
# whose sizes are checked, with the script and data beside them.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"

# Without gnuplot only the message for its absence can be checked.
QBENCH_GNUPLOT=/nonexistent/gnuplot
export QBENCH_GNUPLOT
golden plot-err-no-gnuplot 1 plot grid scheme=uniform bits=2
unset QBENCH_GNUPLOT
PATH=/nonexistent "$QBENCH" plot grid scheme=uniform bits=2 >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] && [ ! -s "$T/out" ] &&
	[ "$(cat "$T/err")" = "qbench: gnuplot is not installed (Debian: apt-get install gnuplot-nox); plots need it, everything else works" ]
check $? "PATH without gnuplot: the same message, exit 1"
command -v gnuplot >/dev/null 2>&1 || done_testing

COLUMNS=72
LINES=22
export COLUMNS LINES
golden plot-grid 0 plot grid scheme=uniform,pot,apot,lcq bits=3
unset COLUMNS LINES
golden plot-err-kind 2 plot dits 1
golden plot-err-kind-far 2 plot xyzzy
golden plot-err-key 3 plot grid scheme=uniform bits=2 rol=a
golden plot-err-ext 2 plot grid scheme=uniform bits=2 -o "$T/fig.jpg"

if [ -z "$PYTHON3" ] && ! PYTHON3=$(command -v python3); then
	PYTHON3=
fi

# png NAME FILE W H: FILE is a PNG of W x H pixels, with FILE.gp and FILE.dat beside it.
png() {
	stem=${2%.png}
	if [ -z "$PYTHON3" ]; then
		skip "no python3" "$1"
		return
	fi
	if [ -s "$stem.gp" ] && [ -s "$stem.dat" ] && [ ! -e "$stem.tmp.png" ] &&
		"$PYTHON3" -c "import struct, sys
b = open(sys.argv[1], 'rb').read(24)
ok = b[:8] == b'\x89PNG\r\n\x1a\n' and b[12:16] == b'IHDR'
sys.exit(0 if ok and struct.unpack('>II', b[16:24]) == (int(sys.argv[2]), int(sys.argv[3])) else 1)" \
			"$2" "$3" "$4" 2>"$T/py"; then
		ok "$1"
	else
		not_ok "$1"
		diag <"$T/py"
	fi
}

no_fmnist && done_testing

"$QBENCH" train model=mlp epochs=1 train.n=500 test.n=200 threads=2 --quiet >/dev/null 2>"$T/err"
check $? "a tiny float mlp trains (run 1)"
"$QBENCH" ptq model=run:1 scheme=uniform w.bits=4 a.bits=8 calib.n=64 train.n=500 test.n=200 \
	threads=2 --quiet >/dev/null 2>"$T/err"
check $? "its PTQ W4A8 runs (run 2)"

golden plot-err-no-run 3 plot dist 9
golden plot-err-layer 3 plot dist 2 layer=07_fc
golden plot-err-layer-relu 3 plot dist 2 layer=02_relu
golden plot-err-border 3 plot border 2
golden plot-err-curve-what 3 plot curve 1 what=test_accc

"$QBENCH" plot dist 2 -o "$T/w.png" >"$T/out" 2>"$T/err"
check $? "dist of the weights (-o w.png) exits 0"
png "dist of the weights: 900x600 PNG" "$T/w.png" 900 600
grep -q "^# index 0: float" "$T/w.dat" && grep -q "^set title 'run 2, 03_fc weights: uniform 4 bits'" "$T/w.gp"
check $? "dist of the weights: the default layer is the 4-bit one, named in the title"
"$QBENCH" plot dist 2 what=a layer=05_fc size=640x480 -o "$T/a.png" >"$T/out" 2>"$T/err"
check $? "dist of the activations (what=a, layer=05_fc, size=640x480) exits 0"
png "dist of the activations: 640x480 PNG" "$T/a.png" 640 480
grep -q "^set title 'run 2, 05_fc input activations: uniform 8 bits'" "$T/a.gp" &&
	grep -q "^set logscale y" "$T/a.gp" && grep -q "title 'levels (256)'" "$T/a.gp"
check $? "dist of the activations: 8-bit levels, log counts"
"$QBENCH" plot curve 1 -o "$T/c.png" >"$T/out" 2>"$T/err"
check $? "curve (-o c.png) exits 0"
png "curve: 900x600 PNG" "$T/c.png" 900 600
"$QBENCH" plot pareto x=size_bits -o "$T/p.png" >"$T/out" 2>"$T/err"
check $? "pareto (-o p.png) exits 0"
png "pareto: 900x600 PNG" "$T/p.png" 900 600
grep -q "^set logscale x" "$T/p.gp"
check $? "pareto: log x axis"

# on the terminal: as many lines as LINES says
LINES=30 COLUMNS=100 "$QBENCH" plot dist 2 what=a >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 30 ] && [ ! -s "$T/err" ]
check $? "dist on a 100x30 terminal: 30 lines"
"$QBENCH" plot heatmap job=ptq size=60x16 >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 16 ] && grep -q "0\.[0-9][0-9][0-9]" "$T/out"
check $? "heatmap of the PTQ run (size=60x16): 16 lines, its accuracy in the cell"
done_testing
