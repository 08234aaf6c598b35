#!/bin/sh
# quant: `qbench levels` prints level sets, `qbench quant` replays fixture
# cases (tests/fixtures) through the command-line and matches their outputs.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"

golden quant-help-levels 0 help levels
golden quant-help-quant 0 help quant
golden quant-levels-apot3-act 0 levels scheme=apot bits=3 role=a alpha=6
golden quant-levels-apot3-json 0 levels scheme=apot bits=3 --json
golden quant-levels-qnn-det 0 levels scheme=qnn variant=det bits=1
golden quant-levels-lcq-w 0 levels scheme=lcq bits=3 alpha=2
golden quant-err-apot-bits 3 levels scheme=apot bits=7
golden quant-err-lcq-bits 3 levels scheme=lcq bits=1
golden quant-err-scheme 3 levels scheme=lcqq bits=3
golden quant-err-variant 3 levels scheme=apot bits=3 variant=cifr
golden quant-err-key 3 levels scheme=apot bits=3 alfa=2
golden quant-err-no-in 2 quant scheme=apot bits=3 --out "$T/y.h5"
golden quant-err-missing-in 4 quant scheme=apot bits=3 --in "$T/none.h5" --out "$T/y.h5"

# replay: copy one fixture case's inputs, run, compare with its outputs
fix=$srcdir/tests/fixtures
if ! command -v h5copy >/dev/null 2>&1 || ! command -v h5diff >/dev/null 2>&1; then
	skip "no hdf5-tools" "replay fixture cases"
	done_testing
fi
replay() { # LABEL FILE CASE DATASETS -- ARGS...
	label=$1 file=$fix/$2 case=$3 sets=$4
	shift 5
	rm -f "$T/in.h5" "$T/out.h5"
	for d in $sets; do
		h5copy -i "$file" -o "$T/in.h5" -s "$case/$d" -d "/$d" || not_ok "$label: copy $d"
	done
	"$QBENCH" quant "$@" --in "$T/in.h5" --out "$T/out.h5" -q >"$T/log" 2>&1
	check $? "$label: qbench quant $*"
	diag <"$T/log"
	for d in y grad_x; do
		h5diff -d 1e-5 "$T/out.h5" "$file" "/$d" "$case/$d" >"$T/diff" 2>&1
		check $? "$label: $d matches the fixture"
		diag <"$T/diff"
	done
}
replay lcq-golden lcq.h5 /golden/act_b3_a2_linspace "x grad_out theta" -- \
	scheme=lcq bits=3 role=a alpha=2
h5diff -d 1e-5 "$T/out.h5" "$fix/lcq.h5" /dtheta /golden/act_b3_a2_linspace/dtheta >"$T/diff" 2>&1
check $? "lcq-golden: dtheta matches the fixture"
diag <"$T/diff"
replay apot-golden apot.h5 /golden/weight_b3_a1.5 "x grad_out" -- \
	scheme=apot bits=3 role=w alpha=1.5
replay apot-act apot.h5 /act/b2_a2_seed0 "x grad_out" -- scheme=apot bits=2 role=a alpha=2
replay uniform-clip apot.h5 /uniform/act_b2_a6_seed0 "x grad_out" -- \
	scheme=uniform variant=clip bits=2 role=a alpha=6
done_testing
