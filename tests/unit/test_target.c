/*
 * test_target.c - a target's verdict on answers, Retry-After, the form
 * encoding Stripe reads, the rate limiter, and the environment lookups.
 */
#include <stdlib.h>

#include "target.h"
#include "test.h"

static struct cv_target stripe(void)
{
    struct cv_target t;
    memset(&t, 0, sizeof(t));
    t.name = "stripe";
    t.base_url = "https://api.stripe.com";
    t.base_url_env = "TEST_TARGET_STRIPE_URL";
    t.auth = CV_AUTH_BEARER;
    t.secret_env = "TEST_TARGET_STRIPE_KEY";
    t.kill_switch_env = "TEST_TARGET_KILL";
    return t;
}

static enum cv_verdict judge(const struct cv_target *t, long status,
                             const char *retry_after, const char *should,
                             const char *body, int64_t *delay)
{
    struct cv_answer a = {0, NULL, status, retry_after, should, body};
    char why[256];
    return cv_target_judge(t, &a, 1000000, delay, why, sizeof(why));
}

static void test_verdicts(void)
{
    struct cv_target t = stripe(), mv;
    struct cv_answer refused = {
        7, "Couldn't connect to server", 0, NULL, NULL, NULL};
    int64_t d;
    char why[256];

    CHECK(judge(&t, 200, NULL, NULL, "{}", &d) == CV_VERDICT_OK && d == 0);
    CHECK(judge(&t, 201, NULL, NULL, NULL, &d) == CV_VERDICT_OK);
    CHECK(judge(&t, 400, NULL, NULL, "{}", &d) == CV_VERDICT_FINAL);
    CHECK(judge(&t, 401, NULL, NULL, NULL, &d) == CV_VERDICT_FINAL);
    CHECK(judge(&t, 404, NULL, NULL, NULL, &d) == CV_VERDICT_FINAL);
    CHECK(judge(&t, 409, NULL, NULL, NULL, &d) == CV_VERDICT_RETRY);
    CHECK(judge(&t, 429, "7", NULL, NULL, &d) == CV_VERDICT_RETRY && d == 7000);
    CHECK(judge(&t, 500, NULL, NULL, NULL, &d) == CV_VERDICT_RETRY && d == 0);
    CHECK(judge(&t, 503, "2", NULL, NULL, &d) == CV_VERDICT_RETRY && d == 2000);
    /* Stripe-Should-Retry decides */
    CHECK(judge(&t, 400, NULL, "true", NULL, &d) == CV_VERDICT_RETRY);
    CHECK(judge(&t, 500, NULL, "false", NULL, &d) == CV_VERDICT_FINAL);
    CHECK(judge(&t, 409, NULL, "false", NULL, &d) == CV_VERDICT_FINAL);
    /* a final answer's Retry-After asks for nothing */
    CHECK(judge(&t, 400, "30", NULL, NULL, &d) == CV_VERDICT_FINAL && d == 0);
    /* no answer at all */
    CHECK(cv_target_judge(&t, &refused, 0, &d, why, sizeof(why)) ==
          CV_VERDICT_RETRY);
    CHECK_CONTAINS(why, "Couldn't connect");

    /* MillionVerifier: errors come as HTTP 200 with result "error" */
    mv = t;
    mv.error_field = "result";
    mv.error_value = "error";
    CHECK(judge(&mv, 200, NULL, NULL,
                "{\"result\":\"error\",\"error\":\"Insufficient credits\"}",
                &d) == CV_VERDICT_RETRY);
    CHECK(judge(&mv, 200, NULL, NULL, "{\"result\":\"ok\",\"credits\":9}",
                &d) == CV_VERDICT_OK);
    CHECK(judge(&mv, 200, NULL, NULL, "not json", &d) == CV_VERDICT_OK);
    CHECK(judge(&mv, 200, NULL, NULL, "[1,2]", &d) == CV_VERDICT_OK);
    CHECK(judge(&t, 200, NULL, NULL, "{\"result\":\"error\"}", &d) ==
          CV_VERDICT_OK); /* no body check configured */
}

static void test_retry_after(void)
{
    int64_t now = (int64_t)1445412480 * 1000; /* Wed, 21 Oct 2015 07:28 */
    CHECK(cv_retry_after_ms("120", now) == 120000);
    CHECK(cv_retry_after_ms(" 0 ", now) == 0);
    CHECK(cv_retry_after_ms("Wed, 21 Oct 2015 07:28:30 GMT", now) == 30000);
    CHECK(cv_retry_after_ms("Wed, 21 Oct 2015 07:27:00 GMT", now) == 0);
    CHECK(cv_retry_after_ms("-5", now) == -1);
    CHECK(cv_retry_after_ms("12abc", now) == -1);
    CHECK(cv_retry_after_ms("soon", now) == -1);
    CHECK(cv_retry_after_ms(NULL, now) == -1);
    CHECK(cv_retry_after_ms("99999999999", now) == 86400LL * 365 * 1000);
}

static void test_form(void)
{
    char errstr[256];
    char *f;

    f = cv_form_encode("{\"amount\":2500,\"currency\":\"usd\","
                       "\"destination\":\"acct_1\",\"metadata\":"
                       "{\"payout_id\":\"p 1&2\"},\"tags\":[\"a\",\"b\"],"
                       "\"skip\":null,\"flag\":true,\"rate\":0.5}",
                       errstr, sizeof(errstr));
    CHECK_STR(f, "amount=2500&currency=usd&destination=acct_1&"
                 "metadata%5Bpayout_id%5D=p%201%262&tags%5B0%5D=a&"
                 "tags%5B1%5D=b&flag=true&rate=0.5");
    free(f);
    f = cv_form_encode("{}", errstr, sizeof(errstr));
    CHECK_STR(f, "");
    free(f);
    CHECK(cv_form_encode("[1]", errstr, sizeof(errstr)) == NULL);
    CHECK_CONTAINS(errstr, "must be a JSON object");
    CHECK(cv_form_encode("{bad", errstr, sizeof(errstr)) == NULL);
}

static void test_rate(void)
{
    struct cv_rate r;
    int64_t wait, now = 1000000;
    int taken = 0;

    cv_rate_init(&r, 10.0, 1.0, now);
    CHECK(cv_rate_take(&r, now, &wait) == 1);
    CHECK(cv_rate_take(&r, now, &wait) == 0 && wait > 99000 && wait <= 100001);
    CHECK(cv_rate_take(&r, now + 50000, &wait) == 0 && wait > 49000 &&
          wait <= 50001);
    CHECK(cv_rate_take(&r, now + 100000, &wait) == 1);
    /* over 10 s at 10/s with a burst of 1: 100 starts, never more */
    cv_rate_init(&r, 10.0, 1.0, now);
    for (int64_t t = now; t < now + 10000000; t += 1000)
        taken += cv_rate_take(&r, t, &wait);
    CHECK(taken == 100);
    /* unlimited */
    cv_rate_init(&r, 0, 1, now);
    for (int i = 0; i < 1000; i++)
        taken += cv_rate_take(&r, now, &wait);
    CHECK(taken == 1100 && wait == 0);
}

static void test_env(void)
{
    struct cv_target t = stripe();

    unsetenv("TEST_TARGET_STRIPE_URL");
    CHECK_STR(cv_target_base_url(&t), "https://api.stripe.com");
    setenv("TEST_TARGET_STRIPE_URL", "http://127.0.0.1:4242", 1);
    CHECK_STR(cv_target_base_url(&t), "http://127.0.0.1:4242");
    unsetenv("TEST_TARGET_STRIPE_KEY");
    CHECK(cv_target_secret(&t) == NULL);
    setenv("TEST_TARGET_STRIPE_KEY", "sk_test_x", 1);
    CHECK_STR(cv_target_secret(&t), "sk_test_x");
    t.auth = CV_AUTH_NONE;
    CHECK(cv_target_secret(&t) == NULL);
    unsetenv("TEST_TARGET_KILL");
    CHECK(!cv_target_env_paused(&t));
    setenv("TEST_TARGET_KILL", "TRUE", 1);
    CHECK(cv_target_env_paused(&t));
    setenv("TEST_TARGET_KILL", "0", 1);
    CHECK(!cv_target_env_paused(&t));
}

int main(void)
{
    test_verdicts();
    test_retry_after();
    test_form();
    test_rate();
    test_env();
    TEST_DONE();
}
