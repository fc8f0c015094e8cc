/*
 * record.h - a record of an event type's schema, built field by field: what
 * a handler emits (handler.h), what the ticker and `produce` encode.
 *
 * Setting a field that does not exist or has another type is an error
 * naming the field (CV_ERR); encoding fails if a required field was never
 * set. A leaf header: the codec (codec.h) makes, encodes and frees records.
 */
#ifndef CV_RECORD_H
#define CV_RECORD_H

#include <stdint.h>

struct cv_record;

int cv_record_set_string(struct cv_record *rec, const char *field,
                         const char *value); /* NULL sets a null union */
int cv_record_set_long(struct cv_record *rec, const char *field, int64_t value);
int cv_record_set_int(struct cv_record *rec, const char *field, int32_t value);
int cv_record_set_double(struct cv_record *rec, const char *field,
                         double value);
int cv_record_set_bool(struct cv_record *rec, const char *field, int value);
/* Frees a record that will not be sent; accepts NULL. */
void cv_record_destroy(struct cv_record *rec);

#endif
