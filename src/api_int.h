/*
 * api_int.h - what the admin API's files share (api.c: dispatch, auth,
 * JSON helpers and the read-only views; api_ops.c: the operations that
 * change something). Not for other modules.
 */
#ifndef CV_API_INT_H
#define CV_API_INT_H

#include <jansson.h>

#include "api.h"
#include "pg.h"

/* One request being served. */
struct call {
    const struct cv_api_env *env;
    const char *param; /* the path's * segment, or NULL */
    json_t *query;     /* the query string's arguments */
    json_t *body;      /* the posted object, or NULL */
    struct cv_pg *pg;  /* opened on first use */
    struct cv_api_reply *reply;
};

/* Replies (each sets call->reply once; later calls are ignored). */
void api_json(struct call *c, int status, json_t *body); /* takes body */
void api_error(struct call *c, int status, const char *fmt, ...)
    CV_PRINTF(3, 4);

/* The request's Postgres connection, or NULL after replying 503. */
struct cv_pg *api_pg(struct call *c);
/* A failed statement: 503 if the connection went, else 500. */
void api_pg_error(struct call *c, const struct cv_pg_error *err);
/* Rows as an array of objects named by column; numbers, booleans and
 * JSON columns keep their type. */
json_t *api_rows(PGresult *res);
json_t *api_row(PGresult *res, int row);

/*
 * Body fields: checks that the body is an object whose members are all in
 * allowed (NULL-terminated); else replies 400 naming the unknown field
 * and returns CV_ERR.
 */
int api_body_fields(struct call *c, const char *const *allowed);
/* A string member (NULL if absent); CV_ERR after a 400 if it is there
 * but not a string, or required and absent or empty. */
int api_body_string(struct call *c, const char *name, int required,
                    const char **out);
/* The same for a query-string argument. */
const char *api_query(struct call *c, const char *name);

/* The write operations (api_ops.c). */
void api_pause(struct call *c);
void api_resume(struct call *c);
void api_dlq_retry(struct call *c);
void api_dlq_discard(struct call *c);
void api_trigger(struct call *c);
void api_replay(struct call *c);

#endif
