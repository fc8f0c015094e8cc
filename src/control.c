/*
 * control.c - the kill switch as a consumer sees it (see control.h).
 */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "pg.h"

struct cv_control {
    const struct cv_topo_domain *d;
    char member[160];
    PGconn *listening; /* the connection LISTEN was issued on */
    int64_t next_poll; /* monotonic ms; 0 = re-read now */
    int domain_paused; /* by the table (domain or all) */
    int env_paused;    /* by the domain's kill_switch_env */
    char **routes;     /* paused event types of this domain */
    size_t nroutes;
    char reason[512];
    int reseek; /* a replay rewound this group's offsets */
};

struct cv_control *cv_control_new(const struct cv_topo_domain *d,
                                  const char *member)
{
    struct cv_control *c = cv_calloc(1, sizeof(*c));

    c->d = d;
    snprintf(c->member, sizeof(c->member), "%s", member);
    return c;
}

static void clear_routes(struct cv_control *c)
{
    for (size_t i = 0; i < c->nroutes; i++)
        free(c->routes[i]);
    free(c->routes);
    c->routes = NULL;
    c->nroutes = 0;
}

void cv_control_destroy(struct cv_control *c)
{
    if (!c)
        return;
    clear_routes(c);
    free(c);
}

void cv_control_invalidate(struct cv_control *c)
{
    c->next_poll = 0;
}

static int env_switch_on(const struct cv_topo_domain *d)
{
    static const char *const on[] = {"1", "true", "yes", "on"};
    const char *v = d->kill_switch_env ? getenv(d->kill_switch_env) : NULL;

    for (size_t i = 0; v && i < CV_ARRAY_SIZE(on); i++)
        if (strcasecmp(v, on[i]) == 0)
            return 1;
    return 0;
}

/*
 * True if a NOTIFY conveyor_controls arrived on the connection. A payload
 * "replay:<this group>" (conveyor replay) asks for a re-seek instead.
 */
static int notified(struct cv_control *c, PGconn *conn)
{
    PGnotify *n;
    int any = 0;

    PQconsumeInput(conn);
    while ((n = PQnotifies(conn)) != NULL) {
        if (strcmp(n->relname, "conveyor_controls") == 0) {
            if (strncmp(n->extra, "replay:", 7) == 0)
                c->reseek |= strcmp(n->extra + 7, c->d->group_id) == 0;
            else
                any = 1;
        }
        PQfreemem(n);
    }
    return any;
}

int cv_control_take_reseek(struct cv_control *c)
{
    int r = c->reseek;

    c->reseek = 0;
    return r;
}

/* A fingerprint of the decision, to tell whether a re-read changed it. */
static uint64_t state_hash(const struct cv_control *c)
{
    uint64_t h = (uint64_t)(c->domain_paused | c->env_paused << 1);

    for (size_t i = 0; i < c->nroutes; i++)
        h = h * 1099511628211ULL ^ cv_hash_str(c->routes[i]);
    return h ^ c->nroutes;
}

int cv_control_refresh(struct cv_control *c, struct cv_pg *pg, int64_t now_ms)
{
    PGconn *conn = cv_pg_conn(pg);
    struct cv_pg_error err;
    uint64_t before = state_hash(c);
    char prefix[300];
    PGresult *res;

    if (conn != c->listening) {
        res = PQexec(conn, "LISTEN conveyor_controls");
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            PQclear(res);
            return -1;
        }
        PQclear(res);
        c->listening = conn;
        c->next_poll = 0;
    }
    c->env_paused = env_switch_on(c->d);
    if (!notified(c, conn) && c->next_poll && now_ms < c->next_poll)
        return state_hash(c) != before;
    c->next_poll = now_ms + CV_CONTROL_POLL_MS;

    snprintf(prefix, sizeof(prefix), "%s/", c->d->name);
    res = cv_pg_exec(pg,
                     "SELECT scope, target, actor, reason FROM "
                     "conveyor.controls WHERE scope = 'all' OR (scope = "
                     "'domain' AND target = $1) OR (scope = 'route' AND "
                     "left(target, length($2)) = $2) ORDER BY set_at",
                     2, (const char *[]){c->d->name, prefix}, &err);
    if (!res)
        return -1;
    clear_routes(c);
    c->domain_paused = 0;
    c->reason[0] = '\0';
    if (PQntuples(res))
        c->routes = cv_calloc((size_t)PQntuples(res), sizeof(*c->routes));
    for (int r = 0; r < PQntuples(res); r++) {
        const char *scope = PQgetvalue(res, r, 0);
        const char *target = PQgetvalue(res, r, 1);

        if (strcmp(scope, "route") == 0)
            c->routes[c->nroutes++] = cv_strdup(target + strlen(prefix));
        else
            c->domain_paused = 1;
        snprintf(c->reason, sizeof(c->reason), "%s%s%s paused by %s: %s", scope,
                 *target ? " " : "", target, PQgetvalue(res, r, 2),
                 PQgetvalue(res, r, 3));
    }
    PQclear(res);
    if (c->env_paused)
        snprintf(c->reason, sizeof(c->reason), "%s=%s (environment)",
                 c->d->kill_switch_env, getenv(c->d->kill_switch_env));
    return state_hash(c) != before;
}

int cv_control_domain_paused(const struct cv_control *c)
{
    return c->domain_paused || c->env_paused;
}

int cv_control_route_paused(const struct cv_control *c, const char *event_type)
{
    for (size_t i = 0; i < c->nroutes; i++)
        if (strcmp(c->routes[i], event_type) == 0)
            return 1;
    return 0;
}

int cv_control_any_route_paused(const struct cv_control *c)
{
    return c->nroutes > 0;
}

const char *cv_control_reason(const struct cv_control *c)
{
    return c->reason;
}

int cv_control_ack(struct cv_control *c, struct cv_pg *pg, int paused,
                   const char *trouble)
{
    struct cv_pg_error err;

    return cv_pg_command(
        pg,
        "INSERT INTO conveyor.consumer_state (group_id, member, state, "
        "detail, updated_at) VALUES ($1, $2, $3, $4, now()) "
        "ON CONFLICT (group_id, member) DO UPDATE SET state = excluded.state, "
        "detail = excluded.detail, updated_at = now()",
        4,
        (const char *[]){
            c->d->group_id, c->member, paused ? "paused" : "running",
            paused ? c->reason : (trouble && *trouble ? trouble : NULL)},
        &err);
}

void cv_control_forget(struct cv_control *c, struct cv_pg *pg)
{
    struct cv_pg_error err;

    cv_pg_command(pg,
                  "DELETE FROM conveyor.consumer_state WHERE group_id = $1 "
                  "AND member = $2",
                  2, (const char *[]){c->d->group_id, c->member}, &err);
}
