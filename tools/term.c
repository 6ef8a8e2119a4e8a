/* term.c -- plain terminal handling for cgicache top: termios and ANSI
 * escapes, as varnishstat and htop need no more of a terminal than that.
 *
 * The view draws on the alternate screen (what was on the terminal comes
 * back when it ends), keys arrive one at a time without echo, and the
 * terminal is given back whatever ends the view: q, an exit, SIGINT,
 * SIGTERM or SIGHUP.  SIGWINCH only sets a flag; the view redraws at the
 * new size.  ^Z (SIGTSTP) gives the terminal back before the view stops,
 * and takes it again when it is continued (term_suspend).  Handlers are
 * installed without SA_RESTART so that a signal ends the wait for a key
 * at once. */
#include "term.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

volatile bool term_resized;
volatile bool term_quit;
volatile bool term_stop;

static struct termios saved;
static volatile sig_atomic_t entered;

static void put(const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t w = write(STDOUT_FILENO, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        len -= (size_t)w;
    }
}

void term_leave(void)
{
    if (!entered)
        return;
    entered = 0;
    /* Cursor back, main screen back, then the modes as they were. */
    put("\033[?25h\033[?1049l");
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
}

static void on_signal(int sig)
{
    if (sig == SIGWINCH)
        term_resized = true;
    else if (sig == SIGTSTP)
        term_stop = true;
    else
        term_quit = true;
}

/* Keys one at a time, unechoed (^C and ^Z still signals: ISIG stays), on
 * the alternate screen without a cursor. */
static int take(void)
{
    struct termios raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0)
        return -1;
    entered = 1;
    put("\033[?1049h\033[?25l\033[H\033[2J");
    return 0;
}

int term_enter(void)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO) || tcgetattr(STDIN_FILENO, &saved) != 0)
        return -1;
    if (take() != 0)
        return -1;
    atexit(term_leave);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTSTP, &sa, NULL);
    return 0;
}

void term_suspend(void)
{
    term_stop = false;
    term_leave();
    /* Stopped here (as ^Z would have) until fg or SIGCONT. */
    raise(SIGSTOP);
    tcgetattr(STDIN_FILENO, &saved);
    take();
    term_resized = true;
}

void term_size(int *cols, int *rows)
{
    struct winsize ws;
    *cols = 80;
    *rows = 24;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
    }
}

int term_key(int timeout_ms)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
    if (n <= 0)
        return 0;
    unsigned char c;
    ssize_t r = read(STDIN_FILENO, &c, 1);
    if (r == 0)
        return -1;
    return r < 0 ? 0 : c;
}
