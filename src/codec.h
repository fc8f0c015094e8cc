/*
 * codec.h - Confluent-framed Avro: decode for consumers, encode for producers.
 *
 * Wire format: byte 0 = 0 (magic), bytes 1-4 = schema id (big-endian),
 * then the Avro binary body.
 *
 * A decoder keeps one reused avro value per schema, so decoding allocates
 * nothing in the steady state. A decoder belongs to one thread.
 */
#ifndef CV_CODEC_H
#define CV_CODEC_H

#include <avro.h>
#include <jansson.h>

#include "common.h"
#include "record.h"
#include "schema.h"

#define CV_FRAME_MAGIC  0
#define CV_FRAME_HEADER 5

/*
 * Splits a framed buffer. Returns CV_OK, or CV_ERR (errstr says why: too
 * short, bad magic byte).
 */
int cv_frame_parse(const void *buf, size_t len, int *schema_id,
                   const void **body, size_t *body_len, char *errstr,
                   size_t errstr_size);

struct cv_decoder;

/* The catalogue must outlive the decoder (it borrows the schemas). */
struct cv_decoder *cv_decoder_new(const struct cv_catalogue *cat);
void cv_decoder_destroy(struct cv_decoder *dec);

/*
 * Decodes a framed value. On CV_OK *schema and *value point into the decoder
 * and stay valid until the next decode on it. Errors: framing, unknown schema
 * id, a body that does not decode (truncated, trailing bytes, bad data).
 */
int cv_decoder_decode(struct cv_decoder *dec, const void *buf, size_t len,
                      const struct cv_schema **schema, avro_value_t **value,
                      char *errstr, size_t errstr_size);

/*
 * Field access on a decoded record (top-level fields). Returns CV_OK,
 * CV_NULL (a union holding null), or CV_ERR (no such field, other type).
 * A ["null", T] union reads as T. Strings are borrowed from the value.
 */
int cv_value_get_string(avro_value_t *rec, const char *field, const char **s,
                        size_t *len);
int cv_value_get_long(avro_value_t *rec, const char *field, int64_t *v);
int cv_value_get_int(avro_value_t *rec, const char *field, int32_t *v);
int cv_value_get_double(avro_value_t *rec, const char *field, double *v);
int cv_value_get_bool(avro_value_t *rec, const char *field, int *v);

/* "object", "number", ...: the kind of a JSON value, for error messages. */
const char *cv_json_kind(const json_t *j);

/* "string", "long", "record", ...: the Avro name of a type. */
const char *cv_avro_type_name(avro_type_t type);

/* Renders a value as JSON text (for dlq show, logs). Caller frees. */
char *cv_value_to_json(avro_value_t *value);

/*
 * Encodes a JSON object (text) against a record schema into a framed buffer
 * (*out is malloc'd, caller frees). Every schema field must be present unless
 * it is a union with null or has a default; an unknown field, a missing one
 * or a value of the wrong type is an error that names the field, e.g.
 * "field 'lead_id': expected string, got number".
 */
int cv_codec_encode_json(const struct cv_schema *schema, const char *json,
                         size_t json_len, char **out, size_t *out_len,
                         char *errstr, size_t errstr_size);

/* The record built field by field (record.h) belongs to the codec too:
 * its schema, and encoding it. */
const struct cv_schema *cv_record_schema(const struct cv_record *rec);
int cv_record_encode(struct cv_record *rec, char **out, size_t *out_len,
                     char *errstr, size_t errstr_size);
struct cv_record *cv_record_new(const struct cv_schema *schema);

#endif
