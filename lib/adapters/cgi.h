/* cgi.h -- the CGI adapter: a CGI program run once per request. */
#ifndef CGICACHE_CGI_H
#define CGICACHE_CGI_H

/* Called at load.  In a CGI request process it answers a hit and exits
 * before main(), or arranges for the program's output to be captured;
 * anywhere else it returns at once. */
void cc_cgi_on_load(void);

#endif
