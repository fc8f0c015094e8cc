/*
 * sqlparam.c - named parameters of declared SQL compiled to $n
 * (sqlparam.h).
 *
 * A small scanner that knows just enough of Postgres' lexical rules to
 * tell a parameter from text that merely looks like one: string literals
 * (with '' and, in E'...', backslash escapes), quoted identifiers, dollar
 * quotes, line and nested block comments, and the '::' cast. It does not
 * parse SQL: whether the statement is valid is Postgres' to say, when the
 * statement is prepared at start-up (preflight.c).
 */
#include "sqlparam.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static const char *const prefixes[CV_PARAM_KINDS] = {
    [CV_PARAM_EVENT] = "event",     [CV_PARAM_CE] = "ce",
    [CV_PARAM_SETTING] = "setting", [CV_PARAM_ENV] = "env",
    [CV_PARAM_COL] = "col",         [CV_PARAM_ROW] = "row",
    [CV_PARAM_IMPORT] = "import",   [CV_PARAM_CONTEXT] = "context",
};

const char *cv_sqlparam_prefix(int kind)
{
    return kind >= 0 && kind < CV_PARAM_KINDS ? prefixes[kind] : "?";
}

static int ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static int ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* The length of an identifier at s (0 if none). */
static size_t ident_len(const char *s)
{
    size_t n = 0;

    if (!ident_start(s[0]))
        return 0;
    while (ident_char(s[n]))
        n++;
    return n;
}

/* The end of a quoted run starting at text[i] (the quote), honouring
 * doubled quotes and, for E'...', backslashes; 0 if unterminated. */
static size_t skip_quoted(const char *text, size_t i, char q, int backslash)
{
    for (i++; text[i]; i++) {
        if (backslash && text[i] == '\\' && text[i + 1]) {
            i++;
            continue;
        }
        if (text[i] != q)
            continue;
        if (text[i + 1] == q) {
            i++;
            continue;
        }
        return i + 1;
    }
    return 0;
}

/* A dollar quote's end: text[i] is '$', tag its length with both '$';
 * 0 if unterminated. */
static size_t skip_dollar(const char *text, size_t i, size_t tag)
{
    for (const char *p = text + i + tag; *p; p++)
        if (strncmp(p, text + i, tag) == 0)
            return (size_t)(p - text) + tag;
    return 0;
}

/* A block comment's end (they nest in Postgres); 0 if unterminated. */
static size_t skip_comment(const char *text, size_t i)
{
    int depth = 0;

    while (text[i]) {
        if (text[i] == '/' && text[i + 1] == '*') {
            depth++;
            i += 2;
        } else if (text[i] == '*' && text[i + 1] == '/') {
            i += 2;
            if (--depth == 0)
                return i;
        } else {
            i++;
        }
    }
    return 0;
}

/* The $n of a named parameter, adding it on first use. */
static int param_index(struct cv_sqltext *out, int kind, const char *name,
                       size_t len, size_t at)
{
    for (int k = 0; k < out->nparams; k++)
        if (out->params[k].kind == kind && strlen(out->params[k].name) == len &&
            strncmp(out->params[k].name, name, len) == 0)
            return k + 1;
    out->params = cv_realloc(out->params,
                             ((size_t)out->nparams + 1) * sizeof(*out->params));
    out->params[out->nparams].kind = kind;
    out->params[out->nparams].name = cv_strndup(name, len);
    out->params[out->nparams].at = at;
    return ++out->nparams;
}

static int kind_of(const char *word, size_t len)
{
    for (int k = 0; k < CV_PARAM_KINDS; k++)
        if (strlen(prefixes[k]) == len && strncmp(prefixes[k], word, len) == 0)
            return k;
    return -1;
}

static void allowed_list(unsigned allowed, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int k = 0; k < CV_PARAM_KINDS; k++)
        if (allowed & CV_PARAM_BIT(k))
            snprintf(buf + strlen(buf), size - strlen(buf), "%s:%s.<name>",
                     buf[0] ? ", " : "", prefixes[k]);
}

int cv_sqlparam_compile(const char *text, unsigned allowed,
                        struct cv_sqltext *out, size_t *err_at, char *errstr,
                        size_t errstr_size)
{
    struct cv_buf b = {0};
    size_t i = 0, end;
    char list[256];

    memset(out, 0, sizeof(*out));
    *err_at = 0;
    while (text[i]) {
        char c = text[i];

        if (c == '\'' || c == '"') {
            int esc = c == '\'' && i > 0 &&
                      (text[i - 1] == 'E' || text[i - 1] == 'e') &&
                      (i < 2 || !ident_char(text[i - 2]));
            end = skip_quoted(text, i, c, esc);
            if (!end) {
                *err_at = i;
                cv_err(errstr, errstr_size, "unterminated %s",
                       c == '"' ? "quoted identifier" : "string literal");
                goto fail;
            }
        } else if (c == '-' && text[i + 1] == '-') {
            end = i + strcspn(text + i, "\n");
        } else if (c == '/' && text[i + 1] == '*') {
            end = skip_comment(text, i);
            if (!end) {
                *err_at = i;
                cv_err(errstr, errstr_size, "unterminated /* comment");
                goto fail;
            }
        } else if (c == '$' && (i == 0 || !ident_char(text[i - 1])) &&
                   isdigit((unsigned char)text[i + 1])) {
            *err_at = i;
            cv_err(errstr, errstr_size,
                   "numbered parameter '$%c...': name parameters instead "
                   "(:event.<field>, :setting.<name>, ...)",
                   text[i + 1]);
            goto fail;
        } else if (c == '$' && (i == 0 || !ident_char(text[i - 1])) &&
                   text[i + 1 + ident_len(text + i + 1)] == '$') {
            size_t tag = ident_len(text + i + 1) + 2;
            end = skip_dollar(text, i, tag);
            if (!end) {
                *err_at = i;
                cv_err(errstr, errstr_size, "unterminated dollar quote %.*s",
                       (int)tag, text + i);
                goto fail;
            }
        } else if (c == ':' && text[i + 1] == ':') {
            end = i + 2;
        } else if (c == ':' && ident_start(text[i + 1])) {
            size_t wlen = ident_len(text + i + 1);
            const char *name = text + i + 2 + wlen;
            int kind = kind_of(text + i + 1, wlen);
            size_t nlen;
            char num[16];

            if (kind < 0 || text[i + 1 + wlen] != '.') {
                /* not ours: a slice bound, or Postgres' own business */
                end = i + 1 + wlen;
                cv_buf_add(&b, text + i, end - i);
                i = end;
                continue;
            }
            nlen = 0;
            while (ident_char(name[nlen]))
                nlen++;
            if (!(allowed & CV_PARAM_BIT(kind))) {
                allowed_list(allowed, list, sizeof(list));
                *err_at = i;
                cv_err(errstr, errstr_size,
                       "parameter ':%.*s.%.*s': this statement cannot use "
                       ":%s.* (expected %s)",
                       (int)wlen, text + i + 1, (int)nlen, name, prefixes[kind],
                       list[0] ? list : "no parameters");
                goto fail;
            }
            if (!nlen) {
                *err_at = i;
                cv_err(errstr, errstr_size,
                       "parameter ':%s.' has no name after the dot",
                       prefixes[kind]);
                goto fail;
            }
            snprintf(num, sizeof(num), "$%d",
                     param_index(out, kind, name, nlen, i));
            cv_buf_puts(&b, num);
            i = (size_t)(name - text) + nlen;
            continue;
        } else {
            end = i + 1;
        }
        cv_buf_add(&b, text + i, end - i);
        i = end;
    }
    out->sql = cv_buf_take(&b);
    return CV_OK;

fail:
    cv_buf_free(&b);
    cv_sqltext_free(out);
    return CV_ERR;
}

void cv_sqltext_free(struct cv_sqltext *s)
{
    if (!s)
        return;
    for (int k = 0; k < s->nparams; k++)
        free(s->params[k].name);
    free(s->params);
    free(s->sql);
    memset(s, 0, sizeof(*s));
}

int cv_sqlparam_line_of(const char *text, size_t at)
{
    int line = 1;

    for (size_t i = 0; i < at && text[i]; i++)
        line += text[i] == '\n';
    return line;
}
