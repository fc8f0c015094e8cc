/*
 * test_event.c - CloudEvents headers: parsing what producers send (and
 * refusing what they should not), writing them back, RFC 3339 times.
 * rd_kafka_headers_new() needs no broker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "test.h"

#define ID     "3f2c9a8e-0b1d-4e6f-9a2b-1c3d4e5f6a7b"
#define TRACE  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define T_TEXT "2026-11-22T06:05:00.123Z"
#define T_MS   1795327500123LL

static char err[256];

/* Headers from name/value pairs (NULL-terminated), values as C strings. */
static rd_kafka_headers_t *hdrs_of(const char *const *kv)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);

    for (size_t i = 0; kv[i]; i += 2)
        rd_kafka_header_add(h, kv[i], -1, kv[i + 1], -1);
    return h;
}

/* All required headers valid, with one of them replaced or (value NULL)
 * left out. */
static rd_kafka_headers_t *hdrs_with(const char *name, const char *value)
{
    static const char *base[] = {
        "ce_specversion",
        "1.0",
        "ce_id",
        ID,
        "ce_type",
        "marketplace.lead.submitted",
        "ce_source",
        "/partners/api",
        "ce_time",
        T_TEXT,
        NULL,
    };
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    int replaced = 0;

    for (size_t i = 0; base[i]; i += 2) {
        if (name && strcmp(base[i], name) == 0) {
            replaced = 1;
            if (value)
                rd_kafka_header_add(h, name, -1, value, -1);
            continue;
        }
        rd_kafka_header_add(h, base[i], -1, base[i + 1], -1);
    }
    if (name && !replaced && value)
        rd_kafka_header_add(h, name, -1, value, -1);
    return h;
}

static int parse_with(const char *name, const char *value, struct cv_ce *ce)
{
    rd_kafka_headers_t *h = hdrs_with(name, value);
    int rc;

    err[0] = '\0';
    rc = cv_ce_parse(h, ce, err, sizeof(err));
    rd_kafka_headers_destroy(h);
    return rc;
}

static void test_parse_ok(void)
{
    static const char *kv[] = {
        "ce_specversion",
        "1.0",
        "ce_id",
        ID,
        "ce_type",
        "marketplace.lead.submitted",
        "ce_source",
        "/partners/api",
        "ce_time",
        T_TEXT,
        "ce_tenant",
        "acme",
        "traceparent",
        TRACE,
        "content-type",
        "application/avro",
        "x-other",
        "ignored",
        NULL,
    };
    rd_kafka_headers_t *h = hdrs_of(kv);
    struct cv_ce ce;

    CHECK(cv_ce_parse(h, &ce, err, sizeof(err)) == CV_OK);
    CHECK_STR(ce.specversion, "1.0");
    CHECK_STR(ce.id, ID);
    CHECK_STR(ce.type, "marketplace.lead.submitted");
    CHECK_STR(ce.source, "/partners/api");
    CHECK(ce.time_ms == T_MS);
    CHECK_STR(ce.tenant, "acme");
    CHECK_STR(ce.traceparent, TRACE);
    rd_kafka_headers_destroy(h);

    /* optional ones absent, or present but empty */
    CHECK(parse_with(NULL, NULL, &ce) == CV_OK);
    CHECK_STR(ce.tenant, "");
    CHECK_STR(ce.traceparent, "");
    CHECK(parse_with("ce_tenant", "", &ce) == CV_OK);
    CHECK_STR(ce.tenant, "");
}

static void test_missing(void)
{
    static const char *required[] = {"ce_specversion", "ce_id", "ce_type",
                                     "ce_source", "ce_time"};
    struct cv_ce ce;
    char want[64];

    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        CHECK(parse_with(required[i], NULL, &ce) == CV_ERR);
        snprintf(want, sizeof(want), "missing %s", required[i]);
        CHECK_CONTAINS(err, want);
    }
    /* the rest still parsed: a dead letter can be routed by type */
    CHECK(parse_with("ce_id", NULL, &ce) == CV_ERR);
    CHECK_STR(ce.id, "");
    CHECK_STR(ce.type, "marketplace.lead.submitted");
    CHECK(ce.time_ms == T_MS);
    CHECK(parse_with("ce_time", "yesterday", &ce) == CV_ERR);
    CHECK_STR(ce.id, ID);
    CHECK_STR(ce.type, "marketplace.lead.submitted");

    /* no headers at all */
    CHECK(cv_ce_parse(NULL, &ce, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "missing ce_specversion");
    CHECK(cv_ce_parse(NULL, &ce, NULL, 0) == CV_ERR);

    /* present but empty is not the same as a value */
    CHECK(parse_with("ce_id", "", &ce) == CV_ERR);
    CHECK_CONTAINS(err, "ce_id: empty");
}

static void test_bad_values(void)
{
    struct cv_ce ce;
    char id[CV_CE_ID_MAX + 1];
    rd_kafka_headers_t *h;

    CHECK(parse_with("ce_specversion", "0.3", &ce) == CV_ERR);
    CHECK_CONTAINS(err, "ce_specversion");
    CHECK_CONTAINS(err, "'0.3'");
    CHECK(parse_with("ce_specversion", "1.0.1", &ce) == CV_ERR);

    /* 127 bytes fit, 128 do not */
    memset(id, 'a', sizeof(id));
    id[CV_CE_ID_MAX - 1] = '\0';
    CHECK(parse_with("ce_id", id, &ce) == CV_OK);
    CHECK(strlen(ce.id) == CV_CE_ID_MAX - 1);
    id[CV_CE_ID_MAX - 1] = 'a';
    id[CV_CE_ID_MAX] = '\0';
    CHECK(parse_with("ce_id", id, &ce) == CV_ERR);
    CHECK_CONTAINS(err, "ce_id: longer than 127 bytes");
    CHECK_STR(ce.id, "");

    /* a NUL inside a value, invalid UTF-8 */
    h = hdrs_with("ce_id", NULL);
    rd_kafka_header_add(h, "ce_id", -1, "ab\0cd", 5);
    CHECK(cv_ce_parse(h, &ce, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "ce_id: contains a NUL byte");
    rd_kafka_headers_destroy(h);
    CHECK(parse_with("ce_type", "caf\xe9", &ce) == CV_ERR);
    CHECK_CONTAINS(err, "ce_type: not valid UTF-8");
    CHECK(parse_with("ce_type", "caf\xc3\xa9", &ce) == CV_OK);

    /* the same header twice is ambiguous */
    h = hdrs_with(NULL, NULL);
    rd_kafka_header_add(h, "ce_id", -1, "other", -1);
    CHECK(cv_ce_parse(h, &ce, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "ce_id: header appears 2 times");
    rd_kafka_headers_destroy(h);

    /* a header with a NULL value */
    h = hdrs_with("ce_source", NULL);
    rd_kafka_header_add(h, "ce_source", -1, NULL, 0);
    CHECK(cv_ce_parse(h, &ce, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "ce_source: empty");
    rd_kafka_headers_destroy(h);

    CHECK(parse_with("ce_tenant", "t\x01", &ce) == CV_OK); /* allowed */
    memset(id, 'b', sizeof(id));
    id[CV_CE_TENANT_MAX] = '\0';
    CHECK(parse_with("ce_tenant", id, &ce) == CV_ERR);
    CHECK_CONTAINS(err, "ce_tenant: longer than");

    /* unprintable values are not echoed into the error */
    CHECK(parse_with("ce_time", "2026\n-11", &ce) == CV_ERR);
    CHECK_CONTAINS(err, "ce_time: not RFC 3339");
    CHECK(strchr(err, '\n') == NULL);
}

static void test_traceparent(void)
{
    static const char *bad[] = {
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", /* upper */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* 0 id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        "garbage",
    };
    struct cv_ce ce;

    CHECK(parse_with("traceparent", TRACE, &ce) == CV_OK);
    CHECK_STR(ce.traceparent, TRACE);
    /* a future version may append fields */
    CHECK(parse_with("traceparent",
                     "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"
                     "01-abc",
                     &ce) == CV_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_with("traceparent", bad[i], &ce) != CV_ERR)
            fprintf(stderr, "accepted traceparent %s\n", bad[i]);
        CHECK_CONTAINS(err, "traceparent: not W3C trace context");
        CHECK_STR(ce.traceparent, "");
        CHECK_STR(ce.id, ID); /* the rest still parsed */
    }
}

static int64_t parse_ms(const char *s, int *ok)
{
    int64_t ms = 0;

    *ok = cv_rfc3339_parse(s, strlen(s), &ms) == CV_OK;
    return ms;
}

static void test_rfc3339(void)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.001Z", 1},
        {"1969-12-31T23:59:59.999Z", -1},
        {T_TEXT, T_MS},
        {"2026-11-22T06:05:00.123456789Z", T_MS},
        {"2026-11-22T06:05:00.1Z", T_MS - 23},
        {"2026-11-22t06:05:00.123z", T_MS},
        {"2026-11-22T16:05:00.123+10:00", T_MS},
        {"2026-11-22T00:35:00.123-05:30", T_MS},
        {"2026-11-22T06:05:00.123+00:00", T_MS},
        {"2026-11-22T06:05:00.123-00:00", T_MS},
        {"2024-02-29T12:00:00Z", 1709208000000LL},
        {"2000-02-29T00:00:00Z", 951782400000LL},
        {"2016-12-31T23:59:60Z", 1483228800000LL}, /* leap second */
        {"0000-01-01T00:00:00Z", -62167219200000LL},
        {"9999-12-31T23:59:59.999Z", 253402300799999LL},
    };
    static const char *bad[] = {
        "",
        "2026-11-22",
        "2026-11-22T06:05:00",
        "2026-11-22 06:05:00Z",
        "2026-11-22T06:05Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T06:60:00Z",
        "2026-11-22T06:05:61Z",
        "2026-11-22T06:05:00.Z",
        "2026-11-22T06:05:00+1000",
        "2026-11-22T06:05:00+10",
        "2026-11-22T06:05:00+24:00",
        "2026-11-22T06:05:00+10:60",
        "2026-11-22T06:05:00ZZ",
        "2026-11-22T06:05:00Z ",
        " 2026-11-22T06:05:00Z",
        "+2026-11-22T06:05:00Z",
        "2026-1a-22T06:05:00Z",
        "0000-01-01T00:00:00+00:01", /* before year 0 in UTC */
        "9999-12-31T23:59:59-00:01", /* after year 9999 in UTC */
        "2026-11-22T06:05:00.123456789012345678901234567890123456789012345Z",
    };
    int ok;
    char out[32];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t ms = parse_ms(good[i].text, &ok);
        if (!ok || ms != good[i].ms)
            fprintf(stderr, "%s: ok=%d ms=%lld\n", good[i].text, ok,
                    (long long)ms);
        CHECK(ok && ms == good[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse_ms(bad[i], &ok);
        if (ok)
            fprintf(stderr, "accepted time '%s'\n", bad[i]);
        CHECK(!ok);
    }
    /* len bounds the text: no reading past it */
    {
        int64_t ms;
        CHECK(cv_rfc3339_parse("2026-11-22T06:05:00ZXYZ", 20, &ms) == CV_OK &&
              ms == T_MS - 123);
        CHECK(cv_rfc3339_parse("2026-11-22T06:05:00Z", 19, &ms) == CV_ERR);
        CHECK(cv_rfc3339_parse(NULL, 0, &ms) == CV_ERR);
    }

    cv_rfc3339_format(T_MS, out);
    CHECK_STR(out, T_TEXT);
    cv_rfc3339_format(0, out);
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
    cv_rfc3339_format(-1, out);
    CHECK_STR(out, "1969-12-31T23:59:59.999Z");
    cv_rfc3339_format(-1000, out);
    CHECK_STR(out, "1969-12-31T23:59:59.000Z");
    cv_rfc3339_format(951782400000LL, out);
    CHECK_STR(out, "2000-02-29T00:00:00.000Z");
    cv_rfc3339_format(INT64_MAX, out);
    CHECK_STR(out, "9999-12-31T23:59:59.999Z");
    cv_rfc3339_format(INT64_MIN, out);
    CHECK_STR(out, "0000-01-01T00:00:00.000Z");

    /* format then parse is the identity across the range */
    for (int64_t ms = -62167219200000LL; ms < 253402300799999LL;
         ms += 7777777777777LL + 1) {
        int64_t back;
        cv_rfc3339_format(ms, out);
        CHECK(cv_rfc3339_parse(out, strlen(out), &back) == CV_OK && back == ms);
    }
}

static const char *header(const rd_kafka_headers_t *h, const char *name)
{
    static char buf[512];
    const void *v;
    size_t size;

    if (rd_kafka_header_get_last(h, name, &v, &size) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    snprintf(buf, sizeof(buf), "%.*s", (int)size, (const char *)v);
    return buf;
}

static void test_headers_new(void)
{
    struct cv_ce ce, back;
    rd_kafka_headers_t *h;

    memset(&ce, 0, sizeof(ce));
    strcpy(ce.id, ID);
    strcpy(ce.type, "marketplace.upload.completed");
    strcpy(ce.source, "conveyor/outbox");
    ce.time_ms = T_MS;
    h = cv_ce_headers_new(&ce);
    CHECK(h != NULL);
    CHECK_STR(header(h, "ce_specversion"), "1.0");
    CHECK_STR(header(h, "ce_time"), T_TEXT);
    CHECK_STR(header(h, "content-type"), "application/avro");
    CHECK(header(h, "ce_tenant") == NULL);
    CHECK(header(h, "traceparent") == NULL);
    CHECK(rd_kafka_header_cnt(h) == 6);
    CHECK(cv_ce_parse(h, &back, err, sizeof(err)) == CV_OK);
    CHECK_STR(back.id, ID);
    CHECK_STR(back.type, ce.type);
    CHECK_STR(back.source, ce.source);
    CHECK(back.time_ms == T_MS);
    rd_kafka_headers_destroy(h);

    strcpy(ce.tenant, "acme");
    strcpy(ce.traceparent, TRACE);
    h = cv_ce_headers_new(&ce);
    CHECK(rd_kafka_header_cnt(h) == 8);
    CHECK(cv_ce_parse(h, &back, err, sizeof(err)) == CV_OK);
    CHECK_STR(back.tenant, "acme");
    CHECK_STR(back.traceparent, TRACE);
    rd_kafka_headers_destroy(h);
}

int main(void)
{
    test_parse_ok();
    test_missing();
    test_bad_values();
    test_traceparent();
    test_rfc3339();
    test_headers_new();
    TEST_DONE();
}
