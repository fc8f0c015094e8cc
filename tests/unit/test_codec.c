/*
 * test_codec.c - framed Avro: JSON -> Avro -> decode -> getters for every
 * schema in schemas/, every encoder error naming its field, framing errors,
 * bodies cut at every length, trailing bytes, crafted length prefixes, the
 * record builder, and agreement with avro-c's own reader.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "schema.h"
#include "test.h"

#define LEAD_ID    "6f1c2b9e-3d4a-4b5c-8d6e-7f8091a2b3c4"
#define PARTNER_ID "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define BATCH_ID   "11111111-2222-4333-8444-555555555555"

static struct cv_catalogue *cat;
static struct cv_decoder *dec;
static char err[512];

/* Encodes json with the named schema; NULL (and err set) on failure. */
static char *enc(const char *schema, const char *json, size_t *len)
{
    const struct cv_schema *s = cv_catalogue_by_name(cat, schema);
    char *out = NULL;

    err[0] = '\0';
    if (!s) {
        snprintf(err, sizeof(err), "no schema %s", schema);
        return NULL;
    }
    if (cv_codec_encode_json(s, json, strlen(json), &out, len, err,
                             sizeof(err)) != CV_OK)
        return NULL;
    return out;
}

/* Encoding must fail and the error must contain both needles. */
static void enc_fails(const char *schema, const char *json, const char *needle1,
                      const char *needle2)
{
    size_t len;
    char *out = enc(schema, json, &len);

    CHECK(out == NULL);
    if (out)
        fprintf(stderr, "encoded but should not: %s\n", json);
    CHECK_CONTAINS(err, needle1);
    if (needle2)
        CHECK_CONTAINS(err, needle2);
    free(out);
}

/*
 * Decodes buf with avro-c's own reader into a fresh value and compares it
 * with ours: the hand-written decoder must agree with the reference.
 */
static int same_as_avro_c(const struct cv_schema *s, const char *buf,
                          size_t len, avro_value_t *ours)
{
    avro_value_t ref;
    avro_reader_t reader;
    int ok;

    if (avro_generic_value_new(s->iface, &ref) != 0)
        return 0;
    reader = avro_reader_memory(buf + CV_FRAME_HEADER,
                                (int64_t)(len - CV_FRAME_HEADER));
    ok = avro_value_read(reader, &ref) == 0;
    if (ok && !avro_value_equal(&ref, ours)) {
        /* NaN != NaN: fall back to comparing the JSON renderings */
        char *a = cv_value_to_json(&ref), *b = cv_value_to_json(ours);
        ok = a && b && strcmp(a, b) == 0;
        free(a);
        free(b);
    }
    avro_reader_free(reader);
    avro_value_decref(&ref);
    return ok;
}

static avro_value_t *dec_ok(const char *buf, size_t len,
                            const struct cv_schema **s)
{
    avro_value_t *v = NULL;
    int rc = cv_decoder_decode(dec, buf, len, s, &v, err, sizeof(err));

    CHECK(rc == CV_OK);
    if (rc != CV_OK) {
        fprintf(stderr, "decode: %s\n", err);
        return NULL;
    }
    CHECK(same_as_avro_c(*s, buf, len, v));
    return v;
}

static void dec_fails(const void *buf, size_t len, const char *needle)
{
    const struct cv_schema *s = NULL;
    avro_value_t *v = NULL;

    err[0] = '\0';
    CHECK(cv_decoder_decode(dec, buf, len, &s, &v, err, sizeof(err)) == CV_ERR);
    if (needle)
        CHECK_CONTAINS(err, needle);
}

static void test_frame(void)
{
    unsigned char buf[8] = {0, 0, 0, 0, 7, 1, 2, 3};
    int id = 0;
    const void *body = NULL;
    size_t body_len = 0;

    CHECK(cv_frame_parse(buf, 8, &id, &body, &body_len, err, sizeof(err)) ==
          CV_OK);
    CHECK(id == 7 && body == buf + 5 && body_len == 3);
    CHECK(cv_frame_parse(buf, 5, &id, &body, &body_len, err, sizeof(err)) ==
          CV_OK);
    CHECK(body_len == 0);
    buf[1] = 0x01;
    buf[4] = 0x02;
    CHECK(cv_frame_parse(buf, 8, &id, &body, &body_len, err, sizeof(err)) ==
          CV_OK);
    CHECK(id == 0x01000002);

    CHECK(cv_frame_parse(buf, 4, &id, &body, &body_len, err, sizeof(err)) ==
          CV_ERR);
    CHECK_CONTAINS(err, "too short");
    CHECK(cv_frame_parse(buf, 0, &id, &body, &body_len, err, sizeof(err)) ==
          CV_ERR);
    CHECK(cv_frame_parse(NULL, 0, &id, &body, &body_len, err, sizeof(err)) ==
          CV_ERR);
    buf[0] = '{';
    CHECK(cv_frame_parse(buf, 8, &id, &body, &body_len, err, sizeof(err)) ==
          CV_ERR);
    CHECK_CONTAINS(err, "magic");
    CHECK_CONTAINS(err, "0x7b");
    CHECK(cv_frame_parse(buf, 8, &id, &body, &body_len, NULL, 0) == CV_ERR);

    /* the decoder reports the same, and unknown ids */
    dec_fails("", 0, "too short");
    dec_fails("\x01\x00\x00\x00\x01\x00", 6, "magic");
    dec_fails("\x00\x00\x00\x00\x63\x00", 6, "unknown schema id 99");
    dec_fails("\x00\x00\x00\x00\x00", 5, "unknown schema id 0");
    dec_fails("\x00\xff\xff\xff\xff", 5, "unknown schema id -1");
}

#define LEAD_JSON                                                              \
    "{\"lead_id\": \"" LEAD_ID "\", \"partner_id\": \"" PARTNER_ID "\","       \
    " \"email\": \"ann@example.com\", \"first_name\": \"Ann\","                \
    " \"last_name\": null, \"company\": \"Ex\\u00e4mple GmbH\","               \
    " \"submitted_at\": 1795327500123}"

static void test_lead_round_trip(void)
{
    size_t len, len2;
    char *buf = enc("marketplace.LeadSubmitted", LEAD_JSON, &len);
    char *json = NULL, *buf2 = NULL;
    const struct cv_schema *s = NULL;
    avro_value_t *v;
    const char *str = NULL;
    size_t slen = 0;
    int64_t l = 0;
    int32_t i = 0;
    double d;
    int b;

    CHECK(buf != NULL);
    if (!buf) {
        fprintf(stderr, "encode: %s\n", err);
        return;
    }
    CHECK(len > CV_FRAME_HEADER);
    CHECK(memcmp(buf, "\x00\x00\x00\x00\x01", 5) == 0);
    v = dec_ok(buf, len, &s);
    if (!v)
        goto out;
    CHECK(s == cv_catalogue_by_id(cat, 1));

    CHECK(cv_value_get_string(v, "lead_id", &str, &slen) == CV_OK);
    CHECK_STR(str, LEAD_ID);
    CHECK(slen == strlen(LEAD_ID));
    CHECK(cv_value_get_string(v, "partner_id", &str, NULL) == CV_OK);
    CHECK_STR(str, PARTNER_ID);
    CHECK(cv_value_get_string(v, "email", &str, &slen) == CV_OK);
    CHECK_STR(str, "ann@example.com");
    CHECK(cv_value_get_string(v, "first_name", &str, &slen) == CV_OK);
    CHECK_STR(str, "Ann");
    CHECK(slen == 3);
    CHECK(cv_value_get_string(v, "company", &str, &slen) == CV_OK);
    CHECK_STR(str, "Ex\xc3\xa4mple GmbH");
    /* explicit null and left out (default null) */
    str = "x";
    CHECK(cv_value_get_string(v, "last_name", &str, &slen) == CV_NULL);
    CHECK(str == NULL && slen == 0);
    CHECK(cv_value_get_string(v, "phone", &str, &slen) == CV_NULL);
    CHECK(cv_value_get_long(v, "submitted_at", &l) == CV_OK);
    CHECK(l == 1795327500123LL);

    /* wrong type, no such field */
    CHECK(cv_value_get_int(v, "submitted_at", &i) == CV_ERR);
    CHECK(cv_value_get_string(v, "submitted_at", &str, &slen) == CV_ERR);
    CHECK(cv_value_get_long(v, "email", &l) == CV_ERR);
    CHECK(cv_value_get_double(v, "email", &d) == CV_ERR);
    CHECK(cv_value_get_bool(v, "email", &b) == CV_ERR);
    CHECK(cv_value_get_string(v, "nope", &str, &slen) == CV_ERR);
    CHECK(cv_value_get_long(v, "nope", &l) == CV_ERR);
    CHECK(cv_value_get_string(NULL, "email", &str, &slen) == CV_ERR);
    CHECK(cv_value_get_long(v, "last_name", &l) == CV_NULL);

    json = cv_value_to_json(v);
    CHECK_STR(json, "{\"lead_id\":\"" LEAD_ID "\",\"partner_id\":\"" PARTNER_ID
                    "\",\"email\":\"ann@example.com\",\"first_name\":\"Ann\","
                    "\"last_name\":null,\"company\":\"Ex\xc3\xa4mple GmbH\","
                    "\"phone\":null,\"submitted_at\":1795327500123}");
    /* what to_json prints encodes back to the same bytes */
    buf2 = json ? enc("marketplace.LeadSubmitted", json, &len2) : NULL;
    CHECK(buf2 != NULL && len2 == len && memcmp(buf, buf2, len) == 0);

out:
    free(json);
    free(buf2);
    free(buf);
}

static void test_upload_and_verification(void)
{
    size_t len;
    char *buf;
    const struct cv_schema *s;
    avro_value_t *v;
    int32_t i = 0;
    int64_t l = 0;
    double d;
    const char *str;

    buf = enc("marketplace.UploadCompleted",
              "{\"batch_id\":\"" BATCH_ID "\",\"partner_id\":\"" PARTNER_ID
              "\",\"lead_count\":2147483647}",
              &len);
    CHECK(buf != NULL);
    v = buf ? dec_ok(buf, len, &s) : NULL;
    if (v) {
        CHECK(s->id == 2);
        CHECK(cv_value_get_int(v, "lead_count", &i) == CV_OK);
        CHECK(i == 2147483647);
        CHECK(cv_value_get_long(v, "lead_count", &l) == CV_OK);
        CHECK(l == 2147483647);
        CHECK(cv_value_get_double(v, "lead_count", &d) == CV_ERR);
        CHECK(cv_value_get_string(v, "batch_id", &str, NULL) == CV_OK);
        CHECK_STR(str, BATCH_ID);
    }
    free(buf);

    buf = enc("marketplace.VerificationRequested",
              "{\"lead_id\":\"" LEAD_ID "\",\"partner_id\":\"" PARTNER_ID
              "\",\"email\":\"bob@example.org\"}",
              &len);
    CHECK(buf != NULL);
    v = buf ? dec_ok(buf, len, &s) : NULL;
    if (v) {
        CHECK(s->id == 3);
        CHECK(cv_value_get_string(v, "email", &str, NULL) == CV_OK);
        CHECK_STR(str, "bob@example.org");
    }
    free(buf);
}

static void test_encode_errors(void)
{
    const char *L = "marketplace.LeadSubmitted";
    const char *U = "marketplace.UploadCompleted";

    enc_fails(L,
              "{\"lead_id\": 42, \"partner_id\": \"p\", \"email\": \"e\","
              " \"submitted_at\": 1}",
              "field 'lead_id': expected string, got number", NULL);
    enc_fails(
        L, "{\"lead_id\": \"l\", \"partner_id\": \"p\", \"submitted_at\": 1}",
        "field 'email'", "missing");
    enc_fails(L,
              "{\"lead_id\": \"l\", \"partner_id\": \"p\", \"email\": \"e\","
              " \"emial\": \"x\", \"submitted_at\": 1}",
              "field 'emial'", "not in schema marketplace.LeadSubmitted");
    enc_fails(L,
              "{\"lead_id\": \"l\", \"partner_id\": \"p\", \"email\": \"e\","
              " \"first_name\": 5, \"submitted_at\": 1}",
              "field 'first_name': expected null or string, got number", NULL);
    enc_fails(L,
              "{\"lead_id\": \"l\", \"partner_id\": \"p\", \"email\": \"e\","
              " \"submitted_at\": \"2026-01-01\"}",
              "field 'submitted_at': expected long, got string", NULL);
    enc_fails(L,
              "{\"lead_id\": \"l\", \"partner_id\": \"p\", \"email\": null,"
              " \"submitted_at\": 1}",
              "field 'email': expected string, got null", NULL);
    enc_fails(L,
              "{\"lead_id\": \"l\", \"partner_id\": \"p\", \"email\": "
              "\"a\\u0000b\", \"submitted_at\": 1}",
              "field 'email'", "NUL");
    enc_fails(U,
              "{\"batch_id\":\"b\",\"partner_id\":\"p\",\"lead_count\":"
              "2147483648}",
              "field 'lead_count'", "out of range for int");
    enc_fails(U,
              "{\"batch_id\":\"b\",\"partner_id\":\"p\",\"lead_count\":"
              "-2147483649}",
              "field 'lead_count'", "out of range for int");
    enc_fails(U, "{\"batch_id\":\"b\",\"partner_id\":\"p\",\"lead_count\":5.5}",
              "field 'lead_count'", "fraction");
    enc_fails(U,
              "{\"batch_id\":\"b\",\"partner_id\":\"p\",\"lead_count\":\"5\"}",
              "field 'lead_count': expected int, got string", NULL);
    enc_fails(U,
              "{\"batch_id\":\"b\",\"partner_id\":\"p\",\"lead_count\":true}",
              "field 'lead_count': expected int, got boolean", NULL);
    enc_fails(U, "{\"batch_id\":\"b\",\"partner_id\":[],\"lead_count\":1}",
              "field 'partner_id': expected string, got array", NULL);

    /* JSON syntax: line and column */
    enc_fails(U, "{\"batch_id\": }", "column 14", "line 1");
    enc_fails(U, "{\"batch_id\": \"b\",\n \"partner_id\": \"p\",\n oops}",
              "line 3", "column");
    enc_fails(U, "{\"batch_id\":\"b\",\"batch_id\":\"c\"}", "duplicate", NULL);
    enc_fails(U, "[1, 2]", "expected a JSON object", "array");
    enc_fails(U, "", "JSON syntax error", NULL);
    enc_fails(U, "{} trailing", "JSON syntax error", NULL);
}

/* Avro-JSON union form and JSON null. */
static void test_union_forms(void)
{
    size_t len;
    char *buf;
    const struct cv_schema *s;
    avro_value_t *v;
    const char *str = NULL;

    buf = enc("marketplace.LeadSubmitted",
              "{\"lead_id\":\"" LEAD_ID "\",\"partner_id\":\"" PARTNER_ID
              "\",\"email\":\"e\","
              "\"first_name\":{\"string\":\"Zoe\"},\"phone\":null,"
              "\"submitted_at\":0}",
              &len);
    CHECK(buf != NULL);
    v = buf ? dec_ok(buf, len, &s) : NULL;
    if (v) {
        CHECK(cv_value_get_string(v, "first_name", &str, NULL) == CV_OK);
        CHECK_STR(str, "Zoe");
        CHECK(cv_value_get_string(v, "phone", &str, NULL) == CV_NULL);
    }
    free(buf);
    enc_fails("marketplace.LeadSubmitted",
              "{\"lead_id\":\"l\",\"partner_id\":\"p\",\"email\":\"e\","
              "\"first_name\":{\"long\":1},\"submitted_at\":0}",
              "field 'first_name': expected null or string, got object", NULL);
}

/* Every prefix of a valid frame is refused; the whole frame is not. */
static void truncate_everywhere(const char *buf, size_t len)
{
    int refused = 0;
    const struct cv_schema *s;
    avro_value_t *v;

    for (size_t n = 0; n < len; n++) {
        if (cv_decoder_decode(dec, buf, n, &s, &v, err, sizeof(err)) == CV_ERR)
            refused++;
        else
            fprintf(stderr, "prefix of %zu/%zu bytes decoded\n", n, len);
    }
    CHECK(refused == (int)len);
    CHECK(cv_decoder_decode(dec, buf, len, &s, &v, err, sizeof(err)) == CV_OK);
}

static void test_truncated_and_trailing(void)
{
    size_t len;
    char *buf = enc("marketplace.LeadSubmitted", LEAD_JSON, &len);
    char *longer;

    CHECK(buf != NULL);
    if (!buf)
        return;
    truncate_everywhere(buf, len);

    /* cut inside email: the error names the field */
    dec_fails(buf, 5 + 1 + 36 + 1 + 36 + 3, "field 'email'");
    CHECK_CONTAINS(err, "marketplace.LeadSubmitted (id 1)");
    CHECK_CONTAINS(err, "only");

    longer = malloc(len + 7);
    memcpy(longer, buf, len);
    memset(longer + len, 0, 7);
    dec_fails(longer, len + 1, "1 trailing byte after the record");
    dec_fails(longer, len + 7, "7 trailing bytes");
    free(longer);
    free(buf);

    buf = enc("marketplace.UploadCompleted",
              "{\"batch_id\":\"" BATCH_ID "\",\"partner_id\":\"" PARTNER_ID
              "\",\"lead_count\":-300}",
              &len);
    CHECK(buf != NULL);
    if (buf)
        truncate_everywhere(buf, len);
    free(buf);
}

/*
 * Hand-made bodies that try to make the decoder allocate, loop or read out
 * of bounds. Schema 3 is three strings; schema 2 ends with an int.
 */
static void test_crafted(void)
{
    /* a string length of about 2^34 in a 10-byte message */
    dec_fails("\x00\x00\x00\x00\x03\xfe\xff\xff\xff\x7f", 10,
              "but only 0 bytes left");
    CHECK_CONTAINS(err, "field 'lead_id'");
    /* the largest positive varint */
    dec_fails("\x00\x00\x00\x00\x03\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01",
              15, "bytes left");
    dec_fails("\x00\x00\x00\x00\x03\x01", 6, "negative length -1");
    /* varints that run past 64 bits or past the end */
    dec_fails("\x00\x00\x00\x00\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02",
              15, "overflows");
    dec_fails("\x00\x00\x00\x00\x03\xff\xff\xff", 8, "truncated");
    /* invalid UTF-8 and NUL inside strings */
    dec_fails("\x00\x00\x00\x00\x03\x04\xc3\x28\x00\x00", 10,
              "not valid UTF-8");
    dec_fails("\x00\x00\x00\x00\x03\x06\xed\xa0\x80\x00\x00", 11,
              "not valid UTF-8"); /* a surrogate */
    dec_fails("\x00\x00\x00\x00\x03\x04"
              "a\x00"
              "\x00\x00",
              10, "NUL");
    /* three empty strings: a valid record, then one byte too many */
    {
        const struct cv_schema *s;
        avro_value_t *v;
        CHECK(cv_decoder_decode(dec, "\x00\x00\x00\x00\x03\x00\x00\x00", 8, &s,
                                &v, err, sizeof(err)) == CV_OK);
        dec_fails("\x00\x00\x00\x00\x03\x00\x00\x00\x00", 9, "trailing");
        dec_fails("\x00\x00\x00\x00\x03\x00\x00", 7, "field 'email'");
    }
    /* int out of range: lead_count = 2^31 */
    dec_fails("\x00\x00\x00\x00\x02\x00\x00\x80\x80\x80\x80\x10", 12,
              "int out of range");
    CHECK_CONTAINS(err, "field 'lead_count'");
    /* a union branch that does not exist: first_name branch 2 */
    dec_fails("\x00\x00\x00\x00\x01\x00\x00\x00\x04", 9,
              "union branch 2, 2 branches");
    CHECK_CONTAINS(err, "field 'first_name'");
    dec_fails("\x00\x00\x00\x00\x01\x00\x00\x00\x01", 9, "union branch -1");
}

/* One value per schema is reused: fields must not leak between events. */
static void test_reuse(void)
{
    size_t la, lb;
    char *a = enc("marketplace.LeadSubmitted", LEAD_JSON, &la);
    char *b = enc("marketplace.LeadSubmitted",
                  "{\"lead_id\":\"" BATCH_ID "\",\"partner_id\":\"" LEAD_ID
                  "\",\"email\":"
                  "\"a-much-longer-address-than-before@example.com\","
                  "\"submitted_at\":-5}",
                  &lb);
    const struct cv_schema *s;
    avro_value_t *v;
    const char *str;
    int64_t l;

    CHECK(a && b);
    if (!a || !b)
        goto out;
    for (int round = 0; round < 3; round++) {
        v = dec_ok(b, lb, &s);
        CHECK(v && cv_value_get_string(v, "first_name", &str, NULL) == CV_NULL);
        CHECK(v && cv_value_get_string(v, "email", &str, NULL) == CV_OK);
        CHECK_STR(str, "a-much-longer-address-than-before@example.com");
        CHECK(v && cv_value_get_long(v, "submitted_at", &l) == CV_OK &&
              l == -5);
        v = dec_ok(a, la, &s);
        CHECK(v && cv_value_get_string(v, "first_name", &str, NULL) == CV_OK);
        CHECK_STR(str, "Ann");
        CHECK(v && cv_value_get_string(v, "email", &str, NULL) == CV_OK);
        CHECK_STR(str, "ann@example.com");
    }
    /* strings longer than any before, then short ones again */
    {
        char json[4200], big[3001];
        size_t lc;
        char *c;
        memset(big, 'x', 3000);
        big[3000] = '\0';
        snprintf(json, sizeof(json),
                 "{\"lead_id\":\"" LEAD_ID "\",\"partner_id\":\"" PARTNER_ID
                 "\",\"email\":\"e\",\"company\":\"%s\",\"submitted_at\":1}",
                 big);
        c = enc("marketplace.LeadSubmitted", json, &lc);
        CHECK(c != NULL);
        v = c ? dec_ok(c, lc, &s) : NULL;
        CHECK(v && cv_value_get_string(v, "company", &str, NULL) == CV_OK);
        CHECK_STR(str, big);
        v = dec_ok(a, la, &s);
        CHECK(v && cv_value_get_string(v, "company", &str, NULL) == CV_OK);
        CHECK_STR(str, "Ex\xc3\xa4mple GmbH");
        free(c);
    }
    /* a failed decode in between leaves the next one correct */
    dec_fails(a, la - 1, NULL);
    v = dec_ok(a, la, &s);
    CHECK(v && cv_value_get_string(v, "email", &str, NULL) == CV_OK);
    CHECK_STR(str, "ann@example.com");
out:
    free(a);
    free(b);
}

static void test_record_builder(void)
{
    const struct cv_schema *lead =
        cv_catalogue_by_name(cat, "marketplace.LeadSubmitted");
    const struct cv_schema *up =
        cv_catalogue_by_name(cat, "marketplace.UploadCompleted");
    struct cv_record *rec;
    char *out = NULL;
    size_t len;
    const struct cv_schema *s;
    avro_value_t *v;
    const char *str;
    int64_t l;
    int32_t i;

    rec = cv_record_new(lead);
    CHECK(rec != NULL && cv_record_schema(rec) == lead);
    CHECK(cv_record_set_string(rec, "lead_id", LEAD_ID) == CV_OK);
    CHECK(cv_record_set_string(rec, "partner_id", PARTNER_ID) == CV_OK);
    CHECK(cv_record_set_string(rec, "email", "c@d.e") == CV_OK);
    CHECK(cv_record_set_string(rec, "first_name", "Cy") == CV_OK);
    CHECK(cv_record_set_string(rec, "last_name", NULL) == CV_OK);
    CHECK(cv_record_set_long(rec, "submitted_at", 1700000000000LL) == CV_OK);
    CHECK(cv_record_encode(rec, &out, &len, err, sizeof(err)) == CV_OK);
    v = out ? dec_ok(out, len, &s) : NULL;
    if (v) {
        CHECK(s == lead);
        CHECK(cv_value_get_string(v, "email", &str, NULL) == CV_OK);
        CHECK_STR(str, "c@d.e");
        CHECK(cv_value_get_string(v, "first_name", &str, NULL) == CV_OK);
        CHECK_STR(str, "Cy");
        CHECK(cv_value_get_string(v, "last_name", &str, NULL) == CV_NULL);
        CHECK(cv_value_get_string(v, "company", &str, NULL) == CV_NULL);
        CHECK(cv_value_get_long(v, "submitted_at", &l) == CV_OK &&
              l == 1700000000000LL);
    }
    free(out);
    out = NULL;
    /* setting a nullable field to null after a value */
    CHECK(cv_record_set_string(rec, "first_name", NULL) == CV_OK);
    CHECK(cv_record_encode(rec, &out, &len, err, sizeof(err)) == CV_OK);
    v = out ? dec_ok(out, len, &s) : NULL;
    CHECK(v && cv_value_get_string(v, "first_name", &str, NULL) == CV_NULL);
    free(out);
    out = NULL;
    cv_record_destroy(rec);

    /* a required field never set */
    rec = cv_record_new(lead);
    CHECK(cv_record_set_string(rec, "lead_id", LEAD_ID) == CV_OK);
    CHECK(cv_record_set_string(rec, "partner_id", PARTNER_ID) == CV_OK);
    CHECK(cv_record_set_long(rec, "submitted_at", 1) == CV_OK);
    CHECK(cv_record_encode(rec, &out, &len, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "field 'email'");
    CHECK_CONTAINS(err, "never set");
    CHECK(out == NULL);
    cv_record_destroy(rec);

    /* wrong types and unknown fields fail now and again at encode */
    rec = cv_record_new(lead);
    CHECK(cv_record_set_string(rec, "emial", "x") == CV_ERR);
    CHECK(cv_record_set_long(rec, "email", 5) == CV_ERR);
    CHECK(cv_record_set_string(rec, "email", NULL) == CV_ERR);
    CHECK(cv_record_set_string(rec, "submitted_at", "now") == CV_ERR);
    CHECK(cv_record_set_bool(rec, "email", 1) == CV_ERR);
    CHECK(cv_record_set_double(rec, "email", 1.0) == CV_ERR);
    CHECK(cv_record_set_long(rec, "first_name", 1) == CV_ERR);
    CHECK(cv_record_set_string(rec, "email", "\xff\xfe") == CV_ERR);
    CHECK(cv_record_set_string(rec, "lead_id", LEAD_ID) == CV_OK);
    CHECK(cv_record_set_string(rec, "partner_id", PARTNER_ID) == CV_OK);
    CHECK(cv_record_set_string(rec, "email", "e") == CV_OK);
    CHECK(cv_record_set_int(rec, "submitted_at", 12) == CV_OK); /* widens */
    CHECK(cv_record_encode(rec, &out, &len, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "field 'emial': not in schema");
    cv_record_destroy(rec);

    rec = cv_record_new(lead);
    CHECK(cv_record_set_long(rec, "email", 5) == CV_ERR);
    CHECK(cv_record_encode(rec, &out, &len, err, sizeof(err)) == CV_ERR);
    CHECK_CONTAINS(err, "field 'email': expected string, got long");
    cv_record_destroy(rec);

    rec = cv_record_new(up);
    CHECK(cv_record_set_long(rec, "lead_count", 5) == CV_ERR); /* narrows */
    cv_record_destroy(rec);
    rec = cv_record_new(up);
    CHECK(cv_record_set_string(rec, "batch_id", BATCH_ID) == CV_OK);
    CHECK(cv_record_set_string(rec, "partner_id", PARTNER_ID) == CV_OK);
    CHECK(cv_record_set_int(rec, "lead_count", -7) == CV_OK);
    CHECK(cv_record_encode(rec, &out, &len, err, sizeof(err)) == CV_OK);
    v = out ? dec_ok(out, len, &s) : NULL;
    CHECK(v && cv_value_get_int(v, "lead_count", &i) == CV_OK && i == -7);
    free(out);
    cv_record_destroy(rec);
    cv_record_destroy(NULL);
    CHECK(cv_record_new(NULL) == NULL);
    /* cv_emit_new() returns NULL for an undeclared type: no crash after */
    CHECK(cv_record_set_string(NULL, "email", "x") == CV_ERR);
    CHECK(cv_record_set_int(NULL, "lead_count", 1) == CV_ERR);
    CHECK(cv_record_schema(NULL) == NULL);
    CHECK(cv_record_encode(NULL, &out, &len, err, sizeof(err)) == CV_ERR);
}

/* ---- a temp catalogue exercising every type the encoder supports ---- */

static const char *rich_avsc =
    "{\"type\":\"record\",\"name\":\"Rich\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"b\",\"type\":\"bytes\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"ok\",\"type\":\"boolean\"},"
    "{\"name\":\"nothing\",\"type\":\"null\"},"
    "{\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"Color\","
    "\"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"addr\",\"type\":{\"type\":\"record\",\"name\":\"Addr\","
    "\"fields\":[{\"name\":\"city\",\"type\":\"string\"},"
    "{\"name\":\"zip\",\"type\":[\"null\",\"string\"],\"default\":null}]}},"
    "{\"name\":\"maybe_addr\",\"type\":[\"null\",\"Addr\"],\"default\":null},"
    "{\"name\":\"h\",\"type\":{\"type\":\"fixed\",\"name\":\"H4\",\"size\":4}},"
    "{\"name\":\"multi\",\"type\":[\"null\",\"string\",\"long\"],"
    "\"default\":null},"
    "{\"name\":\"level\",\"type\":\"int\",\"default\":7},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\","
    "\"symbols\":[\"NEW\",\"OLD\"]},\"default\":\"NEW\"},"
    "{\"name\":\"scores\",\"type\":{\"type\":\"array\",\"items\":\"double\"},"
    "\"default\":[]}"
    "]}";

static const char *node_avsc =
    "{\"type\":\"record\",\"name\":\"Node\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"v\",\"type\":\"int\"},"
    "{\"name\":\"next\",\"type\":[\"null\",\"Node\"],\"default\":null}]}";

static const char *nulls_avsc =
    "{\"type\":\"record\",\"name\":\"Nulls\",\"namespace\":\"t\","
    "\"fields\":[{\"name\":\"n\",\"type\":{\"type\":\"array\","
    "\"items\":\"null\"}}]}";

#define RICH_JSON                                                              \
    "{\"s\":\"str\",\"b\":\"\\u0000\\u00ff\\u0041\",\"i\":-1,"                 \
    "\"l\":9007199254740993,\"f\":1.5,\"d\":-2.25,\"ok\":true,"                \
    "\"nothing\":null,\"color\":\"GREEN\",\"tags\":[\"a\",\"b\"],"             \
    "\"attrs\":{\"x\":1,\"y\":-2},\"addr\":{\"city\":\"Oslo\"},"               \
    "\"maybe_addr\":{\"city\":\"Bergen\",\"zip\":\"5003\"},"                   \
    "\"h\":\"abcd\",\"multi\":{\"long\":5}}"

/* RICH_JSON with one member replaced (or added): value is JSON text. */
static char *rich_with(const char *key, const char *value)
{
    json_t *root = json_loads(RICH_JSON, JSON_ALLOW_NUL, NULL);
    char *out;

    json_object_set_new(root, key, json_loads(value, JSON_DECODE_ANY, NULL));
    out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return out;
}

static void rich_fails(const char *key, const char *value, const char *needle1,
                       const char *needle2)
{
    char *json = rich_with(key, value);

    enc_fails("t.Rich", json, needle1, needle2);
    free(json);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[4096];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    if (!fp)
        exit(2);
    fputs(text, fp);
    fclose(fp);
}

static void unlink_in(const char *dir, const char *name)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

static void test_rich_types(void)
{
    char dir[] = "/tmp/cv_test_codec_XXXXXX";
    struct cv_catalogue *rich_cat = NULL, *saved_cat = cat;
    struct cv_decoder *saved_dec = dec;
    char *buf = NULL, *json = NULL, *buf2 = NULL;
    size_t len, len2;
    const struct cv_schema *s;
    avro_value_t *v, field, branch;
    const char *str;
    int32_t i;
    int64_t l;
    double d;
    int b, disc;
    const void *bytes;
    size_t blen;

    CHECK(mkdtemp(dir) != NULL);
    write_text(dir, "rich.avsc", rich_avsc);
    write_text(dir, "node.avsc", node_avsc);
    write_text(dir, "nulls.avsc", nulls_avsc);
    write_text(dir, "ids.cfg",
               "ids = ( { schema = \"t.Rich\"; id = 50; },"
               " { schema = \"t.Node\"; id = 51; },"
               " { schema = \"t.Nulls\"; id = 52; } );");
    rich_cat = cv_catalogue_load(dir, err, sizeof(err));
    CHECK(rich_cat != NULL);
    if (!rich_cat) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    cat = rich_cat;
    dec = cv_decoder_new(cat);

    buf = enc("t.Rich", RICH_JSON, &len);
    CHECK(buf != NULL);
    if (!buf) {
        fprintf(stderr, "encode: %s\n", err);
        goto out;
    }
    truncate_everywhere(buf, len);
    v = dec_ok(buf, len, &s);
    if (!v)
        goto out;
    CHECK(cv_value_get_string(v, "s", &str, NULL) == CV_OK);
    CHECK_STR(str, "str");
    CHECK(cv_value_get_int(v, "i", &i) == CV_OK && i == -1);
    CHECK(cv_value_get_long(v, "l", &l) == CV_OK && l == 9007199254740993LL);
    CHECK(cv_value_get_double(v, "f", &d) == CV_OK && d == 1.5);
    CHECK(cv_value_get_double(v, "d", &d) == CV_OK && d == -2.25);
    CHECK(cv_value_get_bool(v, "ok", &b) == CV_OK && b == 1);
    CHECK(cv_value_get_string(v, "color", &str, NULL) == CV_OK);
    CHECK_STR(str, "GREEN");
    CHECK(cv_value_get_string(v, "status", &str, NULL) == CV_OK);
    CHECK_STR(str, "NEW"); /* the declared default */
    CHECK(cv_value_get_int(v, "level", &i) == CV_OK && i == 7);
    CHECK(cv_value_get_long(v, "multi", &l) == CV_OK && l == 5);
    CHECK(cv_value_get_string(v, "nothing", &str, NULL) == CV_NULL);
    CHECK(avro_value_get_by_name(v, "b", &field, NULL) == 0 &&
          avro_value_get_bytes(&field, &bytes, &blen) == 0 && blen == 3 &&
          memcmp(bytes, "\x00\xff\x41", 3) == 0);
    CHECK(avro_value_get_by_name(v, "maybe_addr", &field, NULL) == 0 &&
          avro_value_get_discriminant(&field, &disc) == 0 && disc == 1 &&
          avro_value_get_current_branch(&field, &branch) == 0 &&
          cv_value_get_string(&branch, "zip", &str, NULL) == CV_OK);
    CHECK_STR(str, "5003");
    CHECK(avro_value_get_by_name(v, "addr", &field, NULL) == 0 &&
          cv_value_get_string(&field, "zip", &str, NULL) == CV_NULL);

    json = cv_value_to_json(v);
    CHECK_STR(json,
              "{\"s\":\"str\",\"b\":\"\\u0000\xc3\xbf"
              "A\",\"i\":-1,"
              "\"l\":9007199254740993,\"f\":1.5,\"d\":-2.25,\"ok\":true,"
              "\"nothing\":null,\"color\":\"GREEN\",\"tags\":[\"a\",\"b\"],"
              "\"attrs\":{\"x\":1,\"y\":-2},\"addr\":{\"city\":\"Oslo\","
              "\"zip\":null},\"maybe_addr\":{\"city\":\"Bergen\",\"zip\":"
              "\"5003\"},\"h\":\"abcd\",\"multi\":{\"long\":5},\"level\":7,"
              "\"status\":\"NEW\",\"scores\":[]}");
    buf2 = json ? enc("t.Rich", json, &len2) : NULL;
    CHECK(buf2 != NULL && len2 == len && memcmp(buf, buf2, len) == 0);
    free(buf2);
    buf2 = NULL;

    /* plain union values pick the first branch that fits */
    buf2 = enc("t.Rich",
               "{\"s\":\"\",\"b\":\"\",\"i\":0,\"l\":0,\"f\":0,\"d\":\"NaN\","
               "\"ok\":false,\"nothing\":null,\"color\":\"RED\",\"tags\":[],"
               "\"attrs\":{},\"addr\":{\"city\":\"c\"},\"h\":\"\\u0000\\u0000"
               "\\u0000\\u00ff\",\"multi\":\"text\",\"status\":\"OLD\","
               "\"scores\":[1e300,-0.5]}",
               &len2);
    CHECK(buf2 != NULL);
    v = buf2 ? dec_ok(buf2, len2, &s) : NULL;
    if (v) {
        CHECK(cv_value_get_string(v, "multi", &str, NULL) == CV_OK);
        CHECK_STR(str, "text");
        CHECK(cv_value_get_double(v, "d", &d) == CV_OK && isnan(d));
        CHECK(cv_value_get_bool(v, "ok", &b) == CV_OK && b == 0);
        CHECK(cv_value_get_string(v, "status", &str, NULL) == CV_OK);
        CHECK_STR(str, "OLD");
        free(json);
        json = cv_value_to_json(v);
        CHECK(json && strstr(json, "\"d\":\"NaN\"") != NULL);
        CHECK(json && strstr(json, "\"multi\":{\"string\":\"text\"}") != NULL);
    }
    free(buf2);
    buf2 = NULL;

    /* errors in nested places name the path */
    rich_fails("color", "\"PURPLE\"",
               "field 'color': 'PURPLE' is not a symbol of enum t.Color", NULL);
    rich_fails("tags", "[\"a\",1]",
               "field 'tags[1]': expected string, got number", NULL);
    rich_fails("attrs", "{\"k\":\"v\"}",
               "field 'attrs.k': expected long, got string", NULL);
    rich_fails("addr", "{}", "field 'addr.city': missing", NULL);
    rich_fails("addr", "{\"city\":\"c\",\"zzz\":1}",
               "field 'addr.zzz': not in schema t.Addr", NULL);
    rich_fails("maybe_addr", "{\"city\":5}",
               "field 'maybe_addr.city': expected string, got number", NULL);
    rich_fails("h", "\"abc\"", "field 'h'", "fixed size is 4");
    rich_fails("b", "\"\\u0100\"", "field 'b'", "U+00FF");
    rich_fails("f", "1e39", "field 'f'", "out of range for float");
    rich_fails("ok", "1", "field 'ok': expected boolean", NULL);
    rich_fails("nothing", "0", "field 'nothing': expected null", NULL);
    rich_fails("multi", "true",
               "field 'multi': expected null or string or long, got boolean",
               NULL);
    rich_fails("scores", "{}", "field 'scores': expected array", NULL);
    rich_fails("i", "null", "field 'i': expected int, got null", NULL);
    rich_fails("extra", "1", "field 'extra': not in schema t.Rich", NULL);

    /* recursion: a short list decodes, one past the depth limit does not */
    {
        char deep[4096];
        size_t off = 0;
        for (int k = 0; k < 40; k++)
            off += (size_t)snprintf(deep + off, sizeof(deep) - off,
                                    "{\"v\":%d,\"next\":", k);
        off += (size_t)snprintf(deep + off, sizeof(deep) - off, "null");
        for (int k = 0; k < 40; k++)
            deep[off++] = '}';
        deep[off] = '\0';
        enc_fails("t.Node", deep, "nested deeper", NULL);

        free(buf2);
        buf2 = enc("t.Node", "{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":3}}}",
                   &len2);
        CHECK(buf2 != NULL);
        v = buf2 ? dec_ok(buf2, len2, &s) : NULL;
        free(json);
        json = v ? cv_value_to_json(v) : NULL;
        CHECK_STR(json, "{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":3,"
                        "\"next\":null}}}");
        if (buf2)
            truncate_everywhere(buf2, len2);

        /* a 40-deep list built by hand: v=0, branch 1, ... */
        unsigned char raw[5 + 40 * 2 + 2] = {0, 0, 0, 0, 51};
        size_t n = 5;
        for (int k = 0; k < 40; k++) {
            raw[n++] = 0; /* v = 0 */
            raw[n++] = 2; /* next: branch 1 (Node) */
        }
        raw[n++] = 0;
        raw[n++] = 0; /* v = 0, next: null */
        dec_fails(raw, n, "nested deeper than 64");
    }

    /* arrays: block counts the body cannot hold, negative blocks */
    {
        /* t.Node has no arrays; build a schema-50 body up to "tags" */
        size_t pre = 0;
        unsigned char body[64];
        const unsigned char head[] = {
            0, 0, 0, 0, 50, 0,      /* s "" */
            0,                      /* b "" */
            0,                      /* i 0 */
            0,                      /* l 0 */
            0, 0, 0, 0,             /* f */
            0, 0, 0, 0, 0, 0, 0, 0, /* d */
            1,                      /* ok */
            /* nothing: no bytes */
            2, /* color GREEN */
        };
        memcpy(body, head, sizeof(head));
        pre = sizeof(head);
        /* tags: 1000000 items claimed */
        memcpy(body + pre, "\x80\x89\x7a", 3);
        dec_fails(body, pre + 3, "1000000 items but only 0 bytes left");
        CHECK_CONTAINS(err, "field 'tags'");
        /* tags: a negative block with a wrong byte size */
        memcpy(body + pre,
               "\x01\x06\x02"
               "a"
               "\x00",
               5);
        dec_fails(body, pre + 5, "block says 3 bytes, items took 2");
        /* color out of range */
        body[pre - 1] = 6;
        dec_fails(body, pre, "enum index 3, 3 symbols");
        /* boolean that is neither 0 nor 1 */
        body[pre - 2] = 2;
        dec_fails(body, pre, "boolean byte 0x02");
    }

    /* zero-width items: a few bytes must not buy unbounded work */
    {
        size_t n = 65536, jl = 16 + 5 * (n + 1);
        char *many = malloc(jl);
        size_t off = (size_t)snprintf(many, jl, "{\"n\":[");
        for (size_t k = 0; k < n; k++)
            off +=
                (size_t)snprintf(many + off, jl - off, "%snull", k ? "," : "");
        snprintf(many + off, jl - off, "]}");
        free(buf2);
        buf2 = enc("t.Nulls", many, &len2);
        CHECK(buf2 != NULL); /* the limit itself is fine */
        v = buf2 ? dec_ok(buf2, len2, &s) : NULL;
        CHECK(v && avro_value_get_by_name(v, "n", &field, NULL) == 0 &&
              avro_value_get_size(&field, &blen) == 0 && blen == n);
        snprintf(many + off, jl - off, ",null]}");
        enc_fails("t.Nulls", many, "field 'n'", "zero-width items");
        free(many);

        /* 65537 nulls in one block; 40000 twice */
        dec_fails("\x00\x00\x00\x00\x34\x82\x80\x08\x00", 9,
                  "more than 65536 zero-width items");
        dec_fails("\x00\x00\x00\x00\x34\x80\xf1\x04\x80\xf1\x04\x00", 12,
                  "more than 65536 zero-width items");
        CHECK(cv_decoder_decode(dec, "\x00\x00\x00\x00\x34\x80\xf1\x04\x00", 9,
                                &s, &v, err, sizeof(err)) == CV_OK);
    }

out:
    free(json);
    free(buf2);
    free(buf);
    if (dec != saved_dec)
        cv_decoder_destroy(dec);
    cv_catalogue_destroy(rich_cat);
    cat = saved_cat;
    dec = saved_dec;
    unlink_in(dir, "rich.avsc");
    unlink_in(dir, "node.avsc");
    unlink_in(dir, "nulls.avsc");
    unlink_in(dir, "ids.cfg");
    CHECK(rmdir(dir) == 0);
}

int main(void)
{
    const char *src = getenv("CONVEYOR_SOURCE_DIR");
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s/schemas", src && *src ? src : ".");
    cat = cv_catalogue_load(dir, err, sizeof(err));
    CHECK(cat != NULL);
    if (!cat) {
        fprintf(stderr, "%s\n", err);
        TEST_DONE();
    }
    dec = cv_decoder_new(cat);

    test_frame();
    test_lead_round_trip();
    test_upload_and_verification();
    test_encode_errors();
    test_union_forms();
    test_truncated_and_trailing();
    test_crafted();
    test_reuse();
    test_record_builder();
    test_rich_types();

    cv_decoder_destroy(dec);
    cv_catalogue_destroy(cat);
    TEST_DONE();
}
