/*
 * test_txn.c - the batch transaction's buffers: how cv_sql_rows() buffers a
 * batch's rows as array literals, and which events a statement's tag
 * blames (the narrowing of a failing set statement is test_bisect.c's,
 * the verdict on an error test_classify.c's).
 *
 * Sending the statements needs Postgres; tests/integration covers that.
 */
#include "handler.h"
#include "log.h"
#include "test.h"
#include "txn.h"

static const char *const SET_A =
    "INSERT INTO t (a, b) SELECT * FROM unnest($1::text[], $2::text[])";
static const char *const SET_B = "INSERT INTO u (c) SELECT unnest($1::int[])";

static void test_rows_buffered(void)
{
    struct cv_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.domain = "test";
    ctx.tag = 3;
    cv_sql_rows(&ctx, SET_A, 2, (const char *[]){"x", NULL});
    ctx.tag = 4;
    cv_sql_rows(&ctx, SET_B, 1, (const char *[]){"7"});
    ctx.tag = 5;
    /* quotes, backslashes, braces, commas and the text "NULL" survive */
    cv_sql_rows(&ctx, SET_A, 2, (const char *[]){"q\"uo\\te", "{a,b} NULL"});
    cv_sql_rows(&ctx, SET_A, 2, (const char *[]){"", "NULL"});

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
        cv_sql_rows(&ctx, copy, 1, (const char *[]){"8"});
        CHECK(ctx.nsets == 2);
        CHECK_STR(ctx.sets[1].col[0].buf, "{\"7\",\"8\"}");
    }
    CHECK(!ctx.misused);

    cv_txn_reset(&ctx);
    CHECK(ctx.nsets == 0 && ctx.sets == NULL && ctx.nspans == 0);
    /* usable again after a reset */
    cv_sql_rows(&ctx, SET_B, 1, (const char *[]){"9"});
    CHECK_STR(ctx.sets[0].col[0].buf, "{\"9\"}");
    cv_txn_reset(&ctx);
}

static void test_rows_misuse(void)
{
    struct cv_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.domain = "test";
    ctx.tag = 0;
    cv_sql_rows(&ctx, SET_A, 2, (const char *[]){"a", "b"});
    /* a row with another column count than the set's: the event fails */
    cv_sql_rows(&ctx, SET_A, 3, (const char *[]){"a", "b", "c"});
    CHECK(ctx.misused);
    CHECK_CONTAINS(ctx.reason, "ncols");
    CHECK(ctx.sets[0].nrows == 1); /* the bad row was not added */
    cv_txn_reset(&ctx);
    CHECK(!ctx.misused);

    cv_sql_rows(&ctx, SET_B, 0, NULL);
    CHECK(ctx.misused);
    cv_sql_rows(&ctx, SET_B, CV_SQL_ROWS_MAX_COLS + 1, NULL);
    CHECK(ctx.nsets == 0);
    cv_txn_reset(&ctx);
}

/* Misuses of the other front doors are recorded the same way, before
 * anything is queued (there is no connection here to queue on). */
static void test_misuse_recorded(void)
{
    struct cv_topology topo;
    struct cv_ctx ctx;
    char *value = (char *)"stale";

    memset(&topo, 0, sizeof(topo)); /* declares no event type */
    memset(&ctx, 0, sizeof(ctx));
    ctx.domain = "test";
    ctx.topo = &topo;
    cv_sql_exec(&ctx, NULL, 0, NULL);
    CHECK(ctx.misused);
    CHECK_CONTAINS(ctx.reason, "cv_sql_exec");
    cv_txn_reset(&ctx);

    cv_sql_exec(&ctx, "SELECT $1", 1, NULL);
    CHECK(ctx.misused);
    cv_txn_reset(&ctx);

    CHECK(cv_sql_query_value(&ctx, "SELECT 1", 0, NULL, NULL) == CV_ERR);
    CHECK(ctx.misused);
    cv_txn_reset(&ctx);
    CHECK(cv_sql_query_value(&ctx, NULL, 0, NULL, &value) == CV_ERR);
    CHECK(ctx.misused && value == NULL);
    cv_txn_reset(&ctx);

    /* an event type the topology does not declare: the event fails, and
     * the rest of the emit is harmless */
    struct cv_record *rec = cv_emit_new(&ctx, "no.such.type");
    CHECK(rec == NULL);
    CHECK(ctx.misused);
    CHECK_CONTAINS(ctx.reason, "no.such.type");
    CHECK(cv_record_set_string(rec, "field", "x") == CV_ERR);
    CHECK(cv_emit_send(&ctx, rec, "key") == CV_ERR);
    CHECK_CONTAINS(ctx.reason, "no.such.type"); /* the first misuse stays */
    CHECK(ctx.outbox_rows == 0);
    cv_txn_reset(&ctx);
    CHECK(!ctx.misused);
}

static void test_tag_events(void)
{
    static const int engine[] = {CV_TAG_ENGINE, CV_TAG_CAS, CV_TAG_INBOX,
                                 CV_TAG_CLAIM, CV_TAG_LOOKUP};
    struct cv_ctx ctx;
    int first = -9, last = -9, a, b;

    memset(&ctx, 0, sizeof(ctx));
    CHECK(cv_txn_tag_events(&ctx, 12, &first, &last));
    CHECK(first == 12 && last == 12);
    /* the engine's own statements blame no event */
    for (size_t i = 0; i < CV_ARRAY_SIZE(engine); i++)
        CHECK(!cv_txn_tag_events(&ctx, engine[i], &first, &last));
    /* a span tag the transaction never handed out */
    CHECK(!cv_txn_tag_events(&ctx, CV_TAG_SPAN0, &first, &last));

    /* set statements sent for events 0..499, then 500..999 */
    a = cv_txn_span_add(&ctx, 0, 499);
    b = cv_txn_span_add(&ctx, 500, 999);
    CHECK(a == CV_TAG_SPAN0 && b == CV_TAG_SPAN0 - 1);
    CHECK(cv_txn_tag_events(&ctx, b, &first, &last));
    CHECK(first == 500 && last == 999);
    CHECK(cv_txn_tag_events(&ctx, a, &first, &last));
    CHECK(first == 0 && last == 499);
    CHECK(!cv_txn_tag_events(&ctx, CV_TAG_SPAN0 - 2, &first, &last));
    /* the engine's tags stay out of the span space */
    for (size_t i = 0; i < CV_ARRAY_SIZE(engine); i++)
        CHECK(engine[i] > CV_TAG_SPAN0);
    cv_txn_reset(&ctx);
    CHECK(!cv_txn_tag_events(&ctx, a, &first, &last));
}

int main(void)
{
    cv_log_level = CV_LOG_ERROR - 1; /* the misuse errors are expected */
    test_rows_buffered();
    test_rows_misuse();
    test_misuse_recorded();
    test_tag_events();
    printf("test_txn: %d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}
