/*
 * log.c - logfmt / JSON lines on stderr.
 *
 * A line is assembled in a local buffer and written with one fwrite, so lines
 * from several threads never interleave. Values are quoted when they contain
 * spaces, quotes or '='. The logger never sees secrets: callers log conninfo
 * only through cv_pg_redact().
 *
 * A live status line (conveyor dev on a terminal) sits on stdout without a
 * newline; while it shows, a log line for the same terminal clears it first
 * and draws it again after itself, so the two never run together. Only
 * that case takes a lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cv_log_level = CV_LOG_INFO;
static int log_format = CV_LOG_LOGFMT;

static const char *level_names[] = {"error", "warn", "info", "debug"};

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int live_on; /* a live line shows and stderr shares its tty */
static char live_text[512];

void cv_log_live_line(const char *line)
{
    pthread_mutex_lock(&live_mu);
    if (line) {
        snprintf(live_text, sizeof(live_text), "%s", line);
        fputs("\r\033[K", stdout);
        fputs(live_text, stdout);
        atomic_store(&live_on, isatty(STDERR_FILENO));
    } else {
        fputs("\n", stdout);
        atomic_store(&live_on, 0);
        live_text[0] = '\0';
    }
    fflush(stdout);
    pthread_mutex_unlock(&live_mu);
}

void cv_log_setup(int level, int format)
{
    cv_log_level = level;
    log_format = format;
}

int cv_log_level_parse(const char *s)
{
    for (size_t i = 0; i < CV_ARRAY_SIZE(level_names); i++)
        if (strcmp(s, level_names[i]) == 0)
            return (int)i;
    return -1;
}

struct buf {
    char data[4096];
    size_t len;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n >= sizeof(b->data) - 2)
        n = sizeof(b->data) - 2 - b->len;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Appends s quoted for logfmt (json = 0) or as a JSON string (json = 1). */
static void put_quoted(struct buf *b, const char *s, size_t n, int json)
{
    int need = json || n == 0;
    for (size_t i = 0; i < n && !need; i++)
        if (s[i] == ' ' || s[i] == '"' || s[i] == '=' || s[i] == '\\' ||
            (unsigned char)s[i] < 0x20)
            need = 1;
    if (!need) {
        put(b, s, n);
        return;
    }
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c == '\n') {
            put(b, "\\n", 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(b, esc, strlen(esc));
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    put(b, "\"", 1);
}

/* Splits "k=v k2="v 2"" into pairs and appends them in the chosen format. */
static void put_kv(struct buf *b, const char *kv)
{
    const char *p = kv;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        size_t klen = (size_t)(p - k);
        const char *v = "";
        size_t vlen = 0;
        if (*p == '=') {
            p++;
            if (*p == '"') {
                v = ++p;
                while (*p && *p != '"')
                    p++;
                vlen = (size_t)(p - v);
                if (*p)
                    p++;
            } else {
                v = p;
                while (*p && *p != ' ')
                    p++;
                vlen = (size_t)(p - v);
            }
        }
        if (log_format == CV_LOG_JSON) {
            put(b, ",", 1);
            put_quoted(b, k, klen, 1);
            put(b, ":", 1);
            put_quoted(b, v, vlen, 1);
        } else {
            put(b, " ", 1);
            put(b, k, klen);
            put(b, "=", 1);
            put_quoted(b, v, vlen, 0);
        }
    }
}

void cv_log_write(int level, const char *kv, const char *fmt, ...)
{
    struct buf b;
    char msg[2048], ts[64];
    struct timespec now;
    struct tm tm;
    va_list ap;

    b.len = 0;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (long)(now.tv_nsec / 1000000) % 1000);
    if (level < 0 || level > CV_LOG_DEBUG)
        level = CV_LOG_ERROR;

    if (log_format == CV_LOG_JSON) {
        puts_(&b, "{\"ts\":\"");
        puts_(&b, ts);
        puts_(&b, "\",\"level\":\"");
        puts_(&b, level_names[level]);
        puts_(&b, "\",\"msg\":");
        put_quoted(&b, msg, strlen(msg), 1);
        if (kv)
            put_kv(&b, kv);
        puts_(&b, "}");
    } else {
        puts_(&b, "ts=");
        puts_(&b, ts);
        puts_(&b, " level=");
        puts_(&b, level_names[level]);
        puts_(&b, " msg=");
        put_quoted(&b, msg, strlen(msg), 0);
        if (kv)
            put_kv(&b, kv);
    }
    b.data[b.len++] = '\n';
    if (!atomic_load(&live_on)) {
        fwrite(b.data, 1, b.len, stderr);
        return;
    }
    pthread_mutex_lock(&live_mu);
    fputs("\r\033[K", stdout);
    fflush(stdout);
    fwrite(b.data, 1, b.len, stderr);
    fflush(stderr);
    fputs(live_text, stdout);
    fflush(stdout);
    pthread_mutex_unlock(&live_mu);
}
