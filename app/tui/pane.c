/*
 * pane: a scrollable text in a TUI panel (what a command printed: compare,
 * show, plots in gnuplot's dumb terminal). See tui.h.
 *
 * Invariant: 0 <= top < max(n, 1) and left >= 0 after every scroll.
 */
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "app/tui/tui.h"
#include "engine/util.h"

/* Display columns of a UTF-8 line. */
static int
columns_of(const char *s)
{
	mbstate_t st;
	memset(&st, 0, sizeof st);
	int cols = 0;
	while (*s) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&st, 0, sizeof st);
			n = 1;
			wc = '?';
		}
		int w = wcwidth(wc);
		cols += w > 0 ? w : 1;
		s += n;
	}
	return cols;
}

void
tui_pane_clear(struct tui_pane *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->lines[i]);
	free(p->lines);
	memset(p, 0, sizeof *p);
}

void
tui_pane_set(struct tui_pane *p, const char *text)
{
	int top = p->top, left = p->left;
	tui_pane_clear(p);
	const char *s = text ? text : "";
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char *line = xmalloc(len * 8 + 1);
		size_t k = 0;
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '\t')
				do
					line[k++] = ' ';
				while (k % 8);
			else if (s[i] != '\r' && s[i] != '\f')
				line[k++] = s[i];
		}
		line[k] = '\0';
		p->lines = xrealloc(p->lines, (size_t)(p->n + 1) * sizeof *p->lines);
		p->lines[p->n++] = line;
		int w = columns_of(line);
		if (w > p->width)
			p->width = w;
		s = nl ? nl + 1 : s + len;
	}
	p->top = top < p->n ? top : 0;
	p->left = left;
}

/* The part of a line from display column `left` on. */
static const char *
skip_columns(const char *s, int left)
{
	mbstate_t st;
	memset(&st, 0, sizeof st);
	while (*s && left > 0) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&st, 0, sizeof st);
			n = 1;
		}
		s += n;
		left--;
	}
	return s;
}

void
tui_pane_draw(struct tui *t, struct tui_pane *p, int y, int h, int w, const char *mark)
{
	for (int r = 0; r < h; r++) {
		int i = p->top + r;
		const char *line = i < p->n ? skip_columns(p->lines[i], p->left) : "";
		int hit = mark && *mark && i < p->n && strstr(p->lines[i], mark);
		if (hit) {
			tui_color(t, TUI_COLOR_BUSY, 1);
			attron(A_BOLD);
		}
		tui_text(y + r, 0, w, line, 1);
		if (hit) {
			attroff(A_BOLD);
			tui_color(t, TUI_COLOR_BUSY, 0);
		}
	}
}

int
tui_pane_scroll(struct tui_pane *p, enum tui_action a, int h, int w)
{
	int last = p->n > h ? p->n - h : 0;
	switch (a) {
	case TUI_ACT_UP:
		p->top--;
		break;
	case TUI_ACT_DOWN:
		p->top++;
		break;
	case TUI_ACT_PAGE_UP:
		p->top -= h > 1 ? h - 1 : 1;
		break;
	case TUI_ACT_PAGE_DOWN:
		p->top += h > 1 ? h - 1 : 1;
		break;
	case TUI_ACT_HOME:
		p->top = 0;
		p->left = 0;
		break;
	case TUI_ACT_END:
		p->top = last;
		break;
	case TUI_ACT_LEFT:
		p->left -= 8;
		break;
	case TUI_ACT_RIGHT:
		if (p->left + w < p->width)
			p->left += 8;
		break;
	default:
		return 0;
	}
	if (p->top > last)
		p->top = last;
	if (p->top < 0)
		p->top = 0;
	if (p->left < 0)
		p->left = 0;
	return TUI_HANDLED | TUI_REDRAW;
}

int
tui_pane_find(struct tui_pane *p, const char *text)
{
	if (!text || !*text)
		return 0;
	for (int k = 1; k <= p->n; k++) {
		int i = (p->top + k) % (p->n ? p->n : 1);
		if (i < p->n && strstr(p->lines[i], text)) {
			p->top = i;
			return 1;
		}
	}
	return 0;
}
