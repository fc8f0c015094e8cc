/*
 * target.c - a target's settings at work: base URL and secret from the
 * environment, the verdict on an answer, Retry-After, form encoding and
 * the rate limiter. No I/O; the effect runner (effects.c) does the calls.
 */
#include "target.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

const char *cv_target_base_url(const struct cv_target *t)
{
    const char *v = t->base_url_env ? getenv(t->base_url_env) : NULL;
    return v && *v ? v : t->base_url;
}

const char *cv_target_secret(const struct cv_target *t)
{
    const char *v;
    if (t->auth == CV_AUTH_NONE || !t->secret_env)
        return NULL;
    v = getenv(t->secret_env);
    return v && *v ? v : NULL;
}

int cv_target_env_paused(const struct cv_target *t)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    const char *v = t->kill_switch_env ? getenv(t->kill_switch_env) : NULL;
    if (!v)
        return 0;
    for (size_t i = 0; i < CV_ARRAY_SIZE(yes); i++)
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
    return 0;
}

int64_t cv_retry_after_ms(const char *value, int64_t now_ms)
{
    char *end;
    long long secs;
    time_t when;

    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        secs = strtoll(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end || secs < 0)
            return -1;
        if (secs > 86400LL * 365)
            secs = 86400LL * 365; /* a year is as good as forever */
        return (int64_t)secs * 1000;
    }
    when = curl_getdate(value, NULL); /* IMF-fixdate and the old forms */
    if (when == (time_t)-1)
        return -1;
    return (int64_t)when * 1000 > now_ms ? (int64_t)when * 1000 - now_ms : 0;
}

/* 1 if the body is a JSON object whose field equals value (a string, or a
 * scalar written as value). */
static int body_says_error(const struct cv_target *t, const char *body)
{
    json_t *root, *field;
    int hit = 0;

    if (!t->error_field || !t->error_value || !body)
        return 0;
    root = json_loads(body, JSON_DECODE_ANY, NULL);
    if (!root)
        return 0;
    field = json_is_object(root) ? json_object_get(root, t->error_field) : NULL;
    if (json_is_string(field))
        hit = strcmp(json_string_value(field), t->error_value) == 0;
    else if (json_is_true(field))
        hit = strcmp(t->error_value, "true") == 0;
    else if (json_is_integer(field))
        hit = atoll(t->error_value) == json_integer_value(field);
    json_decref(root);
    return hit;
}

enum cv_verdict cv_target_judge(const struct cv_target *t,
                                const struct cv_answer *a, int64_t now_ms,
                                int64_t *min_delay_ms, char *why,
                                size_t why_size)
{
    enum cv_verdict v;
    int64_t after;

    *min_delay_ms = 0;
    if (a->transport_error) {
        snprintf(why, why_size, "no answer: %s",
                 a->transport_msg ? a->transport_msg : "transport error");
        return CV_VERDICT_RETRY;
    }
    if (a->status >= 200 && a->status < 300) {
        if (body_says_error(t, a->body)) {
            snprintf(why, why_size, "HTTP %ld with %s = %s in the body",
                     a->status, t->error_field, t->error_value);
            return CV_VERDICT_RETRY;
        }
        why[0] = '\0';
        return CV_VERDICT_OK;
    }
    if (a->status == 409 || a->status == 429 || a->status >= 500 ||
        a->status < 200)
        v = CV_VERDICT_RETRY;
    else
        v = CV_VERDICT_FINAL; /* 3xx (redirects are not followed), 4xx */
    /* Stripe says better than the status whether a repeat can succeed */
    if (a->should_retry) {
        if (strcasecmp(a->should_retry, "true") == 0)
            v = CV_VERDICT_RETRY;
        else if (strcasecmp(a->should_retry, "false") == 0)
            v = CV_VERDICT_FINAL;
    }
    after = cv_retry_after_ms(a->retry_after, now_ms);
    if (after > 0 && v == CV_VERDICT_RETRY)
        *min_delay_ms = after;
    snprintf(why, why_size, "HTTP %ld%s", a->status,
             v == CV_VERDICT_RETRY ? "" : " (final)");
    return v;
}

/* ------------------------------------------------------------ form body */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = cv_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Percent-encodes s (RFC 3986 unreserved characters stay). */
static void put_escaped(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
            ch == '~') {
            put(b, s, 1);
        } else {
            char enc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            put(b, enc, 3);
        }
    }
}

static void encode(struct buf *b, const char *name, json_t *v)
{
    char num[64];
    const char *text = NULL;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m)
        {
            char *sub = cv_asprintf("%s[%s]", name, k);
            encode(b, sub, m);
            free(sub);
        }
        return;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            char *sub = cv_asprintf("%s[%zu]", name, i);
            encode(b, sub, m);
            free(sub);
        }
        return;
    }
    case JSON_NULL:
        return;
    case JSON_STRING:
        text = json_string_value(v);
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        text = num;
        break;
    case JSON_REAL:
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        text = num;
        break;
    case JSON_TRUE:
        text = "true";
        break;
    case JSON_FALSE:
        text = "false";
        break;
    }
    if (b->len)
        put(b, "&", 1);
    put_escaped(b, name);
    put(b, "=", 1);
    put_escaped(b, text);
}

char *cv_form_encode(const char *json, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    struct buf b = {NULL, 0, 0};
    const char *k;
    json_t *m;

    if (!root || !json_is_object(root)) {
        cv_err(errstr, errstr_size, "a form body must be a JSON object%s%s",
               root ? "" : ": ", root ? "" : jerr.text);
        json_decref(root);
        return NULL;
    }
    put(&b, "", 0);
    json_object_foreach(root, k, m) encode(&b, k, m);
    json_decref(root);
    return b.p;
}

/* --------------------------------------------------------- rate limiter */

void cv_rate_init(struct cv_rate *r, double rate_per_s, double burst,
                  int64_t now_us)
{
    r->rate_per_s = rate_per_s > 0 ? rate_per_s : 0;
    r->burst = burst >= 1 ? burst : 1;
    r->tokens = r->burst;
    r->last_us = now_us;
}

int cv_rate_take(struct cv_rate *r, int64_t now_us, int64_t *wait_us)
{
    *wait_us = 0;
    if (r->rate_per_s <= 0)
        return 1;
    if (now_us > r->last_us) {
        r->tokens += (double)(now_us - r->last_us) * r->rate_per_s / 1e6;
        if (r->tokens > r->burst)
            r->tokens = r->burst;
        r->last_us = now_us;
    }
    if (r->tokens >= 1.0) {
        r->tokens -= 1.0;
        return 1;
    }
    *wait_us = (int64_t)((1.0 - r->tokens) * 1e6 / r->rate_per_s) + 1;
    return 0;
}
