/* term.h -- the terminal, for full-screen views (see term.c). */
#ifndef CGICACHE_TERM_H
#define CGICACHE_TERM_H

#include <stdbool.h>

/* Takes the terminal on fd 1 (keys from fd 0): no echo, keys one at a
 * time, the alternate screen, no cursor; term_leave (also run at exit
 * and after SIGINT, SIGTERM, SIGHUP) gives it back as it was.  Returns
 * -1 when fd 0 or fd 1 is not a terminal. */
int term_enter(void);
void term_leave(void);

/* The size of the terminal on fd 1 (80x24 when it cannot be asked). */
void term_size(int *cols, int *rows);

/* Set by SIGWINCH (the terminal was resized), by SIGINT, SIGTERM or
 * SIGHUP (the view must end) and by SIGTSTP (^Z: call term_suspend); the
 * loop clears the first. */
extern volatile bool term_resized;
extern volatile bool term_quit;
extern volatile bool term_stop;

/* ^Z: gives the terminal back, stops, and takes it again once continued
 * (term_resized is then set: redraw). */
void term_suspend(void);

/* Waits up to timeout_ms for a key; returns it, 0 on timeout or when a
 * signal came (check term_resized and term_quit), -1 at end of input. */
int term_key(int timeout_ms);

#endif
