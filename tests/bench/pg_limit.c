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

/* Writes 2n hex digits and a NUL to out. */
static void hex_to(char *out, const unsigned char *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * n] = '\0';
}

static void buf_hex(struct buf *b, const unsigned char *data, size_t n)
{
    buf_reserve(b, n * 2);
    hex_to(b->p + b->len, data, n);
    b->len += n * 2;
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
    strftime(ev->submitted, sizeof(ev->submitted), "%Y-%m-%d %H:%M:%S+00", &tm);
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

/* The per-batch buffers: array literals (unnest mode, volume, CAS) and
 * COPY data (copy mode). */
/* clang-format off */
enum {
    A_LEAD, A_PARTNER, A_EMAIL, A_MS, A_ID, A_VALUE, A_TIME, /* unnest */
    A_VPARTNER, A_VMONTH, A_VCOUNT,                          /* volume */
    A_CTOPIC, A_CPART, A_CEXPECTED, A_CNEXT,                 /* CAS */
    C_LEADS, C_QUEUE, C_OUTBOX, C_INBOX,                     /* COPY */
    NBUFS
};
/* clang-format on */

struct bench {
    PGconn *conn;
    int copy_mode;
    long long n;
    int batch, partitions, partners;
    long long *offsets;     /* per partition: next offset to write */
    long long *batch_start; /* per partition: stored offset, or -1 */
    struct buf bufs[NBUFS];
    int64_t *commit_us;
    size_t ncommits;
    long long vol_rows, cas_rows;
};

/* Statements prepared once, before the clock starts. */
static const struct {
    const char *name, *sql;
} statements[] = {
    {"leads", "INSERT INTO marketplace.leads (lead_id, partner_id, email, "
              "first_name, submitted_at) SELECT l, p, e, 'Ada', "
              "to_timestamp(ms / 1000.0) FROM unnest($1::uuid[], $2::uuid[], "
              "$3::text[], $4::bigint[]) AS u(l, p, e, ms) "
              "ON CONFLICT (lead_id) DO NOTHING"},
    {"queue", "INSERT INTO marketplace.email_verification_queue (lead_id, "
              "partner_id, email, status, source_event_id) SELECT l, p, e, "
              "'pending', i FROM unnest($1::uuid[], $2::uuid[], $3::text[], "
              "$4::text[]) AS u(l, p, e, i)"},
    {"outbox",
     "INSERT INTO conveyor.outbox (topic, key, value, event_id, "
     "event_type, source, event_time) SELECT '" OUT_TOPIC "', "
     "convert_to(k, 'UTF8'), decode(v, 'hex'), i || '.1', '" OUT_TYPE
     "', '" OUT_SOURCE "', t FROM unnest($1::text[], $2::text[], $3::text[], "
     "$4::bigint[]) AS u(k, v, i, t)"},
    {"inbox", "INSERT INTO conveyor.inbox (group_id, event_id) SELECT $1, "
              "unnest($2::text[])"},
    {"volume",
     "INSERT INTO marketplace.partner_monthly_volume (partner_id, month, "
     "leads) SELECT * FROM unnest($1::uuid[], $2::date[], $3::bigint[]) "
     "ON CONFLICT (partner_id, month) DO UPDATE SET leads = "
     "marketplace.partner_monthly_volume.leads + EXCLUDED.leads"},
    {"cas", "SELECT conveyor.advance_offsets($1, $2::text[], $3::int[], "
            "$4::bigint[], $5::bigint[])"},
    {"notify", "SELECT pg_notify('conveyor_outbox', 'leads')"},
};

static const char *const COPY_LEADS =
    "COPY marketplace.leads (lead_id, partner_id, email, first_name, "
    "last_name, company, phone, submitted_at) FROM STDIN";
static const char *const COPY_QUEUE =
    "COPY marketplace.email_verification_queue (lead_id, partner_id, email, "
    "status, source_event_id) FROM STDIN";
static const char *const COPY_OUTBOX =
    "COPY conveyor.outbox (topic, key, value, event_id, event_type, source, "
    "event_time, tenant, traceparent) FROM STDIN";
static const char *const COPY_INBOX =
    "COPY conveyor.inbox (group_id, event_id) FROM STDIN";

static int result_ok(PGconn *conn, PGresult *res, const char *what)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
        st == PGRES_PIPELINE_SYNC)
        return 1;
    fprintf(stderr, "pg_limit: %s: %s", what,
            res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    return 0;
}

/* Runs one statement outside a pipeline; 0 or -1. */
static int run(PGconn *conn, const char *name, int nparams,
               const char *const *params)
{
    PGresult *res;
    int good;

    if (name[0] >= 'A' && name[0] <= 'Z')
        res = PQexec(conn, name); /* plain SQL: BEGIN, COMMIT */
    else
        res = PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
    good = result_ok(conn, res, name);
    PQclear(res);
    return good ? 0 : -1;
}

static int copy(PGconn *conn, const char *sql, const struct buf *data)
{
    PGresult *res = PQexec(conn, sql);
    int rc = -1;

    if (PQresultStatus(res) != PGRES_COPY_IN) {
        result_ok(conn, res, sql);
        goto out;
    }
    PQclear(res);
    res = NULL;
    if (PQputCopyData(conn, data->p, (int)data->len) != 1 ||
        PQputCopyEnd(conn, NULL) != 1) {
        fprintf(stderr, "pg_limit: %s: %s", sql, PQerrorMessage(conn));
        goto out;
    }
    res = PQgetResult(conn);
    if (result_ok(conn, res, sql))
        rc = 0;
out:
    PQclear(res);
    while ((res = PQgetResult(conn)))
        PQclear(res);
    return rc;
}

/* Fills the buffers with events [lo,hi) and the batch's CAS. */
static void fill(struct bench *b, long long lo, long long hi)
{
    struct buf *bf = b->bufs;
    struct vol *v = xrealloc(NULL, (size_t)(hi - lo) * sizeof(*v));
    size_t nv = 0;
    unsigned char val[256];
    char hex[520];
    struct event ev;

    for (int i = 0; i < NBUFS; i++)
        bf[i].len = 0;
    for (int p = 0; p < b->partitions; p++)
        b->batch_start[p] = -1;
    for (long long i = lo; i < hi; i++) {
        size_t vlen;
        event_make(&ev, i, b->partners, b->partitions);
        vlen = outbox_value(val, &ev);
        nv = vol_add(v, nv, &ev);
        if (b->batch_start[ev.partition] < 0)
            b->batch_start[ev.partition] = b->offsets[ev.partition];
        b->offsets[ev.partition]++;
        if (b->copy_mode) {
            buf_printf(&bf[C_LEADS], "%s\t%s\t%s\tAda\t\\N\t\\N\t\\N\t%s\n",
                       ev.lead, ev.partner, ev.email, ev.submitted);
            buf_printf(&bf[C_QUEUE], "%s\t%s\t%s\tpending\t%s\n", ev.lead,
                       ev.partner, ev.email, ev.id);
            /* bytea in COPY text: \\x and hex digits */
            buf_printf(&bf[C_OUTBOX], "%s\t\\\\x", OUT_TOPIC);
            buf_hex(&bf[C_OUTBOX], (const unsigned char *)ev.partner,
                    strlen(ev.partner));
            buf_printf(&bf[C_OUTBOX], "\t\\\\x");
            buf_hex(&bf[C_OUTBOX], val, vlen);
            buf_printf(&bf[C_OUTBOX], "\t%s.1\t%s\t%s\t%lld\t\\N\t\\N\n", ev.id,
                       OUT_TYPE, OUT_SOURCE, (long long)wall_ms());
            buf_printf(&bf[C_INBOX], "%s\t%s\n", GROUP_ID, ev.id);
        } else {
            hex_to(hex, val, vlen);
            arr_add(&bf[A_LEAD], ev.lead);
            arr_add(&bf[A_PARTNER], ev.partner);
            arr_add(&bf[A_EMAIL], ev.email);
            arr_add_ll(&bf[A_MS], ev.submitted_ms);
            arr_add(&bf[A_ID], ev.id);
            arr_add(&bf[A_VALUE], hex);
            arr_add_ll(&bf[A_TIME], (long long)wall_ms());
        }
    }
    for (size_t k = 0; k < nv; k++) {
        arr_add(&bf[A_VPARTNER], v[k].partner);
        arr_add(&bf[A_VMONTH], v[k].month);
        arr_add_ll(&bf[A_VCOUNT], v[k].n);
    }
    b->vol_rows += (long long)nv;
    for (int p = 0; p < b->partitions; p++) {
        if (b->batch_start[p] < 0)
            continue;
        arr_add(&bf[A_CTOPIC], LEADS_TOPIC);
        arr_add_ll(&bf[A_CPART], p);
        arr_add_ll(&bf[A_CEXPECTED], b->batch_start[p]);
        arr_add_ll(&bf[A_CNEXT], b->offsets[p]);
        b->cas_rows++;
    }
    for (int i = 0; i < C_LEADS; i++)
        arr_end(&bf[i]);
    free(v);
}

/* The statements of one batch after BEGIN, in the order the engine sends
 * its kinds of writes; NULL name ends the list. */
struct stmt {
    const char *name;
    int nparams;
    const char *params[5];
};

static void batch_statements(struct bench *b, struct stmt *s)
{
    struct buf *bf = b->bufs;
    struct stmt list[] = {
        {"leads",
         4,
         {bf[A_LEAD].p, bf[A_PARTNER].p, bf[A_EMAIL].p, bf[A_MS].p}},
        {"queue",
         4,
         {bf[A_LEAD].p, bf[A_PARTNER].p, bf[A_EMAIL].p, bf[A_ID].p}},
        {"volume", 3, {bf[A_VPARTNER].p, bf[A_VMONTH].p, bf[A_VCOUNT].p}},
        {"outbox",
         4,
         {bf[A_PARTNER].p, bf[A_VALUE].p, bf[A_ID].p, bf[A_TIME].p}},
        {"inbox", 2, {GROUP_ID, bf[A_ID].p}},
        {"cas",
         5,
         {GROUP_ID, bf[A_CTOPIC].p, bf[A_CPART].p, bf[A_CEXPECTED].p,
          bf[A_CNEXT].p}},
        {"notify", 0, {NULL}},
        {NULL, 0, {NULL}},
    };
    memcpy(s, list, sizeof(list));
}

/*
 * copy mode: COPY per insert-only table, prepared statements for the rest,
 * one round trip each. COMMIT is sent without waiting, the next batch is
 * built while Postgres commits, then the result is read.
 */
static int batch_copy(struct bench *b, long long hi)
{
    struct buf *bf = b->bufs;
    struct stmt s[8];
    PGresult *res;
    int rc = 0;

    batch_statements(b, s);
    if (run(b->conn, "BEGIN", 0, NULL) ||
        copy(b->conn, COPY_LEADS, &bf[C_LEADS]) ||
        copy(b->conn, COPY_QUEUE, &bf[C_QUEUE]) ||
        run(b->conn, "volume", s[2].nparams, s[2].params) ||
        copy(b->conn, COPY_OUTBOX, &bf[C_OUTBOX]) ||
        copy(b->conn, COPY_INBOX, &bf[C_INBOX]) ||
        run(b->conn, "cas", s[5].nparams, s[5].params) ||
        run(b->conn, "notify", 0, NULL))
        return -1;
    if (!PQsendQuery(b->conn, "COMMIT")) {
        fprintf(stderr, "pg_limit: COMMIT: %s", PQerrorMessage(b->conn));
        return -1;
    }
    if (hi < b->n)
        fill(b, hi, hi + b->batch < b->n ? hi + b->batch : b->n);
    while ((res = PQgetResult(b->conn))) {
        if (!result_ok(b->conn, res, "COMMIT"))
            rc = -1;
        PQclear(res);
    }
    return rc;
}

/*
 * unnest mode: BEGIN, one multi-row statement per table, the CAS, NOTIFY
 * and COMMIT in one pipeline, one round trip. The next batch is built
 * while Postgres works on this one.
 */
static int batch_unnest(struct bench *b, long long hi)
{
    struct stmt s[8];
    int rc = 0, syncs = 0;

    batch_statements(b, s);
    if (!PQsendQueryParams(b->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
        goto send_fail;
    for (int i = 0; s[i].name; i++)
        if (!PQsendQueryPrepared(b->conn, s[i].name, s[i].nparams, s[i].params,
                                 NULL, NULL, 0))
            goto send_fail;
    if (!PQsendQueryParams(b->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) ||
        !PQpipelineSync(b->conn))
        goto send_fail;
    if (hi < b->n)
        fill(b, hi, hi + b->batch < b->n ? hi + b->batch : b->n);
    /* every statement: its result, then NULL; then the sync */
    while (!syncs) {
        PGresult *res = PQgetResult(b->conn);
        if (!res) {
            if (PQstatus(b->conn) != CONNECTION_OK) {
                fprintf(stderr, "pg_limit: %s", PQerrorMessage(b->conn));
                return -1;
            }
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
            syncs = 1;
        else if (!result_ok(b->conn, res, "pipeline"))
            rc = -1;
        PQclear(res);
    }
    return rc;
send_fail:
    fprintf(stderr, "pg_limit: sending the batch: %s", PQerrorMessage(b->conn));
    return -1;
}

static int setup(struct bench *b)
{
    char parts[16];
    const char *params[3] = {GROUP_ID, LEADS_TOPIC, parts};

    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        PGresult *res =
            PQprepare(b->conn, statements[i].name, statements[i].sql, 0, NULL);
        int good = result_ok(b->conn, res, statements[i].name);
        PQclear(res);
        if (!good)
            return -1;
    }
    /* the stored offsets the CAS moves, as a consumer's assignment makes
     * them */
    snprintf(parts, sizeof(parts), "%d", b->partitions - 1);
    {
        PGresult *res = PQexecParams(
            b->conn,
            "INSERT INTO conveyor.consumer_offsets (group_id, topic, "
            "partition, next_offset) SELECT $1, $2, g, 0 FROM "
            "generate_series(0, $3::int) g ON CONFLICT (group_id, topic, "
            "partition) DO UPDATE SET next_offset = 0",
            3, NULL, params, NULL, NULL, 0);
        int good = result_ok(b->conn, res, "offsets");
        PQclear(res);
        if (!good)
            return -1;
    }
    return 0;
}

static int cmp64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, c = *(const int64_t *)y;
    return (a > c) - (a < c);
}

static double percentile_ms(int64_t *v, size_t n, double p)
{
    size_t i;
    if (!n)
        return 0;
    i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return (double)v[i < n ? i : n - 1] / 1000.0;
}

static long parse_long(const char *s, const char *what, long min, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < min || v > max) {
        fprintf(stderr, "pg_limit: %s: expected %ld..%ld, got '%s'\n", what,
                min, max, s);
        exit(2);
    }
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: pg_limit N [--batch B] [--partitions P] "
                    "[--partners K] [--mode copy|unnest]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct bench b;
    int64_t t0, t1;
    int rc = 1;

    memset(&b, 0, sizeof(b));
    b.batch = 1000;
    b.partitions = 128;
    b.partners = 50;
    if (argc < 2)
        usage();
    b.n = parse_long(argv[1], "N", 1, 100000000);
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--batch") == 0)
            b.batch = (int)parse_long(argv[++i], "--batch", 1, 100000);
        else if (strcmp(argv[i], "--partitions") == 0)
            b.partitions = (int)parse_long(argv[++i], "--partitions", 1, 10000);
        else if (strcmp(argv[i], "--partners") == 0)
            b.partners = (int)parse_long(argv[++i], "--partners", 1, 1000000);
        else if (strcmp(argv[i], "--mode") == 0 &&
                 (strcmp(argv[i + 1], "copy") == 0 ||
                  strcmp(argv[i + 1], "unnest") == 0))
            b.copy_mode = strcmp(argv[++i], "copy") == 0;
        else
            usage();
    }

    b.conn = PQconnectdb("application_name=conveyor/pg_limit");
    if (PQstatus(b.conn) != CONNECTION_OK) {
        fprintf(stderr, "pg_limit: %s", PQerrorMessage(b.conn));
        goto out;
    }
    b.offsets = calloc((size_t)b.partitions, sizeof(*b.offsets));
    b.batch_start = calloc((size_t)b.partitions, sizeof(*b.batch_start));
    b.commit_us = calloc((size_t)(b.n / b.batch + 1), sizeof(*b.commit_us));
    if (!b.offsets || !b.batch_start || !b.commit_us) {
        fprintf(stderr, "pg_limit: out of memory\n");
        goto out;
    }
    if (setup(&b))
        goto out;
    if (!b.copy_mode && !PQenterPipelineMode(b.conn)) {
        fprintf(stderr, "pg_limit: pipeline mode: %s", PQerrorMessage(b.conn));
        goto out;
    }

    t0 = mono_us();
    fill(&b, 0, b.batch < b.n ? b.batch : b.n);
    for (long long lo = 0; lo < b.n; lo += b.batch) {
        long long hi = lo + b.batch < b.n ? lo + b.batch : b.n;
        int64_t s = mono_us();
        if (b.copy_mode ? batch_copy(&b, hi) : batch_unnest(&b, hi))
            goto out;
        b.commit_us[b.ncommits++] = mono_us() - s;
    }
    t1 = mono_us();

    qsort(b.commit_us, b.ncommits, sizeof(*b.commit_us), cmp64);
    {
        double secs = (double)(t1 - t0) / 1e6;
        long long rows = 4 * b.n + b.vol_rows + b.cas_rows;
        printf("mode=%s events=%lld batch=%d batches=%zu rows=%lld "
               "seconds=%.3f events_per_s=%.0f rows_per_s=%.0f "
               "batch_p50_ms=%.1f batch_p99_ms=%.1f\n",
               b.copy_mode ? "copy" : "unnest", b.n, b.batch, b.ncommits, rows,
               secs, (double)b.n / secs, (double)rows / secs,
               percentile_ms(b.commit_us, b.ncommits, 50),
               percentile_ms(b.commit_us, b.ncommits, 99));
    }
    rc = 0;
out:
    for (int i = 0; i < NBUFS; i++)
        free(b.bufs[i].p);
    free(b.offsets);
    free(b.batch_start);
    free(b.commit_us);
    PQfinish(b.conn);
    return rc;
}
