/*
 * event.h - CloudEvents Kafka binding, binary mode: the ce_* headers.
 *
 * Required: ce_specversion ("1.0"), ce_id, ce_type, ce_source, ce_time
 * (RFC 3339). Optional: ce_tenant, traceparent. content-type should be
 * application/avro. Values are copied into the struct (NUL-terminated), so
 * a struct cv_ce outlives the message it was parsed from.
 */
#ifndef CV_EVENT_H
#define CV_EVENT_H

#include <librdkafka/rdkafka.h>

#include "common.h"

#define CV_CE_ID_MAX     128
#define CV_CE_TYPE_MAX   128
#define CV_CE_SOURCE_MAX 256
#define CV_CE_TENANT_MAX 128
#define CV_CE_TRACE_MAX  64

struct cv_ce {
    char specversion[8];
    char id[CV_CE_ID_MAX];
    char type[CV_CE_TYPE_MAX];
    char source[CV_CE_SOURCE_MAX];
    int64_t time_ms;
    char tenant[CV_CE_TENANT_MAX];     /* "" if absent */
    char traceparent[CV_CE_TRACE_MAX]; /* "" if absent */
};

/*
 * Parses the headers of a message (hdrs may be NULL: no headers). Returns
 * CV_OK or CV_ERR with errstr naming the header and the problem ("missing
 * ce_id", "ce_time: not RFC 3339", "ce_id: longer than 127 bytes"). On error
 * the fields that did parse are still filled in (ce->type for routing the
 * dead letter, for instance).
 */
int cv_ce_parse(const rd_kafka_headers_t *hdrs, struct cv_ce *ce, char *errstr,
                size_t errstr_size);

/*
 * New header list for a producer: every ce_* header set in ce, plus
 * content-type: application/avro. Caller owns the result (or hands it to
 * rd_kafka_producev(RD_KAFKA_V_HEADERS), which takes ownership on success).
 */
rd_kafka_headers_t *cv_ce_headers_new(const struct cv_ce *ce);

/* RFC 3339 <-> milliseconds since the epoch, UTC. */
int cv_rfc3339_parse(const char *s, size_t len, int64_t *ms);
/* Writes e.g. "2026-11-22T06:05:00.123Z"; out must hold 32 bytes. */
void cv_rfc3339_format(int64_t ms, char out[32]);

/*
 * Kafka headers as a JSON object of strings, as conveyor.dead_letters,
 * conveyor.retries and conveyor.outbox store them: a value that is not
 * UTF-8 is "hex:" and its bytes in hex, a header without a value is null.
 * cv_headers_to_json() returns a malloc'ed string ("{}" for hdrs NULL);
 * cv_headers_from_json() a new header list the caller owns (empty if the
 * text is not a JSON object).
 */
char *cv_headers_to_json(const rd_kafka_headers_t *hdrs);
rd_kafka_headers_t *cv_headers_from_json(const char *text, size_t len);

#endif
