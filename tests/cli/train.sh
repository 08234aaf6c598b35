#!/bin/sh
# train: a small real training run, then ls, show and eval of its model,
# the cache of finished configurations, --json output, and the saved model.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"
no_fmnist && skip_all "Fashion-MNIST is not installed"

NUMBERS=1
golden train-mlp 0 train model=mlp epochs=1 train.n=2000 test.n=500 threads=2
[ -s "$T/runs/1/model.h5" ]
check $? "the model is saved as runs/1/model.h5 beside the database"
golden train-ls 0 ls
golden train-show 0 show 1
golden train-eval 0 eval model=run:1 threads=2
golden train-ls-after-eval 0 ls
golden train-ls-filter 0 ls job=eval
golden train-ls-filter-number 0 ls lr=.05 status=done
golden train-cached 0 train model=mlp epochs=1 train.n=2000 test.n=500 threads=2 --quiet
golden train-show-eval 0 show run:2

"$QBENCH" train model=mlp epochs=2 train.n=1000 test.n=200 threads=2 seed=2 --json --quiet \
	>"$T/train.json" 2>"$T/err"
check $? "train --json exits 0"
json_check "train --json: a done run with its results" "$T/train.json" \
	"d['id'] == 3 and d['status'] == 'done' and not d['cached'] and \
	 d['config']['seed'] == 2 and d['config']['epochs'] == 2 and \
	 0.5 < d['results']['test_acc'] <= 1 and d['results']['epochs'] == 2 and \
	 d['results']['size_bits'] == 32 * d['results']['params'] and \
	 d['model_path'] == 'runs/3/model.h5'"
! [ -s "$T/err" ]
check $? "train --quiet prints nothing on stderr"

"$QBENCH" ls --json >"$T/ls.json"
json_check "ls --json: three runs, oldest first" "$T/ls.json" \
	"[r['id'] for r in d] == [1, 2, 3] and d[1]['job'] == 'eval' and \
	 d[0]['epochs'] == 1 and d[1]['epochs'] is None and d[2]['test_acc'] > 0.5"
"$QBENCH" show 3 --json >"$T/show.json"
json_check "show --json: curve of two epochs and the layers" "$T/show.json" \
	"d['status'] == 'done' and [m['step'] for m in d['metrics']] == [1, 2] and \
	 set(d['metrics'][0]) >= {'train_loss', 'train_acc', 'test_loss', 'test_acc', 'lr'} and \
	 [l['layer'] for l in d['layers']][:2] == ['00_flatten', '01_fc'] and \
	 sum(l['params'] for l in d['layers']) == d['results']['params']"
"$QBENCH" eval model="$T/runs/3/model.h5" test.n=300 --json >"$T/eval.json" 2>"$T/err"
check $? "eval of a model file exits 0"
json_check "eval --json of a model file: absolute path, no parent" "$T/eval.json" \
	"d['status'] == 'done' and d['parent_run_id'] is None and \
	 d['config']['model'].startswith('/') and d['config']['test.n'] == 300 and \
	 'epochs' not in d['config'] and 0.5 < d['results']['test_acc'] <= 1"
golden train-force 0 train model=mlp epochs=1 train.n=2000 test.n=500 threads=2 --force --quiet
"$QBENCH" ls --json >"$T/ls2.json"
json_check "--force reruns in place: still four runs" "$T/ls2.json" "len(d) == 4"

# A second database in the same directory must not overwrite the first one's models.
cmp_before=$(cksum <"$T/runs/1/model.h5")
"$QBENCH" --db "$T/other.db" train model=mlp epochs=1 train.n=300 test.n=100 threads=2 \
	--quiet 2>"$T/err"
[ $? -eq 4 ] && grep -q "runs/1/model.h5 already exists, but run 1 is new in" "$T/err"
check $? "a new run whose model file exists (another database's) fails with a clear message"
[ "$(cksum <"$T/runs/1/model.h5")" = "$cmp_before" ]
check $? "the other database's model file is left as it was"
done_testing
