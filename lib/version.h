/* version.h -- cgicache's version, in one place.
 *
 * The tool's --version, the library's startup log line, `make deb` (which
 * names the package after it) and debian/changelog must agree; the build
 * reads it from here, and tests/integration/t_version.sh checks the rest.
 * Change it here and add a debian/changelog entry (dch -v) together. */
#ifndef CGICACHE_VERSION_H
#define CGICACHE_VERSION_H

#define CGICACHE_VERSION "0.9.0"

#endif
