/*
 * civil.c - calendar arithmetic: civil dates to days since the epoch and
 * back, weekdays, leap years and month lengths (civil.h).
 *
 * Exact for any year that fits an int, which covers every instant the tz
 * module lets through (it clamps to about +-557,000 years). Nothing here
 * knows about time zones or calls libc's time functions.
 */
#include "civil.h"

/*
 * The calendar is shifted to start on March 1 so that the leap day is the
 * last day of the year, and counted in 400-year eras of 146097 days. Both
 * directions are closed-form: no loops, no tables.
 */
int64_t cv_days_from_civil(int y, unsigned m, unsigned d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = cv_floor_div(yy, 400);
    unsigned yoe = (unsigned)(yy - era * 400);            /* [0, 399] */
    unsigned mp = (m + 9) % 12;                           /* March = 0 */
    unsigned doy = (153 * mp + 2) / 5 + d - 1;            /* [0, 365] */
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */

    return era * 146097 + (int64_t)doe - 719468;
}

void cv_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    int64_t era, yy;
    unsigned doe, yoe, doy, mp;

    z += 719468; /* days since 0000-03-01 */
    era = cv_floor_div(z, 146097);
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    yy = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

int cv_weekday_from_days(int64_t z)
{
    /* 1970-01-01 was a Thursday */
    return (int)((z % 7 + 11) % 7);
}

int cv_is_leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned cv_days_in_month(int y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30,
                                          31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return dim[m - 1] + (m == 2 && cv_is_leap_year(y));
}
