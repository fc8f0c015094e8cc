/*
 * fuzz_cron.c - libFuzzer target for the cron parser, the next-fire search,
 * POSIX TZ strings and TZif files.
 *
 * The first byte picks what the rest is:
 *   0: a cron expression. If it parses, cv_cron_next() from a few instants
 *      in UTC, New York, Lord Howe and Santiago (as a POSIX rule string)
 *      must return an instant after the start and within the horizon, and
 *      a wildcard job's fire must match the expression in local time. If it
 *      does not parse, the message must start with `cron "`.
 *   1: a POSIX TZ string. If accepted, offsets stay within +-26 h, the next
 *      transition is later than asked, and resolving local times returns.
 *   2: a TZif file, loaded from a private TZDIR; same checks if it loads.
 *
 * Built with -DCONVEYOR_FUZZ=ON: see README.md in this directory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cron.h"
#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cv_tz *zones[4];
static char tzdir[64];

static void init(void)
{
    char err[256];
    const char *names[] = {"UTC", "America/New_York", "Australia/Lord_Howe"};

    for (int i = 0; i < 3; i++)
        if (cv_tz_load(names[i], &zones[i], err, sizeof(err)) != CV_OK)
            abort();
    if (cv_tz_from_posix("<-04>4<-03>,M9.1.6/24,M4.1.6/24", &zones[3], err,
                         sizeof(err)) != CV_OK)
        abort();
    snprintf(tzdir, sizeof(tzdir), "/tmp/fuzz_cron_XXXXXX");
    if (!mkdtemp(tzdir))
        abort();
}

static void fuzz_cron(const char *expr)
{
    static const int64_t starts[] = {0, 1772953200, 1793425800, 4102444800,
                                     -2208988800};
    char err[512] = "";
    cv_cron *c = NULL;
    int64_t next;

    if (cv_cron_parse(expr, &c, err, sizeof(err)) != CV_OK) {
        if (c || strncmp(err, "cron \"", 6) != 0)
            abort();
        return;
    }
    for (size_t z = 0; z < 4; z++) {
        for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
            struct tm tm;
            if (cv_cron_next(c, zones[z], starts[s], &next) != CV_OK)
                continue;
            if (next <= starts[s] || next > starts[s] + CV_CRON_HORIZON)
                abort();
            cv_tz_local(zones[z], next, &tm);
            if (cv_cron_hour_is_wildcard(c) && !cv_cron_matches(c, &tm))
                abort();
        }
    }
    cv_cron_free(c);
}

static void check_zone(const cv_tz *tz)
{
    for (int64_t t = -5000000000; t < 9000000000; t += 123456789) {
        int off = cv_tz_offset(tz, t, NULL);
        if (off < -26 * 3600 || off > 26 * 3600 ||
            cv_tz_next_transition(tz, t) <= t)
            abort();
        (void)cv_tz_resolve(tz, t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256], *text;
    cv_tz *tz = NULL;

    if (!zones[0])
        init();
    if (size < 1)
        return 0;
    text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';

    switch (data[0] % 3) {
    case 0:
        fuzz_cron(text);
        break;
    case 1:
        if (cv_tz_from_posix(text, &tz, err, sizeof(err)) == CV_OK)
            check_zone(tz);
        break;
    case 2: {
        char path[128];
        FILE *fp;
        snprintf(path, sizeof(path), "%s/Zone", tzdir);
        if (!(fp = fopen(path, "wb")))
            abort();
        fwrite(data + 1, 1, size - 1, fp);
        fclose(fp);
        setenv("TZDIR", tzdir, 1);
        if (cv_tz_load("Zone", &tz, err, sizeof(err)) == CV_OK)
            check_zone(tz);
        break;
    }
    }
    cv_tz_free(tz);
    free(text);
    return 0;
}
