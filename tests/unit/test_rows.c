/*
 * test_rows.c - set-based writes: how cv_sql_rows() buffers a batch's rows
 * as array literals, and how the consumer narrows a failing set statement
 * down to the event to blame (struct cv_consume_range).
 *
 * Sending the statements needs Postgres; tests/integration covers that.
 */
#include "consume.h"
#include "ctx.h"
#include "log.h"
#include "test.h"

static const char *const SET_A =
    "INSERT INTO t (a, b) SELECT * FROM unnest($1::text[], $2::text[])";
static const char *const SET_B = "INSERT INTO u (c) SELECT unnest($1::int[])";

static void test_rows_buffered(void)
{
    struct cv_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.domain = "test";
    ctx.tag = 3;
    CHECK(cv_sql_rows(&ctx, SET_A, 2, (const char *[]){"x", NULL}) == CV_OK);
    ctx.tag = 4;
    CHECK(cv_sql_rows(&ctx, SET_B, 1, (const char *[]){"7"}) == CV_OK);
    ctx.tag = 5;
    /* quotes, backslashes, braces, commas and the text "NULL" survive */
    CHECK(cv_sql_rows(&ctx, SET_A, 2,
                      (const char *[]){"q\"uo\\te", "{a,b} NULL"}) == CV_OK);
    CHECK(cv_sql_rows(&ctx, SET_A, 2, (const char *[]){"", "NULL"}) == CV_OK);

    CHECK(ctx.nsets == 2);
    CHECK(ctx.sets[0].nrows == 3);
    CHECK(ctx.sets[0].first == 3 && ctx.sets[0].last == 5);
    CHECK_STR(ctx.sets[0].col[0].buf, "{\"x\",\"q\\\"uo\\\\te\",\"\"}");
    CHECK_STR(ctx.sets[0].col[1].buf, "{NULL,\"{a,b} NULL\",\"NULL\"}");
    CHECK(ctx.sets[1].nrows == 1);
    CHECK(ctx.sets[1].first == 4 && ctx.sets[1].last == 4);
    CHECK_STR(ctx.sets[1].col[0].buf, "{\"7\"}");
    /* flush order is the order of the sets' first rows */
    CHECK(ctx.sets[0].seq < ctx.sets[1].seq);

    /* the same SQL text at another address is the same set */
    {
        char copy[256];
        snprintf(copy, sizeof(copy), "%s", SET_B);
        CHECK(cv_sql_rows(&ctx, copy, 1, (const char *[]){"8"}) == CV_OK);
        CHECK(ctx.nsets == 2);
        CHECK_STR(ctx.sets[1].col[0].buf, "{\"7\",\"8\"}");
    }
    CHECK(!ctx.misused);

    cv_ctx_reset(&ctx);
    CHECK(ctx.nsets == 0 && ctx.sets == NULL && ctx.nspans == 0);
    /* usable again after a reset */
    CHECK(cv_sql_rows(&ctx, SET_B, 1, (const char *[]){"9"}) == CV_OK);
    CHECK_STR(ctx.sets[0].col[0].buf, "{\"9\"}");
    cv_ctx_reset(&ctx);
}

static void test_rows_misuse(void)
{
    struct cv_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.domain = "test";
    ctx.tag = 0;
    CHECK(cv_sql_rows(&ctx, SET_A, 2, (const char *[]){"a", "b"}) == CV_OK);
    /* a row with another column count than the set's: the event fails */
    CHECK(cv_sql_rows(&ctx, SET_A, 3, (const char *[]){"a", "b", "c"}) ==
          CV_ERR);
    CHECK(ctx.misused);
    CHECK_CONTAINS(ctx.reason, "ncols");
    CHECK(ctx.sets[0].nrows == 1); /* the bad row was not added */
    cv_ctx_reset(&ctx);
    CHECK(!ctx.misused);

    CHECK(cv_sql_rows(&ctx, SET_B, 0, NULL) == CV_ERR);
    CHECK(ctx.misused);
    CHECK(cv_sql_rows(&ctx, SET_B, CV_SQL_ROWS_MAX_COLS + 1, NULL) == CV_ERR);
    CHECK(ctx.nsets == 0);
    cv_ctx_reset(&ctx);
}

static void test_tag_events(void)
{
    struct cv_ctx ctx;
    int first = -9, last = -9;

    memset(&ctx, 0, sizeof(ctx));
    CHECK(cv_ctx_tag_events(&ctx, 12, &first, &last));
    CHECK(first == 12 && last == 12);
    /* the engine's own statements blame no event */
    CHECK(!cv_ctx_tag_events(&ctx, -1, &first, &last));
    CHECK(!cv_ctx_tag_events(&ctx, -2, &first, &last));
    /* a span tag the transaction never handed out */
    CHECK(!cv_ctx_tag_events(&ctx, CV_TAG_SPAN0, &first, &last));
}

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

/* consume.c process(), with the model in place of run_txn() and isolate() */
static void model_run(struct model *m)
{
    struct cv_consume_range r;
    size_t first, last;

    cv_consume_range_init(&r, m->n);
    while (r.lo < m->n) {
        size_t lo = r.lo, hi = r.hi;
        CHECK(hi > lo && hi <= m->n); /* never an empty range: progress */
        if (hi <= lo)
            return;
        m->txns++;
        if (!model_fails(m, lo, hi, &first, &last)) {
            for (size_t i = lo; i < hi; i++)
                m->committed[i]++;
            cv_consume_range_committed(&r);
            continue;
        }
        if (!cv_consume_range_failed(&r, first, last))
            continue;
        CHECK(r.hi == lo + 1 && first == lo && last == lo);
        m->txns++; /* the dead-letter transaction */
        m->dead[lo]++;
        cv_consume_range_isolated(&r);
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
        struct cv_consume_range r;
        cv_consume_range_init(&r, 20);
        CHECK(r.lo == 0 && r.hi == 20);
        /* one event failed: the events before it commit first */
        CHECK(cv_consume_range_failed(&r, 14, 14) == 0);
        CHECK(r.lo == 0 && r.hi == 14);
        cv_consume_range_committed(&r);
        CHECK(r.lo == 14 && r.hi == 20);
        /* now it is first: isolate it, then the rest */
        CHECK(cv_consume_range_failed(&r, 14, 14) == 1);
        CHECK(r.lo == 14 && r.hi == 15);
        cv_consume_range_isolated(&r);
        CHECK(r.lo == 15 && r.hi == 20);

        /* a set statement of events 2..9 failed in [0,20) */
        cv_consume_range_init(&r, 20);
        CHECK(cv_consume_range_failed(&r, 2, 9) == 0);
        CHECK(r.lo == 0 && r.hi == 2);
        cv_consume_range_committed(&r);
        CHECK(r.lo == 2 && r.hi == 20);
        CHECK(cv_consume_range_failed(&r, 2, 19) == 0);
        CHECK(r.lo == 2 && r.hi == 11); /* the first half */
        cv_consume_range_committed(&r);
        /* the culprit is in 11..19: run up to the failed range's end */
        CHECK(r.lo == 11 && r.hi == 20);
        CHECK(cv_consume_range_failed(&r, 11, 12) == 0);
        CHECK(r.lo == 11 && r.hi == 12);
        CHECK(cv_consume_range_failed(&r, 11, 11) == 1);
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

int main(void)
{
    cv_log_level = CV_LOG_ERROR - 1; /* the misuse errors are expected */
    test_rows_buffered();
    test_rows_misuse();
    test_tag_events();
    test_narrow();
    printf("test_rows: %d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}
