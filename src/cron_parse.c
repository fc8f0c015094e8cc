/*
 * cron_parse.c - the cron parser: five fields (or a macro) into the
 * bitmasks and day rules of a cv_cron (cron_int.h), with errors that name
 * the field, the column and, for a letter in the wrong place, which fields
 * take it. What the syntax is: cron.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cron.h"
#include "cron_int.h"

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
    char msg[256];
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

/* The length of a word (letters, and any non-ASCII bytes) at s. */
static size_t word_len(const char *s)
{
    size_t n = 0;

    while (is_alpha(s[n]) || (unsigned char)s[n] >= 0x80)
        n++;
    return n;
}

/*
 * A word for a message, whole: ASCII as is, well-formed UTF-8 sequences as
 * is, any other byte as \xNN; at most about 32 bytes, then "...".
 */
static const char *show_word(char *buf, size_t size, const char *s, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 8 < size;) {
        unsigned char b = (unsigned char)s[i];
        size_t len = b < 0x80             ? 1
                     : (b & 0xe0) == 0xc0 ? 2
                     : (b & 0xf0) == 0xe0 ? 3
                     : (b & 0xf8) == 0xf0 ? 4
                                          : 0;
        int ok = len && i + len <= n;

        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
        if (i >= 32) {
            o += (size_t)snprintf(buf + o, size - o, "...");
            break;
        }
        if (ok) {
            memcpy(buf + o, s + i, len);
            o += len;
            i += len;
        } else {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", b);
            i++;
        }
    }
    buf[o] = '\0';
    return buf;
}

/*
 * 'L', 'W' or '#' where the field or the place does not take it: says
 * which fields do, and in which forms.
 */
static int fail_misplaced(struct parser *ps, const char *at, char s)
{
    if (s == 'L' && at[1] && upper(at[1]) == 'W' && ps->field != F_DOM)
        return fail(ps, at,
                    "'LW' is only allowed in day-of-month (the month's last "
                    "weekday)");
    if (s == 'L' && ps->field == F_DOM)
        return fail(ps, at,
                    "'L' stands on its own in day-of-month (L, L-n, LW), "
                    "not in a range");
    if (s == 'L' && ps->field == F_DOW)
        return fail(ps, at,
                    "'L' in day-of-week must follow a weekday (5L or FRIL: "
                    "the month's last Friday)");
    if (s == 'L')
        return fail(ps, at,
                    "'L' is only allowed in day-of-month (L, L-n, LW) and "
                    "day-of-week (5L)");
    if (s == 'W' && ps->field == F_DOM)
        return fail(ps, at, "'W' must follow a day number or L (15W, LW)");
    if (s == 'W')
        return fail(ps, at, "'W' is only allowed in day-of-month (15W, LW)");
    if (ps->field == F_DOW)
        return fail(ps, at, "'#' must follow a weekday (MON#1, 1#1)");
    return fail(ps, at, "'#' is only allowed in day-of-week (MON#1, 1#1)");
}

static int fail_unexpected(struct parser *ps)
{
    char c = *ps->p;
    char word[64];

    if (c == '\0' || is_blank(c) || c == ',')
        return fail(ps, ps->p, "missing value");
    if (c == '#')
        return fail_misplaced(ps, ps->p, c);
    if (c > 0x20 && c < 0x7f)
        return fail(ps, ps->p, "unexpected character '%c'", c);
    if ((unsigned char)c >= 0x80)
        return fail(ps, ps->p, "unexpected non-ASCII text '%s'",
                    show_word(word, sizeof(word), ps->p, word_len(ps->p)));
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
    char word[64];
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
    n = word_len(start);
    /* a lone L or W, or LW, where the field does not take it */
    if ((n == 1 && (upper(*start) == 'L' || upper(*start) == 'W')) ||
        (n == 2 && upper(start[0]) == 'L' && upper(start[1]) == 'W'))
        return fail_misplaced(ps, start, upper(*start));
    if (!n || !f->names)
        return fail_unexpected(ps);

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
    return fail(ps, start, "unknown %s name '%s' (expected %s-%s)", f->name,
                show_word(word, sizeof(word), start, n), f->names[0],
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
        return fail_misplaced(ps, ps->p, s);
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
