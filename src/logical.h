/*
 * logical.h - Avro logical type checks for JSON about to be encoded.
 *
 * avro-c parses a schema's "logicalType" attributes and then drops them, so
 * the encoder alone would accept "not-a-uuid" for a uuid field and the
 * event would fail downstream (Postgres: SQLSTATE 22P02). These checks walk
 * the schema's own JSON (.avsc) next to the value and hold each field to
 * its logical type:
 *
 *   uuid                    string, 8-4-4-4-12 hex digits (RFC 4122 text)
 *   date                    int, days since 1970-01-01, years 0001-9999
 *   time-millis/-micros     int/long, within one day
 *   timestamp-millis/-micros,
 *   local-timestamp-*       long, since 1970-01-01T00:00:00, years 0001-9999
 *   decimal(precision,scale) bytes or fixed: the unscaled two's-complement
 *                           big-endian integer (Avro JSON writes bytes as
 *                           code points U+0000..U+00FF) has at most
 *                           precision digits
 *
 * A logical type on a base type the spec does not pair it with is ignored,
 * as the spec says. Errors name the field as the codec does ("address.zip",
 * "items[2]") and start with "field '...': expected".
 */
#ifndef CV_LOGICAL_H
#define CV_LOGICAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Checks value (a JSON object) against the record schema schema (the parsed
 * .avsc). Parts of value that do not fit the schema's structure are skipped
 * (the codec reports those). Returns CV_OK, or CV_ERR with errstr naming
 * the field, what was expected and what was given. Thread-safe; borrows
 * both arguments.
 */
int cv_logical_check(const json_t *schema, const json_t *value, char *errstr,
                     size_t errstr_size);

/* True if s (len bytes) is a uuid in its text form, either case. */
int cv_logical_is_uuid(const char *s, size_t len);

/*
 * The number of decimal digits of the two's-complement big-endian integer
 * in buf (n bytes; 0 bytes is 0, one digit), sign not counted.
 */
int cv_logical_decimal_digits(const unsigned char *buf, size_t n);

#endif
