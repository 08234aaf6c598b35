/*
 * keys: the TUI's key-binding table and what is generated from it (see
 * keys.h).
 *
 * Invariants: on any one screen a key has at most one action (checked by the
 * tests over the whole table); the rows of a screen come in the order its
 * help and its function-key bar list them.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/tui/keys.h"
#include "engine/util.h"

#define ALL TUI_ON_ALL
#define BUILDER TUI_ON(TUI_SCREEN_BUILDER)
#define RUNS TUI_ON(TUI_SCREEN_RUNS)
#define JOBS TUI_ON(TUI_SCREEN_JOBS)
#define COMPARE TUI_ON(TUI_SCREEN_COMPARE)
#define PLOTS TUI_ON(TUI_SCREEN_PLOTS)
#define CTRL(c) ((c)&0x1f)

static const char *const screen_names[TUI_SCREEN_COUNT] = {
	[TUI_SCREEN_BUILDER] = "Builder", [TUI_SCREEN_RUNS] = "Runs",
	[TUI_SCREEN_JOBS] = "Jobs",	  [TUI_SCREEN_COMPARE] = "Compare",
	[TUI_SCREEN_PLOTS] = "Plots",
};

static const struct tui_binding bindings[] = {
	/* the builder */
	{' ', BUILDER, TUI_ACT_TOGGLE, "Toggle", "toggle the value under the cursor"},
	{'\n', BUILDER, TUI_ACT_EDIT, NULL, "edit the line under the cursor, or add a k=v line"},
	{KEY_ENTER, BUILDER, TUI_ACT_EDIT, NULL, "edit the line under the cursor"},
	{'w', BUILDER, TUI_ACT_SAVE, "Save", "save the sweep as a .sweep file"},
	{'L', BUILDER, TUI_ACT_LAUNCH, "Launch", "launch the sweep (its points run as jobs)"},
	{KEY_F(5), BUILDER, TUI_ACT_LAUNCH, NULL, "launch the sweep"},
	/* tables */
	{'/', RUNS | COMPARE, TUI_ACT_SEARCH, "Search", "show only the rows containing a text"},
	{'f', RUNS, TUI_ACT_FILTER, "Filter",
	 "filter with the language of qbench ls: scheme=apot w.bits<=3 test_acc>0.9"},
	{' ', RUNS, TUI_ACT_TAG, "Tag", "tag the row (Compare and Plots use the tagged runs)"},
	{'s', RUNS | COMPARE, TUI_ACT_SORT, "Sort", "sort by the column under the cursor"},
	{'r', RUNS | COMPARE, TUI_ACT_REVERSE, NULL, "reverse the order"},
	{'g', RUNS, TUI_ACT_GROUP, "Group", "group the runs that differ only in the seed: mean ± std (n)"},
	{'p', RUNS, TUI_ACT_PIVOT, "Pivot", "a pivot view: ROWS:COLS:METRIC"},
	{'a', RUNS | COMPARE, TUI_ACT_ALL_COLUMNS, NULL,
	 "show every configuration key, not only those that vary"},
	{'e', RUNS | COMPARE, TUI_ACT_EXPORT, "Export", "export the table (CSV, Markdown, LaTeX, JSON)"},
	{'\n', RUNS, TUI_ACT_OPEN, NULL, "open the run under the cursor in Compare"},
	{KEY_ENTER, RUNS, TUI_ACT_OPEN, NULL, "open the run under the cursor in Compare"},
	/* jobs */
	{'x', JOBS, TUI_ACT_CANCEL, "Cancel", "cancel the job under the cursor"},
	{'R', JOBS, TUI_ACT_RETRY, "Retry", "run a failed or cancelled job again"},
	{'u', JOBS, TUI_ACT_RESUME, "Resume", "resume the sweep: failed, cancelled and orphaned points"},
	/* plots */
	{'k', PLOTS, TUI_ACT_PLOT_KIND, "Kind", "next plot kind (pareto, curve, dist, grid, border, heatmap)"},
	{'e', PLOTS, TUI_ACT_PLOT_EXPORT, "Export", "export the plot to PNG, SVG or PDF"},
	/* moving */
	{KEY_UP, ALL, TUI_ACT_UP, NULL, "up"},
	{KEY_DOWN, ALL, TUI_ACT_DOWN, NULL, "down"},
	{KEY_LEFT, ALL, TUI_ACT_LEFT, NULL, "left (columns, values)"},
	{KEY_RIGHT, ALL, TUI_ACT_RIGHT, NULL, "right (columns, values)"},
	{KEY_PPAGE, ALL, TUI_ACT_PAGE_UP, NULL, "a page up"},
	{KEY_NPAGE, ALL, TUI_ACT_PAGE_DOWN, NULL, "a page down"},
	{KEY_HOME, ALL, TUI_ACT_HOME, NULL, "first row"},
	{KEY_END, ALL, TUI_ACT_END, NULL, "last row"},
	/* everywhere */
	{'1', ALL, TUI_ACT_SCREEN_BUILDER, NULL, "the sweep builder"},
	{'2', ALL, TUI_ACT_SCREEN_RUNS, NULL, "the runs"},
	{'3', ALL, TUI_ACT_SCREEN_JOBS, NULL, "the jobs: queue and workers"},
	{'4', ALL, TUI_ACT_SCREEN_COMPARE, NULL, "compare the tagged runs"},
	{'5', ALL, TUI_ACT_SCREEN_PLOTS, NULL, "plots of the selected or tagged runs"},
	{'\t', ALL, TUI_ACT_NEXT_SCREEN, "Next", "next screen"},
	{KEY_BTAB, ALL, TUI_ACT_PREV_SCREEN, NULL, "previous screen"},
	{'?', ALL, TUI_ACT_HELP, "Help", "this help"},
	{KEY_F(1), ALL, TUI_ACT_HELP, NULL, "this help"},
	{':', ALL, TUI_ACT_COMMAND, NULL, "a qbench command line (ls, export, plot, sweep ...)"},
	{CTRL('l'), ALL, TUI_ACT_REDRAW, NULL, "redraw the screen"},
	{'q', ALL, TUI_ACT_BACK, "Back", "back (close a dialog, or leave the screen)"},
	{'Q', ALL, TUI_ACT_QUIT, "Quit", "quit (asks when jobs are running)"},
	{KEY_F(10), ALL, TUI_ACT_QUIT, NULL, "quit"},
};
#define NBINDINGS ((int)(sizeof bindings / sizeof bindings[0]))

const char *
tui_screen_name(enum tui_screen s)
{
	return s >= 0 && s < TUI_SCREEN_COUNT ? screen_names[s] : "?";
}

int
tui_keys_count(void)
{
	return NBINDINGS;
}

const struct tui_binding *
tui_keys_at(int i)
{
	return i >= 0 && i < NBINDINGS ? &bindings[i] : NULL;
}

enum tui_action
tui_keys_action(int key, enum tui_screen s)
{
	for (int i = 0; i < NBINDINGS; i++)
		if (bindings[i].key == key && (bindings[i].screens & TUI_ON(s)))
			return bindings[i].action;
	return TUI_ACT_NONE;
}

const char *
tui_keys_name(int key, char *buf, int n)
{
	static const struct {
		int key;
		const char *name;
	} names[] = {
		{KEY_UP, "Up"},	      {KEY_DOWN, "Down"},     {KEY_LEFT, "Left"},
		{KEY_RIGHT, "Right"}, {KEY_PPAGE, "PgUp"},    {KEY_NPAGE, "PgDn"},
		{KEY_HOME, "Home"},   {KEY_END, "End"},	      {KEY_BTAB, "S-Tab"},
		{KEY_ENTER, "Enter"}, {'\n', "Enter"},	      {'\t', "Tab"},
		{' ', "Space"},	      {CTRL('l'), "C-l"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].key == key)
			return names[i].name;
	if (key >= KEY_F(1) && key <= KEY_F(12))
		snprintf(buf, (size_t)n, "F%d", key - KEY_F0);
	else if (key > ' ' && key < 127)
		snprintf(buf, (size_t)n, "%c", key);
	else
		snprintf(buf, (size_t)n, "#%d", key);
	return buf;
}

int
tui_keys_help(enum tui_screen s, char ***lines)
{
	char **out = xcalloc((size_t)NBINDINGS + 2, sizeof *out);
	int n = 0;
	/* the screen's own bindings, then those of every screen */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < NBINDINGS; i++) {
			const struct tui_binding *b = &bindings[i];
			int own = b->screens != TUI_ON_ALL;
			if (!(b->screens & TUI_ON(s)) || own != (pass == 0))
				continue;
			/* a second key for the same action shares the first one's line */
			int dup = 0;
			for (int k = 0; k < i && !dup; k++)
				dup = bindings[k].action == b->action && (bindings[k].screens & TUI_ON(s));
			if (dup)
				continue;
			char kb[16];
			const char *name = tui_keys_name(b->key, kb, sizeof kb);
			char other[40] = "";
			for (int k = i + 1; k < NBINDINGS; k++)
				if (bindings[k].action == b->action && (bindings[k].screens & TUI_ON(s))) {
					char kb2[16];
					snprintf(other, sizeof other, ", %s",
						 tui_keys_name(bindings[k].key, kb2, sizeof kb2));
					break;
				}
			char keys[64];
			snprintf(keys, sizeof keys, "%s%s", name, other);
			out[n++] = xasprintf("  %-12s %s", keys, b->help);
		}
	*lines = out;
	return n;
}

void
tui_keys_help_free(char **lines, int n)
{
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}
