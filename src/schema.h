/*
 * schema.h - the local schema catalogue: schemas/<name>.avsc with stable ids.
 *
 * Ids are assigned in schemas/ids.cfg (full schema name -> id), append-only:
 * an id is never reused or renumbered, so events already on a topic stay
 * decodable. A changed schema is a new file and a new id; the old one stays.
 * A schema registry client (later) replaces the id source, not this API.
 *
 * Thread-safety: a loaded catalogue is read-only and may be shared by threads.
 */
#ifndef CV_SCHEMA_H
#define CV_SCHEMA_H

#include <avro.h>

#include "common.h"

struct cv_schema {
    int id;
    char *name;                /* full name, e.g. "marketplace.LeadSubmitted" */
    char *path;                /* the .avsc it came from */
    avro_schema_t avro;        /* a record schema */
    avro_value_iface_t *iface; /* generic value class for this schema */
};

struct cv_catalogue;

/*
 * Loads every *.avsc in dir and the ids in dir/ids.cfg. Errors name the file
 * (and line, where the parser gives one): a schema that does not parse, a
 * schema with no id, an id used twice, an id for a missing schema.
 * Returns NULL on error with the reason in errstr.
 */
struct cv_catalogue *cv_catalogue_load(const char *dir, char *errstr,
                                       size_t errstr_size);
void cv_catalogue_destroy(struct cv_catalogue *cat);

const struct cv_schema *cv_catalogue_by_id(const struct cv_catalogue *cat,
                                           int id);
const struct cv_schema *cv_catalogue_by_name(const struct cv_catalogue *cat,
                                             const char *name);
size_t cv_catalogue_count(const struct cv_catalogue *cat);
const struct cv_schema *cv_catalogue_at(const struct cv_catalogue *cat,
                                        size_t i);

/*
 * The default declared in the .avsc for field of the record type named
 * record (a full name: the schema's own record or one declared inside it),
 * as a jansson value, or NULL if that field declares none. avro-c drops
 * defaults when it parses a schema; the encoder needs them for fields a
 * producer leaves out. schema must have come from a catalogue (by_id,
 * by_name, at); the result is borrowed from it. Thread-safe.
 */
struct json_t;
const struct json_t *cv_schema_field_default(const struct cv_schema *schema,
                                             const char *record,
                                             const char *field);

/*
 * The .avsc as jansson parsed it (avro-c drops logicalType; logical.c
 * reads it from here). Same rules as cv_schema_field_default: borrowed,
 * thread-safe.
 */
const struct json_t *cv_schema_json(const struct cv_schema *schema);

#endif
