/*
 * codec.c - Confluent-framed Avro: the framing, the consumer's decoder, and
 * the Avro helpers the other codec files share (codec_int.h).
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
 * Elsewhere: the field getters and the record builder (codec_value.c), JSON
 * rendering and encoding from JSON (codec_json.c). Not here at all: schema
 * resolution between writer and reader schemas (a consumer reads with the
 * writer's schema, found by id), and any schema registry.
 */
#include "codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"

/* Avro floats and doubles are little-endian; the decoder copies them. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "codec.c assumes a little-endian target"
#endif

/* ------------------------------------------------------------------ */
/* helpers shared by decoding and encoding                             */

/* Whether a value of this type can encode to zero bytes. */
int cv_codec_zero_width(avro_schema_t sch, int depth)
{
    sch = cv_codec_resolve(sch);
    if (depth > CV_CODEC_MAX_DEPTH)
        return 0;
    if (is_avro_null(sch))
        return 1;
    if (is_avro_fixed(sch))
        return avro_schema_fixed_size(sch) == 0;
    if (!is_avro_record(sch))
        return 0;
    for (size_t i = 0; i < avro_schema_record_size(sch); i++)
        if (!cv_codec_zero_width(
                avro_schema_record_field_get_by_index(sch, (int)i), depth + 1))
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
const char *cv_codec_full_name(avro_schema_t sch, char *buf, size_t size)
{
    const char *ns = avro_schema_namespace(sch);
    const char *name = avro_schema_name(sch);

    if (ns && *ns && !strchr(name, '.'))
        snprintf(buf, size, "%s.%s", ns, name);
    else
        snprintf(buf, size, "%s", name);
    return buf;
}

/* What a field of this schema wants, in words: "null or string". */
const char *cv_codec_expected(avro_schema_t sch, char *buf, size_t size)
{
    size_t off = 0;

    sch = cv_codec_resolve(sch);
    if (!is_avro_union(sch))
        return cv_avro_type_name(avro_typeof(sch));
    buf[0] = '\0';
    for (size_t i = 0; i < avro_schema_union_size(sch) && off < size; i++) {
        avro_schema_t b =
            cv_codec_resolve(avro_schema_union_branch(sch, (int)i));
        int w = snprintf(buf + off, size - off, "%s%s", i ? " or " : "",
                         cv_avro_type_name(avro_typeof(b)));
        if (w < 0)
            break;
        off += (size_t)w;
    }
    return buf;
}

int cv_codec_is_nullable(avro_schema_t sch)
{
    sch = cv_codec_resolve(sch);
    if (!is_avro_union(sch))
        return 0;
    for (size_t i = 0; i < avro_schema_union_size(sch); i++)
        if (is_avro_null(
                cv_codec_resolve(avro_schema_union_branch(sch, (int)i))))
            return 1;
    return 0;
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

/* Writes value framed with id into a new buffer. */
int cv_codec_frame_value(int id, avro_value_t *value, char **out,
                         size_t *out_len, char *errstr, size_t errstr_size)
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

    sch = cv_codec_resolve(sch);
    for (size_t i = 0; i < slot->nnodes; i++)
        if (slot->nodes[i]->schema == sch && is_avro_named_type(sch))
            return slot->nodes[i];

    node = cv_calloc(1, sizeof(*node));
    node->schema = sch;
    node->type = avro_typeof(sch);
    node->zero = cv_codec_zero_width(sch, 0);
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
    const char
        *path[CV_CODEC_MAX_DEPTH + 1]; /* record field names, outermost first */
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
                                  CV_CODEC_ZERO_WIDTH_MAX);
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

    if (++sc->depth > CV_CODEC_MAX_DEPTH)
        return scan_failf(sc, "nested deeper than %d", CV_CODEC_MAX_DEPTH);

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
    sc.zero_items = CV_CODEC_ZERO_WIDTH_MAX;
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
