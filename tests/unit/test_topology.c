/*
 * test_topology.c - topology/marketplace.cfg, the loader's errors with
 * file:line, and every cross-check of cv_topology_check() against the real
 * schema catalogue (schemas/) and a handler registry of the test's own.
 *
 * The check fixtures live in tests/unit/fixtures/topology/; each test
 * below lists the exact lines it must print. Load errors are small files
 * written to a temporary directory from the strings below. The key table
 * is checked against the reference topology's comments, which must
 * document every key.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schema.h"
#include "sqlparam.h"
#include "test.h"
#include "target.h"
#include "topology.h"

static char tmpdir[64];
static const char *srcdir;
static struct cv_catalogue *cat;

/*
 * A registry of the test's own: static, so it cannot clash with the
 * generated cv_domains[] the library carries. It mirrors consumers/ for
 * the repository's topology and adds a "shop" domain for the fixtures.
 */
static cv_result_t h_placed(struct cv_ctx *ctx, const struct cv_event *ev)
{
    (void)ctx;
    (void)ev;
    return CV_HANDLED;
}

static cv_result_t h_paid(struct cv_ctx *ctx, const struct cv_event *ev)
{
    (void)ctx;
    (void)ev;
    return CV_HANDLED;
}

static cv_result_t h_lead(struct cv_ctx *ctx, const struct cv_event *ev)
{
    (void)ctx;
    (void)ev;
    return CV_HANDLED;
}

static cv_result_t h_upload(struct cv_ctx *ctx, const struct cv_event *ev)
{
    (void)ctx;
    (void)ev;
    return CV_HANDLED;
}

static cv_result_t h_verify(struct cv_ctx *ctx, const struct cv_event *ev)
{
    (void)ctx;
    (void)ev;
    return CV_HANDLED;
}

static cv_result_t h_job(struct cv_ctx *ctx, const struct cv_event *ev)
{
    (void)ctx;
    (void)ev;
    return CV_HANDLED;
}

static const struct cv_handler_def shop_handlers[] = {
    {"placed", h_placed, "an order was placed"},
    {"paid", h_paid, "an order was paid"},
    {NULL, NULL, NULL},
};
static const struct cv_handler_def leads_handlers[] = {
    {"lead_submitted", h_lead, NULL},
    {"upload_completed", h_upload, NULL},
    {NULL, NULL, NULL},
};
static const struct cv_handler_def verification_handlers[] = {
    {"verification_requested", h_verify, NULL},
    {"process_queue", h_job, NULL},
    {"verification_result", h_job, NULL},
    {"reverify_stale", h_job, NULL},
    {"update_rates", h_job, NULL},
    {NULL, NULL, NULL},
};
static const struct cv_handler_def payouts_handlers[] = {
    {"weekly_payouts", h_job, NULL},
    {"manual_payout", h_job, NULL},
    {"commission_release", h_job, NULL},
    {"transfer_result", h_job, NULL},
    {"reconcile", h_job, NULL},
    {"transfers_listed", h_job, NULL},
    {"payout_retry", h_job, NULL},
    {"transfers_checked", h_job, NULL},
    {NULL, NULL, NULL},
};
static const struct cv_handler_def jobs_handlers[] = {
    {"record_run", h_job, NULL},
    {NULL, NULL, NULL},
};
static const struct cv_domain_def jobs_def = {"jobs", "test jobs",
                                              jobs_handlers};
static const struct cv_domain_def shop_def = {"shop", "test shop",
                                              shop_handlers};
static const struct cv_domain_def leads_def = {"leads", "test leads",
                                               leads_handlers};
static const struct cv_domain_def verification_def = {
    "verification", "test verification", verification_handlers};
static const struct cv_domain_def payouts_def = {"payouts", "test payouts",
                                                 payouts_handlers};
static const struct cv_domain_def *const defs[] = {
    &shop_def, &leads_def, &verification_def, &jobs_def, &payouts_def, NULL};

static const char *fixture(const char *name)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/tests/unit/fixtures/topology/%s", srcdir,
             name);
    return path;
}

/* Runs the check and compares its whole output with lines (each without
 * the "path:" prefix) and the count it returns. */
static void expect_check(const char *path, const struct cv_catalogue *c,
                         const struct cv_domain_def *const *d,
                         const char *const *lines, int count)
{
    struct cv_topology t;
    char errstr[1024] = "", *out = NULL, *want = NULL;
    size_t out_len = 0, want_len = 0;
    FILE *mem, *wmem;
    int n;

    CHECK(cv_topology_load(path, &t, errstr, sizeof(errstr)) == CV_OK);
    if (errstr[0])
        fprintf(stderr, "  %s\n", errstr);
    mem = open_memstream(&out, &out_len);
    n = cv_topology_check(&t, c, d, mem);
    fclose(mem);
    wmem = open_memstream(&want, &want_len);
    for (size_t i = 0; lines[i]; i++)
        fprintf(wmem, "%s:%s\n", path, lines[i]);
    fclose(wmem);
    CHECK(n == count);
    CHECK_STR(out, want);
    if (n != count)
        fprintf(stderr, "  %s: %d errors, expected %d\n", path, n, count);
    /* a second run reports the same (and resolves the same) */
    CHECK(cv_topology_check(&t, c, d, NULL) == count);
    cv_topology_free(&t);
    free(out);
    free(want);
}

static void test_repo_topology(void)
{
    struct cv_topology t;
    char errstr[1024] = "", path[512];
    const struct cv_topo_domain *d;
    const struct cv_topo_event *ev;
    const struct cv_topo_route *r;

    snprintf(path, sizeof(path), "%s/topology/marketplace.cfg", srcdir);
    CHECK(cv_topology_load(path, &t, errstr, sizeof(errstr)) == CV_OK);
    if (errstr[0])
        fprintf(stderr, "  %s\n", errstr);
    CHECK(cv_topology_check(&t, cat, defs, stderr) == 0);
    CHECK_STR(t.path, path);
    CHECK(t.ntopics == 5);
    CHECK(t.nevents == 24);
    CHECK(t.ndomains == 4);
    for (size_t i = 0; i < 3; i++)
        CHECK(t.topics[i].partitions == 8);
    CHECK_STR(t.topics[3].name, "marketplace.payouts");
    CHECK_STR(t.topics[4].name, "marketplace.jobs");
    CHECK(cv_topology_topic(&t, "marketplace.uploads") == &t.topics[1]);
    CHECK(cv_topology_topic(&t, "marketplace.nope") == NULL);

    ev = cv_topology_event(&t, "marketplace.upload.completed");
    CHECK(ev != NULL);
    if (ev) {
        CHECK_STR(ev->schema, "marketplace.UploadCompleted");
        CHECK_STR(ev->topic, "marketplace.uploads");
        CHECK_STR(ev->key_field, "partner_id");
    }
    CHECK(cv_topology_event(&t, "marketplace.nope") == NULL);
    for (size_t i = 0; i < 3; i++)
        CHECK_STR(t.events[i].key_field, "partner_id");
    /* seed 000's twelve cron jobs, each with its cron and a resolved zone */
    CHECK(t.nschedules == 12);
    for (size_t i = 0; i < t.nschedules; i++) {
        CHECK(t.schedules[i].cron != NULL && t.schedules[i].tz != NULL);
        CHECK_STR(t.events[9 + i].key_field, "schedule");
    }
    CHECK_STR(cv_topology_schedule(&t, "weeklyPartnerPayouts")->cron_expr,
              "0 2 * * MON");
    CHECK_STR(cv_topology_schedule(&t, "monthlyVolumeBonusUpdate")->cron_expr,
              "0 3 1 * *");
    CHECK_STR(
        cv_topology_schedule(&t, "processEmailVerificationQueue")->cron_expr,
        "*/5 * * * *");
    CHECK(cv_topology_schedule(&t, "nope") == NULL);

    d = cv_topology_domain(&t, "leads");
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(d->group_id, "conveyor.leads");
        CHECK(d->ntopics == 2);
        CHECK_STR(d->topics[0], "marketplace.leads");
        CHECK_STR(d->topics[1], "marketplace.uploads");
        CHECK(d->nroutes == 5);
        r = cv_topology_route(d, "marketplace.lead.submitted");
        CHECK(r && r->fn == h_lead);
        CHECK(r && strcmp(r->handler, "leads.lead_submitted") == 0);
        r = cv_topology_route(d, "marketplace.upload.completed");
        CHECK(r && r->fn == h_upload);
        CHECK(cv_topology_route(d, "marketplace.verification.requested") ==
              NULL);
        /* processPartnerUpload and its outcome: declared SQL */
        r = cv_topology_route(d, "marketplace.upload.process");
        CHECK(r && !r->handler && !r->fn && r->decl && r->nsql == 2);
        r = cv_topology_route(d, "marketplace.upload.imported");
        CHECK(r && r->decl && r->nsql == 1 && r->nemits == 1);
        CHECK_STR(d->dlq_topic, "conveyor.dlq.leads");
    }
    d = cv_topology_domain(&t, "verification");
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(d->group_id, "conveyor.verification");
        CHECK(d->ntopics == 1);
        CHECK_STR(d->topics[0], "marketplace.verification");
        r = cv_topology_route(d, "marketplace.verification.requested");
        CHECK(r && r->fn == h_verify);
        /* seed 002's schedule: immediate, 60 s, 120 s, 240 s, 480 s, then
         * failed */
        if (r) {
            CHECK(r->retry.mode == CV_RETRY_DEFERRED);
            CHECK(r->retry.max_attempts == 5);
            CHECK(r->retry.jitter == 0.0 && r->retry.timeout_ms == 30000);
            CHECK(cv_retry_delay_ms(&r->retry, 5, 0.77) == 480000);
            for (int k = 1; k <= 4; k++)
                CHECK(cv_retry_delay_ms(&r->retry, k, 0.77) == (int64_t)60000
                                                                   << (k - 1));
        }
        /* the defaults */
        CHECK_STR(d->dlq_topic, "conveyor.dlq.verification");
        CHECK(d->batch_size == 500);
        CHECK(d->batch_wait_ms == 50);
        CHECK(d->parallelism == 1);
        CHECK(d->reset_earliest == 1);
    }
    /* a job's runs stay in order: every route inherits blocking; the
     * scoring and upload jobs are declared SQL */
    d = cv_topology_domain(&t, "jobs");
    CHECK(d != NULL && d->nroutes == 6);
    if (d) {
        CHECK(d->retry.mode == CV_RETRY_BLOCKING && d->retry.line > 0);
        for (size_t i = 0; i < d->nroutes; i++)
            CHECK(d->routes[i].retry.mode == CV_RETRY_BLOCKING &&
                  d->routes[i].retry.line == d->retry.line &&
                  d->routes[i].decl != NULL && d->routes[i].nsql >= 2);
    }
    /* the uploads' importer */
    CHECK(t.nimports == 1);
    {
        const struct cv_topo_import *im =
            cv_topology_import(&t, "partner_leads");
        CHECK(im && im->chunk_rows == 1000 && im->concurrency == 5);
        CHECK(im && im->max_attempts == 4 && im->ncolumns == 5);
        CHECK(im && im->sink && im->sink->nparams == 9);
    }
    /* the payouts domain and the services it calls */
    d = cv_topology_domain(&t, "payouts");
    CHECK(d != NULL && d->nroutes == 8);
    CHECK(t.ntargets == 2 && t.nsettings == 23);
    {
        const struct cv_target *st = cv_topology_target(&t, "stripe");
        const struct cv_target *mv = cv_topology_target(&t, "millionverifier");
        CHECK(st && st->auth == CV_AUTH_BEARER && st->body == CV_BODY_FORM);
        CHECK(st && st->concurrency == 1 && st->max_age_ms == 86400000);
        CHECK(st && st->noutcome_headers == 2 &&
              strcmp(st->outcome_headers[1], "Idempotent-Replayed") == 0);
        CHECK_STR(st ? st->idempotency_header : NULL, "Idempotency-Key");
        CHECK(mv && mv->auth == CV_AUTH_QUERY && mv->concurrency == 3);
        CHECK(mv && mv->retry.max_attempts == 1);
        CHECK_STR(mv ? mv->auth_param : NULL, "api");
        CHECK_STR(mv ? mv->error_value : NULL, "error");
        CHECK(cv_topology_target(&t, "nope") == NULL);
    }
    unsetenv("PAYOUT_MIN_AMOUNT");
    CHECK_STR(cv_topology_setting(&t, "payout_min_amount"), "25.00");
    setenv("PAYOUT_MIN_AMOUNT", "40.00", 1);
    CHECK_STR(cv_topology_setting(&t, "payout_min_amount"), "40.00");
    setenv("PAYOUT_MIN_AMOUNT", "", 1);
    CHECK_STR(cv_topology_setting(&t, "payout_min_amount"), "25.00");
    unsetenv("PAYOUT_MIN_AMOUNT");
    CHECK(cv_topology_setting(&t, "nope") == NULL);
    /* leads sets no retry group: the defaults */
    d = cv_topology_domain(&t, "leads");
    CHECK(d && d->nroutes && d->routes[0].retry.line == 0 &&
          d->routes[0].retry.max_attempts == 3);
    CHECK(cv_topology_domain(&t, "nope") == NULL);
    cv_topology_free(&t);
    CHECK(t.domains == NULL && t.path == NULL);
    cv_topology_free(&t); /* twice is fine */
    cv_topology_free(NULL);
}

/* The integration tests' topology must stay valid too. */
static void test_integration_topology(void)
{
    struct cv_topology t;
    char errstr[1024] = "", path[512];

    snprintf(path, sizeof(path), "%s/tests/integration/topology.cfg", srcdir);
    if (access(path, R_OK) != 0)
        return;
    CHECK(cv_topology_load(path, &t, errstr, sizeof(errstr)) == CV_OK);
    if (errstr[0])
        fprintf(stderr, "  %s\n", errstr);
    CHECK(cv_topology_check(&t, cat, defs, stderr) == 0);
    cv_topology_free(&t);
}

static void test_valid_values(void)
{
    struct cv_topology t;
    char errstr[1024] = "";
    const struct cv_topo_domain *d;

    CHECK(cv_topology_load(fixture("valid.cfg"), &t, errstr, sizeof(errstr)) ==
          CV_OK);
    CHECK(cv_topology_check(&t, cat, defs, stderr) == 0);
    CHECK(t.topics[0].partitions == 10000);
    CHECK(t.topics[0].line == 3);
    CHECK(t.events[1].line == 9);
    CHECK_STR(t.events[1].key_field, "lead_count"); /* an int key is fine */
    d = &t.domains[0];
    CHECK(d->line == 14); /* its name, not the '{' a line above */
    CHECK(d->batch_size == 100000);
    CHECK(d->batch_wait_ms == 0);
    CHECK(d->parallelism == 64);
    CHECK(d->reset_earliest == 0);
    CHECK_STR(d->dlq_topic, "shop.dead");
    CHECK(d->nroutes == 2);
    CHECK(d->routes[0].line == 24);
    CHECK(d->routes[0].fn == h_placed);
    CHECK(d->routes[1].fn == h_paid);
    cv_topology_free(&t);
}

static void test_check_duplicates(void)
{
    static const char *const lines[] = {
        "5: duplicate topic 'shop.orders' (first at line 4)",
        "10: duplicate event type 'shop.order.placed' (first at line 8)",
        "16: duplicate domain 'orders' (first at line 14)",
        "16: domain 'orders': group 'conveyor.orders' is also the group of "
        "domain 'orders' (line 14)",
        NULL,
    };
    expect_check(fixture("check_duplicates.cfg"), cat, defs, lines, 4);
}

static void test_check_references(void)
{
    static const char *const lines[] = {
        "4: topic 'shop.payments': no domain consumes it",
        "5: topic 'shop.audit': no domain consumes it",
        "8: event 'shop.order.placed': schema 'shop.OrderPlaced' is not in "
        "the catalogue",
        "11: event 'shop.order.paid': topic 'shop.refunds' is not declared",
        "13: event 'shop.payment.taken': key 'payment_id' is not a field of "
        "schema 'marketplace.UploadCompleted'",
        "15: event 'shop.payment.named': key 'first_name' of schema "
        "'marketplace.LeadSubmitted' has type union; a key field must be a "
        "string, int or long",
        "21: domain 'orders': no route for event 'shop.order.keyed' on its "
        "topic 'shop.orders' (each one would be dead-lettered)",
        "23: domain 'orders': topic 'shop.shipments' is not declared",
        "23: domain 'orders': topic 'shop.orders' is listed twice",
        "24: domain 'orders': dlq_topic 'shop.orders' is one of the topics it "
        "consumes",
        "27: domain 'orders': route for undeclared event type "
        "'shop.order.cancelled'",
        "28: domain 'orders': route for 'shop.payment.taken': the event "
        "travels on topic 'shop.payments', which the domain does not consume",
        NULL,
    };
    /* without a catalogue, the schema checks are skipped */
    static const char *const no_cat[] = {
        "4: topic 'shop.payments': no domain consumes it",
        "5: topic 'shop.audit': no domain consumes it",
        "11: event 'shop.order.paid': topic 'shop.refunds' is not declared",
        "21: domain 'orders': no route for event 'shop.order.keyed' on its "
        "topic 'shop.orders' (each one would be dead-lettered)",
        "23: domain 'orders': topic 'shop.shipments' is not declared",
        "23: domain 'orders': topic 'shop.orders' is listed twice",
        "24: domain 'orders': dlq_topic 'shop.orders' is one of the topics it "
        "consumes",
        "27: domain 'orders': route for undeclared event type "
        "'shop.order.cancelled'",
        "28: domain 'orders': route for 'shop.payment.taken': the event "
        "travels on topic 'shop.payments', which the domain does not consume",
        NULL,
    };
    expect_check(fixture("check_references.cfg"), cat, defs, lines, 12);
    expect_check(fixture("check_references.cfg"), NULL, defs, no_cat, 9);
}

static void test_check_schedules(void)
{
    static const char *const lines[] = {
        "11: schedule 'badcron': cron \"0 3 32 * *\": field 3 (day-of-month) "
        "at column 5: 32 is out of range 1-31",
        "12: schedule 'badzone': unknown time zone 'Mars/Olympus'",
        "13: schedule 'noevent': event type 'job.nope' is not declared",
        "15: schedule 'badpayload': payload for event 'queue.due': field "
        "'batch_size': expected int, got string",
        "16: duplicate schedule 'ok' (first at line 10)",
        "16: schedule 'ok': cron \"0 9 * * MON#6\": field 5 (day-of-week) "
        "at column 13: # 6 is out of range 1-5",
        NULL,
    };
    struct cv_topology t;
    char errstr[1024] = "";
    const struct cv_topo_schedule *s;

    CHECK(cv_topology_load(fixture("check_schedules.cfg"), &t, errstr,
                           sizeof(errstr)) == CV_OK);
    CHECK(cv_topology_check(&t, cat, defs, NULL) == 6);
    /* the defaults, and every field set */
    s = cv_topology_schedule(&t, "ok");
    CHECK(s && s->line == 10);
    CHECK_STR(s ? s->zone : NULL, "UTC");
    CHECK_STR(s ? s->payload : NULL, "{}");
    CHECK_STR(s ? s->key : NULL, "ok");
    CHECK(s && s->catch_up == CV_CATCH_UP_LATEST);
    CHECK(s && s->catch_up_window_s == 86400 && s->enabled == 1);
    s = cv_topology_schedule(&t, "full");
    CHECK(s && s->tz != NULL && s->cron != NULL);
    CHECK_STR(s ? s->zone : NULL, "Australia/Sydney");
    CHECK_STR(s ? s->key : NULL, "k");
    CHECK(s && s->catch_up == CV_CATCH_UP_ALL);
    CHECK(s && s->catch_up_window_s == 60 && s->enabled == 0);
    cv_topology_free(&t);
    (void)lines;
    expect_check(fixture("check_schedules.cfg"), cat, defs, lines, 6);
}

/*
 * Declared SQL: every parameter checked against the event's schema, the
 * settings and the CloudEvents attributes, each finding at the line of
 * the parameter; text inside literals, identifiers and comments, casts and
 * slices are no parameters; an import's sink against its columns.
 */
static void test_check_sql(void)
{
    static const char *const lines[] = {
        "14: domain 'd': route for 'job.due': sql statement 2: parameter "
        "':event.fire_tme': the event's schema conveyor.ScheduledJob has no "
        "field 'fire_tme' (expected one of: schedule, fire_time, run)",
        "15: domain 'd': route for 'job.due': sql statement 3: parameter "
        "':ce.nope': no CloudEvents attribute 'nope' (expected one of: id, "
        "type, source, time, time_ms, key, tenant, topic, partition, offset, "
        "attempt)",
        "15: domain 'd': route for 'job.due': sql statement 3: parameter "
        "':setting.celing': no setting 'celing' in the topology (expected "
        "one of: floor)",
        "16: domain 'd': route for 'job.due': rows statement 1 has no "
        "parameters: a set statement takes the batch's values as arrays "
        "(:event.id::uuid[])",
        "17: domain 'd': route for 'job.due': emit 1: event type "
        "'nope.event' is not declared",
        "18: domain 'd': route for 'job.due': emit statement 2: numbered "
        "parameter '$1...': name parameters instead (:event.<field>, "
        ":setting.<name>, ...)",
        "21: domain 'd': route for 'upload.done': sql statement 1: parameter "
        "':import.id': this statement cannot use :import.* (expected "
        ":event.<name>, :ce.<name>, :setting.<name>, :env.<name>)",
        "25: import 'im': sql: parameter ':col.phone': 'phone' is not one of "
        "its columns",
        NULL,
    };
    expect_check(fixture("check_sql.cfg"), cat, defs, lines, 8);
}

static void test_check_routes(void)
{
    static const char *const lines[] = {
        "19: domain 'orders': route for 'shop.order.placed': handler "
        "'placed' is not \"<domain>.<handler>\"",
        "20: domain 'orders': route for 'shop.order.paid': handler "
        "'shop.refunded': domain 'shop' has no handler 'refunded' (has: "
        "placed, paid)",
        "21: domain 'orders': event 'shop.order.placed' is routed twice "
        "(first at line 19)",
        "22: domain 'orders': event 'shop.order.paid' is routed twice (first "
        "at line 20)",
        "22: domain 'orders': route for 'shop.order.paid': handler "
        "'warehouse.paid': no compiled-in domain 'warehouse' (have: shop, "
        "leads, verification, jobs, payouts)",
        "23: domain 'orders': event 'shop.order.placed' is routed twice "
        "(first at line 19)",
        "23: domain 'orders': route for 'shop.order.placed': handler 'shop.' "
        "is not \"<domain>.<handler>\"",
        "27: domain 'returns': no routes",
        NULL,
    };
    /* without a registry, handlers are not resolved; the rest still is */
    static const char *const no_defs[] = {
        "19: domain 'orders': route for 'shop.order.placed': handler "
        "'placed' is not \"<domain>.<handler>\"",
        "21: domain 'orders': event 'shop.order.placed' is routed twice "
        "(first at line 19)",
        "22: domain 'orders': event 'shop.order.paid' is routed twice (first "
        "at line 20)",
        "23: domain 'orders': event 'shop.order.placed' is routed twice "
        "(first at line 19)",
        "23: domain 'orders': route for 'shop.order.placed': handler 'shop.' "
        "is not \"<domain>.<handler>\"",
        "27: domain 'returns': no routes",
        NULL,
    };
    static const struct cv_domain_def *const none[] = {NULL};
    static const char *const empty_registry[] = {
        "19: domain 'orders': route for 'shop.order.placed': handler "
        "'placed' is not \"<domain>.<handler>\"",
        "20: domain 'orders': route for 'shop.order.paid': handler "
        "'shop.refunded': no compiled-in domain 'shop' (have: none)",
        "21: domain 'orders': event 'shop.order.placed' is routed twice "
        "(first at line 19)",
        "21: domain 'orders': route for 'shop.order.placed': handler "
        "'shop.placed': no compiled-in domain 'shop' (have: none)",
        "22: domain 'orders': event 'shop.order.paid' is routed twice (first "
        "at line 20)",
        "22: domain 'orders': route for 'shop.order.paid': handler "
        "'warehouse.paid': no compiled-in domain 'warehouse' (have: none)",
        "23: domain 'orders': event 'shop.order.placed' is routed twice "
        "(first at line 19)",
        "23: domain 'orders': route for 'shop.order.placed': handler 'shop.' "
        "is not \"<domain>.<handler>\"",
        "27: domain 'returns': no routes",
        NULL,
    };
    expect_check(fixture("check_routes.cfg"), cat, defs, lines, 8);
    expect_check(fixture("check_routes.cfg"), cat, NULL, no_defs, 6);
    expect_check(fixture("check_routes.cfg"), cat, none, empty_registry, 9);
}

/* A resolved handler is cleared when a later check cannot resolve it. */
static void test_resolution_is_redone(void)
{
    struct cv_topology t;
    char errstr[256];
    static const struct cv_domain_def *const none[] = {NULL};

    CHECK(cv_topology_load(fixture("valid.cfg"), &t, errstr, sizeof(errstr)) ==
          CV_OK);
    CHECK(cv_topology_check(&t, cat, defs, NULL) == 0);
    CHECK(t.domains[0].routes[0].fn == h_placed);
    CHECK(cv_topology_check(&t, cat, none, NULL) == 2);
    CHECK(t.domains[0].routes[0].fn == NULL);
    cv_topology_free(&t);
}

#define write_file(name, text) test_write_file(tmpdir, name, text, strlen(text))

/* Whether word occurs in text as a whole word (not inside a longer name). */
static int has_word(const char *text, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
        int before =
            p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int after = isalnum((unsigned char)p[n]) || p[n] == '_';
        if (!before && !after)
            return 1;
    }
    return 0;
}

/*
 * The paragraph of comment lines in text that starts with "# <Group> keys"
 * (up to a line that is "#" alone or not a comment), into buf.
 */
static int keys_paragraph(const char *text, const char *group, char *buf,
                          size_t size)
{
    char head[64];
    const char *p, *end;

    snprintf(head, sizeof(head), "\n# %s keys", group);
    head[3] = (char)toupper((unsigned char)head[3]);
    p = strstr(text, head);
    if (!p)
        return 0;
    p++;
    end = p;
    while (*end == '#' && end[1] != '\n') {
        end = strchr(end, '\n');
        if (!end)
            break;
        end++;
    }
    if (!end)
        end = p + strlen(p);
    snprintf(buf, size, "%.*s", (int)(end - p), p);
    return 1;
}

/*
 * Every key of the table is documented in the reference topology: a list
 * of the file itself is in it, and a key of a group is named in that
 * group's "# <Group> keys: ..." paragraph of comments (Topic keys, Domain
 * keys, Route keys, ...). The describe output names every key too.
 */
static void test_reference_documents_every_key(void)
{
    const char *const *names = cv_topology_keys();
    char path[512], *text = NULL, *desc = NULL, para[4096];
    size_t desc_len = 0, text_len = 0, n = 0;
    FILE *fp, *mem;

    snprintf(path, sizeof(path), "%s/topology/marketplace.cfg", srcdir);
    fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (!fp)
        return;
    mem = open_memstream(&text, &text_len);
    for (int c; (c = fgetc(fp)) != EOF;)
        fputc(c, mem);
    fclose(mem);
    fclose(fp);
    mem = open_memstream(&desc, &desc_len);
    cv_topology_describe(mem);
    fclose(mem);

    for (; names[n]; n++) {
        const char *dot = strchr(names[n], '.');
        char group[32], want[64];
        int ok;

        CHECK_CONTAINS(desc, names[n]);
        if (!dot) {
            snprintf(want, sizeof(want), "\n%s = (", names[n]);
            ok = strstr(text, want) != NULL;
            if (!ok)
                fprintf(stderr, "  topology/marketplace.cfg lacks '%s'\n",
                        want + 1);
            CHECK(ok);
            continue;
        }
        snprintf(group, sizeof(group), "%.*s", (int)(dot - names[n]), names[n]);
        ok = keys_paragraph(text, group, para, sizeof(para)) &&
             has_word(para, dot + 1);
        if (!ok)
            fprintf(stderr,
                    "  topology/marketplace.cfg: the comment paragraph "
                    "\"# %c%s keys: ...\" does not name '%s'\n",
                    toupper((unsigned char)group[0]), group + 1, dot + 1);
        CHECK(ok);
    }
    CHECK(n == 96);
    /* the table, as people read it */
    CHECK_CONTAINS(desc, "domain.batch_size (integer 1..100000, default 500)");
    CHECK_CONTAINS(desc, "retry.mode (blocking|deferred, default blocking)");
    CHECK_CONTAINS(desc, "retry.jitter (number 0..1, default 0.1)");
    CHECK_CONTAINS(desc, "topic.partitions (integer 1..10000, required)");
    CHECK_CONTAINS(desc, "schedule.zone (string, default \"UTC\")");
    CHECK_CONTAINS(desc, "domains (list of domain groups, required)");
    CHECK(cv_topology_keys() == names);
    free(text);
    free(desc);
}

#define TOPICS "topics = ( { name = \"t\"; partitions = 1; } );\n"
#define EVENTS                                                                 \
    "events = ( { type = \"e\"; schema = \"s\"; topic = \"t\"; } );\n"

/* Loads text; expects CV_ERR with "<path>:<suffix>". */
static void expect_load_error(const char *text, const char *suffix)
{
    struct cv_topology t;
    char errstr[1024] = "", want[1024];
    const char *path = write_file("case.cfg", text);

    snprintf(want, sizeof(want), "%s:%s", path, suffix);
    CHECK(cv_topology_load(path, &t, errstr, sizeof(errstr)) == CV_ERR);
    CHECK_STR(errstr, want);
    CHECK(t.path == NULL && t.topics == NULL && t.domains == NULL);
    cv_topology_free(&t);
}

static void test_load_errors(void)
{
    /* syntax */
    expect_load_error(TOPICS "events = ( { type = ; } );\n", "2: syntax error");
    /* top level */
    expect_load_error(TOPICS EVENTS "domains = ( );\ncrons = ( );\n",
                      "4: topology: unknown key 'crons' (expected "
                      "topics, events, domains, schedules, targets, "
                      "settings, imports)");
    /* targets: the rules across keys */
#define TARGET(body)                                                           \
    TOPICS EVENTS "domains = ( );\ntargets = ( {\n" body " } );\n"
    expect_load_error(TARGET("name = \"s\"; base_url = \"ftp://x\";"),
                      "4: target 's': base_url must start with http:// or "
                      "https://");
    expect_load_error(
        TARGET("name = \"s\"; base_url = \"https://x\"; auth = \"bearer\";"),
        "4: target 's': an auth other than \"none\" needs secret_env (the "
        "variable that holds the secret)");
    expect_load_error(TARGET("name = \"s\"; base_url = \"https://x\";\n"
                             "auth = \"query\"; secret_env = \"K\";"),
                      "4: target 's': auth = \"query\" needs auth_param (the "
                      "parameter's name)");
    expect_load_error(TARGET("name = \"s\"; base_url = \"https://x\";\n"
                             "error_field = \"result\";"),
                      "4: target 's': error_field and error_value go together");
    expect_load_error(TARGET("name = \"s\"; base_url = \"https://x\";\n"
                             "concurrency = 0;"),
                      "6: target 's': key 'concurrency': expected integer "
                      "1..1000, got 0");
    expect_load_error(TARGET("name = \"s\"; base_url = \"https://x\";\n"
                             "auth = \"oauth\";"),
                      "6: target 's': key 'auth': expected "
                      "none|bearer|basic|query, got 'oauth'");
    expect_load_error(TARGET("name = \"s\"; base_url = \"https://x\";\n"
                             "outcome_headers = [ 1 ];"),
                      "6: target 's': key 'outcome_headers': expected "
                      "non-empty strings, got an integer");
    expect_load_error(TOPICS EVENTS
                      "domains = ( );\nsettings = ( { name = \"x\"; } );\n",
                      "4: setting 'x': missing 'value'");
#undef TARGET
    /* schedules */
#define SCHED(body)                                                            \
    TOPICS EVENTS "domains = ( );\nschedules = ( {\n" body " } );\n"
    expect_load_error(SCHED("name = \"a\"; event = \"e\";"),
                      "4: schedule 'a': missing 'cron'");
    expect_load_error(SCHED("name = \"a\"; cron = \"@daily\"; event = \"e\";\n"
                            "catch_up = \"some\";"),
                      "6: schedule 'a': key 'catch_up': expected "
                      "all|latest|none, got 'some'");
    expect_load_error(SCHED("name = \"a\"; cron = \"@daily\"; event = \"e\";\n"
                            "enabled = \"yes\";"),
                      "6: schedule 'a': key 'enabled': expected true or "
                      "false, got a string");
    expect_load_error(SCHED("name = \"a\"; cron = \"@daily\"; event = \"e\";\n"
                            "catch_up_window_s = 10;"),
                      "6: schedule 'a': key 'catch_up_window_s': expected "
                      "integer 60..31622400, got 10");
    expect_load_error(SCHED("name = \"a\"; cron = \"@daily\"; event = \"e\";\n"
                            "timezone = \"UTC\";"),
                      "6: schedule 'a': unknown key 'timezone' (expected "
                      "name, cron, zone, event, payload, key, catch_up, "
                      "catch_up_window_s, enabled, description)");
    expect_load_error(
        SCHED("name = \"a b\"; cron = \"@daily\"; event = \"e\";"),
        "5: schedule 'a b': key 'name': use letters, digits, "
        "'.', '_' and '-' only");
#undef SCHED
    expect_load_error(TOPICS EVENTS, " missing 'domains = ( ... );'");
    expect_load_error(TOPICS "events = { };\ndomains = ( );\n",
                      "2: key 'events': expected a list ( { ... } ), got a "
                      "group");
    expect_load_error("topics = ( { name = \"t\"; partitions = 1; },\n"
                      "  \"u\" );\nevents = ( );\ndomains = ( );\n",
                      "2: topics[1]: expected a group { ... }, got a string");
    /* topics */
    expect_load_error("topics = (\n  { name = \"t\";\n    partitions = 0; }"
                      " );\nevents = ( );\ndomains = ( );\n",
                      "3: topic 't': key 'partitions': expected integer "
                      "1..10000, got 0");
    expect_load_error("topics = (\n  { name = \"t\";\n    partitions = "
                      "\"8\"; } );\nevents = ( );\ndomains = ( );\n",
                      "3: topic 't': key 'partitions': expected integer "
                      "1..10000, got a string");
    expect_load_error("topics = (\n  { name = \"t\"; } );\nevents = ( );\n"
                      "domains = ( );\n",
                      "2: topic 't': missing 'partitions'");
    expect_load_error("topics = (\n  { partitions = 3; } );\nevents = ( );\n"
                      "domains = ( );\n",
                      "2: topics[0]: missing 'name'");
    expect_load_error(
        "topics = (\n  { name = \"t\"; partitions = 3;\n"
        "    partitons = 3; } );\nevents = ( );\ndomains = ( );\n",
        "3: topic 't': unknown key 'partitons' (expected name, "
        "partitions, description)");
    expect_load_error("topics = (\n  { name = \"a b\"; partitions = 3; } );\n"
                      "events = ( );\ndomains = ( );\n",
                      "2: topic 'a b': key 'name': 'a b' is not a valid "
                      "Kafka topic name (1..249 of letters, digits, '.', "
                      "'_', '-')");
    expect_load_error("topics = (\n  { name = \"\"; partitions = 3; } );\n"
                      "events = ( );\ndomains = ( );\n",
                      "2: topics[0]: key 'name': expected a non-empty "
                      "string, got \"\"");
    expect_load_error("topics = (\n  { name = \"t\"; partitions = "
                      "5000000000; } );\n",
                      "2: integer 5000000000 is out of range (append L for a "
                      "64-bit integer)");
    /* events */
    expect_load_error(TOPICS
                      "events = (\n  { type = \"e\"; schema = \"s\"; "
                      "topic = \"t\";\n    key = 5; } );\ndomains = ( );\n",
                      "4: event 'e': key 'key': expected a string, got an "
                      "integer");
    expect_load_error(TOPICS "events = (\n  { type = \"e\"; topic = \"t\"; }"
                             " );\ndomains = ( );\n",
                      "3: event 'e': missing 'schema'");
    expect_load_error(TOPICS "events = (\n  { type = \"e\"; schema = \"s\"; "
                             "topic = \"t\"; ttl = 5; } );\ndomains = ( );\n",
                      "3: event 'e': unknown key 'ttl' (expected type, "
                      "schema, topic, key, description)");
    /* domains */
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    batch_size = 0; } );\n",
                      "5: domain 'd': key 'batch_size': expected integer "
                      "1..100000, got 0");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    batch_wait_ms = 60001; } );\n",
                      "5: domain 'd': key 'batch_wait_ms': expected integer "
                      "0..60000, got 60001");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    parallelism = 65; } );\n",
                      "5: domain 'd': key 'parallelism': expected integer "
                      "1..64, got 65");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    reset = \"newest\"; } );\n",
                      "5: domain 'd': key 'reset': expected latest|earliest, "
                      "got 'newest'");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\";\n"
                      "    topics = [ ]; } );\n",
                      "5: domain 'd': key 'topics': a domain consumes at "
                      "least one topic");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\";\n"
                      "    topics = \"t\"; } );\n",
                      "5: domain 'd': key 'topics': expected an array of "
                      "topic names [ \"a\", \"b\" ], got a string");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\";\n"
                      "    topics = [ \"t\", \"x/y\" ]; } );\n",
                      "5: domain 'd': key 'topics': 'x/y' is not a valid "
                      "Kafka topic name (1..249 of letters, digits, '.', "
                      "'_', '-')");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; topics = [ \"t\" ]; } "
                      ");\n",
                      "4: domain 'd': missing 'group'");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"my domain\"; group = \"g\"; "
                      "topics = [ \"t\" ]; } );\n",
                      "4: domain 'my domain': key 'name': use letters, "
                      "digits, '.', '_' and '-' only");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    dlq_topic = \"dead letters\"; } "
                      ");\n",
                      "5: domain 'd': key 'dlq_topic': 'dead letters' is not "
                      "a valid Kafka topic name (1..249 of letters, digits, "
                      "'.', '_', '-')");
    expect_load_error(
        TOPICS EVENTS "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    retries = 3; } );\n",
        "5: domain 'd': unknown key 'retries' (expected name, "
        "group, description, topics, dlq_topic, reset, batch_size, "
        "batch_wait_ms, parallelism, kill_switch_env, retry, routes)");
    /* routes */
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    routes = (\n      { event = \"e\"; "
                      "} ); } );\n",
                      "6: domain 'd': route for 'e': missing 'handler' (or "
                      "declared SQL: sql, rows, emit)");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    routes = (\n      { event = \"e\"; "
                      "handler = \"d.h\"; sql = \"SELECT 1\"; } ); } );\n",
                      "6: domain 'd': route for 'e': a route has a handler or "
                      "declared SQL (sql, rows, emit), not both");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    routes = (\n      { event = \"e\"; "
                      "sql = ( );\n } ); } );\n",
                      "6: domain 'd': route for 'e': key 'sql': expected at "
                      "least one statement");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    routes = (\n      { event = \"e\"; "
                      "sql = 3;\n } ); } );\n",
                      "6: domain 'd': route for 'e': key 'sql': expected an "
                      "SQL statement \"...\" or a list of them ( \"...\", "
                      "\"...\" ), got an integer");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    routes = (\n      { event = \"e\"; "
                      "handler = \"d.h\";\n        retries = 1; } ); } "
                      ");\n",
                      "7: domain 'd': route for 'e': unknown key 'retries' "
                      "(expected event, handler, sql, rows, emit, "
                      "description, retry)");
    expect_load_error(TOPICS EVENTS
                      "domains = (\n  { name = \"d\"; group = \"g\"; topics "
                      "= [ \"t\" ];\n    routes = [ \"e\" ]; } );\n",
                      "5: domain 'd': key 'routes': expected a list ( { ... "
                      "} ), got an array");
}

#define RETRY_DOMAIN(domain_retry, route_retry)                                \
    TOPICS EVENTS "domains = (\n  { name = \"d\"; group = \"g\"; topics "      \
                  "= [ \"t\" ];\n    " domain_retry "\n    routes = (\n      " \
                  "{ event = \"e\"; handler = \"d.h\";\n        " route_retry  \
                  " } ); } );\n"

static void test_retry_policies(void)
{
    struct cv_topology t;
    char errstr[1024] = "";
    const struct cv_retry_policy *d, *r;
    const char *path;

    /* no retry group anywhere: the defaults */
    path = write_file("case.cfg", RETRY_DOMAIN("", ""));
    CHECK(cv_topology_load(path, &t, errstr, sizeof(errstr)) == CV_OK);
    r = &t.domains[0].routes[0].retry;
    CHECK(r->mode == CV_RETRY_BLOCKING && r->max_attempts == 3 &&
          r->initial_ms == 200 && r->factor == 2.0 && r->max_ms == 60000 &&
          r->jitter == 0.1 && r->timeout_ms == 30000 && r->line == 0);
    cv_topology_free(&t);

    /* the domain sets its routes' defaults; a route overrides some fields */
    path = write_file(
        "case.cfg",
        RETRY_DOMAIN("retry = { mode = \"deferred\"; max_attempts = 5; "
                     "initial_ms = 60000; factor = 2; max_ms = 480000; "
                     "jitter = 0.0; timeout_ms = 5000; };",
                     "retry = { mode = \"blocking\"; jitter = 0.5; };"));
    CHECK(cv_topology_load(path, &t, errstr, sizeof(errstr)) == CV_OK);
    d = &t.domains[0].retry;
    r = &t.domains[0].routes[0].retry;
    CHECK(d->mode == CV_RETRY_DEFERRED && d->max_attempts == 5 &&
          d->factor == 2.0 && d->jitter == 0.0 && d->line == 5);
    CHECK(r->mode == CV_RETRY_BLOCKING && r->max_attempts == 5 &&
          r->initial_ms == 60000 && r->factor == 2.0 && r->max_ms == 480000 &&
          r->jitter == 0.5 && r->timeout_ms == 5000 && r->line == 8);
    cv_topology_free(&t);

    /* int64 literals for the milliseconds; an empty group sets nothing */
    path = write_file("case.cfg",
                      RETRY_DOMAIN("retry = { initial_ms = 1000L; max_ms = "
                                   "600000000L; factor = 1.5; };",
                                   "retry = { };"));
    CHECK(cv_topology_load(path, &t, errstr, sizeof(errstr)) == CV_OK);
    r = &t.domains[0].routes[0].retry;
    CHECK(r->initial_ms == 1000 && r->max_ms == 600000000 && r->factor == 1.5 &&
          r->max_attempts == 3 && r->line == 5);
    cv_topology_free(&t);

    /* errors, each at the retry group's line */
    expect_load_error(RETRY_DOMAIN("", "retry = { tries = 3; };"),
                      "8: domain 'd': route for 'e': retry: unknown key "
                      "'tries' (expected mode, max_attempts, initial_ms, "
                      "factor, max_ms, jitter, timeout_ms)");
    expect_load_error(RETRY_DOMAIN("retry = { mode = \"later\"; };", ""),
                      "5: domain 'd': retry: key 'mode': expected "
                      "blocking|deferred, got 'later'");
    expect_load_error(RETRY_DOMAIN("retry = { max_attempts = 0; };", ""),
                      "5: domain 'd': retry: key 'max_attempts': expected "
                      "integer 1..1000, got 0");
    expect_load_error(RETRY_DOMAIN("retry = { initial_ms = -1; };", ""),
                      "5: domain 'd': retry: key 'initial_ms': expected "
                      "integer 0..86400000, got -1");
    expect_load_error(RETRY_DOMAIN("", "retry = { factor = 0.5; };"),
                      "8: domain 'd': route for 'e': retry: key 'factor': "
                      "expected a number 1..100, got 0.5");
    expect_load_error(RETRY_DOMAIN("", "retry = { jitter = 2; };"),
                      "8: domain 'd': route for 'e': retry: key 'jitter': "
                      "expected a number 0..1, got 2");
    expect_load_error(RETRY_DOMAIN("", "retry = { jitter = \"some\"; };"),
                      "8: domain 'd': route for 'e': retry: key 'jitter': "
                      "expected a number 0..1, got a string");
    expect_load_error(RETRY_DOMAIN("retry = { timeout_ms = -5; };", ""),
                      "5: domain 'd': retry: key 'timeout_ms': expected "
                      "integer 0..86400000, got -5");
    expect_load_error(RETRY_DOMAIN("", "retry = { max_attempts = \"3\"; };"),
                      "8: domain 'd': route for 'e': retry: key "
                      "'max_attempts': expected integer 1..1000, got a "
                      "string");
    expect_load_error(RETRY_DOMAIN("retry = { mode = 1; };", ""),
                      "5: domain 'd': retry: key 'mode': expected "
                      "blocking|deferred, got an integer");
    expect_load_error(RETRY_DOMAIN("", "retry = { max_ms = 604800001L; };"),
                      "8: domain 'd': route for 'e': retry: key 'max_ms': "
                      "expected integer 0..604800000, got 604800001");
    expect_load_error(RETRY_DOMAIN("", "retry = { initial_ms = 1.5; };"),
                      "8: domain 'd': route for 'e': retry: key "
                      "'initial_ms': expected integer 0..86400000, got a "
                      "float");
    expect_load_error(RETRY_DOMAIN("", "retry = { jitter = -0.1; };"),
                      "8: domain 'd': route for 'e': retry: key 'jitter': "
                      "expected a number 0..1, got -0.1");
    expect_load_error(RETRY_DOMAIN("", "retry = 3;"),
                      "8: domain 'd': route for 'e': retry: expected a group "
                      "{ ... }, got an integer");
    /* checked after merging: the route's cap is below the domain's start */
    expect_load_error(RETRY_DOMAIN("retry = { initial_ms = 5000; };",
                                   "retry = { max_ms = 1000; };"),
                      "8: domain 'd': route for 'e': retry: max_ms (1000) is "
                      "less than initial_ms (5000)");
    /* the domain's own group against the defaults (max_ms 60000) */
    expect_load_error(RETRY_DOMAIN("retry = { initial_ms = 90000; };", ""),
                      "5: domain 'd': retry: max_ms (60000) is less than "
                      "initial_ms (90000)");
    /* a route may lift the cap the domain's start needs */
    path =
        write_file("case.cfg", RETRY_DOMAIN("retry = { max_ms = 1000; };",
                                            "retry = { initial_ms = 1000; };"));
    CHECK(cv_topology_load(path, &t, errstr, sizeof(errstr)) == CV_OK);
    cv_topology_free(&t);
}

/* The backoff: seed 002's schedule exactly, the jitter's bounds, the cap. */
static void test_retry_delays(void)
{
    struct cv_retry_policy p = {
        CV_RETRY_DEFERRED, 5, 60000, 2.0, 480000, 0.0, 30000, 0};

    CHECK(cv_retry_delay_ms(&p, 1, 0.3) == 60000);
    CHECK(cv_retry_delay_ms(&p, 2, 0.3) == 120000);
    CHECK(cv_retry_delay_ms(&p, 3, 0.3) == 240000);
    CHECK(cv_retry_delay_ms(&p, 4, 0.3) == 480000);
    CHECK(cv_retry_delay_ms(&p, 5, 0.3) == 480000);
    CHECK(cv_retry_delay_ms(&p, 0, 0.3) == 60000);      /* as 1 */
    CHECK(cv_retry_delay_ms(&p, 10000, 0.9) == 480000); /* no overflow */
    CHECK(cv_retry_delay_ms(&p, INT_MAX, 0.9) == 480000);
    CHECK(cv_retry_delay_ms(&p, -3, 0.3) == 60000);
    p.jitter = 0.2;
    CHECK(cv_retry_delay_ms(&p, 1, 0.0) == 48000);
    CHECK(cv_retry_delay_ms(&p, 1, 0.5) == 60000);
    CHECK(cv_retry_delay_ms(&p, 1, 0.999999) == 72000);
    CHECK(cv_retry_delay_ms(&p, 9, 0.0) == 384000); /* jitter on the cap */
    CHECK(cv_retry_delay_ms(&p, 9, 0.999999) == 576000);
    /* every u in [0,1) lands in d*(1 +- jitter) */
    {
        int inside = 1;
        for (int i = 0; i < 1000; i++) {
            int64_t v = cv_retry_delay_ms(&p, 2, i / 1000.0);
            inside &= v >= 96000 && v <= 144000;
        }
        CHECK(inside);
    }
    /* rounded to the nearest ms, not truncated */
    p.initial_ms = 3;
    p.jitter = 0.25;
    CHECK(cv_retry_delay_ms(&p, 1, 0.0) == 2); /* 2.25 */
    CHECK(cv_retry_delay_ms(&p, 2, 0.0) == 5); /* 4.5 */
    p.initial_ms = 60000;
    p.jitter = 0.2;
    p.initial_ms = 0;
    CHECK(cv_retry_delay_ms(&p, 3, 0.7) == 0);
    p.initial_ms = 100;
    p.factor = 1.0;
    p.jitter = 0;
    CHECK(cv_retry_delay_ms(&p, 50, 0.1) == 100);
    /* quick when the delay never reaches the cap: no loop over failures */
    CHECK(cv_retry_delay_ms(&p, INT_MAX, 0.1) == 100);
    p.initial_ms = 0;
    p.factor = 3.0;
    CHECK(cv_retry_delay_ms(&p, INT_MAX, 0.1) == 0);
    /* huge values stay capped */
    p.initial_ms = INT64_C(1) << 40;
    p.max_ms = INT64_C(1) << 41;
    CHECK(cv_retry_delay_ms(&p, 10000, 0.5) == INT64_C(1) << 41);
}

static void test_load_file_errors(void)
{
    struct cv_topology t;
    char errstr[1024] = "", path[256];
    const char *inc = write_file("inc.cfg", "{ name = \"u\"; partitions = 1; "
                                            "}\n");

    (void)inc;
    snprintf(path, sizeof(path), "%s/missing.cfg", tmpdir);
    CHECK(cv_topology_load(path, &t, errstr, sizeof(errstr)) == CV_ERR);
    CHECK_CONTAINS(errstr, "missing.cfg: cannot open: No such file or "
                           "directory");
    cv_topology_free(&t);

    expect_load_error("topics = (\n  @include \"inc.cfg\"\n);\n",
                      "1: @include is not supported in a topology file (from "
                      "'inc.cfg')");
}

int main(void)
{
    char errstr[1024] = "", dir[512];

    srcdir = getenv("CONVEYOR_SOURCE_DIR");
    if (!srcdir || !*srcdir)
        srcdir = ".";
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cv_test_topology.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/schemas", srcdir);
    cat = cv_catalogue_load(dir, errstr, sizeof(errstr));
    CHECK(cat != NULL);
    if (!cat) {
        fprintf(stderr, "  %s\n", errstr);
        TEST_DONE();
    }

    test_repo_topology();
    test_reference_documents_every_key();
    test_integration_topology();
    test_valid_values();
    test_check_duplicates();
    test_check_references();
    test_check_routes();
    test_check_sql();
    test_check_schedules();
    test_resolution_is_redone();
    test_load_errors();
    test_load_file_errors();
    test_retry_policies();
    test_retry_delays();

    cv_catalogue_destroy(cat);
    {
        char path[256];
        snprintf(path, sizeof(path), "%s/case.cfg", tmpdir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/inc.cfg", tmpdir);
        unlink(path);
        rmdir(tmpdir);
    }
    TEST_DONE();
}
