/*
 * logical.c - Avro logical type checks (see logical.h).
 *
 * The walk follows the schema's JSON, not avro-c's parsed schema: avro-c
 * keeps no logicalType. It resolves named types by searching the schema
 * for their definition (schemas are small; nothing is allocated), and picks
 * a union's branch the way the codec does (the Avro JSON form {"long": 1}
 * by name, else the first branch that can hold the value), so the value it
 * checks is the one that gets encoded. It checks values only: a schema
 * whose logical type is invalid (a decimal without a precision) is, as the
 * Avro specification says, treated as its base type.
 */
#include "logical.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

#define MAX_DEPTH 64

/* Years 0001-9999 (what RFC 3339 and Postgres' to_char can write). */
#define MIN_DAY       (-719162LL) /* 0001-01-01 */
#define MAX_DAY       2932896LL   /* 9999-12-31 */
#define MIN_SECOND    (MIN_DAY * 86400)
#define MAX_SECOND    (MAX_DAY * 86400 + 86399)
#define DAY_MILLIS    86400000LL
#define DAY_MICROS    86400000000LL
#define SHOWN_MAX     64   /* characters of a bad value quoted in an error */
#define DECIMAL_BYTES 1024 /* beyond this, digits are estimated */

struct walk {
    const json_t *root;
    char *errstr;
    size_t errstr_size;
};

static int check(struct walk *w, const json_t *sch, const char *ns,
                 const json_t *v, const char *path, int depth);

static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};

static int is_primitive(const char *name)
{
    for (size_t i = 0; i < CV_ARRAY_SIZE(primitives); i++)
        if (strcmp(name, primitives[i]) == 0)
            return 1;
    return 0;
}

/* The full name of a named type's definition, in its namespace ns. */
static void full_name(char *buf, size_t size, const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns)
        snprintf(buf, size, "%s", name);
    else
        snprintf(buf, size, "%s.%s", ns, name);
}

/*
 * The namespace that names inside the named type sch live in. A dotted
 * name carries its own, which is not kept (NULL): references inside it
 * then resolve by their short name (see resolve).
 */
static const char *inner_ns(const json_t *sch, const char *ns)
{
    const char *name = json_string_value(json_object_get(sch, "name"));
    const char *own = json_string_value(json_object_get(sch, "namespace"));

    if (name && strchr(name, '.'))
        return NULL;
    return own ? own : ns;
}

/* The short name of a (possibly dotted) name. */
static const char *short_name(const char *name)
{
    const char *dot = strrchr(name, '.');

    return dot ? dot + 1 : name;
}

/*
 * Searches sch (in namespace ns) for the definition of the named type
 * want: a full name, or with by_short a short one. Returns it, with the
 * namespace of the names inside it in *def_ns.
 */
static const json_t *find_named(const json_t *sch, const char *ns,
                                const char *want, int by_short,
                                const char **def_ns, int depth)
{
    static const char *const keys[] = {"fields", "type", "items", "values"};
    const json_t *found = NULL, *item;
    const char *name;
    char full[512];
    size_t i;

    if (depth > MAX_DEPTH)
        return NULL;
    if (json_is_array(sch)) {
        json_array_foreach(sch, i, item)
        {
            found = find_named(item, ns, want, by_short, def_ns, depth + 1);
            if (found)
                return found;
        }
        return NULL;
    }
    if (!json_is_object(sch))
        return NULL;
    name = json_string_value(json_object_get(sch, "name"));
    if (name && json_is_string(json_object_get(sch, "type"))) {
        const char *own = json_string_value(json_object_get(sch, "namespace"));
        full_name(full, sizeof(full), name, own ? own : ns);
        if (strcmp(by_short ? short_name(full) : full, want) == 0) {
            *def_ns = inner_ns(sch, ns);
            return sch;
        }
        ns = inner_ns(sch, ns);
    }
    for (i = 0; i < CV_ARRAY_SIZE(keys) && !found; i++)
        found = find_named(json_object_get(sch, keys[i]), ns, want, by_short,
                           def_ns, depth + 1);
    return found;
}

/*
 * Resolves a schema to what it is: a primitive name (a string), or an
 * object with a string "type". Named references are looked up (*ns
 * becomes the definition's); {"type": {...}} wrappers are unwrapped.
 * Returns NULL if it cannot be resolved.
 */
static const json_t *resolve(struct walk *w, const json_t *sch, const char **ns)
{
    char full[512];

    for (int hops = 0; hops < MAX_DEPTH; hops++) {
        if (json_is_string(sch)) {
            const char *name = json_string_value(sch);
            if (is_primitive(name))
                return sch;
            full_name(full, sizeof(full), name, *ns);
            sch = find_named(w->root, NULL, full, 0, ns, 0);
            if (!sch) /* the null namespace, or inside a dotted name */
                sch = find_named(w->root, NULL, short_name(name), 1, ns, 0);
            if (!sch)
                return NULL;
            continue;
        }
        if (!json_is_object(sch))
            return sch; /* a union (array) or nothing */
        if (json_is_string(json_object_get(sch, "type")))
            return sch;
        sch = json_object_get(sch, "type");
    }
    return NULL;
}

/* The base type's name: "string", "record", "fixed", ... or "union". */
static const char *base_type(const json_t *sch)
{
    if (json_is_string(sch))
        return json_string_value(sch);
    if (json_is_array(sch))
        return "union";
    return json_string_value(json_object_get(sch, "type"));
}

static int fail(struct walk *w, const char *fmt, ...) CV_PRINTF(2, 3);
static int fail(struct walk *w, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(w->errstr, w->errstr_size, fmt, ap);
    va_end(ap);
    return CV_ERR;
}

int cv_logical_is_uuid(const char *s, size_t len)
{
    if (len != 36)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

int cv_logical_decimal_digits(const unsigned char *buf, size_t n)
{
    unsigned char mag[DECIMAL_BYTES];
    size_t len, start = 0;
    int neg = n && (buf[0] & 0x80), digits = 0;

    /* the magnitude, without leading zero bytes */
    while (start < n && buf[start] == (neg ? 0xff : 0x00))
        start++;
    if (neg && (start == n || !(buf[start] & 0x80)))
        start = start ? start - 1 : 0; /* keep the sign-carrying byte */
    len = n - start;
    if (len == 0)
        return 1;
    if (len > DECIMAL_BYTES) /* a lower bound is enough to refuse it */
        return (int)((double)(len - 1) * 8 * log10(2.0)) + 1;
    memcpy(mag, buf + start, len);
    if (neg) { /* two's complement: invert and add one */
        int carry = 1;
        for (size_t i = len; i-- > 0;) {
            int b = (unsigned char)~mag[i] + carry;
            mag[i] = (unsigned char)b;
            carry = b >> 8;
        }
    }
    for (;;) {
        unsigned rem = 0;
        int nonzero = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned cur = rem << 8 | mag[i];
            mag[i] = (unsigned char)(cur / 10);
            rem = cur % 10;
            nonzero |= mag[i] != 0;
        }
        digits++;
        if (!nonzero)
            return digits;
    }
}

/* Quotes a bad string value for an error: at most SHOWN_MAX characters. */
static void shown(char *buf, size_t size, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);

    if (len > SHOWN_MAX)
        snprintf(buf, size, "\"%.*s...\" (%zu characters)", SHOWN_MAX, s, len);
    else
        snprintf(buf, size, "\"%s\"", s);
}

/* The bytes a JSON string stands for (code points U+0000..U+00FF). */
static int json_bytes(const json_t *v, unsigned char *out, size_t size,
                      size_t *n)
{
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t len = json_string_length(v), k = 0;

    for (size_t i = 0; i < len && k < size; i++, k++) {
        if (s[i] < 0x80) {
            out[k] = s[i];
        } else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < len) {
            out[k] = (unsigned char)((s[i] & 0x03) << 6 | (s[i + 1] & 0x3f));
            i++;
        } else {
            return CV_ERR; /* the codec refuses these first */
        }
    }
    *n = k;
    return CV_OK;
}

static int check_decimal(struct walk *w, const json_t *sch, const json_t *v,
                         const char *path)
{
    unsigned char buf[DECIMAL_BYTES];
    const json_t *p = json_object_get(sch, "precision");
    const json_t *s = json_object_get(sch, "scale");
    json_int_t precision = json_integer_value(p);
    json_int_t scale = s ? json_integer_value(s) : 0;
    size_t n;
    int digits;

    /* an invalid decimal is its base type (the specification says so) */
    if (!json_is_integer(p) || precision < 1 || (s && !json_is_integer(s)) ||
        scale < 0 || scale > precision || !json_is_string(v))
        return CV_OK;
    /* a value this long has more digits than any precision allows */
    if (json_string_length(v) > DECIMAL_BYTES)
        return fail(w,
                    "field '%s': expected decimal(%lld,%lld) (logicalType "
                    "decimal: at most %lld digits), got more than %d bytes",
                    path, (long long)precision, (long long)scale,
                    (long long)precision, DECIMAL_BYTES / 2);
    if (json_bytes(v, buf, sizeof(buf), &n) != CV_OK)
        return CV_OK;
    digits = cv_logical_decimal_digits(buf, n);
    if (digits > precision)
        return fail(w,
                    "field '%s': expected decimal(%lld,%lld) (logicalType "
                    "decimal: the unscaled value has at most %lld digits, "
                    "written as its two's-complement big-endian bytes), got "
                    "%d digits",
                    path, (long long)precision, (long long)scale,
                    (long long)precision, digits);
    return CV_OK;
}

/* Checks v against sch's logicalType, if sch has one its base type takes. */
static int check_logical(struct walk *w, const json_t *sch, const json_t *v,
                         const char *path)
{
    const char *lt = json_string_value(json_object_get(sch, "logicalType"));
    const char *type = base_type(sch);
    char buf[SHOWN_MAX + 64];
    long long x, lo, hi;
    const char *what;

    if (!lt || !type)
        return CV_OK;
    if (strcmp(lt, "uuid") == 0 && strcmp(type, "string") == 0) {
        if (!json_is_string(v) ||
            cv_logical_is_uuid(json_string_value(v), json_string_length(v)))
            return CV_OK;
        shown(buf, sizeof(buf), v);
        return fail(w,
                    "field '%s': expected a uuid (logicalType uuid: 32 hex "
                    "digits as 8-4-4-4-12, e.g. "
                    "123e4567-e89b-42d3-a456-426614174000), got %s",
                    path, buf);
    }
    if (strcmp(lt, "decimal") == 0 &&
        (strcmp(type, "bytes") == 0 || strcmp(type, "fixed") == 0))
        return check_decimal(w, sch, v, path);
    if (!json_is_integer(v))
        return CV_OK;
    x = (long long)json_integer_value(v);
    if (strcmp(lt, "date") == 0 && strcmp(type, "int") == 0) {
        lo = MIN_DAY, hi = MAX_DAY;
        what = "days since 1970-01-01";
    } else if (strcmp(lt, "time-millis") == 0 && strcmp(type, "int") == 0) {
        lo = 0, hi = DAY_MILLIS - 1;
        what = "milliseconds after midnight";
    } else if (strcmp(lt, "time-micros") == 0 && strcmp(type, "long") == 0) {
        lo = 0, hi = DAY_MICROS - 1;
        what = "microseconds after midnight";
    } else if ((strcmp(lt, "timestamp-millis") == 0 ||
                strcmp(lt, "local-timestamp-millis") == 0) &&
               strcmp(type, "long") == 0) {
        lo = MIN_SECOND * 1000, hi = MAX_SECOND * 1000 + 999;
        what = "milliseconds since 1970-01-01T00:00:00";
    } else if ((strcmp(lt, "timestamp-micros") == 0 ||
                strcmp(lt, "local-timestamp-micros") == 0) &&
               strcmp(type, "long") == 0) {
        lo = MIN_SECOND * 1000000, hi = MAX_SECOND * 1000000 + 999999;
        what = "microseconds since 1970-01-01T00:00:00";
    } else {
        return CV_OK;
    }
    if (x >= lo && x <= hi)
        return CV_OK;
    return fail(w,
                "field '%s': expected a %s (logicalType %s: %s, %lld..%lld%s), "
                "got %lld",
                path, lt, lt, what, lo, hi,
                strncmp(lt, "time-", 5) == 0 ? "" : ", years 0001-9999", x);
}

static int child_path(char *buf, size_t size, const char *path,
                      const char *name, long index)
{
    if (name)
        snprintf(buf, size, "%s%s%s", path, *path ? "." : "", name);
    else
        snprintf(buf, size, "%s[%ld]", path, index);
    return 0;
}

/* Whether a union branch can take v, as the codec's branch_fits decides. */
static int branch_fits(struct walk *w, const json_t *b, const char *ns,
                       const json_t *v)
{
    const char *type;
    const json_t *sym;
    size_t i;

    b = resolve(w, b, &ns);
    type = b ? base_type(b) : NULL;
    if (!type)
        return 0;
    if (strcmp(type, "null") == 0)
        return json_is_null(v);
    if (strcmp(type, "string") == 0 || strcmp(type, "bytes") == 0 ||
        strcmp(type, "fixed") == 0)
        return json_is_string(v);
    if (strcmp(type, "enum") == 0) {
        json_array_foreach(json_object_get(b, "symbols"), i, sym)
        {
            if (json_is_string(v) &&
                strcmp(json_string_value(sym), json_string_value(v)) == 0)
                return 1;
        }
        return 0;
    }
    if (strcmp(type, "int") == 0)
        return json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
               json_integer_value(v) <= INT32_MAX;
    if (strcmp(type, "long") == 0)
        return json_is_integer(v);
    if (strcmp(type, "float") == 0 || strcmp(type, "double") == 0)
        return json_is_number(v) || json_is_string(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    return (strcmp(type, "map") == 0 || strcmp(type, "record") == 0 ||
            strcmp(type, "error") == 0) &&
           json_is_object(v);
}

/* Does key name branch b, as Avro JSON writes a union value? */
static int branch_named(struct walk *w, const json_t *b, const char *ns,
                        const char *key)
{
    const char *name, *type;
    char full[512];

    b = resolve(w, b, &ns);
    type = b ? base_type(b) : NULL;
    if (!type)
        return 0;
    name = json_string_value(json_object_get(b, "name"));
    if (name && (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 ||
                 strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0)) {
        const char *own = json_string_value(json_object_get(b, "namespace"));
        full_name(full, sizeof(full), name, own ? own : ns);
        return strcmp(key, full) == 0 || strcmp(key, short_name(name)) == 0;
    }
    return strcmp(key, type) == 0;
}

static int check_union(struct walk *w, const json_t *sch, const char *ns,
                       const json_t *v, const char *path, int depth)
{
    const json_t *b;
    size_t i;

    if (json_is_object(v) && json_object_size(v) == 1) {
        const char *key = json_object_iter_key(json_object_iter((json_t *)v));
        json_array_foreach(sch, i, b)
        {
            if (strcmp(base_type(b) ? base_type(b) : "", "null") != 0 &&
                branch_named(w, b, ns, key))
                return check(w, b, ns, json_object_get(v, key), path,
                             depth + 1);
        }
    }
    json_array_foreach(sch, i, b)
    {
        if (branch_fits(w, b, ns, v))
            return check(w, b, ns, v, path, depth + 1);
    }
    return CV_OK;
}

static int check(struct walk *w, const json_t *sch, const char *ns,
                 const json_t *v, const char *path, int depth)
{
    const char *type;
    const json_t *item, *field;
    const char *key;
    char sub[512];
    size_t i;

    if (depth > MAX_DEPTH)
        return CV_OK;
    sch = resolve(w, sch, &ns);
    type = sch ? base_type(sch) : NULL;
    if (!type)
        return CV_OK;
    if (strcmp(type, "union") == 0)
        return check_union(w, sch, ns, v, path, depth);
    if (!json_is_object(sch))
        return CV_OK; /* a primitive name: no logical type */
    if (json_object_get(sch, "logicalType"))
        return check_logical(w, sch, v, path);
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
        if (!json_is_object(v))
            return CV_OK;
        ns = inner_ns(sch, ns);
        json_array_foreach(json_object_get(sch, "fields"), i, field)
        {
            const char *fname =
                json_string_value(json_object_get(field, "name"));
            const json_t *fv = fname ? json_object_get(v, fname) : NULL;
            if (!fv)
                continue;
            child_path(sub, sizeof(sub), path, fname, 0);
            if (check(w, json_object_get(field, "type"), ns, fv, sub,
                      depth + 1) != CV_OK)
                return CV_ERR;
        }
    } else if (strcmp(type, "array") == 0 && json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            child_path(sub, sizeof(sub), path, NULL, (long)i);
            if (check(w, json_object_get(sch, "items"), ns, item, sub,
                      depth + 1) != CV_OK)
                return CV_ERR;
        }
    } else if (strcmp(type, "map") == 0 && json_is_object(v)) {
        json_object_foreach((json_t *)v, key, item)
        {
            child_path(sub, sizeof(sub), path, key, 0);
            if (check(w, json_object_get(sch, "values"), ns, item, sub,
                      depth + 1) != CV_OK)
                return CV_ERR;
        }
    }
    return CV_OK;
}

int cv_logical_check(const json_t *schema, const json_t *value, char *errstr,
                     size_t errstr_size)
{
    struct walk w = {schema, errstr, errstr_size};

    return check(&w, schema, NULL, value, "", 0);
}
