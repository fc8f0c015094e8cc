/*
 * topology_int.h - the topology's key table (topology_keys.c) as the loader
 * (topology.c) reads it. Not for the rest of the engine, which includes
 * topology.h.
 */
#ifndef CV_TOPOLOGY_INT_H
#define CV_TOPOLOGY_INT_H

#include <stddef.h>

#include <libconfig.h>

#include "topology.h"

/* Kafka's own limit on topic names. */
#define CV_TOPIC_NAME_MAX 249

/* The kinds of group a topology holds. */
enum group {
    G_ROOT, /* the file itself: the lists */
    G_TOPIC,
    G_EVENT,
    G_DOMAIN,
    G_ROUTE,
    G_RETRY,
    G_SCHEDULE,
    G_TARGET,
    G_SETTING,
    G_EMIT,
    G_IMPORT,
};

enum key_type {
    KEY_STRING,  /* char *, non-empty (a key without a member is checked) */
    KEY_INT,     /* int in [min, max] */
    KEY_MS,      /* int64_t in [min, max] */
    KEY_NUMBER,  /* double in [min, max], an integer or a float */
    KEY_BOOL,    /* int, 0 or 1 */
    KEY_ENUM,    /* int: the index of the string in names */
    KEY_TOPICS,  /* char ** with a size_t count: an array of topic names */
    KEY_STRINGS, /* char ** with a size_t count: an array of strings */
    KEY_LIST,    /* an array of structs with a size_t count: ( { }, ... ) */
    KEY_GROUP,   /* a struct member: one group { ... } of kind items */
    KEY_SQL,     /* struct cv_topo_sql * with a size_t count: a string or an
                    array of strings, each with its line */
};

#define KEY_REQUIRED 0x01
#define KEY_TOPIC    0x02 /* a valid Kafka topic name */
#define KEY_NAME     0x04 /* letters, digits, '.', '_', '-': names in ids */

/*
 * Offsets into the group's struct are stored plus one, so that 0 (what a
 * designated initialiser leaves) means "no such member".
 */
struct key_def {
    enum group group;
    const char *name;
    enum key_type type;
    size_t offset; /* of the value, plus one; 0: checked, not kept */
    size_t count;  /* KEY_TOPICS, KEY_LIST: of the size_t count, plus one */
    size_t line;   /* of the int that records the key's line, plus one */
    int flags;
    const char *def_str;      /* KEY_STRING: default, or NULL */
    long long def_int;        /* KEY_INT, KEY_MS, KEY_BOOL, KEY_ENUM */
    double def_num;           /* KEY_NUMBER */
    long long min, max;       /* KEY_INT, KEY_MS, KEY_NUMBER */
    const char *const *names; /* KEY_ENUM: NULL-terminated */
    enum group items;         /* KEY_LIST, KEY_GROUP: their kind */
    const char *desc;
};

struct loader {
    const char *path;
    char *errstr;
    size_t errstr_size;
};

struct group_def {
    const char *id;       /* in key names: "domain.batch_size" */
    const char *kind;     /* in messages: "domain 'leads'" */
    const char *list;     /* ... or "domains[2]" until it has a name */
    const char *name_key; /* the key whose value names one */
    size_t size;          /* of its struct */
    /* a route's retry starts from its domain's */
    void (*inherit)(void *obj, const void *parent);
    /* rules across keys, once every key is read */
    int (*finalize)(struct loader *ld, const config_setting_t *g,
                    const char *what, void *obj);
    /* frees what the table does not know about */
    void (*release)(void *obj);
};

extern const struct key_def cv_topo_keys[];
extern const size_t cv_topo_nkeys;
extern const struct group_def cv_topo_groups[];

/* The member a key describes in obj (offsets are stored plus one). */
static inline void *cv_topo_member(void *obj, size_t at)
{
    return (char *)obj + at - 1;
}

/* Kafka's rule for topic names: 1..249 of [A-Za-z0-9._-], not "." or "..". */
int cv_topo_topic_name_ok(const char *s);

/* "a|b|c" from a NULL-terminated list, for messages. */
void cv_topo_alternatives(const char *const *names, char *buf, size_t size);

#endif
