/* The MillionVerifier personality: the single-address API,
 * GET /api/v3/?api=KEY&email=ADDRESS&timeout=S, answered the way the real
 * one answers, errors included: always HTTP 200 (unless a fault is
 * injected), with "result": "error" and an "error" text for a wrong key,
 * exhausted credits, a missing address or a timeout out of range.
 *
 * The verdict for an address is deterministic: the rules a test set
 * (POST /_double/millionverifier/rules) first, then the defaults (local
 * part invalid* or unknown*, the domain catchall.example, well-known
 * disposable domains, else ok). Each verdict that is not an error costs a
 * credit. The bulk-file API and the credits endpoint are left out. */
#include "double.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct {
    pthread_mutex_t lock;
    int64_t credits;
    int64_t verified;
    json_t *rules; /* the test's rules, tried in order before the defaults */
} MV = {.lock = PTHREAD_MUTEX_INITIALIZER, .credits = 1000000};

static const char *const disposable_domains[] = {
    "mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com",
    "trashmail.com",  "tempmail.com",      "sharklasers.com",  NULL};
static const char *const free_domains[] = {
    "gmail.com",  "yahoo.com", "hotmail.com", "outlook.com", "aol.com",
    "icloud.com", "gmx.de",    "proton.me",   NULL};
static const char *const role_locals[] = {
    "admin",   "info",    "support",  "sales",      "contact",   "office",
    "billing", "noreply", "no-reply", "postmaster", "webmaster", NULL};
/* Common misspellings and what the API suggests instead. */
static const char *const typos[][2] = {{"gmial.com", "gmail.com"},
                                       {"gmai.com", "gmail.com"},
                                       {"gnail.com", "gmail.com"},
                                       {"hotmial.com", "hotmail.com"},
                                       {"yaho.com", "yahoo.com"},
                                       {"outlok.com", "outlook.com"},
                                       {NULL, NULL}};

static const char *const results[] = {
    "ok", "catch_all", "unknown", "error", "disposable", "invalid", NULL};

static int in_list(const char *const *list, const char *s)
{
    for (int i = 0; list[i]; i++)
        if (strcasecmp(list[i], s) == 0)
            return 1;
    return 0;
}

static int result_code(const char *result)
{
    for (int i = 0; results[i]; i++)
        if (strcmp(results[i], result) == 0)
            return i + 1;
    return 0;
}

static const char *quality_of(const char *result)
{
    if (strcmp(result, "ok") == 0)
        return "good";
    if (strcmp(result, "catch_all") == 0 || strcmp(result, "unknown") == 0)
        return "risky";
    return "bad";
}

struct verdict {
    const char *result, *subresult, *quality, *error;
    int free, role;
    char didyoumean[320];
};

/* Whether one of the test's rules applies to local@domain. */
static int rule_matches(json_t *rule, const char *email, const char *local,
                        const char *domain)
{
    const char *e = json_string_value(json_object_get(rule, "email"));
    const char *d = json_string_value(json_object_get(rule, "domain"));
    const char *p = json_string_value(json_object_get(rule, "local_prefix"));
    if (e && strcasecmp(e, email) != 0)
        return 0;
    if (d && strcasecmp(d, domain) != 0)
        return 0;
    if (p && strncasecmp(p, local, strlen(p)) != 0)
        return 0;
    return e || d || p;
}

/* The verdict for an address; strings point into static tables or into
 * MV.rules, which the caller holds locked until the answer is built. */
static void judge(const char *email, struct verdict *v)
{
    char local[256] = "", domain[256] = "";
    const char *at = strrchr(email, '@');
    json_t *rule;
    size_t i;

    memset(v, 0, sizeof(*v));
    if (at && at != email && at[1] && (size_t)(at - email) < sizeof(local)) {
        memcpy(local, email, (size_t)(at - email));
        snprintf(domain, sizeof(domain), "%s", at + 1);
    }
    v->free = *domain && in_list(free_domains, domain);
    v->role = *local && in_list(role_locals, local);
    for (i = 0; *domain && typos[i][0]; i++)
        if (strcasecmp(domain, typos[i][0]) == 0)
            snprintf(v->didyoumean, sizeof(v->didyoumean), "%s@%s", local,
                     typos[i][1]);
    json_array_foreach(MV.rules, i, rule)
    {
        if (!rule_matches(rule, email, local, domain))
            continue;
        v->result = json_string_value(json_object_get(rule, "result"));
        v->subresult = json_string_value(json_object_get(rule, "subresult"));
        v->quality = json_string_value(json_object_get(rule, "quality"));
        v->error = json_string_value(json_object_get(rule, "error"));
        break;
    }
    if (v->result) {
        /* set by a rule */
    } else if (!*local || !*domain || !strchr(domain, '.') ||
               strchr(local, ' ') || strchr(domain, ' ')) {
        v->result = "invalid";
        v->subresult = "invalid_syntax";
    } else if (strncasecmp(local, "invalid", 7) == 0) {
        v->result = "invalid";
        v->subresult = "mailbox_not_found";
    } else if (strncasecmp(local, "unknown", 7) == 0) {
        v->result = "unknown";
    } else if (strcasecmp(domain, "catchall.example") == 0) {
        v->result = "catch_all";
    } else if (in_list(disposable_domains, domain)) {
        v->result = "disposable";
    } else {
        v->result = "ok";
    }
    if (!v->subresult)
        v->subresult = strcmp(v->result, "error") == 0 ? "" : v->result;
    if (!v->quality)
        v->quality =
            strcmp(v->result, "error") == 0 ? "" : quality_of(v->result);
}

static json_t *answer(const char *email, const struct verdict *v,
                      int64_t credits, int64_t secs, const char *error)
{
    const char *result = error ? "error" : v->result;
    json_t *a;
    a = json_pack(
        "{s:s, s:s, s:s, s:i, s:s, s:b, s:b, s:s, s:I, s:I, s:s, s:b}", "email",
        email, "quality", error ? "" : v->quality, "result", result,
        "resultcode", result_code(result), "subresult",
        error ? "" : v->subresult, "free", !error && v->free, "role",
        !error && v->role, "didyoumean", error ? "" : v->didyoumean, "credits",
        (json_int_t)credits, "executiontime", (json_int_t)secs, "error",
        error ? error : "", "livemode", 1);
    /* An error answer carries no quality at all. */
    if (error)
        json_object_del(a, "quality");
    return a;
}

static void handle(struct dbl_call *call)
{
    const char *api = dbl_query(call, "api");
    const char *email = dbl_query(call, "email");
    const char *timeout = dbl_query(call, "timeout");
    const char *error = NULL;
    int key_ok = api && strcmp(api, dbl_key()) == 0;
    struct verdict v;
    json_t *body;
    int64_t credits;

    /* The key is a query parameter here: keep it out of the ledger. */
    json_object_set_new(call->entry, "params", dbl_query_json(call, "api"));
    json_object_set_new(call->entry, "key_ok", json_boolean(key_ok));
    if (strcmp(call->method, "GET") != 0 ||
        (strcmp(call->path, "/api/v3/") != 0 &&
         strcmp(call->path, "/api/v3") != 0)) {
        dbl_reply_text(call, 404, "text/html", "<h1>404 Not Found</h1>", 22);
        return;
    }
    if (!email)
        email = "";
    dbl_call_delay(call);
    pthread_mutex_lock(&MV.lock);
    judge(email, &v);
    if (!key_ok)
        error = "Apikey not found";
    else if (!*email)
        error = "Missing email";
    else if (timeout && (atoi(timeout) < 2 || atoi(timeout) > 60))
        error = "Unsupported timeout value";
    else if (MV.credits <= 0)
        error = "Insufficient credits";
    else if (strcmp(v.result, "error") == 0)
        error = v.error ? v.error : "Internal error";
    if (!error) {
        MV.credits--;
        MV.verified++;
    }
    credits = key_ok ? MV.credits : 0;
    body = answer(email, &v, credits, (dbl_now_ms() - call->start_ms) / 1000,
                  error);
    pthread_mutex_unlock(&MV.lock);
    json_object_set_new(call->entry, "object",
                        json_pack("{s:s, s:s, s:I}", "email", email, "result",
                                  error ? "error" : v.result, "credits",
                                  (json_int_t)credits));
    if (error)
        json_object_set_new(call->entry, "error", json_string(error));
    dbl_reply_json(call, 200, body);
}

static void fault_reply(struct dbl_call *call, int status, int retry_after)
{
    json_object_set_new(call->entry, "params", dbl_query_json(call, "api"));
    dbl_reply_json(
        call, status,
        json_pack("{s:s}", "error",
                  status == 429 ? "Too many requests" : "Service unavailable"));
    if (retry_after > 0)
        dbl_reply_header(call, "Retry-After", "%d", retry_after);
}

static int check_rule(json_t *rule)
{
    const char *result = json_string_value(json_object_get(rule, "result"));
    int keys = !!json_object_get(rule, "email") +
               !!json_object_get(rule, "domain") +
               !!json_object_get(rule, "local_prefix");
    const char *k;
    json_t *val;
    if (!json_is_object(rule) || !result || !result_code(result) || !keys)
        return DBL_ERR;
    json_object_foreach(rule, k, val)
    {
        if (!json_is_string(val))
            return DBL_ERR;
    }
    return DBL_OK;
}

static int control(struct dbl_call *call, const char *what, json_t *body)
{
    int post = strcmp(call->method, "POST") == 0;
    if (strcmp(what, "rules") == 0) {
        json_t *list = json_is_array(body) ? body : NULL, *rule;
        size_t i;
        if (post) {
            if (!list && json_is_object(body))
                list = json_object_get(body, "rules");
            json_array_foreach(list, i, rule)
            {
                if (check_rule(rule) != DBL_OK)
                    list = NULL;
            }
            if (!list) {
                dbl_reply_json(
                    call, 400,
                    json_pack("{s:s}", "error",
                              "expected [{\"email\"|\"domain\"|"
                              "\"local_prefix\": ..., \"result\": "
                              "\"ok|catch_all|unknown|error|disposable|"
                              "invalid\", \"subresult\"?, \"quality\"?, "
                              "\"error\"?}]"));
                return 1;
            }
        }
        pthread_mutex_lock(&MV.lock);
        if (post) {
            /* Newer rules win: they go in front. */
            json_t *merged = json_deep_copy(list);
            json_array_extend(merged, MV.rules);
            json_decref(MV.rules);
            MV.rules = merged;
        } else if (strcmp(call->method, "DELETE") == 0) {
            json_array_clear(MV.rules);
        }
        dbl_reply_json(call, 200,
                       json_pack("{s:o}", "rules", json_deep_copy(MV.rules)));
        pthread_mutex_unlock(&MV.lock);
        return 1;
    }
    if (strcmp(what, "credits") == 0) {
        json_t *c = json_object_get(body, "credits");
        if (post && (!json_is_integer(c) || json_integer_value(c) < 0)) {
            dbl_reply_json(
                call, 400,
                json_pack("{s:s}", "error", "expected {\"credits\": N}"));
            return 1;
        }
        pthread_mutex_lock(&MV.lock);
        if (post)
            MV.credits = json_integer_value(c);
        dbl_reply_json(call, 200,
                       json_pack("{s:I}", "credits", (json_int_t)MV.credits));
        pthread_mutex_unlock(&MV.lock);
        return 1;
    }
    return 0;
}

static json_t *stats(void)
{
    json_t *st;
    pthread_mutex_lock(&MV.lock);
    st = json_pack("{s:I, s:I}", "credits", (json_int_t)MV.credits, "verified",
                   (json_int_t)MV.verified);
    pthread_mutex_unlock(&MV.lock);
    return st;
}

static int option(const char *name, const char *value, char *errstr,
                  size_t errstr_size)
{
    if (strcmp(name, "credits") == 0) {
        char *end;
        long long c = strtoll(value, &end, 10);
        if (*end || c < 0) {
            snprintf(errstr, errstr_size, "expected a non-negative integer");
            return DBL_ERR;
        }
        MV.credits = c;
        return 1;
    }
    return 0;
}

static int start(char *errstr, size_t errstr_size)
{
    MV.rules = json_array();
    if (!dbl_key()) {
        snprintf(errstr, errstr_size,
                 "no API key: pass --key or set MILLIONVERIFIER_API_KEY");
        return DBL_ERR;
    }
    return DBL_OK;
}

static void destroy(void)
{
    json_decref(MV.rules);
}

const struct dbl_personality dbl_millionverifier = {
    .name = "millionverifier",
    .key_env = "MILLIONVERIFIER_API_KEY",
    .usage = "  --credits N         credits at start (1000000)\n",
    .option = option,
    .start = start,
    .handle = handle,
    .control = control,
    .fault_reply = fault_reply,
    .stats = stats,
    .destroy = destroy,
};
