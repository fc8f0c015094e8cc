/*
 * buf.c - the growable text buffer (see buf.h).
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(struct cv_buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    while (b->len + more + 1 > b->cap)
        b->cap = b->cap ? 2 * b->cap : 256;
    b->data = cv_realloc(b->data, b->cap);
}

void cv_buf_add(struct cv_buf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cv_buf_puts(struct cv_buf *b, const char *s)
{
    cv_buf_add(b, s, strlen(s));
}

void cv_buf_printf(struct cv_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cv_buf_label(struct cv_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            cv_buf_add(b, "\\", 1);
        if (*s == '\n')
            cv_buf_add(b, "\\n", 2);
        else
            cv_buf_add(b, s, 1);
    }
}

void cv_buf_json(struct cv_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\\' || ch == '"')
            cv_buf_printf(b, "\\%c", ch);
        else if (ch == '\n')
            cv_buf_puts(b, "\\n");
        else if (ch < 0x20)
            cv_buf_printf(b, "\\u%04x", ch);
        else
            cv_buf_add(b, s, 1);
    }
}

char *cv_buf_take(struct cv_buf *b)
{
    char *s = b->data ? b->data : cv_strdup("");

    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void cv_buf_free(struct cv_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
