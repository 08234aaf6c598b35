/*
 * sweep: the sweep language and its expansion into points.
 *
 * A sweep is a list of lines, from a .sweep file or from command-line
 * arguments (one argument = one line). Blank lines and '#' comments (to the
 * end of the line, outside quotes) are ignored. A line is one of
 *     key=value            one value (a key of the configuration vocabulary,
 *                          or parent.KEY for the float parent only)
 *     key=v1,v2,...        an axis: a list of values
 *     key=lo..hi           an axis: the integers lo, lo+1, ..., hi
 *     key=range(a,b,step)  an axis: a, a+step, ... up to b inclusive (numbers;
 *                          step may be negative, never 0)
 *     :zip(k1,k2,...)      these axes (already given, of equal length) advance
 *                          together instead of being crossed
 *     :where EXPR          keep only the points where EXPR holds
 *     :exclude k=v,...     drop the points where every k=v holds (several lines
 *                          allowed)
 * A value may be "double quoted" to hold commas, '#', '..' or spaces.
 * EXPR compares keys with values or with other keys (= == != < <= > >=),
 * combined with and, or, not and parentheses: `w.bits <= a.bits and not
 * scheme=qnn`. A name that is a key of the vocabulary is that key's value in
 * the point (its default when the sweep does not set it); anything else is a
 * literal. Two sides compare as numbers when both are numbers, else as text.
 * Values are validated and made canonical as they are parsed (lr=.1 is 0.1).
 *
 * Expansion: the cross product of the axes in the order they first appear
 * (the first axis varies slowest), zipped axes as one, then :where and
 * :exclude. Every point is a full configuration checked by config_check().
 *
 * Chaining: a point of job=ptq, or of job=train with w.bits, a.bits or g.bits
 * below 32, whose model= is a zoo architecture, starts from a float parent:
 * the same architecture trained with job=train and no quantization. The
 * parent takes every key of the point that applies to a float training job
 * (dataset, seed, epochs, lr, ...; never a quantization key), then the
 * parent.KEY lines. A key that applies to the parent but not to the point's
 * job (epochs in a ptq sweep) goes to the parent only. Points with the same
 * parent configuration share it. The point's own model= stays the
 * architecture: the runner replaces it by run:ID once the parent exists.
 *
 * Nothing here prints; errors come back as -1 with *cause naming the file,
 * the line and the column ("quick.sweep:3:9: unknown key 'w.bit' (did you
 * mean 'w.bits'?)"), or "argument 2, column 9: ..." for command-line lines.
 */
#ifndef QB_SWEEP_H
#define QB_SWEEP_H

struct config;
struct sweep;

/* One point of an expanded sweep. */
struct sweep_point {
	struct config *cfg;	/* the point (owned) */
	struct config *parent;	/* its float parent (owned), or NULL */
	char *label;		/* the axis values, "w.bits=4 scheme=apot" ("" without axes) */
};

/* The points of a sweep, in expansion order; free with sweep_points_done(). */
struct sweep_points {
	struct sweep_point *v;
	int n;
};

/*
 * Parses sweep text. file names it in messages ("quick.sweep"); name is the
 * sweep's name (e.g. the file's base name without .sweep). Returns 0 and
 * *out (free with sweep_free()), or -1 with *cause.
 */
int sweep_parse_text(struct sweep **out, const char *file, const char *name, const char *text,
		     char **cause);
/* Reads and parses a .sweep file; the name is its base name without ".sweep". */
int sweep_parse_file(struct sweep **out, const char *path, char **cause);
/* Parses command-line lines (each argv[i] one line); the name is "cli". */
int sweep_parse_args(struct sweep **out, int argc, char *const *argv, char **cause);
/* sweep_free(NULL) is a no-op. */
void sweep_free(struct sweep *s);

/* The sweep's name (owned by s). */
const char *sweep_name(const struct sweep *s);
/*
 * The sweep as canonical text (owned by s): one line per line of the input
 * that is not blank or a comment, values canonical, so that the same sweep
 * written differently gives the same text. Stored in sweeps.spec.
 */
const char *sweep_spec(const struct sweep *s);
/* Number of axes (keys with several values), and the i-th axis's key. */
int sweep_axis_count(const struct sweep *s);
const char *sweep_axis_key(const struct sweep *s, int i);

/*
 * Expands s into points (see above). Returns 0 and *out, or -1 with *cause
 * naming the point (its label) when a point's configuration is invalid, or
 * when :where or :exclude leave no point at all.
 */
int sweep_expand(const struct sweep *s, struct sweep_points *out, char **cause);
void sweep_points_done(struct sweep_points *p);

#endif
