/*
 * test_schedule.c - which fire times a schedule fires, catches up or skips;
 * its event ids and events; the simulated clock.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "cron.h"
#include "event.h"
#include "schedule.h"
#include "schema.h"
#include "test.h"
#include "tz.h"

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    if (cv_rfc3339_parse(rfc3339, strlen(rfc3339), &ms) != CV_OK) {
        fprintf(stderr, "bad time in test: %s\n", rfc3339);
        exit(2);
    }
    return ms;
}

static void make(struct cv_topo_schedule *s, const char *cron, int catch_up,
                 int window_s)
{
    char err[256];

    memset(s, 0, sizeof(*s));
    s->name = "hourly";
    s->cron_expr = (char *)cron;
    s->zone = "UTC";
    s->payload = "{}";
    s->catch_up = catch_up;
    s->catch_up_window_s = window_s;
    s->enabled = 1;
    if (cv_cron_parse(cron, &s->cron, err, sizeof(err)) != 0 ||
        cv_tz_load("UTC", &s->tz, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}

static void unmake(struct cv_topo_schedule *s)
{
    cv_cron_free(s->cron);
    cv_tz_free(s->tz);
}

/* kinds as a string, one letter per fire: S scheduled, C catch-up, K
 * skipped */
static const char *kinds(const struct cv_fire *f, size_t n)
{
    static char buf[64];
    size_t i;

    for (i = 0; i < n && i < sizeof(buf) - 1; i++)
        buf[i] = f[i].kind == CV_RUN_SCHEDULED  ? 'S'
                 : f[i].kind == CV_RUN_CATCH_UP ? 'C'
                 : f[i].kind == CV_RUN_SKIPPED  ? 'K'
                                                : '?';
    buf[i] = '\0';
    return buf;
}

static void test_on_time(void)
{
    struct cv_topo_schedule s;
    struct cv_fire f[16];
    size_t n;

    make(&s, "0 * * * *", CV_CATCH_UP_ALL, 86400);
    n = cv_schedule_due(&s, at("2026-01-01T00:00:00Z"),
                        at("2026-01-01T00:59:59Z"), 60000, 0, f, 16);
    CHECK(n == 0);
    n = cv_schedule_due(&s, at("2026-01-01T00:00:00Z"),
                        at("2026-01-01T01:00:00Z"), 60000, 0, f, 16);
    CHECK(n == 1);
    CHECK(f[0].fire_ms == at("2026-01-01T01:00:00Z"));
    CHECK_STR(kinds(f, n), "S");
    /* the cursor is exclusive: a fire at the cursor is not due again */
    n = cv_schedule_due(&s, at("2026-01-01T01:00:00Z"),
                        at("2026-01-01T01:00:50Z"), 60000, 0, f, 16);
    CHECK(n == 0);
    /* a cursor between minutes */
    n = cv_schedule_due(&s, at("2026-01-01T00:59:59.999Z"),
                        at("2026-01-01T01:00:01Z"), 60000, 0, f, 16);
    CHECK(n == 1);
    unmake(&s);
}

static void test_policies(void)
{
    struct cv_topo_schedule s;
    struct cv_fire f[16];
    int64_t cur = at("2026-01-01T00:00:00Z"), now = at("2026-01-01T05:00:30Z");
    size_t n;

    /* five hours down: 01..04 missed, 05:00 is 30 s late (on time) */
    make(&s, "0 * * * *", CV_CATCH_UP_ALL, 86400);
    n = cv_schedule_due(&s, cur, now, 60000, 0, f, 16);
    CHECK(n == 5);
    CHECK_STR(kinds(f, n), "CCCCS");
    CHECK(f[0].fire_ms == at("2026-01-01T01:00:00Z"));
    CHECK(f[4].fire_ms == at("2026-01-01T05:00:00Z"));
    CHECK(f[0].reason == NULL);

    s.catch_up = CV_CATCH_UP_LATEST;
    n = cv_schedule_due(&s, cur, now, 60000, 0, f, 16);
    CHECK_STR(kinds(f, n), "KKKCS");
    CHECK_CONTAINS(f[0].reason, "latest");
    CHECK(f[3].fire_ms == at("2026-01-01T04:00:00Z"));

    s.catch_up = CV_CATCH_UP_NONE;
    n = cv_schedule_due(&s, cur, now, 60000, 0, f, 16);
    CHECK_STR(kinds(f, n), "KKKKS");
    CHECK_CONTAINS(f[3].reason, "none");

    /* window 7200 s: 03:00 is 2 h 0 m 30 s old, outside */
    s.catch_up = CV_CATCH_UP_ALL;
    s.catch_up_window_s = 7200;
    n = cv_schedule_due(&s, cur, now, 60000, 0, f, 16);
    CHECK_STR(kinds(f, n), "KKKCS");
    CHECK_CONTAINS(f[2].reason, "window");

    /* latest whose newest missed fire is outside the window */
    s.catch_up = CV_CATCH_UP_LATEST;
    s.catch_up_window_s = 600;
    n = cv_schedule_due(&s, cur, now, 60000, 0, f, 16);
    CHECK_STR(kinds(f, n), "KKKKS");

    /* a larger late_after makes 04:00 (1 h 0 m 30 s late) on time */
    s.catch_up_window_s = 86400;
    n = cv_schedule_due(&s, cur, now, 3700000, 0, f, 16);
    CHECK_STR(kinds(f, n), "KKCSS");

    /* disabled and paused: every fire recorded as skipped, with why */
    s.enabled = 0;
    n = cv_schedule_due(&s, cur, now, 60000, 0, f, 16);
    CHECK_STR(kinds(f, n), "KKKKK");
    CHECK_STR(f[4].reason, "disabled");
    s.enabled = 1;
    n = cv_schedule_due(&s, cur, now, 60000, 1, f, 16);
    CHECK_STR(kinds(f, n), "KKKKK");
    CHECK_STR(f[0].reason, "paused");
    unmake(&s);
}

/* max splits the work; going on from the last fire gives the same answer
 * as one call, `latest` included */
static void test_split(void)
{
    struct cv_topo_schedule s;
    struct cv_fire f[16], g[16];
    int64_t cur = at("2026-01-01T00:00:00Z"), now = at("2026-01-01T05:00:30Z");
    size_t n, m, k = 0;

    make(&s, "0 * * * *", CV_CATCH_UP_LATEST, 86400);
    n = cv_schedule_due(&s, cur, now, 60000, 0, f, 16);
    while (k < n) {
        m = cv_schedule_due(&s, cur, now, 60000, 0, g, 2);
        CHECK(m >= 1 && m <= 2);
        for (size_t i = 0; i < m; i++, k++) {
            CHECK(g[i].fire_ms == f[k].fire_ms);
            CHECK(g[i].kind == f[k].kind);
        }
        cur = g[m - 1].fire_ms;
    }
    CHECK(k == 5);
    unmake(&s);
}

static void test_event_id(void)
{
    char id[128];

    cv_schedule_event_id("weeklyPartnerPayouts", at("2026-11-23T02:00:00Z"), id,
                         sizeof(id));
    CHECK_STR(id, "weeklyPartnerPayouts@2026-11-23T02:00:00.000Z");
    CHECK_STR(cv_run_kind_name(CV_RUN_CATCH_UP), "catch_up");
    CHECK_STR(cv_run_kind_name(CV_RUN_MANUAL), "manual");
}

static void test_encode(void)
{
    struct cv_catalogue *cat;
    const struct cv_schema *sch;
    struct cv_topo_schedule s;
    struct cv_decoder *dec;
    char err[512], *out = NULL;
    size_t len = 0;
    avro_value_t *rec;
    const struct cv_schema *got;
    const char *str;
    int64_t v;
    int32_t i32;

    cat = cv_catalogue_load("schemas", err, sizeof(err));
    if (!cat) {
        fprintf(stderr, "%s\n", err);
        CHECK(0);
        return;
    }
    sch = cv_catalogue_by_name(cat, "marketplace.VerificationQueueDue");
    CHECK(sch != NULL);
    make(&s, "*/5 * * * *", CV_CATCH_UP_LATEST, 3600);
    s.name = "processEmailVerificationQueue";
    s.payload = "{\"batch_size\": 50, \"max_attempts\": 3}";
    CHECK(cv_schedule_encode(&s, sch, at("2026-03-01T10:05:00Z"),
                             CV_RUN_CATCH_UP, &out, &len, err,
                             sizeof(err)) == CV_OK);
    dec = cv_decoder_new(cat);
    CHECK(cv_decoder_decode(dec, out, len, &got, &rec, err, sizeof(err)) ==
          CV_OK);
    CHECK(cv_value_get_string(rec, "schedule", &str, NULL) == CV_OK);
    CHECK_STR(str, "processEmailVerificationQueue");
    CHECK(cv_value_get_long(rec, "fire_time", &v) == CV_OK);
    CHECK(v == at("2026-03-01T10:05:00Z"));
    CHECK(cv_value_get_string(rec, "run", &str, NULL) == CV_OK);
    CHECK_STR(str, "catch_up");
    CHECK(cv_value_get_int(rec, "batch_size", &i32) == CV_OK);
    CHECK(i32 == 50);
    free(out);
    cv_decoder_destroy(dec);

    /* the payload's own mistakes name the field */
    s.payload = "{\"batch_size\": \"fifty\", \"max_attempts\": 3}";
    CHECK(cv_schedule_encode(&s, sch, 0, CV_RUN_SCHEDULED, &out, &len, err,
                             sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "batch_size");
    s.payload = "{\"max_attempts\": 3}";
    CHECK(cv_schedule_encode(&s, sch, 0, CV_RUN_SCHEDULED, &out, &len, err,
                             sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "batch_size");
    s.payload = "[1]";
    CHECK(cv_schedule_encode(&s, sch, 0, CV_RUN_SCHEDULED, &out, &len, err,
                             sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "JSON object");
    s.payload = "{\"batch_size\": 5";
    CHECK(cv_schedule_encode(&s, sch, 0, CV_RUN_SCHEDULED, &out, &len, err,
                             sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "not JSON");
    unmake(&s);
    cv_catalogue_destroy(cat);
}

static void test_clock(void)
{
    struct cv_clock c;
    char err[256];
    char spec[128];
    int64_t now, real = cv_wall_ms();

    CHECK(cv_clock_parse("system", &c, err, sizeof(err)) == CV_OK);
    CHECK(!c.simulated);
    now = cv_clock_now_ms(&c);
    CHECK(now >= real && now - real < 5000);

    /* one real second ago the simulation was at 2026-01-01; at x3600 it
     * is now about an hour later */
    snprintf(spec, sizeof(spec), "sim:2026-01-01T00:00:00Z@%lldx3600",
             (long long)(real - 1000));
    CHECK(cv_clock_parse(spec, &c, err, sizeof(err)) == CV_OK);
    CHECK(c.simulated && c.speed == 3600);
    now = cv_clock_now_ms(&c);
    CHECK(now >= at("2026-01-01T01:00:00Z"));
    CHECK(now < at("2026-01-01T06:00:00Z"));
    /* an instant an hour ahead on this clock is a real second away */
    CHECK(cv_clock_real_wait_ms(&c, now + 3600000, 100000) <= 1000);
    CHECK(cv_clock_real_wait_ms(&c, now + 3600000, 10) == 10);
    CHECK(cv_clock_real_wait_ms(&c, now - 1, 1000) == 0);

    CHECK(cv_clock_parse("monotonic", &c, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "expected \"system\"");
    CHECK(cv_clock_parse("sim:2026-13-01T00:00:00Z@0x10", &c, err,
                         sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "RFC 3339");
    CHECK(cv_clock_parse("sim:2026-01-01T00:00:00Z@abcx10", &c, err,
                         sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "real epoch");
    CHECK(cv_clock_parse("sim:2026-01-01T00:00:00Z@0x0", &c, err,
                         sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "speed");
    CHECK(cv_clock_parse("sim:2026-01-01T00:00:00Z", &c, err, sizeof(err)) ==
          CV_ERR);
}

int main(void)
{
    test_on_time();
    test_policies();
    test_split();
    test_event_id();
    test_encode();
    test_clock();
    TEST_DONE();
}
