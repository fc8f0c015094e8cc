/*
 * cron.c - cron expressions: the parser, day matching with the L/W/#
 * extensions, and the next-fire search under the DST policy in cron.h.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECS_PER_DAY 86400

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

struct cv_cron {
    char *expr;
    uint64_t minutes;    /* bits 0-59 */
    uint32_t hours;      /* bits 0-23 */
    uint32_t dom;        /* bits 1-31: plain days of the month */
    uint32_t dom_last;   /* bit n: "L-n" ("L" is n = 0) */
    uint32_t dom_near;   /* bit n: "nW" */
    int dom_lw;          /* "LW" */
    uint32_t months;     /* bits 1-12 */
    uint32_t dow;        /* bits 0-6, Sunday = 0 */
    uint32_t dow_last;   /* bit d: "dL", the last weekday d of the month */
    uint32_t dow_nth[7]; /* bit k-1: "d#k", the k-th weekday d */
    int dom_star;        /* the day-of-month text starts with '*' */
    int dow_star;        /* the day-of-week text starts with '*' */
    int hour_wild;       /* a wildcard job (cron.h) */
};

/* ------------------------------------------------------------------ */
/* the parser                                                          */

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR",
                                          "MAY", "JUN", "JUL", "AUG",
                                          "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED",
                                        "THU", "FRI", "SAT"};

/* One row per field: its name in messages, its bounds and its names. The
 * name of value v is names[v - min]. */
static const struct field_def {
    const char *name;
    int min, max;
    const char *const *names;
    int nnames;
} fields[F_COUNT] = {
    [F_MINUTE] = {"minute", 0, 59, NULL, 0},
    [F_HOUR] = {"hour", 0, 23, NULL, 0},
    [F_DOM] = {"day-of-month", 1, 31, NULL, 0},
    [F_MONTH] = {"month", 1, 12, month_names, 12},
    [F_DOW] = {"day-of-week", 0, 7, dow_names, 7},
};

static const struct {
    const char *name, *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

struct parser {
    const char *expr; /* the text being parsed; columns count from it */
    const char *p;    /* the next character */
    int field;        /* F_*, or -1 outside any field */
    char shown[CV_CRON_EXPR_MAX + 1]; /* expr, printable, for messages */
    char *err;
    size_t errlen;
    cv_cron *c;
};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/*
 * Formats "cron "<expr>": field N (name) at column C: <message>" and
 * returns CV_ERR. Non-printable bytes of the expression are shown as '?',
 * so columns still line up.
 */
static int fail(struct parser *ps, const char *at, const char *fmt, ...)
    CV_PRINTF(3, 4);

static int fail(struct parser *ps, const char *at, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    int col = (int)(at - ps->expr) + 1;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ps->field >= 0)
        return cv_err(ps->err, ps->errlen,
                      "cron \"%s\": field %d (%s) at column %d: %s", ps->shown,
                      ps->field + 1, fields[ps->field].name, col, msg);
    return cv_err(ps->err, ps->errlen, "cron \"%s\": at column %d: %s",
                  ps->shown, col, msg);
}

static int fail_unexpected(struct parser *ps)
{
    char c = *ps->p;

    if (c == '\0' || is_blank(c) || c == ',')
        return fail(ps, ps->p, "missing value");
    if (c > 0x20 && c < 0x7f)
        return fail(ps, ps->p, "unexpected character '%c'", c);
    return fail(ps, ps->p, "unexpected byte 0x%02x", (unsigned char)c);
}

/* A run of digits as a number, saturating well above any valid value. */
static int parse_number(struct parser *ps)
{
    int v = 0;

    for (; is_digit(*ps->p); ps->p++)
        if (v < 100000)
            v = v * 10 + (*ps->p - '0');
    return v;
}

/*
 * One value of the current field: a number, or a name where the field has
 * names. *named tells which (a range may end in SUN, meaning 7).
 */
static int parse_value(struct parser *ps, int *out, int *named)
{
    const struct field_def *f = &fields[ps->field];
    const char *start = ps->p;
    size_t n;

    *named = 0;
    if (is_digit(*ps->p)) {
        int v = parse_number(ps);
        if (v < f->min || v > f->max)
            return fail(ps, start, "%.*s is out of range %d-%d",
                        (int)(ps->p - start > 12 ? 12 : ps->p - start), start,
                        f->min, f->max);
        *out = v;
        return CV_OK;
    }
    if (!is_alpha(*ps->p) || !f->names)
        return fail_unexpected(ps);

    for (n = 0; is_alpha(start[n]); n++)
        ;
    /* "FRIL" is a name followed by the L suffix */
    if (ps->field == F_DOW && n == 4 && upper(start[3]) == 'L')
        n = 3;
    for (int i = 0; n == 3 && i < f->nnames; i++) {
        if (upper(start[0]) == f->names[i][0] &&
            upper(start[1]) == f->names[i][1] &&
            upper(start[2]) == f->names[i][2]) {
            ps->p += 3;
            *out = f->min + i;
            *named = 1;
            return CV_OK;
        }
    }
    return fail(ps, start, "unknown %s name '%.*s' (expected %s-%s)", f->name,
                (int)(n > 12 ? 12 : n), start, f->names[0],
                f->names[f->nnames - 1]);
}

/* A step or '#' count after its separator: a number in [1, max]. */
static int parse_count(struct parser *ps, const char *what, int max, int *out)
{
    const char *start = ps->p;
    int v;

    if (!is_digit(*ps->p))
        return fail(ps, start, "%s must be a number", what);
    v = parse_number(ps);
    if (v < 1 || v > max)
        return fail(ps, start, "%s %.*s is out of range 1-%d", what,
                    (int)(ps->p - start > 12 ? 12 : ps->p - start), start, max);
    *out = v;
    return CV_OK;
}

/* Sets the bits lo..hi (step apart) in the current field. */
static void set_range(struct parser *ps, int lo, int hi, int step)
{
    cv_cron *c = ps->c;

    for (int v = lo; v <= hi; v += step) {
        switch (ps->field) {
        case F_MINUTE:
            c->minutes |= (uint64_t)1 << v;
            break;
        case F_HOUR:
            c->hours |= (uint32_t)1 << v;
            break;
        case F_DOM:
            c->dom |= (uint32_t)1 << v;
            break;
        case F_MONTH:
            c->months |= (uint32_t)1 << v;
            break;
        case F_DOW:
            c->dow |= (uint32_t)1 << (v % 7);
            break;
        }
    }
}

/* "L", "L-n", "LW" in day-of-month; ps->p is at the L. */
static int parse_dom_last(struct parser *ps)
{
    cv_cron *c = ps->c;
    int n = 0;

    ps->p++;
    if (upper(*ps->p) == 'W') {
        ps->p++;
        c->dom_lw = 1;
        return CV_OK;
    }
    if (*ps->p == '-') {
        const char *start = ++ps->p;
        if (!is_digit(*ps->p))
            return fail(ps, start, "L- must be followed by a number of days");
        n = parse_number(ps);
        if (n > 30)
            return fail(ps, start, "L-%.*s is out of range L-0 to L-30",
                        (int)(ps->p - start > 12 ? 12 : ps->p - start), start);
    }
    c->dom_last |= (uint32_t)1 << n;
    return CV_OK;
}

/*
 * The suffixes that turn one value into a day rule: "15W" in day-of-month,
 * "5L" and "5#2" in day-of-week. Returns 1 if one was parsed, 0 if there
 * is none, CV_ERR on error.
 */
static int parse_day_suffix(struct parser *ps, int v)
{
    cv_cron *c = ps->c;
    char s = upper(*ps->p);
    int nth;

    if (ps->field == F_DOM && s == 'W') {
        ps->p++;
        c->dom_near |= (uint32_t)1 << v;
        return 1;
    }
    if (ps->field == F_DOW && s == 'L') {
        ps->p++;
        c->dow_last |= (uint32_t)1 << (v % 7);
        return 1;
    }
    if (ps->field == F_DOW && s == '#') {
        ps->p++;
        if (parse_count(ps, "#", 5, &nth) < 0)
            return CV_ERR;
        c->dow_nth[v % 7] |= (uint32_t)1 << (nth - 1);
        return 1;
    }
    if (ps->field == F_DOM && s == 'L')
        return fail(ps, ps->p,
                    "a day number cannot take 'L' (for the last "
                    "day write L, for days before it L-n)");
    if (s == 'L' || s == 'W' || s == '#')
        return fail(ps, ps->p, "'%c' is only allowed in %s", *ps->p,
                    s == 'W'   ? "day-of-month"
                    : s == '#' ? "day-of-week"
                               : "day-of-month and day-of-week");
    return 0;
}

/* One list element: * | v | v-v, each with an optional /step; or a day
 * rule (L, LW, L-n, nW, nL, n#k). */
static int parse_element(struct parser *ps)
{
    const struct field_def *f = &fields[ps->field];
    const char *start = ps->p;
    int lo, hi, step = 1, named, rc;
    int top = ps->field == F_DOW ? 6 : f->max; /* 7 is Sunday again */

    if (ps->field == F_DOM && upper(*ps->p) == 'L')
        return parse_dom_last(ps);

    if (*ps->p == '*') {
        ps->p++;
        lo = f->min;
        hi = top;
    } else {
        if (parse_value(ps, &lo, &named) < 0)
            return CV_ERR;
        if ((rc = parse_day_suffix(ps, lo)) != 0)
            return rc < 0 ? CV_ERR : CV_OK;
        hi = lo;
        if (*ps->p == '-') {
            ps->p++;
            if (parse_value(ps, &hi, &named) < 0)
                return CV_ERR;
            if (ps->field == F_DOW && named && hi == 0 && lo > 0)
                hi = 7; /* FRI-SUN */
            if (hi < lo)
                return fail(ps, start, "range %d-%d is reversed", lo, hi);
        } else if (*ps->p == '/') {
            hi = lo > top ? lo : top; /* "5/10" is 5-max/10 */
        }
    }
    if (*ps->p == '/') {
        ps->p++;
        if (parse_count(ps, "step", f->max, &step) < 0)
            return CV_ERR;
    }
    set_range(ps, lo, hi, step);
    return CV_OK;
}

/* A whole field: elements separated by commas, up to a blank or the end. */
static int parse_field(struct parser *ps, const char *text)
{
    ps->p = text;
    for (;;) {
        if (parse_element(ps) < 0)
            return CV_ERR;
        if (*ps->p == '\0' || is_blank(*ps->p))
            return CV_OK;
        if (*ps->p != ',')
            return fail_unexpected(ps);
        ps->p++;
        if (*ps->p == '\0' || is_blank(*ps->p) || *ps->p == ',')
            return fail(ps, ps->p, "empty list element");
    }
}

/* Whether the field text starting at s (up to a blank) contains c. */
static int field_has(const char *s, char c)
{
    for (; *s && !is_blank(*s); s++)
        if (*s == c)
            return 1;
    return 0;
}

/* Splits text into exactly five fields and parses each. */
static int parse_fields(struct parser *ps, const char *text)
{
    const char *start[F_COUNT + 1];
    const char *p = text;
    int n = 0;

    ps->field = -1;
    for (;;) {
        while (is_blank(*p))
            p++;
        if (*p == '\0')
            break;
        if (n == F_COUNT)
            return fail(ps, p,
                        "expected 5 fields (minute hour day-of-month "
                        "month day-of-week), found more");
        start[n++] = p;
        while (*p && !is_blank(*p))
            p++;
    }
    if (n != F_COUNT)
        return cv_err(ps->err, ps->errlen,
                      "cron \"%s\": expected 5 fields (minute hour "
                      "day-of-month month day-of-week), got %d",
                      ps->shown, n);

    for (int i = 0; i < F_COUNT; i++) {
        ps->field = i;
        if (parse_field(ps, start[i]) < 0)
            return CV_ERR;
    }
    ps->c->dom_star = *start[F_DOM] == '*';
    ps->c->dow_star = *start[F_DOW] == '*';
    ps->c->hour_wild =
        field_has(start[F_HOUR], '*') || field_has(start[F_HOUR], '/');
    return CV_OK;
}

/* "@daily" and friends; the whole expression must be the macro. */
static int parse_macro(struct parser *ps, const char *text)
{
    const char *end = text, *expansion = NULL;
    size_t n;

    while (*end && !is_blank(*end))
        end++;
    n = (size_t)(end - text);
    for (size_t i = 0; i < CV_ARRAY_SIZE(macros); i++)
        if (strlen(macros[i].name) == n &&
            strncasecmp(macros[i].name, text, n) == 0)
            expansion = macros[i].expansion;
    if (!expansion && n == 7 && strncasecmp(text, "@reboot", 7) == 0)
        return fail(ps, text, "@reboot is not supported (not a time)");
    if (!expansion)
        return fail(ps, text,
                    "unknown macro '%.*s' (expected @yearly, @annually, "
                    "@monthly, @weekly, @daily, @midnight or @hourly)",
                    (int)(n > 16 ? 16 : n), text);
    for (const char *p = end; *p; p++)
        if (!is_blank(*p))
            return fail(ps, p, "unexpected text after %.*s", (int)n, text);
    /* the expansions are valid: no message will quote them */
    ps->expr = expansion;
    return parse_fields(ps, expansion);
}

int cv_cron_parse(const char *expr, cv_cron **out, char *err, size_t errlen)
{
    struct parser ps;
    const char *p;
    size_t len;

    *out = NULL;
    if (!expr)
        return cv_err(err, errlen, "cron expression is missing");
    len = strlen(expr);
    if (len > CV_CRON_EXPR_MAX)
        return cv_err(err, errlen,
                      "cron \"%.32s...\": too long (%zu characters, at most "
                      "%d)",
                      expr, len, CV_CRON_EXPR_MAX);

    memset(&ps, 0, sizeof(ps));
    ps.expr = expr;
    ps.field = -1;
    ps.err = err;
    ps.errlen = errlen;
    for (size_t i = 0; i < len; i++)
        ps.shown[i] = (expr[i] >= 0x20 && expr[i] < 0x7f) ? expr[i] : '?';
    ps.c = cv_calloc(1, sizeof(*ps.c));

    for (p = expr; is_blank(*p); p++)
        ;
    if ((*p == '@' ? parse_macro(&ps, p) : parse_fields(&ps, expr)) < 0) {
        cv_cron_free(ps.c);
        return CV_ERR;
    }
    ps.c->expr = cv_strdup(expr);
    *out = ps.c;
    return CV_OK;
}

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
