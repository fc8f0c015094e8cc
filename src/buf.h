/*
 * buf.h - a growable text buffer for the HTTP endpoint's answers (the
 * Prometheus exposition, JSON bodies). Allocation cannot fail (common.h).
 */
#ifndef CV_BUF_H
#define CV_BUF_H

#include <stddef.h>

#include "common.h"

struct cv_buf {
    char *data; /* NUL-terminated once anything was added */
    size_t len, cap;
};

void cv_buf_add(struct cv_buf *b, const char *s, size_t n);
void cv_buf_puts(struct cv_buf *b, const char *s);
void cv_buf_printf(struct cv_buf *b, const char *fmt, ...) CV_PRINTF(2, 3);
/* A Prometheus label value: backslash, double quote and newline escaped. */
void cv_buf_label(struct cv_buf *b, const char *s);
/* The inside of a JSON string: quote, backslash and control characters
 * escaped (the caller writes the quotes). */
void cv_buf_json(struct cv_buf *b, const char *s);
/* Takes the text (the caller frees it; "" if empty) and empties b. */
char *cv_buf_take(struct cv_buf *b);
void cv_buf_free(struct cv_buf *b);

#endif
