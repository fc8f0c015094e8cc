/*
 * consume_watch.c - the handler timeout. The consumer thread says which
 * handler runs until when; the runner's thread calls the watchdog, which
 * records the attempt as failed and ends the process when one overruns (a
 * C function cannot be stopped safely from outside).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#include "consume_int.h"

/* Tells the watchdog which handler runs now, and until when. */
void consumer_watch_begin(struct cv_consumer *c, const struct batch_event *e,
                          const struct cv_retry_policy *pol,
                          struct cv_event *ev)
{
    ev->deadline_ms = pol->timeout_ms ? cv_mono_ms() + pol->timeout_ms : 0;
    if (!ev->deadline_ms)
        return;
    pthread_mutex_lock(&c->watch_lock);
    c->watch_deadline = ev->deadline_ms;
    c->watch_timeout_ms = pol->timeout_ms;
    c->watch_event = e;
    pthread_mutex_unlock(&c->watch_lock);
}

void consumer_watch_end(struct cv_consumer *c, const struct cv_event *ev)
{
    if (!ev->deadline_ms)
        return;
    pthread_mutex_lock(&c->watch_lock);
    c->watch_deadline = 0;
    pthread_mutex_unlock(&c->watch_lock);
}

/* Copies n bytes of p (NULL stays NULL). */
static void *copy_of(const void *p, size_t n)
{
    void *q = p ? cv_malloc(n + 1) : NULL;
    if (q)
        memcpy(q, p, n);
    return q;
}

int cv_consumer_watchdog(struct cv_consumer *c)
{
    struct batch_event e;
    const struct cv_retry_policy *pol;
    struct cv_store_event se;
    char reason[128], errstr[256];
    struct cv_pg_error err;
    struct cv_pg *pg;
    int timeout, failures, rc;
    int64_t wait;

    pthread_mutex_lock(&c->watch_lock);
    if (!c->watch_deadline || cv_mono_ms() < c->watch_deadline) {
        pthread_mutex_unlock(&c->watch_lock);
        return 0;
    }
    /* the handler cannot return past consumer_watch_end() while we hold the
     * lock, so the event and its buffers are still its own: copy them */
    e = *c->watch_event;
    e.msg = NULL;
    e.key = copy_of(e.key, e.key_len);
    e.value = copy_of(e.value, e.len);
    e.hdrs = e.hdrs ? rd_kafka_headers_copy(e.hdrs) : NULL;
    timeout = c->watch_timeout_ms;
    pthread_mutex_unlock(&c->watch_lock);

    pol = consumer_policy_of(c, &e);
    failures = e.attempts + 1;
    wait = cv_retry_delay_ms(pol, failures, 0.5); /* c->rng is the
                                                     consumer thread's */
    snprintf(reason, sizeof(reason),
             "handler timeout: still running after %d ms", timeout);
    CV_LOG(CV_LOG_ERROR, c->kv,
           "handler of event %s (%s [%d] offset %lld, attempt %d of %d) "
           "still running after %d ms: cutting it off, the process exits "
           "with status %d",
           e.ce.id, e.part->topic, (int)e.partition, (long long)e.offset,
           failures, pol->max_attempts, timeout, CV_EXIT_HANDLER_TIMEOUT);
    pg = cv_pg_connect(c->cfg->pg_conninfo, "conveyor/watchdog",
                       c->cfg->pg_connect_timeout_s, errstr, sizeof(errstr));
    if (!pg) {
        CV_LOG(CV_LOG_ERROR, c->kv, "recording the attempt: %s", errstr);
    } else {
        /* the same row a failed attempt writes: a parked retry stays
         * parked, an event at its partition's head waits there */
        consumer_store_event_of(&e, &se);
        cv_pg_pipe_begin(pg);
        rc = cv_store_retry_upsert(pg, CV_TAG_ENGINE, c->domain->group_id, &se,
                                   e.retry_id != 0, failures, wait, reason);
        if (rc != CV_OK)
            cv_pg_conn_error(pg, &err, CV_TAG_ENGINE);
        else
            rc = cv_pg_pipe_sync(pg, NULL, NULL, &err);
        cv_pg_pipe_end(pg);
        if (rc != CV_OK)
            CV_LOG(CV_LOG_ERROR, c->kv, "recording the attempt: %s",
                   err.message);
        else
            CV_LOG(CV_LOG_WARN, c->kv,
                   "attempt %d of event %s recorded; it runs again in "
                   "%lld ms after a restart",
                   failures, e.ce.id, (long long)wait);
        cv_pg_destroy(pg);
    }
    free((void *)e.key);
    free((void *)e.value);
    if (e.hdrs)
        rd_kafka_headers_destroy(e.hdrs);
    fflush(NULL);
    _exit(CV_EXIT_HANDLER_TIMEOUT);
}
