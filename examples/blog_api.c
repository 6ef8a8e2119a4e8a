/* blog_api.c -- a small "legacy" JSON blog API, the app `make demo` caches.
 *
 *   GET    /blogs        the list of posts
 *   GET    /blogs/<id>   one post; deliberately slow (300 ms), like a
 *                        legacy page that runs a heavy query
 *   PUT    /blogs/<id>   stores the request body as the post (POST too)
 *   DELETE /blogs/<id>   removes it
 *
 * Posts are files in $BLOG_DATA (read once at start: inside the accept
 * loop the environment is the request's).  The app knows nothing of
 * cgicache. */
#include <dirent.h>
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char data_dir[1024] = "/tmp/blog-data";

static int post_path(const char *uri, char *out, size_t cap)
{
    const char *id = uri + strlen("/blogs/");
    size_t len = strcspn(id, "?");
    if (len == 0 || len > 32 || strspn(id, "0123456789") != len)
        return -1;
    snprintf(out, cap, "%s/%.*s", data_dir, (int)len, id);
    return 0;
}

/* Posts are one line of plain text: cutting at the first character JSON
 * would need escaped keeps every answer valid JSON without an encoder. */
static void keep_json_safe(char *text)
{
    text[strcspn(text, "\"\\\r\n")] = '\0';
}

static void reply(FCGX_Request *r, const char *status, const char *body)
{
    FCGX_FPrintF(r->out, "Status: %s\r\nContent-Type: application/json\r\n\r\n%s\n", status, body);
}

static void list_posts(FCGX_Request *r)
{
    DIR *d = opendir(data_dir);
    FCGX_FPrintF(r->out, "Content-Type: application/json\r\n\r\n[");
    int first = 1;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.') {
            FCGX_FPrintF(r->out, "%s%s", first ? "" : ",", e->d_name);
            first = 0;
        }
    FCGX_FPrintF(r->out, "]\n");
    if (d != NULL)
        closedir(d);
}

static void get_post(FCGX_Request *r, const char *path)
{
    usleep(300000);                  /* the heavy query */
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        reply(r, "404 Not Found", "{\"error\": \"no such post\"}");
        return;
    }
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    keep_json_safe(text);
    FCGX_FPrintF(r->out, "Content-Type: application/json\r\n\r\n{\"post\": \"%s\"}\n", text);
}

static void put_post(FCGX_Request *r, const char *path)
{
    char text[4096];
    int n = FCGX_GetStr(text, sizeof text - 1, r->in);
    text[n > 0 ? n : 0] = '\0';
    keep_json_safe(text);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        reply(r, "500 Internal Server Error", "{\"error\": \"cannot write\"}");
        return;
    }
    fputs(text, f);
    fclose(f);
    reply(r, "200 OK", "{\"ok\": true}");
}

int main(void)
{
    const char *dir = getenv("BLOG_DATA");
    if (dir != NULL)
        snprintf(data_dir, sizeof data_dir, "%s", dir);
    FCGX_Request r;
    FCGX_Init();
    FCGX_InitRequest(&r, 0, 0);
    while (FCGX_Accept_r(&r) >= 0) {
        const char *method = FCGX_GetParam("REQUEST_METHOD", r.envp);
        const char *uri = FCGX_GetParam("REQUEST_URI", r.envp);
        char path[1100];
        if (method == NULL || uri == NULL)
            reply(&r, "400 Bad Request", "{}");
        else if (strcmp(uri, "/blogs") == 0 && strcmp(method, "GET") == 0)
            list_posts(&r);
        else if (strncmp(uri, "/blogs/", 7) != 0 || post_path(uri, path, sizeof path) != 0)
            reply(&r, "404 Not Found", "{\"error\": \"not found\"}");
        else if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
            get_post(&r, path);
        else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0)
            put_post(&r, path);
        else if (strcmp(method, "DELETE") == 0)
            reply(&r, unlink(path) == 0 ? "200 OK" : "404 Not Found", "{}");
        else
            reply(&r, "405 Method Not Allowed", "{}");
        FCGX_Finish_r(&r);
    }
    return 0;
}
