/* conveyor-double: local stand-ins for the services the effect runner calls
 * (Stripe, MillionVerifier, an object store), run as real processes over
 * TCP for the integration tests and benchmarks. See README.md beside this
 * file for what each one implements, the control API and the ledger.
 *
 * The server core (double.c) owns the listening socket, the request
 * lifecycle, the ledger, the statistics, the clock and the control
 * endpoints; fault.c decides which injected faults a request gets; a
 * personality (stripe.c, millionverifier.c, storage.c) answers the API
 * requests. All of it runs on libmicrohttpd's thread-per-connection model:
 * a handler may block (a delay, a throttled body) without holding up other
 * connections. */
#ifndef CONVEYOR_DOUBLE_H
#define CONVEYOR_DOUBLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#define DBL_OK  0
#define DBL_ERR -1

/* The status of an answer that is no answer: the connection is dropped. */
#define DBL_CLOSE (-1)

#define DBL_MAX_HEADERS 12

/* ---- faults (fault.c) ---- */

/* What the fault rules decided for one request. Zero means "none". */
struct dbl_faults {
    int status;          /* answer this status instead of doing the work */
    int retry_after_s;   /* Retry-After on that answer, when > 0 */
    int64_t delay_ms;    /* wait this long before answering */
    int close;           /* do the work, then drop the connection */
    int64_t stall_after; /* send this many body bytes, then hold (-1 none) */
    int64_t bytes_per_s; /* throttle the body to this rate (0 none) */
    json_t *applied;     /* array describing what fired, for the ledger */
};

/* Parses one rule (or an array of rules, or {"rules": [...]}) and appends
 * it. Returns DBL_OK or DBL_ERR with a message in errstr. Thread-safe. */
int dbl_fault_add(json_t *spec, char *errstr, size_t errstr_size);
/* Drops every rule. Thread-safe. */
void dbl_fault_reset(void);
/* The rules with their remaining counts and how often each fired; the
 * caller owns the result. */
json_t *dbl_fault_list(void);
/* Decides the faults for a request; fills *out (whose applied array the
 * caller releases with dbl_faults_clear). */
void dbl_fault_pick(const char *method, const char *path,
                    struct dbl_faults *out);
void dbl_faults_clear(struct dbl_faults *f);
void dbl_fault_seed(uint64_t seed);
void dbl_fault_init(void);
void dbl_fault_destroy(void);

/* ---- a request in progress (double.c) ---- */

struct dbl_call {
    struct MHD_Connection *conn;
    const char *method; /* borrowed from libmicrohttpd for the request */
    const char *path;   /* the decoded path, without the query */
    char *body;         /* the request body, NUL-terminated */
    size_t body_len;
    size_t body_cap;
    int control; /* a /_double/ endpoint: no faults, no ledger */
    int too_large;
    int64_t start_ms;
    int in_flight;        /* API requests in flight when this one started */
    int counted;          /* this call is in the in-flight count */
    int delay_served;     /* the injected delay has been waited out */
    uint64_t release_gen; /* a release after arrival ends its delay */
    struct dbl_faults faults;
    json_t *entry; /* the ledger line the handler fills in */

    /* The answer, set by the handler. */
    int status; /* an HTTP status, or DBL_CLOSE */
    char *resp; /* owned; NULL for an empty body */
    size_t resp_len;
    const char *content_type;
    const char *hdr_name[DBL_MAX_HEADERS];
    char *hdr_value[DBL_MAX_HEADERS]; /* owned */
    int nhdr;
    /* A prepared response instead of resp (storage's streamed bodies);
     * owned until the core queues it. */
    struct MHD_Response *stream;
};

/* The handler's answer: status and a JSON body (stolen). */
void dbl_reply_json(struct dbl_call *call, int status, json_t *body);
/* The handler's answer with a body copied from a buffer. */
void dbl_reply_text(struct dbl_call *call, int status, const char *ctype,
                    const char *text, size_t len);
/* Adds a response header (the value is copied). */
void dbl_reply_header(struct dbl_call *call, const char *name, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));
/* Waits out the injected delay, if any and not yet served. A personality
 * calls it where "the work" happens (Stripe: after claiming the
 * idempotency key, so a slow request is visibly in flight); the core
 * calls it before answering otherwise. */
void dbl_call_delay(struct dbl_call *call);
/* A request header, or NULL. */
const char *dbl_header(struct dbl_call *call, const char *name);
/* A query argument, or NULL. */
const char *dbl_query(struct dbl_call *call, const char *name);
/* The query arguments as a JSON object (skipping `skip`, may be NULL). */
json_t *dbl_query_json(struct dbl_call *call, const char *skip);

/* ---- services of the core ---- */

/* Wall-clock milliseconds. */
int64_t dbl_now_ms(void);
/* The double's own clock: wall clock plus what /_double/clock advanced. */
int64_t dbl_clock_ms(void);
/* Sleeps ms; returns DBL_OK then, or DBL_ERR early when the double is
 * stopping or a test released every wait (POST /_double/release). */
int dbl_sleep_ms(int64_t ms);
/* The same, also cut short by a release since `gen` was read. */
int dbl_sleep_since(int64_t ms, uint64_t gen);
/* Ends every dbl_sleep_ms in progress and every stalled download. */
void dbl_release(void);
/* Changes with each release: a long wait compares it. */
uint64_t dbl_release_gen(void);
/* Nonzero once SIGTERM arrived. */
int dbl_stopping(void);
/* A random-looking identifier: prefix followed by n characters [0-9A-Za-z].
 * Thread-safe; the sequence follows from --seed. */
void dbl_make_id(char *out, size_t out_size, const char *prefix, int n);
/* The expected API key, or NULL when none is required. */
const char *dbl_key(void);
/* Decodes application/x-www-form-urlencoded text in place ('+' is a space);
 * returns the new length. */
size_t dbl_form_unescape(char *s);
/* One logfmt line to stderr. Never pass a secret. */
void dbl_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- a string-keyed hash map (double.c) ---- */

struct dbl_map;
struct dbl_map *dbl_map_new(void);
/* Frees the map; free_value (may be NULL) is called on each value. */
void dbl_map_destroy(struct dbl_map *map, void (*free_value)(void *));
void *dbl_map_get(const struct dbl_map *map, const char *key);
/* Sets key (copied) to value; returns the previous value or NULL. */
void *dbl_map_put(struct dbl_map *map, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *dbl_map_del(struct dbl_map *map, const char *key);
size_t dbl_map_size(const struct dbl_map *map);

/* ---- core internals (double.c, ledger.c, util.c) ---- */

extern const struct dbl_personality *dbl_pers; /* the one running */
int dbl_ledger_open(const char *path);
void dbl_ledger_close(void);
/* Writes the call's ledger line and counts it in the statistics. */
void dbl_ledger_write(struct dbl_call *call);
/* Counts a request in flight; returns the count with it. */
int dbl_in_flight_enter(void);
void dbl_in_flight_leave(void);
/* Answers a /_double/ request. */
void dbl_control(struct dbl_call *call);
void dbl_set_seed(uint64_t seed);

/* ---- personalities ---- */

struct dbl_personality {
    const char *name;
    const char *key_env; /* environment variable holding the key */
    const char *usage;   /* its own options, for --help */
    /* An option the core does not know: returns 1 if consumed (with its
     * argument), 0 if unknown, DBL_ERR on a bad value. */
    int (*option)(const char *name, const char *value, char *errstr,
                  size_t errstr_size);
    /* After the options: loads files, checks settings. */
    int (*start)(char *errstr, size_t errstr_size);
    /* An API request. Sets the answer on call. */
    void (*handle)(struct dbl_call *call);
    /* A /_double/<name>/... control request; `what` is the part after it.
     * Returns 1 if handled. */
    int (*control)(struct dbl_call *call, const char *what, json_t *body);
    /* The answer for an injected status fault (429, 500, 503). */
    void (*fault_reply)(struct dbl_call *call, int status, int retry_after);
    /* Extra fields for /_double/stats (the caller owns the result). */
    json_t *(*stats)(void);
    void (*destroy)(void);
};

extern const struct dbl_personality dbl_stripe;
extern const struct dbl_personality dbl_millionverifier;
extern const struct dbl_personality dbl_storage;

#endif
