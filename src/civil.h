/*
 * civil.h - proleptic Gregorian calendar arithmetic with no libc involved:
 * days since 1970-01-01 from a civil date (m 1-12, d 1-31) and back, exact
 * for any year that fits an int. The time zone code (tz.c, tz_rule.c) and
 * the cron search (cron.c) build on it.
 */
#ifndef CV_CIVIL_H
#define CV_CIVIL_H

#include <stdint.h>

#define CV_SECS_PER_DAY 86400

/* a / b rounded towards minus infinity (b > 0), as calendars need. */
static inline int64_t cv_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

int64_t cv_days_from_civil(int y, unsigned m, unsigned d);
void cv_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d);
/* 0 = Sunday ... 6 = Saturday */
int cv_weekday_from_days(int64_t z);
int cv_is_leap_year(int y);
/* 28-31 */
unsigned cv_days_in_month(int y, unsigned m);

#endif
