#!/bin/sh
# quant: `qbench levels` prints level sets, `qbench quant` replays fixture
# cases (tests/fixtures) through the command-line and matches their outputs:
# quantizers (scheme=), clip thresholds (clip=, clip.h5) and outlier channel
# splitting (ocs.*, ocs.h5); plus the errors of each mode.
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

# clip= and ocs.* modes: argument errors (3) come before the files are opened
io="--in $T/none.h5 --out $T/y.h5"
golden quant-err-clip-method 3 quant clip=msee bits=4 $io
golden quant-err-clip-far 3 quant clip=entropy bits=4 $io
golden quant-err-clip-pct 3 quant clip=pct:0 $io
golden quant-err-clip-no-bits 3 quant clip=kl $io
golden quant-err-clip-bits 3 quant clip=mse bits=17 $io
golden quant-err-clip-key 3 quant clp=mse bits=4 $io
golden quant-err-clip-role 3 quant clip=mse bits=4 role=a $io
golden quant-err-clip-twice 3 quant clip=mse bits=4 bits=5 $io
golden quant-err-clip-scheme 3 quant scheme=apot clip=mse bits=3 $io
golden quant-err-ocs-key 3 quant ocs.ratoi=0.1 bits=4 $io
golden quant-err-ocs-ratio 3 quant ocs.ratio=1.5 bits=4 $io
golden quant-err-ocs-ratio-zero 3 quant ocs.ratio=0 bits=4 $io
golden quant-err-ocs-no-bits 3 quant ocs.ratio=0.1 $io
golden quant-err-ocs-bits 3 quant ocs.ratio=0.1 bits=9 $io
golden quant-err-ocs-split 3 quant ocs.ratio=0.1 ocs.split=qaa bits=4 $io
golden quant-err-ocs-split-alone 3 quant ocs.split=naive bits=4 $io
golden quant-err-ocs-missing-in 4 quant ocs.ratio=0.1 bits=4 $io
golden quant-err-clip-missing-in 4 quant clip=mse bits=4 $io

# replays through h5py: extract a case's x, run, compare every output
if [ -z "$PYTHON3" ] && ! PYTHON3=$(command -v python3); then
	PYTHON3=
fi
if [ -z "$PYTHON3" ] || ! "$PYTHON3" -c "import h5py, numpy" >/dev/null 2>&1; then
	skip "no python3 with h5py" "clip= and ocs.* replays"
else
	fix=$srcdir/tests/fixtures
	cat >"$T/qb.py" <<'PY'
"""Helpers of quant.sh: extract fixture inputs and compare qbench outputs."""
import sys

import h5py
import numpy as np

# ACIQ constants at 2..8 bits (METHODS §4.3): OCS repository, original repository
ACIQ = {
    "aciq": ([1.47818312, 1.80489289, 2.19227856, 2.57733584, 2.94451183, 3.29076248,
              3.61691335],
             [2.33152939, 3.04528770, 4.00378631, 5.08252088, 6.23211675, 7.42700429,
              8.65265030]),
    "aciq:orig": ([1.71063519, 2.15159277, 2.55913646, 2.93620062, 3.28691474, 3.6151146,
                   3.92403714],
                  [2.83068299, 3.89722946, 5.02864014, 6.20476633, 7.41312622, 8.64561995,
                   9.89675982]),
}
bad = []


def near(name, got, want, rtol):
    if not abs(float(got) - float(want)) <= rtol * abs(float(want)):
        bad.append("%s: got %.17g, want %.17g" % (name, got, want))


def extract(src, case, dst, shape=""):
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as o:
        x = f[case]["x"][()]
        if shape == "2d":
            x = x.reshape(x.shape[0], x.shape[1])
        o["x"] = x


def check_ocs(out, src, case, split, rtol):
    rtol = float(rtol)
    with h5py.File(out, "r") as o, h5py.File(src, "r") as f:
        g = f[case]
        y = o["y"][()]
        want = g["y_" + split][()].reshape(y.shape)
        if y.dtype != np.float32 or not np.allclose(y, want, rtol=rtol, atol=0):
            bad.append("y differs: max |diff| %g" % np.max(np.abs(y - want)))
        ch = o["channels"][()]
        if ch.dtype != np.int32 or not np.array_equal(ch, g["channels_" + split][()]):
            bad.append("channels %s, want %s" % (ch, g["channels_" + split][()]))
        codes = o["codes"][()]
        wc = g["codes_" + split][()].reshape(codes.shape)
        if codes.dtype != np.int8 or not np.array_equal(codes, wc):
            bad.append("codes differ at %d entries" % np.sum(codes != wc))
        if o.attrs["n_split"] != g.attrs["n_split"] or o.attrs["bits"] != g.attrs["bits"]:
            bad.append("n_split %s bits %s" % (o.attrs["n_split"], o.attrs["bits"]))
        near("clip", o.attrs["clip"], g.attrs["clip"], max(rtol, 1e-12))
        near("scale", o.attrs["scale"], g.attrs["scale"], max(rtol, 1e-12))


def check_clip(out, src, case, bits, method, rtol):
    with h5py.File(out, "r") as o, h5py.File(src, "r") as f:
        g = f[case]
        b = list(g["bits"][()]).index(bits)
        x = np.abs(g["x"][()].astype(np.float32).astype(np.float64))
        a = o.attrs
        if a["method"] != method:
            bad.append("method %s" % a["method"])
        if method == "max":
            near("alpha", a["alpha"], x.max(), 0)
        elif method.startswith("pct:"):
            near("alpha", a["alpha"], np.percentile(x, float(method[4:])), 1e-12)
        elif method == "mse":
            near("alpha", a["alpha"], g["mse_alpha"][b], rtol)
            curve = o["mse_curve"][()]
            for i in range(len(curve)):
                near("mse_curve[%d]" % i, curve[i], g["mse_curve"][b, i], 10 * rtol)
        elif method == "kl":
            near("alpha", a["alpha"], g["kl_alpha"][b], rtol)
            near("kl_divergence", a["kl_divergence"], g["kl_divergence"][b],
                 0 if rtol < 1e-9 else 1e-4)
        else:
            # the fixture ran the OCS constants: scale its fits for the original ones
            cg = ACIQ[method][0][bits - 2] / ACIQ["aciq"][0][bits - 2]
            cl = ACIQ[method][1][bits - 2] / ACIQ["aciq"][1][bits - 2]
            near("alpha_gauss", a["alpha_gauss"], g["aciq_alpha_gauss"][b] * cg, rtol)
            near("alpha_laplace", a["alpha_laplace"], g["aciq_alpha_laplace"][b] * cl, rtol)
            if method == "aciq":
                near("mse_gauss", a["mse_gauss"], g["aciq_mse_gauss"][b], 10 * rtol)
                near("mse_laplace", a["mse_laplace"], g["aciq_mse_laplace"][b], 10 * rtol)
                if a["aciq_choice"] != g["aciq_choice"][b]:
                    bad.append("aciq_choice %d, want %d" % (a["aciq_choice"],
                                                            g["aciq_choice"][b]))
            choice = 0 if a["mse_gauss"] < a["mse_laplace"] else 1
            if a["aciq_choice"] != choice:
                bad.append("aciq_choice %d does not pick the lower MSE" % a["aciq_choice"])
            near("alpha", a["alpha"], a["alpha_laplace"] if choice else a["alpha_gauss"], 0)


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "extract":
    extract(*args)
elif cmd == "ocs":
    check_ocs(*args)
else:
    check_clip(args[0], args[1], args[2], int(args[3]), args[4], float(args[5]))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
	py() {
		"$PYTHON3" "$T/qb.py" "$@" >"$T/py" 2>&1
	}
	# clip_replay FILE CASE BITS RTOL: every method on one case at one bit-width
	clip_replay() {
		py extract "$fix/$1" "$2" "$T/in.h5" || not_ok "extract $1 $2"
		for m in max pct:99.5 mse aciq aciq:orig kl; do
			rm -f "$T/out.h5"
			"$QBENCH" quant clip=$m bits=$3 --in "$T/in.h5" --out "$T/out.h5" -q >"$T/log" 2>&1
			check $? "clip $2 b$3: qbench quant clip=$m bits=$3"
			diag <"$T/log"
			py clip "$T/out.h5" "$fix/$1" "$2" "$3" "$m" "$4"
			check $? "clip $2 b$3: clip=$m matches the fixture"
			diag <"$T/py"
		done
	}
	# float64 values read as float32: 2e-6; float32 values: 1e-9
	clip_replay clip.h5 /golden/det_laplace_n10001 2 2e-6
	clip_replay clip.h5 /golden/det_laplace_n10001 8 2e-6
	clip_replay clip.h5 /dist/student_t3_n16384_seed1 4 1e-10

	# ocs_replay LABEL CASE SPLIT RTOL [SHAPE] -- ARGS: one ocs.h5 case; y, clip
	# and scale within RTOL (0: exactly), channels and codes exactly
	ocs_replay() {
		label=$1 case=$2 split=$3 rtol=$4 shape=$5
		shift 6
		rm -f "$T/in.h5" "$T/out.h5"
		py extract "$fix/ocs.h5" "$case" "$T/in.h5" $shape || not_ok "$label: extract"
		"$QBENCH" quant "$@" --in "$T/in.h5" --out "$T/out.h5" -q >"$T/log" 2>&1
		check $? "$label: qbench quant $*"
		diag <"$T/log"
		py ocs "$T/out.h5" "$fix/ocs.h5" "$case" "$split" "$rtol"
		check $? "$label: y, channels, codes, clip and scale match the fixture"
		diag <"$T/py"
	}
	ocs_replay ocs-golden /golden/tiny_2x3_r0.5_b4 qa 0 "" -- ocs.ratio=0.5 bits=4
	ocs_replay ocs-golden-naive /golden/tiny_2x3_r0.5_b4 naive 0 "" -- \
		ocs.ratio=0.5 bits=4 ocs.split=naive
	ocs_replay ocs-split /split/4x8x3x3_r0.25_b4_seed1 qa 0 "" -- ocs.ratio=0.25 bits=4
	ocs_replay ocs-split-naive /split/4x8x3x3_r0.25_b4_seed1 naive 0 "" -- \
		ocs.ratio=0.25 bits=4 ocs.split=naive
	ocs_replay ocs-linear /split/16x6x1x1_r0.5_b6_seed1 qa 0 2d -- ocs.ratio=0.5 bits=6
	ocs_replay ocs-clip-mse /split_clip/8x32x1x1_r0.1_b4_mse_seed0 qa 0 "" -- \
		ocs.ratio=0.1 bits=4 clip=mse
	ocs_replay ocs-clip-kl /split_clip/8x32x1x1_r0.1_b4_kl_seed0 qa 0 "" -- \
		ocs.ratio=0.1 bits=4 clip=kl
	# the reference's ACIQ took float32 means of the float32 weights; the engine's
	# statistics are double: the clip agrees to 1e-7, the codes exactly
	ocs_replay ocs-clip-aciq /split_clip/4x8x3x3_r0.1_b6_aciq_seed0 qa 1e-6 "" -- \
		ocs.ratio=0.1 bits=6 clip=aciq

	# input errors (4): no dataset x, a tensor of the wrong rank
	py extract "$fix/clip.h5" /dist/laplace_n10000_seed0 "$T/vec.h5"
	"$PYTHON3" -c "import h5py, sys; h5py.File(sys.argv[1], 'w')['w'] = [1.0, 2.0]" \
		"$T/nox.h5"
	golden quant-err-ocs-rank 4 quant ocs.ratio=0.1 bits=4 --in "$T/vec.h5" --out "$T/y.h5"
	golden quant-err-clip-no-x 4 quant clip=mse bits=4 --in "$T/nox.h5" --out "$T/y.h5"
	golden quant-err-ocs-no-x 4 quant ocs.ratio=0.1 bits=4 --in "$T/nox.h5" --out "$T/y.h5"
	test ! -e "$T/y.h5" && test ! -e "$T/y.h5.tmp"
	check $? "failed runs leave no output file behind"
fi

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
