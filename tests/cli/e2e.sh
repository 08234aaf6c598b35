#!/bin/sh
# e2e: the whole path on real data. Trains the mlp for one epoch on a slice of
# Fashion-MNIST through the command line, then checks that it learned (test
# accuracy far above the 10% of chance), that the database another SQLite
# client opens holds the run, its curve and its per-layer MACs, and that the
# saved model evaluates to the same accuracy.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"
no_fmnist && skip_all "Fashion-MNIST is not installed"

"$QBENCH" train model=mlp epochs=1 train.n=12000 test.n=2000 lr=0.05 --json --quiet \
	>"$T/train.json" 2>"$T/err"
check $? "train mlp for one epoch on 12,000 images exits 0"
diag <"$T/err"
json_check "test accuracy is far above chance (> 0.75)" "$T/train.json" \
	"d['status'] == 'done' and d['results']['test_acc'] > 0.75"

"$QBENCH" eval model=run:1 test.n=2000 --json --quiet >"$T/eval.json" 2>"$T/err"
check $? "eval of the saved model exits 0"
if [ -n "$PYTHON3" ] || PYTHON3=$(command -v python3); then
	"$PYTHON3" -c "import json, sys
a = json.load(open(sys.argv[1]))['results']['test_acc']
b = json.load(open(sys.argv[2]))['results']['test_acc']
sys.exit(0 if abs(a - b) < 1e-9 else 1)" "$T/train.json" "$T/eval.json"
	check $? "the saved model evaluates to the accuracy the run recorded"
else
	skip "no python3" "the saved model evaluates to the accuracy the run recorded"
fi

if command -v sqlite3 >/dev/null 2>&1; then
	got=$(sqlite3 "$QBENCH_DB" "PRAGMA integrity_check;
		SELECT status FROM runs WHERE id = 1;
		SELECT count(*) FROM metrics WHERE run_id = 1 AND name = 'test_acc';
		SELECT sum(value) FROM layers WHERE run_id = 1 AND name = 'macs';
		SELECT CAST(value AS INTEGER) FROM results WHERE run_id = 1 AND name = 'macs';" | tr '\n' ' ')
	# mlp MACs per image: 784*256 + 256*256 + 256*10
	want="ok done 1 268800.0 268800 "
	[ "$got" = "$want" ]
	check $? "sqlite3 reads the run, its curve and per-layer MACs (got '$got')"
else
	skip "no sqlite3" "sqlite3 reads the run"
fi
done_testing
