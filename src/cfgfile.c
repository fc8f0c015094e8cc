/*
 * cfgfile.c - the libconfig front end the configuration (config.c) and the
 * topology (topology.c) share: reading a file with file:line errors, and
 * the words for what a setting holds.
 *
 * libconfig alone reports "syntax error" with a line and little else, names
 * an @include'd file relative to the include directory, reads a NUL byte as
 * the end of the file, and (1.5) stores an integer literal too large for an
 * int by wrapping it without a word, so 4294967796 loads as 500. The file
 * is therefore read whole first: refused if it is not text or too large,
 * scanned for out-of-range integer literals, and only then parsed from
 * memory, with @include paths relative to the file's own directory.
 */
#include "cfgfile.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* No configuration or topology comes close; a bigger file is a mistake. */
#define CFGFILE_MAX (16 * 1024 * 1024)

const char *cv_cfgfile_type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a float";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "nothing";
    }
}

static int read_whole(const char *path, char **out, size_t *len, char *errstr,
                      size_t errstr_size)
{
    FILE *fp = NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;

    fp = fopen(path, "r");
    if (!fp) {
        cv_err(errstr, errstr_size, "%s: cannot open: %s", path,
               strerror(errno));
        goto fail;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            if (cap >= CFGFILE_MAX) {
                cv_err(errstr, errstr_size, "%s: larger than %d bytes", path,
                       CFGFILE_MAX);
                goto fail;
            }
            cap = cap ? cap * 2 : 4096;
            buf = cv_realloc(buf, cap + 1);
        }
        got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        cv_err(errstr, errstr_size, "%s: cannot read: %s", path,
               strerror(errno));
        goto fail;
    }
    fclose(fp);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CV_OK;

fail:
    if (fp)
        fclose(fp);
    free(buf);
    return CV_ERR;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * libconfig 1.5 stores an integer literal without the L suffix in an int
 * and wraps anything larger without a word, so 4294967796 would load as
 * 500. Scan the text the way its lexer does (comments, strings, names) and
 * refuse such literals before parsing.
 */
static int check_int_literals(const char *path, const char *s, size_t len,
                              char *errstr, size_t errstr_size)
{
    const char *end = s + len;
    int line = 1;

    while (s < end) {
        const char *tok;
        size_t n;

        if (*s == '\n') {
            line++;
            s++;
        } else if (*s == '#' || (*s == '/' && s + 1 < end && s[1] == '/')) {
            while (s < end && *s != '\n')
                s++;
        } else if (*s == '/' && s + 1 < end && s[1] == '*') {
            for (s += 2; s < end && !(*s == '*' && s + 1 < end && s[1] == '/');
                 s++)
                if (*s == '\n')
                    line++;
            s = s < end ? s + 2 : end;
        } else if (*s == '"') {
            for (s++; s < end && *s != '"'; s++) {
                if (*s == '\\' && s + 1 < end)
                    s++;
                if (*s == '\n')
                    line++;
            }
            if (s < end)
                s++;
        } else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                   *s == '*' || *s == '_' || *s == '@') {
            while (s < end && (is_hex(*s) || (*s >= 'g' && *s <= 'z') ||
                               (*s >= 'G' && *s <= 'Z') || *s == '_' ||
                               *s == '*' || *s == '-' || *s == '@'))
                s++;
        } else if (is_digit(*s) || *s == '-' || *s == '+' || *s == '.') {
            const char *p;
            int neg = *s == '-', hex, big;
            unsigned long long v = 0, limit;
            int overflow = 0;

            tok = s;
            while (s < end &&
                   (is_hex(*s) || *s == 'x' || *s == 'X' || *s == 'L' ||
                    *s == '.' || *s == '+' || *s == '-' ||
                    (*s >= 'g' && *s <= 'z') || (*s >= 'G' && *s <= 'Z')))
                s++;
            n = (size_t)(s - tok);
            p = tok + (*tok == '-' || *tok == '+');
            hex = p + 1 < s && p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
            if (hex)
                p += 2;
            while (p < s && (hex ? is_hex(*p) : is_digit(*p))) {
                unsigned d = is_digit(*p)  ? (unsigned)(*p - '0')
                             : (*p >= 'a') ? (unsigned)(*p - 'a' + 10)
                                           : (unsigned)(*p - 'A' + 10);
                if (v > (ULLONG_MAX - d) / (hex ? 16 : 10))
                    overflow = 1;
                else
                    v = v * (hex ? 16 : 10) + d;
                p++;
            }
            big = p < s && *p == 'L';
            while (p < s && *p == 'L')
                p++;
            if (p != s || p == tok)
                continue; /* a float or not a number: the parser decides */
            limit = big ? (unsigned long long)LLONG_MAX + (unsigned)neg
                        : (unsigned long long)INT_MAX + (unsigned)neg;
            if (overflow || v > limit)
                return cv_err(errstr, errstr_size,
                              "%s:%d: integer %.*s is out of range%s", path,
                              line, (int)(n > 40 ? 40 : n), tok,
                              big ? "" : " (append L for a 64-bit integer)");
        } else {
            s++;
        }
    }
    return CV_OK;
}

/*
 * The file to name in a message: path, or the @include'd file a setting or
 * an error came from (libconfig names it relative to the include dir).
 */
const char *cv_cfgfile_name(const char *included, const char *path,
                            const char *dir, char *buf, size_t size)
{
    if (!included)
        return path;
    if (included[0] == '/' || !dir)
        return included;
    snprintf(buf, size, "%s%s", dir, included);
    return buf;
}

int cv_cfgfile_read(config_t *lc, const char *path, char *errstr,
                    size_t errstr_size)
{
    char *buf = NULL, *dir = NULL;
    const char *slash;
    size_t len = 0;
    int rc = CV_ERR;

    if (read_whole(path, &buf, &len, errstr, errstr_size) != CV_OK)
        goto out;
    if (memchr(buf, '\0', len)) {
        cv_err(errstr, errstr_size, "%s: contains a NUL byte: not a text file",
               path);
        goto out;
    }
    if (check_int_literals(path, buf, len, errstr, errstr_size) != CV_OK)
        goto out;
    slash = strrchr(path, '/');
    if (slash) {
        dir = cv_strndup(path, (size_t)(slash - path) + 1);
        config_set_include_dir(lc, dir);
    }
    if (!config_read_string(lc, buf)) {
        char name[1024];
        const char *file = cv_cfgfile_name(config_error_file(lc), path, dir,
                                           name, sizeof(name));
        const char *text = config_error_text(lc);

        if (strcmp(text, "syntax error") == 0)
            cv_err(errstr, errstr_size, "%s:%d: syntax error", file,
                   config_error_line(lc));
        else
            cv_err(errstr, errstr_size, "%s:%d: syntax error: %s", file,
                   config_error_line(lc), text);
        goto out;
    }
    rc = CV_OK;

out:
    free(buf);
    free(dir);
    return rc;
}

int cv_cfgfile_errf(char *errstr, size_t errstr_size, const char *path,
                    const config_setting_t *s, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cv_err(errstr, errstr_size, "%s:%d: %s", path,
                  config_setting_source_line(s), msg);
}

int cv_cfgfile_near_line(const char *path, int line, const char *needle)
{
    int best = 0, after = 0, at = 1;
    char buf[4096];
    FILE *f;

    if (!path || !needle || !*needle)
        return line;
    f = fopen(path, "r");
    if (!f)
        return line;
    /* lines longer than the buffer are searched in pieces: a needle cut in
     * two is missed, and line stays the answer */
    while (at <= line + 60 && fgets(buf, sizeof(buf), f)) {
        int whole = strchr(buf, '\n') != NULL;
        if (strstr(buf, needle)) {
            if (at >= line - 60 && at <= line)
                best = at;
            else if (at > line && !after)
                after = at;
        }
        at += whole;
    }
    fclose(f);
    return best ? best : after ? after : line;
}
