/* followed.c -- a lock-free set of followed streams; see followed.h.
 *
 * SLOTS keys in a table, each key in one of PROBES slots from its home
 * slot.  A slot holds EMPTY (never used), TOMB (used, freed), BUSY (being
 * filled) or a key.  Adding claims an EMPTY or TOMB slot by compare-and-
 * swap to BUSY, writes the value, then publishes the key (release).  A
 * lookup loads keys from the home slot on (acquire) until it meets its
 * key or an EMPTY slot: PROBES loads at worst, all within two cache
 * lines, and usually one, since the table is far larger than the number
 * of requests a process answers at once.  Only the thread writing a
 * stream reads that stream's value, so a value is never read while
 * another thread frees it.  Slots never return to EMPTY (a lookup could
 * then stop short of a key further on); TOMB slots are reused. */
#include "followed.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SLOTS 1024          /* a power of two */
#define PROBES 16
#define EMPTY ((uintptr_t)0)
#define TOMB ((uintptr_t)1)
#define BUSY ((uintptr_t)2)

static _Atomic uintptr_t keys[SLOTS];
static void *_Atomic values[SLOTS];

/* Streams are malloc'ed, so their low bits are zero: mix before masking. */
static unsigned home(uintptr_t key)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return (unsigned)(h >> 40) & (SLOTS - 1);
}

bool cc_followed_add(const void *key, void *value)
{
    uintptr_t k = (uintptr_t)key;
    unsigned h = home(k);
    for (unsigned i = 0; i < PROBES; i++) {
        unsigned slot = (h + i) & (SLOTS - 1);
        uintptr_t seen = atomic_load_explicit(&keys[slot], memory_order_relaxed);
        if ((seen == EMPTY || seen == TOMB) &&
            atomic_compare_exchange_strong_explicit(&keys[slot], &seen, BUSY, memory_order_acquire,
                                                    memory_order_relaxed)) {
            atomic_store_explicit(&values[slot], value, memory_order_relaxed);
            atomic_store_explicit(&keys[slot], k, memory_order_release);
            return true;
        }
    }
    return false;
}

/* The slot holding key, or -1. */
static int slot_of(uintptr_t k)
{
    unsigned h = home(k);
    for (unsigned i = 0; i < PROBES; i++) {
        unsigned slot = (h + i) & (SLOTS - 1);
        uintptr_t seen = atomic_load_explicit(&keys[slot], memory_order_acquire);
        if (seen == k)
            return (int)slot;
        if (seen == EMPTY)
            return -1;
    }
    return -1;
}

void *cc_followed_get(const void *key)
{
    int slot = key != NULL ? slot_of((uintptr_t)key) : -1;
    return slot >= 0 ? atomic_load_explicit(&values[slot], memory_order_relaxed) : NULL;
}

void *cc_followed_take(const void *key)
{
    int slot = key != NULL ? slot_of((uintptr_t)key) : -1;
    if (slot < 0)
        return NULL;
    void *value = atomic_load_explicit(&values[slot], memory_order_relaxed);
    atomic_store_explicit(&keys[slot], TOMB, memory_order_release);
    return value;
}

void cc_followed_each(void (*fn)(void *value))
{
    for (unsigned slot = 0; slot < SLOTS; slot++) {
        uintptr_t k = atomic_load_explicit(&keys[slot], memory_order_acquire);
        if (k != EMPTY && k != TOMB && k != BUSY)
            fn(atomic_load_explicit(&values[slot], memory_order_relaxed));
    }
}
