/* test_followed.c -- the lock-free set of followed streams: what one
 * thread adds it finds, what it takes is gone, slots are reused, a full
 * neighbourhood refuses, and threads adding, finding and taking their
 * own keys at once never see another's value. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "followed.h"

Test(followed, add_get_take)
{
    static int a, b, va, vb;
    cr_assert(cc_followed_add(&a, &va));
    cr_assert(cc_followed_add(&b, &vb));
    cr_assert_eq(cc_followed_get(&a), &va);
    cr_assert_eq(cc_followed_get(&b), &vb);
    cr_assert_eq(cc_followed_take(&a), &va);
    cr_assert_null(cc_followed_get(&a));
    cr_assert_null(cc_followed_take(&a));
    cr_assert_eq(cc_followed_get(&b), &vb);
    cr_assert_eq(cc_followed_take(&b), &vb);
    cr_assert_null(cc_followed_get(NULL));
}

/* The same key added and taken many times (a reused FCGX_Stream): freed
 * slots are reused, so it can always be added again. */
Test(followed, reuse)
{
    static char key[1];
    static int v;
    for (int i = 0; i < 100000; i++) {
        cr_assert(cc_followed_add(key, &v));
        cr_assert_eq(cc_followed_take(key), &v);
    }
    cr_assert_null(cc_followed_get(key));
}

/* Many keys at once: all are found while present; when a neighbourhood
 * is full, adding fails instead of misplacing a key. */
Test(followed, many)
{
    enum { N = 3000 };
    static char keys[N][16];
    static bool added[N];
    static int v;
    int refused = 0;
    for (int i = 0; i < N; i++)
        refused += !(added[i] = cc_followed_add(keys[i], &v));
    cr_assert_gt(refused, 0, "3000 keys in 1024 slots: some must be refused");
    for (int i = 0; i < N; i++)
        cr_assert_eq(cc_followed_get(keys[i]), added[i] ? (void *)&v : NULL);
    for (int i = 0; i < N; i++)
        cr_assert_eq(cc_followed_take(keys[i]), added[i] ? (void *)&v : NULL);
}

static void *churn(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    char *keys = malloc(64);
    for (int i = 0; i < 200000; i++) {
        char *key = keys + (i % 8) * 8;
        void *value = (void *)(id * 1000 + (uintptr_t)(i % 8) + 1);
        if (!cc_followed_add(key, value))
            return (void *)"refused";
        if (cc_followed_get(key) != value)
            return (void *)"lost";
        if (cc_followed_take(key) != value)
            return (void *)"taken wrong";
    }
    free(keys);
    return NULL;
}

Test(followed, threads)
{
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, (void *)(i + 1));
    for (int i = 0; i < 4; i++) {
        void *why;
        pthread_join(t[i], &why);
        cr_assert_null(why, "thread %d: %s", i, why != NULL ? (char *)why : "");
    }
}
