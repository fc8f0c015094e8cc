/*
 * effect_call.h - one attempt of an effect: the libcurl easy handle that
 * sends a claimed request to its target, and what came back.
 *
 * The request's URL may carry the target's secret (auth = "query"), so it
 * is never logged: log the target, method and path instead. The secret is
 * read from the environment when the attempt is built.
 */
#ifndef CV_EFFECT_CALL_H
#define CV_EFFECT_CALL_H

#include <curl/curl.h>

#include "effect_store.h"
#include "target.h"

#define CV_CALL_BODY_MAX (4u << 20) /* response bytes kept */

struct cv_call {
    CURL *easy;
    const struct cv_target *target;
    size_t target_index;
    struct cv_effect_claimed req; /* owned: freed with the call */
    char lease[96];
    int64_t started_us; /* monotonic */
    CURLcode result;    /* how the transfer ended, once it has */
    struct curl_slist *headers;
    char *url, *payload;
    char errbuf[CURL_ERROR_SIZE];
    /* the answer */
    char *body;
    size_t body_len;
    int body_truncated;
    char retry_after[64], should_retry[16];
    char *chosen; /* JSON object of the target's outcome_headers */
};

/*
 * Builds the attempt for a claimed request (taken over: *req is zeroed).
 * Returns NULL with errstr when the request cannot be sent at all (no
 * secret in the environment, a body that is not JSON): a final error;
 * then *req is left as it was, still the caller's.
 * The caller sets call->lease and hands call->easy to its multi handle.
 */
struct cv_call *cv_call_new(const struct cv_target *t, size_t target_index,
                            struct cv_effect_claimed *req, char *errstr,
                            size_t errstr_size);
void cv_call_destroy(struct cv_call *c);

/* The answer as target.h judges it; result is the transfer's CURLcode.
 * Valid while the call lives. */
void cv_call_answer(struct cv_call *c, CURLcode result, struct cv_answer *a);

/* The stored response: {"status", "headers", "body"} as JSON text
 * (malloc'ed). */
char *cv_call_response_json(const struct cv_call *c, long status);

#endif
