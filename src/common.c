/*
 * common.c - allocation wrappers, clocks, UUIDs, error formatting.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t size)
{
    fprintf(stderr, "conveyor: out of memory allocating %zu bytes\n", size);
    abort();
}

void *cv_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

void *cv_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *cv_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

char *cv_strdup(const char *s)
{
    size_t n = strlen(s);
    char *p = cv_malloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

char *cv_strndup(const char *s, size_t n)
{
    char *p = cv_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cv_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *p = NULL;
    va_start(ap, fmt);
    if (vasprintf(&p, fmt, ap) < 0)
        oom(strlen(fmt));
    va_end(ap);
    return p;
}

int64_t cv_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cv_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t cv_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t cv_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

#define HIGH_BITS 0x8080808080808080ULL
#define LOW_BITS  0x0101010101010101ULL

/*
 * CV_TEXT_OK if s is strict UTF-8 (no overlong forms, no surrogates, nothing
 * past U+10FFFF) without a NUL byte. Runs of ASCII, the usual content, are
 * checked eight bytes at a time: this is on the decoder's hot path.
 */
int cv_text_check(const void *text, size_t len)
{
    const unsigned char *s = text;
    size_t i = 0;

    while (i < len) {
        unsigned char c;
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf;

        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            /* no high bit set, and no zero byte */
            if (!(w & HIGH_BITS) && !((w - LOW_BITS) & ~w & HIGH_BITS)) {
                i += 8;
                continue;
            }
        }
        c = s[i];
        if (c == 0)
            return CV_TEXT_NUL;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            return CV_TEXT_UTF8;
        }
        if (len - i <= n)
            return CV_TEXT_UTF8;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return CV_TEXT_UTF8;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return CV_TEXT_UTF8;
        i += n + 1;
    }
    return CV_TEXT_OK;
}

void cv_uuid4(char out[37])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

int cv_err(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    if (errstr && errstr_size) {
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return CV_ERR;
}

const char *cv_os_user(void)
{
    struct passwd *pw = getpwuid(getuid());
    const char *u = getenv("USER");

    if (pw && pw->pw_name)
        return pw->pw_name;
    return u && *u ? u : "unknown";
}
