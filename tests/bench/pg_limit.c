/*
 * pg_limit.c - the Postgres limit for the leads domain's writes: how fast
 * this Postgres absorbs what `conveyor run --domain leads` writes for N
 * lead.submitted events, written the cheapest way a bare libpq program can.
 *
 * Per event, the same rows as the engine and consumers/leads.c: a
 * marketplace.leads row, a marketplace.email_verification_queue row, +1 in
 * marketplace.partner_monthly_volume, a conveyor.outbox row (the
 * verification.requested the handler emits, Avro-framed like the real one)
 * and a conveyor.inbox row; per batch, the offset compare-and-set
 * (conveyor.advance_offsets) over the partitions the batch touched and the
 * NOTIFY that wakes the relay; one transaction per batch. The data is
 * bench.sh's generator (gen_leads in tests/integration/lib.sh) computed in
 * place, and each event's partition is the producer's (murmur2 of the
 * partner id), so the same partitions advance.
 *
 * Two ways of writing a batch, --mode:
 *   copy    one COPY per insert-only table, the volume as one aggregated
 *           multi-row upsert; about nine round trips per batch.
 *   unnest  one multi-row INSERT ... SELECT FROM unnest($n::type[]) per
 *           table, all in one libpq pipeline: one round trip per batch.
 * The volume is aggregated per (partner, month) inside the batch in both:
 * one upsert cannot touch a row twice, and that is what a limit would do.
 *
 * What it does not do (the engine does): read the inbox to drop duplicate
 * events, decode Avro, run handlers, talk to Kafka. The tables must exist
 * (`conveyor migrate`) and should be empty: bench.sh truncates them.
 *
 * Usage: pg_limit N [--batch B] [--partitions P] [--partners K]
 *                   [--mode copy|unnest]
 * Connects with libpq's environment (PGHOST, PGDATABASE, ...). Prints one
 * key=value line on stdout; exit 0 on success, 1 on a database error, 2 on
 * usage errors.
 */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROUP_ID    "conveyor.leads"
#define LEADS_TOPIC "marketplace.leads"
#define OUT_TOPIC   "marketplace.verification"
#define OUT_TYPE    "marketplace.verification.requested"
#define OUT_SOURCE  "conveyor/leads"
#define OUT_SCHEMA  3 /* marketplace.VerificationRequested in ids.cfg */
#define T0_MS       1763790000000LL

/* ------------------------------------------------------------- helpers */

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "pg_limit: out of memory\n");
        abort();
    }
    return p;
}

/* A growable byte buffer; text in it is always NUL-terminated. */
struct buf {
    char *p;
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    while (b->len + more + 1 > b->cap)
        b->cap = b->cap ? b->cap * 2 : 4096;
    b->p = xrealloc(b->p, b->cap);
}

static void buf_add(struct buf *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void buf_hex(struct buf *b, const unsigned char *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    buf_reserve(b, n * 2);
    for (size_t i = 0; i < n; i++) {
        b->p[b->len++] = digits[data[i] >> 4];
        b->p[b->len++] = digits[data[i] & 15];
    }
    b->p[b->len] = '\0';
}

/* Starts or continues a text[] literal: '{' first, ',' after. Elements are
 * double-quoted; the generated values hold no quote or backslash. */
static void arr_add(struct buf *b, const char *s)
{
    buf_add(b, b->len ? "," : "{", 1);
    buf_printf(b, "\"%s\"", s);
}

static void arr_add_ll(struct buf *b, long long v)
{
    buf_add(b, b->len ? "," : "{", 1);
    buf_printf(b, "%lld", v);
}

static const char *arr_end(struct buf *b)
{
    buf_add(b, b->len ? "}" : "{}", b->len ? 1 : 2);
    return b->p;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Kafka's murmur2 partitioner (the Java client's, librdkafka's
 * murmur2_random for non-empty keys). */
static uint32_t murmur2(const void *key, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    const int r = 24;
    const unsigned char *data = key;
    uint32_t h = 0x9747b28cU ^ (uint32_t)len;

    while (len >= 4) {
        uint32_t k = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
                     (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
        data += 4;
        len -= 4;
    }
    switch (len) {
    case 3:
        h ^= (uint32_t)data[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[1] << 8;
        /* fall through */
    case 1:
        h ^= data[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

/* Avro's zigzag varint for a long. */
static size_t avro_long(unsigned char *out, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z > 0x7f) {
        out[n++] = (unsigned char)(z & 0x7f) | 0x80;
        z >>= 7;
    }
    out[n++] = (unsigned char)z;
    return n;
}

static size_t avro_string(unsigned char *out, const char *s)
{
    size_t len = strlen(s), n = avro_long(out, (int64_t)len);
    memcpy(out + n, s, len);
    return n + len;
}

/* ---------------------------------------------------------------- data */

/* One generated event: the fields of gen_leads' line number i. */
struct event {
    char id[24];
    char lead[40], partner[40], email[48];
    long long submitted_ms;
    char submitted[40]; /* timestamptz text, UTC */
    char month[16];     /* first day of the submitted month, UTC */
    int partition;
};

static void event_make(struct event *ev, long long i, int partners,
                       int partitions)
{
    time_t secs;
    struct tm tm;

    snprintf(ev->id, sizeof(ev->id), "evt-%lld", i);
    snprintf(ev->lead, sizeof(ev->lead), "%08llx-0000-4000-8000-%012llx",
             i & 0xffffffffLL, i);
    snprintf(ev->partner, sizeof(ev->partner),
             "00000000-0000-4000-8000-%012llx", i % partners);
    snprintf(ev->email, sizeof(ev->email), "lead%lld@example.com", i);
    ev->submitted_ms = T0_MS + i * 1000;
    secs = (time_t)(ev->submitted_ms / 1000);
    gmtime_r(&secs, &tm);
    strftime(ev->submitted, sizeof(ev->submitted), "%Y-%m-%d %H:%M:%S+00",
             &tm);
    strftime(ev->month, sizeof(ev->month), "%Y-%m-01", &tm);
    ev->partition =
        (int)((murmur2(ev->partner, strlen(ev->partner)) & 0x7fffffff) %
              (uint32_t)partitions);
}

/* The outbox value: Confluent framing and a VerificationRequested body. */
static size_t outbox_value(unsigned char *out, const struct event *ev)
{
    size_t n = 0;
    out[n++] = 0;
    out[n++] = (OUT_SCHEMA >> 24) & 0xff;
    out[n++] = (OUT_SCHEMA >> 16) & 0xff;
    out[n++] = (OUT_SCHEMA >> 8) & 0xff;
    out[n++] = OUT_SCHEMA & 0xff;
    n += avro_string(out + n, ev->lead);
    n += avro_string(out + n, ev->partner);
    n += avro_string(out + n, ev->email);
    return n;
}

/* The volume increments of one batch, summed per (partner, month). */
struct vol {
    char partner[40], month[16];
    long long n;
};

static size_t vol_add(struct vol *v, size_t nv, const struct event *ev)
{
    for (size_t k = 0; k < nv; k++)
        if (strcmp(v[k].partner, ev->partner) == 0 &&
            strcmp(v[k].month, ev->month) == 0) {
            v[k].n++;
            return nv;
        }
    memcpy(v[nv].partner, ev->partner, sizeof(v[nv].partner));
    memcpy(v[nv].month, ev->month, sizeof(v[nv].month));
    v[nv].n = 1;
    return nv + 1;
}

/* ------------------------------------------------------------ postgres */

struct bench {
    PGconn *conn;
    const char *mode;
    long long n;
    int batch, partitions, partners;
    long long *offsets;     /* per partition: next offset to write */
    long long *batch_start; /* per partition: stored offset, or -1 */
    int64_t *commit_us;
    size_t ncommits;
    long long vol_rows, cas_rows;
};

