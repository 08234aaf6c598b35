#!/bin/sh
# qat: quantization-aware training end to end: a short QAT run per scheme
# family, its costs and per-layer statistics, the quantized model file
# (read back by eval and by h5py), and the errors of impossible settings.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"

golden qat-apot-7-bits 3 train scheme=apot w.bits=7 a.bits=3
golden qat-lcq-1-bit 3 train scheme=lcq w.bits=1 a.bits=2
golden qat-bits-9 3 train scheme=uniform w.bits=12
golden qat-no-scheme 3 train w.bits=4 a.bits=4
golden qat-no-bits 3 train scheme=apot
golden qat-channel-apot 3 train scheme=apot w.bits=4 w.gran=channel
golden qat-variant-typo 3 train scheme=uniform w.bits=4 w.variant=lsk
golden qat-variant-wrong-scheme 3 train scheme=uniform w.bits=4 w.variant=stoch
golden qat-qnn-acts-alone 3 train scheme=uniform w.bits=4 a.scheme=qnn a.bits=1

no_fmnist && { done_testing; }

run() {
	"$QBENCH" train model=mlp epochs=1 train.n=2000 test.n=500 threads=2 --json --quiet "$@" \
		>"$T/run.json" 2>"$T/err"
}

run
check $? "float baseline trains"
cp "$T/run.json" "$T/float.json"
run scheme=uniform w.bits=4 a.bits=4
check $? "uniform W4A4 trains"
cp "$T/run.json" "$T/uniform.json"
json_check "W4A4: accuracy, and BitOPs and size below the float run's" "$T/uniform.json" \
	"d['status'] == 'done' and d['results']['test_acc'] > 0.6 and \
	 d['results']['bitops'] < json.load(open('$T/float.json'))['results']['bitops'] / 4 and \
	 d['results']['size_bits'] < json.load(open('$T/float.json'))['results']['size_bits'] / 2 and \
	 d['results']['shift_adds'] == 0 and d['config']['w.bits'] == 4"
json_check "float run: BitOPs are MACs times 32 x 32, no quantization keys" "$T/float.json" \
	"d['results']['bitops'] == d['results']['macs'] * 1024 and 'w.bits' not in d['config']"

"$QBENCH" show 2 --json >"$T/show.json"
json_check "show: per-layer bits, SQNR and clips; per-epoch clips" "$T/show.json" \
	"{l['layer']: l['bits_w'] for l in d['layers'] if 'bits_w' in l} == \
	   {'01_fc': 8, '03_fc': 4, '05_fc': 8} and \
	 {l['layer']: l['bits_a'] for l in d['layers'] if 'bits_a' in l} == \
	   {'01_fc': 8, '03_fc': 4, '05_fc': 8} and \
	 all(l['sqnr_w'] > 5 for l in d['layers'] if 'sqnr_w' in l) and \
	 all(l['clip_a'] > 0 for l in d['layers'] if 'clip_a' in l) and \
	 sum(l.get('bitops', 0) for l in d['layers']) == d['results']['bitops'] and \
	 '03_fc/clip_w' in d['metrics'][0] and '03_fc/sqnr_a' in d['metrics'][0]"

"$QBENCH" eval model=run:2 test.n=500 threads=2 --json --quiet >"$T/eval.json"
check $? "eval of the quantized run exits 0"
json_check "eval restores the quantizers: the same accuracy and BitOPs" "$T/eval.json" \
	"d['results']['test_acc'] == json.load(open('$T/uniform.json'))['results']['test_acc'] and \
	 d['results']['bitops'] == json.load(open('$T/uniform.json'))['results']['bitops']"

if [ -n "$PYTHON3" ] || PYTHON3=$(command -v python3); then
	if "$PYTHON3" - "$T/runs/2/model.h5" >"$T/py" 2>&1 <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], 'r')
q = f['quant']
assert q.attrs['w_scheme'] == 'uniform' and q.attrs['w_bits'] == 4 and q.attrs['firstlast'] == '8'
g = q['03_fc']
codes, w = g['codes_w'][()], f['layers/03_fc/weight'][()]
assert codes.dtype == np.int8 and codes.shape == w.shape
assert codes.min() >= -8 and codes.max() <= 7 and len(np.unique(codes)) > 8
wq = codes * g['scale_w'][()][0] * g.attrs['factor_w']
# the quantized weight is the real one rounded to the grid (clipped at the ends)
step = g['scale_w'][()][0]
inside = np.abs(w) < 7 * step
assert np.all(np.abs(wq - w)[inside] <= step / 2 + 1e-6)
assert g.attrs['a_scheme'] == 'uniform' and g.attrs['a_bits'] == 4
assert q['05_fc'].attrs['w_kind'] == 'fl8' and q['05_fc'].attrs['a_bits'] == 8
PY
	then ok "h5py reads /quant: int8 codes on the step grid, first/last at 8 bits"
	else not_ok "h5py reads /quant"; diag <"$T/py"; fi
else
	skip "no python3" "h5py reads /quant"
fi

run scheme=apot w.bits=3 a.bits=3
check $? "apot W3A3 trains"
json_check "apot: shift-adds counted, accuracy" "$T/run.json" \
	"d['results']['shift_adds'] > 0 and d['results']['test_acc'] > 0.6"
run scheme=lcq w.bits=2 a.bits=2
check $? "lcq W2A2 trains"
"$QBENCH" show 5 --json >"$T/show.json"
json_check "lcq: theta logged per layer per epoch" "$T/show.json" \
	"'03_fc/theta_w.0' in d['metrics'][0] and '03_fc/theta_a.15' in d['metrics'][0]"
run scheme=qnn w.bits=1 a.bits=1 g.bits=6
check $? "qnn W1A1 with 6-bit gradients trains"
json_check "qnn: binary layers, accuracy above chance" "$T/run.json" \
	"d['results']['test_acc'] > 0.3 and d['config']['g.bits'] == 6"
"$QBENCH" eval model=run:6 test.n=500 threads=2 --json --quiet >"$T/eval.json"
json_check "eval of the binarized run restores hardtanh and binarization" "$T/eval.json" \
	"d['results']['test_acc'] == json.load(open('$T/run.json'))['results']['test_acc']"
"$QBENCH" train model=cnn epochs=1 train.n=1000 test.n=300 threads=2 bn=shift optim=shift-adamax \
	lr=0.002 scheme=qnn w.bits=1 a.bits=1 --json --quiet >"$T/sbn.json" 2>"$T/err"
check $? "binarized cnn with shift-based batch norm and shift-based AdaMax trains"
"$QBENCH" eval model=run:8 test.n=300 threads=2 --json --quiet >"$T/eval.json"
json_check "eval restores shift-based batch norm: the same accuracy" "$T/eval.json" \
	"d['results']['test_acc'] == json.load(open('$T/sbn.json'))['results']['test_acc'] and \
	 json.load(open('$T/sbn.json'))['config']['bn'] == 'shift'"
done_testing
