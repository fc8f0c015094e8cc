/*
 * test_import_csv.c - CSV rows with their offsets (import_csv.h): RFC 4180
 * quoting, CRLF, a BOM, bad rows reported once with their line and the
 * reader going on, rows too long, and the property an import relies on:
 * fed in any pieces, or restarted at any row boundary it reported, the
 * reader yields the same rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import_csv.h"
#include "test.h"

/* Rows as text: "line|end_offset|f1|f2..." or "line|end|!error". */
struct seen {
    char text[16384];
    size_t len;
    int64_t bounds[256]; /* end offsets of boundary rows */
    int64_t lines[256];  /* and their end lines */
    size_t after[256];   /* where the rows after each boundary start */
    int nbounds, rows, stop_after;
};

static int on_row(void *opaque, const struct cv_csv_row *row)
{
    struct seen *s = opaque;

    s->len += (size_t)snprintf(s->text + s->len, sizeof(s->text) - s->len,
                               "%lld|%lld", (long long)row->line,
                               (long long)row->end_offset);
    if (row->error)
        s->len += (size_t)snprintf(s->text + s->len, sizeof(s->text) - s->len,
                                   "|!%s", row->error);
    for (size_t i = 0; i < row->nfields; i++)
        s->len += (size_t)snprintf(s->text + s->len, sizeof(s->text) - s->len,
                                   "|%s", row->fields[i]);
    s->len +=
        (size_t)snprintf(s->text + s->len, sizeof(s->text) - s->len, "\n");
    if (row->end_offset >= 0 && s->nbounds < 256) {
        s->bounds[s->nbounds] = row->end_offset;
        s->after[s->nbounds] = s->len;
        s->lines[s->nbounds++] = row->end_line;
    }
    return ++s->rows == s->stop_after;
}

/* Reads text from offset/line in pieces of piece bytes (0: whole). */
static void read_text(const char *text, size_t len, int64_t offset,
                      int64_t line, size_t piece, size_t max_row,
                      struct seen *s)
{
    struct cv_csv *r = cv_csv_new(offset, line, max_row, on_row, s);

    if (!piece)
        piece = len ? len : 1;
    for (size_t i = (size_t)offset; i < len; i += piece)
        if (cv_csv_feed(r, text + i, i + piece <= len ? piece : len - i) !=
            CV_OK)
            break;
    cv_csv_finish(r);
    CHECK(cv_csv_offset(r) == (int64_t)len || s->stop_after);
    cv_csv_destroy(r);
}

static void expect(const char *text, const char *want)
{
    size_t len = strlen(text);

    for (size_t piece = 0; piece <= 7; piece++) {
        struct seen s = {0};
        read_text(text, len, 0, 0, piece, 65536, &s);
        CHECK_STR(s.text, want);
    }
}

static void test_rows(void)
{
    expect("email,name\na@x.com,Ada\nb@x.com,Bob\n",
           "1|11|email|name\n2|23|a@x.com|Ada\n3|35|b@x.com|Bob\n");
    /* CRLF, last line without a break, blank lines */
    expect("a,b\r\n\r\nc,d\n\ne,f", "1|5|a|b\n3|11|c|d\n5|15|e|f\n");
    /* quotes: embedded comma, doubled quote, a line break inside */
    expect("\"x,1\",\"say \"\"hi\"\"\"\n\"two\r\nlines\",z\r\nq,r\n",
           "1|19|x,1|say \"hi\"\n2|35|two\r\nlines|z\n4|39|q|r\n");
    /* a BOM at the start is skipped; its bytes count in the offsets */
    expect("\xEF\xBB\xBF"
           "email\nx@y\n",
           "1|9|email\n2|13|x@y\n");
    /* something that starts like a BOM but is not */
    expect("\xEF\xBB"
           "a\nb\n",
           "1|4|\xEF\xBB"
           "a\n2|6|b\n");
    /* empty fields and ragged rows */
    expect("a,,c\n,\nx\n", "1|5|a||c\n2|7||\n3|9|x\n");
    expect("", "");
}

static void test_bad_rows(void)
{
    /* a quote inside an unquoted field; text after a closing quote: each
     * row bad once, the reader goes on at the next line */
    expect("a,b\nx\"y,z\nc,d\n\"p\"q,r\ne,f\n",
           "1|4|a|b\n2|10|!bad quoting: a quote inside an unquoted field or "
           "text after a closing quote\n3|14|c|d\n4|21|!bad quoting: a quote "
           "inside an unquoted field or text after a closing quote\n5|25|e|f"
           "\n");
    /* a quote never closed at the end of the input */
    expect("a,b\n\"open,c\nd\n",
           "1|4|a|b\n2|14|!bad quoting: a quote never closed\n");
    /* a row longer than the limit: bad, and the next line is read */
    {
        char text[400];
        struct seen s = {0};
        memset(text, 'x', sizeof(text));
        memcpy(text, "a,b\n", 4);
        text[300] = '\n';
        memcpy(text + 301, "c,d\n", 5);
        read_text(text, 305, 0, 0, 0, 100, &s);
        CHECK_STR(s.text, "1|4|a|b\n2|301|!row longer than 100 bytes\n3|305|"
                          "c|d\n");
    }
}

/* Restarted at any boundary it reported, the reader yields the rest. */
static void test_resume(void)
{
    static const char text[] =
        "\xEF\xBB\xBF"
        "h1,h2\r\nA,\"multi\nline\"\r\nB,2\nbad\"q,3\n\"C\",\"\"\"\"\n\nD,4";
    struct seen all = {0};
    size_t len = strlen(text);

    read_text(text, len, 0, 0, 0, 65536, &all);
    CHECK(all.nbounds == 6);
    for (int b = 0; b < all.nbounds; b++) {
        struct seen tail = {0};
        /* the rows after boundary b, as the whole read saw them */
        const char *rest = all.text + all.after[b];
        read_text(text, len, all.bounds[b], all.lines[b], 3, 65536, &tail);
        CHECK_STR(tail.text, rest);
    }
    /* a callback that stops the reader */
    {
        struct seen s = {.stop_after = 2};
        read_text(text, len, 0, 0, 0, 65536, &s);
        CHECK(s.rows == 2);
    }
}

int main(void)
{
    test_rows();
    test_bad_rows();
    test_resume();
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}
