/*
 * query: the filter language of ls, export, plot and the TUI, evaluated in
 * SQL over the runs of a database.
 *
 * A filter is a list of terms that must all hold; each term is
 *     KEY OP VALUE        OP one of = != < <= > >=
 *     KEY=V1,V2,...       any of these values
 * KEY is a run column (id, status, parent, sweep: a sweep's name or id), a
 * configuration key (w.bits, scheme, ...), or a result name (test_acc, bitops,
 * ...). Configuration values are made canonical before comparing (lr=.1
 * matches lr=0.1); numbers compare as numbers, other values as text; < and >
 * on a non-numeric key are refused. A run without the key (a result it did
 * not record, a key that does not apply to its job) never matches, except
 * for != .
 *
 * Nothing here prints; errors are -1 with *cause naming the term and, for an
 * unknown key, the nearest known one ("unknown key 'test_ac' in filter
 * 'test_ac>0.9' (did you mean 'test_acc'?)").
 */
#ifndef QB_QUERY_H
#define QB_QUERY_H

#include <stdint.h>

struct db;
struct query;

/*
 * Parses argc terms (argv[i] each one term). Result names are checked against
 * db's results table when db is not NULL (a name no run recorded is unknown).
 * Returns 0 and *out (free with query_free()), or -1 with *cause.
 */
int query_parse(struct query **out, struct db *db, int argc, char *const *argv, char **cause);
/* query_free(NULL) is a no-op. */
void query_free(struct query *q);

/*
 * The ids of the runs matching q (all runs when q is NULL), ascending, in
 * *ids (malloc'd; caller frees) and their count in *n.
 */
int query_run_ids(struct db *db, const struct query *q, int64_t **ids, int *n, char **cause);

/*
 * Nonzero when arg has the shape of a term: a non-empty key followed by one
 * of the operators (the key and the value are not checked). Commands use it
 * to tell a filter from a mistyped argument before opening the database.
 */
int query_is_term(const char *arg);

/*
 * Further forms accepted by query_parse():
 *     KEY=LO..HI          a numeric key (id, parent, a number-valued
 *                         configuration key, a result) in [LO, HI]; also as
 *                         one element of a list (id=1,4..6)
 *     KEY!=V1,V2,...      none of these values (or the run lacks the key)
 * sweep=NAME|ID matches the runs of the sweep (every point it lists, also
 * those it reused from earlier sweeps); a name means the latest sweep of that
 * name (a .sweep file edited and run again is a new sweep); parent=ID the runs started from run
 * ID's model. A name that is both a configuration key and a result (epochs,
 * threads) means the configuration key. Without a database, any other key
 * is taken for a result name.
 */

#endif
