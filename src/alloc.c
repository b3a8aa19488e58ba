/*
 * The single allocation entry point of the library. Routing every
 * allocation through here lets the tests count live blocks (leak checks)
 * and make the n-th allocation fail (to prove every error path is clean).
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>

static atomic_long live_allocations;
/* 0: never fail. n > 0: the n-th allocation from now, and all later ones,
 * fail. Test-only; meant to be set while no other thread allocates. */
static atomic_long fail_countdown;

void emgmm__fail_allocation_after(long n)
{
    atomic_store(&fail_countdown, n);
}

long emgmm__live_allocations(void)
{
    return atomic_load(&live_allocations);
}

static int injected_failure(void)
{
    long c = atomic_load(&fail_countdown);
    if (c <= 0)
        return 0;
    if (c == 1)
        return 1; /* stays at 1: every later allocation fails too */
    atomic_fetch_sub(&fail_countdown, 1);
    return 0;
}

void *emgmm__malloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    if (injected_failure())
        return NULL;
    size_t bytes = count * size;
    void *p = malloc(bytes ? bytes : 1);
    if (p)
        atomic_fetch_add(&live_allocations, 1);
    return p;
}

void *emgmm__calloc(size_t count, size_t size)
{
    if (injected_failure())
        return NULL;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p)
        atomic_fetch_add(&live_allocations, 1);
    return p;
}

void emgmm__free(void *p)
{
    if (p) {
        atomic_fetch_sub(&live_allocations, 1);
        free(p);
    }
}
