/* The read side of the Stripe personality and its configuration:
 * GET /v1/transfers (created[gt|gte|lt|lte], destination, transfer_group,
 * limit, starting_after/ending_before; newest first), GET
 * /v1/transfers/{id}, GET /v1/balance, and the accounts and balance a test
 * sets (--accounts, --balance, /_double/stripe/config). */
#include "stripe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct list_req {
    int64_t limit;
    int64_t created[4]; /* gt, gte, lt, lte */
    int has[4];
    const char *destination, *group, *after, *before;
};

static int list_params(struct dbl_call *call, json_t *q, struct list_req *lr)
{
    static const char *const ops[] = {"created[gt]", "created[gte]",
                                      "created[lt]", "created[lte]"};
    static const char *const known[] = {
        "limit",       "starting_after", "ending_before",
        "destination", "transfer_group", "created",
        NULL};
    const char *k;
    json_t *v;

    json_object_foreach(q, k, v)
    {
        int ok = strncmp(k, "expand[", 7) == 0;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(k, known[i]) == 0;
        for (int i = 0; i < 4; i++)
            ok |= strcmp(k, ops[i]) == 0;
        if (!ok) {
            stripe_error(call, 400, "invalid_request_error",
                         "parameter_unknown", k,
                         "Received unknown parameter: %s", k);
            return DBL_ERR;
        }
    }
    memset(lr, 0, sizeof(*lr));
    lr->limit = 10;
    if (stripe_param(q, "limit") &&
        stripe_parse_int(stripe_param(q, "limit"), &lr->limit)) {
        stripe_error(call, 400, "invalid_request_error",
                     "parameter_invalid_integer", "limit",
                     "Invalid integer: %s", stripe_param(q, "limit"));
        return DBL_ERR;
    }
    if (lr->limit < 1 || lr->limit > 100) {
        stripe_error(call, 400, "invalid_request_error", NULL, "limit",
                     "This value must be %s.",
                     lr->limit < 1 ? "greater than or equal to 1"
                                   : "less than or equal to 100");
        return DBL_ERR;
    }
    for (int i = 0; i < 4; i++) {
        const char *s = stripe_param(q, ops[i]);
        if (s && stripe_parse_int(s, &lr->created[i]) != DBL_OK) {
            stripe_error(call, 400, "invalid_request_error",
                         "parameter_invalid_integer", ops[i],
                         "Invalid integer: %s", s);
            return DBL_ERR;
        }
        lr->has[i] = s != NULL;
    }
    if (stripe_param(q, "created")) {
        if (stripe_parse_int(stripe_param(q, "created"), &lr->created[1]) !=
            DBL_OK) {
            stripe_error(call, 400, "invalid_request_error",
                         "parameter_invalid_integer", "created",
                         "Invalid integer: %s", stripe_param(q, "created"));
            return DBL_ERR;
        }
        lr->created[3] = lr->created[1];
        lr->has[1] = lr->has[3] = 1;
    }
    lr->destination = stripe_param(q, "destination");
    lr->group = stripe_param(q, "transfer_group");
    lr->after = stripe_param(q, "starting_after");
    lr->before = stripe_param(q, "ending_before");
    if (lr->after && lr->before) {
        stripe_error(call, 400, "invalid_request_error", NULL, "ending_before",
                     "You may only specify one of these parameters: "
                     "ending_before, starting_after.");
        return DBL_ERR;
    }
    return DBL_OK;
}

static int list_match(const struct list_req *lr, const struct transfer *t)
{
    int64_t c = t->created;
    if ((lr->has[0] && !(c > lr->created[0])) ||
        (lr->has[1] && !(c >= lr->created[1])) ||
        (lr->has[2] && !(c < lr->created[2])) ||
        (lr->has[3] && !(c <= lr->created[3])))
        return 0;
    if (lr->destination && strcmp(lr->destination, t->destination) != 0)
        return 0;
    if (lr->group && (!t->group || strcmp(lr->group, t->group) != 0))
        return 0;
    return 1;
}

/* The page's transfers, newest first, into pick[]; returns how many. */
static size_t list_pick(const struct list_req *lr, size_t cur, size_t pick[101],
                        int *has_more)
{
    size_t found = 0;
    *has_more = 0;
    if (lr->before) {
        /* The `limit` transfers just newer than the cursor. */
        for (size_t i = cur; i < ST.n; i++) {
            if (!list_match(lr, &ST.transfers[i]))
                continue;
            if (found == (size_t)lr->limit) {
                *has_more = 1;
                break;
            }
            pick[found++] = i;
        }
        for (size_t i = 0; i < found / 2; i++) {
            size_t tmp = pick[i];
            pick[i] = pick[found - 1 - i];
            pick[found - 1 - i] = tmp;
        }
        return found;
    }
    for (size_t i = lr->after ? cur - 1 : ST.n; i-- > 0;) {
        if (!list_match(lr, &ST.transfers[i]))
            continue;
        if (found == (size_t)lr->limit) {
            *has_more = 1;
            break;
        }
        pick[found++] = i;
    }
    return found;
}

void stripe_list_transfers(struct dbl_call *call)
{
    static const char head[] = "{\"object\":\"list\",\"data\":[";
    json_t *q = dbl_query_json(call, NULL);
    struct list_req lr;
    const char *cursor;
    size_t cur = 0, pick[101], n, len;
    char *out, tail[64];
    int has_more;

    json_object_set(call->entry, "params", q);
    if (list_params(call, q, &lr) != DBL_OK)
        goto out;
    cursor = lr.after ? lr.after : lr.before;
    pthread_mutex_lock(&ST.lock);
    if (cursor && !(cur = (uintptr_t)dbl_map_get(ST.by_id, cursor))) {
        pthread_mutex_unlock(&ST.lock);
        stripe_error(call, 400, "invalid_request_error", "resource_missing",
                     lr.after ? "starting_after" : "ending_before",
                     "No such transfer: '%s'", cursor);
        goto out;
    }
    n = list_pick(&lr, cur, pick, &has_more);
    snprintf(tail, sizeof(tail), "],\"has_more\":%s,\"url\":\"/v1/transfers\"}",
             has_more ? "true" : "false");
    len = strlen(head) + strlen(tail) + n;
    for (size_t i = 0; i < n; i++)
        len += ST.transfers[pick[i]].len;
    out = malloc(len + 1);
    if (!out)
        abort();
    len = strlen(head);
    memcpy(out, head, len);
    for (size_t i = 0; i < n; i++) {
        const struct transfer *t = &ST.transfers[pick[i]];
        if (i)
            out[len++] = ',';
        memcpy(out + len, t->json, t->len);
        len += t->len;
    }
    pthread_mutex_unlock(&ST.lock);
    memcpy(out + len, tail, strlen(tail) + 1);
    dbl_reply_text(call, 200, "application/json", out, strlen(out));
    free(out);
out:
    json_decref(q);
}

void stripe_get_transfer(struct dbl_call *call, const char *id)
{
    size_t i;
    json_object_set_new(call->entry, "params", json_pack("{s:s}", "id", id));
    pthread_mutex_lock(&ST.lock);
    i = (uintptr_t)dbl_map_get(ST.by_id, id);
    if (i)
        dbl_reply_text(call, 200, "application/json", ST.transfers[i - 1].json,
                       ST.transfers[i - 1].len);
    pthread_mutex_unlock(&ST.lock);
    if (!i)
        stripe_error(call, 404, "invalid_request_error", "resource_missing",
                     "id", "No such transfer: '%s'", id);
}

void stripe_get_balance(struct dbl_call *call)
{
    json_t *avail = json_array(), *v;
    const char *cur;
    pthread_mutex_lock(&ST.lock);
    json_object_foreach(ST.balance, cur, v)
    {
        json_array_append_new(avail, json_pack("{s:O, s:s, s:{s:O}}", "amount",
                                               v, "currency", cur,
                                               "source_types", "card", v));
    }
    pthread_mutex_unlock(&ST.lock);
    dbl_reply_json(call, 200,
                   json_pack("{s:s, s:o, s:[], s:b, s:[]}", "object", "balance",
                             "available", avail, "connect_reserved", "livemode",
                             stripe_livemode(), "pending"));
}

/* ---- configuration: accounts and balance ---- */

int stripe_config_merge(json_t *cfg, char *errstr, size_t errstr_size)
{
    json_t *accounts = json_object_get(cfg, "accounts");
    json_t *balance = json_object_get(cfg, "balance");
    json_t *acc = json_object(), *bal = json_object(), *v;
    const char *k;

    if (!json_is_object(cfg) || (accounts && !json_is_object(accounts)) ||
        (balance && !json_is_object(balance)))
        goto bad;
    json_object_foreach(accounts, k, v)
    {
        json_t *t = json_object_get(v, "transfers");
        const char *ts = json_string_value(t);
        if (json_is_null(v)) {
            json_object_set_new(acc, k, json_null());
            continue;
        }
        if (!json_is_object(v) || !t)
            goto bad;
        if (json_is_boolean(t))
            ts = json_is_true(t) ? "active" : "inactive";
        if (!ts || (strcmp(ts, "active") != 0 && strcmp(ts, "inactive") != 0 &&
                    strcmp(ts, "pending") != 0))
            goto bad;
        json_object_set_new(
            acc, k,
            json_pack("{s:s}", "transfers",
                      strcmp(ts, "active") == 0 ? "active" : ts));
    }
    json_object_foreach(balance, k, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || strlen(k) != 3)
            goto bad;
    }
    pthread_mutex_lock(&ST.lock);
    json_object_foreach(acc, k, v)
    {
        if (json_is_null(v))
            json_object_del(ST.accounts, k);
        else
            json_object_set(ST.accounts, k, v);
    }
    json_object_update(ST.balance, balance ? balance : bal);
    pthread_mutex_unlock(&ST.lock);
    json_decref(acc);
    json_decref(bal);
    return DBL_OK;
bad:
    snprintf(errstr, errstr_size,
             "expected {\"accounts\": {\"acct_...\": {\"transfers\": "
             "\"active\"|\"inactive\"|\"pending\"|true|false} | null}, "
             "\"balance\": {\"usd\": AMOUNT}}");
    json_decref(acc);
    json_decref(bal);
    return DBL_ERR;
}

static json_t *config_json(void)
{
    json_t *cfg;
    pthread_mutex_lock(&ST.lock);
    cfg = json_pack("{s:o, s:o}", "accounts", json_deep_copy(ST.accounts),
                    "balance", json_deep_copy(ST.balance));
    pthread_mutex_unlock(&ST.lock);
    return cfg;
}

int stripe_control(struct dbl_call *call, const char *what, json_t *body)
{
    char errstr[256];
    if (strcmp(what, "config") != 0)
        return 0;
    if (strcmp(call->method, "POST") == 0) {
        if (stripe_config_merge(body, errstr, sizeof(errstr)) != DBL_OK) {
            dbl_reply_json(call, 400, json_pack("{s:s}", "error", errstr));
            return 1;
        }
        dbl_log("info", "accounts and balance updated");
    } else if (strcmp(call->method, "GET") != 0) {
        return 0;
    }
    dbl_reply_json(call, 200, config_json());
    return 1;
}

json_t *stripe_stats(void)
{
    json_t *st;
    pthread_mutex_lock(&ST.lock);
    st = json_pack("{s:I, s:I, s:o}", "transfers", (json_int_t)ST.n,
                   "idempotency_keys", (json_int_t)dbl_map_size(ST.keys),
                   "balance", json_deep_copy(ST.balance));
    pthread_mutex_unlock(&ST.lock);
    return st;
}
