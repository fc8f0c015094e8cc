/*
 * effect_call.c - one attempt of an effect as a libcurl easy handle
 * (effect_call.h): URL, authentication, idempotency key, body encoding,
 * and collecting the answer's body and chosen headers.
 *
 * Redirects are not followed (a payment API that redirects is
 * misconfigured, and following one would re-send the body elsewhere).
 */
#include "effect_call.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "paths.h"

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
    struct cv_call *c = opaque;
    size_t len = size * n, keep = len;

    if (c->body_len + keep > CV_CALL_BODY_MAX) {
        keep = CV_CALL_BODY_MAX - c->body_len;
        c->body_truncated = 1;
    }
    if (keep) {
        c->body = cv_realloc(c->body, c->body_len + keep + 1);
        memcpy(c->body + c->body_len, data, keep);
        c->body_len += keep;
        c->body[c->body_len] = '\0';
    }
    return len;
}

/* Copies the value of a header line into out if its name is `name`. */
static int header_value(const char *line, size_t len, const char *name,
                        char *out, size_t size)
{
    size_t nlen = strlen(name), vlen;
    const char *v;

    if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen))
        return 0;
    v = line + nlen + 1;
    vlen = len - nlen - 1;
    while (vlen && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen &&
           (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (vlen >= size)
        vlen = size - 1;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return 1;
}

static size_t on_header(char *data, size_t size, size_t n, void *opaque)
{
    struct cv_call *c = opaque;
    size_t len = size * n;
    char value[512];

    if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new answer (after 100 Continue): forget the last one's */
        c->retry_after[0] = c->should_retry[0] = '\0';
        free(c->chosen);
        c->chosen = NULL;
        return len;
    }
    header_value(data, len, "Retry-After", c->retry_after,
                 sizeof(c->retry_after));
    header_value(data, len, "Stripe-Should-Retry", c->should_retry,
                 sizeof(c->should_retry));
    for (size_t i = 0; i < c->target->noutcome_headers; i++) {
        const char *name = c->target->outcome_headers[i];
        if (header_value(data, len, name, value, sizeof(value))) {
            json_t *obj = c->chosen ? json_loads(c->chosen, 0, NULL) : NULL;
            if (!obj)
                obj = json_object();
            json_object_set_new(obj, name, json_string(value));
            free(c->chosen);
            c->chosen = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(obj);
        }
    }
    return len;
}

/* base64 of "user:" for HTTP basic authentication with the secret as the
 * user name (how Stripe takes a key). */
static char *basic_credentials(const char *secret)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *in = cv_asprintf("%s:", secret);
    size_t n = strlen(in), o = 0;
    char *out = cv_malloc(n * 4 / 3 + 8);

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    memset(in, 0, n);
    free(in);
    return out;
}

static const char *user_agent(void)
{
    static char ua[64];
    if (!ua[0])
        snprintf(ua, sizeof(ua), "conveyor/%s", cv_version());
    return ua;
}

static char *escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0), *out;
    out = cv_strdup(e ? e : "");
    curl_free(e);
    return out;
}

struct cv_call *cv_call_new(const struct cv_target *t, size_t target_index,
                            struct cv_effect_claimed *req, char *errstr,
                            size_t errstr_size)
{
    struct cv_call *c = cv_calloc(1, sizeof(*c));
    const char *secret = cv_target_secret(t);
    const char *base = cv_target_base_url(t);
    char *line = NULL, *query = NULL;
    size_t blen;

    c->target = t;
    c->target_index = target_index;
    c->req = *req;
    memset(req, 0, sizeof(*req));
    if (t->auth != CV_AUTH_NONE && !secret) {
        cv_err(errstr, errstr_size,
               "target %s: the secret is not set (environment variable %s)",
               t->name, t->secret_env ? t->secret_env : "(none)");
        goto fail;
    }
    if (c->req.body && strcmp(c->req.method, "GET") != 0) {
        if (t->body == CV_BODY_FORM) {
            c->payload = cv_form_encode(c->req.body, errstr, errstr_size);
            if (!c->payload)
                goto fail;
        } else {
            c->payload = cv_strdup(c->req.body);
        }
    }

    /* URL: base + path + query (+ the secret as a parameter) */
    blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    if (t->auth == CV_AUTH_QUERY) {
        char *p = escape(t->auth_param), *v = escape(secret);
        query = cv_asprintf("%s%s%s=%s", c->req.query ? c->req.query : "",
                            c->req.query && *c->req.query ? "&" : "", p, v);
        memset(v, 0, strlen(v));
        free(p);
        free(v);
    } else if (c->req.query && *c->req.query) {
        query = cv_strdup(c->req.query);
    }
    c->url = cv_asprintf("%.*s%s%s%s", (int)blen, base,
                         c->req.path[0] == '/' ? "" : "/", c->req.path,
                         query ? "?" : "");
    if (query) {
        char *full = cv_asprintf("%s%s", c->url, query);
        memset(query, 0, strlen(query));
        free(query);
        free(c->url);
        c->url = full;
    }

    if (t->auth == CV_AUTH_BEARER) {
        line = cv_asprintf("Authorization: Bearer %s", secret);
    } else if (t->auth == CV_AUTH_BASIC) {
        char *cred = basic_credentials(secret);
        line = cv_asprintf("Authorization: Basic %s", cred);
        memset(cred, 0, strlen(cred));
        free(cred);
    }
    if (line) {
        c->headers = curl_slist_append(c->headers, line);
        memset(line, 0, strlen(line));
        free(line);
    }
    if (t->idempotency_header) {
        line = cv_asprintf("%s: %s", t->idempotency_header,
                           c->req.idempotency_key);
        c->headers = curl_slist_append(c->headers, line);
        free(line);
    }
    c->headers = curl_slist_append(c->headers, "Accept: application/json");
    if (c->payload)
        c->headers = curl_slist_append(
            c->headers, t->body == CV_BODY_FORM
                            ? "Content-Type: application/x-www-form-urlencoded"
                            : "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");

    c->easy = curl_easy_init();
    if (!c->easy) {
        cv_err(errstr, errstr_size, "curl_easy_init failed");
        goto fail;
    }
    curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, c->req.method);
    if (c->payload) {
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->payload);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE,
                         (long)strlen(c->payload));
    } else if (strcmp(c->req.method, "GET") == 0) {
        curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_USERAGENT, user_agent());
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(t->timeout_ms < 10000 ? t->timeout_ms : 10000));
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    return c;
fail:
    *req = c->req; /* not taken over after all: the caller still owns it */
    memset(&c->req, 0, sizeof(c->req));
    cv_call_destroy(c);
    return NULL;
}

void cv_call_destroy(struct cv_call *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    if (c->url) {
        memset(c->url, 0, strlen(c->url)); /* may hold the secret */
        free(c->url);
    }
    free(c->payload);
    free(c->body);
    free(c->chosen);
    cv_effect_claimed_clear(&c->req);
    free(c);
}

void cv_call_answer(struct cv_call *c, CURLcode result, struct cv_answer *a)
{
    long status = 0;

    memset(a, 0, sizeof(*a));
    if (result != CURLE_OK) {
        a->transport_error = (int)result;
        a->transport_msg =
            c->errbuf[0] ? c->errbuf : curl_easy_strerror(result);
        return;
    }
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    a->status = status;
    a->retry_after = c->retry_after[0] ? c->retry_after : NULL;
    a->should_retry = c->should_retry[0] ? c->should_retry : NULL;
    a->body = c->body;
}

char *cv_call_response_json(const struct cv_call *c, long status)
{
    json_t *obj = json_object(), *headers = NULL, *body = NULL;
    char *out;

    json_object_set_new(obj, "status", json_integer(status));
    if (c->chosen)
        headers = json_loads(c->chosen, 0, NULL);
    json_object_set_new(obj, "headers", headers ? headers : json_object());
    if (c->body)
        body = json_loads(c->body, JSON_DECODE_ANY, NULL);
    if (!body && c->body)
        body = json_stringn(c->body, c->body_len);
    json_object_set_new(obj, "body", body ? body : json_null());
    if (c->body_truncated)
        json_object_set_new(obj, "truncated", json_true());
    out = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return out;
}
