/*
 * codec_int.h - what codec.c, codec_value.c and codec_json.c share; not for
 * the rest of the engine, which includes codec.h.
 *
 * The limits are the decoder's: the encoders apply the same ones, so the
 * engine never produces a message it would refuse to consume.
 */
#ifndef CV_CODEC_INT_H
#define CV_CODEC_INT_H

#include <avro.h>
#include <jansson.h>

#include "schema.h"

/* Nesting deeper than this in a schema or a value is refused. */
#define CV_CODEC_MAX_DEPTH 64

/*
 * Array items of a zero-width type (null, a record of nulls) take no bytes,
 * so a few bytes of block count could make the decoder append for ever.
 * A message may hold this many of them in all; every other item costs at
 * least one byte and is bounded by the body's length.
 */
#define CV_CODEC_ZERO_WIDTH_MAX 65536

/* A named type's link followed to the type itself. */
static inline avro_schema_t cv_codec_resolve(avro_schema_t sch)
{
    while (sch && is_avro_link(sch))
        sch = avro_schema_link_target(sch);
    return sch;
}

/* Whether a value of this type can encode to zero bytes. */
int cv_codec_zero_width(avro_schema_t sch, int depth);

/* "ns.name" of a named schema into buf. */
const char *cv_codec_full_name(avro_schema_t sch, char *buf, size_t size);

/* What a field of this schema wants, in words: "null or string". */
const char *cv_codec_expected(avro_schema_t sch, char *buf, size_t size);

/* Whether the schema is a union with a null branch. */
int cv_codec_is_nullable(avro_schema_t sch);

/* Writes value framed with id into a new buffer (*out, caller frees). */
int cv_codec_frame_value(int id, avro_value_t *value, char **out,
                         size_t *out_len, char *errstr, size_t errstr_size);

/* One encoding, from JSON or from a record built field by field. */
struct cv_codec_enc {
    const struct cv_schema *schema;
    char *errstr;
    size_t errstr_size;
    size_t zero_items; /* zero-width array items so far (..._ZERO_WIDTH_MAX) */
};

/*
 * A field the producer left out: its declared default, null if the field is
 * a union with null, otherwise an error. rec is the record schema holding
 * the field (its defaults are looked up by the record's full name).
 */
int cv_codec_fill_missing(struct cv_codec_enc *e, avro_value_t *dst,
                          avro_schema_t rec, avro_schema_t fsch,
                          const char *fname, const char *path, int depth);

#endif
