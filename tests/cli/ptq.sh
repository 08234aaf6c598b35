#!/bin/sh
# ptq: post-training quantization end to end: the errors of impossible
# settings, then a small float cnn quantized to W8A8 (its accuracy, eval of
# the saved model, /quant read by h5py), outlier channel splitting (costs and
# per-layer splits in the database), the AQuant-style border (saved borders,
# eval), show, the cache, and the models ptq refuses.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"

golden ptq-err-zoo 3 ptq model=cnn scheme=uniform w.bits=8
golden ptq-err-no-bits 3 ptq model=run:1
golden ptq-err-aquant-apot 3 ptq model=run:1 scheme=uniform w.bits=4 a.bits=4 a.scheme=apot \
	border=aquant
golden ptq-err-key 3 ptq model=run:1 scheme=uniform w.bits=8 borer=adaround
golden ptq-err-clip 3 ptq model=run:1 scheme=uniform w.bits=8 clip=msee
golden ptq-err-train-key 3 ptq model=run:1 scheme=uniform w.bits=8 epochs=3

no_fmnist && done_testing

golden ptq-err-missing-file 4 ptq model="$T/nope.h5" scheme=uniform w.bits=8 train.n=100 \
	test.n=100

if [ -z "$PYTHON3" ] && ! PYTHON3=$(command -v python3); then
	PYTHON3=
fi

# py NAME FILE SCRIPT: runs the python SCRIPT (stdin) on FILE with h5py (skipped without it).
py() {
	name=$1
	file=$2
	if [ -z "$PYTHON3" ] || ! "$PYTHON3" -c 'import h5py, numpy' 2>/dev/null; then
		cat >/dev/null
		skip "no python3 with h5py" "$name"
		return
	fi
	if "$PYTHON3" - "$file" >"$T/py" 2>&1; then
		ok "$name"
	else
		not_ok "$name"
		diag <"$T/py"
	fi
}

# sql NAME QUERY WANT: ok when sqlite3 prints WANT for QUERY on the database.
sql() {
	if ! command -v sqlite3 >/dev/null 2>&1; then
		skip "no sqlite3" "$1"
		return
	fi
	got=$(sqlite3 "$QBENCH_DB" "$2" 2>&1)
	if [ "$got" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		printf 'got:  %s\nwant: %s\n' "$got" "$3" | diag
	fi
}

ptq() {
	"$QBENCH" ptq model=run:1 train.n=2000 test.n=500 calib.n=128 threads=2 --json --quiet "$@" \
		>"$T/run.json" 2>"$T/err"
}

"$QBENCH" train model=cnn epochs=1 train.n=2000 test.n=500 threads=2 --json --quiet \
	>"$T/float.json" 2>"$T/err"
check $? "the float cnn trains (run 1)"

# run 2: W8A8, nearest, max clips
ptq scheme=uniform w.bits=8 a.bits=8
check $? "ptq W8A8 exits 0 (run 2)"
cp "$T/run.json" "$T/w8a8.json"
json_check "W8A8: a done run under run 1, accuracy within 0.02 of the float run's" "$T/w8a8.json" \
	"(f := json.load(open('$T/float.json'))['results']) and (r := d['results']) and \
	 d['status'] == 'done' and d['id'] == 2 and d['parent_run_id'] == 1 and \
	 d['model_path'] == 'runs/2/model.h5' and d['config']['job'] == 'ptq' and \
	 abs(r['test_acc'] - f['test_acc']) <= 0.02 and \
	 abs(r['float_test_acc'] - f['test_acc']) <= 0.004 and r['calib_n'] == 128 and \
	 r['ocs_overhead'] == 0 and r['bitops'] == r['macs'] * 64 and \
	 r['bitops'] < f['bitops'] / 15 and r['size_bits'] < f['size_bits'] / 3"

"$QBENCH" eval model=run:2 test.n=500 threads=2 --json --quiet >"$T/eval.json" 2>"$T/err"
check $? "eval of the ptq run exits 0 (run 3)"
json_check "eval rebuilds the quantized model: exactly the same accuracy, loss and costs" \
	"$T/eval.json" \
	"(w := json.load(open('$T/w8a8.json'))['results']) and \
	 d['status'] == 'done' and d['parent_run_id'] == 2 and \
	 d['results']['test_acc'] == w['test_acc'] and d['results']['test_loss'] == w['test_loss'] and \
	 d['results']['bitops'] == w['bitops'] and d['results']['size_bits'] == w['size_bits']"

py "h5py reads /quant: kind=ptq, int8 codes in range, on the folded weights' grid, calib.n distinct indices" \
	"$T/runs/2/model.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], 'r')
q = f['quant']
assert q.attrs['kind'] == 'ptq' and q.attrs['w_bits'] == 8 and q.attrs['a_bits'] == 8
assert q.attrs['border'] == 'nearest' and q.attrs['calib_n'] == 128
ci = q['calib_indices'][()]
assert ci.shape == (128,) and len(np.unique(ci)) == 128 and ci.min() >= 0 and ci.max() < 2000
for g in ('00_conv', '03_conv', '08_fc', '10_fc'):
    c = q[g]['codes_w'][()]
    assert c.dtype == np.int8 and c.min() >= -128 and c.max() <= 127, g
    assert q[g].attrs['bits_w'] == 8 and q[g]['scale_w'].shape == (1,), g
# 00_conv is folded with 01_bn: W·gamma/sqrt(var + eps); max clips round to nearest
L = f['layers']
w = L['00_conv/weight'][()].astype(np.float64)
g = L['01_bn/gamma'][()] / np.sqrt(L['01_bn/running_var'][()].astype(np.float64) + 1e-5)
wf = w * g[:, None, None, None]
s = q['00_conv/scale_w'][()][0]
wq = q['00_conv/codes_w'][()].astype(np.float64).reshape(wf.shape) * s
assert np.abs(wq - wf).max() <= s / 2 * (1 + 1e-5), np.abs(wq - wf).max() / s
assert abs(np.abs(wf).max() - 127 * s) <= 1e-5 * 127 * s
# 08_fc has no batch norm: its own weights
w = L['08_fc/weight'][()]
s = q['08_fc/scale_w'][()][0]
wq = q['08_fc/codes_w'][()].astype(np.float64).reshape(w.shape) * s
assert np.abs(wq - w).max() <= s / 2 * (1 + 1e-5)
assert '00_conv' not in [k for k in q if 'scale_a' in q[k].attrs]
assert q['03_conv'].attrs['scale_a'] > 0 and q['03_conv'].attrs['signed_a'] == 0
PY

"$QBENCH" show 2 --json >"$T/show.json" 2>"$T/err"
check $? "show of the ptq run exits 0"
json_check "show: per-layer bits, clips, SQNR and bitops of the ptq run" "$T/show.json" \
	"(L := {l['layer']: l for l in d['layers']}) and \
	 all(L[g]['bits_w'] == 8 and L[g]['bits_a'] == 8 and L[g]['sqnr_w'] > 30 and \
	     L[g]['clip_w'] > 0 for g in ('00_conv', '03_conv', '08_fc', '10_fc')) and \
	 'clip_a' not in L['00_conv'] and L['03_conv']['clip_a'] > 0 and \
	 sum(l.get('bitops', 0) for l in d['layers']) == d['results']['bitops'] and \
	 d['parent_run_id'] == 1"
"$QBENCH" show 2 >"$T/show.txt" 2>"$T/err"
check $? "show (text) of the ptq run exits 0"
grep -q '^  job  *ptq$' "$T/show.txt" && grep -q '^  parent  *run:1$' "$T/show.txt" &&
	grep -q '^  float_test_acc ' "$T/show.txt" && grep -q '^  03_conv ' "$T/show.txt"
check $? "show (text): job ptq, parent run:1, float_test_acc and the layers"

ptq scheme=uniform w.bits=8 a.bits=8
json_check "the same ptq again is cached" "$T/run.json" "d['cached'] and d['id'] == 2"

# run 4: outlier channel splitting of the middle layers' weights
ptq scheme=uniform w.bits=6 a.bits=8 ocs.ratio=0.05
check $? "ptq W6A8 with ocs.ratio=0.05 exits 0 (run 4)"
json_check "OCS: MAC overhead of the splits, accuracy" "$T/run.json" \
	"(r := d['results']) and d['id'] == 4 and r['ocs_overhead'] > 0 and \
	 abs(r['macs'] / json.load(open('$T/w8a8.json'))['results']['macs'] - 1 - \
	     r['ocs_overhead']) < 1e-9 and \
	 r['test_acc'] >= json.load(open('$T/float.json'))['results']['test_acc'] - 0.03"
sql "OCS: ocs_splits per layer in the database (ceil(0.05·I) in the middle layers)" \
	"SELECT layer || '=' || value FROM layers WHERE run_id = 4 AND name = 'ocs_splits' ORDER BY layer" \
	"03_conv=2.0
08_fc=461.0"
sql "OCS: SQNR with and without splitting recorded for the split layers" \
	"SELECT count(*) FROM layers WHERE run_id = 4 AND name IN ('sqnr_w', 'sqnr_w_noocs') AND value > 0" \
	"6"
py "OCS: the file holds the split channels (dup_src, dup_factor) and split codes" \
	"$T/runs/4/model.h5" <<'PY'
import sys, h5py, numpy as np
q = h5py.File(sys.argv[1], 'r')['quant']
g = q['03_conv']
src = g['dup_src'][()]
assert g.attrs['ocs_splits'] == 2 and src.shape == (34,) and list(src[:32]) == list(range(32))
assert np.all(g['dup_factor'][()] == 1) and g['codes_w'].shape == (64, 34, 9)
assert g['codes_w'][()].min() >= -32 and g['codes_w'][()].max() <= 31
assert 'dup_src' not in q['00_conv'] and 'dup_src' not in q['10_fc']
assert q.attrs['ocs_ratio'] == 0.05 and q.attrs['ocs_split'] == 'naive'
PY

# run 5: learned activation borders (and AdaRound weights)
ptq scheme=uniform w.bits=4 a.bits=4 border=aquant recon.iters=20
check $? "ptq W4A4 border=aquant exits 0 (run 5)"
cp "$T/run.json" "$T/aquant.json"
sql "aquant: a reconstruction loss per conv/linear layer" \
	"SELECT count(*) FROM layers WHERE run_id = 5 AND name = 'recon_loss' AND value >= 0" "4"
py "aquant: the file holds border_phi (channels x bins) for the layers after the first" \
	"$T/runs/5/model.h5" <<'PY'
import sys, h5py, numpy as np
q = h5py.File(sys.argv[1], 'r')['quant']
assert q.attrs['border'] == 'aquant'
assert 'border_phi' not in q['00_conv']
# 08_fc reads the flattened 64x12x12 map: one border per map channel
assert q['03_conv/border_phi'].shape == (32, 15) and q['08_fc/border_phi'].shape == (64, 15)
assert q['10_fc/border_phi'].shape == (128, 255)
assert np.count_nonzero(q['03_conv/border_phi'][()]) > 0
assert np.all(np.isfinite(q['08_fc/border_phi'][()]))
PY
"$QBENCH" eval model=run:5 test.n=500 threads=2 --json --quiet >"$T/eval.json" 2>"$T/err"
check $? "eval of the aquant run exits 0 (run 6)"
json_check "eval restores the borders: exactly the same accuracy and loss" "$T/eval.json" \
	"(a := json.load(open('$T/aquant.json'))['results']) and \
	 d['results']['test_acc'] == a['test_acc'] and d['results']['test_loss'] == a['test_loss']"

# models ptq refuses: quantized ones (QAT, and PTQ itself)
"$QBENCH" train model=mlp epochs=1 train.n=300 test.n=100 scheme=uniform w.bits=4 a.bits=4 \
	threads=2 --quiet >/dev/null 2>"$T/err"
check $? "a small QAT run trains (run 7)"
golden ptq-err-qat-model 3 ptq model=run:7 scheme=uniform w.bits=8 train.n=100 test.n=100
golden ptq-err-ptq-model 3 ptq model="$T/runs/2/model.h5" scheme=uniform w.bits=8 \
	train.n=100 test.n=100
done_testing
