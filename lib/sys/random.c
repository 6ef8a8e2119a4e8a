/* random.c -- per-thread xoshiro256** seeded from getrandom(2).
 *
 * Lock tokens and purge generations must differ across every worker and
 * host, and pre-forked workers share their parent's memory: a fork handler
 * bumps a generation so that the child reseeds before its next draw, and
 * two workers never draw the same sequence.  No lock, no syscall per
 * draw. */
#include "random.h"

#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Thread_local uint64_t state[4];
static _Thread_local unsigned seeded_generation;   /* 0: never seeded */
static volatile unsigned fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    fork_generation++;
}
static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* splitmix64, to spread a weak fallback seed over the whole state. */
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void seed(void)
{
    pthread_once(&atfork_once, register_atfork);
    pid_t pid = getpid();
    if (getrandom(state, sizeof state, GRND_NONBLOCK) != (ssize_t)sizeof state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)pid ^
                     (uint64_t)(uintptr_t)&ts;
        for (int i = 0; i < 4; i++)
            state[i] = splitmix(&x);
    }
    seeded_generation = fork_generation;
}

uint64_t cc_random_u64(void)
{
    if (seeded_generation != fork_generation || (state[0] | state[1] | state[2] | state[3]) == 0)
        seed();
    uint64_t result = rotl(state[1] * 5, 7) * 9;
    uint64_t t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

double cc_random_unit(void)
{
    /* 53 random bits, shifted by one so the result is in (0, 1]. */
    return (double)((cc_random_u64() >> 11) + 1) * (1.0 / 9007199254740992.0);
}

void cc_random_hex(char *out, size_t bytes)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t r = 0;
    for (size_t i = 0; i < bytes; i++) {
        if (i % 8 == 0)
            r = cc_random_u64();
        out[2 * i] = hex[(r >> 4) & 15];
        out[2 * i + 1] = hex[r & 15];
        r >>= 8;
    }
    out[2 * bytes] = '\0';
}
