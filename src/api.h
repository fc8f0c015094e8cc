/*
 * api.h - the admin API: JSON over HTTP for what the command line does
 * (status, schedules and trigger, dead letters, pause and resume, replay,
 * effects), with the same statements and audit rows (ops.h, replay.h).
 *
 * Tokens come from the environment: CONVEYOR_ADMIN_TOKEN may read and
 * change, CONVEYOR_READONLY_TOKEN may only read. Without either the API
 * is off. A request carries "Authorization: Bearer TOKEN"; tokens are
 * compared in constant time and never logged or echoed. Changes are
 * audited with actor "api:admin" (the read-write token's name). Bad
 * requests get {"error": "..."} with a 4xx status.
 */
#ifndef CV_API_H
#define CV_API_H

#include <jansson.h>

#include "config.h"
#include "schema.h"
#include "topology.h"

struct cv_observer;

#define CV_API_ACTOR "api:admin"

struct cv_api_env {
    const struct cv_config *cfg;
    const struct cv_topology *topo;
    const struct cv_catalogue *cat;
    struct cv_observer *obs;
};

/* What the API answers: a status and a JSON body (malloc'ed). */
struct cv_api_reply {
    int status;
    char *body;
};

/* Reads the tokens from the environment; 1 if the API is on. */
int cv_api_init(void);
void cv_api_free(void);

/*
 * Serves one request. path is below /api/v1 ("/status"); query holds the
 * query string's arguments (an object of strings); auth the Authorization
 * header (may be NULL); body and body_len what was posted.
 */
void cv_api_handle(const struct cv_api_env *env, const char *method,
                   const char *path, json_t *query, const char *auth,
                   const char *body, size_t body_len,
                   struct cv_api_reply *reply);

#endif
