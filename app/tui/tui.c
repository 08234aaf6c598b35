/*
 * tui: the workbench's frame: terminal set-up and restore, the main loop,
 * the title line, the message line, the function-key bar, help, prompts,
 * and running qbench commands for the screens (see tui.h).
 *
 * Invariants:
 * - stdscr is only written between tui_enter() and tui_leave(); every exit
 *   path (return, signal, crash signal) goes through tui_leave() first;
 * - the loop waits for keys with a timeout (TUI_TICK_MS), so the current
 *   screen's tick (database polling) runs even when no key comes;
 * - below TUI_MIN_COLS x TUI_MIN_ROWS only the too-small notice is drawn and
 *   only quitting and resizing do anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include "app/tui/tui.h"
#include "db/db.h"
#include "db/runs.h"
#include "engine/util.h"

#define TUI_MIN_COLS 80
#define TUI_MIN_ROWS 24
#define TUI_TICK_MS 250

static const struct tui_screen_ops *const screens[TUI_SCREEN_COUNT] = {
	&tui_screen_builder, &tui_screen_runs, &tui_screen_jobs, &tui_screen_compare,
	&tui_screen_plots,
};

struct tui {
	const struct tui_options *o;
	struct db *db;
	enum tui_screen current;
	void *state[TUI_SCREEN_COUNT];
	int colors, ascii;
	char message[512];
	int message_bad;
	int help;		/* the help overlay is shown */
	int help_top;		/* its first line */
	struct tui_pane output;	/* the output of a ':' command line, shown over the screen */
	int show_output;
	char output_title[256];
};

/* A signal asked to quit (SIGINT, SIGTERM, SIGHUP); the loop ends cleanly. */
static volatile sig_atomic_t tui_stop;
/* curses is active: a crash signal must restore the terminal first. */
static volatile sig_atomic_t tui_active;

static void
tui_on_signal(int sig)
{
	(void)sig;
	tui_stop = 1;
}

static void
tui_on_crash(int sig)
{
	if (tui_active)
		endwin();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
tui_leave(void)
{
	if (tui_active) {
		endwin();
		tui_active = 0;
	}
}

static int
tui_enter(struct tui *t, char **cause)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return err_set(cause, "the workbench needs a terminal (see 'qbench help')");
	if (!newterm(NULL, stdout, stdin))
		return err_set(cause, "cannot use the terminal (TERM=%s)",
			       getenv("TERM") ? getenv("TERM") : "unset");
	tui_active = 1;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	timeout(TUI_TICK_MS);
	t->colors = !t->o->mono && has_colors();
	if (t->colors) {
		start_color();
		use_default_colors();
		init_pair(TUI_COLOR_TITLE, COLOR_BLACK, COLOR_CYAN);
		init_pair(TUI_COLOR_BAR_KEY, COLOR_WHITE, -1);
		init_pair(TUI_COLOR_BAR_LABEL, COLOR_BLACK, COLOR_CYAN);
		init_pair(TUI_COLOR_CURSOR, COLOR_BLACK, COLOR_GREEN);
		init_pair(TUI_COLOR_OK, COLOR_GREEN, -1);
		init_pair(TUI_COLOR_BAD, COLOR_RED, -1);
		init_pair(TUI_COLOR_BUSY, COLOR_YELLOW, -1);
		init_pair(TUI_COLOR_DIM, COLOR_BLUE, -1);
		init_pair(TUI_COLOR_HEADER, COLOR_CYAN, -1);
	}
	return 0;
}

/* ---------------------------------------------------------------- for screens */

struct db *
tui_db(struct tui *t)
{
	return t->db;
}

const struct tui_options *
tui_options(struct tui *t)
{
	return t->o;
}

void **
tui_state(struct tui *t, enum tui_screen s)
{
	return &t->state[s];
}

int
tui_ascii(struct tui *t)
{
	return t->ascii;
}

void
tui_color(struct tui *t, enum tui_color c, int on)
{
	if (!t->colors)
		return;
	if (on)
		attron(COLOR_PAIR(c));
	else
		attroff(COLOR_PAIR(c));
}

void
tui_message(struct tui *t, int bad, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->message, sizeof t->message, fmt, ap);
	va_end(ap);
	t->message_bad = bad;
}

void
tui_show(struct tui *t, enum tui_screen s)
{
	t->current = s;
	t->help = 0;
	t->show_output = 0;
	if (screens[s]->enter)
		screens[s]->enter(t);
}

const char *
tui_status_glyph(struct tui *t, const char *status)
{
	static const struct {
		const char *status, *utf8, *ascii;
	} glyphs[] = {
		{"done", "\u2713", "D"},    {"failed", "\u2717", "F"},	 {"running", "\u25b6", "R"},
		{"queued", "\u00b7", "Q"}, {"diverged", "~", "V"},	 {"cancelled", "-", "C"},
	};
	for (size_t i = 0; i < sizeof glyphs / sizeof glyphs[0]; i++)
		if (status && strcmp(status, glyphs[i].status) == 0)
			return t->ascii ? glyphs[i].ascii : glyphs[i].utf8;
	return "?";
}

void
tui_text(int y, int x, int w, const char *s, int pad)
{
	if (w <= 0)
		return;
	mbstate_t st;
	memset(&st, 0, sizeof st);
	int col = 0;
	move(y, x);
	while (s && *s && col < w) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&st, 0, sizeof st);
			addch('?');
			s++;
			col++;
			continue;
		}
		int cw = wcwidth(wc);
		if (cw < 0)
			cw = 1;
		if (col + cw > w)
			break;
		addnstr(s, (int)n);
		s += n;
		col += cw;
	}
	while (pad && col++ < w)
		addch(' ');
}

/* ---------------------------------------------------------------- child commands */

/* argv of `EXE --db DB ARGS...` (malloc'd copies; free with argv_free()). */
static char **
command_argv(struct tui *t, const char *const *args)
{
	int n = 0;
	while (args[n])
		n++;
	char **v = xcalloc((size_t)n + 4, sizeof *v);
	v[0] = xstrdup(t->o->exe);
	v[1] = xstrdup("--db");
	v[2] = xstrdup(t->o->db_path);
	for (int i = 0; i < n; i++)
		v[3 + i] = xstrdup(args[i]);
	return v;
}

static void
argv_free(char **v)
{
	for (int i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* Reads fd to the end into a malloc'd string. */
static char *
read_all(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n > 0)
			len += (size_t)n;
		else if (n == 0 || errno != EINTR)
			break;
	}
	buf[len] = '\0';
	return buf;
}

int
tui_command(struct tui *t, const char *const *args, int cols, int lines, char **out, char **err)
{
	char tmpl[] = "/tmp/qbench-tui-XXXXXX";
	int efd = mkstemp(tmpl);
	int pfd[2];
	*out = *err = NULL;
	if (efd < 0 || pipe(pfd) < 0) {
		if (efd >= 0)
			close(efd);
		*out = xstrdup("");
		*err = xasprintf("cannot run qbench: %s", strerror(errno));
		return -1;
	}
	unlink(tmpl);
	char **argv = command_argv(t, args);
	pid_t pid = fork();
	if (pid == 0) {
		char c[16], l[16];
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		dup2(pfd[1], 1);
		dup2(efd, 2);
		close(pfd[0]);
		close(pfd[1]);
		if (cols > 0) {
			snprintf(c, sizeof c, "%d", cols);
			snprintf(l, sizeof l, "%d", lines);
			setenv("COLUMNS", c, 1);
			setenv("LINES", l, 1);
		}
		execv(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	argv_free(argv);
	close(pfd[1]);
	int status = -1;
	if (pid > 0) {
		*out = read_all(pfd[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	} else {
		*out = xstrdup("");
	}
	close(pfd[0]);
	lseek(efd, 0, SEEK_SET);
	*err = read_all(efd);
	close(efd);
	if (pid < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
tui_spawn(struct tui *t, const char *const *args, const char *log, char **cause)
{
	char **argv = command_argv(t, args);
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int null = open("/dev/null", O_RDONLY);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0666);
		if (null >= 0)
			dup2(null, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* the sweep's runner reaps its workers; nobody waits for it */
		if (fork() != 0)
			_exit(0);
		execv(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	argv_free(argv);
	if (pid < 0)
		return err_set(cause, "cannot start qbench: %s", strerror(errno));
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return (int)pid;
}

/* ---------------------------------------------------------------- frame */

static void
draw_title(struct tui *t, int w)
{
	move(0, 0);
	tui_color(t, TUI_COLOR_TITLE, 1);
	attron(A_BOLD);
	tui_text(0, 0, w, " qbench ", 0);
	attroff(A_BOLD);
	int x = 8;
	for (int s = 0; s < TUI_SCREEN_COUNT && x < w; s++) {
		char label[32];
		snprintf(label, sizeof label, s == (int)t->current ? "[%d %s]" : " %d %s ", s + 1,
			 tui_screen_name((enum tui_screen)s));
		if (s == (int)t->current)
			attron(A_REVERSE);
		tui_text(0, x, w - x, label, 0);
		if (s == (int)t->current)
			attroff(A_REVERSE);
		x += (int)strlen(label) + 1;
	}
	if (x < w)
		tui_text(0, x, w - x, "", 1);
	const char *db = t->o->db_path;
	int len = (int)strlen(db);
	if (len + 2 < w - x)
		tui_text(0, w - len - 1, len, db, 0);
	tui_color(t, TUI_COLOR_TITLE, 0);
}

/* The function-key bar: the current screen's bindings that have a label. */
static void
draw_bar(struct tui *t, int y, int w)
{
	int x = 0;
	move(y, 0);
	for (int i = 0; i < tui_keys_count() && x < w; i++) {
		const struct tui_binding *b = tui_keys_at(i);
		if (!b->bar || !(b->screens & TUI_ON(t->current)))
			continue;
		char kb[16];
		const char *key = tui_keys_name(b->key, kb, sizeof kb);
		tui_color(t, TUI_COLOR_BAR_KEY, 1);
		attron(A_BOLD);
		tui_text(y, x, w - x, key, 0);
		attroff(A_BOLD);
		tui_color(t, TUI_COLOR_BAR_KEY, 0);
		x += (int)strlen(key) + 1;
		tui_color(t, TUI_COLOR_BAR_LABEL, 1);
		if (!t->colors)
			attron(A_REVERSE);
		tui_text(y, x, w - x, b->bar, 0);
		if (!t->colors)
			attroff(A_REVERSE);
		tui_color(t, TUI_COLOR_BAR_LABEL, 0);
		x += (int)strlen(b->bar) + 2;
	}
	if (x < w)
		tui_text(y, x, w - x, "", 1);
}

static void
draw_message(struct tui *t, int y, int w)
{
	if (t->message_bad) {
		tui_color(t, TUI_COLOR_BAD, 1);
		attron(A_BOLD);
	}
	char buf[600];
	snprintf(buf, sizeof buf, "%s%s", t->message_bad ? "! " : "", t->message);
	tui_text(y, 0, w, buf, 1);
	if (t->message_bad) {
		attroff(A_BOLD);
		tui_color(t, TUI_COLOR_BAD, 0);
	}
}

static void
draw_help(struct tui *t, int top, int h, int w)
{
	char **lines;
	int n = tui_keys_help(t->current, &lines);
	char title[64];
	snprintf(title, sizeof title, "Keys on %s (q closes this help)", tui_screen_name(t->current));
	attron(A_BOLD);
	tui_text(top, 0, w, title, 1);
	attroff(A_BOLD);
	if (t->help_top > n - (h - 1))
		t->help_top = n - (h - 1) > 0 ? n - (h - 1) : 0;
	for (int r = 1; r < h; r++) {
		int i = t->help_top + r - 1;
		tui_text(top + r, 0, w, i < n ? lines[i] : "", 1);
	}
	tui_keys_help_free(lines, n);
}

static void
draw_too_small(int rows, int cols)
{
	erase();
	char buf[128];
	snprintf(buf, sizeof buf, "terminal too small: %dx%d, qbench needs at least %dx%d", cols,
		 rows, TUI_MIN_COLS, TUI_MIN_ROWS);
	int len = (int)strlen(buf);
	int y = rows / 2, x = cols > len ? (cols - len) / 2 : 0;
	tui_text(y, x, cols - x, buf, 0);
	if (y + 1 < rows)
		tui_text(y + 1, 0, cols, "(enlarge the window, or Q to quit)", 0);
	refresh();
}

static int
too_small(void)
{
	return LINES < TUI_MIN_ROWS || COLS < TUI_MIN_COLS;
}

static void
draw(struct tui *t)
{
	if (too_small()) {
		draw_too_small(LINES, COLS);
		return;
	}
	erase();
	draw_title(t, COLS);
	int top = 1, h = LINES - 3;
	if (t->help) {
		draw_help(t, top, h, COLS);
	} else if (t->show_output) {
		attron(A_BOLD);
		tui_text(top, 0, COLS, t->output_title, 1);
		attroff(A_BOLD);
		tui_pane_draw(t, &t->output, top + 1, h - 1, COLS, NULL);
	} else {
		screens[t->current]->draw(t, top, h, COLS);
	}
	draw_message(t, LINES - 2, COLS);
	draw_bar(t, LINES - 1, COLS);
	refresh();
}

/* ---------------------------------------------------------------- prompts */

int
tui_ask(struct tui *t, const char *question, const char *answers)
{
	tui_message(t, 0, "%s", question);
	draw(t);
	for (;;) {
		int c = getch();
		if (c == ERR) {
			if (tui_stop)
				return 0;
			continue;
		}
		if (c == 27)
			c = 'n';
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (strchr(answers, c)) {
			t->message[0] = '\0';
			return c;
		}
	}
}

char *
tui_prompt(struct tui *t, const char *prompt, const char *initial,
	   int (*complete)(void *ctx, const char *text, char ***out, int *n), void *ctx)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", initial ? initial : "");
	size_t len = strlen(buf);
	curs_set(1);
	for (;;) {
		char line[1200];
		snprintf(line, sizeof line, "%s%s", prompt, buf);
		t->message_bad = 0;
		snprintf(t->message, sizeof t->message, "%.500s", line);
		draw(t);
		move(LINES - 2, (int)strlen(line) < COLS ? (int)strlen(line) : COLS - 1);
		int c = getch();
		if (c == ERR) {
			if (tui_stop)
				break;
			continue;
		}
		if (c == 27) /* Escape */
			break;
		if (c == '\n' || c == '\r' || c == KEY_ENTER) {
			curs_set(0);
			t->message[0] = '\0';
			return xstrdup(buf);
		}
		if ((c == KEY_BACKSPACE || c == 127 || c == 8) && len > 0) {
			/* drop one UTF-8 character */
			do
				len--;
			while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80);
			buf[len] = '\0';
		} else if (c == '\t' && complete) {
			char **opts = NULL;
			int n = 0;
			if (complete(ctx, buf, &opts, &n) == 0 && n > 0) {
				/* the longest common prefix of the completions */
				size_t common = strlen(opts[0]);
				for (int i = 1; i < n; i++) {
					size_t k = 0;
					while (k < common && opts[i][k] == opts[0][k])
						k++;
					common = k;
				}
				if (common > len && common < sizeof buf) {
					memcpy(buf, opts[0], common);
					buf[len = common] = '\0';
				}
			}
			for (int i = 0; i < n; i++)
				free(opts[i]);
			free(opts);
		} else if (c >= ' ' && c < 256 && c != 127 && len + 1 < sizeof buf) {
			buf[len++] = (char)c;
			buf[len] = '\0';
		}
	}
	curs_set(0);
	t->message[0] = '\0';
	return NULL;
}

int
tui_export_dialog(struct tui *t, const char *what, const char *base, const char **format,
		  char **path)
{
	static const char *const formats[] = {"csv", "md", "latex", "json"};
	static const char *const exts[] = {"csv", "md", "tex", "json"};
	char q[160];
	snprintf(q, sizeof q, "export %s as c(sv), m(arkdown), l(atex) or j(son)? (Esc cancels)",
		 what);
	int f = tui_ask(t, q, "cmljn");
	int i = f == 'c' ? 0 : f == 'm' ? 1 : f == 'l' ? 2 : f == 'j' ? 3 : -1;
	*path = NULL;
	if (i < 0)
		return -1;
	char def[256];
	snprintf(def, sizeof def, "%s.%s", base, exts[i]);
	*path = tui_prompt(t, "export to file: ", def, NULL, NULL);
	if (!*path || !**path) {
		free(*path);
		*path = NULL;
		return -1;
	}
	*format = formats[i];
	return 0;
}

/* ---------------------------------------------------------------- the command line */

/* Splits a command line into words (double quotes group; no other syntax). */
static int
split_words(char *line, const char **words, int max)
{
	int n = 0;
	char *p = line;
	while (*p && n < max - 1) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		char *w = p, *o = p;
		int quoted = 0;
		while (*p && (quoted || *p != ' ')) {
			if (*p == '"')
				quoted = !quoted;
			else
				*o++ = *p;
			p++;
		}
		if (*p)
			p++;
		*o = '\0';
		words[n++] = w;
	}
	words[n] = NULL;
	return n;
}

/*
 * ':' runs a qbench command line and shows what it printed over the screen
 * (q closes it). A sweep is started detached instead, so that it runs in the
 * background like one launched from the builder.
 */
static void
command_line(struct tui *t)
{
	char *line = tui_prompt(t, ":qbench ", "", NULL, NULL);
	const char *words[64];
	int n = line ? split_words(line, words, 64) : 0;
	if (n == 0) {
		free(line);
		return;
	}
	if (!strcmp(words[0], "sweep")) {
		char *cause = NULL;
		const char *db = t->o->db_path, *slash = strrchr(db, '/');
		char *log = slash ? xasprintf("%.*s/qbench-tui.log", (int)(slash - db), db)
				  : xstrdup("qbench-tui.log");
		if (tui_spawn(t, words, log, &cause) < 0)
			tui_message(t, 1, "%s", cause);
		else
			tui_message(t, 0, "sweep started in the background (output in %s); 3 shows the jobs",
				    log);
		free(log);
		free(cause);
		free(line);
		return;
	}
	char *out = NULL, *err = NULL;
	int rc = tui_command(t, words, COLS, LINES - 4, &out, &err);
	char *text = xasprintf("%s%s", out, err);
	tui_pane_set(&t->output, text);
	t->output.top = t->output.left = 0;
	snprintf(t->output_title, sizeof t->output_title, "qbench %.200s  (exit %d; q closes)",
		 words[0], rc);
	t->show_output = 1;
	free(text);
	free(out);
	free(err);
	free(line);
}

/* ---------------------------------------------------------------- the loop */

/* Nonzero when runs of the database are running (asked before quitting). */
static int
jobs_running(struct tui *t)
{
	char *cause = NULL;
	struct run_filter f = {"status", "running"};
	struct run_table *rt = NULL;
	int n = 0;
	if (runs_list(t->db, &f, 1, NULL, 0, NULL, 0, &rt, &cause) == 0)
		n = rt->nrows;
	run_table_free(rt);
	free(cause);
	return n;
}

/* Handles an action of the frame; 0 when the screen should have it. */
static int
frame_action(struct tui *t, enum tui_action a, int *quit)
{
	switch (a) {
	case TUI_ACT_SCREEN_BUILDER:
	case TUI_ACT_SCREEN_RUNS:
	case TUI_ACT_SCREEN_JOBS:
	case TUI_ACT_SCREEN_COMPARE:
	case TUI_ACT_SCREEN_PLOTS:
		tui_show(t, (enum tui_screen)(a - TUI_ACT_SCREEN_BUILDER));
		return 1;
	case TUI_ACT_NEXT_SCREEN:
		tui_show(t, (enum tui_screen)((t->current + 1) % TUI_SCREEN_COUNT));
		return 1;
	case TUI_ACT_PREV_SCREEN:
		tui_show(t, (enum tui_screen)((t->current + TUI_SCREEN_COUNT - 1) % TUI_SCREEN_COUNT));
		return 1;
	case TUI_ACT_HELP:
		t->help = !t->help;
		t->help_top = 0;
		return 1;
	case TUI_ACT_REDRAW:
		clearok(stdscr, TRUE);
		return 1;
	case TUI_ACT_COMMAND:
		t->help = 0;
		command_line(t);
		return 1;
	case TUI_ACT_QUIT: {
		int n = jobs_running(t);
		if (n == 0) {
			*quit = 1;
			return 1;
		}
		char q[160];
		snprintf(q, sizeof q,
			 "%d job%s running: quit and leave %s running (y), or stay (n)?", n,
			 n == 1 ? " is" : "s are", n == 1 ? "it" : "them");
		*quit = tui_ask(t, q, "yn") == 'y';
		return 1;
	}
	default:
		break;
	}
	if (t->show_output && !t->help) {
		if (a == TUI_ACT_BACK)
			t->show_output = 0;
		else
			tui_pane_scroll(&t->output, a, LINES - 4, COLS);
		return 1;
	}
	if (t->help) {
		if (a == TUI_ACT_BACK)
			t->help = 0;
		else if (a == TUI_ACT_DOWN || a == TUI_ACT_PAGE_DOWN)
			t->help_top += a == TUI_ACT_DOWN ? 1 : LINES - 5;
		else if ((a == TUI_ACT_UP || a == TUI_ACT_PAGE_UP) && t->help_top > 0)
			t->help_top -= a == TUI_ACT_UP ? 1 : LINES - 5;
		if (t->help_top < 0)
			t->help_top = 0;
		return 1;
	}
	return 0;
}

/* Installs the handlers that make signals end the loop or restore the terminal. */
static void
tui_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = tui_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = tui_on_crash;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
tui_run(const struct tui_options *o, char **cause)
{
	struct tui t;
	memset(&t, 0, sizeof t);
	t.o = o;
	setlocale(LC_ALL, "");
	const char *codeset = nl_langinfo(CODESET);
	t.ascii = o->ascii || !codeset || strcmp(codeset, "UTF-8") != 0;
	if (db_open(&t.db, o->db_path, DB_OPEN_CREATE, cause) < 0)
		return -1;
	tui_stop = 0;
	tui_signals();
	if (tui_enter(&t, cause) < 0) {
		db_close(t.db);
		return -1;
	}
	tui_show(&t, TUI_SCREEN_BUILDER);
	int quit = 0;
	draw(&t);
	while (!quit && !tui_stop) {
		int c = getch();
		int flags = 0;
		if (c == ERR) {
			if (screens[t.current]->tick && !too_small() && !t.help)
				flags = screens[t.current]->tick(&t);
			if (flags & TUI_REDRAW)
				draw(&t);
			continue;
		}
		if (c == KEY_RESIZE) {
			draw(&t);
			continue;
		}
		if (too_small()) {
			quit = c == 'Q' || c == KEY_F(10);
			draw(&t);
			continue;
		}
		enum tui_action a = tui_keys_action(c, t.current);
		if (!frame_action(&t, a, &quit)) {
			t.message_bad = 0;
			t.message[0] = '\0';
			flags = screens[t.current]->handle(&t, a, c);
			if (flags & TUI_QUIT)
				quit = 1;
			else if (!(flags & TUI_HANDLED) && a == TUI_ACT_BACK)
				tui_show(&t, TUI_SCREEN_RUNS);
		}
		draw(&t);
	}
	tui_leave();
	tui_pane_clear(&t.output);
	for (int s = 0; s < TUI_SCREEN_COUNT; s++)
		if (screens[s]->done)
			screens[s]->done(&t);
	db_close(t.db);
	return 0;
}

int
tui_bench_draw(const struct tui_options *o, enum tui_screen s, int rows, int cols, int repeat,
	       double *seconds, char **cause)
{
	struct tui t;
	memset(&t, 0, sizeof t);
	t.o = o;
	t.ascii = o->ascii;
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	SCREEN *scr = NULL;
	int ret = -1;
	if (!out || !in || db_open(&t.db, o->db_path, 0, cause) < 0)
		goto out;
	if (!(scr = newterm("xterm-256color", out, in))) {
		err_set(cause, "no terminal description for xterm-256color");
		goto out;
	}
	set_term(scr);
	resize_term(rows, cols);
	tui_active = 1;
	t.colors = !o->mono && has_colors();
	if (t.colors)
		start_color();
	tui_show(&t, s);
	draw(&t);
	double t0 = util_now();
	for (int i = 0; i < repeat; i++) {
		/* a full repaint each time: the worst case of a redraw */
		clearok(curscr, TRUE);
		draw(&t);
	}
	*seconds = (util_now() - t0) / repeat;
	ret = 0;
out:
	if (scr) {
		endwin();
		tui_active = 0;
		delscreen(scr);
	}
	for (int k = 0; k < TUI_SCREEN_COUNT; k++)
		if (screens[k]->done)
			screens[k]->done(&t);
	db_close(t.db);
	if (out)
		fclose(out);
	if (in)
		fclose(in);
	return ret;
}
