/*
 * domain.h - what a domain registers: its handlers and their result.
 *
 * A leaf header shared by the handler API (handler.h), which domain files
 * include, and the topology (topology.h), which resolves a route's handler
 * name to its function. It includes nothing of the engine.
 */
#ifndef CV_DOMAIN_H
#define CV_DOMAIN_H

struct cv_ctx;   /* the batch transaction and its outbox */
struct cv_event; /* one consumed event, decoded */

typedef enum {
    CV_HANDLED = 0, /* done; effects commit with the batch */
    CV_RETRY = 1,   /* transient: try again later */
    CV_FAILED = 2,  /* permanent: dead-letter it */
} cv_result_t;

typedef cv_result_t (*cv_handler_fn)(struct cv_ctx *ctx,
                                     const struct cv_event *ev);

struct cv_handler_def {
    const char *name; /* referenced from topology as "<domain>.<name>" */
    cv_handler_fn fn;
    const char *description;
};

struct cv_domain_def {
    const char *name;
    const char *description;
    const struct cv_handler_def *handlers; /* terminated by {0} */
};

#endif
