/*
 * test_http.c - the HTTP endpoint's parts that need no network: counters
 * count only what committed and keep labels bounded, histograms and the
 * exposition's shape, the effect interface, liveness, JSON escaping, and
 * the admin API's gate (off without tokens, 401, 403, 400, 404, 405),
 * which answers before any Postgres connection is opened.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "buf.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "test.h"
#include "topology.h"

static struct cv_topology topo;

static char *render(void)
{
    struct cv_buf b = {0};

    cv_metrics_render(&b);
    return cv_buf_take(&b);
}

static void test_counters(void)
{
    char *text;

    cv_metrics_init(&topo);
    /* a rolled-back transaction counts nothing */
    cv_metrics_txn_begin();
    cv_metrics_event("leads", "marketplace.lead.submitted",
                     CV_METRICS_PROCESSED);
    cv_metrics_txn_begin(); /* the batch is re-run */
    for (int i = 0; i < 3; i++)
        cv_metrics_event("leads", "marketplace.lead.submitted",
                         CV_METRICS_PROCESSED);
    cv_metrics_event("leads", "marketplace.lead.submitted",
                     CV_METRICS_DEDUPLICATED);
    /* an event type from outside the topology: bounded label */
    cv_metrics_event("leads", "evil.\"type\"", CV_METRICS_DEAD_LETTERED);
    cv_metrics_event("leads", NULL, CV_METRICS_DEAD_LETTERED);
    cv_metrics_event("nodomain", "x", CV_METRICS_PROCESSED);
    cv_metrics_txn_applied();
    cv_metrics_txn_commit("leads");
    cv_metrics_retried("verification", "marketplace.verification.requested");
    CHECK(cv_metrics_total(CV_METRICS_PROCESSED) == 3);
    CHECK(cv_metrics_total(CV_METRICS_DEDUPLICATED) == 1);
    CHECK(cv_metrics_total(CV_METRICS_DEAD_LETTERED) == 2);
    CHECK(cv_metrics_total(CV_METRICS_RETRIED) == 1);

    text = render();
    CHECK_CONTAINS(text, "# TYPE conveyor_events_processed_total counter\n");
    CHECK_CONTAINS(text, "conveyor_events_processed_total{domain=\"leads\","
                         "route=\"marketplace.lead.submitted\"} 3\n");
    CHECK_CONTAINS(text, "conveyor_events_dead_lettered_total{domain=\"leads\","
                         "route=\"unrouted\"} 2\n");
    CHECK_CONTAINS(text,
                   "conveyor_events_retried_total{domain=\"verification\","
                   "route=\"marketplace.verification.requested\"} 1\n");
    CHECK(strstr(text, "evil") == NULL);
    CHECK(strstr(text, "nodomain") == NULL);
    CHECK_CONTAINS(text, "# TYPE conveyor_batch_apply_duration_seconds "
                         "histogram\n");
    CHECK_CONTAINS(text, "conveyor_batch_apply_duration_seconds_bucket{domain="
                         "\"leads\",le=\"+Inf\"} 1\n");
    CHECK_CONTAINS(text, "conveyor_batch_commit_duration_seconds_count{domain="
                         "\"leads\"} 1\n");
    CHECK_CONTAINS(text, "conveyor_batch_apply_duration_seconds_count{domain="
                         "\"verification\"} 0\n");
    /* no effect series until the effect runner reports a target */
    CHECK(strstr(text, "conveyor_effects_pending") == NULL);
    free(text);
}

static void test_histograms_and_effects(void)
{
    struct cv_metrics_effect e[4];
    char *text;

    cv_metrics_init(&topo);
    cv_metrics_outbox_published(0.003);
    cv_metrics_outbox_published(0.2);
    cv_metrics_outbox_published(1000);
    cv_metrics_effect_target("neverbounce", 5, 10, 1, 10);
    cv_metrics_effect_target("neverbounce", 4, 10, 1, 10);
    cv_metrics_effect_call("neverbounce", 0.4);
    CHECK(cv_metrics_effects(e, 4) == 1);
    CHECK_STR(e[0].target, "neverbounce");
    CHECK(e[0].pending == 4 && e[0].in_flight == 10 && e[0].limit == 10);
    CHECK(e[0].calls == 1);
    text = render();
    CHECK_CONTAINS(text, "conveyor_outbox_publish_latency_seconds_bucket{le="
                         "\"0.005\"} 1\n");
    CHECK_CONTAINS(text, "conveyor_outbox_publish_latency_seconds_bucket{le="
                         "\"0.25\"} 2\n");
    CHECK_CONTAINS(text, "conveyor_outbox_publish_latency_seconds_bucket{le="
                         "\"600\"} 2\n");
    CHECK_CONTAINS(text, "conveyor_outbox_publish_latency_seconds_bucket{le="
                         "\"+Inf\"} 3\n");
    CHECK_CONTAINS(text, "conveyor_outbox_publish_latency_seconds_count 3\n");
    CHECK_CONTAINS(text,
                   "conveyor_effects_pending{target=\"neverbounce\"} 4\n");
    CHECK_CONTAINS(text, "conveyor_effects_concurrency_limit{target="
                         "\"neverbounce\"} 10\n");
    CHECK_CONTAINS(text, "conveyor_effect_call_duration_seconds_count{target="
                         "\"neverbounce\"} 1\n");
    free(text);
    cv_metrics_free();
}

static void test_health(void)
{
    struct cv_buf b = {0};
    int a = 0, c = 0; /* their addresses are the loops' keys */

    cv_health_beat(&a, "consumer", "conveyor/leads#0", 0);
    cv_health_beat(&c, "relay", "outbox", 100000);
    CHECK(cv_health_loops() == 2);
    CHECK(cv_health_live(&b, 1000) == 1);
    CHECK_CONTAINS(b.data, "\"status\": \"ok\"");
    cv_buf_free(&b);
    {
        struct timespec ts = {0, 30 * 1000000};
        nanosleep(&ts, NULL);
    }
    /* 10 ms: the consumer is late, the relay within its slack */
    CHECK(cv_health_live(&b, 10) == 0);
    CHECK_CONTAINS(b.data, "\"name\": \"conveyor/leads#0\", "
                           "\"last_round_ms_ago\": ");
    CHECK_CONTAINS(b.data, "\"stuck\": true}, {\"kind\": \"relay\"");
    cv_buf_free(&b);
    cv_health_forget(&a);
    CHECK(cv_health_live(&b, 10) == 1);
    cv_buf_free(&b);
    cv_health_free();
    CHECK(cv_health_loops() == 0);
}

static void test_buf(void)
{
    struct cv_buf b = {0};
    char *s;

    cv_buf_label(&b, "a\"b\\c\nd");
    cv_buf_puts(&b, "|");
    cv_buf_json(&b, "x\ty\"\x01");
    s = cv_buf_take(&b);
    CHECK_STR(s, "a\\\"b\\\\c\\nd|x\\u0009y\\\"\\u0001");
    free(s);
    s = cv_buf_take(&b);
    CHECK_STR(s, "");
    free(s);
}

static int call(const char *method, const char *path, const char *auth,
                const char *body, const char *want)
{
    struct cv_api_env env = {NULL, &topo, NULL, NULL};
    struct cv_api_reply r;
    json_t *query = json_object();
    int status;

    cv_api_handle(&env, method, path, query, auth, body, strlen(body), &r);
    json_decref(query);
    status = r.status;
    if (want && !strstr(r.body, want)) {
        fprintf(stderr, "%s %s: %d %s lacks \"%s\"\n", method, path, status,
                r.body, want);
        status = -1;
    }
    free(r.body);
    return status;
}

static void test_api_gate(void)
{
    setenv("CONVEYOR_ADMIN_TOKEN", "", 1);
    unsetenv("CONVEYOR_READONLY_TOKEN");
    CHECK(cv_api_init() == 0);
    CHECK(call("GET", "/effects", "Bearer x", "", "the admin API is off") ==
          404);

    setenv("CONVEYOR_ADMIN_TOKEN", "s3cret-admin", 1);
    setenv("CONVEYOR_READONLY_TOKEN", "s3cret-read", 1);
    CHECK(cv_api_init() == 1);
    CHECK(call("GET", "/effects", NULL, "", "give a token") == 401);
    CHECK(call("GET", "/effects", "Basic s3cret-admin", "", NULL) == 401);
    CHECK(call("GET", "/effects", "Bearer s3cret-admi", "", "wrong") == 401);
    CHECK(call("GET", "/effects", "Bearer s3cret-adminn", "", NULL) == 401);
    CHECK(call("GET", "/effects", "Bearer ", "", NULL) == 401);
    CHECK(call("GET", "/effects", "Bearer s3cret-read", "",
               "\"targets\": []") == 200);
    CHECK(call("GET", "/topology", "Bearer s3cret-read", "",
               "\"name\": \"leads\"") == 200);
    CHECK(call("POST", "/pause", "Bearer s3cret-read", "{}",
               "read-only token") == 403);
    CHECK(call("POST", "/replay", "Bearer s3cret-read",
               "{\"group\": \"x\", \"dry_run\": false}",
               "read-only token") == 403);
    CHECK(call("POST", "/pause", "Bearer s3cret-admin",
               "{\"scope\": ", "malformed JSON") == 400);
    CHECK(call("POST", "/pause", "Bearer s3cret-admin", "{\"a\": 1, \"a\": 2}",
               "malformed JSON") == 400);
    CHECK(call("POST", "/pause", "Bearer s3cret-admin", "[]",
               "must be a JSON object") == 400);
    CHECK(call("POST", "/pause", "Bearer s3cret-admin",
               "{\"scope\": \"domain\", \"target\": \"leads\", \"x\": 1}",
               "unknown field 'x'") == 400);
    CHECK(call("POST", "/pause", "Bearer s3cret-admin",
               "{\"scope\": \"domain\", \"target\": \"leads\"}",
               "field 'reason' is required") == 400);
    CHECK(call("POST", "/pause", "Bearer s3cret-admin",
               "{\"scope\": \"route\", \"target\": \"leads/nope\", "
               "\"reason\": \"r\"}",
               "has no route for 'nope'") == 400);
    CHECK(call("POST", "/replay", "Bearer s3cret-admin",
               "{\"group\": \"conveyor.leads\", \"partition\": -1, "
               "\"from_offset\": 0}",
               "integers >= 0") == 400);
    CHECK(call("POST", "/dead-letters/retry", "Bearer s3cret-admin",
               "{\"ids\": [1, 0]}", "element 1 is not an id") == 400);
    CHECK(call("GET", "/dead-letters/12x", "Bearer s3cret-admin", "",
               "not a dead letter id") == 400);
    CHECK(call("GET", "/nowhere", "Bearer s3cret-admin", "", "no endpoint") ==
          404);
    CHECK(call("PUT", "/status", "Bearer s3cret-admin", "", "not allowed") ==
          405);
    CHECK(call("POST", "/schedules/nope/trigger", "Bearer s3cret-admin",
               "{\"reason\": \"r\"}", "no schedule 'nope'") == 404);
    cv_api_free();
    unsetenv("CONVEYOR_ADMIN_TOKEN");
    unsetenv("CONVEYOR_READONLY_TOKEN");
}

int main(void)
{
    char errstr[1024];

    cv_log_level = CV_LOG_ERROR - 1;
    if (cv_topology_load("topology/marketplace.cfg", &topo, errstr,
                         sizeof(errstr)) != CV_OK) {
        fprintf(stderr, "%s\n", errstr);
        return 2;
    }
    test_counters();
    test_histograms_and_effects();
    test_health();
    test_buf();
    test_api_gate();
    cv_metrics_free();
    cv_topology_free(&topo);
    printf("test_http: %d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}
