/*
 * cron.h - cron expressions: parse once, then ask for the next fire time in
 * any time zone.
 *
 * Syntax: five fields separated by blanks,
 *
 *     minute  hour  day-of-month  month  day-of-week
 *     0-59    0-23  1-31          1-12   0-7 (0 and 7 are Sunday)
 *
 * Each field is a comma-separated list of elements: `*`, `n`, `a-b`, and
 * any of those with a step: `1-30/5`, `5/10` (= 5-max/10), and a star
 * followed by `/15` (every 15th minute; a C comment cannot spell it). Months
 * may be written JAN-DEC and weekdays SUN-SAT, in any case, also in ranges
 * (`MON-FRI`, and `FRI-SUN` meaning Friday to Sunday). Macros stand for a
 * whole expression: @yearly and @annually (0 0 1 1 *), @monthly (0 0 1 * *),
 * @weekly (0 0 * * 0), @daily and @midnight (0 0 * * *), @hourly
 * (0 * * * *).
 *
 * Extensions in day-of-month: `L` the last day of the month, `L-3` three
 * days before it, `15W` the weekday nearest the 15th within the same month
 * (`1W` on a Saturday 1st is Monday the 3rd; `31W` on a Sunday 31st is
 * Friday the 29th; a day the month lacks never fires), `LW` the month's
 * last weekday. In day-of-week: `5L` the month's last Friday, `MON#1` or
 * `1#1` its first Monday (# 1-5).
 *
 * Day matching follows Vixie cron: if both day fields are restricted (their
 * text does not start with `*`), a day matches when EITHER matches
 * ("0 0 13 * 5": every 13th and every Friday); otherwise both must.
 *
 * DST policy. Fire times are whole minutes of local wall-clock time. What
 * happens when the clocks change depends on the hour field:
 *
 *   - A job whose hour field is a wildcard or stepped (it contains `*` or a
 *     `/` step: `*`, a star with `/2`, `1-5/2`) is a WILDCARD JOB. It fires
 *     at every real instant whose local wall-clock time matches. When
 *     clocks spring forward the local times in the gap never happen: no
 *     fire for them, and nothing doubled. When clocks fall back the repeated
 * hour happens twice and so do its fires: `0,30 * * * *` in New York on
 * 2026-11-01 fires at 01:00 EDT, 01:30 EDT, 01:00 EST, 01:30 EST, four distinct
 *     instants, then 02:00 EST.
 *
 *   - Every other job is a FIXED-TIME JOB ("30 2 * * *", "0 9 * * MON-FRI",
 *     "0 0-23 * * *" too: a written-out hour list is fixed). Each matching
 *     local wall-clock time fires once, at one instant:
 *       * a local time that does not exist (in the gap) fires at the first
 *         instant after the gap, the transition itself: "30 2 * * *" in New
 *         York fires at 03:00 EDT on 2026-03-08;
 *       * a local time that occurs twice fires at its FIRST occurrence only:
 *         "30 1 * * *" fires at 01:30 EDT on 2026-11-01, not at 01:30 EST;
 *       * several gap times that map to the same instant fire once
 *         ("0,30 2 * * *" fires once at 03:00 EDT on 2026-03-08).
 *
 * A parsed cv_cron is immutable: any thread may use it concurrently.
 */
#ifndef CV_CRON_H
#define CV_CRON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common.h"
#include "tz.h"

/* cv_cron_next() looks this far ahead (five years, leap days included). */
#define CV_CRON_HORIZON ((int64_t)1827 * 86400)

/* Longer expressions are refused. */
#define CV_CRON_EXPR_MAX 256

typedef struct cv_cron cv_cron;

/*
 * Parses expr. Returns CV_OK and sets *out (the caller owns it:
 * cv_cron_free()), or CV_ERR with a message naming the field and the
 * column (1-based, in expr) of the problem:
 *   cron "0 3 32 * *": field 3 (day-of-month) at column 5: 32 is out of
 *   range 1-31
 */
int cv_cron_parse(const char *expr, cv_cron **out, char *err, size_t errlen);

/* Frees c; NULL is fine. */
void cv_cron_free(cv_cron *c);

/* The expression as it was given; owned by c. */
const char *cv_cron_expr(const cv_cron *c);

/*
 * The next fire time strictly after `after` (unix seconds) in zone tz,
 * following the DST policy above. Returns CV_OK and sets *next, or CV_ERR
 * if there is none within CV_CRON_HORIZON ("0 0 30 2 *" never fires; for
 * "0 0 29 2 *" asked on 2096-03-01 the next one, in 2104, is too far) or
 * `after` is absurd (more than 500,000 years from 1970). Allocates
 * nothing; takes about a microsecond however sparse the schedule. Any
 * thread, concurrently with others on the same c and tz.
 */
int cv_cron_next(const cv_cron *c, const cv_tz *tz, int64_t after,
                 int64_t *next);

/*
 * Whether c can fire at all. Returns CV_OK, or CV_ERR with why not, e.g.
 *   cron "0 0 30 2 *": never fires: day-of-month "30" matches no day of
 *   February (28 or 29 days)
 * Exact (it looks at the whole 400-year cycle of the calendar) and fast
 * (about a millisecond); cv_cron_next() may still find nothing within its
 * horizon for a rare schedule that does fire ("0 0 29 2 *" asked on
 * 2096-03-01).
 */
int cv_cron_check_fires(const cv_cron *c, char *err, size_t errlen);

/* 1 if the hour field makes this a wildcard job (see above), else 0. */
int cv_cron_hour_is_wildcard(const cv_cron *c);

/*
 * 1 if a local wall-clock time matches all five fields (tm_year, tm_mon,
 * tm_mday, tm_hour, tm_min are read; seconds are ignored), else 0.
 */
int cv_cron_matches(const cv_cron *c, const struct tm *tm);

#endif
