/* The Stripe personality: Connect transfers (POST/GET /v1/transfers,
 * GET /v1/transfers/{id}) and the platform balance (GET /v1/balance), with
 * Stripe's authentication, error objects, Request-Id and
 * Stripe-Should-Retry headers and, above all, its idempotency layer:
 *
 *  - the first answer under an Idempotency-Key is saved once the endpoint
 *    began executing (a business error such as balance_insufficient
 *    included) and replayed, status and body, with Idempotent-Replayed;
 *  - nothing is saved for a request that failed authentication or
 *    parameter validation, that conflicted with one in flight (409), or
 *    that an injected fault (429, 5xx) answered before execution;
 *  - the same key with other parameters or another endpoint is a 400
 *    idempotency_error; keys expire 24 hours (of the double's clock) after
 *    their first use.
 *
 * Destination accounts and the balance are configuration (--accounts,
 * --balance, POST /_double/stripe/config). Reversals, updates, other
 * resources, API versions and expansions are left out. */
#include "stripe.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY_TTL_MS   (24LL * 3600 * 1000)
#define MAX_KEY_LEN  255
#define ENDPOINT_LEN 48

struct idem {
    int in_flight;
    char endpoint[ENDPOINT_LEN];
    char *params; /* canonical: sorted keys, compact */
    int64_t created_ms;
    int status;
    size_t transfer; /* the answer is this transfer (index + 1), or */
    char *body;      /* this body */
    size_t body_len;
    char request_id[32];
};

struct stripe_state ST = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- errors and headers ---- */

void stripe_error(struct dbl_call *call, int status, const char *type,
                  const char *code, const char *param, const char *fmt, ...)
{
    char msg[512];
    json_t *err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err = json_pack("{s:s, s:s}", "message", msg, "type", type);
    if (code) {
        char url[128];
        int n = snprintf(url, sizeof(url),
                         "https://stripe.com/docs/error-codes/%s", code);
        for (int i = n - (int)strlen(code); i < n; i++)
            if (url[i] == '_')
                url[i] = '-';
        json_object_set_new(err, "code", json_string(code));
        json_object_set_new(err, "doc_url", json_string(url));
    }
    if (param)
        json_object_set_new(err, "param", json_string(param));
    json_object_set_new(call->entry, "error", json_string(code ? code : type));
    dbl_reply_json(call, status, json_pack("{s:o}", "error", err));
}

/* Stripe-Should-Retry as Stripe sends it: true where a retry can succeed
 * (a conflict in flight, the rate limit, its own failures), false on the
 * other 4xx, absent on success. */
static void should_retry(struct dbl_call *call, int status)
{
    if (status == 409 || status == 429 || status >= 500)
        dbl_reply_header(call, "Stripe-Should-Retry", "true");
    else if (status >= 400)
        dbl_reply_header(call, "Stripe-Should-Retry", "false");
}

/* ---- authentication ---- */

static int b64_value(char c)
{
    const char *a =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(a, c) : NULL;
    return p ? (int)(p - a) : -1;
}

static void b64_decode(const char *in, char *out, size_t out_size)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0, v;
    for (; *in && (v = b64_value(*in)) >= 0; in++) {
        /* Only the last 24 bits matter: at most 14 are pending. */
        acc = ((acc << 6) | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 < out_size)
                out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
}

/* The key as Stripe shows it in errors: its prefix and last four. */
static void mask_key(const char *key, char *out, size_t out_size)
{
    size_t len = strlen(key), o = 0;
    size_t keep =
        strncmp(key, "sk_", 3) == 0 || strncmp(key, "rk_", 3) == 0 ? 8 : 0;
    for (size_t i = 0; i < len && o + 1 < out_size; i++)
        out[o++] = i < keep || (len > 12 && i >= len - 4) ? key[i] : '*';
    out[o] = '\0';
}

static int authenticate(struct dbl_call *call)
{
    const char *h = dbl_header(call, "Authorization");
    char given[512] = "", masked[512];

    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        snprintf(given, sizeof(given), "%s", h + 7);
    } else if (h && strncasecmp(h, "Basic ", 6) == 0) {
        char *colon;
        b64_decode(h + 6, given, sizeof(given));
        colon = strchr(given, ':');
        if (colon)
            *colon = '\0';
    }
    json_object_set_new(call->entry, "key_ok",
                        json_boolean(*given && strcmp(given, dbl_key()) == 0));
    if (!*given) {
        stripe_error(call, 401, "invalid_request_error", NULL, NULL,
                     "You did not provide an API key. You need to provide "
                     "your API key in the Authorization header, using Bearer "
                     "auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
                     "See https://stripe.com/docs/api#authentication for "
                     "details, or we can help at https://support.stripe.com/"
                     ".");
    } else if (strcmp(given, dbl_key()) != 0) {
        mask_key(given, masked, sizeof(masked));
        stripe_error(call, 401, "invalid_request_error", NULL, NULL,
                     "Invalid API Key provided: %s", masked);
    } else {
        return 1;
    }
    dbl_reply_header(call, "WWW-Authenticate", "Basic realm=\"Stripe\"");
    return 0;
}

int stripe_livemode(void)
{
    return strncmp(dbl_key(), "sk_live_", 8) == 0;
}

/* ---- parameters ---- */

int stripe_parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (!s || !*s)
        return DBL_ERR;
    v = strtoll(s, &end, 10);
    if (*end)
        return DBL_ERR;
    *out = v;
    return DBL_OK;
}

/* The form body as {"name": "value", "metadata": {...}}; values stay the
 * strings sent, so that a replay compares what the client sent. Returns
 * the unknown parameter's name in *unknown (owned by the caller). */
static json_t *parse_form(const char *body, char **unknown)
{
    json_t *params = json_object(), *meta = json_object();
    char *copy = strdup(body), *save = NULL, *pair;
    static const char *const known[] = {
        "amount",         "currency",           "destination", "description",
        "transfer_group", "source_transaction", "source_type", NULL};

    *unknown = NULL;
    for (pair = strtok_r(copy, "&", &save); pair;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '='), *value = (char *)"";
        int ok = 0;
        if (eq) {
            *eq = '\0';
            value = eq + 1;
            dbl_form_unescape(value);
        }
        dbl_form_unescape(pair);
        if (!*pair)
            continue;
        for (int i = 0; known[i]; i++)
            if (strcmp(pair, known[i]) == 0)
                ok = 1;
        if (ok) {
            json_object_set_new(params, pair, json_string(value));
        } else if (strncmp(pair, "metadata[", 9) == 0 &&
                   pair[strlen(pair) - 1] == ']' && strlen(pair) > 10) {
            pair[strlen(pair) - 1] = '\0';
            json_object_set_new(meta, pair + 9, json_string(value));
        } else if (strncmp(pair, "expand[", 7) == 0) {
            /* Expansion changes nothing on a transfer's own fields. */
        } else if (!*unknown) {
            *unknown = strdup(pair);
        }
    }
    if (json_object_size(meta))
        json_object_set(params, "metadata", meta);
    json_decref(meta);
    free(copy);
    return params;
}

struct transfer_req {
    int64_t amount;
    char currency[8];
    const char *destination, *description, *group, *source_tx;
};

const char *stripe_param(json_t *params, const char *name)
{
    const char *v = json_string_value(json_object_get(params, name));
    return v && *v ? v : NULL;
}

/* Stripe's parameter validation; answers and returns DBL_ERR on failure. */
static int validate(struct dbl_call *call, json_t *params,
                    struct transfer_req *req)
{
    const char *amount = stripe_param(params, "amount");
    const char *cur = stripe_param(params, "currency");
    json_t *meta = json_object_get(params, "metadata");
    const char *mk;
    json_t *mv;

    if (!amount) {
        stripe_error(call, 400, "invalid_request_error", "parameter_missing",
                     "amount", "Missing required param: amount.");
        return DBL_ERR;
    }
    if (stripe_parse_int(amount, &req->amount) != DBL_OK) {
        stripe_error(call, 400, "invalid_request_error",
                     "parameter_invalid_integer", "amount",
                     "Invalid integer: %s", amount);
        return DBL_ERR;
    }
    if (req->amount < 1 || req->amount > 99999999999LL) {
        stripe_error(call, 400, "invalid_request_error",
                     "parameter_invalid_integer", "amount",
                     "This value must be greater than or equal to 1.");
        return DBL_ERR;
    }
    if (!cur) {
        stripe_error(call, 400, "invalid_request_error", "parameter_missing",
                     "currency", "Missing required param: currency.");
        return DBL_ERR;
    }
    if (strlen(cur) != 3 || strspn(cur, "abcdefghijklmnopqrstuvwxyz"
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3) {
        stripe_error(call, 400, "invalid_request_error", NULL, "currency",
                     "Invalid currency: %s. Stripe currently supports these "
                     "currencies: usd, eur, gbp, and others.",
                     cur);
        return DBL_ERR;
    }
    for (int i = 0; i < 3; i++)
        req->currency[i] = (char)(cur[i] | 0x20);
    req->currency[3] = '\0';
    req->destination = stripe_param(params, "destination");
    if (!req->destination) {
        stripe_error(call, 400, "invalid_request_error", "parameter_missing",
                     "destination", "Missing required param: destination.");
        return DBL_ERR;
    }
    if (json_object_size(meta) > 50) {
        stripe_error(call, 400, "invalid_request_error", NULL, "metadata",
                     "You can only specify up to 50 metadata keys.");
        return DBL_ERR;
    }
    json_object_foreach(meta, mk, mv)
    {
        if (strlen(mk) > 40 || strlen(json_string_value(mv)) > 500) {
            stripe_error(call, 400, "invalid_request_error", NULL, "metadata",
                         "Metadata keys can be up to 40 characters long and "
                         "values up to 500 characters long.");
            return DBL_ERR;
        }
    }
    req->description = stripe_param(params, "description");
    req->group = stripe_param(params, "transfer_group");
    req->source_tx = stripe_param(params, "source_transaction");
    return DBL_OK;
}

/* ---- the transfer itself (under ST.lock) ---- */

static int account_can_receive(const char *id, int *known)
{
    json_t *a = json_object_get(ST.accounts, id);
    if (!a)
        a = json_object_get(ST.accounts, "*");
    *known = a != NULL;
    return a && strcmp(json_string_value(json_object_get(a, "transfers")),
                       "active") == 0;
}

/* Executes a validated request: a business error or a new transfer. */
static void execute(struct dbl_call *call, json_t *params,
                    const struct transfer_req *req)
{
    int known;
    json_int_t avail =
        json_integer_value(json_object_get(ST.balance, req->currency));
    char id[32], txn[32], py[32], url[64];
    json_t *meta = json_object_get(params, "metadata"), *tr;
    struct transfer *t;

    if (!account_can_receive(req->destination, &known)) {
        if (!known)
            stripe_error(call, 400, "invalid_request_error", "resource_missing",
                         "destination", "No such destination: '%s'",
                         req->destination);
        else
            stripe_error(call, 400, "invalid_request_error",
                         "insufficient_capabilities_for_transfer",
                         "destination",
                         "Your destination account needs to have at least "
                         "one of the following capabilities enabled: "
                         "transfers, crypto_transfers, legacy_payments");
        return;
    }
    if (req->amount > avail) {
        stripe_error(call, 400, "invalid_request_error", "balance_insufficient",
                     NULL,
                     "You have insufficient funds in your Stripe account for "
                     "this transfer. Your %s balance is too low. You can use "
                     "the /v1/balance endpoint to view your Stripe balance "
                     "(for more details, see stripe.com/docs/api#balance).",
                     req->currency);
        return;
    }
    dbl_make_id(id, sizeof(id), "tr_", 24);
    dbl_make_id(txn, sizeof(txn), "txn_", 24);
    dbl_make_id(py, sizeof(py), "py_", 24);
    snprintf(url, sizeof(url), "/v1/transfers/%s/reversals", id);
    tr = json_pack(
        "{s:s, s:s, s:I, s:i, s:s, s:I, s:s, s:s?, s:s, s:s, s:b, s:o, "
        "s:{s:s, s:[], s:b, s:i, s:s}, s:b, s:s?, s:s, s:s?}",
        "id", id, "object", "transfer", "amount", (json_int_t)req->amount,
        "amount_reversed", 0, "balance_transaction", txn, "created",
        (json_int_t)(dbl_clock_ms() / 1000), "currency", req->currency,
        "description", req->description, "destination", req->destination,
        "destination_payment", py, "livemode", stripe_livemode(), "metadata",
        meta ? json_deep_copy(meta) : json_object(), "reversals", "object",
        "list", "data", "has_more", 0, "total_count", 0, "url", url, "reversed",
        0, "source_transaction", req->source_tx, "source_type", "card",
        "transfer_group", req->group);
    if (!tr)
        abort();
    json_object_set_new(ST.balance, req->currency,
                        json_integer(avail - req->amount));
    if (ST.n == ST.cap) {
        ST.cap = ST.cap ? ST.cap * 2 : 256;
        ST.transfers = realloc(ST.transfers, ST.cap * sizeof(*ST.transfers));
        if (!ST.transfers)
            abort();
    }
    t = &ST.transfers[ST.n++];
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->created = json_integer_value(json_object_get(tr, "created"));
    t->destination = strdup(req->destination);
    t->group = req->group ? strdup(req->group) : NULL;
    t->json = json_dumps(tr, JSON_COMPACT);
    if (!t->json)
        abort();
    t->len = strlen(t->json);
    json_decref(tr);
    dbl_map_put(ST.by_id, id, (void *)(uintptr_t)ST.n);
    json_object_set_new(call->entry, "object",
                        json_pack("{s:s, s:I, s:s, s:s}", "id", id, "amount",
                                  (json_int_t)req->amount, "currency",
                                  req->currency, "destination",
                                  req->destination));
    dbl_reply_text(call, 200, "application/json", t->json, t->len);
}

/* ---- idempotency ---- */

static void idem_free(void *p)
{
    struct idem *e = p;
    if (!e)
        return;
    free(e->params);
    free(e->body);
    free(e);
}

/* Looks the key up and either answers (replay, conflict, mismatch) and
 * returns NULL, or claims it for this request and returns its entry. */
static struct idem *idem_claim(struct dbl_call *call, const char *key,
                               const char *endpoint, json_t *params,
                               const char *request_id)
{
    char *canon = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    struct idem *e;
    int64_t now = dbl_clock_ms();

    pthread_mutex_lock(&ST.lock);
    e = dbl_map_get(ST.keys, key);
    if (e && !e->in_flight && now - e->created_ms >= KEY_TTL_MS) {
        idem_free(dbl_map_del(ST.keys, key));
        e = NULL;
    }
    if (e && e->in_flight) {
        pthread_mutex_unlock(&ST.lock);
        free(canon);
        stripe_error(call, 409, "idempotency_error", "idempotency_key_in_use",
                     NULL,
                     "There is currently another in-progress request using "
                     "this Stripe Idempotency Key. Please try again later.");
        return NULL;
    }
    if (e &&
        (strcmp(e->endpoint, endpoint) != 0 || strcmp(e->params, canon) != 0)) {
        pthread_mutex_unlock(&ST.lock);
        free(canon);
        stripe_error(call, 400, "idempotency_error", NULL, NULL,
                     "Keys for idempotent requests can only be used with the "
                     "same parameters they were first used with. Try using a "
                     "key other than '%s' if you meant to execute a "
                     "different request.",
                     key);
        return NULL;
    }
    if (e) {
        const struct transfer *t =
            e->transfer ? &ST.transfers[e->transfer - 1] : NULL;
        dbl_reply_text(call, e->status, "application/json",
                       t ? t->json : e->body, t ? t->len : e->body_len);
        free(canon);
        dbl_reply_header(call, "Idempotent-Replayed", "true");
        dbl_reply_header(call, "Original-Request", "%s", e->request_id);
        pthread_mutex_unlock(&ST.lock);
        json_object_set_new(call->entry, "replayed", json_true());
        return NULL;
    }
    e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    e->in_flight = 1;
    snprintf(e->endpoint, sizeof(e->endpoint), "%s", endpoint);
    e->params = canon;
    e->created_ms = now;
    snprintf(e->request_id, sizeof(e->request_id), "%s", request_id);
    dbl_map_put(ST.keys, key, e);
    pthread_mutex_unlock(&ST.lock);
    return e;
}

/* ---- endpoints ---- */

static void create_transfer(struct dbl_call *call, const char *request_id)
{
    const char *key = dbl_header(call, "Idempotency-Key");
    char *unknown = NULL;
    json_t *params = parse_form(call->body, &unknown);
    struct transfer_req req;
    struct idem *e = NULL;

    json_object_set(call->entry, "params", params);
    if (key && strlen(key) > MAX_KEY_LEN) {
        stripe_error(call, 400, "invalid_request_error", NULL, NULL,
                     "Idempotency-Key must be at most %d characters long.",
                     MAX_KEY_LEN);
        goto out;
    }
    if (key) {
        e = idem_claim(call, key, "POST /v1/transfers", params, request_id);
        if (!e)
            goto out;
    }
    if (unknown) {
        stripe_error(call, 400, "invalid_request_error", "parameter_unknown",
                     unknown, "Received unknown parameter: %s", unknown);
    } else if (validate(call, params, &req) == DBL_OK) {
        /* Execution begins: from here the answer is the key's. */
        dbl_call_delay(call);
        pthread_mutex_lock(&ST.lock);
        execute(call, params, &req);
        if (e) {
            e->status = call->status;
            if (call->status == 200) {
                e->transfer = ST.n;
            } else {
                e->body = malloc(call->resp_len + 1);
                if (!e->body)
                    abort();
                memcpy(e->body, call->resp, call->resp_len);
                e->body_len = call->resp_len;
            }
            e->in_flight = 0;
            e = NULL;
        }
        pthread_mutex_unlock(&ST.lock);
    }
    if (e) {
        /* Validation failed: nothing is saved under the key. */
        pthread_mutex_lock(&ST.lock);
        idem_free(dbl_map_del(ST.keys, key));
        pthread_mutex_unlock(&ST.lock);
    }
    if (key)
        dbl_reply_header(call, "Idempotency-Key", "%s", key);
out:
    free(unknown);
    json_decref(params);
}

static void handle(struct dbl_call *call)
{
    char request_id[32];
    const char *p = call->path;
    int get = strcmp(call->method, "GET") == 0;

    dbl_make_id(request_id, sizeof(request_id), "req_", 14);
    dbl_reply_header(call, "Request-Id", "%s", request_id);
    if (dbl_header(call, "Idempotency-Key"))
        json_object_set_new(call->entry, "idempotency_key",
                            json_string(dbl_header(call, "Idempotency-Key")));
    if (!authenticate(call))
        ;
    else if (strcmp(call->method, "POST") == 0 &&
             strcmp(p, "/v1/transfers") == 0)
        create_transfer(call, request_id);
    else if (get && strcmp(p, "/v1/transfers") == 0)
        stripe_list_transfers(call);
    else if (get && strncmp(p, "/v1/transfers/", 14) == 0 && p[14] &&
             !strchr(p + 14, '/'))
        stripe_get_transfer(call, p + 14);
    else if (get && strcmp(p, "/v1/balance") == 0)
        stripe_get_balance(call);
    else
        stripe_error(call, 404, "invalid_request_error", NULL, NULL,
                     "Unrecognized request URL (%s: %s). Please see "
                     "https://stripe.com/docs or we can help at "
                     "https://support.stripe.com/.",
                     call->method, p);
    should_retry(call, call->status);
}

static void fault_reply(struct dbl_call *call, int status, int retry_after)
{
    char request_id[32];
    dbl_make_id(request_id, sizeof(request_id), "req_", 14);
    dbl_reply_header(call, "Request-Id", "%s", request_id);
    if (status == 429)
        stripe_error(call, 429, "invalid_request_error", "rate_limit", NULL,
                     "Request rate limit exceeded. Learn more about rate "
                     "limits here https://stripe.com/docs/rate-limits.");
    else if (status >= 500)
        stripe_error(call, status, "api_error", NULL, NULL,
                     "An unknown error occurred");
    else
        stripe_error(call, status, "invalid_request_error", NULL, NULL,
                     "The request failed (an injected fault).");
    if (retry_after > 0)
        dbl_reply_header(call, "Retry-After", "%d", retry_after);
    should_retry(call, status);
}

static int option(const char *name, const char *value, char *errstr,
                  size_t errstr_size)
{
    if (strcmp(name, "accounts") == 0) {
        ST.accounts_file = value;
        return 1;
    }
    if (strcmp(name, "balance") == 0) {
        /* usd=100000,eur=5000 */
        char *copy = strdup(value), *save = NULL, *item;
        json_decref(ST.balance_opt);
        ST.balance_opt = json_object();
        for (item = strtok_r(copy, ",", &save); item;
             item = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(item, '=');
            int64_t amount;
            if (!eq || eq - item != 3 || stripe_parse_int(eq + 1, &amount) ||
                amount < 0) {
                snprintf(errstr, errstr_size,
                         "expected CUR=AMOUNT[,CUR=AMOUNT...], e.g. "
                         "usd=100000");
                free(copy);
                return DBL_ERR;
            }
            *eq = '\0';
            json_object_set_new(ST.balance_opt, item, json_integer(amount));
        }
        free(copy);
        return 1;
    }
    return 0;
}

static int start(char *errstr, size_t errstr_size)
{
    ST.by_id = dbl_map_new();
    ST.keys = dbl_map_new();
    ST.accounts = json_object();
    /* Plenty to pay out unless a test says otherwise. */
    ST.balance =
        json_pack("{s:I, s:I, s:I}", "usd", (json_int_t)1000000000000, "eur",
                  (json_int_t)1000000000000, "gbp", (json_int_t)1000000000000);
    if (!dbl_key()) {
        snprintf(errstr, errstr_size,
                 "no API key: pass --key or set STRIPE_SECRET_KEY");
        return DBL_ERR;
    }
    if (ST.accounts_file) {
        json_error_t jerr;
        json_t *cfg = json_load_file(ST.accounts_file, 0, &jerr);
        char why[256];
        if (!cfg) {
            snprintf(errstr, errstr_size, "--accounts %s:%d: %s",
                     ST.accounts_file, jerr.line, jerr.text);
            return DBL_ERR;
        }
        if (stripe_config_merge(cfg, why, sizeof(why)) != DBL_OK) {
            snprintf(errstr, errstr_size, "--accounts %s: %s", ST.accounts_file,
                     why);
            json_decref(cfg);
            return DBL_ERR;
        }
        json_decref(cfg);
    }
    if (ST.balance_opt) {
        json_t *cfg = json_pack("{s:O}", "balance", ST.balance_opt);
        stripe_config_merge(cfg, errstr, errstr_size);
        json_decref(cfg);
    }
    return DBL_OK;
}

static void destroy(void)
{
    for (size_t i = 0; i < ST.n; i++) {
        free(ST.transfers[i].destination);
        free(ST.transfers[i].group);
        free(ST.transfers[i].json);
    }
    free(ST.transfers);
    dbl_map_destroy(ST.by_id, NULL);
    dbl_map_destroy(ST.keys, idem_free);
    json_decref(ST.accounts);
    json_decref(ST.balance);
    json_decref(ST.balance_opt);
}

const struct dbl_personality dbl_stripe = {
    .name = "stripe",
    .key_env = "STRIPE_SECRET_KEY",
    .usage =
        "  --accounts FILE     {\"accounts\": {\"acct_x\": {\"transfers\": "
        "\"active\"}}, \"balance\": {\"usd\": N}}\n"
        "  --balance CUR=N,... available balance per currency\n",
    .option = option,
    .start = start,
    .handle = handle,
    .control = stripe_control,
    .fault_reply = fault_reply,
    .stats = stripe_stats,
    .destroy = destroy,
};
