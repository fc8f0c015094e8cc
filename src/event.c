/*
 * event.c - CloudEvents over Kafka, binary mode: the ce_* message headers.
 *
 * A consumer calls cv_ce_parse() on every message before anything else: the
 * event id is the idempotency key (inbox dedupe), the type routes it, the
 * time and tenant go to the handler. Header values come from any producer,
 * so each is checked before it is copied: present, not empty, short enough
 * for its field, valid UTF-8 and free of NUL bytes (these values end up in
 * Postgres text columns, which reject both). A header that appears twice is
 * refused rather than guessed at. Unknown headers are ignored. On an error
 * the fields that did parse are kept, so the dead letter can still say
 * which event type it was.
 *
 * Producers (the outbox relay) call cv_ce_headers_new() to write the same
 * headers plus content-type. Times are RFC 3339, parsed and printed in UTC
 * with millisecond precision through timegm()/gmtime_r(): no time zone
 * state, no locale, safe from any thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "event.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/* RFC 3339 text longer than this is refused (it allows any fraction). */
#define TIME_TEXT_MAX 64

enum ce_field {
    F_SPECVERSION,
    F_ID,
    F_TYPE,
    F_SOURCE,
    F_TIME,
    F_TENANT,
    F_TRACEPARENT,
    F_COUNT
};

static const struct {
    const char *header;
    size_t off; /* where the text goes in struct cv_ce */
    size_t cap;
    int required;
} fields[F_COUNT] = {
    [F_SPECVERSION] = {"ce_specversion", offsetof(struct cv_ce, specversion),
                       sizeof(((struct cv_ce *)0)->specversion), 1},
    [F_ID] = {"ce_id", offsetof(struct cv_ce, id), CV_CE_ID_MAX, 1},
    [F_TYPE] = {"ce_type", offsetof(struct cv_ce, type), CV_CE_TYPE_MAX, 1},
    [F_SOURCE] = {"ce_source", offsetof(struct cv_ce, source), CV_CE_SOURCE_MAX,
                  1},
    [F_TIME] = {"ce_time", 0, TIME_TEXT_MAX + 1, 1},
    [F_TENANT] = {"ce_tenant", offsetof(struct cv_ce, tenant), CV_CE_TENANT_MAX,
                  0},
    [F_TRACEPARENT] = {"traceparent", offsetof(struct cv_ce, traceparent),
                       CV_CE_TRACE_MAX, 0},
};

static int is_lower_hex(const char *s, size_t n, int *all_zero)
{
    *all_zero = 1;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
        if (s[i] != '0')
            *all_zero = 0;
    }
    return 1;
}

/*
 * W3C Trace Context: version-traceid-parentid-flags, lowercase hex, ids not
 * all zero, version ff forbidden. A later version may append "-..." fields.
 */
static int traceparent_valid(const char *s, size_t len)
{
    int zero;

    if (len < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return 0;
    if (!is_lower_hex(s, 2, &zero) || strncmp(s, "ff", 2) == 0)
        return 0;
    if (!is_lower_hex(s + 3, 32, &zero) || zero)
        return 0;
    if (!is_lower_hex(s + 36, 16, &zero) || zero)
        return 0;
    if (!is_lower_hex(s + 53, 2, &zero))
        return 0;
    if (strncmp(s, "00", 2) == 0)
        return len == 55;
    return len == 55 || s[55] == '-';
}

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z */
#define RFC3339_MIN_MS (-62167219200000LL)
#define RFC3339_MAX_MS (253402300799999LL)

/* Reads n digits at s into *v. */
static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *v = *v * 10 + (s[i] - '0');
    }
    return 1;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

int cv_rfc3339_parse(const char *s, size_t len, int64_t *ms)
{
    int year, mon, day, hour, min, sec, frac = 0, off = 0;
    size_t i = 19;
    struct tm tm;
    time_t t;
    int64_t t_ms;

    /* 2026-11-22T06:05:00Z is the shortest form. */
    if (!s || len < 20 || len > TIME_TEXT_MAX)
        return CV_ERR;
    if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) ||
        s[7] != '-' || !digits(s + 8, 2, &day) ||
        (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &hour) ||
        s[13] != ':' || !digits(s + 14, 2, &min) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return CV_ERR;
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
        hour > 23 || min > 59 || sec > 60)
        return CV_ERR;

    if (s[i] == '.') {
        int n = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++)
            if (n < 3)
                frac = frac * 10 + (s[i] - '0');
        if (n == 0)
            return CV_ERR;
        for (; n < 3; n++) /* ".5" is 500 ms */
            frac *= 10;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (len - i < 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return CV_ERR;
        off = (oh * 60 + om) * 60;
        if (s[i] == '-')
            off = -off;
        i += 6;
    } else {
        return CV_ERR;
    }
    if (i != len)
        return CV_ERR;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec; /* a leap second :60 becomes :00 of the next minute */
    t = timegm(&tm);
    t_ms = ((int64_t)t - off) * 1000 + frac;
    /* An offset can push a year-0000 or year-9999 time out of the range
     * cv_rfc3339_format can write; refuse it so the two stay inverses. */
    if (t_ms < RFC3339_MIN_MS || t_ms > RFC3339_MAX_MS)
        return CV_ERR;
    *ms = t_ms;
    return CV_OK;
}

void cv_rfc3339_format(int64_t ms, char out[32])
{
    int64_t secs, rem;
    time_t t;
    struct tm tm;

    if (ms < RFC3339_MIN_MS)
        ms = RFC3339_MIN_MS;
    if (ms > RFC3339_MAX_MS)
        ms = RFC3339_MAX_MS;
    secs = ms / 1000;
    rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs--;
    }
    t = (time_t)secs;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 32, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
             tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, (int)rem);
}

/* Header text is echoed in errors only when it cannot garble a log line. */
static int printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '\'' || s[i] == '"')
            return 0;
    return 1;
}

/* Records the first error only; later ones would hide the cause. */
static void first_error(int *failed, char *errstr, size_t errstr_size,
                        const char *fmt, ...) CV_PRINTF(4, 5);
static void first_error(int *failed, char *errstr, size_t errstr_size,
                        const char *fmt, ...)
{
    va_list ap;

    if (*failed)
        return;
    *failed = 1;
    if (errstr && errstr_size) {
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
}

int cv_ce_parse(const rd_kafka_headers_t *hdrs, struct cv_ce *ce, char *errstr,
                size_t errstr_size)
{
    const char *val[F_COUNT] = {NULL};
    size_t size[F_COUNT] = {0};
    int seen[F_COUNT] = {0};
    int failed = 0;
    const char *name;
    const void *v;
    size_t sz;

    memset(ce, 0, sizeof(*ce));
    for (size_t idx = 0;
         hdrs && rd_kafka_header_get_all(hdrs, idx, &name, &v, &sz) ==
                     RD_KAFKA_RESP_ERR_NO_ERROR;
         idx++) {
        for (int f = 0; f < F_COUNT; f++) {
            if (strcmp(name, fields[f].header) != 0)
                continue;
            seen[f]++;
            val[f] = v ? v : "";
            size[f] = v ? sz : 0;
            break;
        }
    }

    for (int f = 0; f < F_COUNT; f++) {
        const char *h = fields[f].header;
        char text[TIME_TEXT_MAX + 1];
        char *dst = f == F_TIME ? text : (char *)ce + fields[f].off;

        if (!seen[f] || (!fields[f].required && size[f] == 0)) {
            if (fields[f].required)
                first_error(&failed, errstr, errstr_size, "missing %s", h);
            continue;
        }
        if (seen[f] > 1) {
            first_error(&failed, errstr, errstr_size,
                        "%s: header appears %d times", h, seen[f]);
            continue;
        }
        if (size[f] == 0) {
            first_error(&failed, errstr, errstr_size, "%s: empty", h);
            continue;
        }
        if (size[f] >= fields[f].cap) {
            first_error(&failed, errstr, errstr_size,
                        "%s: longer than %zu bytes", h, fields[f].cap - 1);
            continue;
        }
        if (memchr(val[f], '\0', size[f])) {
            first_error(&failed, errstr, errstr_size, "%s: contains a NUL byte",
                        h);
            continue;
        }
        if (cv_text_check(val[f], size[f]) != CV_TEXT_OK) {
            first_error(&failed, errstr, errstr_size, "%s: not valid UTF-8", h);
            continue;
        }
        if (f == F_SPECVERSION &&
            (size[f] != 3 || memcmp(val[f], "1.0", 3) != 0)) {
            if (printable(val[f], size[f]))
                first_error(&failed, errstr, errstr_size,
                            "%s: version '%.*s' is not supported (want 1.0)", h,
                            (int)size[f], val[f]);
            else
                first_error(&failed, errstr, errstr_size,
                            "%s: not supported (want 1.0)", h);
            continue;
        }
        if (f == F_TIME &&
            cv_rfc3339_parse(val[f], size[f], &ce->time_ms) != CV_OK) {
            if (printable(val[f], size[f]))
                first_error(&failed, errstr, errstr_size,
                            "%s: not RFC 3339 ('%.*s')", h, (int)size[f],
                            val[f]);
            else
                first_error(&failed, errstr, errstr_size, "%s: not RFC 3339",
                            h);
            continue;
        }
        if (f == F_TRACEPARENT && !traceparent_valid(val[f], size[f])) {
            first_error(&failed, errstr, errstr_size,
                        "%s: not W3C trace context "
                        "(00-<32 hex>-<16 hex>-<2 hex>)",
                        h);
            continue;
        }
        memcpy(dst, val[f], size[f]);
        dst[size[f]] = '\0';
    }
    return failed ? CV_ERR : CV_OK;
}

rd_kafka_headers_t *cv_ce_headers_new(const struct cv_ce *ce)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
    char time[32];

    cv_rfc3339_format(ce->time_ms, time);
    rd_kafka_header_add(hdrs, "ce_specversion", -1,
                        ce->specversion[0] ? ce->specversion : "1.0", -1);
    rd_kafka_header_add(hdrs, "ce_id", -1, ce->id, -1);
    rd_kafka_header_add(hdrs, "ce_type", -1, ce->type, -1);
    rd_kafka_header_add(hdrs, "ce_source", -1, ce->source, -1);
    rd_kafka_header_add(hdrs, "ce_time", -1, time, -1);
    if (ce->tenant[0])
        rd_kafka_header_add(hdrs, "ce_tenant", -1, ce->tenant, -1);
    if (ce->traceparent[0])
        rd_kafka_header_add(hdrs, "traceparent", -1, ce->traceparent, -1);
    rd_kafka_header_add(hdrs, "content-type", -1, "application/avro", -1);
    return hdrs;
}

char *cv_headers_to_json(const rd_kafka_headers_t *hdrs)
{
    json_t *obj = json_object();
    const char *name;
    const void *val;
    size_t size;
    char *out;

    if (hdrs) {
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
             RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
            json_t *s = val ? json_stringn(val, size) : json_null();
            if (!s) {
                char *hex = cv_malloc(size * 2 + 5);
                memcpy(hex, "hex:", 4);
                for (size_t j = 0; j < size; j++)
                    snprintf(hex + 4 + 2 * j, 3, "%02x",
                             ((const unsigned char *)val)[j]);
                s = json_string(hex);
                free(hex);
            }
            json_object_set_new(obj, name, s ? s : json_null());
        }
    }
    out = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return out ? out : cv_strdup("{}");
}

rd_kafka_headers_t *cv_headers_from_json(const char *text, size_t len)
{
    json_t *obj = json_loadb(text, len, 0, NULL);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(obj ? 16 : 0);
    const char *name;
    json_t *v;

    json_object_foreach(obj, name, v)
    {
        const char *s = json_string_value(v);
        size_t n = s ? strlen(s) : 0;

        if (!s) {
            rd_kafka_header_add(hdrs, name, -1, NULL, 0);
        } else if (strncmp(s, "hex:", 4) == 0 && n % 2 == 0) {
            unsigned char *b = cv_malloc(n / 2 + 1);
            size_t k = 0;
            for (size_t j = 4; j + 1 < n; j += 2) {
                unsigned int x;
                sscanf(s + j, "%2x", &x);
                b[k++] = (unsigned char)x;
            }
            rd_kafka_header_add(hdrs, name, -1, b, (ssize_t)k);
            free(b);
        } else {
            rd_kafka_header_add(hdrs, name, -1, s, (ssize_t)n);
        }
    }
    json_decref(obj);
    return hdrs;
}
