/* Internals shared by the Stripe personality's two files: stripe.c (the
 * writes: authentication, validation, idempotency, transfers) and
 * stripe_read.c (listing and retrieval, the balance, the configuration of
 * accounts and balance). */
#ifndef CONVEYOR_DOUBLE_STRIPE_H
#define CONVEYOR_DOUBLE_STRIPE_H

#include "double.h"

#include <pthread.h>

/* A transfer as served, kept serialized: a benchmark creates hundreds of
 * thousands and a JSON tree each would cost kilobytes. */
struct transfer {
    char id[32];
    int64_t created;
    char *destination, *group; /* owned; group may be NULL */
    char *json;                /* owned */
    size_t len;
};

struct stripe_state {
    pthread_mutex_t lock;       /* everything below */
    struct transfer *transfers; /* in creation order: newest last */
    size_t n, cap;
    struct dbl_map *by_id; /* transfer id -> index + 1 */
    struct dbl_map *keys;  /* idempotency key -> struct idem */
    json_t *accounts;      /* id -> {"transfers": "active"|"inactive"} */
    json_t *balance;       /* currency -> available amount */
    const char *accounts_file;
    json_t *balance_opt;
};

extern struct stripe_state ST;

/* Answers with Stripe's error object and notes the code in the ledger. */
void stripe_error(struct dbl_call *call, int status, const char *type,
                  const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* A strict decimal integer. */
int stripe_parse_int(const char *s, int64_t *out);
/* A non-empty string parameter, or NULL. */
const char *stripe_param(json_t *params, const char *name);
int stripe_livemode(void);
void stripe_list_transfers(struct dbl_call *call);
void stripe_get_transfer(struct dbl_call *call, const char *id);
void stripe_get_balance(struct dbl_call *call);
/* Merges {"accounts": {...}, "balance": {...}}; all or nothing. */
int stripe_config_merge(json_t *cfg, char *errstr, size_t errstr_size);
int stripe_control(struct dbl_call *call, const char *what, json_t *body);
json_t *stripe_stats(void);

#endif
