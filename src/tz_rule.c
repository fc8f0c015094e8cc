/*
 * tz_rule.c - POSIX TZ rule strings ("EST5EDT,M3.2.0,M11.1.0"): the
 * footer of a TZif file, which says what a zone does after its table of
 * transitions ends, and the zones cv_tz_from_posix() makes.
 *
 * The grammar is POSIX's plus the RFC 8536 extension of version 3 files
 * (rule times from -167 to 167 hours). Parsing is strict: anything left
 * over is an error. Evaluating a rule computes the year's two transitions
 * on the fly from the calendar (civil.c); nothing is cached or allocated,
 * so a parsed rule may be used by any number of threads.
 */
#include <string.h>

#include "civil.h"
#include "tz_int.h"

/* ------------------------------------------------------------------ */
/* parsing                                                             */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* "EST" (three or more letters) or "<+0330>" (letters, digits, + and -). */
static int parse_abbr(const char **pp, char *out)
{
    const char *p = *pp;
    size_t n = 0;

    if (*p == '<') {
        for (p++; is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-'; p++) {
            if (n == TZ_ABBR_MAX)
                return -1;
            out[n++] = *p;
        }
        if (*p != '>' || n == 0)
            return -1;
        p++;
    } else {
        for (; is_alpha(*p); p++) {
            if (n == TZ_ABBR_MAX)
                return -1;
            out[n++] = *p;
        }
        if (n < 3)
            return -1;
    }
    out[n] = '\0';
    *pp = p;
    return 0;
}

/* An unsigned decimal in [0, max]; at least one digit. */
static int parse_uint(const char **pp, int max, int *out)
{
    const char *p = *pp;
    int v = 0;

    if (!is_digit(*p))
        return -1;
    for (; is_digit(*p); p++) {
        v = v * 10 + (*p - '0');
        if (v > max)
            return -1;
    }
    *out = v;
    *pp = p;
    return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= max_hours, as seconds. */
static int parse_hms(const char **pp, int max_hours, int32_t *out)
{
    const char *p = *pp;
    int sign = 1, h, m = 0, s = 0;

    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (parse_uint(&p, max_hours, &h) < 0)
        return -1;
    if (*p == ':') {
        p++;
        if (parse_uint(&p, 59, &m) < 0)
            return -1;
        if (*p == ':') {
            p++;
            if (parse_uint(&p, 59, &s) < 0)
                return -1;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    *pp = p;
    return 0;
}

/* Jn | n | Mm.w.d, then an optional /time (default 02:00). */
static int parse_rule(const char **pp, struct tz_rule *r)
{
    const char *p = *pp;

    memset(r, 0, sizeof(*r));
    if (*p == 'J') {
        p++;
        r->kind = RULE_JULIAN;
        if (parse_uint(&p, 365, &r->day) < 0 || r->day < 1)
            return -1;
    } else if (*p == 'M') {
        p++;
        r->kind = RULE_MONTH;
        if (parse_uint(&p, 12, &r->month) < 0 || r->month < 1 || *p++ != '.' ||
            parse_uint(&p, 5, &r->week) < 0 || r->week < 1 || *p++ != '.' ||
            parse_uint(&p, 6, &r->wday) < 0)
            return -1;
    } else {
        r->kind = RULE_DAY;
        if (parse_uint(&p, 365, &r->day) < 0)
            return -1;
    }
    r->time = 2 * 3600;
    if (*p == '/') {
        p++;
        /* POSIX allows 0-24 hours here; RFC 8536 allows -167 to 167. */
        if (parse_hms(&p, 167, &r->time) < 0)
            return -1;
    }
    *pp = p;
    return 0;
}

/*
 * std offset [dst [offset] [,start[/time],end[/time]]]. POSIX offsets count
 * hours WEST of Greenwich, hence the negations.
 */
int cv_tz_posix_parse(const char *spec, struct tz_posix *pz)
{
    const char *p = spec;
    int32_t off;

    memset(pz, 0, sizeof(*pz));
    if (parse_abbr(&p, pz->std_abbr) < 0 || parse_hms(&p, 24, &off) < 0)
        return -1;
    pz->std.utoff = -off;
    pz->std.abbr = pz->std_abbr;
    if (*p == '\0')
        return 0;

    if (parse_abbr(&p, pz->dst_abbr) < 0)
        return -1;
    pz->has_dst = 1;
    pz->dst.isdst = 1;
    pz->dst.abbr = pz->dst_abbr;
    pz->dst.utoff = pz->std.utoff + 3600;
    if (*p != ',' && *p != '\0') {
        if (parse_hms(&p, 24, &off) < 0)
            return -1;
        pz->dst.utoff = -off;
    }
    if (*p == '\0') {
        /* No rule given: POSIX leaves it to the implementation; tzcode
         * uses the US rules, and so do we. */
        const char *us = ",M3.2.0,M11.1.0";
        p = us;
    }
    if (*p++ != ',' || parse_rule(&p, &pz->start) < 0 || *p++ != ',' ||
        parse_rule(&p, &pz->end) < 0 || *p != '\0')
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* evaluating                                                          */

/* The year (UTC) of instant t. */
static int year_of(int64_t t)
{
    int y;
    unsigned m, d;
    cv_civil_from_days(cv_floor_div(t, CV_SECS_PER_DAY), &y, &m, &d);
    return y;
}

/* Local midnight (as days since the epoch) of a rule's date in year y. */
static int64_t rule_day(const struct tz_rule *r, int y)
{
    int64_t jan1 = cv_days_from_civil(y, 1, 1), first;
    int dim, mday;

    switch (r->kind) {
    case RULE_JULIAN:
        return jan1 + r->day - 1 + (cv_is_leap_year(y) && r->day >= 60);
    case RULE_DAY:
        return jan1 + r->day;
    case RULE_MONTH:
    default:
        first = cv_days_from_civil(y, (unsigned)r->month, 1);
        dim = (int)cv_days_in_month(y, (unsigned)r->month);
        mday = 1 + (r->wday - cv_weekday_from_days(first) + 7) % 7 +
               (r->week - 1) * 7;
        while (mday > dim) /* week 5 means "last" */
            mday -= 7;
        return first + mday - 1;
    }
}

/*
 * The two instants (UTC) at which DST starts and ends in year y. They are
 * not ordered: south of the equator DST ends before it starts.
 */
static void posix_year(const struct tz_posix *pz, int y, int64_t *start,
                       int64_t *end)
{
    *start = rule_day(&pz->start, y) * CV_SECS_PER_DAY + pz->start.time -
             pz->std.utoff;
    *end =
        rule_day(&pz->end, y) * CV_SECS_PER_DAY + pz->end.time - pz->dst.utoff;
}

/*
 * Which type a footer rule gives at t. Rather than reason about
 * hemispheres, take every start and end of the surrounding three years and
 * see which happened last: that also gets right rules whose times push a
 * change over New Year, and the "DST all year" idiom (",0/0,J365/25"),
 * where one year's end and the next year's start fall on the same instant
 * (the later year's event wins the tie).
 */
const struct tz_type *cv_tz_posix_lookup(const struct tz_posix *pz, int64_t t)
{
    int64_t best = INT64_MIN, ev[2];
    int best_dst = 0, y;

    if (!pz->has_dst)
        return &pz->std;
    y = year_of(t + pz->std.utoff);
    for (int yy = y - 1; yy <= y + 1; yy++) {
        posix_year(pz, yy, &ev[1], &ev[0]);
        for (int dst = 0; dst <= 1; dst++) {
            /* >= lets later years, and starts over ends, win ties */
            if (ev[dst] <= t && ev[dst] >= best) {
                best = ev[dst];
                best_dst = dst;
            }
        }
    }
    return best_dst ? &pz->dst : &pz->std;
}

/* The first start or end of DST after t. */
int64_t cv_tz_posix_next(const struct tz_posix *pz, int64_t t)
{
    int64_t next = INT64_MAX, ev[2];
    int y = year_of(t + pz->std.utoff);

    for (int yy = y - 1; yy <= y + 2; yy++) {
        posix_year(pz, yy, &ev[0], &ev[1]);
        for (int i = 0; i < 2; i++)
            if (ev[i] > t && ev[i] < next)
                next = ev[i];
    }
    return next;
}
