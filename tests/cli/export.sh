#!/bin/sh
# export: ls, compare and export on a small database written with the sqlite3
# shell (fixed timestamps, no training): tables, grouping, filters, every
# export format, a pivot, the errors, and -o writing its file atomically.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"
command -v sqlite3 >/dev/null 2>&1 || skip_all "no sqlite3 shell"

# qbench creates the database (with its schema) when a command needs one;
# eval of a run that does not exist does that and stops.
"$QBENCH" eval model=run:1 >/dev/null 2>&1
[ -s "$QBENCH_DB" ]
check $? "qbench created the database"

# Run 1 trains a float model; runs 2-7 quantize it (sweep "bits": 2-5, two
# seeds each); run 6 failed; run 7 has only an accuracy.
sqlite3 "$QBENCH_DB" <<'EOF'
BEGIN;
INSERT INTO sweeps (id, name, spec, created_at) VALUES
 (1, 'bits', 'w.bits=2,4 seed=1,2', '2025-01-01T00:00:00Z'),
 (2, 'wide', 'a.bits=8', '2025-01-01T00:00:00Z');
INSERT INTO runs (id, key, config, status, parent_run_id, created_at) VALUES
 (1, '0000000000000001', '{}', 'done', NULL, '2025-01-01T00:00:00Z'),
 (2, '0000000000000002', '{}', 'done', 1, '2025-01-01T00:00:00Z'),
 (3, '0000000000000003', '{}', 'done', 1, '2025-01-01T00:00:00Z'),
 (4, '0000000000000004', '{}', 'done', 1, '2025-01-01T00:00:00Z'),
 (5, '0000000000000005', '{}', 'done', 1, '2025-01-01T00:00:00Z'),
 (6, '0000000000000006', '{}', 'failed', 1, '2025-01-01T00:00:00Z'),
 (7, '0000000000000007', '{}', 'done', 1, '2025-01-01T00:00:00Z');
INSERT INTO sweep_runs (sweep_id, run_id, position) VALUES
 (1, 2, 0), (1, 3, 1), (1, 4, 2), (1, 5, 3), (2, 6, 0);
INSERT INTO params (run_id, key, value) VALUES
 (1, 'job', 'train'), (1, 'model', 'mlp'), (1, 'lr', '0.1'), (1, 'seed', '1'),
 (1, 'epochs', '10'),
 (2, 'job', 'ptq'), (2, 'model', 'run:1'), (2, 'scheme', 'apot'), (2, 'w.bits', '4'),
 (2, 'a.bits', '4'), (2, 'seed', '1'), (2, 'clip', 'mse'),
 (3, 'job', 'ptq'), (3, 'model', 'run:1'), (3, 'scheme', 'apot'), (3, 'w.bits', '4'),
 (3, 'a.bits', '4'), (3, 'seed', '2'), (3, 'clip', 'mse'),
 (4, 'job', 'ptq'), (4, 'model', 'run:1'), (4, 'scheme', 'apot'), (4, 'w.bits', '2'),
 (4, 'a.bits', '4'), (4, 'seed', '1'), (4, 'clip', 'mse'),
 (5, 'job', 'ptq'), (5, 'model', 'run:1'), (5, 'scheme', 'apot'), (5, 'w.bits', '2'),
 (5, 'a.bits', '4'), (5, 'seed', '2'), (5, 'clip', 'mse'),
 (6, 'job', 'ptq'), (6, 'model', 'run:1'), (6, 'scheme', 'uniform'), (6, 'w.bits', '4'),
 (6, 'a.bits', '8'), (6, 'seed', '1'), (6, 'clip', 'pct:99.9'),
 (7, 'job', 'ptq'), (7, 'model', 'run:1'), (7, 'scheme', 'apot'), (7, 'w.bits', '8'),
 (7, 'a.bits', '8'), (7, 'seed', '1'), (7, 'clip', 'mse');
INSERT INTO results (run_id, name, value) VALUES
 (1, 'test_acc', 0.9), (1, 'test_loss', 0.3), (1, 'bitops', 104857600), (1, 'time_s', 12.5),
 (1, 'epochs', 10),
 (2, 'test_acc', 0.88), (2, 'test_loss', 0.35), (2, 'bitops', 1638400), (2, 'time_s', 2.25),
 (2, 'float_test_acc', 0.9),
 (3, 'test_acc', 0.86), (3, 'test_loss', 0.37), (3, 'bitops', 1638400), (3, 'time_s', 2.75),
 (3, 'float_test_acc', 0.9),
 (4, 'test_acc', 0.8), (4, 'test_loss', 0.5), (4, 'bitops', 819200), (4, 'time_s', 2),
 (4, 'float_test_acc', 0.9),
 (5, 'test_acc', 0.7), (5, 'test_loss', 0.6), (5, 'bitops', 819200), (5, 'time_s', 3),
 (5, 'float_test_acc', 0.9),
 (7, 'test_acc', 0.895);
INSERT INTO layers (run_id, layer, name, value) VALUES
 (2, '01_fc', 'sqnr_w', 20.5), (2, '01_fc', 'bits_w', 4), (2, '03_fc', 'sqnr_w', 18.25),
 (2, '03_fc', 'bits_w', 8),
 (4, '01_fc', 'sqnr_w', 9.75), (4, '01_fc', 'bits_w', 2), (4, '03_fc', 'sqnr_w', 18.25),
 (4, '03_fc', 'bits_w', 8), (4, '01_fc', 'ocs_splits', 3);
COMMIT;
EOF
check $? "runs inserted with the sqlite3 shell"

# CSV ends its lines with CR LF: the transcripts compare the text without the CRs,
# and crlf_only checks that every line had one.
cat >"$T/nocr" <<EOF
#!/bin/sh
"$QBENCH" "\$@" >"$T/raw"
rc=\$?
tr -d '\r' <"$T/raw"
exit \$rc
EOF
chmod +x "$T/nocr"
crlf_only() {
	[ -s "$1" ] && awk '!/\r$/ { bad = 1 } END { exit bad }' "$1"
}

# ls
golden export-ls 0 ls
golden export-ls-group 0 ls --group all-but-seed
golden export-ls-all 0 ls --all job=ptq
golden export-ls-sort 0 ls 'test_acc>0.85' --sort -test_acc
golden export-ls-sweep 0 ls sweep=bits w.bits=2..4 seed!=2
golden export-ls-parent 0 ls parent=1 'w.bits>=4' status!=failed
"$QBENCH" ls --json --group all-but-seed job=ptq >"$T/ls.json"
json_check "export-ls-json: grouped rows with their runs, mean, std and n" "$T/ls.json" \
	"[r['id'] for r in d] == [2, 4, 6, 7] and d[1]['runs'] == [4, 5] and \
	 abs(d[1]['test_acc']['mean'] - 0.75) < 1e-12 and d[1]['test_acc']['n'] == 2 and \
	 d[2]['status'] == 'failed' and d[2]['test_acc']['n'] == 0 and d[1]['w.bits'] == 2"

# compare
golden export-compare 0 compare 2 4 run:1
golden export-compare-all 0 compare 2 3 --all
"$QBENCH" compare 2 4 --json >"$T/compare.json"
json_check "export-compare-json: differing keys, results and layers per run" "$T/compare.json" \
	"d['runs'] == [2, 4] and d['config'] == {'w.bits': [4, 2]} and \
	 d['results']['test_acc'] == [0.88, 0.8] and d['layers'][0]['layer'] == '01_fc' and \
	 d['layers'][0]['ocs_splits'] == [None, 3]"

# export: each format, grouping, sorting, a pivot
QBENCH_REAL=$QBENCH
QBENCH=$T/nocr
golden export-csv 0 export --format csv job=ptq
QBENCH=$QBENCH_REAL
"$QBENCH" export --format csv job=ptq >"$T/csv"
crlf_only "$T/csv"
check $? "export-csv: every line ends in CR LF"
golden export-md 0 export --format md --group all-but-seed job=ptq
golden export-latex 0 export --format latex --group all-but-seed job=ptq
golden export-latex-runs 0 export --format latex --sort -test_acc status=done
golden export-json 0 export --format json scheme=apot w.bits=4
golden export-pivot-md 0 export --format md --pivot w.bits:a.bits:test_acc
golden export-pivot-latex 0 export --format latex --pivot w.bits:a.bits:test_acc job=ptq
QBENCH=$T/nocr
golden export-pivot-csv 0 export --format csv --pivot a.bits:w.bits:test_acc
QBENCH=$QBENCH_REAL
"$QBENCH" export --format json --pivot w.bits:a.bits:test_acc >"$T/pivot.json"
json_check "export-pivot-json: one object per row, null where no run is" "$T/pivot.json" \
	"[r['w.bits'] for r in d] == [2, 4, 8] and d[0]['a.bits=4']['n'] == 2 and \
	 d[0]['a.bits=8'] is None and d[2]['a.bits=8']['mean'] == 0.895"

# -o: the format from the extension, the file written whole (no .tmp left)
"$QBENCH" export --format md --group all-but-seed job=ptq >"$T/stdout.md"
"$QBENCH" export -o "$T/table.md" --group all-but-seed job=ptq >"$T/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ! [ -s "$T/out" ] && cmp -s "$T/table.md" "$T/stdout.md" && ! [ -e "$T/table.md.tmp" ]
check $? "export -o FILE.md: Markdown from the extension, as on stdout, no .tmp left"
for ext in csv tex json; do
	"$QBENCH" export -o "$T/table.$ext" job=ptq && ! [ -e "$T/table.$ext.tmp" ]
	check $? "export -o FILE.$ext: written, no .tmp left"
done
head -c 3 "$T/table.csv" | grep -q '^id,' && grep -q '^\\toprule' "$T/table.tex" &&
	head -c 2 "$T/table.json" | grep -q '^\[$'
check $? "export -o: csv, latex and json from the extensions"
"$QBENCH" export --format csv -o "$T/table.md" job=ptq && head -c 3 "$T/table.md" | grep -q '^id,'
check $? "export: --format wins over the extension"
golden export-err-out-dir 4 export -o "$T/no/such/dir/t.csv"
! [ -e "$T/no" ]
check $? "export -o into a missing directory leaves nothing"

# errors
golden export-err-no-format 2 export job=ptq
golden export-err-format 2 export --format cvs
golden export-err-extension 2 export -o "$T/table.txt"
golden export-err-pivot-spec 2 export --format md --pivot w.bits:a.bits
golden export-err-pivot-key 3 export --format md --pivot w.bit:a.bits:test_acc
golden export-err-pivot-absent 3 export --format md --pivot w.bits:ocs.ratio:test_acc
golden export-err-pivot-metric 3 export --format md --pivot w.bits:a.bits:tst_acc
golden export-err-pivot-group 2 export --format md --pivot w.bits:a.bits:test_acc --group seed
golden export-err-filter 3 export --format csv 'test_ac>0.9'
golden export-err-not-filter 2 export --format csv ptq
golden export-err-ls-sort 3 ls --sort tst_acc
golden export-err-ls-group 2 ls --group sed
golden export-err-ls-compare 3 ls 'scheme>apot'
golden export-err-ls-range 3 ls id=3..x
golden export-err-ls-sweep 3 ls sweep=bitz
golden export-err-compare-one 2 compare 2
golden export-err-compare-unknown 3 compare 2 99
golden export-err-compare-bad 2 compare 2 two
done_testing
