#!/bin/sh
# runner: sweeps run by parallel workers survive a worker killed with SIGKILL
# (only its point fails; --resume finishes it), never run a point twice,
# chain ptq points to one float parent, cancel cleanly on Ctrl-C, and leave
# a database that passes PRAGMA integrity_check after each of these.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"
no_fmnist && skip_all "Fashion-MNIST is not installed"
command -v sqlite3 >/dev/null || skip_all "no sqlite3 program"

db=$T/qbench.db
q() { sqlite3 -batch "$db" "$1"; }

integrity() {
	r=$(q 'PRAGMA integrity_check')
	[ "$r" = ok ]
	check $? "$1: PRAGMA integrity_check says ok (got $r)"
}

# wait_for SQL: polls until the query prints something non-empty and not 0 (15 s at most).
wait_for() {
	i=0
	while [ $i -lt 300 ]; do
		r=$(q "$1" 2>/dev/null)
		[ -n "$r" ] && [ "$r" != 0 ] && return 0
		i=$((i + 1))
		sleep 0.05
	done
	return 1
}

# Six float points, two at a time; one worker is killed mid-job.
pts="model=mlp train.n=3000 test.n=200 epochs=60 warmup=0 seed=1..6"
"$QBENCH" sweep $pts -j 2 >"$T/out1" 2>"$T/err1" &
runner=$!
wait_for "SELECT count(*) FROM runs WHERE status = 'running' AND heartbeat_at IS NOT NULL AND id IN (SELECT run_id FROM metrics)"
check $? "a worker records an epoch"
victim=$(q "SELECT id FROM runs WHERE status = 'running' ORDER BY id LIMIT 1")
wait_for "SELECT stage LIKE 'epoch %/60 %' FROM runs WHERE id = $victim"
check $? "a running point's heartbeat says where it is"
"$QBENCH" show "$victim" --json >"$T/running.json"
json_check "show: a running point's progress and stage" "$T/running.json" \
	"d['status'] == 'running' and 0 < d['progress'] < 1 and d['stage'].startswith('epoch ')"
vpid=$(q "SELECT worker FROM runs WHERE id = $victim" | sed 's/.*://')
kill -9 "$vpid"
wait $runner
rc=$?
[ $rc -eq 1 ]
check $? "SIGKILL: the sweep exits 1 (got $rc)"
[ "$(q "SELECT status FROM runs WHERE id = $victim")" = failed ]
check $? "SIGKILL: the killed worker's run is failed"
q "SELECT error FROM runs WHERE id = $victim" | grep -q "killed by signal 9"
check $? "SIGKILL: its error names signal 9"
q "SELECT error FROM runs WHERE id = $victim" | grep -q "^epoch [0-9]*/60"
check $? "SIGKILL: and ends with the worker's last output (its epoch lines)"
grep -q "^epoch 1/60" "$T/runs/$victim/job.log"
check $? "a worker's output is kept in runs/ID/job.log"
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done'")" = 5 ]
check $? "SIGKILL: the other five points finished"
grep -q "run $victim failed" "$T/err1"
check $? "SIGKILL: the runner reports the failed point"
integrity "after SIGKILL"

# --resume runs the failed point again, and only that one.
"$QBENCH" sweep $pts -j 2 --resume >"$T/out2" 2>"$T/err2"
check $? "resume: exit 0"
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done'")" = 6 ]
check $? "resume: all six points done"
[ "$(q "SELECT count(*), count(DISTINCT key) FROM runs")" = "6|6" ]
check $? "resume: six runs, no duplicate"
[ "$(q "SELECT group_concat(attempts, ',') FROM (SELECT attempts FROM runs ORDER BY id)")" = \
  "$(q "SELECT group_concat(CASE WHEN id = $victim THEN 2 ELSE 1 END, ',') FROM (SELECT id FROM runs ORDER BY id)")" ]
check $? "resume: only the killed point ran twice"
[ "$(q "SELECT count(*) FROM sweep_runs")" = 6 ]
check $? "resume: the sweep lists its six runs once"
integrity "after resume"

# Nothing is left to run: a dry run says so, a run runs nothing.
NUMBERS=1
golden runner-dry-done 0 sweep $pts --dry-run
before=$(q "SELECT max(finished_at) FROM runs")
"$QBENCH" sweep $pts -j 2 >"$T/out3" 2>"$T/err3"
check $? "again: exit 0"
[ "$(q "SELECT max(finished_at) FROM runs")" = "$before" ] && [ "$(q "SELECT sum(attempts) FROM runs")" = 7 ]
check $? "again: no point ran"

# Chaining: ptq points of an architecture share one float parent.
"$QBENCH" sweep job=ptq model=mlp epochs=1 train.n=2000 test.n=200 scheme=uniform w.bits=4,8 a.bits=8 \
	calib.n=64 -j 2 >"$T/out4" 2>"$T/err4"
check $? "chain: exit 0"
parent=$(q "SELECT id FROM runs WHERE config LIKE '%\"job\":\"train\"%' AND config LIKE '%\"epochs\":1,%'")
[ -n "$parent" ] && [ "$(q "SELECT count(*) FROM runs WHERE parent_run_id = $parent AND status = 'done'")" = 2 ]
check $? "chain: one float parent (run $parent) and two ptq children from it"
q "SELECT DISTINCT value FROM params WHERE key = 'model' AND run_id IN (SELECT id FROM runs WHERE parent_run_id = $parent)" |
	grep -qx "run:$parent"
check $? "chain: the children's model is run:$parent"
integrity "after chaining"

# A killed runner: its workers die with it and leave their runs running; a
# plain sweep leaves them, --resume requeues and finishes them.
pts2="model=mlp train.n=3000 test.n=200 epochs=60 warmup=0 seed=7..8"
"$QBENCH" sweep $pts2 -j 2 >"$T/out5" 2>"$T/err5" &
runner=$!
wait_for "SELECT count(*) = 2 FROM runs WHERE status = 'running' AND id IN (SELECT run_id FROM metrics) AND id IN (SELECT run_id FROM sweep_runs WHERE sweep_id = (SELECT max(id) FROM sweeps))"
check $? "killed runner: both workers run"
workers=$(q "SELECT worker FROM runs WHERE status = 'running'" | sed 's/.*://')
kill -9 $runner
wait $runner 2>/dev/null
for w in $workers; do kill -9 "$w"; done
sleep 0.2
"$QBENCH" sweep $pts2 -j 2 >"$T/out6" 2>"$T/err6"
rc=$?
[ $rc -eq 1 ] && [ "$(q "SELECT count(*) FROM runs WHERE status = 'running'")" = 2 ]
check $? "killed runner: without --resume the orphans stay running, exit 1 (got $rc)"
"$QBENCH" sweep $pts2 -j 2 --resume >"$T/out7" 2>"$T/err7"
check $? "killed runner: --resume finishes them"
[ "$(q "SELECT count(*) FROM runs r JOIN sweep_runs s ON s.run_id = r.id WHERE s.sweep_id = (SELECT max(id) FROM sweeps) AND r.status = 'done'")" = 2 ]
check $? "killed runner: both points done"
integrity "after a killed runner"

# Ctrl-C: the running points are cancelled, the others stay queued.
pts3="model=mlp train.n=3000 test.n=200 epochs=400 warmup=0 seed=9..12"
"$QBENCH" sweep $pts3 -j 2 >"$T/out8" 2>"$T/err8" &
runner=$!
wait_for "SELECT count(*) = 2 FROM runs WHERE status = 'running' AND id IN (SELECT run_id FROM metrics) AND id IN (SELECT run_id FROM sweep_runs WHERE sweep_id = (SELECT max(id) FROM sweeps))"
kill -INT $runner
wait $runner
rc=$?
[ $rc -eq 1 ]
check $? "Ctrl-C: exit 1 (got $rc)"
[ "$(q "SELECT count(*) FROM runs WHERE status = 'cancelled'")" = 2 ] &&
	[ "$(q "SELECT count(*) FROM runs WHERE status = 'queued'")" = 2 ] &&
	[ "$(q "SELECT count(*) FROM runs WHERE status = 'running'")" = 0 ]
check $? "Ctrl-C: two cancelled, two still queued, none running"
grep -q 'interrupted' "$T/err8"
check $? "Ctrl-C: the runner says it was interrupted"
integrity "after Ctrl-C"
done_testing
