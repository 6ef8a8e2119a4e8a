/* request.h -- a read-only view of one HTTP request as CGI parameters.
 *
 * FastCGI params and a CGI process environment are the same thing: an
 * envp array of NAME=VALUE strings.  cc_request picks out, in one pass and
 * without allocating, what routing, keying and policy need.  Everything
 * points into envp (or into the view's own path buffer), so the view lives
 * exactly as long as the request's params do. */
#ifndef CGICACHE_REQUEST_H
#define CGICACHE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#define CC_PATH_MAX 2048
#define CC_NAME_MAX 64      /* route names, header names */

/* Request method classes, as a bit set. */
enum {
    CC_M_GET = 1u << 0,
    CC_M_HEAD = 1u << 1,
    CC_M_POST = 1u << 2,
    CC_M_PUT = 1u << 3,
    CC_M_PATCH = 1u << 4,
    CC_M_DELETE = 1u << 5,
    CC_M_OPTIONS = 1u << 6,
    CC_M_OTHER = 1u << 7,
};
#define CC_M_SAFE (CC_M_GET | CC_M_HEAD)
#define CC_M_UNSAFE (CC_M_POST | CC_M_PUT | CC_M_PATCH | CC_M_DELETE)

/* Maps "GET", "post" ... to a CC_M_* bit; CC_M_OTHER for anything else. */
unsigned cc_method_bit(const char *method);

/* A request header as configured ("X-Lang") and as the CGI parameter that
 * carries it ("HTTP_X_LANG"), computed once so lookups never convert. */
typedef struct cc_header_name {
    char http[CC_NAME_MAX];
    char cgi[CC_NAME_MAX + 5];
} cc_header_name;


typedef struct cc_request {
    char *const *envp;
    const char *method;     /* REQUEST_METHOD */
    unsigned method_bit;    /* CC_M_* */
    const char *path;       /* path part of REQUEST_URI, else SCRIPT_NAME+PATH_INFO */
    size_t path_len;
    bool path_encoded;      /* path is REQUEST_URI's (escapes not yet decoded) */
    bool path_normal;       /* path is in normal form (path.h): may be cached */
    const char *norm;       /* the decoded path (path.h): routes and URL purges use it */
    size_t norm_len;
    const char *query;      /* QUERY_STRING, else after '?' in REQUEST_URI; never NULL */
    size_t query_len;
    const char *uri_query;  /* after '?' in REQUEST_URI; NULL without a '?' */
    const char *host;       /* HTTP_HOST, else SERVER_NAME; never NULL */
    const char *port;       /* SERVER_PORT; never NULL */
    bool https;             /* HTTPS=on|1, or REQUEST_SCHEME=https */
    bool has_body;          /* CONTENT_LENGTH > 0, or a Transfer-Encoding */
    char pathbuf[CC_PATH_MAX];
    char normbuf[CC_PATH_MAX];
} cc_request;

/* Fills rq from envp.  Returns 0, or -1 when the request has no method or
 * no path, its path does not begin with '/' or does not fit CC_PATH_MAX:
 * such a request is never cached and passes through untouched. */
int cc_request_init(cc_request *rq, char *const *envp);

/* cc_request_init in two steps, for the adapter's hot path: the target
 * (method, path, query) is all that routing needs and is found without
 * scanning every parameter; the details (host, port, scheme, body) are
 * filled in only for a request on a route.  Until then host and port are
 * "" and https and has_body false. */
int cc_request_target(cc_request *rq, char *const *envp);
void cc_request_details(cc_request *rq);

/* Copies the view src to dst, the used parts of the path buffers only (a
 * view is mostly buffer, and a routed request copies its view once). */
void cc_request_copy(cc_request *dst, const cc_request *src);

/* The value of parameter name ("HTTP_COOKIE"), or NULL when absent. */
const char *cc_env_get(char *const *envp, const char *name);

/* Sets h from the header name name[0..len) (an RFC 9110 token, shorter
 * than CC_NAME_MAX).  Returns 0, or -1 when it is not one. */
int cc_header_name_set(cc_header_name *h, const char *name, size_t len);

/* Whether s is a non-empty RFC 9110 token. */
bool cc_is_token(const char *s);

/* "X-Cache-Bypass" -> "HTTP_X_CACHE_BYPASS".  Returns -1 if it does not fit. */
int cc_header_to_cgi(const char *header, char *out, size_t cap);

#endif
