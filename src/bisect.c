/*
 * bisect.c - the range of a batch to run next (bisect.h).
 *
 * It owns the narrowing rules only; running a range, and deciding what an
 * isolated event's fate is, are the consumer's (consume.c).
 */
#include "bisect.h"

void cv_bisect_init(struct cv_bisect *b, size_t n)
{
    b->lo = 0;
    b->hi = b->bound = b->n = n;
}

void cv_bisect_committed(struct cv_bisect *b)
{
    b->lo = b->hi;
    /* the rest of the last failed range holds the culprit: run it alone */
    b->hi = b->bound > b->lo ? b->bound : b->n;
    b->bound = b->n;
}

int cv_bisect_failed(struct cv_bisect *b, size_t first, size_t last)
{
    if (first < b->lo)
        first = b->lo; /* cannot happen: the blame lies in what ran */
    if (last < first)
        last = first;
    b->bound = b->hi;
    if (first > b->lo) {
        b->hi = first; /* the events before the culprits are fine */
        return 0;
    }
    if (last > first) {
        b->hi = first + (last - first + 1) / 2; /* the first half */
        return 0;
    }
    b->hi = b->lo + 1;
    return 1;
}

void cv_bisect_isolated(struct cv_bisect *b)
{
    b->lo++;
    b->hi = b->bound = b->n;
}

void cv_bisect_shrunk(struct cv_bisect *b, size_t lo, size_t n)
{
    b->lo = lo;
    b->hi = b->bound = b->n = n;
}
