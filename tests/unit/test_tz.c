/*
 * test_tz.c - time zones: calendar arithmetic against known dates, offsets
 * and abbreviations at known instants (before and after the 2025 and 2026
 * transitions, and in 2100 where only the footer rule answers), local time
 * fields, resolving local times in gaps and repeats, POSIX rule strings
 * (J, n and M dates, negative and >24 h times, DST all year), every real
 * zone's footer against its own table, hand-built TZif files of versions 1
 * to 4, and damaged files cut and flipped at every byte.
 *
 * Expected values are written by hand (and agree with zdump); none is
 * computed by the code under test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "tz.h"

static char err[512];

/*
 * "2026-03-08T07:00:00Z" or "...-04:00" -> unix seconds. Uses
 * cv_days_from_civil(), which test_civil_anchors() checks against literal
 * timestamps first.
 */
static int64_t at(const char *iso)
{
    int y, mo, d, h, mi, s, oh = 0, om = 0, n = 0;
    char sign = 'Z';

    if (sscanf(iso, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6) {
        fprintf(stderr, "bad test time %s\n", iso);
        exit(2);
    }
    if (iso[n] == '+' || iso[n] == '-') {
        sign = iso[n];
        sscanf(iso + n + 1, "%d:%d", &oh, &om);
    }
    int64_t off = (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    return cv_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
           mi * 60 + s - off;
}

/* A local wall-clock time "2026-03-08T02:30:00" as local seconds. */
static int64_t local_at(const char *iso)
{
    int y, mo, d, h, mi, s;

    sscanf(iso, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s);
    return cv_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
           mi * 60 + s;
}

static cv_tz *load(const char *name)
{
    cv_tz *tz = NULL;

    if (cv_tz_load(name, &tz, err, sizeof(err)) != CV_OK) {
        fprintf(stderr, "cannot load %s: %s\n", name, err);
        exit(2);
    }
    return tz;
}

/* offset and abbreviation at an instant */
static void check_off(const cv_tz *tz, const char *when, int off,
                      const char *abbr)
{
    const char *a = NULL;
    int got = cv_tz_offset(tz, at(when), &a);

    CHECK(got == off);
    CHECK_STR(a, abbr);
    if (got != off)
        fprintf(stderr, "  %s at %s: offset %d, expected %d\n", cv_tz_name(tz),
                when, got, off);
}

static void check_fmt(const cv_tz *tz, const char *when, const char *want)
{
    char buf[64];
    CHECK_STR(cv_tz_format(tz, at(when), buf, sizeof(buf)), want);
}

/* ------------------------------------------------------------------ */

static void test_civil_anchors(void)
{
    /* literal timestamps, checked with date -u -d @N */
    CHECK(cv_days_from_civil(1970, 1, 1) == 0);
    CHECK(cv_days_from_civil(2000, 2, 29) * 86400 == 951782400);
    CHECK(cv_days_from_civil(2026, 1, 1) * 86400 == 1767225600);
    CHECK(cv_days_from_civil(2100, 1, 1) * 86400 == 4102444800);
    CHECK(cv_days_from_civil(1900, 1, 1) * 86400 == -2208988800);
    CHECK(cv_days_from_civil(9999, 12, 31) * 86400 + 86399 == 253402300799);
    CHECK(cv_days_from_civil(1, 1, 1) * 86400 == -62135596800);
    CHECK(cv_days_from_civil(1969, 12, 31) == -1);

    CHECK(at("2026-01-01T00:00:00Z") == 1767225600);
    CHECK(at("2026-03-08T03:00:00-04:00") == 1772953200);

    /* weekdays: 1970-01-01 Thursday, 2026-01-01 Thursday, 2000-01-01
     * Saturday, 2100-01-01 Friday, 1969-12-31 Wednesday */
    CHECK(cv_weekday_from_days(0) == 4);
    CHECK(cv_weekday_from_days(cv_days_from_civil(2026, 1, 1)) == 4);
    CHECK(cv_weekday_from_days(cv_days_from_civil(2000, 1, 1)) == 6);
    CHECK(cv_weekday_from_days(cv_days_from_civil(2100, 1, 1)) == 5);
    CHECK(cv_weekday_from_days(-1) == 3);

    CHECK(cv_is_leap_year(2000) && cv_is_leap_year(2028) &&
          cv_is_leap_year(2400) && cv_is_leap_year(-4));
    CHECK(!cv_is_leap_year(1900) && !cv_is_leap_year(2100) &&
          !cv_is_leap_year(2026));
    CHECK(cv_days_in_month(2026, 2) == 28 && cv_days_in_month(2028, 2) == 29 &&
          cv_days_in_month(2100, 2) == 28 && cv_days_in_month(2000, 2) == 29);
    CHECK(cv_days_in_month(2026, 4) == 30 && cv_days_in_month(2026, 12) == 31);
}

/*
 * Walks day by day from 1600 to 2400 checking that each day is the civil
 * successor of the one before (a different way to count than the formula),
 * and round-trips a sparse sample over +-3 million years.
 */
static void test_civil_roundtrip(void)
{
    int y = 1600, bad = 0;
    unsigned m = 1, d = 1;
    int64_t z = cv_days_from_civil(1600, 1, 1);

    for (; y < 2400; z++) {
        int gy;
        unsigned gm, gd;
        cv_civil_from_days(z, &gy, &gm, &gd);
        if (gy != y || gm != m || gd != d || cv_days_from_civil(y, m, d) != z)
            bad++;
        /* the successor of (y, m, d), counted by hand */
        if (++d > cv_days_in_month(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    CHECK(bad == 0);
    /* 800 years of 365.2425 days */
    CHECK(z - cv_days_from_civil(1600, 1, 1) == 292194);

    bad = 0;
    for (int64_t zz = -1100000000; zz < 1100000000; zz += 999983) {
        int gy;
        unsigned gm, gd;
        cv_civil_from_days(zz, &gy, &gm, &gd);
        if (gm < 1 || gm > 12 || gd < 1 || gd > cv_days_in_month(gy, gm) ||
            cv_days_from_civil(gy, gm, gd) != zz)
            bad++;
    }
    CHECK(bad == 0);
}

/* ------------------------------------------------------------------ */

static void test_utc(void)
{
    cv_tz *tz = load("UTC");
    struct tm tm;

    CHECK_STR(cv_tz_name(tz), "UTC");
    check_off(tz, "2026-01-01T00:00:00Z", 0, "UTC");
    check_off(tz, "2100-07-01T12:00:00Z", 0, "UTC");
    check_off(tz, "1900-07-01T12:00:00Z", 0, "UTC");
    check_fmt(tz, "2026-03-08T07:00:00Z", "2026-03-08T07:00:00+00:00");
    CHECK(cv_tz_next_transition(tz, 0) == INT64_MAX);

    cv_tz_local(tz, at("2028-02-29T23:59:58Z"), &tm);
    CHECK(tm.tm_year == 128 && tm.tm_mon == 1 && tm.tm_mday == 29);
    CHECK(tm.tm_hour == 23 && tm.tm_min == 59 && tm.tm_sec == 58);
    CHECK(tm.tm_wday == 2 && tm.tm_yday == 59); /* a Tuesday */
    CHECK(tm.tm_isdst == 0 && tm.tm_gmtoff == 0);

    /* before 1970: 1969-12-31T23:59:59 is a Wednesday */
    cv_tz_local(tz, -1, &tm);
    CHECK(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31 &&
          tm.tm_hour == 23 && tm.tm_min == 59 && tm.tm_sec == 59 &&
          tm.tm_wday == 3 && tm.tm_yday == 364);

    /* absurd instants are clamped, not overflowed */
    cv_tz_local(tz, INT64_MAX, &tm);
    cv_tz_local(tz, INT64_MIN, &tm);
    CHECK(cv_tz_offset(tz, INT64_MAX, NULL) == 0);
    cv_tz_free(tz);
}

static void test_new_york(void)
{
    cv_tz *tz = load("America/New_York");
    struct tm tm;

    check_off(tz, "2025-03-09T06:59:59Z", -18000, "EST");
    check_off(tz, "2025-03-09T07:00:00Z", -14400, "EDT");
    check_off(tz, "2025-11-02T05:59:59Z", -14400, "EDT");
    check_off(tz, "2025-11-02T06:00:00Z", -18000, "EST");
    check_off(tz, "2026-03-08T06:59:59Z", -18000, "EST");
    check_off(tz, "2026-03-08T07:00:00Z", -14400, "EDT");
    check_off(tz, "2026-11-01T05:59:59Z", -14400, "EDT");
    check_off(tz, "2026-11-01T06:00:00Z", -18000, "EST");
    /* 2100: the table ended in 2037, the footer rule answers */
    check_off(tz, "2100-03-14T06:59:59Z", -18000, "EST");
    check_off(tz, "2100-03-14T07:00:00Z", -14400, "EDT");
    check_off(tz, "2100-11-07T05:59:59Z", -14400, "EDT");
    check_off(tz, "2100-11-07T06:00:00Z", -18000, "EST");
    /* 1883: local mean time, -4:56:02 */
    check_off(tz, "1883-01-01T00:00:00Z", -17762, "LMT");
    check_fmt(tz, "1883-01-01T00:00:00Z", "1882-12-31T19:03:58-04:56:02");

    check_fmt(tz, "2026-03-08T06:59:59Z", "2026-03-08T01:59:59-05:00");
    check_fmt(tz, "2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00");
    check_fmt(tz, "2026-11-01T05:30:00Z", "2026-11-01T01:30:00-04:00");
    check_fmt(tz, "2026-11-01T06:30:00Z", "2026-11-01T01:30:00-05:00");

    cv_tz_local(tz, at("2026-03-08T07:00:00Z"), &tm);
    CHECK(tm.tm_year == 126 && tm.tm_mon == 2 && tm.tm_mday == 8 &&
          tm.tm_hour == 3 && tm.tm_min == 0 && tm.tm_sec == 0);
    CHECK(tm.tm_wday == 0 && tm.tm_yday == 66);
    CHECK(tm.tm_isdst == 1 && tm.tm_gmtoff == -14400);
    CHECK_STR(tm.tm_zone, "EDT");

    /* transitions, from the table and from the footer */
    CHECK(cv_tz_next_transition(tz, at("2026-01-01T00:00:00Z")) ==
          at("2026-03-08T07:00:00Z"));
    CHECK(cv_tz_next_transition(tz, at("2026-03-08T06:59:59Z")) ==
          at("2026-03-08T07:00:00Z"));
    CHECK(cv_tz_next_transition(tz, at("2026-03-08T07:00:00Z")) ==
          at("2026-11-01T06:00:00Z"));
    CHECK(cv_tz_next_transition(tz, at("2100-01-01T00:00:00Z")) ==
          at("2100-03-14T07:00:00Z"));
    CHECK(cv_tz_next_transition(tz, at("2100-03-14T07:00:00Z")) ==
          at("2100-11-07T06:00:00Z"));

    /* local -> instant: plain, gap (-> the transition), repeat (-> first) */
    CHECK(cv_tz_resolve(tz, local_at("2026-07-01T12:00:00")) ==
          at("2026-07-01T16:00:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2026-03-08T02:30:00")) ==
          at("2026-03-08T07:00:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2026-03-08T02:00:00")) ==
          at("2026-03-08T07:00:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2026-03-08T01:59:00")) ==
          at("2026-03-08T06:59:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2026-03-08T03:00:00")) ==
          at("2026-03-08T07:00:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2026-11-01T01:30:00")) ==
          at("2026-11-01T05:30:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2026-11-01T00:59:00")) ==
          at("2026-11-01T04:59:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2026-11-01T02:00:00")) ==
          at("2026-11-01T07:00:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2100-03-14T02:30:00")) ==
          at("2100-03-14T07:00:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2100-11-07T01:30:00")) ==
          at("2100-11-07T05:30:00Z"));
    cv_tz_free(tz);
}

static void test_sydney(void)
{
    cv_tz *tz = load("Australia/Sydney");

    check_off(tz, "2025-04-05T15:59:59Z", 39600, "AEDT");
    check_off(tz, "2025-04-05T16:00:00Z", 36000, "AEST");
    check_off(tz, "2025-10-04T15:59:59Z", 36000, "AEST");
    check_off(tz, "2025-10-04T16:00:00Z", 39600, "AEDT");
    check_off(tz, "2026-04-04T15:59:59Z", 39600, "AEDT");
    check_off(tz, "2026-04-04T16:00:00Z", 36000, "AEST");
    check_off(tz, "2026-10-03T15:59:59Z", 36000, "AEST");
    check_off(tz, "2026-10-03T16:00:00Z", 39600, "AEDT");
    check_off(tz, "2100-04-03T15:59:59Z", 39600, "AEDT");
    check_off(tz, "2100-04-03T16:00:00Z", 36000, "AEST");
    check_off(tz, "2100-10-02T15:59:59Z", 36000, "AEST");
    check_off(tz, "2100-10-02T16:00:00Z", 39600, "AEDT");
    check_fmt(tz, "2026-04-04T16:00:00Z", "2026-04-05T02:00:00+10:00");
    check_fmt(tz, "2026-04-04T15:59:59Z", "2026-04-05T02:59:59+11:00");

    /* 02:30 on 2026-04-05 happens twice: first at +11 */
    CHECK(cv_tz_resolve(tz, local_at("2026-04-05T02:30:00")) ==
          at("2026-04-04T15:30:00Z"));
    /* 02:30 on 2026-10-04 does not happen: the gap ends at 03:00 +11 */
    CHECK(cv_tz_resolve(tz, local_at("2026-10-04T02:30:00")) ==
          at("2026-10-03T16:00:00Z"));
    cv_tz_free(tz);
}

static void test_london_kolkata(void)
{
    cv_tz *tz = load("Europe/London");

    check_off(tz, "2025-03-30T00:59:59Z", 0, "GMT");
    check_off(tz, "2025-03-30T01:00:00Z", 3600, "BST");
    check_off(tz, "2025-10-26T00:59:59Z", 3600, "BST");
    check_off(tz, "2025-10-26T01:00:00Z", 0, "GMT");
    check_off(tz, "2026-03-29T00:59:59Z", 0, "GMT");
    check_off(tz, "2026-03-29T01:00:00Z", 3600, "BST");
    check_off(tz, "2026-10-25T00:59:59Z", 3600, "BST");
    check_off(tz, "2026-10-25T01:00:00Z", 0, "GMT");
    check_off(tz, "2100-03-28T00:59:59Z", 0, "GMT");
    check_off(tz, "2100-03-28T01:00:00Z", 3600, "BST");
    check_off(tz, "2100-10-31T00:59:59Z", 3600, "BST");
    check_off(tz, "2100-10-31T01:00:00Z", 0, "GMT");
    cv_tz_free(tz);

    tz = load("Asia/Kolkata");
    check_off(tz, "2026-01-01T00:00:00Z", 19800, "IST");
    check_off(tz, "2026-07-01T00:00:00Z", 19800, "IST");
    check_off(tz, "2100-07-01T00:00:00Z", 19800, "IST");
    check_fmt(tz, "2026-01-01T00:00:00Z", "2026-01-01T05:30:00+05:30");
    CHECK(cv_tz_next_transition(tz, at("2026-01-01T00:00:00Z")) == INT64_MAX);
    cv_tz_free(tz);
}

/* A 30-minute DST: +10:30 in winter, +11 in summer. */
static void test_lord_howe(void)
{
    cv_tz *tz = load("Australia/Lord_Howe");

    check_off(tz, "2025-04-05T14:59:59Z", 39600, "+11");
    check_off(tz, "2025-04-05T15:00:00Z", 37800, "+1030");
    check_off(tz, "2025-10-04T15:29:59Z", 37800, "+1030");
    check_off(tz, "2025-10-04T15:30:00Z", 39600, "+11");
    check_off(tz, "2026-04-04T14:59:59Z", 39600, "+11");
    check_off(tz, "2026-04-04T15:00:00Z", 37800, "+1030");
    check_off(tz, "2026-10-03T15:29:59Z", 37800, "+1030");
    check_off(tz, "2026-10-03T15:30:00Z", 39600, "+11");
    check_off(tz, "2100-04-03T14:59:59Z", 39600, "+11");
    check_off(tz, "2100-04-03T15:00:00Z", 37800, "+1030");
    check_off(tz, "2100-10-02T15:29:59Z", 37800, "+1030");
    check_off(tz, "2100-10-02T15:30:00Z", 39600, "+11");
    check_fmt(tz, "2026-04-04T15:00:00Z", "2026-04-05T01:30:00+10:30");
    check_fmt(tz, "2026-10-03T15:30:00Z", "2026-10-04T02:30:00+11:00");

    /* 01:45 on 2026-04-05 happens twice (first at +11); 02:15 on
     * 2026-10-04 not at all (the gap 02:00-02:30 ends at 15:30Z) */
    CHECK(cv_tz_resolve(tz, local_at("2026-04-05T01:45:00")) ==
          at("2026-04-04T14:45:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2026-10-04T02:15:00")) ==
          at("2026-10-03T15:30:00Z"));
    cv_tz_free(tz);
}

/* Transitions at 24:00 local: midnight itself is skipped in September. */
static void test_santiago(void)
{
    cv_tz *tz = load("America/Santiago");

    check_off(tz, "2026-04-05T02:59:59Z", -10800, "-03");
    check_off(tz, "2026-04-05T03:00:00Z", -14400, "-04");
    check_off(tz, "2026-09-06T03:59:59Z", -14400, "-04");
    check_off(tz, "2026-09-06T04:00:00Z", -10800, "-03");
    check_off(tz, "2100-04-04T02:59:59Z", -10800, "-03");
    check_off(tz, "2100-04-04T03:00:00Z", -14400, "-04");
    check_off(tz, "2100-09-05T03:59:59Z", -14400, "-04");
    check_off(tz, "2100-09-05T04:00:00Z", -10800, "-03");
    CHECK(cv_tz_resolve(tz, local_at("2026-09-06T00:00:00")) ==
          at("2026-09-06T04:00:00Z"));
    CHECK(cv_tz_resolve(tz, local_at("2026-04-04T23:30:00")) ==
          at("2026-04-05T02:30:00Z"));
    cv_tz_free(tz);
}

/* ------------------------------------------------------------------ */

static void load_fails(const char *name, const char *want)
{
    cv_tz *tz = (cv_tz *)&err; /* must be reset to NULL */

    err[0] = '\0';
    CHECK(cv_tz_load(name, &tz, err, sizeof(err)) == CV_ERR);
    CHECK(tz == NULL);
    CHECK_STR(err, want);
}

static void test_bad_names(void)
{
    char longname[300];

    load_fails("Mars/Olympus", "unknown time zone 'Mars/Olympus'");
    load_fails("America", "unknown time zone 'America'");
    load_fails("America/", "unknown time zone 'America/'");
    load_fails("Europe/London/x", "unknown time zone 'Europe/London/x'");
    load_fails("../etc/passwd", "invalid time zone name '../etc/passwd'");
    load_fails("America/../../etc", "invalid time zone name "
                                    "'America/../../etc'");
    load_fails("/etc/passwd", "invalid time zone name '/etc/passwd'");
    load_fails("", "invalid time zone name ''");
    load_fails("Europe/London ", "invalid time zone name 'Europe/London '");
    load_fails("Europe/Lon\ndon", "invalid time zone name 'Europe/Lon?don'");
    load_fails("zone1970.tab", "invalid time zone name 'zone1970.tab'");
    load_fails(NULL, "invalid time zone name ''");
    memset(longname, 'A', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    cv_tz *tz = NULL;
    CHECK(cv_tz_load(longname, &tz, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "invalid time zone name 'AAAA");
    CHECK_CONTAINS(err, "...'");

    /* names with + and - and _ are fine */
    tz = load("Etc/GMT+5");
    CHECK(cv_tz_offset(tz, 0, NULL) == -18000);
    cv_tz_free(tz);
    tz = load("America/Port-au-Prince");
    cv_tz_free(tz);
    tz = load("America/Argentina/Buenos_Aires");
    CHECK(cv_tz_offset(tz, at("2026-01-01T00:00:00Z"), NULL) == -10800);
    cv_tz_free(tz);
    cv_tz_free(NULL);
}

/* ------------------------------------------------------------------ */
/* POSIX TZ strings                                                    */

static cv_tz *posix(const char *spec)
{
    cv_tz *tz = NULL;

    if (cv_tz_from_posix(spec, &tz, err, sizeof(err)) != CV_OK) {
        fprintf(stderr, "%s: %s\n", spec, err);
        test_failed++;
        return NULL;
    }
    return tz;
}

static void test_posix_rules(void)
{
    cv_tz *tz;

    /* Nuuk: negative rule times (-1:00 local is 23:00 the day before) */
    tz = posix("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
    CHECK_STR(cv_tz_name(tz), "<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
    check_off(tz, "2026-03-29T00:59:59Z", -7200, "-02");
    check_off(tz, "2026-03-29T01:00:00Z", -3600, "-01");
    check_off(tz, "2026-10-25T00:59:59Z", -3600, "-01");
    check_off(tz, "2026-10-25T01:00:00Z", -7200, "-02");
    check_fmt(tz, "2026-03-29T01:00:00Z", "2026-03-29T00:00:00-01:00");
    cv_tz_free(tz);

    /* Israel: the 4th Thursday of March at 26:00 is Friday 02:00 */
    tz = posix("IST-2IDT,M3.4.4/26,M10.5.0");
    check_off(tz, "2026-03-26T23:59:59Z", 7200, "IST");
    check_off(tz, "2026-03-27T00:00:00Z", 10800, "IDT");
    check_off(tz, "2026-10-24T22:59:59Z", 10800, "IDT");
    check_off(tz, "2026-10-24T23:00:00Z", 7200, "IST");
    CHECK(cv_tz_next_transition(tz, at("2026-01-01T00:00:00Z")) ==
          at("2026-03-27T00:00:00Z"));
    cv_tz_free(tz);

    /* Jn never counts February 29: J60 is March 1 even in 2028 */
    tz = posix("ABC0DEF,J60/0,J300/0");
    check_off(tz, "2028-02-29T12:00:00Z", 0, "ABC");
    check_off(tz, "2028-02-29T23:59:59Z", 0, "ABC");
    check_off(tz, "2028-03-01T00:00:00Z", 3600, "DEF");
    check_off(tz, "2027-03-01T00:00:00Z", 3600, "DEF");
    /* J300 is October 27; 00:00 DEF is 23:00Z the day before */
    check_off(tz, "2027-10-26T22:59:59Z", 3600, "DEF");
    check_off(tz, "2027-10-26T23:00:00Z", 0, "ABC");
    check_off(tz, "2028-10-26T23:00:00Z", 0, "ABC");
    cv_tz_free(tz);

    /* n counts from 0 and does count February 29 */
    tz = posix("ABC0DEF,59/0,299/0");
    check_off(tz, "2028-02-28T23:59:59Z", 0, "ABC");
    check_off(tz, "2028-02-29T00:00:00Z", 3600, "DEF");
    check_off(tz, "2027-02-28T23:59:59Z", 0, "ABC");
    check_off(tz, "2027-03-01T00:00:00Z", 3600, "DEF");
    check_off(tz, "2027-10-26T23:00:00Z", 0, "ABC"); /* day 299: Oct 27 */
    check_off(tz, "2028-10-25T22:59:59Z", 3600, "DEF");
    check_off(tz, "2028-10-25T23:00:00Z", 0, "ABC"); /* leap: Oct 26 */
    cv_tz_free(tz);

    /* DST all year: one year's end meets the next year's start */
    tz = posix("EST5EDT,0/0,J365/25");
    check_off(tz, "2026-01-01T04:59:59Z", -14400, "EDT");
    check_off(tz, "2026-01-01T05:00:00Z", -14400, "EDT");
    check_off(tz, "2026-07-01T00:00:00Z", -14400, "EDT");
    check_off(tz, "2026-12-31T23:59:59Z", -14400, "EDT");
    cv_tz_free(tz);

    /* no rule given: the US rules; no DST offset: one hour ahead */
    tz = posix("EST5EDT");
    check_off(tz, "2026-03-08T06:59:59Z", -18000, "EST");
    check_off(tz, "2026-03-08T07:00:00Z", -14400, "EDT");
    check_off(tz, "2026-11-01T06:00:00Z", -18000, "EST");
    cv_tz_free(tz);

    /* explicit DST offset, and offsets with minutes and seconds */
    tz = posix("<+0330>-3:30");
    check_off(tz, "2026-06-01T00:00:00Z", 12600, "+0330");
    cv_tz_free(tz);
    tz = posix("AAA+1:02:03BBB-0:30,M1.1.0,M12.5.6/23:59:59");
    check_off(tz, "2026-01-03T00:00:00Z", -3723, "AAA");
    check_off(tz, "2026-06-03T00:00:00Z", 1800, "BBB");
    cv_tz_free(tz);

    /* southern hemisphere through the footer alone */
    tz = posix("AEST-10AEDT,M10.1.0,M4.1.0/3");
    check_off(tz, "2026-04-04T15:59:59Z", 39600, "AEDT");
    check_off(tz, "2026-04-04T16:00:00Z", 36000, "AEST");
    check_off(tz, "2026-10-03T16:00:00Z", 39600, "AEDT");
    check_off(tz, "2026-12-31T23:00:00Z", 39600, "AEDT");
    check_off(tz, "2027-01-01T01:00:00Z", 39600, "AEDT");
    CHECK(cv_tz_next_transition(tz, at("2026-12-01T00:00:00Z")) ==
          at("2027-04-03T16:00:00Z"));
    cv_tz_free(tz);

    static const char *const bad[] = {
        "",
        "EST",
        "5",
        "ES5",
        "EST5EDT,M13.1.0,M11.1.0",
        "EST5EDT,M3.6.0,M11.1.0",
        "EST5EDT,M3.0.0,M11.1.0",
        "EST5EDT,M3.2.7,M11.1.0",
        "EST5EDT,M3.2.0",
        "EST5EDT,M3.2.0,",
        "EST5EDT,J0,J100",
        "EST5EDT,366,J100",
        "EST5EDT,M3.2.0/168,M11.1.0",
        "EST25",
        "EST5:60",
        "<EST5",
        "<>5",
        "<ABCDEFGHIJKLMNOPQRS>5",
        "EST5EDT4x",
        "EST5EDT,M3.2.0,M11.1.0,",
        "EST5 ",
    };
    for (size_t i = 0; i < CV_ARRAY_SIZE(bad); i++) {
        tz = NULL;
        CHECK(cv_tz_from_posix(bad[i], &tz, err, sizeof(err)) == CV_ERR);
        CHECK(tz == NULL);
        CHECK_CONTAINS(err, "invalid POSIX TZ string");
    }
}

/*
 * Every zone in zone1970.tab loads, and where its table and its footer
 * overlap (fat files list transitions up to 2037) they agree: the footer
 * predicts exactly the transitions zic computed, with the same offsets.
 * This is hundreds of real rule strings: /24 and /25 times, negative
 * times, southern hemisphere, 30-minute DST.
 */
static int read_footer(const char *name, char *out, size_t size)
{
    const char *dir = getenv("TZDIR");
    char path[512], *buf;
    FILE *fp;
    long n;
    size_t got;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/%s",
             dir && *dir ? dir : "/usr/share/zoneinfo", name);
    if (!(fp = fopen(path, "rb")))
        return -1;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    got = fread(buf, 1, (size_t)n, fp);
    fclose(fp);
    if (got == (size_t)n && n > 2 && buf[n - 1] == '\n') {
        long i = n - 2;
        while (i >= 0 && buf[i] != '\n')
            i--;
        if (i >= 0 && (size_t)(n - 2 - i) < size) {
            memcpy(out, buf + i + 1, (size_t)(n - 2 - i));
            out[n - 2 - i] = '\0';
            rc = 0;
        }
    }
    free(buf);
    return rc;
}

/*
 * Morocco and Palestine adjust DST around Ramadan; zic lists those
 * predicted changes in the table (until 2087 and 2086), and no POSIX rule
 * can express them, so there the footer rightly differs from the table.
 */
static int ramadan_zone(const char *name)
{
    return strstr(name, "Casablanca") || strstr(name, "El_Aaiun") ||
           strstr(name, "Gaza") || strstr(name, "Hebron");
}

static void test_all_zones(void)
{
    const char *dir = getenv("TZDIR");
    char path[512], line[512], name[256], footer[256];
    int zones = 0, compared = 0, bad = 0;
    int64_t from = at("2027-01-01T00:00:00Z"), to = at("2037-06-01T00:00:00Z");
    FILE *fp;

    snprintf(path, sizeof(path), "%s/zone1970.tab",
             dir && *dir ? dir : "/usr/share/zoneinfo");
    if (!(fp = fopen(path, "r"))) {
        printf("skipped: no %s\n", path);
        return;
    }
    while (fgets(line, sizeof(line), fp)) {
        cv_tz *tz = NULL, *pz = NULL;

        footer[0] = '\0';
        if (line[0] == '#' || sscanf(line, "%*s %*s %255s", name) != 1)
            continue;
        zones++;
        if (cv_tz_load(name, &tz, err, sizeof(err)) != CV_OK) {
            fprintf(stderr, "%s: %s\n", name, err);
            bad++;
            continue;
        }
        if (read_footer(name, footer, sizeof(footer)) == 0 && footer[0] &&
            !ramadan_zone(name) &&
            cv_tz_from_posix(footer, &pz, err, sizeof(err)) == CV_OK) {
            int64_t t = from;
            compared++;
            while (t < to) {
                int64_t a = cv_tz_next_transition(tz, t);
                int64_t b = cv_tz_next_transition(pz, t);
                if (a >= to && b >= to)
                    break;
                if (a != b ||
                    cv_tz_offset(tz, a, NULL) != cv_tz_offset(pz, a, NULL) ||
                    cv_tz_offset(tz, a - 1, NULL) !=
                        cv_tz_offset(pz, a - 1, NULL)) {
                    fprintf(stderr,
                            "%s: table and footer '%s' disagree "
                            "after %lld\n",
                            name, footer, (long long)t);
                    bad++;
                    break;
                }
                t = a;
            }
        } else if (footer[0] && !pz && !ramadan_zone(name)) {
            fprintf(stderr, "%s: footer '%s' rejected: %s\n", name, footer,
                    err);
            bad++;
        }
        cv_tz_free(pz);
        cv_tz_free(tz);
    }
    fclose(fp);
    printf("%d zones loaded, %d footers compared with their tables\n", zones,
           compared);
    CHECK(zones > 300);
    CHECK(compared > 300);
    CHECK(bad == 0);
}

/* ------------------------------------------------------------------ */
/* hand-built TZif files                                               */

struct out {
    uint8_t b[4096];
    size_t n;
};

static void put8(struct out *o, unsigned v)
{
    o->b[o->n++] = (uint8_t)v;
}

static void put32(struct out *o, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        put8(o, v >> (i * 8) & 0xff);
}

static void put64(struct out *o, int64_t v)
{
    put32(o, (uint32_t)((uint64_t)v >> 32));
    put32(o, (uint32_t)v);
}

/* What a test file holds; build() lays it out as RFC 8536 says. */
struct tzif {
    char version; /* 0 for version 1, else '2', '3', '4' */
    int ntrans;
    int64_t trans[4];
    uint8_t idx[4];
    int ntypes;
    int32_t utoff[4];
    uint8_t isdst[4], abbr[4];
    const char *chars;
    uint32_t nchars;
    uint32_t leapcnt;
    const char *footer; /* versions 2+; NULL writes no footer at all */
};

static void build_header(struct out *o, const struct tzif *z)
{
    put8(o, 'T');
    put8(o, 'Z');
    put8(o, 'i');
    put8(o, 'f');
    put8(o, (unsigned char)z->version);
    for (int i = 0; i < 15; i++)
        put8(o, 0);
    put32(o, (uint32_t)z->ntypes); /* isutcnt */
    put32(o, (uint32_t)z->ntypes); /* isstdcnt */
    put32(o, z->leapcnt);
    put32(o, (uint32_t)z->ntrans);
    put32(o, (uint32_t)z->ntypes);
    put32(o, z->nchars);
}

static void build_block(struct out *o, const struct tzif *z, int timesize)
{
    for (int i = 0; i < z->ntrans; i++) {
        if (timesize == 8)
            put64(o, z->trans[i]);
        else
            put32(o, (uint32_t)z->trans[i]);
    }
    for (int i = 0; i < z->ntrans; i++)
        put8(o, z->idx[i]);
    for (int i = 0; i < z->ntypes; i++) {
        put32(o, (uint32_t)z->utoff[i]);
        put8(o, z->isdst[i]);
        put8(o, z->abbr[i]);
    }
    for (uint32_t i = 0; i < z->nchars; i++)
        put8(o, (unsigned char)z->chars[i]);
    for (uint32_t i = 0; i < z->leapcnt; i++) {
        if (timesize == 8)
            put64(o, 78796800);
        else
            put32(o, 78796800);
        put32(o, 1);
    }
    for (int i = 0; i < 2 * z->ntypes; i++) /* isstd, isut */
        put8(o, 0);
}

static void build(struct out *o, const struct tzif *z)
{
    o->n = 0;
    build_header(o, z);
    build_block(o, z, 4);
    if (z->version == 0)
        return;
    build_header(o, z);
    build_block(o, z, 8);
    if (z->footer) {
        put8(o, '\n');
        for (const char *p = z->footer; *p; p++)
            put8(o, (unsigned char)*p);
        put8(o, '\n');
    }
}

/* AAA (+1) until 2001-09-09T01:46:40Z, BBB (+2, DST) until
 * 2004-11-09T11:33:20Z, AAA again; a CET-like footer. */
static const struct tzif base_zone = {
    .version = '2',
    .ntrans = 2,
    .trans = {1000000000, 1100000000},
    .idx = {1, 0},
    .ntypes = 2,
    .utoff = {3600, 7200},
    .isdst = {0, 1},
    .abbr = {0, 4},
    .chars = "AAA\0BBB",
    .nchars = 8,
    .footer = "AAA-1BBB,M3.5.0,M10.5.0/3",
};

static char tmpdir[64], zonedir[96];

static int load_built(const struct tzif *z, cv_tz **tz)
{
    struct out o;

    build(&o, z);
    test_write_file(zonedir, "Zone", o.b, o.n);
    return cv_tz_load("Test/Zone", tz, err, sizeof(err));
}

static void test_tzif_versions(void)
{
    struct tzif z = base_zone;
    cv_tz *tz = NULL;

    /* version 1: 32-bit times, no footer: the last type holds for ever */
    z.version = 0;
    CHECK(load_built(&z, &tz) == CV_OK);
    CHECK_STR(cv_tz_name(tz), "Test/Zone");
    CHECK(cv_tz_offset(tz, 999999999, NULL) == 3600);
    CHECK(cv_tz_offset(tz, 1000000000, NULL) == 7200);
    CHECK(cv_tz_offset(tz, 1099999999, NULL) == 7200);
    check_off(tz, "2026-07-01T00:00:00Z", 3600, "AAA");
    check_off(tz, "1900-07-01T00:00:00Z", 3600, "AAA");
    CHECK(cv_tz_next_transition(tz, 0) == 1000000000);
    CHECK(cv_tz_next_transition(tz, 1000000000) == 1100000000);
    CHECK(cv_tz_next_transition(tz, 1100000000) == INT64_MAX);
    cv_tz_free(tz);

    /* versions 2 to 4: the 64-bit block, then the footer rule */
    for (char v = '2'; v <= '4'; v++) {
        z = base_zone;
        z.version = v;
        CHECK(load_built(&z, &tz) == CV_OK);
        CHECK(cv_tz_offset(tz, 1050000000, NULL) == 7200);
        check_off(tz, "2026-03-29T00:59:59Z", 3600, "AAA");
        check_off(tz, "2026-03-29T01:00:00Z", 7200, "BBB");
        check_off(tz, "2026-10-25T00:59:59Z", 7200, "BBB");
        check_off(tz, "2026-10-25T01:00:00Z", 3600, "AAA");
        CHECK(cv_tz_next_transition(tz, 1100000000) ==
              at("2005-03-27T01:00:00Z"));
        cv_tz_free(tz);
    }

    /* a version 3 footer with a negative time */
    z = base_zone;
    z.version = '3';
    z.utoff[0] = -7200;
    z.utoff[1] = -3600;
    z.chars = "-02\0-01";
    z.footer = "<-02>2<-01>,M3.5.0/-1,M10.5.0/0";
    CHECK(load_built(&z, &tz) == CV_OK);
    check_off(tz, "2026-03-29T00:59:59Z", -7200, "-02");
    check_off(tz, "2026-03-29T01:00:00Z", -3600, "-01");
    cv_tz_free(tz);

    /* an empty footer: no rule, the last type holds */
    z = base_zone;
    z.footer = "";
    CHECK(load_built(&z, &tz) == CV_OK);
    check_off(tz, "2026-07-01T00:00:00Z", 3600, "AAA");
    cv_tz_free(tz);

    /* no transitions at all: the footer alone (and type 0 for nothing) */
    z = base_zone;
    z.ntrans = 0;
    CHECK(load_built(&z, &tz) == CV_OK);
    check_off(tz, "2026-07-01T00:00:00Z", 7200, "BBB");
    cv_tz_free(tz);
}

static void load_built_fails(const struct tzif *z, const char *why)
{
    cv_tz *tz = NULL;

    CHECK(load_built(z, &tz) == CV_ERR);
    CHECK(tz == NULL);
    CHECK_CONTAINS(err, "is not a valid TZif file");
    CHECK_CONTAINS(err, why);
}

static void test_tzif_damaged(void)
{
    struct tzif z;
    struct out o;
    cv_tz *tz = NULL;
    int bad = 0;

    z = base_zone;
    z.idx[1] = 2;
    load_built_fails(&z, "transition type out of range");
    z = base_zone;
    z.abbr[1] = 8;
    load_built_fails(&z, "bad abbreviation index");
    z = base_zone;
    z.nchars = 7; /* "BBB" loses its NUL */
    load_built_fails(&z, "bad abbreviation index");
    z = base_zone;
    z.utoff[1] = 100000;
    load_built_fails(&z, "UT offset out of range");
    z = base_zone;
    z.isdst[1] = 2;
    load_built_fails(&z, "bad DST flag");
    z = base_zone;
    z.trans[1] = 999999999;
    load_built_fails(&z, "transitions out of order");
    z = base_zone;
    z.leapcnt = 1;
    load_built_fails(&z, "leap second records are not supported");
    z = base_zone;
    z.ntypes = 0;
    z.ntrans = 0;
    load_built_fails(&z, "bad type or abbreviation count");
    z = base_zone;
    z.footer = "AAA-1BBB,M3.5.0";
    load_built_fails(&z, "bad TZ string in footer");
    z = base_zone;
    z.footer = NULL;
    load_built_fails(&z, "missing footer");

    build(&o, &base_zone);
    o.b[0] = 'X';
    test_write_file(zonedir, "Zone", o.b, o.n);
    CHECK(cv_tz_load("Test/Zone", &tz, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "bad magic");
    build(&o, &base_zone);
    o.b[4] = '1';
    test_write_file(zonedir, "Zone", o.b, o.n);
    CHECK(cv_tz_load("Test/Zone", &tz, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "unknown version");

    /* cut at every length: always an error, never a crash */
    build(&o, &base_zone);
    for (size_t len = 0; len < o.n; len++) {
        test_write_file(zonedir, "Zone", o.b, len);
        if (cv_tz_load("Test/Zone", &tz, err, sizeof(err)) != CV_ERR) {
            bad++;
            cv_tz_free(tz);
        }
    }
    CHECK(bad == 0);

    /* every byte flipped: an error, or a zone that answers sanely */
    for (size_t i = 0; i < o.n; i++) {
        struct out f = o;
        f.b[i] ^= 0xff;
        test_write_file(zonedir, "Zone", f.b, f.n);
        if (cv_tz_load("Test/Zone", &tz, err, sizeof(err)) != CV_OK)
            continue;
        for (int64_t t = -4000000000; t < 8000000000; t += 150000001) {
            struct tm tm;
            int off = cv_tz_offset(tz, t, NULL);
            cv_tz_local(tz, t, &tm);
            if (off < -89999 || off > 93599 ||
                cv_tz_next_transition(tz, t) <= t)
                bad++;
            (void)cv_tz_resolve(tz, t);
        }
        cv_tz_free(tz);
    }
    CHECK(bad == 0);
}

/* "UTC" loads even when the database is missing. */
static void test_utc_fallback(void)
{
    cv_tz *tz = NULL;

    CHECK(cv_tz_load("UTC", &tz, err, sizeof(err)) == CV_OK);
    CHECK_STR(cv_tz_name(tz), "UTC");
    check_off(tz, "2026-07-01T00:00:00Z", 0, "UTC");
    cv_tz_free(tz);
    load_fails("Europe/London", "unknown time zone 'Europe/London'");

    /* a damaged UTC file falls back too */
    test_write_file(tmpdir, "UTC", "TZif2", 5);
    CHECK(cv_tz_load("UTC", &tz, err, sizeof(err)) == CV_OK);
    check_off(tz, "2026-07-01T00:00:00Z", 0, "UTC");
    cv_tz_free(tz);
}

int main(void)
{
    const char *old = getenv("TZDIR");
    char *saved = old ? strdup(old) : NULL;
    char path[160];

    test_civil_anchors();
    test_civil_roundtrip();
    test_utc();
    test_new_york();
    test_sydney();
    test_london_kolkata();
    test_lord_howe();
    test_santiago();
    test_bad_names();
    test_posix_rules();
    test_all_zones();

    /* hand-built files live in a private TZDIR: tmpdir/Test/Zone */
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cv_test_tz_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(zonedir, sizeof(zonedir), "%s/Test", tmpdir);
    if (mkdir(zonedir, 0700) != 0) {
        perror(zonedir);
        return 2;
    }
    setenv("TZDIR", tmpdir, 1);
    test_tzif_versions();
    test_tzif_damaged();
    test_utc_fallback();

    snprintf(path, sizeof(path), "%s/Zone", zonedir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/UTC", tmpdir);
    unlink(path);
    rmdir(zonedir);
    rmdir(tmpdir);
    if (saved)
        setenv("TZDIR", saved, 1);
    else
        unsetenv("TZDIR");
    free(saved);
    TEST_DONE();
}
