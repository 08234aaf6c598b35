#!/bin/sh
# usage: qbench without a command, help for every command and topic, the
# version, and the manual page in step with the program's tables.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"

golden usage-none 2
golden usage-help 0 help
golden usage-help-option 0 --help
for c in train eval ls show help; do
	golden "usage-help-$c" 0 help "$c"
done
golden usage-help-keys 0 help keys
golden usage-train-help-option 0 train --help
golden usage-help-unknown 2 help trian
golden usage-help-two 2 help train eval

"$QBENCH" --version >"$T/version" 2>&1
grep -q '^qbench [0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*$' "$T/version"
check $? "--version prints 'qbench X.Y.Z'"

"$QBENCH" help man >"$T/man" 2>&1
if diff -u "$srcdir/docs/qbench.1" "$T/man" >"$T/diff"; then
	ok "docs/qbench.1 is what 'qbench help man' prints (else: make update-man)"
else
	not_ok "docs/qbench.1 is what 'qbench help man' prints (else: make update-man)"
	diag <"$T/diff"
fi
if command -v groff >/dev/null 2>&1; then
	groff -man -Tutf8 -ww -z "$T/man" >"$T/groff" 2>&1 && ! [ -s "$T/groff" ]
	check $? "the manual page formats without groff warnings"
	diag <"$T/groff"
else
	skip "no groff" "the manual page formats without groff warnings"
fi
done_testing
