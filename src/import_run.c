/*
 * import_run.c - one import, from its claim to its end (import.h): the
 * transfer, the rows, the chunks.
 *
 * The transfer feeds the CSV reader as bytes arrive (a blocking libcurl
 * easy handle, or fread for file://); the reader hands out rows; each row
 * is checked and added to the chunk's column arrays; at a row boundary
 * with chunk_rows rows in hand the chunk is committed with the progress
 * (import_store.h). The transfer is paused while that happens (we are in
 * its write callback), so no transaction is ever open while the network is
 * read, and nothing is held but one chunk: memory does not grow with the
 * file. A crash loses the chunk in hand; the next worker starts again at
 * the stored offset, a row boundary, with a fresh reader.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"
#include "import.h"
#include "import_csv.h"
#include "import_store.h"
#include "log.h"
#include "sqlparam.h"
#include "sqlroute.h"

#define HEARTBEAT_MS 2000
#define RAW_MAX      1024

enum result { GOING = 0, DONE, LOST, STOPPED, TRANSIENT, PERMANENT };

struct run {
    const struct cv_topology *topo;
    const struct cv_catalogue *cat;
    const struct cv_topo_import *def;
    struct cv_pg *pg;
    const struct cv_import_claim *c;
    atomic_int *stop;
    json_t *context;
    char kv[200];
    struct cv_csv *csv;
    /* the header: for each column of the importer, its field or -1 */
    char **header;
    size_t nheader;
    int have_header, header_new;
    int *colmap;
    /* progress as committed */
    int64_t offset, line, rows_ok, rows_bad;
    /* the chunk in hand */
    struct cv_pg_array *cols, lines;
    int64_t nrows;
    struct cv_pg_array bad_lines, bad_reasons, bad_raws;
    int64_t nbad;
    int64_t end_offset, end_line; /* its last row boundary */
    enum result result;
    char error[512];
    /* the transfer */
    int64_t skip; /* bytes to drop: a 200 answer to a Range request */
    int status_checked;
    int64_t next_beat_ms, size;
    int moved;
    CURL *easy;
};

static void set_result(struct run *r, enum result res, const char *fmt, ...)
    CV_PRINTF(3, 4);

static void set_result(struct run *r, enum result res, const char *fmt, ...)
{
    va_list ap;

    if (r->result != GOING)
        return;
    r->result = res;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
}

int cv_import_email_ok(const char *s)
{
    const char *at = strchr(s, '@'), *dot;
    size_t len = strlen(s);

    if (!at || at == s || strchr(at + 1, '@') || len > 254 || at - s > 64)
        return 0;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch >= 0x7f || strchr("()<>[]\\,;:\"", ch))
            return 0;
    }
    dot = strrchr(at, '.');
    return dot && dot > at + 1 && dot[1] && !strstr(at, "..") && at[1] != '.' &&
           s[len - 1] != '.';
}

/* A copy of s, trimmed of spaces and tabs at both ends. */
static void trimmed(const char *s, char *out, size_t size)
{
    size_t len;

    while (*s == ' ' || *s == '\t')
        s++;
    len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    snprintf(out, size, "%.*s", (int)len, s);
}

/* What may go into a text column: valid UTF-8, no control characters but
 * tab, at most RAW_MAX bytes. */
static void sanitized(const char *s, size_t len, char *out)
{
    size_t n = len < RAW_MAX ? len : RAW_MAX;

    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    memcpy(out, s, n);
    out[n] = '\0';
    if (cv_text_check(out, n) == CV_TEXT_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] >= 0x80 ||
            ((unsigned char)out[i] < 0x20 && out[i] != '\t'))
            out[i] = '?';
}

static void add_bad(struct run *r, int64_t line, const char *why,
                    const char *raw, size_t raw_len)
{
    char num[24], clean[RAW_MAX + 1];

    snprintf(num, sizeof(num), "%lld", (long long)line);
    cv_pg_array_add(&r->bad_lines, num);
    cv_pg_array_add(&r->bad_reasons, why);
    sanitized(raw ? raw : "", raw ? raw_len : 0, clean);
    cv_pg_array_add(&r->bad_raws, clean);
    r->nbad++;
}

/* The header row: which field holds each of the importer's columns. */
static void take_header(struct run *r, const struct cv_csv_row *row)
{
    char name[256], have[512] = "";

    if (row->error) {
        set_result(r, PERMANENT, "the header row (line %lld) is bad: %s",
                   (long long)row->line, row->error);
        return;
    }
    r->header = cv_calloc(row->nfields + 1, sizeof(*r->header));
    for (size_t i = 0; i < row->nfields; i++) {
        trimmed(row->fields[i], name, sizeof(name));
        for (char *p = name; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a'
                        : *p == ' '            ? '_'
                                               : *p);
        if (cv_text_check(name, strlen(name)) != CV_TEXT_OK)
            snprintf(name, sizeof(name), "?");
        r->header[r->nheader++] = cv_strdup(name);
    }
    r->have_header = 1;
    r->header_new = 1;
    for (size_t k = 0; k < r->def->nrequired; k++) {
        int found = 0;
        for (size_t i = 0; i < r->nheader; i++)
            found |= strcmp(r->header[i], r->def->required[k]) == 0;
        if (found)
            continue;
        for (size_t i = 0; i < r->nheader; i++)
            snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%s",
                     i ? ", " : "", r->header[i]);
        set_result(r, PERMANENT,
                   "the header row has no column '%s' (it has: %s)",
                   r->def->required[k], have[0] ? have : "none");
        return;
    }
}

static void map_columns(struct run *r)
{
    r->colmap = cv_calloc(r->def->ncolumns, sizeof(*r->colmap));
    for (size_t k = 0; k < r->def->ncolumns; k++) {
        r->colmap[k] = -1;
        for (size_t i = 0; i < r->nheader && r->colmap[k] < 0; i++)
            if (strcmp(r->header[i], r->def->columns[k]) == 0)
                r->colmap[k] = (int)i;
    }
}

static int listed(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

/* A data row: checked, then into the chunk's arrays, or a bad row. */
static void add_row(struct run *r, const struct cv_csv_row *row)
{
    const struct cv_topo_import *d = r->def;
    char why[300] = "", v[512], num[24];

    for (size_t k = 0; k < d->ncolumns && !why[0]; k++) {
        int i = r->colmap[k];
        const char *f =
            i >= 0 && (size_t)i < row->nfields ? row->fields[i] : NULL;
        if (f && cv_text_check(f, strlen(f)) != CV_TEXT_OK)
            snprintf(why, sizeof(why), "column '%s' is not valid UTF-8",
                     d->columns[k]);
        trimmed(f ? f : "", v, sizeof(v));
        if (!why[0] && !v[0] &&
            listed(d->required, d->nrequired, d->columns[k]))
            snprintf(why, sizeof(why), "missing required field '%s'",
                     d->columns[k]);
        else if (!why[0] && v[0] &&
                 listed(d->emails, d->nemails, d->columns[k]) &&
                 !cv_import_email_ok(v))
            snprintf(why, sizeof(why), "invalid email '%.200s'", v);
    }
    if (why[0]) {
        char raw[RAW_MAX + 1] = "";
        size_t len = 0;
        for (size_t i = 0; i < row->nfields && len < RAW_MAX; i++)
            len += (size_t)snprintf(raw + len, sizeof(raw) - len, "%s%s",
                                    i ? "," : "", row->fields[i]);
        add_bad(r, row->line, why, raw, len < RAW_MAX ? len : RAW_MAX);
        return;
    }
    for (size_t k = 0; k < d->ncolumns; k++) {
        int i = r->colmap[k];
        cv_pg_array_add_nullable(&r->cols[k], i >= 0 && (size_t)i < row->nfields
                                                  ? row->fields[i]
                                                  : NULL);
    }
    snprintf(num, sizeof(num), "%lld", (long long)row->line);
    cv_pg_array_add(&r->lines, num);
    r->nrows++;
}

/* ---- the outcome event ---- */

static int outcome(struct run *r, int ok, int64_t rows_ok, int64_t rows_bad,
                   int64_t lines, const char *error)
{
    const struct cv_import_claim *c = r->c;
    const struct cv_topo_event *te =
        cv_topology_event(r->topo, c->outcome_type);
    const struct cv_schema *sch =
        te ? cv_catalogue_by_name(r->cat, te->schema) : NULL;
    struct cv_record *rec;
    struct cv_pg_error err;
    char errstr[512], id[96], *value = NULL;
    size_t len = 0;
    int rc = CV_ERR;

    if (!sch) {
        CV_LOG(CV_LOG_ERROR, r->kv,
               "outcome type '%s' is not declared in the topology: no "
               "outcome event",
               c->outcome_type);
        return CV_OK; /* nothing can make it encode: end the import */
    }
    rec = cv_record_new(sch);
    if (cv_record_set_long(rec, "import_id", c->id) != CV_OK ||
        cv_record_set_string(rec, "importer", r->def->name) != CV_OK ||
        cv_record_set_bool(rec, "ok", ok) != CV_OK ||
        cv_record_set_string(rec, "error", error) != CV_OK ||
        cv_record_set_long(rec, "rows", rows_ok) != CV_OK ||
        cv_record_set_long(rec, "bad_rows", rows_bad) != CV_OK ||
        cv_record_set_long(rec, "lines", lines) != CV_OK ||
        cv_record_set_string(rec, "context", c->context) != CV_OK ||
        cv_record_set_string(rec, "source_event_id", c->source_event_id) !=
            CV_OK ||
        cv_record_set_string(rec, "key",
                             c->outcome_key ? c->outcome_key : "") != CV_OK ||
        cv_record_encode(rec, &value, &len, errstr, sizeof(errstr)) != CV_OK) {
        CV_LOG(CV_LOG_ERROR, r->kv,
               "the outcome does not make a %s (schema %s): no outcome event",
               c->outcome_type, te->schema);
        cv_record_destroy(rec);
        return CV_OK;
    }
    cv_record_destroy(rec);
    snprintf(id, sizeof(id), "import-%lld-%d-%s", (long long)c->id,
             c->generation, ok ? "done" : "failed");
    rc = cv_import_store_outbox(r->pg, te->topic, id, te->type, c->outcome_key,
                                value, len, &err);
    if (rc != CV_OK)
        CV_LOG(CV_LOG_WARN, r->kv, "queueing the outcome: %s", err.message);
    free(value);
    return rc;
}

/* ---- chunks ---- */

/* The sink's parameters for the chunk in hand (fresh strings in v). */
static void sink_params(struct run *r, char **v)
{
    const struct cv_sqltext *q = r->def->sink;

    for (int k = 0; k < q->nparams; k++) {
        const struct cv_sqlparam *p = &q->params[k];
        const char *s = NULL;
        json_t *j;

        v[k] = NULL;
        switch (p->kind) {
        case CV_PARAM_COL:
            for (size_t c = 0; c < r->def->ncolumns; c++)
                if (strcmp(r->def->columns[c], p->name) == 0)
                    s = r->cols[c].buf;
            break;
        case CV_PARAM_ROW:
            s = r->lines.buf;
            break;
        case CV_PARAM_IMPORT:
            if (strcmp(p->name, "id") == 0)
                v[k] = cv_asprintf("%lld", (long long)r->c->id);
            else
                s = strcmp(p->name, "key") == 0 ? r->c->key : r->c->source;
            break;
        case CV_PARAM_CONTEXT:
            j = r->context ? json_object_get(r->context, p->name) : NULL;
            if (json_is_string(j))
                s = json_string_value(j);
            else if (j && !json_is_null(j))
                v[k] = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
            break;
        default:
            s = cv_sqlroute_static_value(r->topo, p->kind, p->name);
            break;
        }
        if (s && !v[k])
            v[k] = cv_strdup(s);
    }
}

/* The header as a text[] literal. */
static char *header_literal(struct run *r)
{
    struct cv_pg_array a = {0};

    for (size_t i = 0; i < r->nheader; i++)
        cv_pg_array_add(&a, r->header[i]);
    if (!a.buf)
        return cv_strdup("{}");
    return a.buf;
}

static void chunk_clear(struct run *r)
{
    for (size_t k = 0; k < r->def->ncolumns; k++)
        cv_pg_array_clear(&r->cols[k]);
    cv_pg_array_clear(&r->lines);
    cv_pg_array_clear(&r->bad_lines);
    cv_pg_array_clear(&r->bad_reasons);
    cv_pg_array_clear(&r->bad_raws);
    r->nrows = r->nbad = 0;
}

/* Commits the chunk in hand (the end of the import when final). */
static int commit(struct run *r, int final)
{
    const struct cv_sqltext *q = r->def->sink;
    char **v = cv_calloc((size_t)q->nparams + 1, sizeof(*v)), *header = NULL;
    struct cv_pg_error err;
    int64_t refused = 0, offset = final ? cv_csv_offset(r->csv) : r->end_offset;
    int64_t line = r->end_line, add_ok, add_bad;
    int rc;

    if (final && !r->have_header) {
        free(v);
        set_result(r, PERMANENT, "the file is empty: no header row");
        return CV_ERR;
    }
    rc = cv_import_store_begin(r->pg, r->c->id, r->c->generation, &err);
    if (rc == CV_NULL) {
        free(v);
        set_result(r, LOST, "taken away");
        return CV_ERR;
    }
    if (rc != CV_OK)
        goto failed;
    if (r->nrows) {
        sink_params(r, v);
        rc = cv_import_store_sink(
            r->pg, q->sql, q->nparams, (const char *const *)v, &r->bad_lines,
            &r->bad_reasons, &r->bad_raws, &refused, &err);
        for (int k = 0; k < q->nparams; k++)
            free(v[k]);
        if (rc != CV_OK)
            goto rollback;
    }
    free(v);
    v = NULL;
    add_ok = r->nrows - refused;
    add_bad = r->nbad + refused;
    if (r->header_new)
        header = header_literal(r);
    if (cv_import_store_errors(r->pg, r->c->id, &r->bad_lines, &r->bad_reasons,
                               &r->bad_raws, &err) != CV_OK ||
        cv_import_store_progress(r->pg, r->c->id, offset, line, add_ok, add_bad,
                                 header, final, &err) != CV_OK ||
        (final && outcome(r, 1, r->rows_ok + add_ok, r->rows_bad + add_bad,
                          line, NULL) != CV_OK) ||
        cv_import_store_commit(r->pg, &err) != CV_OK) {
        free(header);
        goto rollback;
    }
    free(header);
    r->header_new = 0;
    r->offset = offset;
    r->line = line;
    r->rows_ok += add_ok;
    r->rows_bad += add_bad;
    chunk_clear(r);
    return CV_OK;
rollback:
    cv_import_store_rollback(r->pg);
failed:
    free(v);
    /* a sink that fails on good data fails every time: say so and let the
     * attempts run out; a lost connection is transient too */
    set_result(r, TRANSIENT, "committing a chunk at line %lld: %s%s%s",
               (long long)r->line, err.message,
               err.sqlstate[0] ? " SQLSTATE " : "", err.sqlstate);
    return CV_ERR;
}

/* ---- the reader's rows ---- */

static void beat(struct run *r);

static int on_row(void *opaque, const struct cv_csv_row *row)
{
    struct run *r = opaque;

    if (!r->have_header) {
        take_header(r, row);
        if (r->result == GOING)
            map_columns(r);
    } else if (row->error) {
        add_bad(r, row->line, row->error, row->raw, row->raw_len);
    } else {
        add_row(r, row);
    }
    if (row->end_offset >= 0) {
        r->end_offset = row->end_offset;
        r->end_line = row->end_line;
        if (r->result == GOING && r->nrows + r->nbad >= r->def->chunk_rows)
            commit(r, 0);
    }
    return r->result != GOING;
}

/* Every HEARTBEAT_MS: still ours, and not asked to stop? */
static void beat(struct run *r)
{
    struct cv_pg_error err;
    int ours = 1;

    if (atomic_load(r->stop)) {
        set_result(r, STOPPED, "stopping");
        return;
    }
    if (cv_mono_ms() < r->next_beat_ms)
        return;
    r->next_beat_ms = cv_mono_ms() + HEARTBEAT_MS;
    if (cv_import_store_heartbeat(r->pg, r->c->id, r->c->generation, r->moved,
                                  r->size, &ours, &err) != CV_OK)
        set_result(r, TRANSIENT, "postgres: %s", err.message);
    else if (!ours)
        set_result(r, LOST, "taken away (stalled, retried or resumed)");
    r->moved = 0;
}

static void feed(struct run *r, const char *buf, size_t n)
{
    r->moved = 1;
    if (r->skip) {
        size_t k = (int64_t)n < r->skip ? n : (size_t)r->skip;
        r->skip -= (int64_t)k;
        buf += k;
        n -= k;
    }
    if (n && r->result == GOING)
        cv_csv_feed(r->csv, buf, n);
    beat(r);
}

/* ---- transfers ---- */

static void read_file(struct run *r, const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char buf[65536];
    size_t n;

    if (!f) {
        set_result(r,
                   errno == ENOENT || errno == EACCES ? PERMANENT : TRANSIENT,
                   "%s: %s", path, strerror(errno));
        return;
    }
    if (fstat(fileno(f), &st) == 0)
        r->size = (int64_t)st.st_size;
    if (fseeko(f, (off_t)r->offset, SEEK_SET) != 0) {
        set_result(r, TRANSIENT, "%s: seek: %s", path, strerror(errno));
        fclose(f);
        return;
    }
    while (r->result == GOING && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        feed(r, buf, n);
    if (r->result == GOING && ferror(f))
        set_result(r, TRANSIENT, "%s: read: %s", path, strerror(errno));
    fclose(f);
}

/* Judges the answer's status before its body is read. */
static void check_status(struct run *r)
{
    long code = 0;

    r->status_checked = 1;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code == 206)
        return;
    if (code == 200) {
        r->skip = r->offset; /* the server ignored Range: drop what we have */
        return;
    }
    if (code == 416 && r->offset > 0) {
        set_result(r, DONE, "nothing past byte %lld", (long long)r->offset);
        return;
    }
    if (code == 400 || code == 401 || code == 403 || code == 404 || code == 410)
        set_result(r, PERMANENT, "storage answered HTTP %ld", code);
    else
        set_result(r, TRANSIENT, "storage answered HTTP %ld", code);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    struct run *r = opaque;
    size_t n = size * nmemb;

    if (!r->status_checked)
        check_status(r);
    if (r->result != GOING)
        return 0;
    feed(r, ptr, n);
    return r->result == GOING ? n : 0;
}

static int on_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    struct run *r = opaque;

    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (dltotal > 0 && r->size < 0)
        r->size = r->offset + (int64_t)dltotal;
    beat(r);
    return r->result != GOING;
}

static void read_http(struct run *r, const char *url)
{
    const char *secret = r->def->secret_env ? getenv(r->def->secret_env) : NULL;
    struct curl_slist *headers = NULL;
    char range[48], errbuf[CURL_ERROR_SIZE] = "", *auth = NULL;
    CURLcode cc;

    r->easy = curl_easy_init();
    if (!r->easy) {
        set_result(r, TRANSIENT, "libcurl cannot start");
        return;
    }
    if (secret && *secret) {
        auth = cv_asprintf("Authorization: Bearer %s", secret);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, headers);
    if (r->offset > 0) {
        snprintf(range, sizeof(range), "%lld-", (long long)r->offset);
        curl_easy_setopt(r->easy, CURLOPT_RANGE, range);
    }
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)r->def->timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(r->easy, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(r->easy, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(r->easy, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, errbuf);
    cc = curl_easy_perform(r->easy);
    if (cc == CURLE_OK && !r->status_checked)
        check_status(r); /* an answer without a body */
    if (cc != CURLE_OK && r->result == GOING)
        set_result(r, TRANSIENT, "%s",
                   errbuf[0] ? errbuf : curl_easy_strerror(cc));
    curl_slist_free_all(headers);
    free(auth);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
}

/* The source as a URL: as it is, or below the importer's base URL. */
static char *source_url(const struct cv_topo_import *d, const char *source)
{
    const char *base = d->base_url_env ? getenv(d->base_url_env) : NULL;
    size_t n;

    if (strstr(source, "://"))
        return cv_strdup(source);
    if (!base || !*base)
        base = d->base_url;
    if (!base)
        return cv_asprintf("file://%s", source);
    n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    while (*source == '/')
        source++;
    return cv_asprintf("%.*s/%s", (int)n, base, source);
}

/* ---- the end of an attempt ---- */

static void fail(struct run *r)
{
    struct cv_pg_error err;
    int rc = cv_import_store_begin(r->pg, r->c->id, r->c->generation, &err);

    if (rc == CV_NULL)
        return; /* someone else decided */
    if (rc == CV_OK &&
        cv_import_store_failed(r->pg, r->c->id, r->error, &err) == CV_OK &&
        outcome(r, 0, r->rows_ok, r->rows_bad, r->line, r->error) == CV_OK &&
        cv_import_store_commit(r->pg, &err) == CV_OK) {
        CV_LOG(CV_LOG_WARN, r->kv, "failed: %s", r->error);
        return;
    }
    if (rc == CV_OK)
        cv_import_store_rollback(r->pg);
    CV_LOG(CV_LOG_WARN, r->kv, "could not record the failure (%s): %s",
           err.message, r->error);
}

static void attempt_over(struct run *r)
{
    struct cv_pg_error err;
    int64_t delay;

    switch (r->result) {
    case DONE:
    case GOING:
        CV_LOG(CV_LOG_INFO, r->kv, "done: %lld rows, %lld bad, %lld lines",
               (long long)r->rows_ok, (long long)r->rows_bad,
               (long long)r->line);
        return;
    case LOST:
    case STOPPED:
        CV_LOG(CV_LOG_INFO, r->kv, "let go at line %lld: %s",
               (long long)r->line, r->error);
        return;
    case PERMANENT:
        fail(r);
        return;
    case TRANSIENT:
        if (r->c->failures + 1 >= r->def->max_attempts) {
            char why[sizeof(r->error)];
            snprintf(why, sizeof(why), "no attempts left (%d): %.460s",
                     r->def->max_attempts, r->error);
            memcpy(r->error, why, sizeof(why));
            fail(r);
            return;
        }
        delay = r->def->initial_ms;
        for (int i = 0; i < r->c->failures && delay < r->def->max_ms; i++)
            delay *= 2;
        if (delay > r->def->max_ms)
            delay = r->def->max_ms;
        if (cv_import_store_retry_later(r->pg, r->c->id, r->c->generation,
                                        delay, r->error, &err) == CV_ERR)
            CV_LOG(CV_LOG_WARN, r->kv, "could not record the failure: %s",
                   err.message);
        else
            CV_LOG(CV_LOG_WARN, r->kv,
                   "attempt %d failed at line %lld (again in %lld ms): %s",
                   r->c->failures + 1, (long long)r->line, (long long)delay,
                   r->error);
        return;
    }
}

void cv_import_run(const struct cv_topology *topo,
                   const struct cv_catalogue *cat,
                   const struct cv_topo_import *def, struct cv_pg *pg,
                   const struct cv_import_claim *claim, atomic_int *stop)
{
    struct run r;
    char *url;

    memset(&r, 0, sizeof(r));
    r.topo = topo;
    r.cat = cat;
    r.def = def;
    r.pg = pg;
    r.c = claim;
    r.stop = stop;
    r.size = -1;
    r.offset = claim->offset;
    r.line = r.end_line = claim->line;
    r.end_offset = claim->offset;
    r.rows_ok = claim->rows_ok;
    r.rows_bad = claim->rows_bad;
    snprintf(r.kv, sizeof(r.kv), "component=imports importer=%s import=%lld",
             def->name, (long long)claim->id);
    r.context = claim->context ? json_loads(claim->context, 0, NULL) : NULL;
    r.cols = cv_calloc(def->ncolumns, sizeof(*r.cols));
    if (claim->nheader) {
        r.header = cv_calloc(claim->nheader, sizeof(*r.header));
        for (size_t i = 0; i < claim->nheader; i++)
            r.header[r.nheader++] = cv_strdup(claim->header[i]);
        r.have_header = 1;
        map_columns(&r);
    } else if (claim->offset > 0) {
        set_result(&r, PERMANENT, "resumed at byte %lld without a header",
                   (long long)claim->offset);
    }
    url = source_url(def, claim->source);
    CV_LOG(CV_LOG_INFO, r.kv, "%s %s at byte %lld, line %lld (start %d)",
           claim->offset ? "resuming" : "starting", url,
           (long long)claim->offset, (long long)claim->line,
           claim->failures + 1);
    r.csv = cv_csv_new(claim->offset, claim->line, (size_t)def->max_row_bytes,
                       on_row, &r);
    if (r.result == GOING) {
        if (strncmp(url, "file://", 7) == 0)
            read_file(&r, url + 7);
        else
            read_http(&r, url);
    }
    if (r.result == DONE || r.result == GOING) {
        /* the end of the file: the last rows, then the last chunk */
        r.result = GOING;
        if (cv_csv_finish(r.csv) == CV_OK && r.result == GOING &&
            commit(&r, 1) == CV_OK)
            r.result = DONE;
    }
    attempt_over(&r);
    free(url);
    cv_csv_destroy(r.csv);
    json_decref(r.context);
    for (size_t k = 0; k < def->ncolumns; k++)
        cv_pg_array_free(&r.cols[k]);
    free(r.cols);
    cv_pg_array_free(&r.lines);
    cv_pg_array_free(&r.bad_lines);
    cv_pg_array_free(&r.bad_reasons);
    cv_pg_array_free(&r.bad_raws);
    for (size_t i = 0; i < r.nheader; i++)
        free(r.header[i]);
    free(r.header);
    free(r.colmap);
}
