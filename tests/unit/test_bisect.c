/*
 * test_bisect.c - how the consumer narrows a failing batch down to the
 * events to blame (bisect.h), against a model of Postgres: every event
 * that is not bad commits exactly once, in order, and a bad one is found
 * in about 2 log2(n) transactions.
 */
#include "bisect.h"
#include "common.h"
#include "test.h"

/*
 * The consumer's isolation loop (consume.c process()) against a model of
 * Postgres: a range [lo,hi) fails if it holds a bad event; a per-event
 * statement names the event, a set statement (every event adds a row)
 * names every event of the range. Bad events are isolated and
 * dead-lettered; everything else must commit exactly once, in order.
 */
struct model {
    size_t n;
    const int *bad;     /* bad[i]: event i fails whatever runs with it */
    int pair_a, pair_b; /* these two fail only together (-1: none) */
    int sets;           /* 1: failures come from a set statement */
    int committed[5000], dead[5000];
    int txns;
};

static int model_fails(const struct model *m, size_t lo, size_t hi,
                       size_t *first, size_t *last)
{
    for (size_t i = lo; i < hi; i++) {
        int together =
            m->pair_a >= 0 && (int)i == m->pair_b && (size_t)m->pair_a >= lo;
        if (m->bad[i] || together) {
            *first = m->sets ? lo : i;
            *last = m->sets ? hi - 1 : i;
            return 1;
        }
    }
    return 0;
}

/* the consumer's process(), with the model in place of its transactions */
static void model_run(struct model *m)
{
    struct cv_bisect r;
    size_t first, last;

    cv_bisect_init(&r, m->n);
    while (r.lo < m->n) {
        size_t lo = r.lo, hi = r.hi;
        CHECK(hi > lo && hi <= m->n); /* never an empty range: progress */
        if (hi <= lo)
            return;
        m->txns++;
        if (!model_fails(m, lo, hi, &first, &last)) {
            for (size_t i = lo; i < hi; i++)
                m->committed[i]++;
            cv_bisect_committed(&r);
            continue;
        }
        if (!cv_bisect_failed(&r, first, last))
            continue;
        CHECK(r.hi == lo + 1 && first == lo && last == lo);
        m->txns++; /* the dead-letter transaction */
        m->dead[lo]++;
        cv_bisect_isolated(&r);
    }
}

static void check_model(struct model *m, int max_txns)
{
    model_run(m);
    for (size_t i = 0; i < m->n; i++) {
        if (m->bad[i]) {
            CHECK(m->dead[i] == 1 && m->committed[i] == 0);
        } else {
            CHECK(m->dead[i] == 0 && m->committed[i] == 1);
        }
    }
    if (m->txns > max_txns)
        fprintf(stderr, "%d transactions, expected at most %d\n", m->txns,
                max_txns);
    CHECK(m->txns <= max_txns);
}

static void test_narrow(void)
{
    static int bad[5000];
    static struct model m;

    /* the rules themselves */
    {
        struct cv_bisect r;
        cv_bisect_init(&r, 20);
        CHECK(r.lo == 0 && r.hi == 20);
        /* one event failed: the events before it commit first */
        CHECK(cv_bisect_failed(&r, 14, 14) == 0);
        CHECK(r.lo == 0 && r.hi == 14);
        cv_bisect_committed(&r);
        CHECK(r.lo == 14 && r.hi == 20);
        /* now it is first: isolate it, then the rest */
        CHECK(cv_bisect_failed(&r, 14, 14) == 1);
        CHECK(r.lo == 14 && r.hi == 15);
        cv_bisect_isolated(&r);
        CHECK(r.lo == 15 && r.hi == 20);

        /* a set statement of events 2..9 failed in [0,20) */
        cv_bisect_init(&r, 20);
        CHECK(cv_bisect_failed(&r, 2, 9) == 0);
        CHECK(r.lo == 0 && r.hi == 2);
        cv_bisect_committed(&r);
        CHECK(r.lo == 2 && r.hi == 20);
        CHECK(cv_bisect_failed(&r, 2, 19) == 0);
        CHECK(r.lo == 2 && r.hi == 11); /* the first half */
        cv_bisect_committed(&r);
        /* the culprit is in 11..19: run up to the failed range's end */
        CHECK(r.lo == 11 && r.hi == 20);
        CHECK(cv_bisect_failed(&r, 11, 12) == 0);
        CHECK(r.lo == 11 && r.hi == 12);
        CHECK(cv_bisect_failed(&r, 11, 11) == 1);
    }

    /* one bad event anywhere in a batch of 5000, found through set
     * statements in about 2 log2(5000) = 25 transactions */
    const size_t where[] = {0, 1, 2499, 2500, 4998, 4999, 1234};
    for (size_t w = 0; w < CV_ARRAY_SIZE(where); w++) {
        memset(bad, 0, sizeof(bad));
        memset(&m, 0, sizeof(m));
        bad[where[w]] = 1;
        m.n = 5000;
        m.bad = bad;
        m.pair_a = m.pair_b = -1;
        m.sets = 1;
        check_model(&m, 2 * 13 + 3);
    }

    /* per-event statements: the events before, the event, the rest */
    memset(bad, 0, sizeof(bad));
    memset(&m, 0, sizeof(m));
    bad[700] = 1;
    m.n = 5000;
    m.bad = bad;
    m.pair_a = m.pair_b = -1;
    check_model(&m, 5); /* as before row sets: before, it, dead, rest */

    /* several bad events, through sets */
    memset(bad, 0, sizeof(bad));
    memset(&m, 0, sizeof(m));
    bad[3] = bad[4] = bad[1000] = bad[4999] = 1;
    m.n = 5000;
    m.bad = bad;
    m.pair_a = m.pair_b = -1;
    m.sets = 1;
    check_model(&m, 4 * (2 * 13 + 3));

    /* two events that only fail together (say, two upserts of one row in
     * one statement): split apart, both commit, nothing is dead-lettered */
    memset(bad, 0, sizeof(bad));
    memset(&m, 0, sizeof(m));
    m.n = 5000;
    m.bad = bad;
    m.pair_a = 100;
    m.pair_b = 4000;
    m.sets = 1;
    check_model(&m, 2 * 13 + 3);
}

/* A blocking retry takes its partition's events out of the batch: the
 * range goes on from the held event's place over what is left. */
static void test_shrunk(void)
{
    struct cv_bisect r;

    cv_bisect_init(&r, 10);
    CHECK(cv_bisect_failed(&r, 4, 4) == 0);
    cv_bisect_committed(&r);
    CHECK(r.lo == 4 && r.hi == 10);
    CHECK(cv_bisect_failed(&r, 4, 4) == 1);
    /* event 4 is held, and three more of its partition with it */
    cv_bisect_shrunk(&r, 4, 6);
    CHECK(r.lo == 4 && r.hi == 6 && r.n == 6 && r.bound == 6);
    cv_bisect_committed(&r);
    CHECK(r.lo == 6 && r.hi == 6); /* done */
}

int main(void)
{
    test_narrow();
    test_shrunk();
    printf("test_bisect: %d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}
