/*
 * import_csv.c - CSV rows with their byte offsets, over libcsv
 * (import_csv.h).
 *
 * libcsv parses; it does not say where in the input a row ended. Rows are
 * therefore handed out at line breaks only: the input is fed to libcsv one
 * physical line (up to and including its LF) at a time, and after a line
 * whose count of '"' since the last boundary is even, the parser is
 * between records (strict mode rejects a quote anywhere else than around
 * a field), so the offset after that LF is a place where a fresh parser
 * can start: a row boundary. A record that spans lines inside quotes
 * simply waits for the line that closes it. After bad quoting or a row
 * that grows too long, the rest of the line is skipped and a fresh parser
 * starts at the next one; the bad row is reported with the line it began
 * on.
 *
 * This module never reads a file or a socket; import.c feeds it.
 */
#include "import_csv.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAW_MAX 1024

struct pending_row {
    int64_t line;
    size_t first, n; /* its fields in field_off[] */
};

struct cv_csv {
    struct csv_parser p;
    cv_csv_row_fn fn;
    void *opaque;
    int64_t offset;  /* bytes consumed, absolute */
    int64_t line;    /* physical lines completed */
    size_t max_row;  /* bytes a record may span */
    int bom_pending; /* at offset 0: the first bytes may be a BOM */
    unsigned char bom[3];
    size_t bom_len;
    int64_t record_line; /* where the current record began */
    size_t record_bytes; /* its bytes so far */
    int quotes_odd;      /* '"' parity since the last boundary */
    const char *bad;     /* the current record is bad: why */
    char bad_buf[96];    /* the reason's text */
    char raw[RAW_MAX];   /* the current record's first bytes */
    size_t raw_len;
    char *arena; /* fields of rows in this line and of the current one */
    size_t arena_len, arena_cap;
    size_t *field_off;
    size_t nfields, fields_cap;
    size_t row_first;         /* the current record's first field */
    size_t row_first_arena;   /* and where its text starts */
    struct pending_row *rows; /* rows completed in this line */
    size_t nrows, rows_cap;
    const char **ptrs;
    size_t ptrs_cap;
    int stopped;
};

/* libcsv: one field of the current record. */
static void on_field(void *s, size_t len, void *opaque)
{
    struct cv_csv *r = opaque;

    if (r->arena_len + len + 1 > r->arena_cap) {
        while (r->arena_len + len + 1 > r->arena_cap)
            r->arena_cap = r->arena_cap ? r->arena_cap * 2 : 1024;
        r->arena = cv_realloc(r->arena, r->arena_cap);
    }
    if (r->nfields == r->fields_cap) {
        r->fields_cap = r->fields_cap ? r->fields_cap * 2 : 32;
        r->field_off =
            cv_realloc(r->field_off, r->fields_cap * sizeof(*r->field_off));
    }
    r->field_off[r->nfields++] = r->arena_len;
    if (len)
        memcpy(r->arena + r->arena_len, s, len);
    r->arena_len += len;
    r->arena[r->arena_len++] = '\0';
}

/* libcsv: the current record ended (at a CR or LF outside quotes). */
static void on_row(int term, void *opaque)
{
    struct cv_csv *r = opaque;

    (void)term;
    if (r->nrows == r->rows_cap) {
        r->rows_cap = r->rows_cap ? r->rows_cap * 2 : 4;
        r->rows = cv_realloc(r->rows, r->rows_cap * sizeof(*r->rows));
    }
    r->rows[r->nrows].line = r->record_line;
    r->rows[r->nrows].first = r->row_first;
    r->rows[r->nrows].n = r->nfields - r->row_first;
    r->nrows++;
    r->row_first = r->nfields;
    r->row_first_arena = r->arena_len;
    /* a record after a bare CR starts on this same line */
    r->record_line = r->line + 1;
}

static void parser_reset(struct cv_csv *r)
{
    csv_free(&r->p);
    csv_init(&r->p, CSV_STRICT | CSV_STRICT_FINI);
    /* the broken record's fields are gone with it */
    r->nfields = r->row_first;
    r->arena_len = r->row_first_arena;
}

struct cv_csv *cv_csv_new(int64_t offset, int64_t line, size_t max_row_bytes,
                          cv_csv_row_fn fn, void *opaque)
{
    struct cv_csv *r = cv_calloc(1, sizeof(*r));

    csv_init(&r->p, CSV_STRICT | CSV_STRICT_FINI);
    r->fn = fn;
    r->opaque = opaque;
    r->offset = offset;
    r->line = line;
    r->record_line = line + 1;
    r->max_row = max_row_bytes < 64 ? 64 : max_row_bytes;
    r->bom_pending = offset == 0;
    return r;
}

void cv_csv_destroy(struct cv_csv *r)
{
    if (!r)
        return;
    csv_free(&r->p);
    free(r->arena);
    free(r->field_off);
    free(r->rows);
    free(r->ptrs);
    free(r);
}

int64_t cv_csv_offset(const struct cv_csv *r)
{
    return r->offset;
}

/* Hands one row to the callback. */
static void emit(struct cv_csv *r, int64_t line, size_t first, size_t n,
                 const char *error, int64_t end_offset)
{
    struct cv_csv_row row = {0};

    if (r->stopped)
        return;
    if (n + 1 > r->ptrs_cap) {
        r->ptrs_cap = n + 16;
        r->ptrs = cv_realloc(r->ptrs, r->ptrs_cap * sizeof(*r->ptrs));
    }
    for (size_t k = 0; k < n; k++)
        r->ptrs[k] = r->arena + r->field_off[first + k];
    row.line = line;
    row.end_offset = end_offset;
    row.end_line = r->line;
    row.fields = r->ptrs;
    row.nfields = error ? 0 : n;
    row.error = error;
    if (error) {
        row.raw = r->raw;
        row.raw_len = r->raw_len;
    }
    if (r->fn(r->opaque, &row) != 0)
        r->stopped = 1;
}

/*
 * A line break was consumed (or the input ended, at_end): the rows that
 * completed in this line go out, the last one with the boundary if the
 * parser is between records now.
 */
static void line_end(struct cv_csv *r, int boundary)
{
    int64_t end = boundary ? r->offset : -1;

    for (size_t i = 0; i < r->nrows; i++)
        emit(r, r->rows[i].line, r->rows[i].first, r->rows[i].n, NULL,
             i + 1 == r->nrows && !r->bad ? end : -1);
    r->nrows = 0;
    if (r->bad) {
        emit(r, r->record_line, 0, 0, r->bad, end);
        r->bad = NULL;
    }
    if (!boundary) {
        /* the current record goes on: keep its fields, drop the rest */
        if (r->row_first) {
            size_t shift = r->row_first_arena, n = r->nfields - r->row_first;
            memmove(r->arena, r->arena + shift, r->arena_len - shift);
            r->arena_len -= shift;
            for (size_t k = 0; k < n; k++)
                r->field_off[k] = r->field_off[r->row_first + k] - shift;
            r->nfields = n;
            r->row_first = 0;
            r->row_first_arena = 0;
        }
        return;
    }
    r->nfields = r->row_first = 0;
    r->arena_len = r->row_first_arena = 0;
    r->record_line = r->line + 1;
    r->record_bytes = 0;
    r->raw_len = 0;
    r->quotes_odd = 0;
}

/* Bytes of one physical line (ends_line: including its LF). */
static void segment(struct cv_csv *r, const char *s, size_t n, int ends_line)
{
    size_t used;

    r->offset += (int64_t)n;
    if (!r->bad) {
        for (const char *q = memchr(s, '"', n); q;
             q = memchr(q + 1, '"', n - (size_t)(q + 1 - s)))
            r->quotes_odd ^= 1;
        if (r->raw_len < RAW_MAX) {
            size_t k = n < RAW_MAX - r->raw_len ? n : RAW_MAX - r->raw_len;
            memcpy(r->raw + r->raw_len, s, k);
            r->raw_len += k;
        }
        r->record_bytes += n;
        if (r->record_bytes > r->max_row) {
            snprintf(r->bad_buf, sizeof(r->bad_buf),
                     "row longer than %zu bytes", r->max_row);
            r->bad = r->bad_buf;
            parser_reset(r);
        } else {
            used = csv_parse(&r->p, s, n, on_field, on_row, r);
            if (used < n || csv_error(&r->p) != CSV_SUCCESS) {
                r->bad = "bad quoting: a quote inside an unquoted field or "
                         "text after a closing quote";
                parser_reset(r);
            }
        }
    }
    if (ends_line) {
        r->line++;
        /* a bad record ends here: the next line starts afresh */
        line_end(r, r->bad || !r->quotes_odd);
    }
}

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

static void feed_lines(struct cv_csv *r, const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && !r->stopped) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t seg = nl ? (size_t)(nl - (s + i)) + 1 : len - i;
        segment(r, s + i, seg, nl != NULL);
        i += seg;
    }
}

/* The bytes held while they looked like a BOM turned out to be data. */
static void bom_replay(struct cv_csv *r)
{
    char head[3];
    size_t k = r->bom_len;

    r->bom_pending = 0;
    r->bom_len = 0;
    memcpy(head, r->bom, k);
    feed_lines(r, head, k);
}

int cv_csv_feed(struct cv_csv *r, const void *buf, size_t len)
{
    const char *s = buf;
    size_t i = 0;

    /* a UTF-8 byte order mark at the very start is no data */
    while (r->bom_pending && i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c != bom[r->bom_len]) {
            bom_replay(r);
            break;
        }
        r->bom[r->bom_len++] = c;
        i++;
        if (r->bom_len == 3) {
            r->bom_pending = 0;
            r->bom_len = 0;
            r->offset += 3;
        }
    }
    feed_lines(r, s + i, len - i);
    return r->stopped ? CV_ERR : CV_OK;
}

int cv_csv_finish(struct cv_csv *r)
{
    if (r->bom_pending)
        bom_replay(r); /* under three bytes in all: data */
    if (r->stopped)
        return CV_ERR;
    if (!r->bad && csv_fini(&r->p, on_field, on_row, r) != 0) {
        r->bad = "bad quoting: a quote never closed";
        parser_reset(r);
    }
    /* the last line had bytes but no LF */
    if (r->nrows || r->bad || r->record_bytes) {
        if (r->record_bytes)
            r->line++;
        line_end(r, 1);
    }
    return r->stopped ? CV_ERR : CV_OK;
}
