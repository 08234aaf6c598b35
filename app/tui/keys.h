/*
 * keys: the TUI's key bindings, one static table: which key does what on
 * which screen, the label of the function-key bar, and the help text. Key
 * dispatch and the `?` help are generated from the table, so they cannot
 * drift apart.
 *
 * Keys are curses key codes (KEY_UP, KEY_F(5), ...) or characters; only the
 * constants of the curses header are used, nothing here draws, so the
 * dispatch is tested without a terminal.
 */
#ifndef QB_TUI_KEYS_H
#define QB_TUI_KEYS_H

/* The screens, in the order Tab cycles them; the digit keys 1-5 select one. */
enum tui_screen {
	TUI_SCREEN_BUILDER,
	TUI_SCREEN_RUNS,
	TUI_SCREEN_JOBS,
	TUI_SCREEN_COMPARE,
	TUI_SCREEN_PLOTS,
	TUI_SCREEN_COUNT
};

/* What a key asks for. */
enum tui_action {
	TUI_ACT_NONE,
	/* everywhere */
	TUI_ACT_SCREEN_BUILDER,
	TUI_ACT_SCREEN_RUNS,
	TUI_ACT_SCREEN_JOBS,
	TUI_ACT_SCREEN_COMPARE,
	TUI_ACT_SCREEN_PLOTS,
	TUI_ACT_NEXT_SCREEN,
	TUI_ACT_PREV_SCREEN,
	TUI_ACT_HELP,
	TUI_ACT_COMMAND,
	TUI_ACT_BACK,
	TUI_ACT_QUIT,
	TUI_ACT_REDRAW,
	/* moving */
	TUI_ACT_UP,
	TUI_ACT_DOWN,
	TUI_ACT_LEFT,
	TUI_ACT_RIGHT,
	TUI_ACT_PAGE_UP,
	TUI_ACT_PAGE_DOWN,
	TUI_ACT_HOME,
	TUI_ACT_END,
	/* tables (Runs, Compare) */
	TUI_ACT_SEARCH,
	TUI_ACT_FILTER,
	TUI_ACT_TAG,
	TUI_ACT_SORT,
	TUI_ACT_REVERSE,
	TUI_ACT_GROUP,
	TUI_ACT_PIVOT,
	TUI_ACT_ALL_COLUMNS,
	TUI_ACT_EXPORT,
	TUI_ACT_OPEN,
	/* builder */
	TUI_ACT_TOGGLE,
	TUI_ACT_EDIT,
	TUI_ACT_SAVE,
	TUI_ACT_LAUNCH,
	/* jobs */
	TUI_ACT_CANCEL,
	TUI_ACT_RETRY,
	TUI_ACT_RESUME,
	/* plots */
	TUI_ACT_PLOT_KIND,
	TUI_ACT_PLOT_EXPORT,
	TUI_ACT_COUNT
};

/* Screens a binding applies on (bit mask of 1 << enum tui_screen). */
#define TUI_ON(s) (1u << (s))
#define TUI_ON_ALL ((1u << TUI_SCREEN_COUNT) - 1)

/* One row of the binding table. */
struct tui_binding {
	int key;		/* curses key code or character */
	unsigned screens;	/* TUI_ON(...) bits */
	enum tui_action action;
	const char *bar;	/* label in the function-key bar, or NULL when not shown there */
	const char *help;	/* one line for the help screen */
};

/* The screen's name ("Runs"), for the title and the bar (static). */
const char *tui_screen_name(enum tui_screen s);

/* The binding table: count and i-th row. */
int tui_keys_count(void);
const struct tui_binding *tui_keys_at(int i);

/* What key does on screen s (TUI_ACT_NONE when nothing). */
enum tui_action tui_keys_action(int key, enum tui_screen s);

/* The printable name of a key: "F5", "Tab", "Space", "/", "Up" (static or in buf). */
const char *tui_keys_name(int key, char *buf, int n);

/*
 * The help of screen s: one line per binding that applies there, "  KEY
 * help", the screen's own bindings first, then the ones of every screen.
 * Returns the number of lines and *lines (an array of malloc'd strings; free
 * with tui_keys_help_free()).
 */
int tui_keys_help(enum tui_screen s, char ***lines);
void tui_keys_help_free(char **lines, int n);

#endif
