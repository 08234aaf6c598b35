#!/bin/sh
# interrupt: Ctrl-C (SIGINT) cancels a training run, keeps the finished
# epochs' metrics and exits 1; a run whose loss becomes NaN ends as diverged.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"
no_fmnist && skip_all "Fashion-MNIST is not installed"

NUMBERS=1
golden interrupt-diverged 1 train model=mlp epochs=3 train.n=1000 test.n=100 lr=10 momentum=0.99 warmup=0 threads=2 --quiet

# A long run, interrupted once its first epoch is recorded.
"$QBENCH" train model=mlp epochs=1000 train.n=2000 test.n=100 threads=2 >"$T/out" 2>"$T/err" &
pid=$!
i=0
until "$QBENCH" show 2 2>/dev/null | grep -q '^epochs:'; do
	i=$((i + 1))
	if [ $i -gt 300 ]; then
		break
	fi
	sleep 0.05
done
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 1 ]
check $? "SIGINT: exit status 1 (got $rc)"
grep -q '^qbench: run 2 cancelled: interrupted after [0-9]* of 1000 epochs' "$T/err"
check $? "SIGINT: the run is reported cancelled"
tail -n 1 "$T/err" | diag
"$QBENCH" show 2 --json >"$T/show.json"
json_check "SIGINT: status cancelled, error text, finished epochs kept, no model" "$T/show.json" \
	"d['status'] == 'cancelled' and d['error'].startswith('interrupted after') and \
	 len(d['metrics']) >= 1 and d['model_path'] is None and d['finished_at'] is not None"
golden interrupt-ls 0 ls
done_testing
