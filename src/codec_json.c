/*
 * codec_json.c - Avro values as JSON and back: rendering a decoded value
 * (dlq show, logs) and encoding a JSON object against a record schema (the
 * producer side: conveyor produce, schedule payloads).
 *
 * The JSON is Avro's JSON encoding: bytes and fixed as strings of code
 * points U+0000..U+00FF, a union as {"type name": value} (a ["null", T]
 * union may also be given, and is rendered, as plain null or T), NaN and
 * the infinities as strings. Encoding allocates freely: it runs once per
 * emitted event. Errors name the field ("field 'lead_id': expected string,
 * got number") because whoever reads them is fixing a producer. Values the
 * decoder would refuse (too deep, too many zero-width items) are refused
 * here too, so we never produce what we cannot consume.
 */
#include "codec.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec_int.h"
#include "logical.h"

/* ------------------------------------------------------------------ */
/* JSON rendering                                                       */

/* Avro JSON carries bytes as a string of code points U+0000..U+00FF. */
static json_t *latin1_string(const unsigned char *p, size_t len)
{
    char *buf = cv_malloc(len * 2 + 1);
    size_t n = 0;
    json_t *j;

    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x80) {
            buf[n++] = (char)p[i];
        } else {
            buf[n++] = (char)(0xc0 | (p[i] >> 6));
            buf[n++] = (char)(0x80 | (p[i] & 0x3f));
        }
    }
    j = json_stringn(buf, n);
    free(buf);
    return j;
}

static json_t *real_json(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

/*
 * A ["null", T] union renders as null or plain T; any other union in the
 * Avro JSON form {"type name": value}, which cv_codec_encode_json accepts.
 */
static json_t *to_json(avro_value_t *v, int depth)
{
    json_t *j = NULL;

    if (depth > CV_CODEC_MAX_DEPTH)
        return NULL;
    switch (avro_value_get_type(v)) {
    case AVRO_BOOLEAN: {
        int b;
        if (avro_value_get_boolean(v, &b) == 0)
            j = json_boolean(b);
        break;
    }
    case AVRO_INT32: {
        int32_t i;
        if (avro_value_get_int(v, &i) == 0)
            j = json_integer(i);
        break;
    }
    case AVRO_INT64: {
        int64_t l;
        if (avro_value_get_long(v, &l) == 0)
            j = json_integer(l);
        break;
    }
    case AVRO_FLOAT: {
        float f;
        if (avro_value_get_float(v, &f) == 0)
            j = real_json(f);
        break;
    }
    case AVRO_DOUBLE: {
        double d;
        if (avro_value_get_double(v, &d) == 0)
            j = real_json(d);
        break;
    }
    case AVRO_NULL:
        j = json_null();
        break;
    case AVRO_STRING: {
        const char *s;
        size_t size;
        if (avro_value_get_string(v, &s, &size) == 0) {
            size_t len = size ? size - 1 : 0;
            j = json_stringn(s, len);
            if (!j) /* not UTF-8: show the bytes rather than nothing */
                j = latin1_string((const unsigned char *)s, len);
        }
        break;
    }
    case AVRO_BYTES: {
        const void *p;
        size_t size;
        if (avro_value_get_bytes(v, &p, &size) == 0)
            j = latin1_string(p, size);
        break;
    }
    case AVRO_FIXED: {
        const void *p;
        size_t size;
        if (avro_value_get_fixed(v, &p, &size) == 0)
            j = latin1_string(p, size);
        break;
    }
    case AVRO_ENUM: {
        int idx;
        const char *sym;
        if (avro_value_get_enum(v, &idx) == 0) {
            sym = avro_schema_enum_get(avro_value_get_schema(v), idx);
            if (sym)
                j = json_string(sym);
        }
        break;
    }
    case AVRO_ARRAY:
    case AVRO_MAP:
    case AVRO_RECORD: {
        size_t n;
        int is_array = avro_value_get_type(v) == AVRO_ARRAY;
        if (avro_value_get_size(v, &n) != 0)
            break;
        j = is_array ? json_array() : json_object();
        for (size_t i = 0; i < n; i++) {
            avro_value_t child;
            const char *name = NULL;
            json_t *cj;
            if (avro_value_get_by_index(v, i, &child, &name) != 0 ||
                !(cj = to_json(&child, depth + 1))) {
                json_decref(j);
                return NULL;
            }
            if (is_array)
                json_array_append_new(j, cj);
            else
                json_object_set_new_nocheck(j, name, cj);
        }
        break;
    }
    case AVRO_UNION: {
        avro_value_t branch;
        avro_schema_t us = avro_value_get_schema(v), bs;
        int disc;
        json_t *bj;
        char name[256];
        if (avro_value_get_discriminant(v, &disc) != 0 || disc < 0 ||
            avro_value_get_current_branch(v, &branch) != 0)
            break;
        bj = to_json(&branch, depth + 1);
        if (!bj || json_is_null(bj))
            return bj;
        bs = cv_codec_resolve(avro_schema_union_branch(us, disc));
        if (avro_schema_union_size(us) == 2 &&
            (is_avro_null(avro_schema_union_branch(us, 0)) ||
             is_avro_null(avro_schema_union_branch(us, 1))))
            return bj;
        j = json_object();
        json_object_set_new(j,
                            is_avro_named_type(bs)
                                ? cv_codec_full_name(bs, name, sizeof(name))
                                : cv_avro_type_name(avro_typeof(bs)),
                            bj);
        break;
    }
    default:
        break;
    }
    return j;
}

char *cv_value_to_json(avro_value_t *value)
{
    json_t *j;
    char *out;

    if (!value || !value->iface)
        return NULL;
    j = to_json(value, 0);
    if (!j)
        return NULL;
    out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

/* ------------------------------------------------------------------ */
/* encoding from JSON                                                   */

const char *cv_json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static int type_err(struct cv_codec_enc *e, const char *path, avro_schema_t sch,
                    const json_t *j)
{
    char buf[128];

    return cv_err(e->errstr, e->errstr_size, "field '%s': expected %s, got %s",
                  path, cv_codec_expected(sch, buf, sizeof(buf)),
                  cv_json_kind(j));
}

/* Code points U+0000..U+00FF back to bytes; anything above is an error. */
static int latin1_bytes(const char *s, size_t len, unsigned char *out,
                        size_t *out_len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            out[n++] = c;
        } else if ((c == 0xc2 || c == 0xc3) && i + 1 < len) {
            out[n++] = (unsigned char)(((c & 0x03) << 6) |
                                       ((unsigned char)s[i + 1] & 0x3f));
            i++;
        } else {
            return CV_ERR;
        }
    }
    *out_len = n;
    return CV_OK;
}

static int special_double(const json_t *j, double *d)
{
    const char *s = json_string_value(j);

    if (!s)
        return 0;
    if (strcmp(s, "NaN") == 0)
        *d = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *d = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *d = -INFINITY;
    else
        return 0;
    return 1;
}

static int from_json(struct cv_codec_enc *e, avro_value_t *dst,
                     avro_schema_t sch, json_t *j, const char *path, int depth);

static int child_path(char *buf, size_t size, const char *path,
                      const char *name, long index)
{
    if (name)
        snprintf(buf, size, "%s%s%s", path, *path ? "." : "", name);
    else
        snprintf(buf, size, "%s[%ld]", path, index);
    return 0;
}

static int set_null_branch(avro_value_t *dst, avro_schema_t sch)
{
    avro_value_t branch;

    sch = cv_codec_resolve(sch);
    for (size_t i = 0; i < avro_schema_union_size(sch); i++) {
        if (is_avro_null(
                cv_codec_resolve(avro_schema_union_branch(sch, (int)i)))) {
            if (avro_value_set_branch(dst, (int)i, &branch) != 0)
                return CV_ERR;
            return avro_value_set_null(&branch) ? CV_ERR : CV_OK;
        }
    }
    return CV_ERR;
}

/*
 * A field the producer left out: its declared default, null if the field is
 * a union with null, otherwise an error.
 */
int cv_codec_fill_missing(struct cv_codec_enc *e, avro_value_t *dst,
                          avro_schema_t rec, avro_schema_t fsch,
                          const char *fname, const char *path, int depth)
{
    char rname[256];
    const json_t *dflt;

    dflt = cv_schema_field_default(
        e->schema, cv_codec_full_name(rec, rname, sizeof(rname)), fname);
    if (dflt) {
        /*
         * A union's default belongs to its first branch (Avro spec); null
         * is the common case, and the plain-value matching in from_json
         * picks the first branch for any other well-formed default.
         */
        avro_schema_t target = cv_codec_resolve(fsch);
        if (is_avro_union(target) && json_is_null(dflt) &&
            cv_codec_is_nullable(target))
            return set_null_branch(dst, target) == CV_OK
                       ? CV_OK
                       : cv_err(e->errstr, e->errstr_size,
                                "field '%s': avro: %s", path, avro_strerror());
        if (from_json(e, dst, fsch, (json_t *)dflt, path, depth) != CV_OK) {
            size_t n = strlen(e->errstr ? e->errstr : "");
            if (e->errstr && n + 20 < e->errstr_size)
                strcat(e->errstr, " (in the default)");
            return CV_ERR;
        }
        return CV_OK;
    }
    if (cv_codec_is_nullable(fsch))
        return set_null_branch(dst, fsch) == CV_OK
                   ? CV_OK
                   : cv_err(e->errstr, e->errstr_size, "field '%s': avro: %s",
                            path, avro_strerror());
    return cv_err(e->errstr, e->errstr_size,
                  "field '%s': missing, and it has no default", path);
}

static int record_from_json(struct cv_codec_enc *e, avro_value_t *dst,
                            avro_schema_t sch, json_t *j, const char *path,
                            int depth)
{
    const char *key;
    json_t *val;
    char sub[512];
    char rname[256];
    size_t n = avro_schema_record_size(sch);

    if (!json_is_object(j))
        return type_err(e, path, sch, j);
    /* Unknown fields first: a typo is likelier than a missing field. */
    json_object_foreach(j, key, val)
    {
        if (avro_schema_record_field_get_index(sch, key) < 0) {
            child_path(sub, sizeof(sub), path, key, 0);
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': not in schema %s", sub,
                          cv_codec_full_name(sch, rname, sizeof(rname)));
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *fname = avro_schema_record_field_name(sch, (int)i);
        avro_schema_t fsch = avro_schema_record_field_get_by_index(sch, (int)i);
        avro_value_t child;
        int rc;

        if (avro_value_get_by_index(dst, i, &child, NULL) != 0)
            return cv_err(e->errstr, e->errstr_size, "avro: %s",
                          avro_strerror());
        child_path(sub, sizeof(sub), path, fname, 0);
        val = json_object_get(j, fname);
        if (val)
            rc = from_json(e, &child, fsch, val, sub, depth + 1);
        else
            rc = cv_codec_fill_missing(e, &child, sch, fsch, fname, sub,
                                       depth + 1);
        if (rc != CV_OK)
            return CV_ERR;
    }
    return CV_OK;
}

/* Whether a union branch can take this JSON value, looking one level deep. */
static int branch_fits(avro_schema_t b, const json_t *j)
{
    double d;

    b = cv_codec_resolve(b);
    switch (avro_typeof(b)) {
    case AVRO_NULL:
        return json_is_null(j);
    case AVRO_STRING:
    case AVRO_BYTES:
    case AVRO_FIXED:
        return json_is_string(j);
    case AVRO_ENUM:
        return json_is_string(j) &&
               avro_schema_enum_get_by_name(b, json_string_value(j)) >= 0;
    case AVRO_INT32:
        return json_is_integer(j) && json_integer_value(j) >= INT32_MIN &&
               json_integer_value(j) <= INT32_MAX;
    case AVRO_INT64:
        return json_is_integer(j);
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        return json_is_number(j) || special_double(j, &d);
    case AVRO_BOOLEAN:
        return json_is_boolean(j);
    case AVRO_ARRAY:
        return json_is_array(j);
    case AVRO_MAP:
    case AVRO_RECORD:
        return json_is_object(j);
    default:
        return 0;
    }
}

/* Does key name this branch, as Avro JSON writes a union value? */
static int branch_named(avro_schema_t b, const char *key)
{
    char buf[256];

    b = cv_codec_resolve(b);
    if (is_avro_named_type(b))
        return strcmp(key, cv_codec_full_name(b, buf, sizeof(buf))) == 0 ||
               strcmp(key, avro_schema_name(b)) == 0;
    return strcmp(key, cv_avro_type_name(avro_typeof(b))) == 0;
}

static int union_from_json(struct cv_codec_enc *e, avro_value_t *dst,
                           avro_schema_t sch, json_t *j, const char *path,
                           int depth)
{
    size_t n = avro_schema_union_size(sch);
    avro_value_t branch;

    /* The Avro JSON form: {"string": "x"}. */
    if (json_is_object(j) && json_object_size(j) == 1) {
        const char *key = json_object_iter_key(json_object_iter(j));
        for (size_t i = 0; i < n; i++) {
            avro_schema_t b = avro_schema_union_branch(sch, (int)i);
            if (is_avro_null(cv_codec_resolve(b)) || !branch_named(b, key))
                continue;
            if (avro_value_set_branch(dst, (int)i, &branch) != 0)
                return cv_err(e->errstr, e->errstr_size, "field '%s': avro: %s",
                              path, avro_strerror());
            return from_json(e, &branch, b, json_object_get(j, key), path,
                             depth + 1);
        }
    }
    /* The plain form: the first branch that can hold the value. */
    for (size_t i = 0; i < n; i++) {
        avro_schema_t b = avro_schema_union_branch(sch, (int)i);
        if (!branch_fits(b, j))
            continue;
        if (avro_value_set_branch(dst, (int)i, &branch) != 0)
            return cv_err(e->errstr, e->errstr_size, "field '%s': avro: %s",
                          path, avro_strerror());
        return from_json(e, &branch, b, j, path, depth + 1);
    }
    return type_err(e, path, sch, j);
}

static int from_json(struct cv_codec_enc *e, avro_value_t *dst,
                     avro_schema_t sch, json_t *j, const char *path, int depth)
{
    int rc = 0;
    double d;
    char sub[512];

    sch = cv_codec_resolve(sch);
    if (depth > CV_CODEC_MAX_DEPTH)
        return cv_err(e->errstr, e->errstr_size,
                      "field '%s': nested deeper than %d", path,
                      CV_CODEC_MAX_DEPTH);

    switch (avro_typeof(sch)) {
    case AVRO_STRING: {
        const char *s = json_string_value(j);
        size_t len = json_string_length(j);
        if (!s)
            return type_err(e, path, sch, j);
        if (memchr(s, '\0', len))
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': string contains NUL", path);
        rc = avro_value_set_string_len(dst, s, len + 1);
        break;
    }
    case AVRO_BYTES:
    case AVRO_FIXED: {
        const char *s = json_string_value(j);
        size_t len = json_string_length(j), n;
        unsigned char *buf;
        if (!s)
            return type_err(e, path, sch, j);
        buf = cv_malloc(len + 1);
        if (latin1_bytes(s, len, buf, &n) != CV_OK) {
            free(buf);
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': bytes are written as a string of "
                          "code points U+0000..U+00FF",
                          path);
        }
        if (is_avro_fixed(sch) && (int64_t)n != avro_schema_fixed_size(sch)) {
            free(buf);
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': fixed size is %lld bytes, got %zu", path,
                          (long long)avro_schema_fixed_size(sch), n);
        }
        rc = is_avro_fixed(sch) ? avro_value_set_fixed(dst, buf, n)
                                : avro_value_set_bytes(dst, buf, n);
        free(buf);
        break;
    }
    case AVRO_INT32:
    case AVRO_INT64: {
        json_int_t v;
        if (json_is_real(j))
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': expected %s, got a number with a "
                          "fraction (%g)",
                          path, cv_avro_type_name(avro_typeof(sch)),
                          json_real_value(j));
        if (!json_is_integer(j))
            return type_err(e, path, sch, j);
        v = json_integer_value(j);
        if (is_avro_int32(sch)) {
            if (v < INT32_MIN || v > INT32_MAX)
                return cv_err(e->errstr, e->errstr_size,
                              "field '%s': %lld is out of range for int", path,
                              (long long)v);
            rc = avro_value_set_int(dst, (int32_t)v);
        } else {
            rc = avro_value_set_long(dst, (int64_t)v);
        }
        break;
    }
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        if (json_is_number(j))
            d = json_number_value(j);
        else if (!special_double(j, &d))
            return type_err(e, path, sch, j);
        if (is_avro_float(sch)) {
            if (isfinite(d) && fabs(d) > FLT_MAX)
                return cv_err(e->errstr, e->errstr_size,
                              "field '%s': %g is out of range for float", path,
                              d);
            rc = avro_value_set_float(dst, (float)d);
        } else {
            rc = avro_value_set_double(dst, d);
        }
        break;
    case AVRO_BOOLEAN:
        if (!json_is_boolean(j))
            return type_err(e, path, sch, j);
        rc = avro_value_set_boolean(dst, json_is_true(j));
        break;
    case AVRO_NULL:
        if (!json_is_null(j))
            return type_err(e, path, sch, j);
        rc = avro_value_set_null(dst);
        break;
    case AVRO_ENUM: {
        int idx;
        char name[256];
        if (!json_is_string(j))
            return type_err(e, path, sch, j);
        idx = avro_schema_enum_get_by_name(sch, json_string_value(j));
        if (idx < 0)
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': '%s' is not a symbol of enum %s", path,
                          json_string_value(j),
                          cv_codec_full_name(sch, name, sizeof(name)));
        rc = avro_value_set_enum(dst, idx);
        break;
    }
    case AVRO_ARRAY: {
        size_t i;
        json_t *item;
        if (!json_is_array(j))
            return type_err(e, path, sch, j);
        /* the decoder would refuse more; do not produce what it refuses */
        if (cv_codec_zero_width(avro_schema_array_items(sch), 0)) {
            e->zero_items += json_array_size(j);
            if (e->zero_items > CV_CODEC_ZERO_WIDTH_MAX)
                return cv_err(e->errstr, e->errstr_size,
                              "field '%s': more than %d zero-width items in "
                              "a message",
                              path, CV_CODEC_ZERO_WIDTH_MAX);
        }
        json_array_foreach(j, i, item)
        {
            avro_value_t child;
            if (avro_value_append(dst, &child, NULL) != 0)
                break;
            child_path(sub, sizeof(sub), path, NULL, (long)i);
            if (from_json(e, &child, avro_schema_array_items(sch), item, sub,
                          depth + 1) != CV_OK)
                return CV_ERR;
        }
        break;
    }
    case AVRO_MAP: {
        const char *key;
        json_t *item;
        if (!json_is_object(j))
            return type_err(e, path, sch, j);
        json_object_foreach(j, key, item)
        {
            avro_value_t child;
            if (avro_value_add(dst, key, &child, NULL, NULL) != 0) {
                rc = -1;
                break;
            }
            child_path(sub, sizeof(sub), path, key, 0);
            if (from_json(e, &child, avro_schema_map_values(sch), item, sub,
                          depth + 1) != CV_OK)
                return CV_ERR;
        }
        break;
    }
    case AVRO_RECORD:
        return record_from_json(e, dst, sch, j, path, depth);
    case AVRO_UNION:
        return union_from_json(e, dst, sch, j, path, depth);
    default:
        return cv_err(e->errstr, e->errstr_size,
                      "field '%s': type %s is not supported", path,
                      cv_avro_type_name(avro_typeof(sch)));
    }
    if (rc != 0)
        return cv_err(e->errstr, e->errstr_size, "field '%s': avro: %s", path,
                      avro_strerror());
    return CV_OK;
}

int cv_codec_encode_json(const struct cv_schema *schema, const char *json,
                         size_t json_len, char **out, size_t *out_len,
                         char *errstr, size_t errstr_size)
{
    json_t *root = NULL;
    json_error_t jerr;
    avro_value_t value = {NULL, NULL};
    struct cv_codec_enc e = {schema, errstr, errstr_size, 0};
    int rc = CV_ERR;

    root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                      &jerr);
    if (!root) {
        cv_err(errstr, errstr_size,
               "JSON syntax error at line %d, column %d: "
               "%s",
               jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        cv_err(errstr, errstr_size, "expected a JSON object for %s, got %s",
               schema->name, cv_json_kind(root));
        goto out;
    }
    if (avro_generic_value_new(schema->iface, &value) != 0) {
        cv_err(errstr, errstr_size, "avro: %s", avro_strerror());
        value.iface = NULL;
        goto out;
    }
    if (record_from_json(&e, &value, schema->avro, root, "", 0) != CV_OK)
        goto out;
    /* the shape fits; now what avro-c cannot check (uuid, dates, ...) */
    if (cv_logical_check(cv_schema_json(schema), root, errstr, errstr_size) !=
        CV_OK)
        goto out;
    rc = cv_codec_frame_value(schema->id, &value, out, out_len, errstr,
                              errstr_size);

out:
    if (value.iface)
        avro_value_decref(&value);
    json_decref(root);
    return rc;
}
