/* Fault injection: the rules a test sets (at start with --fault, at run
 * time with POST /_double/faults) and the decision, per request, of which
 * of them fire. A rule names a kind (status, delay, close, stall,
 * throttle), optionally a method and a path prefix, and how often it fires:
 * the next `count` matching requests, a fraction `probability` of them
 * (drawn from a seeded generator, so a run repeats), or every one.
 *
 * A status fault answers instead of doing the work, so it is decided first
 * and excludes close, stall and throttle; a delay combines with anything.
 * Within each kind the first rule that fires wins, and a rule that could
 * not apply does not spend its count. This file does not act on the
 * decision: double.c and the personalities do. */
#include "double.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_STATUS, K_DELAY, K_CLOSE, K_STALL, K_THROTTLE };

static const char *const kind_names[] = {"status", "delay", "close", "stall",
                                         "throttle"};

struct rule {
    int id;
    enum kind kind;
    char *method;       /* NULL: any */
    char *path;         /* a prefix; NULL: any */
    int64_t remaining;  /* -1: no count */
    double probability; /* < 0: none */
    int status, retry_after;
    int64_t ms, min_ms, max_ms, mean_ms;
    int64_t after_bytes, bytes_per_s;
    int64_t fired;
};

static struct {
    pthread_mutex_t lock;
    struct rule *rules;
    size_t n, cap;
    uint64_t rng;
    int next_id;
} F = {.lock = PTHREAD_MUTEX_INITIALIZER};

void dbl_fault_init(void)
{
    F.next_id = 1;
    F.rng = 0x853c49e6748fea9bULL;
}

void dbl_fault_seed(uint64_t seed)
{
    pthread_mutex_lock(&F.lock);
    F.rng = seed * 0x9e3779b97f4a7c15ULL + 0x853c49e6748fea9bULL;
    pthread_mutex_unlock(&F.lock);
}

/* xorshift64*, under F.lock: uniform in [0, 1). */
static double uniform(void)
{
    F.rng ^= F.rng >> 12;
    F.rng ^= F.rng << 25;
    F.rng ^= F.rng >> 27;
    return (double)((F.rng * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

static void rule_free(struct rule *r)
{
    free(r->method);
    free(r->path);
}

void dbl_fault_reset(void)
{
    pthread_mutex_lock(&F.lock);
    for (size_t i = 0; i < F.n; i++)
        rule_free(&F.rules[i]);
    F.n = 0;
    pthread_mutex_unlock(&F.lock);
}

void dbl_fault_destroy(void)
{
    dbl_fault_reset();
    free(F.rules);
    F.rules = NULL;
    F.cap = 0;
}

static int get_int(json_t *spec, const char *name, int64_t def, int64_t *out)
{
    json_t *v = json_object_get(spec, name);
    if (!v) {
        *out = def;
        return DBL_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return DBL_ERR;
    *out = json_integer_value(v);
    return DBL_OK;
}

static int parse_rule(json_t *spec, struct rule *r, char *errstr,
                      size_t errstr_size)
{
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    json_t *p = json_object_get(spec, "probability");
    int64_t status, retry_after;
    size_t k;

    memset(r, 0, sizeof(*r));
    if (!json_is_object(spec) || !kind) {
        snprintf(errstr, errstr_size, "a rule is an object with a \"kind\"");
        return DBL_ERR;
    }
    for (k = 0; k < sizeof(kind_names) / sizeof(*kind_names); k++)
        if (strcmp(kind, kind_names[k]) == 0)
            break;
    if (k == sizeof(kind_names) / sizeof(*kind_names)) {
        snprintf(errstr, errstr_size,
                 "unknown kind '%s' (status, delay, close, stall, throttle)",
                 kind);
        return DBL_ERR;
    }
    r->kind = (enum kind)k;
    r->probability = -1;
    if (p && (!json_is_number(p) || json_number_value(p) < 0 ||
              json_number_value(p) > 1)) {
        snprintf(errstr, errstr_size, "probability is a number in [0, 1]");
        return DBL_ERR;
    }
    if (p)
        r->probability = json_number_value(p);
    if (get_int(spec, "count", -1, &r->remaining) != DBL_OK ||
        get_int(spec, "status", 0, &status) != DBL_OK ||
        get_int(spec, "retry_after", 0, &retry_after) != DBL_OK ||
        get_int(spec, "ms", 0, &r->ms) != DBL_OK ||
        get_int(spec, "min_ms", 0, &r->min_ms) != DBL_OK ||
        get_int(spec, "max_ms", 0, &r->max_ms) != DBL_OK ||
        get_int(spec, "mean_ms", 0, &r->mean_ms) != DBL_OK ||
        get_int(spec, "after_bytes", 0, &r->after_bytes) != DBL_OK ||
        get_int(spec, "bytes_per_s", 0, &r->bytes_per_s) != DBL_OK ||
        status > 999 || retry_after > 86400) {
        snprintf(errstr, errstr_size,
                 "count, status, retry_after, ms, min_ms, max_ms, mean_ms, "
                 "after_bytes and bytes_per_s are non-negative integers");
        return DBL_ERR;
    }
    r->status = (int)status;
    r->retry_after = (int)retry_after;
    if (r->kind == K_STATUS && (r->status < 400 || r->status > 599)) {
        snprintf(errstr, errstr_size,
                 "a status fault needs a \"status\" "
                 "between 400 and 599");
        return DBL_ERR;
    }
    if (r->kind == K_DELAY && !r->ms && !r->max_ms && !r->mean_ms) {
        snprintf(errstr, errstr_size,
                 "a delay needs \"ms\", "
                 "\"min_ms\"/\"max_ms\" or \"mean_ms\"");
        return DBL_ERR;
    }
    if (r->min_ms > r->max_ms && r->max_ms) {
        snprintf(errstr, errstr_size, "min_ms is above max_ms");
        return DBL_ERR;
    }
    if (r->kind == K_THROTTLE && !r->bytes_per_s) {
        snprintf(errstr, errstr_size, "a throttle needs \"bytes_per_s\"");
        return DBL_ERR;
    }
    if (json_string_value(json_object_get(spec, "method")))
        r->method = strdup(json_string_value(json_object_get(spec, "method")));
    if (json_string_value(json_object_get(spec, "path")))
        r->path = strdup(json_string_value(json_object_get(spec, "path")));
    return DBL_OK;
}

int dbl_fault_add(json_t *spec, char *errstr, size_t errstr_size)
{
    json_t *list = spec, *item;
    size_t i;
    struct rule *parsed;
    size_t n;

    if (json_is_object(spec) && json_object_get(spec, "rules"))
        list = json_object_get(spec, "rules");
    if (!json_is_array(list)) {
        list = json_array();
        json_array_append(list, spec);
    } else {
        json_incref(list);
    }
    n = json_array_size(list);
    parsed = calloc(n ? n : 1, sizeof(*parsed));
    if (!parsed)
        abort();
    json_array_foreach(list, i, item)
    {
        if (parse_rule(item, &parsed[i], errstr, errstr_size) != DBL_OK) {
            for (size_t j = 0; j <= i; j++)
                rule_free(&parsed[j]);
            free(parsed);
            json_decref(list);
            return DBL_ERR;
        }
    }
    pthread_mutex_lock(&F.lock);
    for (i = 0; i < n; i++) {
        if (F.n == F.cap) {
            F.cap = F.cap ? F.cap * 2 : 8;
            F.rules = realloc(F.rules, F.cap * sizeof(*F.rules));
            if (!F.rules)
                abort();
        }
        parsed[i].id = F.next_id++;
        F.rules[F.n++] = parsed[i];
    }
    pthread_mutex_unlock(&F.lock);
    free(parsed);
    json_decref(list);
    return DBL_OK;
}

static json_t *rule_json(const struct rule *r)
{
    json_t *o = json_pack("{s:i, s:s, s:I}", "id", r->id, "kind",
                          kind_names[r->kind], "fired", (json_int_t)r->fired);
    if (r->method)
        json_object_set_new(o, "method", json_string(r->method));
    if (r->path)
        json_object_set_new(o, "path", json_string(r->path));
    if (r->remaining >= 0)
        json_object_set_new(o, "count_left", json_integer(r->remaining));
    if (r->probability >= 0)
        json_object_set_new(o, "probability", json_real(r->probability));
    if (r->status)
        json_object_set_new(o, "status", json_integer(r->status));
    if (r->retry_after)
        json_object_set_new(o, "retry_after", json_integer(r->retry_after));
    if (r->ms)
        json_object_set_new(o, "ms", json_integer(r->ms));
    if (r->max_ms)
        json_object_set_new(o, "min_ms", json_integer(r->min_ms));
    if (r->max_ms)
        json_object_set_new(o, "max_ms", json_integer(r->max_ms));
    if (r->mean_ms)
        json_object_set_new(o, "mean_ms", json_integer(r->mean_ms));
    if (r->kind == K_STALL)
        json_object_set_new(o, "after_bytes", json_integer(r->after_bytes));
    if (r->bytes_per_s)
        json_object_set_new(o, "bytes_per_s", json_integer(r->bytes_per_s));
    return o;
}

json_t *dbl_fault_list(void)
{
    json_t *list = json_array();
    pthread_mutex_lock(&F.lock);
    for (size_t i = 0; i < F.n; i++)
        json_array_append_new(list, rule_json(&F.rules[i]));
    pthread_mutex_unlock(&F.lock);
    return list;
}

static int matches(const struct rule *r, const char *method, const char *path)
{
    if (r->method && strcmp(r->method, method) != 0)
        return 0;
    if (r->path && strncmp(r->path, path, strlen(r->path)) != 0)
        return 0;
    return 1;
}

/* Whether a matching rule fires now; spends its count if it does. */
static int fires(struct rule *r)
{
    if (r->remaining == 0)
        return 0;
    if (r->probability >= 0 && uniform() >= r->probability)
        return 0;
    if (r->remaining > 0)
        r->remaining--;
    r->fired++;
    return 1;
}

static int64_t delay_of(const struct rule *r)
{
    if (r->mean_ms) {
        /* Exponential: many short answers and a long tail, capped. */
        double u = uniform();
        int64_t d = (int64_t)(-log(1.0 - u) * (double)r->mean_ms);
        return r->max_ms && d > r->max_ms ? r->max_ms : d;
    }
    if (r->max_ms)
        return r->min_ms +
               (int64_t)(uniform() * (double)(r->max_ms - r->min_ms + 1));
    return r->ms;
}

void dbl_fault_pick(const char *method, const char *path,
                    struct dbl_faults *out)
{
    int got[K_THROTTLE + 1] = {0};

    memset(out, 0, sizeof(*out));
    out->stall_after = -1;
    out->applied = json_array();
    pthread_mutex_lock(&F.lock);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < F.n; i++) {
            struct rule *r = &F.rules[i];
            json_t *a;
            if ((pass == 0) != (r->kind == K_STATUS) ||
                !matches(r, method, path))
                continue;
            if (got[r->kind] ||
                (r->kind != K_STATUS && r->kind != K_DELAY && out->status))
                continue;
            if (!fires(r))
                continue;
            got[r->kind] = 1;
            a = json_pack("{s:i, s:s}", "rule", r->id, "kind",
                          kind_names[r->kind]);
            switch (r->kind) {
            case K_STATUS:
                out->status = r->status;
                out->retry_after_s = r->retry_after;
                json_object_set_new(a, "status", json_integer(r->status));
                if (r->retry_after)
                    json_object_set_new(a, "retry_after",
                                        json_integer(r->retry_after));
                break;
            case K_DELAY:
                out->delay_ms = delay_of(r);
                json_object_set_new(a, "ms", json_integer(out->delay_ms));
                break;
            case K_CLOSE:
                out->close = 1;
                break;
            case K_STALL:
                out->stall_after = r->after_bytes;
                json_object_set_new(a, "after_bytes",
                                    json_integer(r->after_bytes));
                break;
            case K_THROTTLE:
                out->bytes_per_s = r->bytes_per_s;
                json_object_set_new(a, "bytes_per_s",
                                    json_integer(r->bytes_per_s));
                break;
            }
            json_array_append_new(out->applied, a);
        }
    }
    pthread_mutex_unlock(&F.lock);
}

void dbl_faults_clear(struct dbl_faults *f)
{
    json_decref(f->applied);
    f->applied = NULL;
}
