/* path.h -- the path a request names, as the app will act on it.
 *
 * A cache and the app behind it must agree on which resource a request
 * names, or a request for one page can be stored under another's key (web
 * cache deception, path confusion).  The web server decodes the request
 * target before the app sees it (%XX escapes, dot segments, repeated
 * slashes), and apps and their frameworks differ again in what they make
 * of encoded slashes, backslashes, ';' path parameters or a doubly encoded
 * '%'.  So cgicache routes, and purges by URL, on the decoded form of the
 * path, and caches a request only when its path is in normal form: no
 * byte whose meaning differs between readings may be spelled in a way
 * that depends on who reads it. */
#ifndef CGICACHE_PATH_H
#define CGICACHE_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* Writes the decoded form of the path p[0..n) to out (cap bytes, NUL
 * added): %XX escapes decoded (when encoded is true; a path taken from
 * SCRIPT_NAME and PATH_INFO is decoded already), repeated slashes merged,
 * "." and ".." segments resolved.  Returns the length, or -1 when it does
 * not fit or does not begin with '/'.  *normal, when not NULL, tells
 * whether p was in normal form: it begins with '/', decoding it changes
 * nothing but escapes that must stay escaped, and none of these occurs:
 * an empty, "." or ".." segment (also encoded), an escape of an unreserved
 * byte or of '/', '\\', ';', '?', '#', '%' or a control byte, a raw
 * backslash, ';', control byte or blank, a '%' that is not an escape. */
long cc_path_decode(const char *p, size_t n, bool encoded, char *out, size_t cap, bool *normal);

#endif
