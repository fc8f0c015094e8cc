/*
 * fuzz_codec.c - libFuzzer target for the framed-Avro decoder.
 *
 * Each input is decoded as a whole frame, and again as the body of every
 * schema (the frame header is written for it, so the fuzzer does not spend
 * its time guessing magic bytes and ids). Two catalogues are used: the
 * repository's schemas/ and a built-in one with every Avro type, including
 * a recursive record, written to a temporary directory at start-up.
 *
 * Besides "does not crash, leak or read out of bounds" it checks, for every
 * input the decoder accepts:
 *   - avro-c's own reader (avro_value_read) accepts the body too and reads
 *     the same value: the hand-written decoder agrees with the reference;
 *   - the value renders as JSON, that JSON encodes back with
 *     cv_codec_encode_json, and decoding the result renders the same JSON;
 *   - the getters answer for every top-level field without crashing.
 * A failed decode must leave a non-empty error message.
 *
 * Build and run: see README.md in this directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "schema.h"

static const char *rich_avsc =
    "{\"type\":\"record\",\"name\":\"Rich\",\"namespace\":\"f\",\"fields\":["
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
    "{\"name\":\"multi\",\"type\":[\"null\",\"string\",\"long\"]},"
    "{\"name\":\"nulls\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}"
    "]}";

static const char *node_avsc =
    "{\"type\":\"record\",\"name\":\"Node\",\"namespace\":\"f\",\"fields\":["
    "{\"name\":\"v\",\"type\":\"int\"},"
    "{\"name\":\"kids\",\"type\":{\"type\":\"array\",\"items\":\"Node\"}},"
    "{\"name\":\"next\",\"type\":[\"null\",\"Node\"],\"default\":null}]}";

static const char *ids_cfg = "ids = ( { schema = \"f.Rich\"; id = 1; },\n"
                             "        { schema = \"f.Node\"; id = 2; } );\n";

#define NCAT 2
static struct cv_catalogue *cats[NCAT];
static struct cv_decoder *decs[NCAT];
static struct cv_decoder *redec[NCAT]; /* for the JSON round trip */

static void write_in(const char *dir, const char *name, const char *text)
{
    char path[4096];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    if (!fp || fputs(text, fp) < 0)
        abort();
    fclose(fp);
}

static void unlink_in(const char *dir, const char *name)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

/* Frees everything at exit, so LeakSanitizer sees only real leaks. */
static void cleanup(void)
{
    for (int c = 0; c < NCAT; c++) {
        cv_decoder_destroy(decs[c]);
        cv_decoder_destroy(redec[c]);
        cv_catalogue_destroy(cats[c]);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *src = getenv("CONVEYOR_SOURCE_DIR");
    char dir[4096], tmp[] = "/tmp/cv_fuzz_codec_XXXXXX";
    char err[512];

    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "%s/schemas", src && *src ? src : ".");
    cats[0] = cv_catalogue_load(dir, err, sizeof(err));
    if (!cats[0]) {
        fprintf(stderr, "fuzz_codec: %s (set CONVEYOR_SOURCE_DIR)\n", err);
        abort();
    }
    if (!mkdtemp(tmp))
        abort();
    write_in(tmp, "rich.avsc", rich_avsc);
    write_in(tmp, "node.avsc", node_avsc);
    write_in(tmp, "ids.cfg", ids_cfg);
    cats[1] = cv_catalogue_load(tmp, err, sizeof(err));
    unlink_in(tmp, "rich.avsc");
    unlink_in(tmp, "node.avsc");
    unlink_in(tmp, "ids.cfg");
    rmdir(tmp);
    if (!cats[1]) {
        fprintf(stderr, "fuzz_codec: built-in schemas: %s\n", err);
        abort();
    }
    for (int c = 0; c < NCAT; c++) {
        decs[c] = cv_decoder_new(cats[c]);
        redec[c] = cv_decoder_new(cats[c]);
    }
    atexit(cleanup);
    return 0;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_codec: %s: %s\n", what, detail ? detail : "");
    abort();
}

/* avro-c's reader must accept what we accepted and read the same value. */
static void check_reference(const struct cv_schema *s, const uint8_t *buf,
                            size_t len, avro_value_t *ours)
{
    avro_value_t ref;
    avro_reader_t reader;

    if (avro_generic_value_new(s->iface, &ref) != 0)
        die("avro_generic_value_new", avro_strerror());
    reader = avro_reader_memory((const char *)buf + CV_FRAME_HEADER,
                                (int64_t)(len - CV_FRAME_HEADER));
    if (avro_value_read(reader, &ref) != 0)
        die("avro-c rejects what cv_decoder accepted", avro_strerror());
    if (!avro_value_equal(&ref, ours)) {
        /* NaN is not equal to itself; the JSON renderings must still be */
        char *a = cv_value_to_json(&ref), *b = cv_value_to_json(ours);
        if (!a || !b || strcmp(a, b) != 0)
            die("avro-c reads another value", a);
        free(a);
        free(b);
    }
    avro_reader_free(reader);
    avro_value_decref(&ref);
}

static void check_getters(avro_value_t *v)
{
    size_t n = 0;

    if (avro_value_get_size(v, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        avro_value_t field;
        const char *name = NULL, *s;
        size_t len;
        int64_t l;
        int32_t in;
        double d;
        int b;

        if (avro_value_get_by_index(v, i, &field, &name) != 0)
            die("get_by_index", avro_strerror());
        (void)cv_value_get_string(v, name, &s, &len);
        (void)cv_value_get_long(v, name, &l);
        (void)cv_value_get_int(v, name, &in);
        (void)cv_value_get_double(v, name, &d);
        (void)cv_value_get_bool(v, name, &b);
    }
    if (cv_value_get_long(v, "no such field", &(int64_t){0}) != CV_ERR)
        die("getter", "found a field that does not exist");
}

static void check(int c, const uint8_t *buf, size_t len)
{
    const struct cv_schema *s = NULL, *s2 = NULL;
    avro_value_t *v = NULL, *v2 = NULL;
    char err[512] = "";
    char *json = NULL, *json2 = NULL, *out = NULL;
    size_t out_len = 0;

    if (cv_decoder_decode(decs[c], buf, len, &s, &v, err, sizeof(err)) !=
        CV_OK) {
        if (!err[0])
            die("decode failed without a message", NULL);
        return;
    }
    check_reference(s, buf, len, v);
    check_getters(v);

    json = cv_value_to_json(v);
    if (!json)
        die("cv_value_to_json", s->name);
    if (cv_codec_encode_json(s, json, strlen(json), &out, &out_len, err,
                             sizeof(err)) != CV_OK) {
        /* the decoder takes any string for a uuid field, any long for a
         * timestamp; the encoder holds them to their logical type */
        if (strstr(err, "(logicalType ")) {
            free(json);
            return;
        }
        die("JSON from to_json does not encode", err);
    }
    if (cv_decoder_decode(redec[c], out, out_len, &s2, &v2, err, sizeof(err)) !=
        CV_OK)
        die("re-encoded value does not decode", err);
    json2 = cv_value_to_json(v2);
    if (!json2 || strcmp(json, json2) != 0)
        die("JSON round trip changed the value", json2);
    free(json);
    free(json2);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *framed = malloc(size + CV_FRAME_HEADER);

    for (int c = 0; c < NCAT; c++) {
        check(c, data, size);
        for (size_t i = 0; i < cv_catalogue_count(cats[c]); i++) {
            uint32_t id = (uint32_t)cv_catalogue_at(cats[c], i)->id;
            framed[0] = CV_FRAME_MAGIC;
            framed[1] = (uint8_t)(id >> 24);
            framed[2] = (uint8_t)(id >> 16);
            framed[3] = (uint8_t)(id >> 8);
            framed[4] = (uint8_t)id;
            if (size)
                memcpy(framed + CV_FRAME_HEADER, data, size);
            check(c, framed, size + CV_FRAME_HEADER);
        }
    }
    free(framed);
    return 0;
}
