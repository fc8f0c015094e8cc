/*
 * cron.c - cron expressions: day matching with the L/W/# extensions, the
 * next-fire search under the DST policy in cron.h, and whether an
 * expression can fire at all. The parser is cron_parse.c.
 *
 * A parsed expression is a handful of bitmasks (minutes, hours, days of the
 * month, months, weekdays) plus the extensions, which depend on the month
 * at hand (the last day, the nearest weekday, the last Friday). So days are
 * matched a month at a time: day_mask() computes the set of matching days of
 * one month, and the search skips whole months, then days, then hours with
 * find-next-set-bit, never walking minute by minute. A sparse schedule
 * ("0 0 29 2 *", "0 0 13 * 5") costs a few dozen steps per call.
 *
 * The search itself runs on LOCAL time (seconds since 1970-01-01T00:00 on
 * the zone's wall clock, see tz.h) and knows nothing of zones:
 * next_local() finds the next matching local minute. How local minutes map
 * to real instants is the DST policy, in next_wildcard() and next_fixed().
 *
 * Not here: seconds or year fields, `?`, Quartz's `L` in day-of-week on its
 * own, @reboot (not a time), and random/hashed fields (`H`).
 */
#include "cron.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron_int.h"

#define SECS_PER_DAY 86400

void cv_cron_free(cv_cron *c)
{
    if (!c)
        return;
    free(c->expr);
    free(c);
}

const char *cv_cron_expr(const cv_cron *c)
{
    return c->expr;
}

int cv_cron_hour_is_wildcard(const cv_cron *c)
{
    return c->hour_wild;
}

/* ------------------------------------------------------------------ */
/* day matching                                                        */

/* The weekday nearest day n that stays inside the month ("nW"). */
static unsigned nearest_weekday(unsigned n, unsigned dim, int wday1)
{
    int wd = (wday1 + (int)n - 1) % 7;

    if (wd == 6) /* Saturday: the Friday before, or Monday if n is the 1st */
        return n == 1 ? n + 2 : n - 1;
    if (wd == 0) /* Sunday: the Monday after, or Friday if n is the last */
        return n == dim ? n - 2 : n + 1;
    return n;
}

/* Days (bits 1-31) of a month with dim days, starting on weekday wday1,
 * that the day-of-month field matches. */
static uint32_t dom_days(const cv_cron *c, unsigned dim, int wday1)
{
    uint32_t mask = c->dom, bits;

    for (bits = c->dom_last; bits; bits &= bits - 1) {
        unsigned n = (unsigned)__builtin_ctz(bits);
        if (n < dim)
            mask |= (uint32_t)1 << (dim - n);
    }
    for (bits = c->dom_near; bits; bits &= bits - 1) {
        unsigned n = (unsigned)__builtin_ctz(bits);
        if (n <= dim)
            mask |= (uint32_t)1 << nearest_weekday(n, dim, wday1);
    }
    if (c->dom_lw)
        mask |= (uint32_t)1 << nearest_weekday(dim, dim, wday1);
    return mask;
}

/* The same for the day-of-week field. */
static uint32_t dow_days(const cv_cron *c, unsigned dim, int wday1)
{
    uint32_t mask = 0;

    for (unsigned d = 1; d <= dim; d++) {
        int wd = (wday1 + (int)d - 1) % 7;
        if ((c->dow >> wd & 1) || ((c->dow_last >> wd & 1) && d + 7 > dim) ||
            (c->dow_nth[wd] >> ((d - 1) / 7) & 1))
            mask |= (uint32_t)1 << d;
    }
    return mask;
}

/* The days (bits 1-31) of month m of year y on which c fires. */
static uint32_t day_mask(const cv_cron *c, int y, unsigned m)
{
    unsigned dim = cv_days_in_month(y, m);
    int wday1 = cv_weekday_from_days(cv_days_from_civil(y, m, 1));
    uint32_t dom = dom_days(c, dim, wday1), dow = dow_days(c, dim, wday1);
    uint32_t month = (uint32_t)(((uint64_t)1 << (dim + 1)) - 2);

    /* Vixie: OR if both are restricted, else AND (a '*' matches all) */
    if (c->dom_star || c->dow_star)
        return dom & dow & month;
    return (dom | dow) & month;
}

int cv_cron_matches(const cv_cron *c, const struct tm *tm)
{
    unsigned m;

    if (tm->tm_year < -1000000 || tm->tm_year > 1000000 || tm->tm_mon < 0 ||
        tm->tm_mon > 11 || tm->tm_mday < 1 || tm->tm_mday > 31 ||
        tm->tm_hour < 0 || tm->tm_hour > 23 || tm->tm_min < 0 ||
        tm->tm_min > 59)
        return 0;
    m = (unsigned)tm->tm_mon + 1;
    return (c->minutes >> tm->tm_min & 1) && (c->hours >> tm->tm_hour & 1) &&
           (c->months >> m & 1) &&
           (day_mask(c, tm->tm_year + 1900, m) >> tm->tm_mday & 1);
}

/* ------------------------------------------------------------------ */
/* the search                                                          */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

/* The lowest set bit at or above `from`, or -1. */
static int next_bit(uint64_t mask, int from)
{
    if (from >= 64)
        return -1;
    mask &= ~(uint64_t)0 << from;
    return mask ? __builtin_ctzll(mask) : -1;
}

/*
 * The first whole local minute >= from that matches c, if it is <= limit
 * (both local times). The cursor is a civil date, hour and minute; each
 * step either accepts the current unit or moves to the start of the next
 * candidate unit (month, day, hour), so the loop runs a few times per month
 * it visits.
 */
static int next_local(const cv_cron *c, int64_t from, int64_t limit,
                      int64_t *out)
{
    int64_t minute = -floor_div(-from, 60); /* round up */
    int64_t day = floor_div(minute, 1440);
    int h = (int)(minute - day * 1440) / 60,
        mi = (int)(minute - day * 1440) % 60;
    int y, cy = INT_MIN, nd, nh, nm;
    unsigned m, d, cm = 0;
    uint32_t days = 0;

    cv_civil_from_days(day, &y, &m, &d);
    for (;;) {
        if (day * SECS_PER_DAY > limit)
            return CV_ERR;
        if (!(c->months >> m & 1) ||
            (cy == y && cm == m && next_bit(days, (int)d) < 0)) {
            /* on to the first of the next month */
            if (++m > 12) {
                m = 1;
                y++;
            }
            d = 1;
            h = mi = 0;
            day = cv_days_from_civil(y, m, 1);
            continue;
        }
        if (cy != y || cm != m) {
            days = day_mask(c, y, m);
            cy = y;
            cm = m;
            continue;
        }
        nd = next_bit(days, (int)d);
        if ((unsigned)nd != d) {
            day += nd - (int)d;
            d = (unsigned)nd;
            h = mi = 0;
        }
        nh = next_bit(c->hours, h);
        if (nh < 0) { /* on to the next day */
            day++;
            d++;
            h = mi = 0;
            continue;
        }
        if (nh != h) {
            h = nh;
            mi = 0;
        }
        nm = next_bit(c->minutes, mi);
        if (nm < 0) { /* on to the next hour */
            h++;
            mi = 0;
            continue;
        }
        *out = day * SECS_PER_DAY + h * 3600 + nm * 60;
        return *out <= limit ? CV_OK : CV_ERR;
    }
}

/*
 * Wildcard jobs: every real instant whose local time matches. Between two
 * transitions the offset o is fixed and local time is t + o, so search each
 * such stretch [t, b) for a matching local minute in [t + o, b + o).
 */
static int next_wildcard(const cv_cron *c, const cv_tz *tz, int64_t after,
                         int64_t limit, int64_t *next)
{
    int64_t t = after + 1, b, last, local;
    int o;

    while (t <= limit) {
        o = cv_tz_offset(tz, t, NULL);
        b = cv_tz_next_transition(tz, t);
        last = b > limit ? limit : b - 1;
        if (next_local(c, t + o, last + o, &local) == CV_OK) {
            *next = local - o;
            return CV_OK;
        }
        t = b > limit ? limit + 1 : b;
    }
    return CV_ERR;
}

/*
 * Fixed-time jobs: matching local times, each mapped to one instant by
 * cv_tz_resolve() (gap -> the transition, repeated -> the first time).
 * That map never decreases, so the answer is the first matching local time
 * whose image is > after; and since local(after) itself maps to at most
 * `after`, the search starts just past it. Local times past it can still
 * map to <= after when `after` lies in the second pass of a repeated hour;
 * then skip to where the images pass `after`.
 */
static int next_fixed(const cv_cron *c, const cv_tz *tz, int64_t after,
                      int64_t limit, int64_t *next)
{
    int64_t from = after + cv_tz_offset(tz, after, NULL) + 1;
    int64_t local_limit = limit + 2 * SECS_PER_DAY;
    int64_t local, t, end, skip;
    int o;

    for (int i = 0; i < 10000; i++) {
        if (next_local(c, from, local_limit, &local) < 0)
            return CV_ERR;
        t = cv_tz_resolve(tz, local);
        if (t > limit)
            return CV_ERR;
        if (t > after) {
            *next = t;
            return CV_OK;
        }
        /*
         * In the stretch of constant offset o that holds t, local time L
         * maps to L - o, which passes `after` at L = after + o + 1, unless
         * the stretch ends first; local times beyond it are decided by the
         * next round.
         */
        o = cv_tz_offset(tz, t, NULL);
        end = cv_tz_next_transition(tz, t);
        skip = after + o + 1;
        if (end != INT64_MAX && end + o < skip)
            skip = end + o;
        from = skip > local + 1 ? skip : local + 1;
    }
    return CV_ERR;
}

int cv_cron_next(const cv_cron *c, const cv_tz *tz, int64_t after,
                 int64_t *next)
{
    /* keep every local time and limit well inside tz's clamp range */
    const int64_t margin = CV_CRON_HORIZON + 10 * SECS_PER_DAY;
    int64_t limit;

    if (after < CV_TZ_T_MIN + margin || after > CV_TZ_T_MAX - margin)
        return CV_ERR;
    limit = after + CV_CRON_HORIZON;
    if (c->hour_wild)
        return next_wildcard(c, tz, after, limit, next);
    return next_fixed(c, tz, after, limit, next);
}

/* ------------------------------------------------------------------ */
/* can it fire at all                                                  */

static const char *const month_full[] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

/* The n-th (0-based) blank-separated field of expr, into buf. */
static const char *field_text(char *buf, size_t size, const char *expr, int n)
{
    const char *p = expr, *start;

    for (int i = 0;; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (i == n || !*p)
            break;
    }
    snprintf(buf, size, "%.*s", (int)(p - start), start);
    return buf;
}

int cv_cron_check_fires(const cv_cron *c, char *err, size_t errlen)
{
    char months[160] = "", days[32], dom[CV_CRON_EXPR_MAX + 1],
         dow[CV_CRON_EXPR_MAX + 1], which[2 * CV_CRON_EXPR_MAX + 64];
    unsigned lo = 31, hi = 0, n = 0, total = 0;
    size_t off = 0;

    /* the calendar repeats every 400 years: this is every case there is */
    for (unsigned m = 1; m <= 12; m++)
        for (int y = 2000; (c->months >> m & 1) && y < 2400; y++)
            if (day_mask(c, y, m))
                return CV_OK;

    for (unsigned m = 1; m <= 12; m++)
        total += c->months >> m & 1;
    for (unsigned m = 1; m <= 12; m++) {
        if (!(c->months >> m & 1))
            continue;
        n++;
        off += (size_t)snprintf(months + off, sizeof(months) - off, "%s%s",
                                n == 1       ? ""
                                : n == total ? " or "
                                             : ", ",
                                month_full[m - 1]);
        if (cv_days_in_month(2001, m) < lo)
            lo = cv_days_in_month(2001, m);
        if (cv_days_in_month(2000, m) > hi)
            hi = cv_days_in_month(2000, m);
    }
    if (lo == hi)
        snprintf(days, sizeof(days), "%u days", lo);
    else
        snprintf(days, sizeof(days), "%u %s %u days", lo,
                 hi == lo + 1 ? "or" : "to", hi);
    field_text(dom, sizeof(dom), c->expr, F_DOM);
    field_text(dow, sizeof(dow), c->expr, F_DOW);
    if (!c->dom_star && !c->dow_star)
        snprintf(which, sizeof(which),
                 "day-of-month \"%s\" or day-of-week "
                 "\"%s\"",
                 dom, dow);
    else if (!c->dom_star)
        snprintf(which, sizeof(which), "day-of-month \"%s\"", dom);
    else
        snprintf(which, sizeof(which), "day-of-week \"%s\"", dow);
    return cv_err(err, errlen,
                  "cron \"%s\": never fires: %s matches no day of %s (%s)",
                  c->expr, which, total == 12 ? "any month" : months, days);
}
