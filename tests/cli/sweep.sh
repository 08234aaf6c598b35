#!/bin/sh
# sweep: the command-line surface of qbench sweep and qbench job: spec errors
# name the file, line and column and write nothing; the shipped sweeps
# expand (dry runs); a small sweep runs, is cached, and its points are found
# by ls; qbench job refuses what it cannot claim.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"

QBENCH_SWEEPS=$srcdir/experiments
export QBENCH_SWEEPS

# Spec errors (exit 3), from a file and from arguments; no database is written.
printf 'model=cnn\n# a comment\nw.bit=2,3\n' >"$T/typo.sweep"
golden sweep-err-key 3 sweep "$T/typo.sweep"
printf 'model=cnn\nseed=1..3\n:where seed >< 2\n' >"$T/where.sweep"
golden sweep-err-where 3 sweep "$T/where.sweep"
printf 'job=ptq\nmodel=cnn\nscheme=uniform\nw.bits=2,3\na.bits=8,4\n:zip(w.bits,a.bit)\n' >"$T/zip.sweep"
golden sweep-err-zip 3 sweep "$T/zip.sweep"
golden sweep-err-arg 3 sweep model=mlp 'lr=0.1,,0.2'
golden sweep-err-range 3 sweep model=mlp 'lr=range(0.1,0.5,-0.1)'
golden sweep-err-point 3 sweep job=ptq model=cnn scheme=uniform w.bits=4 a.bits=8 border=nearest,stochastic recon.iters=5
golden sweep-err-missing 4 sweep "$T/none.sweep"
golden sweep-err-usage 2 sweep
[ ! -e "$QBENCH_DB" ]
check $? "spec errors write no database"

# Every shipped sweep expands; the dry run shows its points and writes nothing.
for s in quick apot-vs-uniform lcq qnn ocs-vs-clip borders; do
	golden "sweep-dry-$s" 0 sweep "$s" --dry-run
done
[ "$("$QBENCH" sweep quick --dry-run | tail -n 1)" = "13 points: 0 done, 13 to run; no similar finished run to estimate the time from" ]
check $? "dry run: quick is a float parent and 12 points"
if command -v sqlite3 >/dev/null; then
	[ "$(sqlite3 "$QBENCH_DB" 'SELECT count(*) FROM runs; SELECT count(*) FROM sweeps' | tr '\n' ' ')" = "0 0 " ]
	check $? "dry runs write no run and no sweep"
else
	skip "no sqlite3 program" "dry runs write no run and no sweep"
fi

no_fmnist && { done_testing; }

# A small sweep runs with two workers; running it again runs nothing.
NUMBERS=1
pts="model=mlp train.n=2000 test.n=200 epochs=1 warmup=0 lr=0.05,0.1 seed=1..2"
golden sweep-run 0 sweep $pts -j 2 --quiet
golden sweep-run-again 0 sweep $pts -j 2 --quiet
golden sweep-dry-after 0 sweep $pts --dry-run
golden sweep-ls 0 ls sweep=cli lr=0.1
golden sweep-recorded 0 sweep sweep:1 --dry-run
golden sweep-err-recorded 3 sweep sweep:9
NUMBERS=0

# qbench job: nothing to claim, a done run, an unknown run, bad arguments.
golden job-nothing 0 job next
golden job-done 1 job 1
golden job-unknown 3 job 99
golden job-usage 2 job
golden job-usage-next 2 job next x
done_testing
