/*
 * test_classify.c - the verdict on a failed batch transaction
 * (cv_txn_classify): given the first error of the pipeline and the
 * transaction's spans, whom does the engine blame? No connection: the
 * errors are made up as libpq would report them.
 */
#include "log.h"
#include "test.h"
#include "txn.h"

static struct cv_pg_error error_of(int tag, const char *sqlstate,
                                   const char *message)
{
    struct cv_pg_error err;

    memset(&err, 0, sizeof(err));
    err.tag = tag;
    snprintf(err.sqlstate, sizeof(err.sqlstate), "%s", sqlstate);
    snprintf(err.message, sizeof(err.message), "%s", message);
    return err;
}

static enum cv_txn_result verdict(const struct cv_ctx *ctx, int tag,
                                  const char *sqlstate, struct cv_blame *out)
{
    struct cv_pg_error err = error_of(tag, sqlstate, "boom");
    return cv_txn_classify(ctx, &err, out);
}

/* Nothing to blame: out says so, whatever it held before. */
static int blames_nobody(const struct cv_blame *b)
{
    return b->first == -1 && b->last == -1 && !b->retriable && !b->reason[0];
}

static void test_fenced(void)
{
    struct cv_ctx ctx;
    struct cv_blame b;

    memset(&ctx, 0, sizeof(ctx));
    /* the offset compare-and-set refused: a zombie */
    memset(&b, 0x55, sizeof(b));
    CHECK(verdict(&ctx, CV_TAG_CAS, CV_SQLSTATE_FENCED, &b) == CV_TXN_FENCED);
    CHECK(blames_nobody(&b));
    /* another consumer committed the batch's ids since round trip 1 */
    CHECK(verdict(&ctx, CV_TAG_INBOX, CV_SQLSTATE_UNIQUE, &b) == CV_TXN_FENCED);
    /* a unique violation of an event's own statement is that event's */
    CHECK(verdict(&ctx, 7, CV_SQLSTATE_UNIQUE, &b) == CV_TXN_EVENT);
    CHECK(b.first == 7 && b.last == 7 && !b.retriable);
    /* CV001 from anything but the compare-and-set is no fence */
    CHECK(verdict(&ctx, CV_TAG_ENGINE, CV_SQLSTATE_FENCED, &b) ==
          CV_TXN_TRANSIENT);
}

static void test_transient(void)
{
    struct cv_ctx ctx;
    struct cv_blame b;

    memset(&ctx, 0, sizeof(ctx));
    /* the connection went away under an event's statement: not its fault */
    CHECK(verdict(&ctx, 3, "", &b) == CV_TXN_TRANSIENT);
    CHECK(blames_nobody(&b));
    CHECK(verdict(&ctx, 3, "08006", &b) == CV_TXN_TRANSIENT);
    /* the engine's own statements blame no event */
    CHECK(verdict(&ctx, CV_TAG_ENGINE, "23502", &b) == CV_TXN_TRANSIENT);
    CHECK(verdict(&ctx, CV_TAG_LOOKUP, "XX000", &b) == CV_TXN_TRANSIENT);
    CHECK(verdict(&ctx, CV_TAG_CLAIM, "40001", &b) == CV_TXN_TRANSIENT);
    CHECK(verdict(&ctx, CV_TAG_CAS, "40P01", &b) == CV_TXN_TRANSIENT);
    /* a span tag this transaction never sent */
    CHECK(verdict(&ctx, CV_TAG_SPAN0, "22008", &b) == CV_TXN_TRANSIENT);
}

static void test_waited(void)
{
    static const int tags[] = {0,          41,           CV_TAG_ENGINE,
                               CV_TAG_CAS, CV_TAG_INBOX, CV_TAG_SPAN0};
    struct cv_ctx ctx;
    struct cv_blame b;

    memset(&ctx, 0, sizeof(ctx));
    cv_txn_span_add(&ctx, 0, 9);
    /* a wait is nobody's fault, whichever statement hit it */
    for (size_t i = 0; i < CV_ARRAY_SIZE(tags); i++) {
        CHECK(verdict(&ctx, tags[i], CV_SQLSTATE_LOCK_TIMEOUT, &b) ==
              CV_TXN_WAITED);
        CHECK(blames_nobody(&b));
        CHECK(verdict(&ctx, tags[i], CV_SQLSTATE_QUERY_CANCELED, &b) ==
              CV_TXN_WAITED);
    }
    cv_txn_reset(&ctx);
}

static void test_events(void)
{
    struct cv_ctx ctx;
    struct cv_blame b;
    struct cv_pg_error err;
    int span;

    memset(&ctx, 0, sizeof(ctx));
    /* an event's own statement: that event, with the error as reason */
    err = error_of(12, "23502", "null value in column \"email\"");
    CHECK(cv_txn_classify(&ctx, &err, &b) == CV_TXN_EVENT);
    CHECK(b.first == 12 && b.last == 12);
    CHECK(!b.retriable);
    CHECK_STR(b.reason, "SQLSTATE 23502: null value in column \"email\"");
    /* class 40 (serialization failure, deadlock) may pass next time */
    CHECK(verdict(&ctx, 12, "40001", &b) == CV_TXN_EVENT);
    CHECK(b.retriable);
    CHECK(verdict(&ctx, 12, "40P01", &b) == CV_TXN_EVENT);
    CHECK(b.retriable);

    /* a set statement: every event whose rows it carried */
    cv_txn_span_add(&ctx, 0, 249);
    span = cv_txn_span_add(&ctx, 250, 1249);
    CHECK(verdict(&ctx, span, "22008", &b) == CV_TXN_EVENT);
    CHECK(b.first == 250 && b.last == 1249 && !b.retriable);
    CHECK(verdict(&ctx, CV_TAG_SPAN0, "22008", &b) == CV_TXN_EVENT);
    CHECK(b.first == 0 && b.last == 249);
    /* but not when the connection broke while it ran */
    CHECK(verdict(&ctx, span, "08003", &b) == CV_TXN_TRANSIENT);
    cv_txn_reset(&ctx);
}

int main(void)
{
    cv_log_level = CV_LOG_ERROR - 1;
    test_fenced();
    test_transient();
    test_waited();
    test_events();
    printf("test_classify: %d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}
