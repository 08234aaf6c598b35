#!/bin/sh
# errors: every kind of command-line mistake gives one clear message and its
# exit status (2 usage, 3 configuration, 4 files and database), and leaves no
# run behind.
. "${QB_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"

# usage (2)
golden err-unknown-command 2 tran
golden err-unknown-command-far 2 xyzzy
golden err-unknown-option 2 ls --jsno
golden err-option-not-taken 2 ls --force
golden err-db-needs-file 2 ls --db
golden err-not-key-value 2 train epochs
golden err-eval-no-args 2 eval
golden err-show-no-args 2 show
golden err-show-bad-run 2 show seven
golden err-ls-not-filter 2 ls done

# configuration (3)
golden err-unknown-key 3 train epoch=1
golden err-unknown-key-far 3 train colour=red
golden err-bad-enum 3 train optim=adm
golden err-bad-float 3 train lr=0
golden err-bad-int 3 train epochs=1.5
golden err-bad-bool 3 train nesterov=maybe
golden err-bad-model 3 train model=mpl
golden err-bad-dataset 3 train dataset=mnist
golden err-key-twice 3 train epochs=1 epochs=2
golden err-job-conflict 3 train job=eval
golden err-eval-zoo 3 eval model=mlp
golden err-eval-train-key 3 eval model=run:1 epochs=3

# files and database (4)
golden err-ls-no-db 4 ls
golden err-show-no-db 4 show 1
golden err-missing-model-file 4 train model=$T/missing.h5
golden err-bad-dataset-path 4 train dataset=idx:$T/nowhere epochs=1
golden err-ls-empty 0 ls
golden err-eval-no-run 3 eval model=run:5
golden err-show-no-run 3 show run:5
golden err-ls-unknown-key 3 ls epoch=1
golden err-ls-bad-status 3 ls status=dne

printf 'name,value\nlr,0.1\n' >"$T/notes.csv"
cp "$T/notes.csv" "$T/before.csv"
golden err-not-a-database 4 --db "$T/notes.csv" ls
cmp -s "$T/notes.csv" "$T/before.csv" && ! [ -e "$T/notes.csv-wal" ]
check $? "a file that is not a database is left untouched"
done_testing
