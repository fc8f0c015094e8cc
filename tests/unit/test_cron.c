/*
 * test_cron.c - cron expressions: every syntax element and macro, the
 * L/W/# extensions, the Vixie day rule, error messages with field and
 * column, next-fire tables written by hand for UTC and across the 2026 DST
 * changes of New York, Sydney, Lord Howe, Santiago and London, a property
 * test over many expressions x zones x start instants, speed, and sharing
 * parsed objects between threads.
 *
 * Expected fire times are literal strings worked out by hand from the
 * calendar and the zones' rules (the transitions agree with zdump); the
 * code under test only formats its own answers for comparison.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "test.h"
#include "tz.h"

static char err[512];

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* "2026-03-08T03:00:00-04:00" or "...Z" -> unix seconds (test_tz checks
 * cv_days_from_civil against literal timestamps). */
static int64_t at(const char *iso)
{
    int y, mo, d, h, mi, s, oh = 0, om = 0, n = 0;
    int64_t off;

    if (sscanf(iso, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6) {
        fprintf(stderr, "bad test time %s\n", iso);
        exit(2);
    }
    if (iso[n] == '+' || iso[n] == '-')
        sscanf(iso + n + 1, "%d:%d", &oh, &om);
    off = (iso[n] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    return cv_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
           mi * 60 + s - off;
}

static cv_cron *parse(const char *expr)
{
    cv_cron *c = NULL;

    if (cv_cron_parse(expr, &c, err, sizeof(err)) != CV_OK) {
        fprintf(stderr, "cannot parse \"%s\": %s\n", expr, err);
        exit(2);
    }
    return c;
}

static cv_tz *zone(const char *name)
{
    cv_tz *tz = NULL;

    if (cv_tz_load(name, &tz, err, sizeof(err)) != CV_OK) {
        fprintf(stderr, "cannot load %s: %s\n", name, err);
        exit(2);
    }
    return tz;
}

/*
 * The fires of expr in zone after start, one after the other, must be the
 * strings in want (NULL-terminated).
 */
static void seq(const char *expr, const char *zname, const char *start,
                const char *const *want)
{
    cv_cron *c = parse(expr);
    cv_tz *tz = zone(zname);
    int64_t t = at(start), next;
    char buf[64];

    for (int i = 0; want[i]; i++) {
        if (cv_cron_next(c, tz, t, &next) != CV_OK) {
            test_failed++;
            fprintf(stderr, "\"%s\" in %s after %s: no fire, expected %s\n",
                    expr, zname, start, want[i]);
            break;
        }
        cv_tz_format(tz, next, buf, sizeof(buf));
        if (strcmp(buf, want[i]) != 0)
            fprintf(stderr, "\"%s\" in %s after %s: fire %d:\n", expr, zname,
                    start, i + 1);
        CHECK_STR(buf, want[i]);
        t = next;
    }
    cv_cron_free(c);
    cv_tz_free(tz);
}

#define SEQ(expr, zone, start, ...)                                            \
    seq(expr, zone, start, (const char *const[]){__VA_ARGS__, NULL})

static void never(const char *expr, const char *start)
{
    cv_cron *c = parse(expr);
    cv_tz *tz = zone("UTC");
    int64_t next = 12345;

    CHECK(cv_cron_next(c, tz, at(start), &next) == CV_ERR);
    cv_cron_free(c);
    cv_tz_free(tz);
}

/* ------------------------------------------------------------------ */
/* syntax, in UTC                                                      */

static void test_fields(void)
{
    SEQ("*/15 * * * *", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00",
        "2026-01-01T00:45:00+00:00", "2026-01-01T01:00:00+00:00");
    /* strictly after, from any second */
    SEQ("*/15 * * * *", "UTC", "2026-01-01T00:14:59Z",
        "2026-01-01T00:15:00+00:00");
    SEQ("*/15 * * * *", "UTC", "2026-01-01T00:15:01Z",
        "2026-01-01T00:30:00+00:00");
    SEQ("* * * * *", "UTC", "2026-12-31T23:59:00Z", "2027-01-01T00:00:00+00:00",
        "2027-01-01T00:01:00+00:00");
    SEQ("5/10 * * * *", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-01T00:05:00+00:00", "2026-01-01T00:15:00+00:00",
        "2026-01-01T00:25:00+00:00", "2026-01-01T00:35:00+00:00",
        "2026-01-01T00:45:00+00:00", "2026-01-01T00:55:00+00:00",
        "2026-01-01T01:05:00+00:00");
    SEQ("1-30/5 * * * *", "UTC", "2026-01-01T00:26:00Z",
        "2026-01-01T01:01:00+00:00", "2026-01-01T01:06:00+00:00",
        "2026-01-01T01:11:00+00:00");
    SEQ("0,30 9-10 * * *", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-01T09:00:00+00:00", "2026-01-01T09:30:00+00:00",
        "2026-01-01T10:00:00+00:00", "2026-01-01T10:30:00+00:00",
        "2026-01-02T09:00:00+00:00");
    SEQ("0 */6 * * *", "UTC", "2026-01-01T05:00:00Z",
        "2026-01-01T06:00:00+00:00", "2026-01-01T12:00:00+00:00",
        "2026-01-01T18:00:00+00:00", "2026-01-02T00:00:00+00:00");
    SEQ("15 14 1 * *", "UTC", "2026-01-01T14:15:00Z",
        "2026-02-01T14:15:00+00:00", "2026-03-01T14:15:00+00:00");
    SEQ("59 23 31 12 *", "UTC", "2026-06-01T00:00:00Z",
        "2026-12-31T23:59:00+00:00", "2027-12-31T23:59:00+00:00");
    /* blanks: tabs and runs of spaces */
    SEQ("  0\t12  * *\t*  ", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-01T12:00:00+00:00");
}

static void test_names(void)
{
    SEQ("0 0 1 jan,Jul *", "UTC", "2026-01-01T00:00:00Z",
        "2026-07-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00",
        "2027-07-01T00:00:00+00:00");
    SEQ("0 0 1 JAN-MAR *", "UTC", "2026-02-15T00:00:00Z",
        "2026-03-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00",
        "2027-02-01T00:00:00+00:00");
    SEQ("0 0 1 jan-dec/3 *", "UTC", "2026-01-01T00:00:00Z",
        "2026-04-01T00:00:00+00:00", "2026-07-01T00:00:00+00:00",
        "2026-10-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00");
    /* 2026-01-02 is a Friday */
    SEQ("0 12 * * mon-FRI", "UTC", "2026-01-02T12:00:00Z",
        "2026-01-05T12:00:00+00:00", "2026-01-06T12:00:00+00:00",
        "2026-01-07T12:00:00+00:00", "2026-01-08T12:00:00+00:00",
        "2026-01-09T12:00:00+00:00", "2026-01-12T12:00:00+00:00");
    /* Sunday is 0, 7 and SUN; FRI-SUN wraps to 5-7 */
    SEQ("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00+00:00",
        "2026-01-11T00:00:00+00:00");
    SEQ("0 0 * * 0", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00+00:00",
        "2026-01-11T00:00:00+00:00");
    SEQ("0 0 * * sun", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-04T00:00:00+00:00", "2026-01-11T00:00:00+00:00");
    SEQ("0 0 * * FRI-SUN", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00",
        "2026-01-04T00:00:00+00:00", "2026-01-09T00:00:00+00:00");
    SEQ("0 0 * * 5-7", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00",
        "2026-01-04T00:00:00+00:00", "2026-01-09T00:00:00+00:00");
    SEQ("0 0 * * 6,7", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-03T00:00:00+00:00", "2026-01-04T00:00:00+00:00",
        "2026-01-10T00:00:00+00:00");
    /* a step over weekdays: Sunday, Tuesday, Thursday, Saturday */
    SEQ("0 0 * * */2", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-03T00:00:00+00:00", "2026-01-04T00:00:00+00:00",
        "2026-01-06T00:00:00+00:00", "2026-01-08T00:00:00+00:00",
        "2026-01-10T00:00:00+00:00", "2026-01-11T00:00:00+00:00");
}

/* Vixie: both day fields restricted -> either matches; else both. */
static void test_day_rule(void)
{
    /* the 13th (Tuesday 2026-01-13) or any Friday */
    SEQ("0 0 13 * FRI", "UTC", "2026-01-09T00:00:00Z",
        "2026-01-13T00:00:00+00:00", "2026-01-16T00:00:00+00:00",
        "2026-01-23T00:00:00+00:00", "2026-01-30T00:00:00+00:00",
        "2026-02-06T00:00:00+00:00", "2026-02-13T00:00:00+00:00",
        "2026-02-20T00:00:00+00:00");
    /* days 1-7 or Mondays */
    SEQ("0 0 1-7 * MON", "UTC", "2026-01-07T00:00:00Z",
        "2026-01-12T00:00:00+00:00", "2026-01-19T00:00:00+00:00",
        "2026-01-26T00:00:00+00:00", "2026-02-01T00:00:00+00:00",
        "2026-02-02T00:00:00+00:00", "2026-02-03T00:00:00+00:00");
    /* day-of-month starts with '*': odd days that are Mondays */
    SEQ("0 0 */2 * MON", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-05T00:00:00+00:00", "2026-01-19T00:00:00+00:00",
        "2026-02-09T00:00:00+00:00", "2026-02-23T00:00:00+00:00",
        "2026-03-09T00:00:00+00:00", "2026-03-23T00:00:00+00:00");
    /* day-of-week starts with '*': the 13th only */
    SEQ("0 0 13 * *", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-13T00:00:00+00:00", "2026-02-13T00:00:00+00:00");
    SEQ("0 0 13 * */1", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-13T00:00:00+00:00", "2026-02-13T00:00:00+00:00");
    /* last day of the month or last Friday */
    SEQ("0 0 L * 5L", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-30T00:00:00+00:00", "2026-01-31T00:00:00+00:00",
        "2026-02-27T00:00:00+00:00", "2026-02-28T00:00:00+00:00");
}

static void test_extensions(void)
{
    SEQ("0 0 L * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-31T00:00:00+00:00",
        "2026-02-28T00:00:00+00:00", "2026-03-31T00:00:00+00:00",
        "2026-04-30T00:00:00+00:00");
    SEQ("0 0 L 2 *", "UTC", "2027-03-01T00:00:00Z", "2028-02-29T00:00:00+00:00",
        "2029-02-28T00:00:00+00:00");
    SEQ("0 0 L-3 * *", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-28T00:00:00+00:00", "2026-02-25T00:00:00+00:00",
        "2026-03-28T00:00:00+00:00");
    SEQ("0 0 1,L * *", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-31T00:00:00+00:00", "2026-02-01T00:00:00+00:00",
        "2026-02-28T00:00:00+00:00", "2026-03-01T00:00:00+00:00");
    /* last weekday: Jan 31 and Feb 28 are Saturdays, May 31 a Sunday */
    SEQ("0 12 LW * *", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-30T12:00:00+00:00", "2026-02-27T12:00:00+00:00",
        "2026-03-31T12:00:00+00:00", "2026-04-30T12:00:00+00:00",
        "2026-05-29T12:00:00+00:00");
    /* first business day: Feb 1 and Mar 1 are Sundays, Aug 1 a Saturday */
    SEQ("0 9 1W * *", "UTC", "2026-01-01T09:00:00Z",
        "2026-02-02T09:00:00+00:00", "2026-03-02T09:00:00+00:00",
        "2026-04-01T09:00:00+00:00", "2026-05-01T09:00:00+00:00",
        "2026-06-01T09:00:00+00:00", "2026-07-01T09:00:00+00:00",
        "2026-08-03T09:00:00+00:00");
    /* Feb 15 and Mar 15 are Sundays, Aug 15 a Saturday */
    SEQ("0 0 15W * *", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-15T00:00:00+00:00", "2026-02-16T00:00:00+00:00",
        "2026-03-16T00:00:00+00:00", "2026-04-15T00:00:00+00:00",
        "2026-05-15T00:00:00+00:00", "2026-06-15T00:00:00+00:00",
        "2026-07-15T00:00:00+00:00", "2026-08-14T00:00:00+00:00");
    /* 31W: May 31 is a Sunday (-> Fri 29th), 30-day months are skipped,
     * Oct 31 is a Saturday (-> Fri 30th), 2027-01-31 a Sunday */
    SEQ("0 0 31W * *", "UTC", "2026-05-01T00:00:00Z",
        "2026-05-29T00:00:00+00:00", "2026-07-31T00:00:00+00:00",
        "2026-08-31T00:00:00+00:00", "2026-10-30T00:00:00+00:00",
        "2026-12-31T00:00:00+00:00", "2027-01-29T00:00:00+00:00");
    SEQ("0 0 1W,15W * *", "UTC", "2026-07-31T00:00:00Z",
        "2026-08-03T00:00:00+00:00", "2026-08-14T00:00:00+00:00",
        "2026-09-01T00:00:00+00:00", "2026-09-15T00:00:00+00:00");
    /* last Friday */
    SEQ("0 0 * * 5L", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-30T00:00:00+00:00", "2026-02-27T00:00:00+00:00",
        "2026-03-27T00:00:00+00:00", "2026-04-24T00:00:00+00:00",
        "2026-05-29T00:00:00+00:00");
    SEQ("0 0 * * FRIL", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-30T00:00:00+00:00", "2026-02-27T00:00:00+00:00");
    /* first Monday */
    SEQ("0 10 * * MON#1", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-05T10:00:00+00:00", "2026-02-02T10:00:00+00:00",
        "2026-03-02T10:00:00+00:00", "2026-04-06T10:00:00+00:00",
        "2026-05-04T10:00:00+00:00");
    SEQ("0 10 * * 1#1", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-05T10:00:00+00:00", "2026-02-02T10:00:00+00:00");
    /* fifth Monday: only March, June and August have one in 2026 */
    SEQ("0 0 * * 1#5", "UTC", "2026-01-01T00:00:00Z",
        "2026-03-30T00:00:00+00:00", "2026-06-29T00:00:00+00:00",
        "2026-08-31T00:00:00+00:00");
    /* second Sunday, written with 7 */
    SEQ("0 0 * * 7#2", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-11T00:00:00+00:00", "2026-02-08T00:00:00+00:00",
        "2026-03-08T00:00:00+00:00");
    SEQ("0 0 * * MON#1,FRI#3", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-05T00:00:00+00:00", "2026-01-16T00:00:00+00:00",
        "2026-02-02T00:00:00+00:00", "2026-02-20T00:00:00+00:00");
}

static void test_macros(void)
{
    SEQ("@yearly", "UTC", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00+00:00",
        "2028-01-01T00:00:00+00:00");
    SEQ("@annually", "UTC", "2026-06-01T00:00:00Z",
        "2027-01-01T00:00:00+00:00");
    SEQ("@monthly", "UTC", "2026-01-31T12:00:00Z", "2026-02-01T00:00:00+00:00",
        "2026-03-01T00:00:00+00:00");
    SEQ("@weekly", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00+00:00",
        "2026-01-11T00:00:00+00:00");
    SEQ("@daily", "UTC", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00+00:00",
        "2026-01-03T00:00:00+00:00");
    SEQ("@midnight", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00+00:00");
    SEQ("@hourly", "UTC", "2026-01-01T00:59:59Z", "2026-01-01T01:00:00+00:00",
        "2026-01-01T02:00:00+00:00");
    SEQ("  @DAILY \t", "UTC", "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00+00:00");

    cv_cron *c = parse(" @Hourly");
    CHECK_STR(cv_cron_expr(c), " @Hourly");
    CHECK(cv_cron_hour_is_wildcard(c) == 1);
    cv_cron_free(c);
}

static void test_never(void)
{
    never("0 0 30 2 *", "2026-01-01T00:00:00Z");
    never("0 0 31 4,6,9,11 *", "2026-01-01T00:00:00Z");
    never("0 0 L-30 2 *", "2026-01-01T00:00:00Z");
    never("0 0 30W 2 *", "2026-01-01T00:00:00Z");
    SEQ("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z",
        "2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00");
    /* 2100 is no leap year: the next Feb 29 after 2096 is beyond the
     * five-year horizon */
    never("0 0 29 2 *", "2096-03-01T00:00:00Z");
    SEQ("0 0 29 2 *", "UTC", "2099-03-01T00:00:00Z",
        "2104-02-29T00:00:00+00:00");

    /* absurd instants are refused, not overflowed */
    cv_cron *c = parse("* * * * *");
    cv_tz *tz = zone("UTC");
    int64_t next;
    CHECK(cv_cron_next(c, tz, INT64_MAX, &next) == CV_ERR);
    CHECK(cv_cron_next(c, tz, INT64_MIN, &next) == CV_ERR);
    CHECK(cv_cron_next(c, tz, -62135596800, &next) == CV_OK); /* year 1 */
    CHECK(next == -62135596740);
    cv_cron_free(c);
    cv_tz_free(tz);
}

/* Whether an expression can fire at all: exact, with the reason. */
static void fires(const char *expr, const char *want)
{
    cv_cron *c = parse(expr);

    err[0] = '\0';
    if (!c)
        return;
    if (!want) {
        CHECK(cv_cron_check_fires(c, err, sizeof(err)) == CV_OK);
        if (err[0])
            fprintf(stderr, "%s: %s\n", expr, err);
    } else {
        CHECK(cv_cron_check_fires(c, err, sizeof(err)) == CV_ERR);
        CHECK_STR(err, want);
    }
    cv_cron_free(c);
}

static void test_check_fires(void)
{
    fires("0 0 30 2 *", "cron \"0 0 30 2 *\": never fires: day-of-month "
                        "\"30\" matches no day of February (28 or 29 days)");
    fires("0 0 31 4,6,9,11 *",
          "cron \"0 0 31 4,6,9,11 *\": never fires: day-of-month \"31\" "
          "matches no day of April, June, September or November (30 days)");
    fires("0 0 30W 2 *", "cron \"0 0 30W 2 *\": never fires: day-of-month "
                         "\"30W\" matches no day of February (28 or 29 "
                         "days)");
    fires("0 0 L-30 2 *", "cron \"0 0 L-30 2 *\": never fires: day-of-month "
                          "\"L-30\" matches no day of February (28 or 29 "
                          "days)");
    fires("0 0 31 2,4 *", "cron \"0 0 31 2,4 *\": never fires: day-of-month "
                          "\"31\" matches no day of February or April (28 to "
                          "30 days)");
    /* rare is not never: leap days, a fifth Monday in February (2016) */
    fires("0 0 29 2 *", NULL);
    fires("0 0 L-28 2 *", NULL);
    fires("0 0 * 2 MON#5", NULL);
    fires("0 0 29W 2 *", NULL);
    /* Vixie: both day fields restricted, either one fires */
    fires("0 0 30 2 MON", NULL);
    fires("0 0 31 */2 *", NULL);
    fires("@yearly", NULL);
    fires("* * * * *", NULL);
}

/* ------------------------------------------------------------------ */
/* errors                                                              */

static void parse_fails(const char *expr, const char *want)
{
    cv_cron *c = (cv_cron *)&err; /* must be reset to NULL */

    err[0] = '\0';
    CHECK(cv_cron_parse(expr, &c, err, sizeof(err)) == CV_ERR);
    CHECK(c == NULL);
    CHECK_STR(err, want);
}

#define FIELDS "(minute hour day-of-month month day-of-week)"

static void test_errors(void)
{
    parse_fails("0 3 32 * *", "cron \"0 3 32 * *\": field 3 (day-of-month) "
                              "at column 5: 32 is out of range 1-31");
    parse_fails("0 3 * *",
                "cron \"0 3 * *\": expected 5 fields " FIELDS ", got 4");
    parse_fails("", "cron \"\": expected 5 fields " FIELDS ", got 0");
    parse_fails("   ", "cron \"   \": expected 5 fields " FIELDS ", got 0");
    parse_fails("0 3 * * * *", "cron \"0 3 * * * *\": at column 11: "
                               "expected 5 fields " FIELDS ", found more");
    parse_fails("*/0 * * * *", "cron \"*/0 * * * *\": field 1 (minute) at "
                               "column 3: step 0 is out of range 1-59");
    parse_fails("*/60 * * * *", "cron \"*/60 * * * *\": field 1 (minute) at "
                                "column 3: step 60 is out of range 1-59");
    parse_fails("*/ * * * *", "cron \"*/ * * * *\": field 1 (minute) at "
                              "column 3: step must be a number");
    parse_fails("0 5-1 * * *", "cron \"0 5-1 * * *\": field 2 (hour) at "
                               "column 3: range 5-1 is reversed");
    parse_fails("0 0 * * FRI-MON", "cron \"0 0 * * FRI-MON\": field 5 "
                                   "(day-of-week) at column 9: range 5-1 is "
                                   "reversed");
    parse_fails("0 0 * FOO *", "cron \"0 0 * FOO *\": field 4 (month) at "
                               "column 7: unknown month name 'FOO' "
                               "(expected JAN-DEC)");
    parse_fails("0 0 * JAN-FOO *", "cron \"0 0 * JAN-FOO *\": field 4 "
                                   "(month) at column 11: unknown month name "
                                   "'FOO' (expected JAN-DEC)");
    parse_fails("0 0 * * MONDAY", "cron \"0 0 * * MONDAY\": field 5 "
                                  "(day-of-week) at column 9: unknown "
                                  "day-of-week name 'MONDAY' (expected "
                                  "SUN-SAT)");
    parse_fails("0 0 * * JAN", "cron \"0 0 * * JAN\": field 5 (day-of-week) "
                               "at column 9: unknown day-of-week name 'JAN' "
                               "(expected SUN-SAT)");
    parse_fails("0 0 * MON *", "cron \"0 0 * MON *\": field 4 (month) at "
                               "column 7: unknown month name 'MON' (expected "
                               "JAN-DEC)");
    parse_fails("0 0 * * 1x", "cron \"0 0 * * 1x\": field 5 (day-of-week) at "
                              "column 10: unexpected character 'x'");
    parse_fails("a * * * *", "cron \"a * * * *\": field 1 (minute) at column "
                             "1: unexpected character 'a'");
    parse_fails("*-5 * * * *", "cron \"*-5 * * * *\": field 1 (minute) at "
                               "column 2: unexpected character '-'");
    parse_fails("1-* * * * *", "cron \"1-* * * * *\": field 1 (minute) at "
                               "column 3: unexpected character '*'");
    parse_fails("0 0 * * *\x01", "cron \"0 0 * * *?\": field 5 "
                                 "(day-of-week) at column 10: unexpected "
                                 "byte 0x01");
    parse_fails("60 * * * *", "cron \"60 * * * *\": field 1 (minute) at "
                              "column 1: 60 is out of range 0-59");
    parse_fails("0 24 * * *", "cron \"0 24 * * *\": field 2 (hour) at column "
                              "3: 24 is out of range 0-23");
    parse_fails("0 0 0 * *", "cron \"0 0 0 * *\": field 3 (day-of-month) at "
                             "column 5: 0 is out of range 1-31");
    parse_fails("0 0 * 13 *", "cron \"0 0 * 13 *\": field 4 (month) at "
                              "column 7: 13 is out of range 1-12");
    parse_fails("0 0 * * 8", "cron \"0 0 * * 8\": field 5 (day-of-week) at "
                             "column 9: 8 is out of range 0-7");
    parse_fails("99999999999999 * * * *",
                "cron \"99999999999999 * * * *\": field 1 (minute) at column "
                "1: 999999999999 is out of range 0-59");
    parse_fails("0 0 * * MON#6", "cron \"0 0 * * MON#6\": field 5 "
                                 "(day-of-week) at column 13: # 6 is out of "
                                 "range 1-5");
    parse_fails("0 0 * * 1#0", "cron \"0 0 * * 1#0\": field 5 (day-of-week) "
                               "at column 11: # 0 is out of range 1-5");
    parse_fails("0 0 * * MON#", "cron \"0 0 * * MON#\": field 5 "
                                "(day-of-week) at column 13: # must be a "
                                "number");
    parse_fails("0 0 1,,2 * *", "cron \"0 0 1,,2 * *\": field 3 "
                                "(day-of-month) at column 7: empty list "
                                "element");
    parse_fails("0 0 1, * *", "cron \"0 0 1, * *\": field 3 (day-of-month) "
                              "at column 7: empty list element");
    parse_fails("0 0 ,1 * *", "cron \"0 0 ,1 * *\": field 3 (day-of-month) "
                              "at column 5: missing value");
    parse_fails("5L * * * *", "cron \"5L * * * *\": field 1 (minute) at "
                              "column 2: 'L' is only allowed in day-of-month "
                              "(L, L-n, LW) and day-of-week (5L)");
    parse_fails("0 0 5L * *", "cron \"0 0 5L * *\": field 3 (day-of-month) "
                              "at column 6: a day number cannot take 'L' "
                              "(for the last day write L, for days before "
                              "it L-n)");
    parse_fails("0 0 * * 5W", "cron \"0 0 * * 5W\": field 5 (day-of-week) "
                              "at column 10: 'W' is only allowed in "
                              "day-of-month (15W, LW)");
    parse_fails("0 0 1#2 * *", "cron \"0 0 1#2 * *\": field 3 "
                               "(day-of-month) at column 6: '#' is only "
                               "allowed in day-of-week (MON#1, 1#1)");
    /* a letter where the field does not take it says which fields do */
    parse_fails("L * * * *", "cron \"L * * * *\": field 1 (minute) at column "
                             "1: 'L' is only allowed in day-of-month (L, L-n, "
                             "LW) and day-of-week (5L)");
    parse_fails("0 0 * L *", "cron \"0 0 * L *\": field 4 (month) at column "
                             "7: 'L' is only allowed in day-of-month (L, L-n, "
                             "LW) and day-of-week (5L)");
    parse_fails("0 0 * * L", "cron \"0 0 * * L\": field 5 (day-of-week) at "
                             "column 9: 'L' in day-of-week must follow a "
                             "weekday (5L or FRIL: the month's last Friday)");
    parse_fails("0 0 * * LW", "cron \"0 0 * * LW\": field 5 (day-of-week) at "
                              "column 9: 'LW' is only allowed in day-of-month "
                              "(the month's last weekday)");
    parse_fails("0 0 1-L * *", "cron \"0 0 1-L * *\": field 3 (day-of-month) "
                               "at column 7: 'L' stands on its own in "
                               "day-of-month (L, L-n, LW), not in a range");
    parse_fails("0 0 W * *", "cron \"0 0 W * *\": field 3 (day-of-month) at "
                             "column 5: 'W' must follow a day number or L "
                             "(15W, LW)");
    parse_fails("0 W * * *", "cron \"0 W * * *\": field 2 (hour) at column "
                             "3: 'W' is only allowed in day-of-month (15W, "
                             "LW)");
    parse_fails("0 # * * *", "cron \"0 # * * *\": field 2 (hour) at column "
                             "3: '#' is only allowed in day-of-week (MON#1, "
                             "1#1)");
    parse_fails("0 0 * * #1", "cron \"0 0 * * #1\": field 5 (day-of-week) at "
                              "column 9: '#' must follow a weekday (MON#1, "
                              "1#1)");
    /* WED is a name, not a W */
    cv_cron_free(parse("0 0 * * WED"));
    /* a non-ASCII letter: the whole word is reported, not its first
     * byte (the quoted expression shows each such byte as '?') */
    parse_fails("0 0 * * M\xc3\x96N", "cron \"0 0 * * M??N\": field 5 "
                                      "(day-of-week) at column 9: unknown "
                                      "day-of-week name 'M\xc3\x96N' (expected "
                                      "SUN-SAT)");
    parse_fails("0 0 * \xc3\x84PR *", "cron \"0 0 * ??PR *\": field 4 "
                                      "(month) at column 7: unknown month "
                                      "name '\xc3\x84PR' (expected JAN-DEC)");
    parse_fails("0 0 * * MO\xff", "cron \"0 0 * * MO?\": field 5 "
                                  "(day-of-week) at column 9: unknown "
                                  "day-of-week name 'MO\\xff' (expected "
                                  "SUN-SAT)");
    parse_fails("\xc3\xa9 * * * *", "cron \"?? * * * *\": field 1 (minute) "
                                    "at column 1: unexpected non-ASCII text "
                                    "'\xc3\xa9'");
    parse_fails("0 0 15W-20 * *", "cron \"0 0 15W-20 * *\": field 3 "
                                  "(day-of-month) at column 8: unexpected "
                                  "character '-'");
    parse_fails("0 0 L-31 * *", "cron \"0 0 L-31 * *\": field 3 "
                                "(day-of-month) at column 7: L-31 is out of "
                                "range L-0 to L-30");
    parse_fails("0 0 L- * *", "cron \"0 0 L- * *\": field 3 (day-of-month) "
                              "at column 7: L- must be followed by a number "
                              "of days");
    parse_fails("0 0 32W * *", "cron \"0 0 32W * *\": field 3 "
                               "(day-of-month) at column 5: 32 is out of "
                               "range 1-31");
    parse_fails("@every 5m", "cron \"@every 5m\": at column 1: unknown macro "
                             "'@every' (expected @yearly, @annually, "
                             "@monthly, @weekly, @daily, @midnight or "
                             "@hourly)");
    parse_fails("@reboot", "cron \"@reboot\": at column 1: @reboot is not "
                           "supported (not a time)");
    parse_fails("@daily x", "cron \"@daily x\": at column 8: unexpected text "
                            "after @daily");
    parse_fails(" @", "cron \" @\": at column 2: unknown macro '@' (expected "
                      "@yearly, @annually, @monthly, @weekly, @daily, "
                      "@midnight or @hourly)");

    char longexpr[400];
    memset(longexpr, '1', sizeof(longexpr) - 1);
    longexpr[sizeof(longexpr) - 1] = '\0';
    cv_cron *c = NULL;
    CHECK(cv_cron_parse(longexpr, &c, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "too long (399 characters, at most 256)");
    CHECK(cv_cron_parse(NULL, &c, err, sizeof(err)) == CV_ERR);
    /* a tiny error buffer is truncated, not overrun; NULL is fine too */
    char small[8];
    CHECK(cv_cron_parse("x", &c, small, sizeof(small)) == CV_ERR);
    CHECK(strlen(small) == 7);
    CHECK(cv_cron_parse("x", &c, NULL, 0) == CV_ERR);
}

static void test_wildcard_flag(void)
{
    static const struct {
        const char *expr;
        int wild;
    } cases[] = {
        {"*/30 * * * *", 1},     {"0 * * * *", 1},     {"0 */2 * * *", 1},
        {"0 1-5/2 * * *", 1},    {"0 1,*/4 * * *", 1}, {"0 3/6 * * *", 1},
        {"@hourly", 1},          {"30 2 * * *", 0},    {"0 0-23 * * *", 0},
        {"* 2 * * *", 0},        {"0 1,2,3 * * *", 0}, {"@daily", 0},
        {"*/5 9-17 * * 1-5", 0},
    };
    for (size_t i = 0; i < CV_ARRAY_SIZE(cases); i++) {
        cv_cron *c = parse(cases[i].expr);
        CHECK(cv_cron_hour_is_wildcard(c) == cases[i].wild);
        cv_cron_free(c);
    }
}

static void test_matches(void)
{
    cv_cron *c = parse("30 12 LW * *");
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = 126; /* 2026-05-29, a Friday: May's last weekday */
    tm.tm_mon = 4;
    tm.tm_mday = 29;
    tm.tm_hour = 12;
    tm.tm_min = 30;
    CHECK(cv_cron_matches(c, &tm) == 1);
    tm.tm_mday = 31;
    CHECK(cv_cron_matches(c, &tm) == 0);
    tm.tm_mday = 29;
    tm.tm_min = 31;
    CHECK(cv_cron_matches(c, &tm) == 0);
    tm.tm_mon = 12; /* out of range: no match, no crash */
    CHECK(cv_cron_matches(c, &tm) == 0);
    cv_cron_free(c);
}

/* ------------------------------------------------------------------ */
/* DST: hand-written tables                                            */

static void test_sydney(void)
{
    /* 2026-04-05 03:00 AEDT -> 02:00 AEST; 2026-10-04 02:00 AEST -> 03:00
     * AEDT. A fixed 08:00 stays 08:00 local. */
    SEQ("0 8 * * *", "Australia/Sydney", "2026-04-03T08:00:00+11:00",
        "2026-04-04T08:00:00+11:00", "2026-04-05T08:00:00+10:00",
        "2026-04-06T08:00:00+10:00");
    SEQ("0 8 * * *", "Australia/Sydney", "2026-10-02T08:00:00+10:00",
        "2026-10-03T08:00:00+10:00", "2026-10-04T08:00:00+11:00",
        "2026-10-05T08:00:00+11:00");
    SEQ("0 7 * * 1", "Australia/Sydney", "2026-03-23T07:00:00+11:00",
        "2026-03-30T07:00:00+11:00", "2026-04-06T07:00:00+10:00",
        "2026-04-13T07:00:00+10:00");
    SEQ("0 7 * * 1", "Australia/Sydney", "2026-09-21T07:00:00+10:00",
        "2026-09-28T07:00:00+10:00", "2026-10-05T07:00:00+11:00",
        "2026-10-12T07:00:00+11:00");
    /* 02:30 repeats on 04-05 (first: +11) and is skipped on 10-04 */
    SEQ("30 2 * * *", "Australia/Sydney", "2026-04-04T02:30:00+11:00",
        "2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00");
    SEQ("30 2 * * *", "Australia/Sydney", "2026-10-03T02:30:00+10:00",
        "2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00");
    SEQ("0 * * * *", "Australia/Sydney", "2026-04-05T01:00:00+11:00",
        "2026-04-05T02:00:00+11:00", "2026-04-05T02:00:00+10:00",
        "2026-04-05T03:00:00+10:00");
    SEQ("0 * * * *", "Australia/Sydney", "2026-10-04T01:00:00+10:00",
        "2026-10-04T03:00:00+11:00", "2026-10-04T04:00:00+11:00");
}

static void test_new_york(void)
{
    /* 2026-03-08: 02:00 EST -> 03:00 EDT. 2026-11-01: 02:00 EDT -> 01:00
     * EST, 01:00-02:00 happens twice. */
    SEQ("30 2 * * *", "America/New_York", "2026-03-06T12:00:00-05:00",
        "2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00");
    SEQ("30 2 * * *", "America/New_York", "2026-10-30T12:00:00-04:00",
        "2026-10-31T02:30:00-04:00", "2026-11-01T02:30:00-05:00",
        "2026-11-02T02:30:00-05:00");
    SEQ("30 1 * * *", "America/New_York", "2026-10-30T12:00:00-04:00",
        "2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00");
    SEQ("30 1 * * *", "America/New_York", "2026-03-07T12:00:00-05:00",
        "2026-03-08T01:30:00-05:00", "2026-03-09T01:30:00-04:00");
    /* asked during the repeated hour: never the second 01:30 */
    SEQ("30 1 * * *", "America/New_York", "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00");
    SEQ("30 1 * * *", "America/New_York", "2026-11-01T01:15:00-05:00",
        "2026-11-02T01:30:00-05:00");
    SEQ("30 1 * * *", "America/New_York", "2026-11-01T01:45:00-04:00",
        "2026-11-02T01:30:00-05:00");
    SEQ("30 1 * * *", "America/New_York", "2026-11-01T01:15:00-04:00",
        "2026-11-01T01:30:00-04:00");

    /* wildcard jobs: every real instant */
    SEQ("*/30 * * * *", "America/New_York", "2026-03-08T00:45:00-05:00",
        "2026-03-08T01:00:00-05:00", "2026-03-08T01:30:00-05:00",
        "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00",
        "2026-03-08T04:00:00-04:00");
    SEQ("*/30 * * * *", "America/New_York", "2026-11-01T00:15:00-04:00",
        "2026-11-01T00:30:00-04:00", "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00",
        "2026-11-01T02:30:00-05:00");
    SEQ("0 * * * *", "America/New_York", "2026-03-08T00:00:00-05:00",
        "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00",
        "2026-03-08T04:00:00-04:00");
    SEQ("0 * * * *", "America/New_York", "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00");
    SEQ("*/20 1 * * *", "America/New_York", "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00", "2026-11-01T01:20:00-04:00",
        "2026-11-01T01:40:00-04:00", "2026-11-02T01:00:00-05:00");
    SEQ("*/20 */1 * * *", "America/New_York", "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:40:00-04:00", "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:20:00-05:00");

    /* fixed jobs: the gap times all fire once, at the transition */
    SEQ("0,15,30,45 2 * * *", "America/New_York", "2026-03-07T02:45:00-05:00",
        "2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00");
    SEQ("* 2 * * *", "America/New_York", "2026-03-07T02:59:00-05:00",
        "2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00",
        "2026-03-09T02:01:00-04:00");
    SEQ("30 2,3 * * *", "America/New_York", "2026-03-07T03:30:00-05:00",
        "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00",
        "2026-03-09T02:30:00-04:00");
    SEQ("0 3 * * *", "America/New_York", "2026-03-07T03:00:00-05:00",
        "2026-03-08T03:00:00-04:00", "2026-03-09T03:00:00-04:00");
    SEQ("0 1-3 * * *", "America/New_York", "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00",
        "2026-11-01T03:00:00-05:00");
    SEQ("*/15 1,2 * * *", "America/New_York", "2026-11-01T01:15:00-05:00",
        "2026-11-01T02:00:00-05:00", "2026-11-01T02:15:00-05:00");
    SEQ("*/15 1,2 * * *", "America/New_York", "2026-11-01T01:45:00-04:00",
        "2026-11-01T02:00:00-05:00");

    /* 2100: the footer rule */
    SEQ("30 2 * * *", "America/New_York", "2100-03-13T12:00:00-05:00",
        "2100-03-14T03:00:00-04:00", "2100-03-15T02:30:00-04:00");
    SEQ("30 1 * * *", "America/New_York", "2100-11-06T12:00:00-04:00",
        "2100-11-07T01:30:00-04:00", "2100-11-08T01:30:00-05:00");
}

static void test_other_zones(void)
{
    /* Lord Howe: +11 -> +10:30 at 02:00 on 2026-04-05 (01:30-02:00
     * repeats); +10:30 -> +11 at 02:00 on 2026-10-04 (02:00-02:30 gap) */
    SEQ("*/30 * * * *", "Australia/Lord_Howe", "2026-04-05T00:45:00+11:00",
        "2026-04-05T01:00:00+11:00", "2026-04-05T01:30:00+11:00",
        "2026-04-05T01:30:00+10:30", "2026-04-05T02:00:00+10:30",
        "2026-04-05T02:30:00+10:30");
    SEQ("*/30 * * * *", "Australia/Lord_Howe", "2026-10-04T01:00:00+10:30",
        "2026-10-04T01:30:00+10:30", "2026-10-04T02:30:00+11:00",
        "2026-10-04T03:00:00+11:00");
    SEQ("0 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00+10:30",
        "2026-10-04T02:30:00+11:00", "2026-10-05T02:00:00+11:00");
    SEQ("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00+11:00",
        "2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30");

    /* Santiago changes at 24:00: midnight is skipped on 2026-09-06 and
     * 23:00-24:00 repeats on 2026-04-04 */
    SEQ("0 0 * * *", "America/Santiago", "2026-09-04T00:00:00-04:00",
        "2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00",
        "2026-09-07T00:00:00-03:00");
    SEQ("0 23 * * *", "America/Santiago", "2026-04-03T23:00:00-03:00",
        "2026-04-04T23:00:00-03:00", "2026-04-05T23:00:00-04:00");
    SEQ("0 * * * *", "America/Santiago", "2026-04-04T21:30:00-03:00",
        "2026-04-04T22:00:00-03:00", "2026-04-04T23:00:00-03:00",
        "2026-04-04T23:00:00-04:00", "2026-04-05T00:00:00-04:00");
    SEQ("0 * * * *", "America/Santiago", "2026-09-05T22:30:00-04:00",
        "2026-09-05T23:00:00-04:00", "2026-09-06T01:00:00-03:00",
        "2026-09-06T02:00:00-03:00");

    /* London: 01:00 GMT -> 02:00 BST on 03-29; 02:00 BST -> 01:00 GMT on
     * 10-25 */
    SEQ("30 1 * * *", "Europe/London", "2026-03-28T12:00:00+00:00",
        "2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00");
    SEQ("30 1 * * *", "Europe/London", "2026-10-24T12:00:00+01:00",
        "2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00");

    SEQ("0 9 * * *", "Asia/Kolkata", "2026-01-01T00:00:00Z",
        "2026-01-01T09:00:00+05:30", "2026-01-02T09:00:00+05:30");

    /* New York ran on local mean time, -4:56:02, until noon EST on
     * 1883-11-18, when clocks went back from 12:03:58 to 12:00:00. Fires
     * are whole local minutes; the fixed noon fires on the first pass. */
    SEQ("0 12 * * *", "America/New_York", "1883-11-17T00:00:00Z",
        "1883-11-17T12:00:00-04:56:02", "1883-11-18T12:00:00-04:56:02",
        "1883-11-19T12:00:00-05:00");
    SEQ("*/30 * * * *", "America/New_York", "1883-11-18T16:50:00Z",
        "1883-11-18T12:00:00-04:56:02", "1883-11-18T12:00:00-05:00",
        "1883-11-18T12:30:00-05:00");
}

/* ------------------------------------------------------------------ */
/* property test                                                       */

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

#define NFIRES 50

static int props_failed;

static void prop_fail(const char *expr, const cv_tz *tz, const char *what,
                      int64_t t)
{
    char buf[64];

    if (props_failed++ < 20)
        fprintf(stderr, "property: \"%s\" in %s: %s at %s\n", expr,
                cv_tz_name(tz), what, cv_tz_format(tz, t, buf, sizeof(buf)));
}

/* local wall-clock matches, from the zone's own view of t */
static int matches_at(const cv_cron *c, const cv_tz *tz, int64_t t)
{
    struct tm tm;
    cv_tz_local(tz, t, &tm);
    return cv_cron_matches(c, &tm);
}

/* t is an instant where clocks jumped forward (a gap ends at t) */
static int gap_end(const cv_tz *tz, int64_t t)
{
    return cv_tz_offset(tz, t, NULL) > cv_tz_offset(tz, t - 1, NULL) &&
           cv_tz_next_transition(tz, t - 1) == t;
}

static void check_fire(const cv_cron *c, const cv_tz *tz, int64_t f)
{
    const char *expr = cv_cron_expr(c);
    struct tm tm;

    cv_tz_local(tz, f, &tm);
    if (cv_cron_hour_is_wildcard(c)) {
        if (!cv_cron_matches(c, &tm) || tm.tm_sec != 0)
            prop_fail(expr, tz, "wildcard fire does not match", f);
        return;
    }
    /* fixed: a matching local time at its first occurrence, or the end of
     * a gap that swallowed a matching time */
    if (cv_cron_matches(c, &tm) && tm.tm_sec == 0) {
        if (cv_tz_resolve(tz, f + tm.tm_gmtoff) != f)
            prop_fail(expr, tz, "fire at a second occurrence", f);
    } else if (!gap_end(tz, f)) {
        prop_fail(expr, tz, "fixed fire neither matches nor ends a gap", f);
    }
}

/*
 * Minute by minute between two consecutive fires (short intervals only):
 * no real instant in between may have qualified.
 */
static void check_between(const cv_cron *c, const cv_tz *tz, int64_t a,
                          int64_t b)
{
    const char *expr = cv_cron_expr(c);
    int wild = cv_cron_hour_is_wildcard(c);

    if (b - a > 3 * 3600 || cv_tz_offset(tz, a, NULL) % 60 != 0)
        return;
    for (int64_t t = a + 60; t < b; t += 60) {
        if (!matches_at(c, tz, t))
            continue;
        if (wild || cv_tz_resolve(tz, t + cv_tz_offset(tz, t, NULL)) == t)
            prop_fail(expr, tz, "a qualifying minute was skipped", t);
    }
}

/* whether a local time (seconds since 1970-01-01T00:00 local) matches */
static int matches_local(const cv_cron *c, int64_t local)
{
    struct tm tm;
    int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
    int64_t secs = local - days * 86400;
    int y;
    unsigned m, d;

    cv_civil_from_days(days, &y, &m, &d);
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = (int)m - 1;
    tm.tm_mday = (int)d;
    tm.tm_hour = (int)(secs / 3600);
    tm.tm_min = (int)(secs / 60 % 60);
    return cv_cron_matches(c, &tm);
}

/*
 * A fixed job must fire at the end of every gap that swallowed a matching
 * local time: so no gap strictly between two fires may hold one.
 */
static void check_gaps(const cv_cron *c, const cv_tz *tz, int64_t a, int64_t b)
{
    for (int64_t t = cv_tz_next_transition(tz, a); t < b;
         t = cv_tz_next_transition(tz, t)) {
        int before = cv_tz_offset(tz, t - 1, NULL);
        int after = cv_tz_offset(tz, t, NULL);
        /* the gap is local [t + before, t + after), minutes within it */
        int64_t l = t + before;
        l += (60 - l % 60) % 60;
        for (; after > before && l < t + after; l += 60)
            if (matches_local(c, l))
                prop_fail(cv_cron_expr(c), tz, "a gap fire was missed", t);
    }
}

static void property(const cv_cron *c, const cv_tz *tz, int64_t start)
{
    const char *expr = cv_cron_expr(c);
    int64_t fires[NFIRES], t = start, next;
    int n = 0;

    /* Sequences stop in 2090: "0 0 29 2 *" would next meet 2096, whose
     * successor (2104, 2100 being no leap year) lies beyond the horizon. */
    while (n < NFIRES && t < at("2090-01-01T00:00:00Z") &&
           cv_cron_next(c, tz, t, &fires[n]) == CV_OK)
        t = fires[n++];
    if (n < NFIRES && t < at("2090-01-01T00:00:00Z")) {
        prop_fail(expr, tz, "ran out of fires", t);
        return;
    }
    for (int i = 0; i < n; i++) {
        int64_t prev = i == 0 ? start : fires[i - 1];
        int64_t span = fires[i] - prev, probe;

        if (fires[i] <= prev) {
            prop_fail(expr, tz, "not increasing", fires[i]);
            continue;
        }
        check_fire(c, tz, fires[i]);
        if (i > 0) {
            check_between(c, tz, prev, fires[i]);
            if (!cv_cron_hour_is_wildcard(c))
                check_gaps(c, tz, prev, fires[i]);
        }
        /* any instant in [prev, fire) leads to fire */
        for (int k = 0; k < 2; k++) {
            probe = k == 0 ? fires[i] - 1
                           : prev + (int64_t)(rng() % (uint64_t)span);
            if (cv_cron_next(c, tz, probe, &next) != CV_OK || next != fires[i])
                prop_fail(expr, tz, "next(t) between fires differs", probe);
        }
    }
}

static void test_property(void)
{
    static const char *const exprs[] = {
        "*/15 * * * *",
        "0 * * * *",
        "30 2 * * *",
        "30 1 * * *",
        "0 8 * * *",
        "0 7 * * 1",
        "*/7 */3 * * *",
        "0 0 L * *",
        "0 12 LW * *",
        "0 9 1W * *",
        "0 9 15W * *",
        "0 0 * * 5L",
        "0 10 * * MON#1",
        "0 0 13 * 5",
        "0 0 29 2 *",
        "5/10 1-5/2 * * *",
        "0 2 * * SUN",
        "0 0 L-3 * *",
        "15,45 0-3 * JAN-MAR,SEP-DEC *",
        "59 23 31 12 *",
        "0 0 1 * 1",
        "*/20 2 * 3,4,9,10 0",
        "0 0,12 */2 * *",
        "0 3 * * 1-5",
        "@hourly",
        "@daily",
        "@weekly",
        "* 2 * * *",
        "0,30 0-2 * * 6,0",
        "0 23 * * *",
    };
    static const char *const zones[] = {
        "UTC",
        "America/New_York",
        "Australia/Sydney",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "Europe/London",
        "America/Santiago",
    };
    static const char *const starts[] = {
        "2026-01-01T00:00:00Z", "2026-03-07T12:34:56Z", "2026-09-30T23:59:59Z",
        "2037-11-20T00:00:00Z", /* across the end of the tables */
    };
    cv_tz *tz[CV_ARRAY_SIZE(zones)];
    int64_t t0 = cv_mono_us();

    for (size_t z = 0; z < CV_ARRAY_SIZE(zones); z++)
        tz[z] = zone(zones[z]);
    for (size_t e = 0; e < CV_ARRAY_SIZE(exprs); e++) {
        cv_cron *c = parse(exprs[e]);
        for (size_t z = 0; z < CV_ARRAY_SIZE(zones); z++)
            for (size_t s = 0; s < CV_ARRAY_SIZE(starts); s++)
                property(c, tz[z], at(starts[s]));
        cv_cron_free(c);
    }
    for (size_t z = 0; z < CV_ARRAY_SIZE(zones); z++)
        cv_tz_free(tz[z]);
    CHECK(props_failed == 0);
    test_passed++;
    printf("property: %zu expressions x %zu zones x %zu starts x %d fires "
           "in %lld ms\n",
           CV_ARRAY_SIZE(exprs), CV_ARRAY_SIZE(zones), CV_ARRAY_SIZE(starts),
           NFIRES, (long long)(cv_mono_us() - t0) / 1000);
}

/* ------------------------------------------------------------------ */
/* speed and threads                                                   */

static void test_speed(void)
{
    static const char *const exprs[] = {
        "0 0 29 2 *",    "0 0 13 * 5",   "0 0 * * 1#5",
        "59 23 31 12 *", "0 0 30 2 *", /* searches the whole horizon, then gives
                                          up */
        "30 2 * * *",    "*/30 * * * *",
    };
    cv_tz *tz = zone("America/New_York");
    int64_t base = at("2026-01-01T00:00:00Z"), next;
    const int calls = 2000;

    for (size_t e = 0; e < CV_ARRAY_SIZE(exprs); e++) {
        cv_cron *c = parse(exprs[e]);
        int64_t t0 = cv_mono_us();
        for (int i = 0; i < calls; i++)
            (void)cv_cron_next(c, tz, base + (int64_t)i * 7919 * 60, &next);
        double us = (double)(cv_mono_us() - t0) / calls;
        printf("speed: \"%s\": %.2f us per call\n", exprs[e], us);
        /* microseconds natively; generous enough for valgrind */
        CHECK(us < 2000);
        cv_cron_free(c);
    }
    cv_tz_free(tz);
}

struct worker {
    const cv_cron *c;
    const cv_tz *tz;
    const int64_t *want;
    int n, bad;
};

static void *work(void *arg)
{
    struct worker *w = arg;

    for (int round = 0; round < 20; round++) {
        int64_t t = at("2026-01-01T00:00:00Z"), next;
        for (int i = 0; i < w->n; i++) {
            if (cv_cron_next(w->c, w->tz, t, &next) != CV_OK ||
                next != w->want[i])
                w->bad++;
            t = next;
        }
    }
    return NULL;
}

/* Parsed expressions and loaded zones are shared read-only. */
static void test_threads(void)
{
    cv_cron *c = parse("*/30 1-3 * * *");
    cv_tz *tz = zone("America/New_York");
    int64_t want[200], t = at("2026-01-01T00:00:00Z");
    struct worker w[4];
    pthread_t th[4];

    for (int i = 0; i < 200; i++) {
        cv_cron_next(c, tz, t, &want[i]);
        t = want[i];
    }
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){c, tz, want, 200, 0};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].bad == 0);
    }
    cv_cron_free(c);
    cv_tz_free(tz);
}

int main(void)
{
    test_fields();
    test_names();
    test_day_rule();
    test_extensions();
    test_macros();
    test_never();
    test_check_fires();
    test_errors();
    test_wildcard_flag();
    test_matches();
    test_sydney();
    test_new_york();
    test_other_zones();
    test_property();
    test_speed();
    test_threads();
    TEST_DONE();
}
