/*
 * test_logical.c - Avro logical type checks: each logical type's accepted
 * edges and first refused values, the error's field path and wording,
 * named types and unions resolved as the codec resolves them, and the
 * codec refusing a bad uuid for a real schema (what dead-lettered with
 * SQLSTATE 22P02 before).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "logical.h"
#include "schema.h"
#include "test.h"

static char err[512];

/* Checks value (JSON text) against schema (JSON text): CV_OK or CV_ERR. */
static int run(const char *schema, const char *value)
{
    json_t *s = json_loads(schema, 0, NULL);
    json_t *v = json_loads(value, JSON_ALLOW_NUL, NULL);
    int rc;

    err[0] = '\0';
    if (!s || !v) {
        fprintf(stderr, "bad test JSON: %s / %s\n", schema, value);
        json_decref(s);
        json_decref(v);
        return -99;
    }
    rc = cv_logical_check(s, v, err, sizeof(err));
    json_decref(s);
    json_decref(v);
    return rc;
}

#define REC(fields)                                                            \
    "{\"type\": \"record\", \"name\": \"R\", \"namespace\": \"t\", "           \
    "\"fields\": [" fields "]}"
#define FIELD(name, type) "{\"name\": \"" name "\", \"type\": " type "}"
#define UUID_T            "{\"type\": \"string\", \"logicalType\": \"uuid\"}"

static void test_uuid(void)
{
    const char *s = REC(FIELD("id", UUID_T));

    CHECK(run(s, "{\"id\": \"123e4567-e89b-42d3-a456-426614174000\"}") ==
          CV_OK);
    CHECK(run(s, "{\"id\": \"123E4567-E89B-42D3-A456-426614174000\"}") ==
          CV_OK);
    CHECK(run(s, "{\"id\": \"not-a-uuid\"}") == CV_ERR);
    CHECK_STR(err, "field 'id': expected a uuid (logicalType uuid: 32 hex "
                   "digits as 8-4-4-4-12, e.g. "
                   "123e4567-e89b-42d3-a456-426614174000), got \"not-a-uuid\"");
    /* one character off in length, a hyphen moved, a non-hex digit */
    CHECK(run(s, "{\"id\": \"123e4567-e89b-42d3-a456-42661417400\"}") ==
          CV_ERR);
    CHECK(run(s, "{\"id\": \"123e4567e-89b-42d3-a456-426614174000\"}") ==
          CV_ERR);
    CHECK(run(s, "{\"id\": \"123e4567-e89b-42d3-a456-42661417400g\"}") ==
          CV_ERR);
    CHECK(run(s, "{\"id\": \"{123e4567-e89b-42d3-a456-426614174000}\"}") ==
          CV_ERR);
    CHECK(cv_logical_is_uuid("00000000-0000-0000-0000-000000000000", 36));
    CHECK(!cv_logical_is_uuid("", 0));
    /* a long bad value is cut in the message */
    CHECK(run(s,
              "{\"id\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}") ==
          CV_ERR);
    CHECK_CONTAINS(err, "...\" (104 characters)");
    /* uuid on a base type it does not pair with: ignored (the spec) */
    CHECK(
        run(REC(FIELD("n", "{\"type\": \"long\", \"logicalType\": \"uuid\"}")),
            "{\"n\": 5}") == CV_OK);
}

static void test_times(void)
{
    const char *ms = REC(FIELD(
        "at", "{\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}"));
    const char *us = REC(FIELD(
        "at", "{\"type\": \"long\", \"logicalType\": \"timestamp-micros\"}"));
    const char *d =
        REC(FIELD("day", "{\"type\": \"int\", \"logicalType\": \"date\"}"));
    const char *t = REC(
        FIELD("t", "{\"type\": \"int\", \"logicalType\": \"time-millis\"}"));

    /* 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z */
    CHECK(run(ms, "{\"at\": -62135596800000}") == CV_OK);
    CHECK(run(ms, "{\"at\": 253402300799999}") == CV_OK);
    CHECK(run(ms, "{\"at\": 1763790000000}") == CV_OK);
    CHECK(run(ms, "{\"at\": 253402300800000}") == CV_ERR);
    CHECK_STR(err, "field 'at': expected a timestamp-millis (logicalType "
                   "timestamp-millis: milliseconds since 1970-01-01T00:00:00, "
                   "-62135596800000..253402300799999, years 0001-9999), got "
                   "253402300800000");
    CHECK(run(ms, "{\"at\": -62135596800001}") == CV_ERR);
    /* microseconds given for milliseconds: year 57000 */
    CHECK(run(ms, "{\"at\": 1763790000000000}") == CV_ERR);
    CHECK(run(us, "{\"at\": 1763790000000000}") == CV_OK);
    CHECK(run(us, "{\"at\": 253402300799999999}") == CV_OK);
    CHECK(run(us, "{\"at\": 253402300800000000}") == CV_ERR);
    CHECK_CONTAINS(err, "expected a timestamp-micros");
    CHECK(run(d, "{\"day\": -719162}") == CV_OK);
    CHECK(run(d, "{\"day\": 2932896}") == CV_OK);
    CHECK(run(d, "{\"day\": 2932897}") == CV_ERR);
    CHECK_STR(err, "field 'day': expected a date (logicalType date: days "
                   "since 1970-01-01, -719162..2932896, years 0001-9999), got "
                   "2932897");
    CHECK(run(d, "{\"day\": -719163}") == CV_ERR);
    CHECK(run(t, "{\"t\": 86399999}") == CV_OK);
    CHECK(run(t, "{\"t\": 86400000}") == CV_ERR);
    CHECK_STR(err, "field 't': expected a time-millis (logicalType "
                   "time-millis: milliseconds after midnight, 0..86399999), "
                   "got 86400000");
    CHECK(run(t, "{\"t\": -1}") == CV_ERR);
}

/* decimal(4,2): unscaled values -9999..9999 */
static void test_decimal(void)
{
    const char *s = REC(
        FIELD("amount", "{\"type\": \"bytes\", \"logicalType\": \"decimal\", "
                        "\"precision\": 4, \"scale\": 2}"));
    const char *fx = REC(FIELD(
        "amount", "{\"type\": \"fixed\", \"name\": \"Money\", \"size\": 4, "
                  "\"logicalType\": \"decimal\", \"precision\": 4}"));
    const unsigned char b9999[] = {0x27, 0x0f}, b10000[] = {0x27, 0x10};
    const unsigned char m10000[] = {0xd8, 0xf0}, m9999[] = {0xd8, 0xf1};
    const unsigned char m1[] = {0xff}, m128[] = {0xff, 0x80}, z[] = {0, 0};

    CHECK(cv_logical_decimal_digits(b9999, 2) == 4);
    CHECK(cv_logical_decimal_digits(b10000, 2) == 5);
    CHECK(cv_logical_decimal_digits(m9999, 2) == 4);
    CHECK(cv_logical_decimal_digits(m10000, 2) == 5);
    CHECK(cv_logical_decimal_digits(m1, 1) == 1);
    CHECK(cv_logical_decimal_digits(m128, 2) == 3);
    CHECK(cv_logical_decimal_digits(z, 2) == 1);
    CHECK(cv_logical_decimal_digits(z, 0) == 1);

    /* 9999 = 0x270f: "'\u000f"; 10000 = 0x2710: "'\u0010" */
    CHECK(run(s, "{\"amount\": \"'\\u000f\"}") == CV_OK);
    CHECK(run(s, "{\"amount\": \"'\\u0010\"}") == CV_ERR);
    CHECK_STR(err, "field 'amount': expected decimal(4,2) (logicalType "
                   "decimal: the unscaled value has at most 4 digits, written "
                   "as its two's-complement big-endian bytes), got 5 digits");
    /* -9999 = 0xd8f1 (U+00D8 U+00F1), -10000 = 0xd8f0 */
    CHECK(run(s, "{\"amount\": \"\\u00d8\\u00f1\"}") == CV_OK);
    CHECK(run(s, "{\"amount\": \"\\u00d8\\u00f0\"}") == CV_ERR);
    /* "12.34" typed as text is the bytes 0x31 0x32 ...: far too many digits */
    CHECK(run(s, "{\"amount\": \"12.34\"}") == CV_ERR);
    CHECK_CONTAINS(err, "got 12 digits");
    /* fixed: scale defaults to 0 */
    CHECK(run(fx, "{\"amount\": \"\\u0000\\u0000'\\u000f\"}") == CV_OK);
    CHECK(run(fx, "{\"amount\": \"\\u0000\\u0000'\\u0010\"}") == CV_ERR);
    CHECK_CONTAINS(err, "expected decimal(4,0)");
    /* an invalid decimal (scale > precision) is its base type */
    CHECK(run(REC(FIELD("a", "{\"type\": \"bytes\", \"logicalType\": "
                             "\"decimal\", \"precision\": 2, \"scale\": 3}")),
              "{\"a\": \"12.34\"}") == CV_OK);
}

/* nested records, arrays, maps, named references and unions */
static void test_structure(void)
{
    const char *s = REC(FIELD(
        "owner",
        "{\"type\": \"record\", \"name\": \"Person\", "
        "\"fields\": [" FIELD(
            "id",
            UUID_T) "]}") "," FIELD("others",
                                    "{\"type\": \"array\", \"items\": "
                                    "\"Person\"}") "," FIELD("by_name",
                                                             "{\"type\""
                                                             ": "
                                                             "\"map\", "
                                                             "\"values"
                                                             "\": "
                                                             "\"t."
                                                             "Person\""
                                                             "}") "," FIELD("ma"
                                                                            "yb"
                                                                            "e",
                                                                            "["
                                                                            "\""
                                                                            "nu"
                                                                            "ll"
                                                                            "\""
                                                                            ","
                                                                            " " UUID_T
                                                                            "]") "," FIELD("either",
                                                                                           "[\"long\", " UUID_T
                                                                                           "]"));
    const char *ok = "123e4567-e89b-42d3-a456-426614174000";
    char v[1024];

    snprintf(v, sizeof(v),
             "{\"owner\": {\"id\": \"%s\"}, \"others\": [{\"id\": \"%s\"}], "
             "\"by_name\": {\"ada\": {\"id\": \"%s\"}}, \"maybe\": null, "
             "\"either\": 5}",
             ok, ok, ok);
    CHECK(run(s, v) == CV_OK);
    CHECK(run(s, "{\"owner\": {\"id\": \"x\"}}") == CV_ERR);
    CHECK_CONTAINS(err, "field 'owner.id': expected a uuid");
    snprintf(v, sizeof(v), "{\"others\": [{\"id\": \"%s\"}, {\"id\": \"x\"}]}",
             ok);
    CHECK(run(s, v) == CV_ERR);
    CHECK_CONTAINS(err, "field 'others[1].id': expected a uuid");
    CHECK(run(s, "{\"by_name\": {\"bob\": {\"id\": \"x\"}}}") == CV_ERR);
    CHECK_CONTAINS(err, "field 'by_name.bob.id': expected a uuid");
    CHECK(run(s, "{\"maybe\": \"x\"}") == CV_ERR);
    CHECK_CONTAINS(err, "field 'maybe': expected a uuid");
    CHECK(run(s, "{\"maybe\": {\"string\": \"x\"}}") == CV_ERR);
    CHECK_CONTAINS(err, "field 'maybe': expected a uuid");
    /* a number goes to the long branch: no uuid check */
    CHECK(run(s, "{\"either\": 7}") == CV_OK);
    CHECK(run(s, "{\"either\": \"x\"}") == CV_ERR);
    /* parts that do not fit the shape are the codec's to report */
    CHECK(run(s, "{\"owner\": 5, \"others\": {}, \"nope\": 1}") == CV_OK);
}

/* The codec refuses a bad uuid for the real LeadSubmitted schema. */
static void test_codec(void)
{
    char errstr[512] = "";
    struct cv_catalogue *cat = cv_catalogue_load("schemas", err, sizeof(err));
    const struct cv_schema *s;
    char *out = NULL;
    size_t len = 0;
    const char *bad =
        "{\"lead_id\": \"not-a-uuid\", \"partner_id\": "
        "\"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\", \"email\": \"a@b\", "
        "\"submitted_at\": 1763790000000}";
    const char *good =
        "{\"lead_id\": \"6f1c2b9e-3d4a-4b5c-8d6e-7f8091a2b3c4\", "
        "\"partner_id\": "
        "\"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\", \"email\": \"a@b\", "
        "\"submitted_at\": 1763790000000}";

    CHECK(cat != NULL);
    if (!cat) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    s = cv_catalogue_by_name(cat, "marketplace.LeadSubmitted");
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(cv_codec_encode_json(s, bad, strlen(bad), &out, &len, errstr,
                               sizeof(errstr)) == CV_ERR);
    CHECK(out == NULL);
    CHECK_CONTAINS(errstr, "field 'lead_id': expected a uuid");
    CHECK_CONTAINS(errstr, "got \"not-a-uuid\"");
    CHECK(cv_codec_encode_json(s, good, strlen(good), &out, &len, errstr,
                               sizeof(errstr)) == CV_OK);
    CHECK(out != NULL && len > CV_FRAME_HEADER);
    free(out);
out:
    cv_catalogue_destroy(cat);
}

int main(void)
{
    test_uuid();
    test_times();
    test_decimal();
    test_structure();
    test_codec();
    TEST_DONE();
}
