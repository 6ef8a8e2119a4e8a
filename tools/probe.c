/* probe.c -- `cgicache probe SOCKET URL [-X M] [-H 'N: v']... [--bypass]
 * [--compare] [--json]`: a FastCGI client built in.
 *
 * Sends one request straight to an app's socket (a unix path or
 * host:port) the way a web server would, and prints the status, the cache
 * status, the headers, the body size and the time taken.  --compare sends
 * the request twice, normally and with the bypass header, and says whether
 * the bodies differ: how to check a live app's cached answers against its
 * own.  The FastCGI records are written from the FastCGI 1.0 spec. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "json.h"
#include "tool.h"

enum { BEGIN_REQUEST = 1, END_REQUEST = 3, PARAMS = 4, STDIN = 5, STDOUT = 6, STDERR = 7 };
#define TIMEOUT_MS 5000
#define HEADERS_MAX 32

typedef struct probe_request {
    const char *method, *url;
    const char *headers[HEADERS_MAX];
    size_t nheaders;
} probe_request;

static int connect_to(const char *where)
{
    int fd;
    if (strchr(where, '/') != NULL || strchr(where, ':') == NULL) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(where) >= sizeof sa.sun_path)
            return -1;
        strcpy(sa.sun_path, where);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
    } else {
        char host[256];
        const char *colon = strrchr(where, ':');
        snprintf(host, sizeof host, "%.*s", (int)(colon - where), where);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
            return -1;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc = fd >= 0 ? connect(fd, ai->ai_addr, ai->ai_addrlen) : -1;
        freeaddrinfo(ai);
        if (rc == 0)
            return fd;
    }
    if (fd >= 0)
        close(fd);
    return -1;
}

static void record(cc_buf *out, int type, const void *data, size_t len)
{
    unsigned char h[8] =
        {1, (unsigned char)type, 0, 1, (unsigned char)(len >> 8), (unsigned char)len, 0, 0};
    cc_buf_append(out, h, sizeof h);
    cc_buf_append(out, data, len);
}

static void name_length(cc_buf *b, size_t n)
{
    if (n < 128) {
        unsigned char c = (unsigned char)n;
        cc_buf_append(b, &c, 1);
    } else {
        unsigned char c[4] = {(unsigned char)(0x80 | n >> 24), (unsigned char)(n >> 16),
                              (unsigned char)(n >> 8), (unsigned char)n};
        cc_buf_append(b, c, 4);
    }
}

static void param(cc_buf *b, const char *name, const char *value, size_t value_len)
{
    name_length(b, strlen(name));
    name_length(b, value_len);
    cc_buf_append(b, name, strlen(name));
    cc_buf_append(b, value, value_len);
}

/* The params a web server would send for this URL and these headers. */
static int build_params(const probe_request *pr, cc_buf *b)
{
    int https = strncasecmp(pr->url, "https://", 8) == 0;
    if (!https && strncasecmp(pr->url, "http://", 7) != 0)
        return -1;
    const char *host = pr->url + (https ? 8 : 7), *path = strchr(host, '/');
    if (path == NULL)
        path = "/";
    size_t host_len = strcspn(host, "/");
    const char *q = strchr(path, '?');
    size_t path_len = q != NULL ? (size_t)(q - path) : strlen(path);
    char name_only[256];
    snprintf(name_only, sizeof name_only, "%.*s", (int)strcspn(host, ":/"), host);
    const char *colon = memchr(host, ':', host_len);
    const char *port = colon != NULL ? colon + 1 : (https ? "443" : "80");
    param(b, "REQUEST_METHOD", pr->method, strlen(pr->method));
    param(b, "REQUEST_URI", path, strlen(path));
    param(b, "SCRIPT_NAME", path, path_len);
    param(b, "QUERY_STRING", q != NULL ? q + 1 : "", q != NULL ? strlen(q + 1) : 0);
    param(b, "SERVER_NAME", name_only, strlen(name_only));
    param(b, "SERVER_PORT", port, strcspn(port, "/"));
    param(b, "HTTP_HOST", host, host_len);
    param(b, "SERVER_PROTOCOL", "HTTP/1.1", 8);
    param(b, "GATEWAY_INTERFACE", "CGI/1.1", 7);
    param(b, "REMOTE_ADDR", "127.0.0.1", 9);
    param(b, "REQUEST_SCHEME", https ? "https" : "http", https ? 5 : 4);
    if (https)
        param(b, "HTTPS", "on", 2);
    for (size_t i = 0; i < pr->nheaders; i++) {
        const char *colon = strchr(pr->headers[i], ':');
        char name[CC_NAME_MAX], cgi[CC_NAME_MAX + 8];
        snprintf(name, sizeof name, "%.*s", (int)(colon - pr->headers[i]), pr->headers[i]);
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(name, "Host") == 0 || strcasecmp(name, "Content-Type") == 0 ||
            strcasecmp(name, "Content-Length") == 0)
            continue;
        snprintf(cgi, sizeof cgi, "HTTP_");
        for (size_t c = 0; name[c] != '\0' && c + 6 < sizeof cgi; c++)
            cgi[5 + c] = name[c] == '-'
                             ? '_'
                             : (char)(name[c] >= 'a' && name[c] <= 'z' ? name[c] - 32 : name[c]);
        cgi[5 + strlen(name) < sizeof cgi ? 5 + strlen(name) : sizeof cgi - 1] = '\0';
        param(b, cgi, v, strlen(v));
    }
    return b->failed ? -1 : 0;
}

static int read_full(int fd, void *buf, size_t len, int64_t deadline)
{
    for (size_t got = 0; got < len;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - cc_mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            return -1;
        if (n > 0)
            got += (size_t)n;
    }
    return 0;
}

/* Sends the request and collects stdout; returns 0 or -1 with *why. */
static int exchange(const char *where, const probe_request *pr, cc_buf *out, const char **why)
{
    cc_buf params = {0}, req = {0};
    if (build_params(pr, &params) != 0) {
        *why = "the URL must be http://host/path or https://host/path";
        return -1;
    }
    unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0};   /* responder, no keep-alive */
    record(&req, BEGIN_REQUEST, begin, sizeof begin);
    for (size_t off = 0; off < params.len; off += 65535)
        record(&req, PARAMS, params.data + off,
               params.len - off > 65535 ? 65535 : params.len - off);
    record(&req, PARAMS, "", 0);
    record(&req, STDIN, "", 0);
    cc_buf_free(&params);
    int fd = connect_to(where), rc = -1;
    *why = "cannot connect";
    if (fd >= 0 && !req.failed && write(fd, req.data, req.len) == (ssize_t)req.len) {
        int64_t deadline = cc_mono_ms() + TIMEOUT_MS;
        *why = "no complete answer within 5 s";
        for (;;) {
            unsigned char h[8];
            if (read_full(fd, h, 8, deadline) != 0)
                break;
            size_t len = (size_t)h[4] << 8 | h[5], pad = h[6];
            char *body = malloc(len + pad + 1);
            if (body == NULL || read_full(fd, body, len + pad, deadline) != 0) {
                free(body);
                break;
            }
            if (h[1] == STDOUT)
                cc_buf_append(out, body, len);
            else if (h[1] == STDERR)
                fprintf(stderr, "app stderr: %.*s", (int)len, body);
            free(body);
            if (h[1] == END_REQUEST) {
                rc = 0;
                break;
            }
        }
    }
    if (fd >= 0)
        close(fd);
    cc_buf_free(&req);
    return rc;
}

/* Prints the answer; -1 when the JSON document could not be written. */
static int report(const cc_config *cfg, const cc_buf *resp, int64_t ms, int json)
{
    cc_head h;
    cc_head_result r = cc_head_parse(resp->data != NULL ? resp->data : "", resp->len, &h);
    const cc_header *st = cfg->status_header[0] && r == CC_HEAD_OK
                              ? cc_head_find(&h, cfg->status_header)
                              : NULL;
    size_t body = r == CC_HEAD_OK ? resp->len - h.head_len : 0;
    if (json) {
        json_writer j;
        json_begin(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "status");
        json_int(&j, r == CC_HEAD_OK ? h.status : 0);
        json_key(&j, "cache");
        if (st != NULL)
            json_string_n(&j, st->value, st->value_len);
        else
            json_null(&j);
        json_key(&j, "body_bytes");
        json_uint(&j, body);
        json_key(&j, "ms");
        json_int(&j, (long long)ms);
        json_key(&j, "headers");
        json_object_begin(&j);
        for (size_t i = 0; r == CC_HEAD_OK && i < h.nheaders; i++) {
            json_key_n(&j, h.headers[i].name, h.headers[i].name_len);
            json_string_n(&j, h.headers[i].value, h.headers[i].value_len);
        }
        json_object_end(&j);
        json_object_end(&j);
        return json_end(&j);
    }
    if (r != CC_HEAD_OK) {
        printf("malformed response head (%zu bytes)\n", resp->len);
        return 0;
    }
    printf("status     %d\ncache      %.*s\ntime       %lld ms\nbody       %zu bytes\n", h.status,
           st != NULL ? (int)st->value_len : 1, st != NULL ? st->value : "-", (long long)ms, body);
    for (size_t i = 0; i < h.nheaders; i++)
        printf("  %.*s: %.*s\n", (int)h.headers[i].name_len, h.headers[i].name,
               (int)h.headers[i].value_len, h.headers[i].value);
    return 0;
}

/* The body of a response (after the head), or the whole when no head. */
static const char *body_of(const cc_buf *b, size_t *len)
{
    cc_head h;
    size_t off = b->data != NULL && cc_head_parse(b->data, b->len, &h) == CC_HEAD_OK ? h.head_len
                                                                                     : 0;
    *len = b->len - off;
    return b->data != NULL ? b->data + off : "";
}

static void help(void)
{
    printf("usage: cgicache probe SOCKET URL [-X METHOD] [-H 'Name: value']... [--bypass] "
           "[--compare] [--json]\n\n"
           "Sends one FastCGI request to SOCKET (a unix socket path or host:port) as a web\n"
           "server would, and prints the status, the cache status, the headers, the body\n"
           "size and the time.  --bypass adds the bypass header (CGICACHE_BYPASS_HEADER,\n"
           "with CGICACHE_BYPASS_VALUE).  --compare sends the request normally and\n"
           "bypassed and says whether the bodies differ (exit 1 when they do).\n");
}

int cmd_probe(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        help();
        return EXIT_OK;
    }
    probe_request pr = {.method = "GET"};
    const char *where = NULL;
    int bypass = 0, compare = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-X") == 0 && i + 1 < argc)
            pr.method = argv[++i];
        else if (strcmp(argv[i], "-H") == 0 && i + 1 < argc && strchr(argv[i + 1], ':') != NULL &&
                 pr.nheaders < HEADERS_MAX - 1)
            pr.headers[pr.nheaders++] = argv[++i];
        else if (strcmp(argv[i], "--bypass") == 0)
            bypass = 1;
        else if (strcmp(argv[i], "--compare") == 0)
            compare = 1;
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (argv[i][0] != '-' && where == NULL)
            where = argv[i];
        else if (argv[i][0] != '-' && pr.url == NULL)
            pr.url = argv[i];
        else {
            fprintf(stderr, "cgicache probe: unexpected '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (where == NULL || pr.url == NULL) {
        fprintf(stderr, "cgicache probe: want SOCKET and URL (see --help)\n");
        return EXIT_USAGE;
    }
    cc_config *cfg = tool_config();
    char bypass_line[CC_NAME_MAX + 300];
    snprintf(bypass_line, sizeof bypass_line, "%s: %s", cfg->bypass_header.http,
             cfg->bypass_value_set ? cfg->bypass_value : "1");
    int rc = EXIT_OK;
    cc_buf first = {0}, second = {0};
    const char *why;
    probe_request bypassed = pr;
    bypassed.headers[bypassed.nheaders++] = bypass_line;
    int64_t t0 = cc_mono_ms();
    if (exchange(where, bypass && !compare ? &bypassed : &pr, &first, &why) != 0) {
        fprintf(stderr, "cgicache probe: %s: %s\n", where, why);
        rc = EXIT_PROBLEM;
    } else if (!compare) {
        if (report(cfg, &first, cc_mono_ms() - t0, json) != 0)
            rc = EXIT_PROBLEM;
    } else if (exchange(where, &bypassed, &second, &why) != 0) {
        fprintf(stderr, "cgicache probe: %s: %s (bypassed request)\n", where, why);
        rc = EXIT_PROBLEM;
    } else {
        size_t a_len, b_len;
        const char *a = body_of(&first, &a_len), *b = body_of(&second, &b_len);
        int same = a_len == b_len && memcmp(a, b, a_len) == 0;
        rc = same ? EXIT_OK : EXIT_PROBLEM;
        if (json) {
            json_writer j;
            json_begin(&j, stdout);
            json_object_begin(&j);
            json_key(&j, "identical");
            json_bool(&j, same);
            json_key(&j, "body_bytes");
            json_uint(&j, a_len);
            json_key(&j, "bypassed_body_bytes");
            json_uint(&j, b_len);
            json_object_end(&j);
            if (json_end(&j) != 0)
                rc = EXIT_PROBLEM;
        } else {
            printf("bodies %s (%zu and %zu bytes)\n", same ? "identical" : "DIFFER", a_len, b_len);
        }
    }
    cc_buf_free(&first);
    cc_buf_free(&second);
    cc_config_free(cfg);
    return rc;
}
