/*
 * codec.c - Confluent-framed Avro: the consumer's decoder, the producer's
 * encoders (from JSON text and field by field), field getters, and JSON
 * rendering of decoded values.
 *
 * Decoding is the hot path and the part that sees hostile input, so it does
 * not hand the body to avro_value_read(). That function trusts length
 * prefixes (a five-byte body can ask for a multi-gigabyte string), cannot
 * tell whether the record used up the whole body (avro_reader_is_eof() is
 * always false for memory readers), and allocates a fresh buffer for every
 * string it reads. Instead the decoder walks the body itself, one pass,
 * guided by a small tree compiled once per schema: every varint, length,
 * enum index and union branch is checked against the schema and against the
 * bytes that are left before anything is allocated, strings must be UTF-8
 * without NUL (handlers get C strings, Postgres text rejects NUL), and the
 * record must end exactly at the end of the body. Values are stored through
 * the avro_value_t setters into one reused generic value per schema, whose
 * string buffers are reused too, so once buffers have grown to fit the
 * steady state allocates nothing (a union that switches branch, and array
 * items, still go through avro-c's allocator).
 * The fuzz target checks this decoder against avro_value_read() on every
 * input it accepts.
 *
 * Encoding allocates freely: it runs once per emitted event. Errors name the
 * field ("field 'lead_id': expected string, got number") because whoever
 * reads them is fixing a producer.
 *
 * Not here: schema resolution between writer and reader schemas (a consumer
 * reads with the writer's schema, found by id), and any schema registry.
 */
#include "codec.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "logical.h"

/* Avro floats and doubles are little-endian; the decoder copies them. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "codec.c assumes a little-endian target"
#endif

/* Nesting deeper than this in a schema or a value is refused. */
#define MAX_DEPTH 64

/*
 * Array items of a zero-width type (null, a record of nulls) take no bytes,
 * so a few bytes of block count could make the decoder append for ever.
 * A message may hold this many of them in all; every other item costs at
 * least one byte and is bounded by the body's length.
 */
#define ZERO_WIDTH_MAX 65536

/* ------------------------------------------------------------------ */
/* helpers shared by decoding and encoding                             */

static avro_schema_t resolve(avro_schema_t sch)
{
    while (sch && is_avro_link(sch))
        sch = avro_schema_link_target(sch);
    return sch;
}

/* Whether a value of this type can encode to zero bytes. */
static int zero_width(avro_schema_t sch, int depth)
{
    sch = resolve(sch);
    if (depth > MAX_DEPTH)
        return 0;
    if (is_avro_null(sch))
        return 1;
    if (is_avro_fixed(sch))
        return avro_schema_fixed_size(sch) == 0;
    if (!is_avro_record(sch))
        return 0;
    for (size_t i = 0; i < avro_schema_record_size(sch); i++)
        if (!zero_width(avro_schema_record_field_get_by_index(sch, (int)i),
                        depth + 1))
            return 0;
    return 1;
}

const char *cv_avro_type_name(avro_type_t type)
{
    switch (type) {
    case AVRO_STRING:
        return "string";
    case AVRO_BYTES:
        return "bytes";
    case AVRO_INT32:
        return "int";
    case AVRO_INT64:
        return "long";
    case AVRO_FLOAT:
        return "float";
    case AVRO_DOUBLE:
        return "double";
    case AVRO_BOOLEAN:
        return "boolean";
    case AVRO_NULL:
        return "null";
    case AVRO_RECORD:
        return "record";
    case AVRO_ENUM:
        return "enum";
    case AVRO_FIXED:
        return "fixed";
    case AVRO_MAP:
        return "map";
    case AVRO_ARRAY:
        return "array";
    case AVRO_UNION:
        return "union";
    case AVRO_LINK:
        return "link";
    }
    return "unknown";
}

/* "ns.name" of a named schema into buf. */
static const char *schema_full_name(avro_schema_t sch, char *buf, size_t size)
{
    const char *ns = avro_schema_namespace(sch);
    const char *name = avro_schema_name(sch);

    if (ns && *ns && !strchr(name, '.'))
        snprintf(buf, size, "%s.%s", ns, name);
    else
        snprintf(buf, size, "%s", name);
    return buf;
}

/* ------------------------------------------------------------------ */
/* framing                                                              */

int cv_frame_parse(const void *buf, size_t len, int *schema_id,
                   const void **body, size_t *body_len, char *errstr,
                   size_t errstr_size)
{
    const unsigned char *p = buf;
    uint32_t id;

    if (!buf || len < CV_FRAME_HEADER)
        return cv_err(errstr, errstr_size,
                      "frame too short: %zu bytes, the header alone is %d",
                      buf ? len : 0, CV_FRAME_HEADER);
    if (p[0] != CV_FRAME_MAGIC)
        return cv_err(errstr, errstr_size,
                      "bad magic byte 0x%02x (want 0x00: Confluent framing)",
                      p[0]);
    id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 |
         (uint32_t)p[4];
    /* Registries hand out ids below 2^31; anything else stays distinct. */
    *schema_id = id > INT32_MAX ? -(int)(~id) - 1 : (int)id;
    *body = p + CV_FRAME_HEADER;
    *body_len = len - CV_FRAME_HEADER;
    return CV_OK;
}

static void frame_header(unsigned char *out, int id)
{
    uint32_t u = (uint32_t)id;

    out[0] = CV_FRAME_MAGIC;
    out[1] = (unsigned char)(u >> 24);
    out[2] = (unsigned char)(u >> 16);
    out[3] = (unsigned char)(u >> 8);
    out[4] = (unsigned char)u;
}

/* ------------------------------------------------------------------ */
/* decoding                                                             */

/*
 * A schema compiled for the decoder: what to read at each step, with the
 * bounds to check, without going back to avro-c's hash tables per value.
 * Named types are compiled once, so recursive schemas become cycles.
 */
struct snode {
    avro_type_t type;
    avro_schema_t schema; /* resolved (never a link) */
    int64_t size;         /* fixed: byte count; enum: symbol count */
    int zero;             /* can encode to zero bytes */
    size_t n;             /* record fields, union branches, 1 for containers */
    struct snode **kids;
    const char **names; /* record field names, borrowed from the schema */
};

struct slot {
    const struct cv_schema *schema;
    int ready;
    avro_value_t value;
    struct snode *root;
    struct snode **nodes; /* every node of this schema, for lookup and free */
    size_t nnodes, cap;
};

struct cv_decoder {
    struct slot *slots; /* sorted by schema id */
    size_t nslots;
    char *scratch; /* a NUL-terminated copy of the string being stored */
    size_t scratch_size;
};

static struct snode *compile(struct slot *slot, avro_schema_t sch)
{
    struct snode *node;

    sch = resolve(sch);
    for (size_t i = 0; i < slot->nnodes; i++)
        if (slot->nodes[i]->schema == sch && is_avro_named_type(sch))
            return slot->nodes[i];

    node = cv_calloc(1, sizeof(*node));
    node->schema = sch;
    node->type = avro_typeof(sch);
    node->zero = zero_width(sch, 0);
    if (slot->nnodes == slot->cap) {
        slot->cap = slot->cap ? slot->cap * 2 : 8;
        slot->nodes = cv_realloc(slot->nodes, slot->cap * sizeof(*slot->nodes));
    }
    slot->nodes[slot->nnodes++] = node;

    switch (node->type) {
    case AVRO_RECORD:
        node->n = avro_schema_record_size(sch);
        node->kids = cv_calloc(node->n, sizeof(*node->kids));
        node->names = cv_calloc(node->n, sizeof(*node->names));
        for (size_t i = 0; i < node->n; i++) {
            node->names[i] = avro_schema_record_field_name(sch, (int)i);
            node->kids[i] = compile(
                slot, avro_schema_record_field_get_by_index(sch, (int)i));
        }
        break;
    case AVRO_UNION:
        node->n = avro_schema_union_size(sch);
        node->kids = cv_calloc(node->n, sizeof(*node->kids));
        for (size_t i = 0; i < node->n; i++)
            node->kids[i] =
                compile(slot, avro_schema_union_branch(sch, (int)i));
        break;
    case AVRO_ARRAY:
        node->n = 1;
        node->kids = cv_calloc(1, sizeof(*node->kids));
        node->kids[0] = compile(slot, avro_schema_array_items(sch));
        break;
    case AVRO_MAP:
        node->n = 1;
        node->kids = cv_calloc(1, sizeof(*node->kids));
        node->kids[0] = compile(slot, avro_schema_map_values(sch));
        break;
    case AVRO_ENUM:
        node->size = avro_schema_enum_number_of_symbols(sch);
        break;
    case AVRO_FIXED:
        node->size = avro_schema_fixed_size(sch);
        break;
    default:
        break;
    }
    return node;
}

/* The state of one decode: input cursor, where we are, what went wrong. */
struct scan {
    struct cv_decoder *dec;
    const unsigned char *start, *p, *end;
    int64_t zero_items; /* zero-width array items still allowed */
    int depth;
    const char *path[MAX_DEPTH + 1]; /* record field names, outermost first */
    int plen;
    const char *why;
    char why_buf[128];
};

static int scan_fail(struct scan *sc, const char *why)
{
    sc->why = why;
    return CV_ERR;
}

static int scan_failf(struct scan *sc, const char *fmt, ...) CV_PRINTF(2, 3);
static int scan_failf(struct scan *sc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sc->why_buf, sizeof(sc->why_buf), fmt, ap);
    va_end(ap);
    sc->why = sc->why_buf;
    return CV_ERR;
}

static int scan_long(struct scan *sc, int64_t *out)
{
    uint64_t u = 0;
    int shift = 0;
    int64_t v;

    for (;;) {
        unsigned char b;
        if (sc->p == sc->end)
            return scan_fail(sc, "truncated");
        b = *sc->p++;
        /* The tenth byte may only carry the 64th bit. */
        if (shift == 63 && (b & 0xfe))
            return scan_fail(sc, "varint overflows 64 bits");
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
        shift += 7;
    }
    v = (int64_t)(u >> 1);
    *out = (u & 1) ? ~v : v;
    return CV_OK;
}

/* A string or bytes length prefix, checked against what is left. */
static int scan_len(struct scan *sc, size_t *len)
{
    int64_t n;

    if (scan_long(sc, &n) != CV_OK)
        return CV_ERR;
    if (n < 0)
        return scan_failf(sc, "negative length %lld", (long long)n);
    if ((uint64_t)n > (uint64_t)(sc->end - sc->p))
        return scan_failf(sc, "length %lld but only %zu bytes left",
                          (long long)n, (size_t)(sc->end - sc->p));
    *len = (size_t)n;
    return CV_OK;
}

static int scan_string(struct scan *sc, const char **s, size_t *len)
{
    if (scan_len(sc, len) != CV_OK)
        return CV_ERR;
    *s = (const char *)sc->p;
    switch (cv_text_check(sc->p, *len)) {
    case CV_TEXT_NUL:
        return scan_fail(sc, "string contains a NUL byte");
    case CV_TEXT_UTF8:
        return scan_fail(sc, "string is not valid UTF-8");
    }
    sc->p += *len;
    return CV_OK;
}

/*
 * avro-c's setters want C strings (set_string_len copies size bytes, the
 * last of them the NUL); the body has no terminators, so copy into the
 * decoder's scratch buffer, which only ever grows.
 */
static const char *terminated(struct scan *sc, const char *s, size_t len)
{
    struct cv_decoder *dec = sc->dec;

    if (len >= dec->scratch_size) {
        dec->scratch_size = len < 256 ? 256 : len + 1;
        free(dec->scratch);
        dec->scratch = cv_malloc(dec->scratch_size);
    }
    memcpy(dec->scratch, s, len);
    dec->scratch[len] = '\0';
    return dec->scratch;
}

static int avro_failed(struct scan *sc)
{
    return scan_failf(sc, "avro: %s", avro_strerror());
}

static int scan_value(struct scan *sc, const struct snode *node,
                      avro_value_t *dst);

/* Arrays and maps: blocks of items until a zero count. */
static int scan_blocks(struct scan *sc, const struct snode *node,
                       avro_value_t *dst)
{
    /* empties it but keeps the storage of the previous event's items */
    if (avro_value_reset(dst) != 0)
        return avro_failed(sc);
    for (;;) {
        int64_t count, bytes = -1;
        const unsigned char *block;

        if (scan_long(sc, &count) != CV_OK)
            return CV_ERR;
        if (count == 0)
            return CV_OK;
        if (count < 0) {
            if (count == INT64_MIN)
                return scan_fail(sc, "bad block count");
            count = -count;
            if (scan_long(sc, &bytes) != CV_OK)
                return CV_ERR;
            if (bytes < 0 || bytes > sc->end - sc->p)
                return scan_failf(sc, "block size %lld, %zu bytes left",
                                  (long long)bytes, (size_t)(sc->end - sc->p));
        }
        if (node->type == AVRO_ARRAY && node->kids[0]->zero) {
            if (count > sc->zero_items)
                return scan_failf(sc,
                                  "more than %d zero-width items in a "
                                  "message",
                                  ZERO_WIDTH_MAX);
            sc->zero_items -= count;
        } else if (count > sc->end - sc->p) {
            /* each item takes a byte at least: refuse before appending */
            return scan_failf(sc, "%lld items but only %zu bytes left",
                              (long long)count, (size_t)(sc->end - sc->p));
        }
        block = sc->p;
        for (int64_t i = 0; i < count; i++) {
            avro_value_t child;
            if (node->type == AVRO_MAP) {
                const char *key;
                size_t klen = 0;
                if (scan_string(sc, &key, &klen) != CV_OK)
                    return CV_ERR;
                /* the map keeps its own copy of the key */
                if (avro_value_add(dst, terminated(sc, key, klen), &child, NULL,
                                   NULL) != 0)
                    return avro_failed(sc);
            } else if (avro_value_append(dst, &child, NULL) != 0) {
                return avro_failed(sc);
            }
            if (scan_value(sc, node->kids[0], &child) != CV_OK)
                return CV_ERR;
        }
        if (bytes >= 0 && sc->p - block != bytes)
            return scan_failf(sc, "block says %lld bytes, items took %zu",
                              (long long)bytes, (size_t)(sc->p - block));
    }
}

static int scan_value(struct scan *sc, const struct snode *node,
                      avro_value_t *dst)
{
    int64_t v;
    const char *s;
    size_t len = 0;
    avro_value_t child;
    int rc = CV_OK;

    if (++sc->depth > MAX_DEPTH)
        return scan_failf(sc, "nested deeper than %d", MAX_DEPTH);

    switch (node->type) {
    case AVRO_NULL:
        rc = avro_value_set_null(dst) ? avro_failed(sc) : CV_OK;
        break;
    case AVRO_BOOLEAN:
        if (sc->p == sc->end)
            return scan_fail(sc, "truncated");
        if (*sc->p > 1)
            return scan_failf(sc, "boolean byte 0x%02x", *sc->p);
        rc = avro_value_set_boolean(dst, *sc->p++) ? avro_failed(sc) : CV_OK;
        break;
    case AVRO_INT32:
        if (scan_long(sc, &v) != CV_OK)
            return CV_ERR;
        if (v < INT32_MIN || v > INT32_MAX)
            return scan_failf(sc, "int out of range: %lld", (long long)v);
        rc = avro_value_set_int(dst, (int32_t)v) ? avro_failed(sc) : CV_OK;
        break;
    case AVRO_INT64:
        if (scan_long(sc, &v) != CV_OK)
            return CV_ERR;
        rc = avro_value_set_long(dst, v) ? avro_failed(sc) : CV_OK;
        break;
    case AVRO_FLOAT: {
        float f;
        if (sc->end - sc->p < 4)
            return scan_fail(sc, "truncated");
        /* Avro floats are little-endian IEEE 754, as is every target. */
        memcpy(&f, sc->p, 4);
        sc->p += 4;
        rc = avro_value_set_float(dst, f) ? avro_failed(sc) : CV_OK;
        break;
    }
    case AVRO_DOUBLE: {
        double d;
        if (sc->end - sc->p < 8)
            return scan_fail(sc, "truncated");
        memcpy(&d, sc->p, 8);
        sc->p += 8;
        rc = avro_value_set_double(dst, d) ? avro_failed(sc) : CV_OK;
        break;
    }
    case AVRO_STRING:
        if (scan_string(sc, &s, &len) != CV_OK)
            return CV_ERR;
        rc = avro_value_set_string_len(dst, terminated(sc, s, len), len + 1)
                 ? avro_failed(sc)
                 : CV_OK;
        break;
    case AVRO_BYTES:
        if (scan_len(sc, &len) != CV_OK)
            return CV_ERR;
        rc = avro_value_set_bytes(dst, (void *)sc->p, len) ? avro_failed(sc)
                                                           : CV_OK;
        sc->p += len;
        break;
    case AVRO_FIXED:
        if (sc->end - sc->p < node->size)
            return scan_fail(sc, "truncated");
        rc = avro_value_set_fixed(dst, (void *)sc->p, (size_t)node->size)
                 ? avro_failed(sc)
                 : CV_OK;
        sc->p += node->size;
        break;
    case AVRO_ENUM:
        if (scan_long(sc, &v) != CV_OK)
            return CV_ERR;
        if (v < 0 || v >= node->size)
            return scan_failf(sc, "enum index %lld, %lld symbols", (long long)v,
                              (long long)node->size);
        rc = avro_value_set_enum(dst, (int)v) ? avro_failed(sc) : CV_OK;
        break;
    case AVRO_UNION:
        if (scan_long(sc, &v) != CV_OK)
            return CV_ERR;
        if (v < 0 || (uint64_t)v >= node->n)
            return scan_failf(sc, "union branch %lld, %zu branches",
                              (long long)v, node->n);
        if (avro_value_set_branch(dst, (int)v, &child) != 0)
            return avro_failed(sc);
        rc = scan_value(sc, node->kids[v], &child);
        break;
    case AVRO_RECORD:
        for (size_t i = 0; i < node->n; i++) {
            if (avro_value_get_by_index(dst, i, &child, NULL) != 0)
                return avro_failed(sc);
            sc->path[sc->plen++] = node->names[i];
            if (scan_value(sc, node->kids[i], &child) != CV_OK)
                return CV_ERR; /* leave the path pointing at the field */
            sc->plen--;
        }
        break;
    case AVRO_ARRAY:
    case AVRO_MAP:
        rc = scan_blocks(sc, node, dst);
        break;
    default:
        return scan_failf(sc, "unsupported type %s",
                          cv_avro_type_name(node->type));
    }
    sc->depth--;
    return rc;
}

static int cmp_slot(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    return (x->schema->id > y->schema->id) - (x->schema->id < y->schema->id);
}

struct cv_decoder *cv_decoder_new(const struct cv_catalogue *cat)
{
    struct cv_decoder *dec = cv_calloc(1, sizeof(*dec));

    dec->nslots = cv_catalogue_count(cat);
    dec->slots = cv_calloc(dec->nslots, sizeof(*dec->slots));
    for (size_t i = 0; i < dec->nslots; i++)
        dec->slots[i].schema = cv_catalogue_at(cat, i);
    qsort(dec->slots, dec->nslots, sizeof(*dec->slots), cmp_slot);
    return dec;
}

void cv_decoder_destroy(struct cv_decoder *dec)
{
    if (!dec)
        return;
    for (size_t i = 0; i < dec->nslots; i++) {
        struct slot *slot = &dec->slots[i];
        if (slot->ready)
            avro_value_decref(&slot->value);
        for (size_t k = 0; k < slot->nnodes; k++) {
            free(slot->nodes[k]->kids);
            free(slot->nodes[k]->names);
            free(slot->nodes[k]);
        }
        free(slot->nodes);
    }
    free(dec->slots);
    free(dec->scratch);
    free(dec);
}

static struct slot *find_slot(struct cv_decoder *dec, int id)
{
    size_t lo = 0, hi = dec->nslots;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int got = dec->slots[mid].schema->id;
        if (got == id)
            return &dec->slots[mid];
        if (got < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int cv_decoder_decode(struct cv_decoder *dec, const void *buf, size_t len,
                      const struct cv_schema **schema, avro_value_t **value,
                      char *errstr, size_t errstr_size)
{
    int id = 0;
    const void *body = NULL;
    size_t body_len = 0;
    struct slot *slot;
    struct scan sc;

    if (cv_frame_parse(buf, len, &id, &body, &body_len, errstr, errstr_size) !=
        CV_OK)
        return CV_ERR;
    slot = find_slot(dec, id);
    if (!slot)
        return cv_err(errstr, errstr_size, "unknown schema id %d", id);
    if (!slot->ready) {
        if (avro_generic_value_new(slot->schema->iface, &slot->value) != 0)
            return cv_err(errstr, errstr_size, "%s (id %d): avro: %s",
                          slot->schema->name, id, avro_strerror());
        slot->root = compile(slot, slot->schema->avro);
        slot->ready = 1;
    }

    sc.dec = dec;
    sc.start = sc.p = body;
    sc.end = sc.start + body_len;
    sc.zero_items = ZERO_WIDTH_MAX;
    sc.depth = 0;
    sc.plen = 0;
    sc.why = NULL;
    /*
     * No avro_value_reset() of the whole record: the scan sets every field
     * of every record it passes and every union's branch, and clears the
     * arrays and maps it fills, so the previous event cannot show through.
     */
    if (scan_value(&sc, slot->root, &slot->value) != CV_OK ||
        (sc.p != sc.end &&
         scan_failf(&sc, "%zu trailing byte%s after the record",
                    (size_t)(sc.end - sc.p),
                    sc.end - sc.p > 1 ? "s" : "") != CV_OK)) {
        char path[256] = "";
        size_t off = 0;
        for (int i = 0; i < sc.plen && off < sizeof(path); i++) {
            int w = snprintf(path + off, sizeof(path) - off, "%s%s",
                             i ? "." : "", sc.path[i]);
            if (w < 0)
                break;
            off += (size_t)w;
        }
        if (sc.plen)
            return cv_err(errstr, errstr_size,
                          "%s (id %d): field '%s': %s at body byte %zu",
                          slot->schema->name, id, path, sc.why,
                          (size_t)(sc.p - sc.start));
        return cv_err(errstr, errstr_size, "%s (id %d): %s at body byte %zu",
                      slot->schema->name, id, sc.why,
                      (size_t)(sc.p - sc.start));
    }
    *schema = slot->schema;
    *value = &slot->value;
    return CV_OK;
}

/* ------------------------------------------------------------------ */
/* getters                                                              */

/* The field's value, looking through a union to its current branch. */
static int field_get(avro_value_t *rec, const char *field, avro_value_t *out)
{
    if (!rec || !rec->iface || !field ||
        avro_value_get_type(rec) != AVRO_RECORD)
        return CV_ERR;
    if (avro_value_get_by_name(rec, field, out, NULL) != 0)
        return CV_ERR;
    if (avro_value_get_type(out) == AVRO_UNION) {
        avro_value_t branch;
        if (avro_value_get_current_branch(out, &branch) != 0)
            return CV_ERR;
        *out = branch;
    }
    return avro_value_get_type(out) == AVRO_NULL ? CV_NULL : CV_OK;
}

int cv_value_get_string(avro_value_t *rec, const char *field, const char **s,
                        size_t *len)
{
    avro_value_t v;
    int rc = field_get(rec, field, &v);
    size_t size = 0;

    if (rc == CV_NULL) {
        *s = NULL;
        if (len)
            *len = 0;
    }
    if (rc != CV_OK)
        return rc;
    switch (avro_value_get_type(&v)) {
    case AVRO_STRING:
        if (avro_value_get_string(&v, s, &size) != 0)
            return CV_ERR;
        if (len)
            *len = size ? size - 1 : 0; /* size counts the NUL */
        return CV_OK;
    case AVRO_ENUM: {
        int idx;
        const char *sym;
        if (avro_value_get_enum(&v, &idx) != 0)
            return CV_ERR;
        sym = avro_schema_enum_get(avro_value_get_schema(&v), idx);
        if (!sym)
            return CV_ERR;
        *s = sym;
        if (len)
            *len = strlen(sym);
        return CV_OK;
    }
    default:
        return CV_ERR;
    }
}

int cv_value_get_long(avro_value_t *rec, const char *field, int64_t *out)
{
    avro_value_t v;
    int32_t i;
    int rc = field_get(rec, field, &v);

    if (rc != CV_OK)
        return rc;
    switch (avro_value_get_type(&v)) {
    case AVRO_INT64:
        return avro_value_get_long(&v, out) ? CV_ERR : CV_OK;
    case AVRO_INT32:
        if (avro_value_get_int(&v, &i) != 0)
            return CV_ERR;
        *out = i;
        return CV_OK;
    default:
        return CV_ERR;
    }
}

int cv_value_get_int(avro_value_t *rec, const char *field, int32_t *out)
{
    avro_value_t v;
    int rc = field_get(rec, field, &v);

    if (rc != CV_OK)
        return rc;
    if (avro_value_get_type(&v) != AVRO_INT32)
        return CV_ERR;
    return avro_value_get_int(&v, out) ? CV_ERR : CV_OK;
}

int cv_value_get_double(avro_value_t *rec, const char *field, double *out)
{
    avro_value_t v;
    float f;
    int rc = field_get(rec, field, &v);

    if (rc != CV_OK)
        return rc;
    switch (avro_value_get_type(&v)) {
    case AVRO_DOUBLE:
        return avro_value_get_double(&v, out) ? CV_ERR : CV_OK;
    case AVRO_FLOAT:
        if (avro_value_get_float(&v, &f) != 0)
            return CV_ERR;
        *out = f;
        return CV_OK;
    default:
        return CV_ERR;
    }
}

int cv_value_get_bool(avro_value_t *rec, const char *field, int *out)
{
    avro_value_t v;
    int b;
    int rc = field_get(rec, field, &v);

    if (rc != CV_OK)
        return rc;
    if (avro_value_get_type(&v) != AVRO_BOOLEAN)
        return CV_ERR;
    if (avro_value_get_boolean(&v, &b) != 0)
        return CV_ERR;
    *out = b ? 1 : 0;
    return CV_OK;
}

/* ------------------------------------------------------------------ */
/* JSON rendering                                                       */

/* Avro JSON carries bytes as a string of code points U+0000..U+00FF. */
static json_t *latin1_string(const unsigned char *p, size_t len)
{
    char *buf = cv_malloc(len * 2 + 1);
    size_t n = 0;
    json_t *j;

    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x80) {
            buf[n++] = (char)p[i];
        } else {
            buf[n++] = (char)(0xc0 | (p[i] >> 6));
            buf[n++] = (char)(0x80 | (p[i] & 0x3f));
        }
    }
    j = json_stringn(buf, n);
    free(buf);
    return j;
}

static json_t *real_json(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

/*
 * A ["null", T] union renders as null or plain T; any other union in the
 * Avro JSON form {"type name": value}, which cv_codec_encode_json accepts.
 */
static json_t *to_json(avro_value_t *v, int depth)
{
    json_t *j = NULL;

    if (depth > MAX_DEPTH)
        return NULL;
    switch (avro_value_get_type(v)) {
    case AVRO_BOOLEAN: {
        int b;
        if (avro_value_get_boolean(v, &b) == 0)
            j = json_boolean(b);
        break;
    }
    case AVRO_INT32: {
        int32_t i;
        if (avro_value_get_int(v, &i) == 0)
            j = json_integer(i);
        break;
    }
    case AVRO_INT64: {
        int64_t l;
        if (avro_value_get_long(v, &l) == 0)
            j = json_integer(l);
        break;
    }
    case AVRO_FLOAT: {
        float f;
        if (avro_value_get_float(v, &f) == 0)
            j = real_json(f);
        break;
    }
    case AVRO_DOUBLE: {
        double d;
        if (avro_value_get_double(v, &d) == 0)
            j = real_json(d);
        break;
    }
    case AVRO_NULL:
        j = json_null();
        break;
    case AVRO_STRING: {
        const char *s;
        size_t size;
        if (avro_value_get_string(v, &s, &size) == 0) {
            size_t len = size ? size - 1 : 0;
            j = json_stringn(s, len);
            if (!j) /* not UTF-8: show the bytes rather than nothing */
                j = latin1_string((const unsigned char *)s, len);
        }
        break;
    }
    case AVRO_BYTES: {
        const void *p;
        size_t size;
        if (avro_value_get_bytes(v, &p, &size) == 0)
            j = latin1_string(p, size);
        break;
    }
    case AVRO_FIXED: {
        const void *p;
        size_t size;
        if (avro_value_get_fixed(v, &p, &size) == 0)
            j = latin1_string(p, size);
        break;
    }
    case AVRO_ENUM: {
        int idx;
        const char *sym;
        if (avro_value_get_enum(v, &idx) == 0) {
            sym = avro_schema_enum_get(avro_value_get_schema(v), idx);
            if (sym)
                j = json_string(sym);
        }
        break;
    }
    case AVRO_ARRAY:
    case AVRO_MAP:
    case AVRO_RECORD: {
        size_t n;
        int is_array = avro_value_get_type(v) == AVRO_ARRAY;
        if (avro_value_get_size(v, &n) != 0)
            break;
        j = is_array ? json_array() : json_object();
        for (size_t i = 0; i < n; i++) {
            avro_value_t child;
            const char *name = NULL;
            json_t *cj;
            if (avro_value_get_by_index(v, i, &child, &name) != 0 ||
                !(cj = to_json(&child, depth + 1))) {
                json_decref(j);
                return NULL;
            }
            if (is_array)
                json_array_append_new(j, cj);
            else
                json_object_set_new_nocheck(j, name, cj);
        }
        break;
    }
    case AVRO_UNION: {
        avro_value_t branch;
        avro_schema_t us = avro_value_get_schema(v), bs;
        int disc;
        json_t *bj;
        char name[256];
        if (avro_value_get_discriminant(v, &disc) != 0 || disc < 0 ||
            avro_value_get_current_branch(v, &branch) != 0)
            break;
        bj = to_json(&branch, depth + 1);
        if (!bj || json_is_null(bj))
            return bj;
        bs = resolve(avro_schema_union_branch(us, disc));
        if (avro_schema_union_size(us) == 2 &&
            (is_avro_null(avro_schema_union_branch(us, 0)) ||
             is_avro_null(avro_schema_union_branch(us, 1))))
            return bj;
        j = json_object();
        json_object_set_new(j,
                            is_avro_named_type(bs)
                                ? schema_full_name(bs, name, sizeof(name))
                                : cv_avro_type_name(avro_typeof(bs)),
                            bj);
        break;
    }
    default:
        break;
    }
    return j;
}

char *cv_value_to_json(avro_value_t *value)
{
    json_t *j;
    char *out;

    if (!value || !value->iface)
        return NULL;
    j = to_json(value, 0);
    if (!j)
        return NULL;
    out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

/* ------------------------------------------------------------------ */
/* encoding from JSON                                                   */

struct enc {
    const struct cv_schema *schema;
    char *errstr;
    size_t errstr_size;
    size_t zero_items; /* zero-width array items so far (ZERO_WIDTH_MAX) */
};

const char *cv_json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* What a field of this schema wants, in words: "null or string". */
static const char *expected(avro_schema_t sch, char *buf, size_t size)
{
    size_t off = 0;

    sch = resolve(sch);
    if (!is_avro_union(sch))
        return cv_avro_type_name(avro_typeof(sch));
    buf[0] = '\0';
    for (size_t i = 0; i < avro_schema_union_size(sch) && off < size; i++) {
        avro_schema_t b = resolve(avro_schema_union_branch(sch, (int)i));
        int w = snprintf(buf + off, size - off, "%s%s", i ? " or " : "",
                         cv_avro_type_name(avro_typeof(b)));
        if (w < 0)
            break;
        off += (size_t)w;
    }
    return buf;
}

static int type_err(struct enc *e, const char *path, avro_schema_t sch,
                    const json_t *j)
{
    char buf[128];

    return cv_err(e->errstr, e->errstr_size, "field '%s': expected %s, got %s",
                  path, expected(sch, buf, sizeof(buf)), cv_json_kind(j));
}

/* Code points U+0000..U+00FF back to bytes; anything above is an error. */
static int latin1_bytes(const char *s, size_t len, unsigned char *out,
                        size_t *out_len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            out[n++] = c;
        } else if ((c == 0xc2 || c == 0xc3) && i + 1 < len) {
            out[n++] = (unsigned char)(((c & 0x03) << 6) |
                                       ((unsigned char)s[i + 1] & 0x3f));
            i++;
        } else {
            return CV_ERR;
        }
    }
    *out_len = n;
    return CV_OK;
}

static int special_double(const json_t *j, double *d)
{
    const char *s = json_string_value(j);

    if (!s)
        return 0;
    if (strcmp(s, "NaN") == 0)
        *d = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *d = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *d = -INFINITY;
    else
        return 0;
    return 1;
}

static int from_json(struct enc *e, avro_value_t *dst, avro_schema_t sch,
                     json_t *j, const char *path, int depth);

static int child_path(char *buf, size_t size, const char *path,
                      const char *name, long index)
{
    if (name)
        snprintf(buf, size, "%s%s%s", path, *path ? "." : "", name);
    else
        snprintf(buf, size, "%s[%ld]", path, index);
    return 0;
}

static int is_nullable(avro_schema_t sch)
{
    sch = resolve(sch);
    if (!is_avro_union(sch))
        return 0;
    for (size_t i = 0; i < avro_schema_union_size(sch); i++)
        if (is_avro_null(resolve(avro_schema_union_branch(sch, (int)i))))
            return 1;
    return 0;
}

static int set_null_branch(avro_value_t *dst, avro_schema_t sch)
{
    avro_value_t branch;

    sch = resolve(sch);
    for (size_t i = 0; i < avro_schema_union_size(sch); i++) {
        if (is_avro_null(resolve(avro_schema_union_branch(sch, (int)i)))) {
            if (avro_value_set_branch(dst, (int)i, &branch) != 0)
                return CV_ERR;
            return avro_value_set_null(&branch) ? CV_ERR : CV_OK;
        }
    }
    return CV_ERR;
}

/*
 * A field the producer left out: its declared default, null if the field is
 * a union with null, otherwise an error.
 */
static int fill_missing(struct enc *e, avro_value_t *dst, avro_schema_t rec,
                        avro_schema_t fsch, const char *fname, const char *path,
                        int depth)
{
    char rname[256];
    const json_t *dflt;

    dflt = cv_schema_field_default(
        e->schema, schema_full_name(rec, rname, sizeof(rname)), fname);
    if (dflt) {
        /*
         * A union's default belongs to its first branch (Avro spec); null
         * is the common case, and the plain-value matching in from_json
         * picks the first branch for any other well-formed default.
         */
        avro_schema_t target = resolve(fsch);
        if (is_avro_union(target) && json_is_null(dflt) && is_nullable(target))
            return set_null_branch(dst, target) == CV_OK
                       ? CV_OK
                       : cv_err(e->errstr, e->errstr_size,
                                "field '%s': avro: %s", path, avro_strerror());
        if (from_json(e, dst, fsch, (json_t *)dflt, path, depth) != CV_OK) {
            size_t n = strlen(e->errstr ? e->errstr : "");
            if (e->errstr && n + 20 < e->errstr_size)
                strcat(e->errstr, " (in the default)");
            return CV_ERR;
        }
        return CV_OK;
    }
    if (is_nullable(fsch))
        return set_null_branch(dst, fsch) == CV_OK
                   ? CV_OK
                   : cv_err(e->errstr, e->errstr_size, "field '%s': avro: %s",
                            path, avro_strerror());
    return cv_err(e->errstr, e->errstr_size,
                  "field '%s': missing, and it has no default", path);
}

static int record_from_json(struct enc *e, avro_value_t *dst, avro_schema_t sch,
                            json_t *j, const char *path, int depth)
{
    const char *key;
    json_t *val;
    char sub[512];
    char rname[256];
    size_t n = avro_schema_record_size(sch);

    if (!json_is_object(j))
        return type_err(e, path, sch, j);
    /* Unknown fields first: a typo is likelier than a missing field. */
    json_object_foreach(j, key, val)
    {
        if (avro_schema_record_field_get_index(sch, key) < 0) {
            child_path(sub, sizeof(sub), path, key, 0);
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': not in schema %s", sub,
                          schema_full_name(sch, rname, sizeof(rname)));
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *fname = avro_schema_record_field_name(sch, (int)i);
        avro_schema_t fsch = avro_schema_record_field_get_by_index(sch, (int)i);
        avro_value_t child;
        int rc;

        if (avro_value_get_by_index(dst, i, &child, NULL) != 0)
            return cv_err(e->errstr, e->errstr_size, "avro: %s",
                          avro_strerror());
        child_path(sub, sizeof(sub), path, fname, 0);
        val = json_object_get(j, fname);
        if (val)
            rc = from_json(e, &child, fsch, val, sub, depth + 1);
        else
            rc = fill_missing(e, &child, sch, fsch, fname, sub, depth + 1);
        if (rc != CV_OK)
            return CV_ERR;
    }
    return CV_OK;
}

/* Whether a union branch can take this JSON value, looking one level deep. */
static int branch_fits(avro_schema_t b, const json_t *j)
{
    double d;

    b = resolve(b);
    switch (avro_typeof(b)) {
    case AVRO_NULL:
        return json_is_null(j);
    case AVRO_STRING:
    case AVRO_BYTES:
    case AVRO_FIXED:
        return json_is_string(j);
    case AVRO_ENUM:
        return json_is_string(j) &&
               avro_schema_enum_get_by_name(b, json_string_value(j)) >= 0;
    case AVRO_INT32:
        return json_is_integer(j) && json_integer_value(j) >= INT32_MIN &&
               json_integer_value(j) <= INT32_MAX;
    case AVRO_INT64:
        return json_is_integer(j);
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        return json_is_number(j) || special_double(j, &d);
    case AVRO_BOOLEAN:
        return json_is_boolean(j);
    case AVRO_ARRAY:
        return json_is_array(j);
    case AVRO_MAP:
    case AVRO_RECORD:
        return json_is_object(j);
    default:
        return 0;
    }
}

/* Does key name this branch, as Avro JSON writes a union value? */
static int branch_named(avro_schema_t b, const char *key)
{
    char buf[256];

    b = resolve(b);
    if (is_avro_named_type(b))
        return strcmp(key, schema_full_name(b, buf, sizeof(buf))) == 0 ||
               strcmp(key, avro_schema_name(b)) == 0;
    return strcmp(key, cv_avro_type_name(avro_typeof(b))) == 0;
}

static int union_from_json(struct enc *e, avro_value_t *dst, avro_schema_t sch,
                           json_t *j, const char *path, int depth)
{
    size_t n = avro_schema_union_size(sch);
    avro_value_t branch;

    /* The Avro JSON form: {"string": "x"}. */
    if (json_is_object(j) && json_object_size(j) == 1) {
        const char *key = json_object_iter_key(json_object_iter(j));
        for (size_t i = 0; i < n; i++) {
            avro_schema_t b = avro_schema_union_branch(sch, (int)i);
            if (is_avro_null(resolve(b)) || !branch_named(b, key))
                continue;
            if (avro_value_set_branch(dst, (int)i, &branch) != 0)
                return cv_err(e->errstr, e->errstr_size, "field '%s': avro: %s",
                              path, avro_strerror());
            return from_json(e, &branch, b, json_object_get(j, key), path,
                             depth + 1);
        }
    }
    /* The plain form: the first branch that can hold the value. */
    for (size_t i = 0; i < n; i++) {
        avro_schema_t b = avro_schema_union_branch(sch, (int)i);
        if (!branch_fits(b, j))
            continue;
        if (avro_value_set_branch(dst, (int)i, &branch) != 0)
            return cv_err(e->errstr, e->errstr_size, "field '%s': avro: %s",
                          path, avro_strerror());
        return from_json(e, &branch, b, j, path, depth + 1);
    }
    return type_err(e, path, sch, j);
}

static int from_json(struct enc *e, avro_value_t *dst, avro_schema_t sch,
                     json_t *j, const char *path, int depth)
{
    int rc = 0;
    double d;
    char sub[512];

    sch = resolve(sch);
    if (depth > MAX_DEPTH)
        return cv_err(e->errstr, e->errstr_size,
                      "field '%s': nested deeper than %d", path, MAX_DEPTH);

    switch (avro_typeof(sch)) {
    case AVRO_STRING: {
        const char *s = json_string_value(j);
        size_t len = json_string_length(j);
        if (!s)
            return type_err(e, path, sch, j);
        if (memchr(s, '\0', len))
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': string contains NUL", path);
        rc = avro_value_set_string_len(dst, s, len + 1);
        break;
    }
    case AVRO_BYTES:
    case AVRO_FIXED: {
        const char *s = json_string_value(j);
        size_t len = json_string_length(j), n;
        unsigned char *buf;
        if (!s)
            return type_err(e, path, sch, j);
        buf = cv_malloc(len + 1);
        if (latin1_bytes(s, len, buf, &n) != CV_OK) {
            free(buf);
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': bytes are written as a string of "
                          "code points U+0000..U+00FF",
                          path);
        }
        if (is_avro_fixed(sch) && (int64_t)n != avro_schema_fixed_size(sch)) {
            free(buf);
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': fixed size is %lld bytes, got %zu", path,
                          (long long)avro_schema_fixed_size(sch), n);
        }
        rc = is_avro_fixed(sch) ? avro_value_set_fixed(dst, buf, n)
                                : avro_value_set_bytes(dst, buf, n);
        free(buf);
        break;
    }
    case AVRO_INT32:
    case AVRO_INT64: {
        json_int_t v;
        if (json_is_real(j))
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': expected %s, got a number with a "
                          "fraction (%g)",
                          path, cv_avro_type_name(avro_typeof(sch)),
                          json_real_value(j));
        if (!json_is_integer(j))
            return type_err(e, path, sch, j);
        v = json_integer_value(j);
        if (is_avro_int32(sch)) {
            if (v < INT32_MIN || v > INT32_MAX)
                return cv_err(e->errstr, e->errstr_size,
                              "field '%s': %lld is out of range for int", path,
                              (long long)v);
            rc = avro_value_set_int(dst, (int32_t)v);
        } else {
            rc = avro_value_set_long(dst, (int64_t)v);
        }
        break;
    }
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        if (json_is_number(j))
            d = json_number_value(j);
        else if (!special_double(j, &d))
            return type_err(e, path, sch, j);
        if (is_avro_float(sch)) {
            if (isfinite(d) && fabs(d) > FLT_MAX)
                return cv_err(e->errstr, e->errstr_size,
                              "field '%s': %g is out of range for float", path,
                              d);
            rc = avro_value_set_float(dst, (float)d);
        } else {
            rc = avro_value_set_double(dst, d);
        }
        break;
    case AVRO_BOOLEAN:
        if (!json_is_boolean(j))
            return type_err(e, path, sch, j);
        rc = avro_value_set_boolean(dst, json_is_true(j));
        break;
    case AVRO_NULL:
        if (!json_is_null(j))
            return type_err(e, path, sch, j);
        rc = avro_value_set_null(dst);
        break;
    case AVRO_ENUM: {
        int idx;
        char name[256];
        if (!json_is_string(j))
            return type_err(e, path, sch, j);
        idx = avro_schema_enum_get_by_name(sch, json_string_value(j));
        if (idx < 0)
            return cv_err(e->errstr, e->errstr_size,
                          "field '%s': '%s' is not a symbol of enum %s", path,
                          json_string_value(j),
                          schema_full_name(sch, name, sizeof(name)));
        rc = avro_value_set_enum(dst, idx);
        break;
    }
    case AVRO_ARRAY: {
        size_t i;
        json_t *item;
        if (!json_is_array(j))
            return type_err(e, path, sch, j);
        /* the decoder would refuse more; do not produce what it refuses */
        if (zero_width(avro_schema_array_items(sch), 0)) {
            e->zero_items += json_array_size(j);
            if (e->zero_items > ZERO_WIDTH_MAX)
                return cv_err(e->errstr, e->errstr_size,
                              "field '%s': more than %d zero-width items in "
                              "a message",
                              path, ZERO_WIDTH_MAX);
        }
        json_array_foreach(j, i, item)
        {
            avro_value_t child;
            if (avro_value_append(dst, &child, NULL) != 0)
                break;
            child_path(sub, sizeof(sub), path, NULL, (long)i);
            if (from_json(e, &child, avro_schema_array_items(sch), item, sub,
                          depth + 1) != CV_OK)
                return CV_ERR;
        }
        break;
    }
    case AVRO_MAP: {
        const char *key;
        json_t *item;
        if (!json_is_object(j))
            return type_err(e, path, sch, j);
        json_object_foreach(j, key, item)
        {
            avro_value_t child;
            if (avro_value_add(dst, key, &child, NULL, NULL) != 0) {
                rc = -1;
                break;
            }
            child_path(sub, sizeof(sub), path, key, 0);
            if (from_json(e, &child, avro_schema_map_values(sch), item, sub,
                          depth + 1) != CV_OK)
                return CV_ERR;
        }
        break;
    }
    case AVRO_RECORD:
        return record_from_json(e, dst, sch, j, path, depth);
    case AVRO_UNION:
        return union_from_json(e, dst, sch, j, path, depth);
    default:
        return cv_err(e->errstr, e->errstr_size,
                      "field '%s': type %s is not supported", path,
                      cv_avro_type_name(avro_typeof(sch)));
    }
    if (rc != 0)
        return cv_err(e->errstr, e->errstr_size, "field '%s': avro: %s", path,
                      avro_strerror());
    return CV_OK;
}

/* Writes value framed with id into a new buffer. */
static int frame_value(int id, avro_value_t *value, char **out, size_t *out_len,
                       char *errstr, size_t errstr_size)
{
    size_t size = 0;
    char *buf = NULL;
    avro_writer_t writer = NULL;

    if (avro_value_sizeof(value, &size) != 0) {
        cv_err(errstr, errstr_size, "avro: %s", avro_strerror());
        goto fail;
    }
    buf = cv_malloc(CV_FRAME_HEADER + size);
    frame_header((unsigned char *)buf, id);
    writer = avro_writer_memory(buf + CV_FRAME_HEADER, (int64_t)size);
    if (!writer || avro_value_write(writer, value) != 0) {
        cv_err(errstr, errstr_size, "avro: %s", avro_strerror());
        goto fail;
    }
    avro_writer_free(writer);
    *out = buf;
    *out_len = CV_FRAME_HEADER + size;
    return CV_OK;

fail:
    if (writer)
        avro_writer_free(writer);
    free(buf);
    return CV_ERR;
}

int cv_codec_encode_json(const struct cv_schema *schema, const char *json,
                         size_t json_len, char **out, size_t *out_len,
                         char *errstr, size_t errstr_size)
{
    json_t *root = NULL;
    json_error_t jerr;
    avro_value_t value = {NULL, NULL};
    struct enc e = {schema, errstr, errstr_size, 0};
    int rc = CV_ERR;

    root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                      &jerr);
    if (!root) {
        cv_err(errstr, errstr_size,
               "JSON syntax error at line %d, column %d: "
               "%s",
               jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        cv_err(errstr, errstr_size, "expected a JSON object for %s, got %s",
               schema->name, cv_json_kind(root));
        goto out;
    }
    if (avro_generic_value_new(schema->iface, &value) != 0) {
        cv_err(errstr, errstr_size, "avro: %s", avro_strerror());
        value.iface = NULL;
        goto out;
    }
    if (record_from_json(&e, &value, schema->avro, root, "", 0) != CV_OK)
        goto out;
    /* the shape fits; now what avro-c cannot check (uuid, dates, ...) */
    if (cv_logical_check(cv_schema_json(schema), root, errstr, errstr_size) !=
        CV_OK)
        goto out;
    rc = frame_value(schema->id, &value, out, out_len, errstr, errstr_size);

out:
    if (value.iface)
        avro_value_decref(&value);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ */
/* the record builder                                                   */

struct cv_record {
    const struct cv_schema *schema;
    avro_value_t value;
    unsigned char *set; /* per top-level field: was it set */
    size_t nfields;
    char *error; /* the first failed set, reported by encode */
};

struct cv_record *cv_record_new(const struct cv_schema *schema)
{
    struct cv_record *rec;

    if (!schema)
        return NULL;
    rec = cv_calloc(1, sizeof(*rec));
    rec->schema = schema;
    if (avro_generic_value_new(schema->iface, &rec->value) != 0) {
        free(rec);
        return NULL;
    }
    rec->nfields = avro_schema_record_size(schema->avro);
    rec->set = cv_calloc(rec->nfields, 1);
    return rec;
}

void cv_record_destroy(struct cv_record *rec)
{
    if (!rec)
        return;
    avro_value_decref(&rec->value);
    free(rec->set);
    free(rec->error);
    free(rec);
}

const struct cv_schema *cv_record_schema(const struct cv_record *rec)
{
    return rec ? rec->schema : NULL;
}

static int record_fail(struct cv_record *rec, const char *fmt, ...)
    CV_PRINTF(2, 3);
static int record_fail(struct cv_record *rec, const char *fmt, ...)
{
    va_list ap;

    if (!rec->error) {
        char buf[512];
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        rec->error = cv_strdup(buf);
    }
    return CV_ERR;
}

/*
 * Finds field and the value to write into: the field itself if its type is
 * one of want (up to two types), else the branch of a union that is. what
 * names the setter's type for the error.
 */
static int record_target(struct cv_record *rec, const char *field,
                         avro_type_t want1, avro_type_t want2, const char *what,
                         avro_value_t *out, size_t *index)
{
    avro_value_t child;
    avro_schema_t sch;
    avro_type_t type;

    if (!rec)
        return CV_ERR; /* cv_emit_new() found no schema; it said so */
    if (!field ||
        avro_value_get_by_name(&rec->value, field, &child, index) != 0)
        return record_fail(rec, "field '%s': not in schema %s",
                           field ? field : "(null)", rec->schema->name);
    type = avro_value_get_type(&child);
    if (type == want1 || type == want2) {
        *out = child;
        return CV_OK;
    }
    sch = avro_value_get_schema(&child);
    if (type == AVRO_UNION) {
        for (size_t i = 0; i < avro_schema_union_size(sch); i++) {
            avro_type_t bt =
                avro_typeof(resolve(avro_schema_union_branch(sch, (int)i)));
            if (bt != want1 && bt != want2)
                continue;
            if (avro_value_set_branch(&child, (int)i, out) != 0)
                return record_fail(rec, "field '%s': avro: %s", field,
                                   avro_strerror());
            return CV_OK;
        }
    }
    {
        char buf[128];
        return record_fail(rec, "field '%s': expected %s, got %s", field,
                           expected(sch, buf, sizeof(buf)), what);
    }
}

int cv_record_set_string(struct cv_record *rec, const char *field,
                         const char *value)
{
    avro_value_t v;
    size_t index;
    int rc;

    if (!value) {
        if (record_target(rec, field, AVRO_NULL, AVRO_NULL, "null", &v,
                          &index) != CV_OK)
            return CV_ERR;
        rc = avro_value_set_null(&v);
    } else {
        if (record_target(rec, field, AVRO_STRING, AVRO_ENUM, "string", &v,
                          &index) != CV_OK)
            return CV_ERR;
        if (avro_value_get_type(&v) == AVRO_ENUM) {
            int idx =
                avro_schema_enum_get_by_name(avro_value_get_schema(&v), value);
            if (idx < 0)
                return record_fail(rec,
                                   "field '%s': '%s' is not a symbol of the "
                                   "enum",
                                   field, value);
            rc = avro_value_set_enum(&v, idx);
        } else {
            if (cv_text_check((const unsigned char *)value, strlen(value)) !=
                CV_TEXT_OK)
                return record_fail(rec, "field '%s': not valid UTF-8", field);
            rc = avro_value_set_string(&v, value);
        }
    }
    if (rc != 0)
        return record_fail(rec, "field '%s': avro: %s", field, avro_strerror());
    rec->set[index] = 1;
    return CV_OK;
}

int cv_record_set_long(struct cv_record *rec, const char *field, int64_t value)
{
    avro_value_t v;
    size_t index;

    if (record_target(rec, field, AVRO_INT64, AVRO_INT64, "long", &v, &index) !=
        CV_OK)
        return CV_ERR;
    if (avro_value_set_long(&v, value) != 0)
        return record_fail(rec, "field '%s': avro: %s", field, avro_strerror());
    rec->set[index] = 1;
    return CV_OK;
}

/* An int also fits a long field: widening loses nothing. */
int cv_record_set_int(struct cv_record *rec, const char *field, int32_t value)
{
    avro_value_t v;
    size_t index;
    int rc;

    if (record_target(rec, field, AVRO_INT32, AVRO_INT64, "int", &v, &index) !=
        CV_OK)
        return CV_ERR;
    if (avro_value_get_type(&v) == AVRO_INT64)
        rc = avro_value_set_long(&v, value);
    else
        rc = avro_value_set_int(&v, value);
    if (rc != 0)
        return record_fail(rec, "field '%s': avro: %s", field, avro_strerror());
    rec->set[index] = 1;
    return CV_OK;
}

/* A float field takes a double when the value is within float's range. */
int cv_record_set_double(struct cv_record *rec, const char *field, double value)
{
    avro_value_t v;
    size_t index;
    int rc;

    if (record_target(rec, field, AVRO_DOUBLE, AVRO_FLOAT, "double", &v,
                      &index) != CV_OK)
        return CV_ERR;
    if (avro_value_get_type(&v) == AVRO_FLOAT) {
        if (isfinite(value) && fabs(value) > FLT_MAX)
            return record_fail(rec, "field '%s': %g is out of range for float",
                               field, value);
        rc = avro_value_set_float(&v, (float)value);
    } else {
        rc = avro_value_set_double(&v, value);
    }
    if (rc != 0)
        return record_fail(rec, "field '%s': avro: %s", field, avro_strerror());
    rec->set[index] = 1;
    return CV_OK;
}

int cv_record_set_bool(struct cv_record *rec, const char *field, int value)
{
    avro_value_t v;
    size_t index;

    if (record_target(rec, field, AVRO_BOOLEAN, AVRO_BOOLEAN, "boolean", &v,
                      &index) != CV_OK)
        return CV_ERR;
    if (avro_value_set_boolean(&v, value ? 1 : 0) != 0)
        return record_fail(rec, "field '%s': avro: %s", field, avro_strerror());
    rec->set[index] = 1;
    return CV_OK;
}

int cv_record_encode(struct cv_record *rec, char **out, size_t *out_len,
                     char *errstr, size_t errstr_size)
{
    struct enc e = {NULL, errstr, errstr_size, 0};
    avro_schema_t sch;

    if (!rec)
        return cv_err(errstr, errstr_size, "no record to encode");
    e.schema = rec->schema;
    sch = rec->schema->avro;
    if (rec->error)
        return cv_err(errstr, errstr_size, "%s", rec->error);
    for (size_t i = 0; i < rec->nfields; i++) {
        const char *fname = avro_schema_record_field_name(sch, (int)i);
        avro_schema_t fsch = avro_schema_record_field_get_by_index(sch, (int)i);
        avro_value_t child;

        if (rec->set[i])
            continue;
        if (avro_value_get_by_index(&rec->value, i, &child, NULL) != 0)
            return cv_err(errstr, errstr_size, "avro: %s", avro_strerror());
        if (!is_nullable(fsch) &&
            !cv_schema_field_default(rec->schema, rec->schema->name, fname))
            return cv_err(errstr, errstr_size,
                          "field '%s': required, and never set", fname);
        if (fill_missing(&e, &child, sch, fsch, fname, fname, 1) != CV_OK)
            return CV_ERR;
    }
    return frame_value(rec->schema->id, &rec->value, out, out_len, errstr,
                       errstr_size);
}
