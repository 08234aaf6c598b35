/*
 * test_tui_keys: the TUI's key-binding table: no key has two actions on one
 * screen, every screen is reachable, the help is generated from the table.
 */
#include <curses.h>
#include <string.h>

#include "app/tui/keys.h"
#include "tests/unit/tap.h"

static void
test_table(void)
{
	int clashes = 0;
	for (int i = 0; i < tui_keys_count(); i++)
		for (int k = i + 1; k < tui_keys_count(); k++) {
			const struct tui_binding *a = tui_keys_at(i), *b = tui_keys_at(k);
			if (a->key == b->key && (a->screens & b->screens)) {
				tap_diag("key %d bound twice (rows %d and %d)", a->key, i, k);
				clashes++;
			}
		}
	tap_eq_int(clashes, 0, "no key has two actions on one screen");
	for (int i = 0; i < tui_keys_count(); i++)
		if (!tui_keys_at(i)->help || !*tui_keys_at(i)->help || !tui_keys_at(i)->screens) {
			tap_ok(0, "row %d has a help text and a screen", i);
			return;
		}
	tap_ok(1, "every row has a help text and a screen");
	tap_ok(tui_keys_at(tui_keys_count()) == NULL, "past the end is NULL");
}

static void
test_dispatch(void)
{
	const enum tui_action screens[] = {TUI_ACT_SCREEN_BUILDER, TUI_ACT_SCREEN_RUNS,
					   TUI_ACT_SCREEN_JOBS, TUI_ACT_SCREEN_COMPARE,
					   TUI_ACT_SCREEN_PLOTS};
	for (int s = 0; s < TUI_SCREEN_COUNT; s++) {
		for (int d = 0; d < TUI_SCREEN_COUNT; d++)
			if (tui_keys_action('1' + d, (enum tui_screen)s) != screens[d]) {
				tap_ok(0, "digit %d selects screen %d from %s", d + 1, d,
				       tui_screen_name((enum tui_screen)s));
				return;
			}
		if (tui_keys_action('\t', (enum tui_screen)s) != TUI_ACT_NEXT_SCREEN ||
		    tui_keys_action('?', (enum tui_screen)s) != TUI_ACT_HELP ||
		    tui_keys_action('Q', (enum tui_screen)s) != TUI_ACT_QUIT ||
		    tui_keys_action('q', (enum tui_screen)s) != TUI_ACT_BACK) {
			tap_ok(0, "Tab, ?, q and Q everywhere (%s)", tui_screen_name((enum tui_screen)s));
			return;
		}
	}
	tap_ok(1, "digits 1-5 select the screens; Tab, ?, q and Q work everywhere");
	tap_eq_int(tui_keys_action(' ', TUI_SCREEN_RUNS), TUI_ACT_TAG, "Space tags on Runs");
	tap_eq_int(tui_keys_action(' ', TUI_SCREEN_BUILDER), TUI_ACT_TOGGLE,
		   "Space toggles in the builder");
	tap_eq_int(tui_keys_action('x', TUI_SCREEN_JOBS), TUI_ACT_CANCEL, "x cancels a job");
	tap_eq_int(tui_keys_action('x', TUI_SCREEN_RUNS), TUI_ACT_NONE, "x does nothing on Runs");
	tap_eq_int(tui_keys_action('f', TUI_SCREEN_RUNS), TUI_ACT_FILTER, "f filters Runs");
	tap_eq_int(tui_keys_action('e', TUI_SCREEN_PLOTS), TUI_ACT_PLOT_EXPORT,
		   "e exports the plot on Plots");
	tap_eq_int(tui_keys_action('e', TUI_SCREEN_RUNS), TUI_ACT_EXPORT, "e exports the table on Runs");
	tap_eq_int(tui_keys_action(KEY_F(5), TUI_SCREEN_BUILDER), TUI_ACT_LAUNCH,
		   "F5 launches from the builder");
	tap_eq_int(tui_keys_action('z', TUI_SCREEN_RUNS), TUI_ACT_NONE, "an unbound key does nothing");
}

static void
test_help(void)
{
	char **lines = NULL;
	int n = tui_keys_help(TUI_SCREEN_JOBS, &lines);
	int cancel = -1, quit = -1, tag = -1, f10 = 0;
	for (int i = 0; i < n; i++) {
		if (strstr(lines[i], "cancel the job"))
			cancel = i;
		if (strstr(lines[i], "quit (asks"))
			quit = i;
		if (strstr(lines[i], "tag the row"))
			tag = i;
		f10 += strstr(lines[i], "F10") != NULL;
	}
	tap_ok(cancel >= 0 && quit > cancel, "Jobs help: its own keys first, then the common ones");
	tap_ok(tag < 0, "Jobs help leaves out the keys of other screens");
	tap_ok(quit >= 0 && strstr(lines[quit], "Q, F10") != NULL && f10 == 1,
	       "a second key of an action shares its line: '%s'", quit >= 0 ? lines[quit] : "?");
	tui_keys_help_free(lines, n);
	char buf[16];
	tap_eq_str(tui_keys_name(KEY_F(5), buf, sizeof buf), "F5", "F-key names");
	tap_eq_str(tui_keys_name(' ', buf, sizeof buf), "Space", "Space");
	tap_eq_str(tui_keys_name('/', buf, sizeof buf), "/", "a printable key is itself");
	tap_eq_str(tui_screen_name(TUI_SCREEN_COMPARE), "Compare", "screen names");
}

int
main(void)
{
	test_table();
	test_dispatch();
	test_help();
	return tap_done();
}
