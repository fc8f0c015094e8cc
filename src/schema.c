/*
 * schema.c - the local schema catalogue: the .avsc files in schemas/ and
 * ids.cfg.
 *
 * Loading reads every *.avsc in a directory (in name order, so errors come
 * out the same way every time), parses it twice - once with jansson, which
 * gives line and column for syntax errors and keeps the field defaults that
 * avro-c throws away, and once with avro-c for the schema itself - and then
 * reads ids.cfg, which maps full record names to the stable integer ids that
 * go on the wire. Every rule the ids file must follow (each schema has one
 * id, no id twice, no id for a schema that has no file) is checked here, so
 * a bad catalogue stops the process at startup instead of dead-lettering
 * events later.
 *
 * A loaded catalogue is immutable: lookups by id or name need no locking and
 * the avro value classes it holds may be used from any thread. It does not
 * talk to a schema registry; that client, when it comes, supplies ids and
 * schemas through the same struct cv_schema.
 */
#include "schema.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* No real schema comes close; a bigger file is a mistake, not a schema. */
#define SCHEMA_FILE_MAX (1024 * 1024)

/*
 * The public struct plus what only this module needs. Every struct cv_schema
 * handed out is the first member of one of these, which is how
 * cv_schema_field_default() finds the defaults from a bare schema pointer.
 */
struct schema_entry {
    struct cv_schema pub;
    json_t *defaults; /* {"record full name": {"field": default}} */
    json_t *json;     /* the .avsc as parsed (logical types: logical.c) */
    int id_line;      /* line of its entry in ids.cfg, 0 if none */
};

struct cv_catalogue {
    struct schema_entry **by_id;   /* sorted by id */
    struct schema_entry **by_name; /* the same entries, sorted by name */
    size_t count;
};

static void entry_destroy(struct schema_entry *ent)
{
    if (!ent)
        return;
    if (ent->pub.iface)
        avro_value_iface_decref(ent->pub.iface);
    if (ent->pub.avro)
        avro_schema_decref(ent->pub.avro);
    json_decref(ent->defaults);
    json_decref(ent->json);
    free(ent->pub.name);
    free(ent->pub.path);
    free(ent);
}

void cv_catalogue_destroy(struct cv_catalogue *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->count; i++)
        entry_destroy(cat->by_id[i]);
    free(cat->by_id);
    free(cat->by_name);
    free(cat);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the malloc'd contents of path (NUL-terminated) or NULL. */
static char *read_file(const char *path, size_t *len, char *errstr,
                       size_t errstr_size)
{
    FILE *fp = NULL;
    char *buf = NULL;
    struct stat st;

    fp = fopen(path, "rb");
    if (!fp) {
        cv_err(errstr, errstr_size, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fileno(fp), &st) != 0) {
        cv_err(errstr, errstr_size, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (st.st_size > SCHEMA_FILE_MAX) {
        cv_err(errstr, errstr_size, "%s: larger than %d bytes", path,
               SCHEMA_FILE_MAX);
        goto fail;
    }
    buf = cv_malloc((size_t)st.st_size + 1);
    *len = fread(buf, 1, (size_t)st.st_size, fp);
    if (ferror(fp)) {
        cv_err(errstr, errstr_size, "%s: read error", path);
        goto fail;
    }
    buf[*len] = '\0';
    fclose(fp);
    return buf;

fail:
    if (fp)
        fclose(fp);
    free(buf);
    return NULL;
}

/* Full name of a named type declared as name within namespace ns. */
static char *full_name(const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns)
        return cv_strdup(name);
    return cv_asprintf("%s.%s", ns, name);
}

/*
 * Walks a schema's JSON and records, for every record type declared in it
 * (nested ones too), the fields that declare a default. avro-c parses
 * "default" but does not keep it, and the encoder needs it for fields a
 * producer leaves out. The JSON already passed avro-c, so its shape is
 * trusted here; anything unexpected is simply skipped.
 */
static void collect_defaults(json_t *node, const char *ns, json_t *out)
{
    json_t *type, *fields, *field, *item;
    const char *name, *space;
    char *fname = NULL, *inner_ns = NULL;
    size_t i;

    if (json_is_array(node)) {
        json_array_foreach(node, i, item)
        {
            collect_defaults(item, ns, out);
        }
        return;
    }
    if (!json_is_object(node))
        return;
    type = json_object_get(node, "type");
    if (!json_is_string(type)) {
        collect_defaults(type, ns, out);
        return;
    }
    if (strcmp(json_string_value(type), "array") == 0) {
        collect_defaults(json_object_get(node, "items"), ns, out);
        return;
    }
    if (strcmp(json_string_value(type), "map") == 0) {
        collect_defaults(json_object_get(node, "values"), ns, out);
        return;
    }
    if (strcmp(json_string_value(type), "record") != 0 &&
        strcmp(json_string_value(type), "error") != 0)
        return;

    name = json_string_value(json_object_get(node, "name"));
    if (!name)
        return;
    space = json_string_value(json_object_get(node, "namespace"));
    if (space)
        ns = space;
    fname = full_name(name, ns);
    /* Types declared inside take the record's namespace. */
    if (strrchr(fname, '.'))
        inner_ns = cv_strndup(fname, (size_t)(strrchr(fname, '.') - fname));

    fields = json_object_get(node, "fields");
    json_array_foreach(fields, i, field)
    {
        json_t *dflt = json_object_get(field, "default");
        const char *field_name =
            json_string_value(json_object_get(field, "name"));
        if (dflt && field_name) {
            json_t *rec = json_object_get(out, fname);
            if (!rec) {
                rec = json_object();
                json_object_set_new(out, fname, rec);
            }
            json_object_set(rec, field_name, dflt);
        }
        collect_defaults(json_object_get(field, "type"), inner_ns, out);
    }
    free(fname);
    free(inner_ns);
}

/* Parses one .avsc into a new entry (id not yet known). */
static struct schema_entry *load_schema(const char *path, char *errstr,
                                        size_t errstr_size)
{
    struct schema_entry *ent = NULL;
    char *text = NULL;
    size_t len = 0;
    json_t *json = NULL;
    json_error_t jerr;
    avro_schema_t avro = NULL;

    text = read_file(path, &len, errstr, errstr_size);
    if (!text)
        goto fail;
    /* jansson first: it knows where in the file a syntax error is. */
    json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json) {
        cv_err(errstr, errstr_size, "%s:%d:%d: %s", path, jerr.line,
               jerr.column, jerr.text);
        goto fail;
    }
    if (avro_schema_from_json_length(text, len, &avro) != 0) {
        cv_err(errstr, errstr_size, "%s: %s", path, avro_strerror());
        avro = NULL;
        goto fail;
    }
    if (!is_avro_record(avro)) {
        cv_err(errstr, errstr_size, "%s: the top-level type is not a record",
               path);
        goto fail;
    }

    ent = cv_calloc(1, sizeof(*ent));
    ent->pub.path = cv_strdup(path);
    ent->pub.name =
        full_name(avro_schema_name(avro), avro_schema_namespace(avro));
    ent->pub.avro = avro;
    avro = NULL;
    ent->pub.iface = avro_generic_class_from_schema(ent->pub.avro);
    if (!ent->pub.iface) {
        cv_err(errstr, errstr_size, "%s: %s", path, avro_strerror());
        goto fail;
    }
    ent->defaults = json_object();
    collect_defaults(json, NULL, ent->defaults);
    ent->json = json;
    free(text);
    return ent;

fail:
    entry_destroy(ent);
    if (avro)
        avro_schema_decref(avro);
    json_decref(json);
    free(text);
    return NULL;
}

static int cmp_entry_id(const void *a, const void *b)
{
    const struct schema_entry *x = *(struct schema_entry *const *)a;
    const struct schema_entry *y = *(struct schema_entry *const *)b;
    return (x->pub.id > y->pub.id) - (x->pub.id < y->pub.id);
}

static int cmp_entry_name(const void *a, const void *b)
{
    const struct schema_entry *x = *(struct schema_entry *const *)a;
    const struct schema_entry *y = *(struct schema_entry *const *)b;
    return strcmp(x->pub.name, y->pub.name);
}

static struct schema_entry *find_name(struct cv_catalogue *cat,
                                      const char *name)
{
    for (size_t i = 0; i < cat->count; i++)
        if (strcmp(cat->by_id[i]->pub.name, name) == 0)
            return cat->by_id[i];
    return NULL;
}

/*
 * Reads ids.cfg and assigns ids. Everything is checked against what the
 * .avsc files declared; errors carry the file and line of the entry.
 */
static int load_ids(struct cv_catalogue *cat, const char *path, char *errstr,
                    size_t errstr_size)
{
    config_t cfg;
    config_setting_t *root, *ids, *entry, *member;
    int rc = CV_ERR, n, i, j, m;

    config_init(&cfg);
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            cv_err(errstr, errstr_size, "%s: cannot read: %s", path,
                   strerror(errno));
        else
            cv_err(errstr, errstr_size, "%s:%d: %s", path,
                   config_error_line(&cfg), config_error_text(&cfg));
        goto out;
    }
    root = config_root_setting(&cfg);
    for (i = 0; i < config_setting_length(root); i++) {
        member = config_setting_get_elem(root, (unsigned)i);
        if (strcmp(config_setting_name(member), "ids") != 0) {
            cv_err(errstr, errstr_size, "%s:%d: unknown setting '%s'", path,
                   config_setting_source_line(member),
                   config_setting_name(member));
            goto out;
        }
    }
    ids = config_lookup(&cfg, "ids");
    if (!ids || config_setting_type(ids) != CONFIG_TYPE_LIST) {
        cv_err(errstr, errstr_size,
               "%s: needs ids = ( { schema = \"...\"; id = N; }, ... )", path);
        goto out;
    }

    n = config_setting_length(ids);
    for (i = 0; i < n; i++) {
        const char *name = NULL;
        int id = 0, have_id = 0, line;
        struct schema_entry *ent;

        entry = config_setting_get_elem(ids, (unsigned)i);
        line = config_setting_source_line(entry);
        if (!config_setting_is_group(entry)) {
            cv_err(errstr, errstr_size,
                   "%s:%d: entry %d is not a group { schema = ...; id = "
                   "...; }",
                   path, line, i + 1);
            goto out;
        }
        m = config_setting_length(entry);
        for (j = 0; j < m; j++) {
            member = config_setting_get_elem(entry, (unsigned)j);
            const char *key = config_setting_name(member);
            int type = config_setting_type(member);
            line = config_setting_source_line(member);
            if (strcmp(key, "schema") == 0 && type == CONFIG_TYPE_STRING) {
                name = config_setting_get_string(member);
            } else if (strcmp(key, "id") == 0 && type == CONFIG_TYPE_INT) {
                id = config_setting_get_int(member);
                have_id = 1;
            } else if (strcmp(key, "schema") == 0 || strcmp(key, "id") == 0) {
                cv_err(errstr, errstr_size, "%s:%d: '%s' must be %s", path,
                       line, key, key[0] == 's' ? "a string" : "an integer");
                goto out;
            } else {
                cv_err(errstr, errstr_size, "%s:%d: unknown key '%s'", path,
                       line, key);
                goto out;
            }
        }
        line = config_setting_source_line(entry);
        if (!name || !have_id) {
            cv_err(errstr, errstr_size, "%s:%d: entry without %s", path, line,
                   name ? "id" : "schema");
            goto out;
        }
        if (id <= 0) {
            cv_err(errstr, errstr_size,
                   "%s:%d: id %d for %s: ids are positive integers", path, line,
                   id, name);
            goto out;
        }
        for (size_t k = 0; k < cat->count; k++) {
            if (cat->by_id[k]->id_line && cat->by_id[k]->pub.id == id) {
                cv_err(errstr, errstr_size,
                       "%s:%d: id %d used twice (already %s at line %d)", path,
                       line, id, cat->by_id[k]->pub.name,
                       cat->by_id[k]->id_line);
                goto out;
            }
        }
        ent = find_name(cat, name);
        if (!ent) {
            cv_err(errstr, errstr_size,
                   "%s:%d: id %d is for %s, but no .avsc defines it (old "
                   "schemas must keep their file)",
                   path, line, id, name);
            goto out;
        }
        if (ent->id_line) {
            cv_err(errstr, errstr_size,
                   "%s:%d: %s listed twice (already id %d at line %d)", path,
                   line, name, ent->pub.id, ent->id_line);
            goto out;
        }
        ent->pub.id = id;
        ent->id_line = line;
    }

    for (size_t k = 0; k < cat->count; k++) {
        if (!cat->by_id[k]->id_line) {
            cv_err(errstr, errstr_size, "%s: schema %s has no id in %s",
                   cat->by_id[k]->pub.path, cat->by_id[k]->pub.name, path);
            goto out;
        }
    }
    rc = CV_OK;

out:
    config_destroy(&cfg);
    return rc;
}

struct cv_catalogue *cv_catalogue_load(const char *dir, char *errstr,
                                       size_t errstr_size)
{
    struct cv_catalogue *cat = NULL;
    DIR *dp = NULL;
    struct dirent *de;
    char **names = NULL;
    size_t nnames = 0, cap = 0;
    char *path = NULL;

    dp = opendir(dir);
    if (!dp) {
        cv_err(errstr, errstr_size, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".avsc"))
            continue;
        if (nnames == cap) {
            cap = cap ? cap * 2 : 16;
            names = cv_realloc(names, cap * sizeof(*names));
        }
        names[nnames++] = cv_strdup(de->d_name);
    }
    closedir(dp);
    dp = NULL;
    if (nnames == 0) {
        cv_err(errstr, errstr_size, "%s: no *.avsc files", dir);
        goto fail;
    }
    qsort(names, nnames, sizeof(*names), cmp_str);

    cat = cv_calloc(1, sizeof(*cat));
    cat->by_id = cv_calloc(nnames, sizeof(*cat->by_id));
    for (size_t i = 0; i < nnames; i++) {
        struct schema_entry *ent, *other;

        path = cv_asprintf("%s/%s", dir, names[i]);
        ent = load_schema(path, errstr, errstr_size);
        if (!ent)
            goto fail;
        other = find_name(cat, ent->pub.name);
        if (other) {
            cv_err(errstr, errstr_size,
                   "%s: schema %s is already defined in %s", path,
                   ent->pub.name, other->pub.path);
            entry_destroy(ent);
            goto fail;
        }
        cat->by_id[cat->count++] = ent;
        free(path);
        path = NULL;
    }

    path = cv_asprintf("%s/ids.cfg", dir);
    if (load_ids(cat, path, errstr, errstr_size) != CV_OK)
        goto fail;

    qsort(cat->by_id, cat->count, sizeof(*cat->by_id), cmp_entry_id);
    cat->by_name = cv_calloc(cat->count, sizeof(*cat->by_name));
    memcpy(cat->by_name, cat->by_id, cat->count * sizeof(*cat->by_name));
    qsort(cat->by_name, cat->count, sizeof(*cat->by_name), cmp_entry_name);

    free(path);
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    return cat;

fail:
    if (dp)
        closedir(dp);
    free(path);
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    cv_catalogue_destroy(cat);
    return NULL;
}

const struct cv_schema *cv_catalogue_by_id(const struct cv_catalogue *cat,
                                           int id)
{
    size_t lo = 0, hi = cat->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int got = cat->by_id[mid]->pub.id;
        if (got == id)
            return &cat->by_id[mid]->pub;
        if (got < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct cv_schema *cv_catalogue_by_name(const struct cv_catalogue *cat,
                                             const char *name)
{
    size_t lo = 0, hi = cat->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(cat->by_name[mid]->pub.name, name);
        if (c == 0)
            return &cat->by_name[mid]->pub;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t cv_catalogue_count(const struct cv_catalogue *cat)
{
    return cat->count;
}

const struct cv_schema *cv_catalogue_at(const struct cv_catalogue *cat,
                                        size_t i)
{
    return i < cat->count ? &cat->by_id[i]->pub : NULL;
}

const struct json_t *cv_schema_field_default(const struct cv_schema *schema,
                                             const char *record,
                                             const char *field)
{
    const struct schema_entry *ent = (const struct schema_entry *)schema;

    return json_object_get(json_object_get(ent->defaults, record), field);
}

const struct json_t *cv_schema_json(const struct cv_schema *schema)
{
    return ((const struct schema_entry *)schema)->json;
}
