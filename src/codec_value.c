/*
 * codec_value.c - reading decoded values and building records to encode:
 * the top-level field getters handlers use through cv_event_*, and the
 * record builder behind cv_emit_new() (record.h).
 *
 * The getters look through a ["null", T] union to its branch, so an
 * optional field reads as T or CV_NULL. The builder keeps the first failed
 * set as its error and reports it from cv_record_encode(), so a handler
 * may set every field and check once; fields it never set take their
 * declared default or null, as in encoding from JSON (codec_json.c).
 */
#include "codec.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"

/* ------------------------------------------------------------------ */
/* getters                                                              */

/* The field's value, looking through a union to its current branch. */
static int field_get(avro_value_t *rec, const char *field, avro_value_t *out)
{
    if (!rec || !rec->iface || !field ||
        avro_value_get_type(rec) != AVRO_RECORD)
        return CV_ERR;
    if (avro_value_get_by_name(rec, field, out, NULL) != 0)
        return CV_ERR;
    if (avro_value_get_type(out) == AVRO_UNION) {
        avro_value_t branch;
        if (avro_value_get_current_branch(out, &branch) != 0)
            return CV_ERR;
        *out = branch;
    }
    return avro_value_get_type(out) == AVRO_NULL ? CV_NULL : CV_OK;
}

int cv_value_get_string(avro_value_t *rec, const char *field, const char **s,
                        size_t *len)
{
    avro_value_t v;
    int rc = field_get(rec, field, &v);
    size_t size = 0;

    if (rc == CV_NULL) {
        *s = NULL;
        if (len)
            *len = 0;
    }
    if (rc != CV_OK)
        return rc;
    switch (avro_value_get_type(&v)) {
    case AVRO_STRING:
        if (avro_value_get_string(&v, s, &size) != 0)
            return CV_ERR;
        if (len)
            *len = size ? size - 1 : 0; /* size counts the NUL */
        return CV_OK;
    case AVRO_ENUM: {
        int idx;
        const char *sym;
        if (avro_value_get_enum(&v, &idx) != 0)
            return CV_ERR;
        sym = avro_schema_enum_get(avro_value_get_schema(&v), idx);
        if (!sym)
            return CV_ERR;
        *s = sym;
        if (len)
            *len = strlen(sym);
        return CV_OK;
    }
    default:
        return CV_ERR;
    }
}

int cv_value_get_long(avro_value_t *rec, const char *field, int64_t *out)
{
    avro_value_t v;
    int32_t i;
    int rc = field_get(rec, field, &v);

    if (rc != CV_OK)
        return rc;
    switch (avro_value_get_type(&v)) {
    case AVRO_INT64:
        return avro_value_get_long(&v, out) ? CV_ERR : CV_OK;
    case AVRO_INT32:
        if (avro_value_get_int(&v, &i) != 0)
            return CV_ERR;
        *out = i;
        return CV_OK;
    default:
        return CV_ERR;
    }
}

int cv_value_get_int(avro_value_t *rec, const char *field, int32_t *out)
{
    avro_value_t v;
    int rc = field_get(rec, field, &v);

    if (rc != CV_OK)
        return rc;
    if (avro_value_get_type(&v) != AVRO_INT32)
        return CV_ERR;
    return avro_value_get_int(&v, out) ? CV_ERR : CV_OK;
}

int cv_value_get_double(avro_value_t *rec, const char *field, double *out)
{
    avro_value_t v;
    float f;
    int rc = field_get(rec, field, &v);

    if (rc != CV_OK)
        return rc;
    switch (avro_value_get_type(&v)) {
    case AVRO_DOUBLE:
        return avro_value_get_double(&v, out) ? CV_ERR : CV_OK;
    case AVRO_FLOAT:
        if (avro_value_get_float(&v, &f) != 0)
            return CV_ERR;
        *out = f;
        return CV_OK;
    default:
        return CV_ERR;
    }
}

int cv_value_get_bool(avro_value_t *rec, const char *field, int *out)
{
    avro_value_t v;
    int b;
    int rc = field_get(rec, field, &v);

    if (rc != CV_OK)
        return rc;
    if (avro_value_get_type(&v) != AVRO_BOOLEAN)
        return CV_ERR;
    if (avro_value_get_boolean(&v, &b) != 0)
        return CV_ERR;
    *out = b ? 1 : 0;
    return CV_OK;
}

/* ------------------------------------------------------------------ */
/* the record builder                                                   */

struct cv_record {
    const struct cv_schema *schema;
    avro_value_t value;
    unsigned char *set; /* per top-level field: was it set */
    size_t nfields;
    char *error; /* the first failed set, reported by encode */
};

struct cv_record *cv_record_new(const struct cv_schema *schema)
{
    struct cv_record *rec;

    if (!schema)
        return NULL;
    rec = cv_calloc(1, sizeof(*rec));
    rec->schema = schema;
    if (avro_generic_value_new(schema->iface, &rec->value) != 0) {
        free(rec);
        return NULL;
    }
    rec->nfields = avro_schema_record_size(schema->avro);
    rec->set = cv_calloc(rec->nfields, 1);
    return rec;
}

void cv_record_destroy(struct cv_record *rec)
{
    if (!rec)
        return;
    avro_value_decref(&rec->value);
    free(rec->set);
    free(rec->error);
    free(rec);
}

const struct cv_schema *cv_record_schema(const struct cv_record *rec)
{
    return rec ? rec->schema : NULL;
}

static int record_fail(struct cv_record *rec, const char *fmt, ...)
    CV_PRINTF(2, 3);
static int record_fail(struct cv_record *rec, const char *fmt, ...)
{
    va_list ap;

    if (!rec->error) {
        char buf[512];
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        rec->error = cv_strdup(buf);
    }
    return CV_ERR;
}

/*
 * Finds field and the value to write into: the field itself if its type is
 * one of want (up to two types), else the branch of a union that is. what
 * names the setter's type for the error.
 */
static int record_target(struct cv_record *rec, const char *field,
                         avro_type_t want1, avro_type_t want2, const char *what,
                         avro_value_t *out, size_t *index)
{
    avro_value_t child;
    avro_schema_t sch;
    avro_type_t type;

    if (!rec)
        return CV_ERR; /* cv_emit_new() found no schema; it said so */
    if (!field ||
        avro_value_get_by_name(&rec->value, field, &child, index) != 0)
        return record_fail(rec, "field '%s': not in schema %s",
                           field ? field : "(null)", rec->schema->name);
    type = avro_value_get_type(&child);
    if (type == want1 || type == want2) {
        *out = child;
        return CV_OK;
    }
    sch = avro_value_get_schema(&child);
    if (type == AVRO_UNION) {
        for (size_t i = 0; i < avro_schema_union_size(sch); i++) {
            avro_type_t bt = avro_typeof(
                cv_codec_resolve(avro_schema_union_branch(sch, (int)i)));
            if (bt != want1 && bt != want2)
                continue;
            if (avro_value_set_branch(&child, (int)i, out) != 0)
                return record_fail(rec, "field '%s': avro: %s", field,
                                   avro_strerror());
            return CV_OK;
        }
    }
    {
        char buf[128];
        return record_fail(rec, "field '%s': expected %s, got %s", field,
                           cv_codec_expected(sch, buf, sizeof(buf)), what);
    }
}

int cv_record_set_string(struct cv_record *rec, const char *field,
                         const char *value)
{
    avro_value_t v;
    size_t index;
    int rc;

    if (!value) {
        if (record_target(rec, field, AVRO_NULL, AVRO_NULL, "null", &v,
                          &index) != CV_OK)
            return CV_ERR;
        rc = avro_value_set_null(&v);
    } else {
        if (record_target(rec, field, AVRO_STRING, AVRO_ENUM, "string", &v,
                          &index) != CV_OK)
            return CV_ERR;
        if (avro_value_get_type(&v) == AVRO_ENUM) {
            int idx =
                avro_schema_enum_get_by_name(avro_value_get_schema(&v), value);
            if (idx < 0)
                return record_fail(rec,
                                   "field '%s': '%s' is not a symbol of the "
                                   "enum",
                                   field, value);
            rc = avro_value_set_enum(&v, idx);
        } else {
            if (cv_text_check((const unsigned char *)value, strlen(value)) !=
                CV_TEXT_OK)
                return record_fail(rec, "field '%s': not valid UTF-8", field);
            rc = avro_value_set_string(&v, value);
        }
    }
    if (rc != 0)
        return record_fail(rec, "field '%s': avro: %s", field, avro_strerror());
    rec->set[index] = 1;
    return CV_OK;
}

int cv_record_set_long(struct cv_record *rec, const char *field, int64_t value)
{
    avro_value_t v;
    size_t index;

    if (record_target(rec, field, AVRO_INT64, AVRO_INT64, "long", &v, &index) !=
        CV_OK)
        return CV_ERR;
    if (avro_value_set_long(&v, value) != 0)
        return record_fail(rec, "field '%s': avro: %s", field, avro_strerror());
    rec->set[index] = 1;
    return CV_OK;
}

/* An int also fits a long field: widening loses nothing. */
int cv_record_set_int(struct cv_record *rec, const char *field, int32_t value)
{
    avro_value_t v;
    size_t index;
    int rc;

    if (record_target(rec, field, AVRO_INT32, AVRO_INT64, "int", &v, &index) !=
        CV_OK)
        return CV_ERR;
    if (avro_value_get_type(&v) == AVRO_INT64)
        rc = avro_value_set_long(&v, value);
    else
        rc = avro_value_set_int(&v, value);
    if (rc != 0)
        return record_fail(rec, "field '%s': avro: %s", field, avro_strerror());
    rec->set[index] = 1;
    return CV_OK;
}

/* A float field takes a double when the value is within float's range. */
int cv_record_set_double(struct cv_record *rec, const char *field, double value)
{
    avro_value_t v;
    size_t index;
    int rc;

    if (record_target(rec, field, AVRO_DOUBLE, AVRO_FLOAT, "double", &v,
                      &index) != CV_OK)
        return CV_ERR;
    if (avro_value_get_type(&v) == AVRO_FLOAT) {
        if (isfinite(value) && fabs(value) > FLT_MAX)
            return record_fail(rec, "field '%s': %g is out of range for float",
                               field, value);
        rc = avro_value_set_float(&v, (float)value);
    } else {
        rc = avro_value_set_double(&v, value);
    }
    if (rc != 0)
        return record_fail(rec, "field '%s': avro: %s", field, avro_strerror());
    rec->set[index] = 1;
    return CV_OK;
}

int cv_record_set_bool(struct cv_record *rec, const char *field, int value)
{
    avro_value_t v;
    size_t index;

    if (record_target(rec, field, AVRO_BOOLEAN, AVRO_BOOLEAN, "boolean", &v,
                      &index) != CV_OK)
        return CV_ERR;
    if (avro_value_set_boolean(&v, value ? 1 : 0) != 0)
        return record_fail(rec, "field '%s': avro: %s", field, avro_strerror());
    rec->set[index] = 1;
    return CV_OK;
}

int cv_record_encode(struct cv_record *rec, char **out, size_t *out_len,
                     char *errstr, size_t errstr_size)
{
    struct cv_codec_enc e = {NULL, errstr, errstr_size, 0};
    avro_schema_t sch;

    if (!rec)
        return cv_err(errstr, errstr_size, "no record to encode");
    e.schema = rec->schema;
    sch = rec->schema->avro;
    if (rec->error)
        return cv_err(errstr, errstr_size, "%s", rec->error);
    for (size_t i = 0; i < rec->nfields; i++) {
        const char *fname = avro_schema_record_field_name(sch, (int)i);
        avro_schema_t fsch = avro_schema_record_field_get_by_index(sch, (int)i);
        avro_value_t child;

        if (rec->set[i])
            continue;
        if (avro_value_get_by_index(&rec->value, i, &child, NULL) != 0)
            return cv_err(errstr, errstr_size, "avro: %s", avro_strerror());
        if (!cv_codec_is_nullable(fsch) &&
            !cv_schema_field_default(rec->schema, rec->schema->name, fname))
            return cv_err(errstr, errstr_size,
                          "field '%s': required, and never set", fname);
        if (cv_codec_fill_missing(&e, &child, sch, fsch, fname, fname, 1) !=
            CV_OK)
            return CV_ERR;
    }
    return cv_codec_frame_value(rec->schema->id, &rec->value, out, out_len,
                                errstr, errstr_size);
}
