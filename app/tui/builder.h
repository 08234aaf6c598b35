/*
 * builder: the model of the TUI's Sweep builder screen, without curses.
 *
 * A builder holds a sweep (see docs/sweeps.md) as the screen edits it:
 *   - job, model and dataset: one value each, or unset;
 *   - the axes the screen offers (epochs, scheme, w.scheme, w.bits, a.bits,
 *     g.bits, clip, w.clip, ocs.ratio, ocs.split, border, seed), each a list
 *     of candidate values that are toggled on and off;
 *   - free lines: every other line of the language (lr=0.01, parent.epochs=6,
 *     :zip(...), :where ..., :exclude ...), kept as text, in order.
 * Its text, tui_builder_text(), is what is saved and launched: job, model
 * and dataset, then each axis with a value on (in the order above, whether
 * it has one value or several), then the free lines. The shipped sweeps
 * written in that order (quick.sweep) load and come back with the same spec,
 * and loading a builder's text gives the same text back.
 *
 * Invariants:
 * - every value held is canonical text of its key (config_canonical);
 * - an axis's values on are distinct candidates, in the order they are
 *   written: the order of the line they were loaded from (a :zip pairs values
 *   by position), a value turned on later goes after the values on that
 *   precede it in the candidate list; a candidate is never removed;
 * - no key is set by two lines: a line setting job, model, dataset or an axis
 *   is taken into them (a multi-valued job, model or dataset line stays a
 *   free line, and that key is then unset);
 * - a free line is one line of the language, not blank and not a comment
 *   alone; a line added while the sweep parses is kept in canonical form.
 * Sweep errors are the sweep parser's messages, naming NAME.sweep (or the
 * loaded file), the line of the builder's text and the column. Nothing here
 * prints; failures return -1 with a malloc'd message in *cause.
 */
#ifndef QB_TUI_BUILDER_H
#define QB_TUI_BUILDER_H

struct db;
struct tui_builder;

/* What launching the builder's sweep would do (tui_builder_summary). */
struct tui_builder_summary {
	int points;	/* points of the expanded sweep */
	int runs;	/* runs they make: distinct points and float parents */
	int done;	/* runs already done */
	int to_run;	/* runs not done */
	int unknown;	/* runs to run without a similar finished run to estimate from */
	int pending;	/* runs to run not estimated yet: call again for them */
	/* seconds of the runs to run, one after the other, from similar finished
	 * runs (those without one, or pending, not counted): 0 when nothing is to
	 * run, NaN when no run to run has an estimate */
	double estimate_s;
};

/* An empty builder named "untitled" (free with tui_builder_free()). Never NULL. */
struct tui_builder *tui_builder_new(void);
/* tui_builder_free(NULL) is a no-op. */
void tui_builder_free(struct tui_builder *b);

/*
 * Replaces b's state by the sweep text (named name): validated with
 * sweep_parse_text(), then each line becomes job, model, dataset, an axis's
 * values on (values not among the candidates are added to them) or a free
 * line. The comment lines at the top of text are kept for tui_builder_save().
 * -1 with the parser's message (b unchanged) when text is not a valid sweep.
 */
int tui_builder_load_text(struct tui_builder *b, const char *name, const char *text,
			  char **cause);
/* Like tui_builder_load_text() with a .sweep file: the name is its base name without ".sweep". */
int tui_builder_load_file(struct tui_builder *b, const char *path, char **cause);
/* The builder's starting state: the sweep at path (experiments/quick.sweep). As load_file. */
int tui_builder_default(struct tui_builder *b, const char *path, char **cause);

/* The sweep's name (owned by b): as loaded, set, or saved. */
const char *tui_builder_name(const struct tui_builder *b);
/* Renames the sweep (name non-empty, copied). */
void tui_builder_set_name(struct tui_builder *b, const char *name);
/* Nonzero when b changed since it was created, loaded or saved. */
int tui_builder_modified(const struct tui_builder *b);

/*
 * Values to pick from for job (train, ptq), model (the zoo architectures) or
 * dataset: a NULL-terminated static list, or NULL for another key.
 */
const char *const *tui_builder_choices(const char *key);
/*
 * Sets key (a configuration key) to the single value, validated and made
 * canonical by config_canonical(); value NULL unsets it. job, model and
 * dataset are set as such; an axis gets this one value on (added to its
 * candidates if needed); any other key replaces the free line setting it, in
 * place, or is appended as a free line. -1 with *cause (b unchanged) for an
 * unknown key or a bad value.
 */
int tui_builder_set(struct tui_builder *b, const char *key, const char *value, char **cause);
/* The value of job, model or dataset (owned by b), or NULL when unset or for another key. */
const char *tui_builder_get(const struct tui_builder *b, const char *key);

/* The axes: their number, the i-th one's key (static), and the index of key (or -1). */
int tui_builder_axis_count(const struct tui_builder *b);
const char *tui_builder_axis_key(const struct tui_builder *b, int axis);
int tui_builder_axis_find(const struct tui_builder *b, const char *key);
/*
 * Candidate values of an axis: the key table's values (enum values; bits 1..8
 * and 32 as the key allows; ocs.ratio 0, 0.01, 0.02, 0.05, 0.1; seed 1..5;
 * epochs 1, 2, 5, 10, 15, 20; clip methods max, pct:99.9, mse, aciq, kl),
 * then values loaded or added (numbers in numeric order). value() is owned
 * by b; value_on() is nonzero when the value is on. Indices must be in range.
 */
int tui_builder_value_count(const struct tui_builder *b, int axis);
const char *tui_builder_value(const struct tui_builder *b, int axis, int i);
int tui_builder_value_on(const struct tui_builder *b, int axis, int i);
/* Turns value i of an axis on or off; returns its new state (1 on, 0 off). */
int tui_builder_toggle(struct tui_builder *b, int axis, int i);
/*
 * Adds value (made canonical for the axis's key) to the axis's candidates,
 * unless there, and turns it on. Returns its index, or -1 with *cause for a
 * bad value.
 */
int tui_builder_add_value(struct tui_builder *b, int axis, const char *value, char **cause);

/* Free lines: their number and the i-th one (owned by b, valid until b changes; i in range). */
int tui_builder_line_count(const struct tui_builder *b);
const char *tui_builder_line(const struct tui_builder *b, int i);
/*
 * Appends a line (one line of the sweep language, surrounding blanks
 * trimmed), or replaces free line i with it. A line setting job, model,
 * dataset or an axis is taken into them instead (replacing their values).
 * The line is checked in the builder's text: -1 with the sweep parser's
 * message (b unchanged) when the text would not parse, unless it already
 * failed with the same message (the line is then kept as written). Blank
 * lines, comments alone and several lines are refused.
 */
int tui_builder_line_add(struct tui_builder *b, const char *text, char **cause);
int tui_builder_line_set(struct tui_builder *b, int i, const char *text, char **cause);
/* Removes free line i. */
void tui_builder_line_remove(struct tui_builder *b, int i);
/* Moves free line `from` to position `to` (both in range), the others keeping their order. */
void tui_builder_line_move(struct tui_builder *b, int from, int to);

/*
 * Completions of a partial line: without '=', the key names (and parent.KEY
 * names, and the directives :zip( :where :exclude) that start with prefix,
 * each followed by '='; after "key=", the values of key that start with the
 * text after the last ',' (an axis's candidates, enum values, true and false,
 * the zoo models, the clip methods), each as the whole line. Sorted (numbers
 * by value, before words). *out is an array of *n malloc'd strings (free with
 * tui_builder_strings_free()), NULL when none. Returns *n.
 */
int tui_builder_complete(const struct tui_builder *b, const char *prefix, char ***out, int *n);
/* Frees an array of n malloc'd strings; (NULL, 0) is a no-op. */
void tui_builder_strings_free(char **v, int n);

/*
 * The sweep text (malloc'd; the caller frees it): job, model, dataset, the
 * axes with a value on, the free lines, one line each ("" when empty).
 */
char *tui_builder_text(const struct tui_builder *b);
/*
 * Writes the sweep to path, through path.tmp and a rename: a comment naming
 * the sweep (the base name of path without .sweep, which becomes b's name),
 * the comment loaded with the sweep, then the text. -1 with *cause (nothing
 * written) when the text does not parse (the parser's message) or the file
 * cannot be written.
 */
int tui_builder_save(struct tui_builder *b, const char *path, char **cause);

/*
 * Parses and expands the sweep and plans it against db without writing
 * (runner_plan with create 0): how many points and runs, which are done, and
 * the estimated time of the others (runner_plan_summary). Estimates are
 * remembered (until the database's finished runs change) and new ones get
 * at most 0.1 s per call: the runs left are pending, and the next call goes
 * on with them, so that a summary on every keypress stays fast. With db
 * NULL (no database yet), only points is counted (estimate_s NaN, the rest
 * 0). -1 with the parser's, expansion's or planner's message on a spec error
 * (*out then zeroed). Writes nothing.
 */
int tui_builder_summary(struct tui_builder *b, struct db *db, struct tui_builder_summary *out,
			char **cause);

#endif
