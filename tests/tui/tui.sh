#!/bin/sh
# tui: the workbench driven in a detached tmux session of a fixed size:
# screens compared with golden captures, resizing, a tiny sweep launched from
# the builder and watched to the end, a table and a plot exported, Ctrl-C
# and quitting that leave the terminal sane.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"
command -v tmux >/dev/null || skip_all "no tmux"
no_fmnist && skip_all "Fashion-MNIST is not installed"

golden_dir=$srcdir/tests/tui/golden
S=qbench-test-$$
TMUX_TMPDIR=$T
export TMUX_TMPDIR
trap 'tmux kill-server 2>/dev/null; rm -rf "$T"' EXIT

# The builder starts with this tiny "quick" sweep instead of the shipped one.
mkdir -p "$T/sweeps"
cat >"$T/sweeps/quick.sweep" <<'SWEEP'
# a tiny sweep for the tests
model=mlp
epochs=1
train.n=500
test.n=100
lr=0.05,0.1
SWEEP
QBENCH_SWEEPS=$T/sweeps
export QBENCH_SWEEPS

# start W H: qbench in a new session; the shell then prints EXITED and the terminal modes.
start() {
	tmux kill-session -t "$S" 2>/dev/null
	tmux new-session -d -s "$S" -x "$1" -y "$2" \
		"cd '$T' && LANG=C.UTF-8 QBENCH_SWEEPS='$T/sweeps' '$QBENCH' --db '$T/w/qbench.db'; echo EXITED \$?; stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo -e -icanon -e -echo | tr '\\n' ' '; echo; sleep 600"
}

screen() { tmux capture-pane -p -t "$S" | sed 's/ *$//'; }

# wait_for TEXT: polls the screen until it shows TEXT (10 s at most).
wait_for() {
	i=0
	while [ $i -lt 200 ]; do
		screen | grep -q -F -- "$1" && return 0
		i=$((i + 1))
		sleep 0.05
	done
	return 1
}

keys() { tmux send-keys -t "$S" "$@"; }

# golden_screen LABEL: the screen, normalised, against tests/tui/golden/LABEL.txt.
golden_screen() {
	screen | normalise | sed -e 's/[0-9][0-9]*\.[0-9][0-9]* s/#.# s/g' >"$T/got"
	[ -n "$QB_UPDATE_GOLDEN" ] && cp "$T/got" "$golden_dir/$1.txt"
	if diff -u "$golden_dir/$1.txt" "$T/got" >"$T/diff" 2>&1; then
		ok "screen $1"
	else
		not_ok "screen $1"
		diag <"$T/diff"
	fi
}

mkdir -p "$T/w"

# A new database: the builder with the quick sweep, and its point count.
start 100 30
wait_for "sweep quick"
check $? "the workbench opens on the builder with the quick sweep"
wait_for "2 points, 2 runs: 0 done, 2 to run"
check $? "the builder counts the sweep's points"
golden_screen tui-builder
[ -f "$T/w/qbench.db" ]
check $? "starting without a database creates one"

# Help is generated from the key table; q closes it.
keys '?'
wait_for "Keys on Builder"
check $? "? shows the builder's keys"
golden_screen tui-help
keys q
wait_for "sweep quick"
check $? "q closes the help"

# Too small, then large again.
tmux resize-window -t "$S" -x 60 -y 20
wait_for "terminal too small: 60x20"
check $? "a 60x20 terminal gets the too-small notice"
tmux resize-window -t "$S" -x 100 -y 30
wait_for "sweep quick"
check $? "enlarged again, the screen is redrawn"

# Launch: the Jobs screen, then both points done.
keys L
wait_for "[3 Jobs]"
check $? "L launches the sweep and shows the jobs"
i=0
until [ "$(sqlite3 "$T/w/qbench.db" "SELECT count(*) FROM runs WHERE status = 'done'" 2>/dev/null)" = 2 ]; do
	i=$((i + 1))
	[ $i -gt 600 ] && break
	sleep 0.1
done
[ $i -le 600 ]
check $? "the launched sweep runs to the end"
wait_for "0 running, 0 queued"
check $? "the Jobs screen sees it finish"

# Runs: both runs; tag them, compare them.
keys 2
wait_for "2 of 2 rows"
check $? "the Runs screen lists the two runs"
NUMBERS=1 golden_screen tui-runs
keys Space Space 4
wait_for "run 1"
screen | grep -q "run 1 *run 2"
check $? "Compare puts the two tagged runs side by side"

# Export the table (CSV) from Runs, and a plot from Plots.
keys 2 e c
wait_for "export to file: runs.csv"
keys Enter
wait_for "exported 2 rows to runs.csv"
check $? "the export dialog writes runs.csv"
head -1 "$T/runs.csv" | grep -q '^id,status'
check $? "runs.csv is a CSV table"
keys 5
wait_for "plot pareto"
check $? "Plots shows the pareto plot"
keys e
wait_for "export the plot to"
keys BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace 'p.png' Enter
wait_for "wrote p.png" || screen | diag
check $? "e writes the plot to a file"
[ "$(head -c 8 "$T/p.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
check $? "the file is a PNG"

# The command line.
keys : 'ls lr=0.1' Enter
wait_for "qbench ls  (exit 0" || screen | diag
screen | grep -q "2 *done"
check $? ": runs a qbench command and shows its output"
keys q

# Quit: the terminal is sane again.
keys Q
wait_for "EXITED 0"
check $? "Q quits with status 0"
screen | grep -q "^icanon echo"
check $? "the terminal is back in canonical mode with echo"

# Ctrl-C ends it cleanly too.
start 100 30
wait_for "sweep quick"
keys C-c
wait_for "EXITED 0"
check $? "Ctrl-C ends the workbench cleanly"
wait_for "icanon"
screen | grep -q "^icanon echo" || screen | diag
check $? "and leaves the terminal sane"

# Without a terminal: the usage, not the workbench.
"$QBENCH" --db "$T/w/qbench.db" </dev/null >"$T/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q '^usage: qbench' "$T/out"
check $? "without a terminal, qbench prints its usage (exit $rc)"
"$QBENCH" --db "$T/w/qbench.db" tui </dev/null >"$T/out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "no terminal here, so no workbench" "$T/out"
check $? "qbench tui without a terminal says so and exits 0 (got $rc)"
done_testing
