/*
 * effects_limit.c - the limit the effect runner is measured against: N
 * form-encoded POSTs to a loopback Stripe double, CONCURRENCY at a time
 * with libcurl's multi interface and keep-alive connections, each with its
 * own Idempotency-Key, and nothing else (no Postgres, no claims, no
 * outcomes). For tests/bench/bench_effects.sh.
 *
 *   effects_limit URL KEY N CONCURRENCY
 *
 * Prints "requests=N ok=N seconds=S per_second=R".
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t discard(char *data, size_t size, size_t n, void *opaque)
{
    (void)data;
    (void)opaque;
    return size * n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct req {
    char body[128];
    struct curl_slist *headers;
};

static CURL *request(const char *url, const char *auth, long i)
{
    CURL *easy = curl_easy_init();
    struct req *r = calloc(1, sizeof(*r));
    char key[64];

    snprintf(key, sizeof(key), "Idempotency-Key: limit-%ld", i);
    r->headers = curl_slist_append(r->headers, auth);
    r->headers = curl_slist_append(r->headers, key);
    r->headers = curl_slist_append(r->headers, "Expect:");
    snprintf(r->body, sizeof(r->body),
             "amount=%ld&currency=usd&destination=acct_%ld", 1000 + i % 500,
             i % 1000);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 30000L);
    return easy;
}

int main(int argc, char **argv)
{
    CURLM *multi;
    char auth[256], *url;
    long n, conc, started = 0, done = 0, ok = 0;
    double t0, secs;
    int running;

    if (argc != 5) {
        fprintf(stderr, "usage: effects_limit URL KEY N CONCURRENCY\n");
        return 2;
    }
    url = argv[1];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", argv[2]);
    n = atol(argv[3]);
    conc = atol(argv[4]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi = curl_multi_init();
    t0 = now_s();
    while (done < n) {
        CURLMsg *msg;
        int left;

        while (started < n && started - done < conc)
            curl_multi_add_handle(multi, request(url, auth, started++));
        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left))) {
            long status = 0;
            struct req *r = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE,
                              &status);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            ok += msg->data.result == CURLE_OK && status == 200;
            curl_multi_remove_handle(multi, msg->easy_handle);
            curl_easy_cleanup(msg->easy_handle);
            curl_slist_free_all(r->headers);
            free(r);
            done++;
        }
        curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    secs = now_s() - t0;
    printf("requests=%ld ok=%ld seconds=%.3f per_second=%.0f\n", n, ok, secs,
           (double)n / secs);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return ok == n ? 0 : 1;
}
