/*
 * tz.c - time zones read from compiled TZif files.
 *
 * A zone is three things taken from its TZif file: a table of transitions
 * (instant -> local time type), the local time types (UTC offset, DST flag,
 * abbreviation), and the POSIX TZ string of the footer ("EST5EDT,M3.2.0,
 * M11.1.0"), which says what happens after the table ends. The table ends
 * early on purpose (slim files stop at the last rule change, fat files in
 * 2037), so the footer rule is not an afterthought: every instant after the
 * last transition is answered from it (tz_rule.c), years computed on the
 * fly with the calendar arithmetic of civil.c.
 *
 * Version 1 files (32-bit times, no footer) are read as they are; for
 * version 2 and later the 32-bit block is skipped and the 64-bit block and
 * footer are used. Files with leap second records ("right/" zones) are
 * refused: their timestamps are not unix time.
 *
 * Every count, index and offset in a file is checked before use; a damaged
 * file is an error, never a crash. Lookups are a binary search in the table
 * or a few days-from-civil computations for the footer, and allocate
 * nothing. No function here calls localtime, mktime or touches TZ.
 *
 * Not here: leap seconds; POSIX TZ strings given as zone names
 * (cv_tz_load() takes database names only, cv_tz_from_posix() takes rule
 * strings); and noticing that a zone's file changed (load it again).
 */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tz_int.h"

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX    255
#define TZ_FILE_MAX    (1 << 20) /* the largest real zone is ~4 KB */
#define TZ_FOOTER_MAX  256

/* RFC 9636 says UT offsets should lie in [-24:59:59, 25:59:59]. Bounding
 * them is what lets cv_tz_resolve() search a fixed two-day window. */
#define TZ_UTOFF_MIN (-89999)
#define TZ_UTOFF_MAX 93599

struct cv_tz {
    char *name;
    size_t ntrans;
    int64_t *trans;      /* ascending */
    uint8_t *trans_type; /* index into types, one per transition */
    size_t ntypes;
    struct tz_type *types;
    char *abbrs; /* the file's abbreviation block, NUL-terminated */
    int has_footer;
    struct tz_posix footer;
};

static int64_t clamp_t(int64_t t)
{
    if (t < CV_TZ_T_MIN)
        return CV_TZ_T_MIN;
    if (t > CV_TZ_T_MAX)
        return CV_TZ_T_MAX;
    return t;
}

/* Zone names: see name_ok(). */
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* ------------------------------------------------------------------ */
/* lookups                                                             */

/* The number of transitions at or before t. */
static size_t trans_count_upto(const cv_tz *tz, int64_t t)
{
    size_t lo = 0, hi = tz->ntrans;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const struct tz_type *lookup(const cv_tz *tz, int64_t t)
{
    size_t n;

    t = clamp_t(t);
    if (tz->ntrans == 0 || t >= tz->trans[tz->ntrans - 1]) {
        if (tz->has_footer)
            return cv_tz_posix_lookup(&tz->footer, t);
        if (tz->ntrans == 0)
            return &tz->types[0];
    }
    n = trans_count_upto(tz, t);
    /* Before the first transition the first type applies (RFC 9636). */
    return &tz->types[n == 0 ? 0 : tz->trans_type[n - 1]];
}

int cv_tz_offset(const cv_tz *tz, int64_t t, const char **abbrev)
{
    const struct tz_type *ty = lookup(tz, t);

    if (abbrev)
        *abbrev = ty->abbr;
    return ty->utoff;
}

void cv_tz_local(const cv_tz *tz, int64_t t, struct tm *out)
{
    const struct tz_type *ty;
    int64_t local, days, secs;
    int y;
    unsigned m, d;

    t = clamp_t(t);
    ty = lookup(tz, t);
    local = t + ty->utoff;
    days = cv_floor_div(local, CV_SECS_PER_DAY);
    secs = local - days * CV_SECS_PER_DAY;
    cv_civil_from_days(days, &y, &m, &d);

    memset(out, 0, sizeof(*out));
    out->tm_year = y - 1900;
    out->tm_mon = (int)m - 1;
    out->tm_mday = (int)d;
    out->tm_hour = (int)(secs / 3600);
    out->tm_min = (int)(secs / 60 % 60);
    out->tm_sec = (int)(secs % 60);
    out->tm_wday = cv_weekday_from_days(days);
    out->tm_yday = (int)(days - cv_days_from_civil(y, 1, 1));
    out->tm_isdst = ty->isdst;
    out->tm_gmtoff = ty->utoff;
    out->tm_zone = ty->abbr;
}

int64_t cv_tz_next_transition(const cv_tz *tz, int64_t t)
{
    if (t >= CV_TZ_T_MAX)
        return INT64_MAX;
    t = clamp_t(t);
    if (tz->ntrans > 0 && t < tz->trans[tz->ntrans - 1])
        return tz->trans[trans_count_upto(tz, t)];
    if (tz->has_footer && tz->footer.has_dst)
        return cv_tz_posix_next(&tz->footer, t);
    return INT64_MAX;
}

/*
 * Walks the stretches of constant offset from two days before `local`
 * (whose local time is surely earlier, offsets being bounded) forward. In a
 * stretch [a, b) with offset o the wall clock shows [a + o, b + o), so
 * local occurs there iff a <= local - o < b. If instead the stretch already
 * starts past local, the clock jumped over it at a.
 */
int64_t cv_tz_resolve(const cv_tz *tz, int64_t local)
{
    int64_t a, b, t;

    local = clamp_t(local);
    a = local - 2 * CV_SECS_PER_DAY;
    for (int i = 0; i < 1000; i++) {
        t = local - lookup(tz, a)->utoff;
        if (t < a)
            return a;
        b = cv_tz_next_transition(tz, a);
        if (t < b)
            return t;
        a = b;
    }
    /* Only a zone with a transition every few minutes gets here. */
    return local - lookup(tz, local)->utoff;
}

char *cv_tz_format(const cv_tz *tz, int64_t t, char *buf, size_t len)
{
    struct tm tm;
    long off;
    char sign;

    cv_tz_local(tz, t, &tm);
    off = tm.tm_gmtoff;
    sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    if (off % 60 == 0)
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, sign, off / 3600, off / 60 % 60);
    else
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld:%02ld",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, sign, off / 3600, off / 60 % 60,
                 off % 60);
    return buf;
}

const char *cv_tz_name(const cv_tz *tz)
{
    return tz->name;
}

void cv_tz_free(cv_tz *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->trans_type);
    free(tz->types);
    free(tz->abbrs);
    free(tz);
}

/* ------------------------------------------------------------------ */
/* TZif files                                                          */

struct reader {
    const uint8_t *p;
    size_t left;
};

/* Hands out the next n bytes, or NULL if the file is shorter. */
static const uint8_t *take(struct reader *r, size_t n)
{
    const uint8_t *p = r->p;

    if (n > r->left)
        return NULL;
    r->p += n;
    r->left -= n;
    return p;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
    int version; /* 1, 2, 3, 4 ... */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int read_header(struct reader *r, struct tzif_header *h,
                       const char **why)
{
    const uint8_t *p = take(r, 44);

    if (!p) {
        *why = "truncated header";
        return -1;
    }
    if (memcmp(p, "TZif", 4) != 0) {
        *why = "bad magic";
        return -1;
    }
    /* Later versions only add to version 2, so read them as such. */
    if (p[4] != 0 && (p[4] < '2' || p[4] > '9')) {
        *why = "unknown version";
        return -1;
    }
    h->version = p[4] == 0 ? 1 : p[4] - '0';
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return 0;
}

/* Bytes in a data block; counts are 32-bit, so this cannot overflow. */
static size_t block_size(const struct tzif_header *h, size_t timesize)
{
    return (size_t)h->timecnt * timesize + h->timecnt + (size_t)h->typecnt * 6 +
           h->charcnt + (size_t)h->leapcnt * (timesize + 4) + h->isstdcnt +
           h->isutcnt;
}

static int check_counts(const struct tzif_header *h, const char **why)
{
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0) {
        *why = "bad type or abbreviation count";
        return -1;
    }
    if ((h->isstdcnt != 0 && h->isstdcnt != h->typecnt) ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt)) {
        *why = "bad indicator count";
        return -1;
    }
    if (h->leapcnt != 0) {
        *why = "leap second records are not supported";
        return -1;
    }
    return 0;
}

static int read_types(cv_tz *tz, const uint8_t *p, const struct tzif_header *h,
                      const char **why)
{
    tz->ntypes = h->typecnt;
    tz->types = cv_calloc(tz->ntypes, sizeof(*tz->types));
    for (size_t i = 0; i < tz->ntypes; i++, p += 6) {
        int32_t utoff = (int32_t)be32(p);
        uint8_t idx = p[5];

        if (utoff < TZ_UTOFF_MIN || utoff > TZ_UTOFF_MAX) {
            *why = "UT offset out of range";
            return -1;
        }
        if (p[4] > 1) {
            *why = "bad DST flag";
            return -1;
        }
        if (idx >= h->charcnt ||
            !memchr(tz->abbrs + idx, '\0', h->charcnt - idx)) {
            *why = "bad abbreviation index";
            return -1;
        }
        tz->types[i].utoff = utoff;
        tz->types[i].isdst = p[4];
        tz->types[i].abbr = tz->abbrs + idx;
    }
    return 0;
}

/* Reads one data block (after its header) into tz. */
static int read_block(cv_tz *tz, struct reader *r, const struct tzif_header *h,
                      size_t timesize, const char **why)
{
    const uint8_t *times, *idx, *types, *chars;

    if (check_counts(h, why) < 0)
        return -1;
    if (block_size(h, timesize) > r->left) {
        *why = "truncated data block";
        return -1;
    }
    times = take(r, (size_t)h->timecnt * timesize);
    idx = take(r, h->timecnt);
    types = take(r, (size_t)h->typecnt * 6);
    chars = take(r, h->charcnt);
    take(r, (size_t)h->isstdcnt + h->isutcnt); /* not needed for lookups */

    tz->abbrs = cv_malloc((size_t)h->charcnt + 1);
    memcpy(tz->abbrs, chars, h->charcnt);
    tz->abbrs[h->charcnt] = '\0';
    if (read_types(tz, types, h, why) < 0)
        return -1;

    tz->ntrans = h->timecnt;
    tz->trans = cv_calloc(tz->ntrans, sizeof(*tz->trans));
    tz->trans_type = cv_calloc(tz->ntrans, 1);
    for (size_t i = 0; i < tz->ntrans; i++) {
        const uint8_t *tp = times + i * timesize;
        tz->trans[i] = timesize == 8 ? be64(tp) : (int32_t)be32(tp);
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) {
            *why = "transitions out of order";
            return -1;
        }
        if (idx[i] >= h->typecnt) {
            *why = "transition type out of range";
            return -1;
        }
        tz->trans_type[i] = idx[i];
    }
    return 0;
}

/* The footer: "\n" TZ-string "\n"; an empty string means no rule. */
static int read_footer(cv_tz *tz, struct reader *r, const char **why)
{
    char spec[TZ_FOOTER_MAX + 1];
    const uint8_t *nl;
    size_t n;

    if (r->left < 2 || r->p[0] != '\n' ||
        !(nl = memchr(r->p + 1, '\n', r->left - 1))) {
        *why = "missing footer";
        return -1;
    }
    n = (size_t)(nl - (r->p + 1));
    if (n == 0)
        return 0;
    if (n > TZ_FOOTER_MAX || memchr(r->p + 1, '\0', n)) {
        *why = "bad TZ string in footer";
        return -1;
    }
    memcpy(spec, r->p + 1, n);
    spec[n] = '\0';
    if (cv_tz_posix_parse(spec, &tz->footer) < 0) {
        *why = "bad TZ string in footer";
        return -1;
    }
    tz->has_footer = 1;
    return 0;
}

static int parse_tzif(cv_tz *tz, const uint8_t *buf, size_t len,
                      const char **why)
{
    struct reader r = {buf, len};
    struct tzif_header h;

    if (read_header(&r, &h, why) < 0)
        return -1;
    if (h.version == 1)
        return read_block(tz, &r, &h, 4, why);

    /* Skip the 32-bit block: the 64-bit one says everything it does. */
    if (block_size(&h, 4) > r.left) {
        *why = "truncated data block";
        return -1;
    }
    take(&r, block_size(&h, 4));
    if (read_header(&r, &h, why) < 0 || read_block(tz, &r, &h, 8, why) < 0)
        return -1;
    return read_footer(tz, &r, why);
}

/*
 * Reads a whole regular file of at most TZ_FILE_MAX bytes. Returns 0, 1 if
 * there is no such zone (missing, or a directory such as "America"), or -1
 * with errno set.
 */
static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    struct stat st;
    size_t got = 0;
    int fd, rc = -1, saved;

    *buf = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 1 : -1;
    if (fstat(fd, &st) < 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        rc = 1;
        goto out;
    }
    if (st.st_size > TZ_FILE_MAX) {
        errno = EFBIG;
        goto out;
    }
    *buf = cv_malloc((size_t)st.st_size);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    *len = got;
    rc = 0;
out:
    saved = errno;
    close(fd);
    errno = saved;
    if (rc != 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

static int name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++)
        if (!is_alpha(*p) && !is_digit(*p) && !strchr("_+-/", *p))
            return 0;
    return 1;
}

/* A name made safe to quote in an error: at most 64 printable bytes. */
static void quotable(const char *s, char *out, size_t size)
{
    size_t n = 0;

    for (; *s && n + 4 < size && n < 64; s++)
        out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s)
        for (int i = 0; i < 3 && n + 1 < size; i++)
            out[n++] = '.';
    out[n] = '\0';
}

static cv_tz *builtin_utc(void)
{
    cv_tz *tz = cv_calloc(1, sizeof(*tz));

    tz->name = cv_strdup("UTC");
    tz->abbrs = cv_strdup("UTC");
    tz->ntypes = 1;
    tz->types = cv_calloc(1, sizeof(*tz->types));
    tz->types[0].abbr = tz->abbrs;
    return tz;
}

int cv_tz_load(const char *name, cv_tz **out, char *err, size_t errlen)
{
    const char *dir = getenv("TZDIR"), *why = NULL;
    char *path = NULL, shown[80];
    uint8_t *buf = NULL;
    size_t len = 0;
    cv_tz *tz = NULL;
    int rc;

    *out = NULL;
    quotable(name ? name : "", shown, sizeof(shown));
    if (!name || !name_ok(name))
        return cv_err(err, errlen, "invalid time zone name '%s'", shown);
    if (!dir || !*dir)
        dir = TZ_DEFAULT_DIR;
    path = cv_asprintf("%s/%s", dir, name);

    rc = read_file(path, &buf, &len);
    if (rc == 0) {
        tz = cv_calloc(1, sizeof(*tz));
        if (parse_tzif(tz, buf, len, &why) == 0)
            goto ok;
        cv_tz_free(tz);
        tz = NULL;
    }
    if (strcmp(name, "UTC") == 0) {
        tz = builtin_utc();
        goto ok;
    }
    if (rc == 1)
        cv_err(err, errlen, "unknown time zone '%s'", shown);
    else if (rc < 0)
        cv_err(err, errlen, "time zone '%s': %s: %s", shown, path,
               strerror(errno));
    else
        cv_err(err, errlen, "time zone '%s': %s is not a valid TZif file: %s",
               shown, path, why);
    free(path);
    free(buf);
    return CV_ERR;

ok:
    free(tz->name);
    tz->name = cv_strdup(name);
    free(path);
    free(buf);
    *out = tz;
    return CV_OK;
}

int cv_tz_from_posix(const char *spec, cv_tz **out, char *err, size_t errlen)
{
    cv_tz *tz;
    char shown[80];

    *out = NULL;
    tz = cv_calloc(1, sizeof(*tz));
    if (!spec || strlen(spec) > TZ_FOOTER_MAX ||
        cv_tz_posix_parse(spec, &tz->footer) < 0) {
        quotable(spec ? spec : "", shown, sizeof(shown));
        cv_tz_free(tz);
        return cv_err(err, errlen, "invalid POSIX TZ string '%s'", shown);
    }
    tz->has_footer = 1;
    tz->name = cv_strdup(spec);
    *out = tz;
    return CV_OK;
}
