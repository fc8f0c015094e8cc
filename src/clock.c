/*
 * clock.c - system or simulated time for the ticker (see clock.h).
 */
#include "clock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "event.h"

int cv_clock_parse(const char *spec, struct cv_clock *c, char *errstr,
                   size_t errstr_size)
{
    const char *at, *x;
    char *end;

    memset(c, 0, sizeof(*c));
    c->speed = 1;
    if (strcmp(spec, "system") == 0)
        return CV_OK;
    if (strncmp(spec, "sim:", 4) != 0)
        return cv_err(errstr, errstr_size,
                      "clock '%s': expected \"system\" or "
                      "\"sim:<RFC 3339 start>@<real epoch ms>x<speed>\"",
                      spec);
    at = strchr(spec, '@');
    x = at ? strchr(at, 'x') : NULL;
    if (!at || !x)
        return cv_err(
            errstr, errstr_size,
            "clock '%s': expected sim:<start>@<real epoch ms>x<speed>", spec);
    if (cv_rfc3339_parse(spec + 4, (size_t)(at - spec - 4), &c->start_ms) !=
        CV_OK)
        return cv_err(errstr, errstr_size,
                      "clock '%s': start is not an RFC 3339 time", spec);
    errno = 0;
    c->real_ms = strtoll(at + 1, &end, 10);
    if (errno || end != x || c->real_ms < 0)
        return cv_err(errstr, errstr_size,
                      "clock '%s': real epoch is not a number of ms", spec);
    c->speed = strtoll(x + 1, &end, 10);
    if (errno || *end || c->speed < 1 || c->speed > 100000000)
        return cv_err(errstr, errstr_size,
                      "clock '%s': speed must be 1..100000000", spec);
    c->simulated = 1;
    return CV_OK;
}

int64_t cv_clock_now_ms(const struct cv_clock *c)
{
    int64_t wall = cv_wall_ms();

    if (!c->simulated)
        return wall;
    return c->start_ms + (wall - c->real_ms) * c->speed;
}

int64_t cv_clock_real_wait_ms(const struct cv_clock *c, int64_t t,
                              int64_t cap_ms)
{
    int64_t d = t - cv_clock_now_ms(c);

    if (d <= 0)
        return 0;
    d = c->simulated ? (d + c->speed - 1) / c->speed : d;
    return d < cap_ms ? d : cap_ms;
}
