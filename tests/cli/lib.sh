# lib.sh: TAP helpers for the command-line tests (sourced, POSIX sh).
#
# Each test script sources this file, runs qbench through `golden` and the
# check helpers, and ends with `done_testing`. A golden file holds the
# transcript of one command, normalised so that it does not depend on the
# machine or the moment:
#
#     $ qbench ARGS
#     stdout lines
#     2> stderr lines
#     exit N
#
# Normalised: the test's temporary directory (TMP), ISO timestamps (TIME),
# run keys (KEY), host:pid of workers (HOST:PID); with NUMBERS=1 also every
# number with a decimal point or an exponent (#.#) and every throughput (#),
# and runs of blanks squeezed to one.
# QB_UPDATE_GOLDEN=1 rewrites the golden files from the current output.
#
# Environment: QBENCH (the binary; default ./qbench), QB_SRCDIR (the source
# tree; default two levels above this script), PYTHON3 (may be empty).

QBENCH=${QBENCH:-./qbench}
srcdir=${QB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
golden_dir=$srcdir/tests/cli/golden
T=$(mktemp -d "${TMPDIR:-/tmp}/qbench-cli.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT
QBENCH_DB=$T/qbench.db
export QBENCH_DB
NUMBERS=0
tap_n=0
tap_failed=0

ok() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $*"
}

not_ok() {
	tap_n=$((tap_n + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $*"
}

skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $2 # SKIP $1"
}

diag() {
	sed 's/^/# /'
}

# check COND_STATUS NAME: ok when the previous command's status ($1) is 0.
check() {
	if [ "$1" -eq 0 ]; then ok "$2"; else not_ok "$2"; fi
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}

# Skips the whole script (no checks run yet).
skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

normalise() {
	sed -e "s#$T#TMP#g" \
	    -e 's/[0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}T[0-9]\{2\}:[0-9]\{2\}:[0-9]\{2\}Z/TIME/g' \
	    -e 's/\([^0-9a-f]\|^\)[0-9a-f]\{16\}\([^0-9a-f]\|$\)/\1KEY\2/g' \
	    -e 's/\(worker *\)[^ ]*:[0-9][0-9]*/\1HOST:PID/' |
	if [ "$NUMBERS" = 1 ]; then
		sed -e 's/-\{0,1\}[0-9][0-9]*\.[0-9][0-9]*\(e[-+][0-9][0-9]*\)\{0,1\}/#.#/g' \
		    -e 's/-\{0,1\}[0-9][0-9]*e[-+][0-9][0-9]*/#.#/g' \
		    -e 's/\(images\/s\|images_per_s\|eval_images_per_s\) *[^ ]*/\1 #/g' \
		    -e 's/ *$//' -e 's/  */ /g'
	else
		cat
	fi
}

# golden LABEL WANT_STATUS ARGS...: runs qbench ARGS and compares the
# normalised transcript with golden/LABEL.txt and the exit status with WANT_STATUS.
golden() {
	label=$1
	want=$2
	shift 2
	"$QBENCH" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	{
		echo "\$ qbench $*"
		cat "$T/out"
		sed 's/^/2> /' "$T/err"
		echo "exit $rc"
	} | normalise >"$T/got"
	if [ -n "$QB_UPDATE_GOLDEN" ]; then
		cp "$T/got" "$golden_dir/$label.txt"
	fi
	if [ "$rc" -eq "$want" ] && diff -u "$golden_dir/$label.txt" "$T/got" >"$T/diff" 2>&1; then
		ok "$label: qbench $* (exit $rc)"
	else
		not_ok "$label: qbench $* (exit $rc, want $want)"
		diag <"$T/diff"
	fi
}

# Nonzero when Fashion-MNIST is not installed where dataset=fmnist looks.
no_fmnist() {
	dir=${QBENCH_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
	! [ -r "$dir/train-images-idx3-ubyte.gz" ] && ! [ -r "$dir/train-images-idx3-ubyte" ]
}

# json_check NAME FILE PYTHON-EXPRESSION: parses FILE as JSON into `d` and
# checks the expression (skipped without python3).
json_check() {
	if [ -z "$PYTHON3" ] && ! PYTHON3=$(command -v python3); then
		skip "no python3" "$1"
		return
	fi
	if "$PYTHON3" -c "import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if ($3) else 1)" "$2" >"$T/py" 2>&1; then
		ok "$1"
	else
		not_ok "$1"
		diag <"$2"
		diag <"$T/py"
	fi
}
