/*
 * target.h - another service that handlers call through effects: how to
 * reach it, how to authenticate, how fast and how often, and what its
 * answers mean.
 *
 * A target is declared in the topology (`targets`). Its secret comes from
 * an environment variable and never appears in a log line, a status answer
 * or the effects table. Everything here is pure (no I/O): the effect runner
 * (effects.h) builds requests and judges answers with it.
 */
#ifndef CV_TARGET_H
#define CV_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "topology.h"

enum cv_target_auth {
    CV_AUTH_NONE = 0,
    CV_AUTH_BEARER, /* Authorization: Bearer <secret> (Stripe) */
    CV_AUTH_BASIC,  /* Authorization: Basic base64(<secret>:) */
    CV_AUTH_QUERY,  /* ?<auth_param>=<secret> (MillionVerifier's api=) */
};

enum cv_target_body {
    CV_BODY_JSON = 0, /* application/json */
    CV_BODY_FORM,     /* application/x-www-form-urlencoded (Stripe): a
                         JSON object's members, nested ones as a[b]=c */
};

struct cv_target {
    char *name;
    char *description;
    char *base_url;           /* "https://api.stripe.com" */
    char *base_url_env;       /* a variable that, when set, replaces base_url */
    int auth;                 /* enum cv_target_auth */
    char *secret_env;         /* the variable holding the secret */
    char *auth_param;         /* CV_AUTH_QUERY: the parameter's name */
    char *idempotency_header; /* "Idempotency-Key", NULL: none sent */
    int body;                 /* enum cv_target_body */
    int concurrency;          /* requests in flight at most */
    double rate_per_s;        /* requests started per second, 0 = no limit */
    int timeout_ms;           /* per attempt, from the moment it is sent */
    int max_age_s;            /* no attempt later than this after the
                                 first one (the service forgets its keys);
                                 0 = no limit */
    int64_t max_age_ms;       /* the same in ms, set when loaded */
    struct cv_retry_policy retry; /* max_attempts, backoff, jitter */
    char *error_field; /* a 2xx answer whose JSON body has this top-level */
    char *error_value; /* field equal to this value is an error (retried) */
    char **outcome_headers; /* response headers copied into the outcome */
    size_t noutcome_headers;
    char *kill_switch_env; /* set to 1/true/yes/on: the target is paused */
    int line;
};

/* The base URL in use: base_url_env's value when set, else base_url. */
const char *cv_target_base_url(const struct cv_target *t);
/* The secret (NULL if the variable is unset or the target needs none). */
const char *cv_target_secret(const struct cv_target *t);
/* 1 if kill_switch_env is set to 1, true, yes or on (any case). */
int cv_target_env_paused(const struct cv_target *t);

/* What one attempt's answer means. */
enum cv_verdict {
    CV_VERDICT_OK = 0, /* success: done, the outcome says ok */
    CV_VERDICT_RETRY,  /* try again later, if attempts and age allow */
    CV_VERDICT_FINAL,  /* a final error: failed, the outcome says why */
};

/* One attempt as the runner saw it. */
struct cv_answer {
    int transport_error;       /* non-zero: no HTTP answer (a CURLcode) */
    const char *transport_msg; /* its text */
    long status;               /* HTTP status when transport_error == 0 */
    const char *retry_after;   /* Retry-After header value, or NULL */
    const char *should_retry;  /* Stripe-Should-Retry value, or NULL */
    const char *body;          /* NUL-terminated, may be NULL */
};

/*
 * Judges an answer: no answer (connection refused or reset, timeout), 409,
 * 429 and 5xx retry; other 4xx are final; a 2xx whose JSON body has
 * error_field = error_value retries (MillionVerifier reports errors as
 * HTTP 200). Stripe-Should-Retry, when present, decides between retry and
 * final. *min_delay_ms gets what Retry-After asks for (seconds or an HTTP
 * date, relative to now_ms), else 0. why gets a short reason for a retry
 * or a final error (never the secret: answers do not carry it).
 */
enum cv_verdict cv_target_judge(const struct cv_target *t,
                                const struct cv_answer *a, int64_t now_ms,
                                int64_t *min_delay_ms, char *why,
                                size_t why_size);

/*
 * Parses a Retry-After value: delta-seconds or an HTTP date. Returns the
 * delay in ms from now_ms (>= 0), or -1 if it cannot be parsed.
 */
int64_t cv_retry_after_ms(const char *value, int64_t now_ms);

/*
 * Encodes a JSON object's members as application/x-www-form-urlencoded
 * the way Stripe reads them: scalars as k=v (true/false, numbers as
 * written), objects as k[sub]=v, arrays as k[0]=v, null members left out.
 * Returns a malloc'ed string, or NULL with errstr if json is not an
 * object.
 */
char *cv_form_encode(const char *json, char *errstr, size_t errstr_size);

/*
 * A token bucket for rate_per_s: one token per 1/rate s, at most `burst`
 * saved up. cv_rate_take() takes one if there is one (1) or says how long
 * until there is (0, *wait_us).
 */
struct cv_rate {
    double rate_per_s; /* 0 = unlimited */
    double burst;
    double tokens;
    int64_t last_us;
};
void cv_rate_init(struct cv_rate *r, double rate_per_s, double burst,
                  int64_t now_us);
int cv_rate_take(struct cv_rate *r, int64_t now_us, int64_t *wait_us);

#endif
