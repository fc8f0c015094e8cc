/*
 * schedule.c - due fire times and their events (see schedule.h).
 */
#include "schedule.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "cron.h"
#include "event.h"
#include "tz.h"

const char *cv_run_kind_name(int kind)
{
    switch (kind) {
    case CV_RUN_SCHEDULED:
        return "scheduled";
    case CV_RUN_CATCH_UP:
        return "catch_up";
    case CV_RUN_SKIPPED:
        return "skipped";
    case CV_RUN_MANUAL:
        return "manual";
    }
    return "?";
}

int cv_schedule_next(const struct cv_topo_schedule *s, int64_t after_ms,
                     int64_t *next_ms)
{
    int64_t after_s, next_s;

    /* floor division: a fire at exactly after_ms is not "after" it */
    after_s = after_ms >= 0 ? after_ms / 1000 : -((-after_ms + 999) / 1000);
    if (cv_cron_next(s->cron, s->tz, after_s, &next_s) != 0)
        return CV_ERR;
    *next_ms = next_s * 1000;
    return CV_OK;
}

/* Why a missed fire is not fired, or NULL if it is (as catch_up). */
static const char *missed_reason(const struct cv_topo_schedule *s,
                                 int64_t fire_ms, int64_t now_ms,
                                 int64_t late_after_ms)
{
    int64_t next_ms;

    if (s->catch_up == CV_CATCH_UP_NONE)
        return "catch-up policy none";
    if (now_ms - fire_ms > (int64_t)s->catch_up_window_s * 1000)
        return "older than the catch-up window";
    if (s->catch_up == CV_CATCH_UP_LATEST &&
        cv_schedule_next(s, fire_ms, &next_ms) == CV_OK &&
        now_ms - next_ms > late_after_ms)
        return "catch-up policy latest: a newer fire was missed too";
    return NULL;
}

size_t cv_schedule_due(const struct cv_topo_schedule *s, int64_t cursor_ms,
                       int64_t now_ms, int64_t late_after_ms, int paused,
                       struct cv_fire *out, size_t max)
{
    int64_t t = cursor_ms, f;
    size_t n = 0;

    while (n < max && cv_schedule_next(s, t, &f) == CV_OK && f <= now_ms) {
        struct cv_fire *fire = &out[n++];

        fire->fire_ms = f;
        fire->kind = CV_RUN_SCHEDULED;
        fire->reason = NULL;
        if (!s->enabled) {
            fire->kind = CV_RUN_SKIPPED;
            fire->reason = "disabled";
        } else if (paused) {
            fire->kind = CV_RUN_SKIPPED;
            fire->reason = "paused";
        } else if (now_ms - f > late_after_ms) {
            fire->reason = missed_reason(s, f, now_ms, late_after_ms);
            fire->kind = fire->reason ? CV_RUN_SKIPPED : CV_RUN_CATCH_UP;
        }
        t = f;
    }
    return n;
}

void cv_schedule_event_id(const char *name, int64_t fire_ms, char *out,
                          size_t size)
{
    char ts[32];

    cv_rfc3339_format(fire_ms, ts);
    snprintf(out, size, "%s@%s", name, ts);
}

static int has_field(const struct cv_schema *schema, const char *field)
{
    return avro_schema_record_field_get_index(schema->avro, field) >= 0;
}

int cv_schedule_encode(const struct cv_topo_schedule *s,
                       const struct cv_schema *schema, int64_t fire_ms,
                       int kind, char **out, size_t *out_len, char *errstr,
                       size_t errstr_size)
{
    json_error_t jerr;
    json_t *obj = json_loads(s->payload, 0, &jerr);
    char *text;
    int rc;

    *out = NULL;
    if (!obj)
        return cv_err(errstr, errstr_size,
                      "payload is not JSON: %s (column %d)", jerr.text,
                      jerr.column);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return cv_err(errstr, errstr_size,
                      "payload must be a JSON object { ... }");
    }
    if (has_field(schema, "schedule"))
        json_object_set_new(obj, "schedule", json_string(s->name));
    if (has_field(schema, "fire_time"))
        json_object_set_new(obj, "fire_time", json_integer(fire_ms));
    if (has_field(schema, "run"))
        json_object_set_new(obj, "run", json_string(cv_run_kind_name(kind)));
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!text)
        return cv_err(errstr, errstr_size, "out of memory");
    rc = cv_codec_encode_json(schema, text, strlen(text), out, out_len, errstr,
                              errstr_size);
    free(text);
    return rc;
}
