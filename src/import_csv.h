/*
 * import_csv.h - a CSV stream read row by row in bounded memory, with the
 * byte offset where each row ends, so an import can stop after any row and
 * resume there.
 *
 * Parsing is libcsv's (Debian's libcsv, strict mode: RFC 4180 quoting,
 * doubled quotes, commas and line breaks inside quotes, CRLF or LF); this
 * module feeds it and keeps count. Bytes are fed as they arrive, in any
 * pieces; rows come out through a callback, each with:
 *   - its line: the physical line where it starts (1 = the file's first);
 *   - end_offset: the byte offset just past the row's line break, where a
 *     reader may start again with a fresh parser (a row boundary), or -1
 *     for a row that ended mid-line (a bare CR) and is no boundary;
 *   - its fields, or an error: bad quoting (a quote inside an unquoted
 *     field, text after a closing quote, a quote never closed), or a row
 *     longer than max_row_bytes. A bad row is reported once and the reader
 *     goes on at the next line with a fresh parser.
 * A UTF-8 byte order mark at offset 0 is skipped. Blank lines are no rows.
 * Memory: one row (at most max_row_bytes) and libcsv's field buffer.
 *
 * Pure: no I/O. A reader belongs to one thread.
 */
#ifndef CV_IMPORT_CSV_H
#define CV_IMPORT_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct cv_csv_row {
    int64_t line;              /* the physical line it starts on */
    int64_t end_offset;        /* past its line break; -1: not a boundary */
    int64_t end_line;          /* physical lines consumed up to end_offset */
    const char *const *fields; /* NUL-terminated, borrowed */
    size_t nfields;
    const char *error; /* NULL, or why the row is bad */
    const char *raw;   /* a bad row's first bytes (at most 1 KiB) */
    size_t raw_len;
};

/* Called for each row; returning non-zero stops the reader (feed and
 * finish then return CV_ERR). The row is borrowed for the call. */
typedef int (*cv_csv_row_fn)(void *opaque, const struct cv_csv_row *row);

struct cv_csv;

/*
 * A reader that starts at byte offset (a row boundary) after line physical
 * lines. max_row_bytes bounds a row (at least 64).
 */
struct cv_csv *cv_csv_new(int64_t offset, int64_t line, size_t max_row_bytes,
                          cv_csv_row_fn fn, void *opaque);
/* Feeds len bytes. Returns CV_OK, or CV_ERR if the callback stopped it. */
int cv_csv_feed(struct cv_csv *r, const void *buf, size_t len);
/* The end of the input: the last row without a line break, a quote never
 * closed. Returns CV_OK or CV_ERR (stopped). */
int cv_csv_finish(struct cv_csv *r);
/* Bytes consumed so far, as an absolute offset. */
int64_t cv_csv_offset(const struct cv_csv *r);
void cv_csv_destroy(struct cv_csv *r);

#endif
