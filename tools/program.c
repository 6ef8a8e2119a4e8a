/* program.c -- what cgicache will do for a program, judged from the
 * program's own file and the arguments it will be run with.
 *
 * cgicache sees requests in three ways: through libfcgi's accept calls
 * (the app links or loads libfcgi: the libfcgi adapter), as FastCGI
 * records on the connections a server accepts itself (PHP, flup, any
 * FastCGI code of a program's own: the wire adapter), and as a CGI
 * request in the process's environment at load.  So the verdict rests on
 * evidence, not on names alone:
 *   - the loader: no PT_INTERP (static) or a setuid/setgid file, and
 *     LD_PRELOAD never reaches the program;
 *   - the ELF dynamic section: NEEDED libfcgi.so means a libfcgi app;
 *   - a FastCGI implementation of its own (the FCGI_WEB_SERVER_ADDRS
 *     string both PHP's and libfcgi's code read) in a program that does
 *     not link libfcgi: the wire adapter when it serves FastCGI;
 *   - how it will run: `php-fpm` is only a FastCGI server, `-b ADDR`
 *     makes php-cgi one, and `spawn-fcgi ... -- APP` hands APP a
 *     listening socket, which makes any libfcgi or PHP program serve
 *     FastCGI;
 *   - scripts: the interpreter (after `#!`, through `env`) must be
 *     reachable, and the script's text tells Perl's FCGI module (libfcgi)
 *     from Python's flup (its own FastCGI code: the wire adapter).
 * Anything else that is dynamic is a CGI program, cached when a web
 * server runs it as CGI, or, run as a FastCGI server, followed by the
 * wire adapter. */
#include "program.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const unsigned char *data;
    size_t len;
} file_map;

/* A program run as a FastCGI server that does not link libfcgi. */
#define WIRE_OWN_CODE                                                                      \
    "cached by the wire adapter, if it speaks FastCGI on the connections it accepts with " \
    "libc's calls (it does not link libfcgi)"

static void say(prog_verdict *v, prog_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(prog_verdict *v, prog_kind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof v->why, fmt, ap);
    va_end(ap);
    v->kind = kind;
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* PATH lookup as execvp does it, then the sbin directories (php-fpm lives
 * in /usr/sbin, outside many users' PATH).  Returns 0 with out set. */
static int resolve(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/') != NULL) {
        snprintf(out, cap, "%s", name);
        return access(out, F_OK);
    }
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/local/sbin:/usr/sbin:/sbin",
             path != NULL ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return -1;
}

static int map_file(const char *path, file_map *m)
{
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            m->data = p;
            m->len = (size_t)st.st_size;
            rc = 0;
        }
    }
    close(fd);
    return rc;
}

static void unmap_file(file_map *m)
{
    if (m->data != NULL)
        munmap((void *)m->data, m->len);
}

static int contains(const file_map *m, const char *needle)
{
    return m->data != NULL && memmem(m->data, m->len, needle, strlen(needle)) != NULL;
}

/* ---- ELF ------------------------------------------------------------------ */

typedef struct {
    int elf64;          /* a 64-bit ELF this tool can read */
    int dynamic;        /* has PT_INTERP: the loader, and LD_PRELOAD, run */
    int libfcgi;        /* NEEDED libfcgi.so.* */
} elf_facts;

static const void *at(const file_map *m, uint64_t off, uint64_t len)
{
    return off <= m->len && len <= m->len - off ? m->data + off : NULL;
}

/* A virtual address to a file offset, through the PT_LOAD segments. */
static uint64_t vaddr_to_off(const file_map *m, const Elf64_Ehdr *eh, uint64_t vaddr)
{
    for (int i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = at(m, eh->e_phoff + (uint64_t)i * eh->e_phentsize, sizeof *ph);
        if (ph != NULL && ph->p_type == PT_LOAD && vaddr >= ph->p_vaddr &&
            vaddr < ph->p_vaddr + ph->p_filesz)
            return vaddr - ph->p_vaddr + ph->p_offset;
    }
    return UINT64_MAX;
}

static elf_facts elf_read(const file_map *m)
{
    elf_facts f = {0};
    const Elf64_Ehdr *eh = at(m, 0, sizeof *eh);
    if (eh == NULL || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phentsize < sizeof(Elf64_Phdr))
        return f;
    f.elf64 = 1;
    const Elf64_Phdr *dyn = NULL;
    for (int i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = at(m, eh->e_phoff + (uint64_t)i * eh->e_phentsize, sizeof *ph);
        if (ph == NULL)
            break;
        if (ph->p_type == PT_INTERP)
            f.dynamic = 1;
        if (ph->p_type == PT_DYNAMIC)
            dyn = ph;
    }
    if (dyn == NULL)
        return f;
    const Elf64_Dyn *d = at(m, dyn->p_offset, dyn->p_filesz);
    size_t n = d != NULL ? dyn->p_filesz / sizeof *d : 0;
    uint64_t strtab = UINT64_MAX;
    for (size_t i = 0; i < n && d[i].d_tag != DT_NULL; i++)
        if (d[i].d_tag == DT_STRTAB)
            strtab = vaddr_to_off(m, eh, d[i].d_un.d_ptr);
    for (size_t i = 0; i < n && d[i].d_tag != DT_NULL && strtab != UINT64_MAX; i++) {
        if (d[i].d_tag != DT_NEEDED)
            continue;
        const char *name = at(m, strtab + d[i].d_un.d_val, 1);
        if (name != NULL && memchr(name, '\0', m->len - (strtab + d[i].d_un.d_val)) != NULL &&
            strncmp(name, "libfcgi.so", 10) == 0)
            f.libfcgi = 1;
    }
    return f;
}

/* ---- the verdict ------------------------------------------------------------ */

/* Loader facts for path into v; returns 0 when LD_PRELOAD reaches it. */
static int reachable(const char *path, const file_map *m, const elf_facts *ef, prog_verdict *v)
{
    struct stat st;
    if (stat(path, &st) != 0 || m->data == NULL) {
        snprintf(v->loader, sizeof v->loader, "cannot be read");
        say(v, PROG_NONE, "not cached: %s cannot be read", path);
        return -1;
    }
    if (st.st_mode & (S_ISUID | S_ISGID)) {
        snprintf(v->loader, sizeof v->loader,
                 "setuid/setgid; the loader ignores LD_PRELOAD for it");
        say(v, PROG_NONE, "not cached: LD_PRELOAD cannot reach a setuid/setgid program");
        return -1;
    }
    if (!ef->elf64) {
        snprintf(v->loader, sizeof v->loader, "not a 64-bit ELF program or a script");
        say(v, PROG_NONE, "not cached: cgicache cannot tell what %s is", path);
        return -1;
    }
    if (!ef->dynamic) {
        snprintf(v->loader, sizeof v->loader, "statically linked; LD_PRELOAD cannot reach it");
        say(v, PROG_NONE,
            "not cached: a statically linked program never loads libcgicache "
            "(use a dynamic build, or cache in the web server)");
        return -1;
    }
    snprintf(v->loader, sizeof v->loader, "dynamically linked; LD_PRELOAD reaches it");
    v->preload_reaches = 1;
    return 0;
}

static int is_script(const file_map *m)
{
    return m->len >= 2 && m->data[0] == '#' && m->data[1] == '!';
}

/* Whether LD_PRELOAD reaches the interpreter of script m, following #!
 * lines and `env NAME` as the kernel and env do (a pyenv shim is a
 * script too); iv gets the interpreter's path and loader facts. */
static int interpreter_reaches(const file_map *m, prog_verdict *iv, int depth)
{
    char line[PATH_MAX];
    size_t n = 0;
    for (size_t i = 2; i < m->len && m->data[i] != '\n' && n + 1 < sizeof line; i++)
        line[n++] = (char)m->data[i];
    line[n] = '\0';
    char *save = NULL, *interp = strtok_r(line, " \t\r", &save),
         *arg = strtok_r(NULL, " \t\r", &save);
    if (interp != NULL && strcmp(base(interp), "env") == 0 && arg != NULL)
        interp = arg;
    if (interp == NULL || depth > 4 || resolve(interp, iv->path, sizeof iv->path) != 0) {
        snprintf(iv->loader, sizeof iv->loader, "its interpreter %.1024s is not found",
                 interp != NULL ? interp : "");
        say(iv, PROG_NONE, "not cached: the script's interpreter %.400s is not found",
            interp != NULL ? interp : "");
        return -1;
    }
    file_map im;
    map_file(iv->path, &im);
    int rc;
    if (is_script(&im)) {
        char first[PATH_MAX];
        snprintf(first, sizeof first, "%s", iv->path);
        rc = interpreter_reaches(&im, iv, depth + 1);
        if (rc == 0)
            snprintf(iv->path, sizeof iv->path, "%s", first); /* name the one the script names */
    } else {
        elf_facts ef = elf_read(&im);
        rc = reachable(iv->path, &im, &ef, iv);
        if (rc != 0) {
            char facts[sizeof iv->loader];
            snprintf(facts, sizeof facts, "%s", iv->loader);
            snprintf(iv->loader, sizeof iv->loader, "its interpreter %.1024s is %.150s", iv->path,
                     facts);
        }
    }
    unmap_file(&im);
    return rc;
}

static int has_arg(char *const *argv, int argc, const char *arg)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], arg) == 0)
            return 1;
    return 0;
}

/* What a script's (or an interpreter's script argument's) text says about
 * how it serves FastCGI; 0 when it says nothing. */
static int script_says(const file_map *s, int fastcgi, prog_verdict *v)
{
    if (contains(s, "CGI::Fast") || contains(s, "use FCGI") || contains(s, "FCGI::Request")) {
        say(v, PROG_LIBFCGI,
            "cached: a Perl FastCGI script (Perl's FCGI module is libfcgi), "
            "as a FastCGI server and as CGI alike");
        return 1;
    }
    if (contains(s, "flup")) {
        say(v, fastcgi ? PROG_WIRE : PROG_CGI, "%s",
            fastcgi ? "cached by the wire adapter: it serves FastCGI with flup, Python's own "
                      "FastCGI code, on the connections it accepts"
                    : "cached when a web server runs it as CGI, and by the wire adapter when it "
                      "serves FastCGI with flup");
        return 1;
    }
    return 0;
}

static void judge(char *const *argv, int argc, int fastcgi, prog_verdict *v)
{
    if (resolve(argv[0], v->path, sizeof v->path) != 0) {
        snprintf(v->loader, sizeof v->loader, "not found");
        say(v, PROG_NONE, "not cached: %s not found (PATH, /usr/sbin, /sbin)", argv[0]);
        return;
    }
    const char *name = base(v->path);
    if (strcmp(name, "spawn-fcgi") == 0) {
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
                judge(argv + i + 1, argc - i - 1, 1, v);
                return;
            }
        snprintf(v->loader, sizeof v->loader, "a launcher");
        say(v, PROG_NONE,
            "spawn-fcgi only starts the app: name it, as `spawn-fcgi ... -- APP ARGS`");
        return;
    }
    file_map m;
    map_file(v->path, &m);
    elf_facts ef = elf_read(&m);
    if (is_script(&m)) {
        /* A script: its interpreter is what the loader runs. */
        prog_verdict iv = {0};
        if (interpreter_reaches(&m, &iv, 1) != 0) {
            snprintf(v->loader, sizeof v->loader, "a script; %.1100s", iv.loader);
            say(v, PROG_NONE, "%s", iv.why);
        } else {
            snprintf(v->loader, sizeof v->loader,
                     "a script; LD_PRELOAD reaches its interpreter %.1024s", iv.path);
            v->preload_reaches = 1;
            if (!script_says(&m, fastcgi, v))
                say(v, fastcgi ? PROG_WIRE : PROG_CGI, "%s",
                    fastcgi ? WIRE_OWN_CODE : "cached when a web server runs it as CGI");
        }
        unmap_file(&m);
        return;
    }
    if (reachable(v->path, &m, &ef, v) != 0) {
        unmap_file(&m);
        return;
    }
    int own_fastcgi = !ef.libfcgi && contains(&m, "FCGI_WEB_SERVER_ADDRS");
    if (strncmp(name, "php-fpm", 7) == 0) {
        say(v, PROG_WIRE,
            "cached by the wire adapter: php-fpm serves FastCGI with PHP's own code on the "
            "connections its workers accept (the master reads the configuration; workers "
            "inherit it)");
    } else if (ef.libfcgi) {
        say(v, PROG_LIBFCGI, "cached: a libfcgi app (links %s), as a FastCGI server%s",
            "libfcgi.so.0", fastcgi ? "" : " and as CGI");
    } else if (own_fastcgi && (fastcgi || has_arg(argv, argc, "-b"))) {
        say(v, PROG_WIRE,
            "cached by the wire adapter: %s, %s serves FastCGI with its own code on the "
            "connections it accepts",
            fastcgi ? "on the socket spawn-fcgi gives it" : "with -b", name);
    } else if (own_fastcgi) {
        say(v, PROG_CGI,
            "cached when a web server runs it as CGI, and by the wire adapter when it serves "
            "FastCGI itself (-b, or a socket from spawn-fcgi)");
    } else {
        /* An interpreter given its script as an argument: the script's
         * text decides, as after a #! line. */
        int said = 0;
        for (int i = 1; i < argc && !said; i++) {
            file_map s;
            if (argv[i][0] != '-' && map_file(argv[i], &s) == 0) {
                said = !elf_read(&s).elf64 && script_says(&s, fastcgi, v);
                unmap_file(&s);
                break;
            }
        }
        if (!said)
            say(v, fastcgi ? PROG_WIRE : PROG_CGI, "%s",
                fastcgi ? WIRE_OWN_CODE
                        : "cached when a web server runs it as CGI, and by the wire adapter "
                          "when it serves FastCGI on connections it accepts");
    }
    unmap_file(&m);
}

void program_verdict(char *const *argv, int argc, prog_verdict *v)
{
    memset(v, 0, sizeof *v);
    judge(argv, argc, 0, v);
}
