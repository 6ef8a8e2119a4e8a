/* runcount.c -- counts the runs of a real app that cannot count itself.
 *
 * Preloaded beside libcgicache (listed before it in LD_PRELOAD, so that
 * ld.so runs libcgicache's constructor first): a hit is answered and the
 * process ends inside libcgicache's constructor, so this one never runs;
 * on a miss it runs in the program (the forked child), never in the tee.
 * Each run appends "<comm> <pid>" to $RUNCOUNT_FILE with one O_APPEND
 * write, so runs of concurrent processes never interleave; the test
 * counts the lines of the app's own name (a shell the app starts is
 * counted under its own name, or not at all once LD_PRELOAD is gone).
 * The file is opened, read and written with raw system calls: an app may
 * export its own write() (cgit does, and it is not ready before main). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((constructor)) static void runcount(void)
{
    const char *file = getenv("RUNCOUNT_FILE");
    if (file == NULL)
        return;
    char comm[64] = "?";
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/comm", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        long n = syscall(SYS_read, fd, comm, sizeof comm - 1);
        comm[n > 0 ? n : 0] = '\0';
        comm[strcspn(comm, "\n")] = '\0';
        syscall(SYS_close, fd);
    }
    char line[128];
    int len = snprintf(line, sizeof line, "%s %d\n", comm, (int)getpid());
    fd = (int)syscall(SYS_openat, AT_FDCWD, file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) {
        syscall(SYS_write, fd, line, (size_t)len);   /* an uncounted run fails the test's count */
        syscall(SYS_close, fd);
    }
}
