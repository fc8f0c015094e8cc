/*
 * effects.c - the effect runner (effects.h): leadership, claiming per
 * target within its concurrency and rate, the libcurl multi loop, and
 * recording each attempt.
 *
 * Concurrency and rate are gated here, in the runner's own queue: a
 * request is claimed (and its easy handle added to the multi handle) only
 * when its target has a free slot and a token. libcurl's own limits
 * (CURLMOPT_MAX_HOST_CONNECTIONS) would queue transfers inside libcurl,
 * where CURLOPT_TIMEOUT_MS already runs, so a queued request could time out
 * without ever being sent.
 *
 * An attempt's result is recorded in Postgres before anything else is
 * started for it: retry state lives in conveyor.effects, so it survives
 * restarts. A result that cannot be recorded (Postgres went away) is kept
 * and recorded after the reconnect, as long as its lease holds; after
 * that the request has been made pending again and will be sent again
 * with the same key, and the fenced write records nothing.
 */
#include "effects.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "effect_call.h"
#include "effect_store.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"

#define EFFECTS_LOCK_KEY                                                       \
    "7318204119" /* migrate ...116, relay ...117, ticker ...118 */
#define EFFECTS_KV     "component=effects"
#define POLL_MS        250  /* look for due requests at least this often */
#define CONTROL_MS     1000 /* re-read the pause switches */
#define LEASE_EXTRA_MS 30000
#define CLAIM_MAX      100

struct target_state {
    const struct cv_target *t;
    int in_flight;
    int paused;
    int64_t next_claim_ms; /* monotonic: nothing was due at the last look */
    struct cv_rate rate;
};

struct cv_effects {
    const struct cv_config *cfg;
    const struct cv_topology *topo;
    const struct cv_catalogue *cat;
    struct cv_pg *pg;
    int leader;
    CURLM *multi;
    struct target_state *ts;
    size_t nts;
    struct cv_call **calls; /* in flight */
    size_t ncalls, calls_cap;
    int64_t next_control_ms, next_reclaim_ms;
    uint64_t lease_seq, rng;
    int wake_relay; /* outcomes written since the last NOTIFY */
    char lease_prefix[64];
    struct cv_call **unrecorded; /* answered, not yet written */
    size_t nunrecorded, unrecorded_cap;
};

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Uniform in [0,1) for the jitter (xorshift64*). */
static double rnd(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

struct cv_effects *cv_effects_new(const struct cv_config *cfg,
                                  const struct cv_topology *topo,
                                  const struct cv_catalogue *cat, char *errstr,
                                  size_t errstr_size)
{
    struct cv_effects *e = cv_calloc(1, sizeof(*e));
    char host[32] = "localhost";

    e->cfg = cfg;
    e->topo = topo;
    e->cat = cat;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        !(e->multi = curl_multi_init())) {
        cv_err(errstr, errstr_size, "libcurl could not start");
        cv_effects_destroy(e);
        return NULL;
    }
    e->nts = topo->ntargets;
    e->ts = cv_calloc(e->nts ? e->nts : 1, sizeof(*e->ts));
    for (size_t i = 0; i < e->nts; i++) {
        e->ts[i].t = &topo->targets[i];
        cv_rate_init(&e->ts[i].rate, topo->targets[i].rate_per_s, 1.0,
                     cv_mono_us());
    }
    gethostname(host, sizeof(host) - 1);
    e->rng = (uint64_t)cv_wall_ms() * 2654435761u ^ (uint64_t)getpid();
    if (!e->rng)
        e->rng = 1;
    /* unique per process start, even for PID 1 in a restarted container */
    snprintf(e->lease_prefix, sizeof(e->lease_prefix), "%.24s:%ld:%llx:", host,
             (long)getpid(), (unsigned long long)(e->rng & 0xffffffffffULL));
    return e;
}

static void add_call(struct cv_effects *e, struct cv_call *c)
{
    if (e->ncalls == e->calls_cap) {
        e->calls_cap = e->calls_cap ? e->calls_cap * 2 : 16;
        e->calls = cv_realloc(e->calls, e->calls_cap * sizeof(*e->calls));
    }
    e->calls[e->ncalls++] = c;
    curl_multi_add_handle(e->multi, c->easy);
    e->ts[c->target_index].in_flight++;
}

static void remove_call(struct cv_effects *e, struct cv_call *c)
{
    for (size_t i = 0; i < e->ncalls; i++)
        if (e->calls[i] == c) {
            e->calls[i] = e->calls[--e->ncalls];
            break;
        }
    curl_multi_remove_handle(e->multi, c->easy);
    e->ts[c->target_index].in_flight--;
}

void cv_effects_destroy(struct cv_effects *e)
{
    if (!e)
        return;
    /* calls still in flight: their leases run out and the requests are
     * sent again (same key) by whoever leads next */
    while (e->ncalls) {
        struct cv_call *c = e->calls[0];
        remove_call(e, c);
        cv_call_destroy(c);
    }
    free(e->calls);
    for (size_t i = 0; i < e->nunrecorded; i++)
        cv_call_destroy(e->unrecorded[i]);
    free(e->unrecorded);
    if (e->multi)
        curl_multi_cleanup(e->multi);
    cv_pg_destroy(e->pg);
    free(e->ts);
    free(e);
}

static void disconnect(struct cv_effects *e)
{
    cv_pg_destroy(e->pg);
    e->pg = NULL;
    if (e->leader)
        CV_LOG(CV_LOG_WARN, EFFECTS_KV,
               "lost the Postgres session; no longer leading");
    e->leader = 0;
}

/* Connects, LISTENs and tries to become the leader. */
static int ensure_leader(struct cv_effects *e)
{
    struct cv_pg_error err;
    char errstr[512];
    PGresult *res;

    if (e->pg && e->leader)
        return CV_OK;
    if (!e->pg) {
        e->pg =
            cv_pg_connect(e->cfg->pg_conninfo, "conveyor/effects",
                          e->cfg->pg_connect_timeout_s, errstr, sizeof(errstr));
        if (!e->pg) {
            CV_LOG(CV_LOG_WARN, EFFECTS_KV, "%s", errstr);
            return CV_ERR;
        }
        if (cv_pg_command(e->pg, "LISTEN conveyor_effects", 0, NULL, &err) !=
                CV_OK ||
            cv_pg_command(e->pg, "LISTEN conveyor_controls", 0, NULL, &err) !=
                CV_OK) {
            CV_LOG(CV_LOG_WARN, EFFECTS_KV, "LISTEN: %s", err.message);
            disconnect(e);
            return CV_ERR;
        }
    }
    res = cv_pg_exec(e->pg, "SELECT pg_try_advisory_lock($1::bigint)", 1,
                     (const char *[]){EFFECTS_LOCK_KEY}, &err);
    if (!res) {
        CV_LOG(CV_LOG_WARN, EFFECTS_KV, "leader lock: %s", err.message);
        disconnect(e);
        return CV_ERR;
    }
    e->leader = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (e->leader) {
        int n = 0;
        CV_LOG(CV_LOG_INFO, EFFECTS_KV,
               "leading the effect runner (%zu targets, %s)", e->nts,
               cv_pg_describe(e->pg));
        e->next_control_ms = e->next_reclaim_ms = 0;
        /* what an earlier leader had in flight need not wait for its
         * lease: it is gone (or cut off), and the keys make a repeat
         * harmless */
        if (cv_effect_store_reclaim_others(e->pg, e->lease_prefix, &n, &err) !=
            CV_OK)
            CV_LOG(CV_LOG_WARN, EFFECTS_KV, "reclaiming requests: %s",
                   err.message);
        else if (n)
            CV_LOG(CV_LOG_WARN, EFFECTS_KV,
                   "%d request(s) an earlier leader had in flight are "
                   "pending again: they are sent again with the same "
                   "idempotency key",
                   n);
    }
    return e->leader ? CV_OK : CV_ERR;
}

static void refresh_pauses(struct cv_effects *e)
{
    struct cv_pg_error err;
    char *names = NULL;
    int all = 0;

    e->next_control_ms = cv_mono_ms() + CONTROL_MS;
    if (cv_effect_store_paused(e->pg, &all, &names, &err) != CV_OK) {
        CV_LOG(CV_LOG_WARN, EFFECTS_KV, "reading the switches: %s",
               err.message);
        if (!cv_pg_ok(e->pg))
            disconnect(e);
        return;
    }
    for (size_t i = 0; i < e->nts; i++) {
        struct target_state *ts = &e->ts[i];
        int paused = all || cv_target_env_paused(ts->t);
        for (const char *p = names; !paused && p && *p; p += strlen(p) + 1)
            paused = strcmp(p, ts->t->name) == 0;
        if (paused != ts->paused)
            CV_LOG(paused ? CV_LOG_WARN : CV_LOG_INFO, EFFECTS_KV,
                   "target %s %s", ts->t->name,
                   paused ? "paused: its requests wait (the calls in "
                            "flight finish)"
                          : "resumed");
        ts->paused = paused;
        if (!paused)
            ts->next_claim_ms = 0;
    }
    free(names);
}

static void reclaim(struct cv_effects *e)
{
    struct cv_pg_error err;
    int n = 0;

    e->next_reclaim_ms = cv_mono_ms() + CONTROL_MS;
    if (cv_effect_store_reclaim(e->pg, &n, &err) != CV_OK) {
        CV_LOG(CV_LOG_WARN, EFFECTS_KV, "reclaiming leases: %s", err.message);
        if (!cv_pg_ok(e->pg))
            disconnect(e);
        return;
    }
    if (n > 0) {
        CV_LOG(CV_LOG_WARN, EFFECTS_KV,
               "%d request(s) whose lease ran out (a runner stopped "
               "mid-call) are pending again: they are sent again with the "
               "same idempotency key",
               n);
        for (size_t i = 0; i < e->nts; i++)
            e->ts[i].next_claim_ms = 0;
    }
}

static const char *attempts_of(const struct cv_target *t, int attempts,
                               char *buf, size_t size)
{
    snprintf(buf, size, "attempt %d of %d", attempts, t->retry.max_attempts);
    return buf;
}

/*
 * Writes the end of a request and its outcome. Returns CV_OK when it is
 * recorded or never can be (the lease was lost; an outcome that cannot be
 * encoded is logged), CV_ERR when Postgres failed (try again later).
 */
static int finish(struct cv_effects *e, struct cv_call *c, int ok, int status,
                  const char *error)
{
    struct cv_effect_outcome o;
    struct cv_effect_final f;
    struct cv_pg_error err;
    char errstr[512], event_id[160], *value = NULL, *response = NULL;
    const char *topic = NULL;
    size_t value_len = 0;
    int recorded = 0, rc;

    memset(&o, 0, sizeof(o));
    o.effect_id = c->req.id;
    o.target = c->target->name;
    o.idempotency_key = c->req.idempotency_key;
    o.ok = ok;
    o.status = status;
    o.error = error;
    o.headers = c->chosen ? c->chosen : "{}";
    o.body = c->body;
    o.attempts = c->req.attempts;
    o.context = c->req.context;
    o.source_event_id = c->req.source_event_id;
    o.key = c->req.outcome_key;
    if (cv_effect_outcome_encode(e->topo, e->cat, c->req.outcome_type, &o,
                                 &value, &value_len, &topic, errstr,
                                 sizeof(errstr)) != CV_OK) {
        CV_LOG(CV_LOG_ERROR, EFFECTS_KV,
               "effect %lld to %s: its outcome cannot be delivered (%s); "
               "the request stays in flight until its lease runs out",
               (long long)c->req.id, c->target->name, errstr);
        return CV_OK;
    }
    response = cv_call_response_json(c, status);
    snprintf(event_id, sizeof(event_id), "effect-%lld.%d.%s",
             (long long)c->req.id, c->req.attempts, ok ? "done" : "failed");
    memset(&f, 0, sizeof(f));
    f.id = c->req.id;
    f.lease = c->lease;
    f.state = ok ? "done" : "failed";
    f.status = status;
    f.error = error;
    f.response = response;
    f.topic = topic;
    f.key = c->req.outcome_key;
    f.value = value;
    f.value_len = value_len;
    f.event_id = event_id;
    f.event_type = c->req.outcome_type;
    f.event_time_ms = cv_wall_ms();
    rc = cv_effect_store_finish(e->pg, &f, &recorded, &err);
    free(value);
    free(response);
    if (rc != CV_OK) {
        CV_LOG(CV_LOG_WARN, EFFECTS_KV, "recording effect %lld: %s",
               (long long)c->req.id, err.message);
        return CV_ERR;
    }
    e->wake_relay |= recorded;
    if (!recorded)
        CV_LOG(CV_LOG_WARN, EFFECTS_KV,
               "effect %lld to %s: its lease ran out before the answer was "
               "recorded; the request was sent again",
               (long long)c->req.id, c->target->name);
    return CV_OK;
}

/* Judges and records one answered attempt; CV_ERR: record it later. */
static int record(struct cv_effects *e, struct cv_call *c, CURLcode result)
{
    const struct cv_target *t = c->target;
    struct cv_answer a;
    struct cv_pg_error err;
    enum cv_verdict v;
    int64_t min_delay, delay, now = cv_wall_ms();
    char why[512], att[48], error[700];
    int recorded = 0;

    cv_call_answer(c, result, &a);
    v = cv_target_judge(t, &a, now, &min_delay, why, sizeof(why));
    attempts_of(t, c->req.attempts, att, sizeof(att));
    if (v == CV_VERDICT_OK) {
        CV_LOG(CV_LOG_DEBUG, EFFECTS_KV, "effect %lld to %s %s %s: HTTP %ld",
               (long long)c->req.id, t->name, c->req.method, c->req.path,
               a.status);
        return finish(e, c, 1, (int)a.status, NULL);
    }
    if (v == CV_VERDICT_RETRY && c->req.attempts >= t->retry.max_attempts) {
        snprintf(error, sizeof(error),
                 "no attempts left (%d of %d failed; "
                 "the last: %.400s)",
                 c->req.attempts, t->retry.max_attempts, why);
        v = CV_VERDICT_FINAL;
    } else if (v == CV_VERDICT_RETRY) {
        delay = cv_retry_delay_ms(&t->retry, c->req.attempts, rnd(&e->rng));
        if (delay < min_delay)
            delay = min_delay;
        if (t->max_age_ms &&
            now + delay - c->req.first_attempt_ms > t->max_age_ms) {
            snprintf(error, sizeof(error),
                     "expired: the next attempt would come more than %lld s "
                     "after the first, past the target's max_age (the "
                     "service forgets the key); the last: %.400s",
                     (long long)(t->max_age_ms / 1000), why);
            v = CV_VERDICT_FINAL;
        } else {
            CV_LOG(CV_LOG_WARN, EFFECTS_KV,
                   "effect %lld to %s %s %s (%s) failed: %s; next attempt "
                   "in %lld ms",
                   (long long)c->req.id, t->name, c->req.method, c->req.path,
                   att, why, (long long)delay);
            if (cv_effect_store_retry(e->pg, c->req.id, c->lease, delay,
                                      (int)a.status, why, &recorded,
                                      &err) != CV_OK) {
                CV_LOG(CV_LOG_WARN, EFFECTS_KV, "recording effect %lld: %s",
                       (long long)c->req.id, err.message);
                return CV_ERR;
            }
            return CV_OK;
        }
    } else {
        snprintf(error, sizeof(error), "%s", why);
    }
    CV_LOG(CV_LOG_WARN, EFFECTS_KV, "effect %lld to %s %s %s (%s) failed: %s",
           (long long)c->req.id, t->name, c->req.method, c->req.path, att,
           error);
    return finish(e, c, 0, (int)a.status, error);
}

static void keep_unrecorded(struct cv_effects *e, struct cv_call *c)
{
    if (e->nunrecorded == e->unrecorded_cap) {
        e->unrecorded_cap = e->unrecorded_cap ? e->unrecorded_cap * 2 : 16;
        e->unrecorded = cv_realloc(e->unrecorded,
                                   e->unrecorded_cap * sizeof(*e->unrecorded));
    }
    e->unrecorded[e->nunrecorded++] = c;
}

/* A transfer ended: judge, record, free. */
static void done(struct cv_effects *e, struct cv_call *c, CURLcode result)
{
    cv_metrics_effect_call(c->target->name,
                           (double)(cv_mono_us() - c->started_us) / 1e6);
    remove_call(e, c);
    c->result = result;
    if (!e->pg || record(e, c, result) != CV_OK) {
        if (e->pg && !cv_pg_ok(e->pg))
            disconnect(e);
        keep_unrecorded(e, c);
        return;
    }
    cv_call_destroy(c);
}

static void record_unrecorded(struct cv_effects *e)
{
    size_t keep = 0;
    for (size_t i = 0; i < e->nunrecorded; i++) {
        struct cv_call *c = e->unrecorded[i];
        if (e->pg && record(e, c, c->result) == CV_OK)
            cv_call_destroy(c);
        else
            e->unrecorded[keep++] = c;
    }
    e->nunrecorded = keep;
}

/* A request that cannot be sent at all (no secret, a bad body). */
static void refuse(struct cv_effects *e, struct cv_call *c, const char *why)
{
    char error[600];
    snprintf(error, sizeof(error), "not sent: %.500s", why);
    CV_LOG(CV_LOG_ERROR, EFFECTS_KV, "effect %lld to %s: %s",
           (long long)c->req.id, c->target->name, error);
    /* not recorded (Postgres went away): the lease runs out, and the
     * request is refused again when it is claimed again */
    finish(e, c, 0, 0, error);
    cv_call_destroy(c);
}

/* Claims and starts what target i may start now. */
static void start_calls(struct cv_effects *e, size_t i, int64_t now_ms)
{
    struct target_state *ts = &e->ts[i];
    const struct cv_target *t = ts->t;
    struct cv_effect_claimed *reqs = NULL;
    struct cv_pg_error err;
    int64_t wait_us;
    size_t n = 0;
    int want = t->concurrency - ts->in_flight;
    char lease[96];

    if (ts->paused || want <= 0 || now_ms < ts->next_claim_ms)
        return;
    if (want > CLAIM_MAX)
        want = CLAIM_MAX;
    if (t->rate_per_s > 0) {
        /* one token per claimed request: claim one at a time */
        if (!cv_rate_take(&ts->rate, cv_mono_us(), &wait_us)) {
            ts->next_claim_ms = now_ms + wait_us / 1000 + 1;
            return;
        }
        want = 1;
    }
    snprintf(lease, sizeof(lease), "%s%llu", e->lease_prefix,
             (unsigned long long)++e->lease_seq);
    if (cv_effect_store_claim(e->pg, t->name, lease,
                              (int64_t)t->timeout_ms + LEASE_EXTRA_MS, want,
                              &reqs, &n, &err) != CV_OK) {
        CV_LOG(CV_LOG_WARN, EFFECTS_KV, "claiming requests of %s: %s", t->name,
               err.message);
        if (!cv_pg_ok(e->pg))
            disconnect(e);
        return;
    }
    if (n == 0) {
        if (t->rate_per_s > 0)
            ts->rate.tokens += 1.0; /* the token was not used */
        ts->next_claim_ms = now_ms + POLL_MS;
        free(reqs);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        char errstr[512];
        struct cv_call *c = cv_call_new(t, i, &reqs[k], errstr, sizeof(errstr));
        if (!c) {
            /* a call shell to carry the request (still ours) to finish() */
            struct cv_call *shell = cv_calloc(1, sizeof(*shell));
            shell->target = t;
            shell->target_index = i;
            shell->req = reqs[k];
            snprintf(shell->lease, sizeof(shell->lease), "%s", lease);
            refuse(e, shell, errstr);
            continue;
        }
        snprintf(c->lease, sizeof(c->lease), "%s", lease);
        if (t->max_age_ms &&
            cv_wall_ms() - c->req.first_attempt_ms > t->max_age_ms) {
            char error[300];
            snprintf(error, sizeof(error),
                     "expired: first sent more than %lld s ago, past the "
                     "target's max_age (the service forgets the key); not "
                     "sent again",
                     (long long)(t->max_age_ms / 1000));
            c->req.attempts--; /* this one was not sent */
            if (finish(e, c, 0, 0, error) != CV_OK)
                keep_unrecorded(e, c);
            else
                cv_call_destroy(c);
            continue;
        }
        c->started_us = cv_mono_us();
        add_call(e, c);
    }
    free(reqs);
}

/* Reads NOTIFYs: a new request (claim at once) or a switch changed. */
static void read_notifies(struct cv_effects *e)
{
    PGnotify *note;

    if (!e->pg || !PQconsumeInput(cv_pg_conn(e->pg)))
        return;
    while ((note = PQnotifies(cv_pg_conn(e->pg))) != NULL) {
        if (strcmp(note->relname, "conveyor_controls") == 0)
            e->next_control_ms = 0;
        else
            for (size_t i = 0; i < e->nts; i++)
                if (!note->extra[0] ||
                    strcmp(note->extra, e->ts[i].t->name) == 0)
                    e->ts[i].next_claim_ms = 0;
        PQfreemem(note);
    }
}

/* Runs the transfers for up to timeout_ms and handles what ended. */
static void pump(struct cv_effects *e, int timeout_ms)
{
    struct curl_waitfd extra;
    unsigned nextra = 0;
    int running, left;
    CURLMsg *msg;

    if (e->pg) {
        extra.fd = PQsocket(cv_pg_conn(e->pg));
        extra.events = CURL_WAIT_POLLIN;
        extra.revents = 0;
        nextra = 1;
    }
    curl_multi_poll(e->multi, nextra ? &extra : NULL, nextra, timeout_ms, NULL);
    read_notifies(e);
    curl_multi_perform(e->multi, &running);
    while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
        struct cv_call *c = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        done(e, c, msg->data.result);
    }
    if (e->wake_relay && e->pg) {
        cv_effect_store_wake_relay(e->pg);
        e->wake_relay = 0;
    }
}

static int next_wake_ms(struct cv_effects *e, int64_t now_ms)
{
    int64_t wake = now_ms + POLL_MS;
    for (size_t i = 0; i < e->nts; i++) {
        struct target_state *ts = &e->ts[i];
        if (!ts->paused && ts->in_flight < ts->t->concurrency &&
            ts->next_claim_ms < wake)
            wake = ts->next_claim_ms;
    }
    return wake > now_ms ? (int)(wake - now_ms) : 0;
}

int cv_effects_run(struct cv_effects *e, atomic_int *stop)
{
    int64_t backoff = 200, deadline;

    if (!e->nts)
        return CV_OK;
    CV_LOG(CV_LOG_INFO, EFFECTS_KV, "effect runner started (%zu targets)",
           e->nts);
    while (!atomic_load(stop)) {
        int64_t now;
        /* a standby sleeps up to 5 s between its tries */
        cv_health_beat(e, "effects", "effects", 6000);
        if (ensure_leader(e) != CV_OK) {
            if (e->ncalls)
                pump(e, 100); /* lost the lead mid-call: finish them */
            else
                sleep_ms(e->pg ? 1000 : backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            record_unrecorded(e);
            continue;
        }
        backoff = 200;
        now = cv_mono_ms();
        if (now >= e->next_control_ms)
            refresh_pauses(e);
        if (e->pg && now >= e->next_reclaim_ms)
            reclaim(e);
        if (e->nunrecorded)
            record_unrecorded(e);
        for (size_t i = 0; i < e->nts && e->pg; i++)
            start_calls(e, i, cv_mono_ms());
        pump(e, next_wake_ms(e, cv_mono_ms()));
    }
    /* drain: no new calls; the ones in flight finish and are recorded */
    deadline = cv_mono_ms() + e->cfg->shutdown_timeout_ms;
    while (e->ncalls && cv_mono_ms() < deadline && atomic_load(stop) < 2)
        pump(e, 100);
    if (e->ncalls)
        CV_LOG(CV_LOG_WARN, EFFECTS_KV,
               "stopping with %zu call(s) in flight: their leases run out and "
               "they are sent again with the same key",
               e->ncalls);
    record_unrecorded(e);
    CV_LOG(CV_LOG_INFO, EFFECTS_KV, "effect runner stopped");
    return CV_OK;
}

int cv_effect_outcome_encode(const struct cv_topology *topo,
                             const struct cv_catalogue *cat,
                             const char *outcome_type,
                             const struct cv_effect_outcome *o, char **value,
                             size_t *value_len, const char **topic,
                             char *errstr, size_t errstr_size)
{
    const struct cv_topo_event *te = cv_topology_event(topo, outcome_type);
    const struct cv_schema *schema;
    struct cv_record *rec;
    int rc = 0;

    *value = NULL;
    if (!te)
        return cv_err(errstr, errstr_size,
                      "outcome type '%s' is not declared in the topology",
                      outcome_type);
    schema = cv_catalogue_by_name(cat, te->schema);
    if (!schema)
        return cv_err(errstr, errstr_size, "no schema %s", te->schema);
    rec = cv_record_new(schema);
    rc |= cv_record_set_long(rec, "effect_id", o->effect_id);
    rc |= cv_record_set_string(rec, "target", o->target);
    rc |= cv_record_set_string(rec, "idempotency_key", o->idempotency_key);
    rc |= cv_record_set_bool(rec, "ok", o->ok);
    rc |= cv_record_set_int(rec, "status", o->status);
    rc |= cv_record_set_string(rec, "error", o->error);
    rc |= cv_record_set_string(rec, "headers", o->headers ? o->headers : "{}");
    rc |= cv_record_set_string(rec, "body", o->body);
    rc |= cv_record_set_int(rec, "attempts", o->attempts);
    rc |= cv_record_set_string(rec, "context", o->context);
    rc |= cv_record_set_string(rec, "source_event_id", o->source_event_id);
    rc |= cv_record_set_string(rec, "key", o->key ? o->key : "");
    if (rc != CV_OK ||
        cv_record_encode(rec, value, value_len, errstr, errstr_size) != CV_OK) {
        if (rc != CV_OK)
            cv_err(errstr, errstr_size,
                   "schema %s of outcome type '%s' lacks the fields of "
                   "conveyor.EffectOutcome",
                   te->schema, outcome_type);
        cv_record_destroy(rec);
        free(*value);
        *value = NULL;
        return CV_ERR;
    }
    cv_record_destroy(rec);
    *topic = te->topic;
    return CV_OK;
}
