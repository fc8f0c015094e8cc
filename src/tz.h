/*
 * tz.h - time zones from the system tz database, without libc's time zone
 * machinery.
 *
 * localtime_r() and mktime() answer for one process-wide zone chosen by the
 * TZ environment variable; setting TZ to schedule a job in another zone is
 * neither thread-safe nor cheap. This module reads the compiled TZif files
 * (RFC 8536/9636, versions 1 to 4) itself and answers for any number of
 * zones at once. Instants are unix seconds (int64_t). A "local" time is the
 * same count taken on the zone's wall clock: seconds since 1970-01-01T00:00
 * local, so local = t + offset(t).
 *
 * A loaded cv_tz is immutable: any thread may use it at the same time as
 * others, and it must not be freed while in use. Nothing here keeps global
 * state; only cv_tz_load() reads the environment ($TZDIR).
 */
#ifndef CV_TZ_H
#define CV_TZ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "civil.h" /* the calendar arithmetic, for tz.h's users */
#include "common.h"

/*
 * Instants are clamped to this range (about +-557,000 years) before any
 * calendar arithmetic, so no input can overflow.
 */
#define CV_TZ_T_MAX ((int64_t)1 << 44)
#define CV_TZ_T_MIN (-CV_TZ_T_MAX)

typedef struct cv_tz cv_tz;

/*
 * Loads the zone `name` ("Europe/London") from $TZDIR, or from
 * /usr/share/zoneinfo when TZDIR is unset. Names are checked before any
 * file is opened: only [A-Za-z0-9_+-/], no leading '/', no "..". "UTC"
 * always loads, with a built-in zone if the file cannot be read.
 * Returns CV_OK and sets *out (the caller owns it: cv_tz_free()), or CV_ERR
 * with the reason in err ("unknown time zone 'Mars/Olympus'").
 */
int cv_tz_load(const char *name, cv_tz **out, char *err, size_t errlen);

/*
 * A zone from a POSIX TZ rule string alone, the format of a TZif footer:
 * "EST5EDT,M3.2.0,M11.1.0", "<+0330>-3:30", "IST-2IDT,M3.4.4/26,M10.5.0".
 * The zone's name is the string. Same ownership and errors as cv_tz_load().
 */
int cv_tz_from_posix(const char *spec, cv_tz **out, char *err, size_t errlen);

/* Frees a zone; NULL is fine. */
void cv_tz_free(cv_tz *tz);

/* The name it was loaded under; owned by the zone. */
const char *cv_tz_name(const cv_tz *tz);

/*
 * The UTC offset in seconds (east positive) in effect at instant t. If
 * abbrev is not NULL it receives the abbreviation ("EDT", "+0530"), a
 * string owned by the zone.
 */
int cv_tz_offset(const cv_tz *tz, int64_t t, const char **abbrev);

/*
 * Broken-down local time at t, like localtime_r(): all the standard fields
 * (tm_year since 1900, tm_mon 0-11, tm_wday, tm_yday) plus tm_isdst,
 * tm_gmtoff and tm_zone (which points into the zone).
 */
void cv_tz_local(const cv_tz *tz, int64_t t, struct tm *out);

/*
 * The first instant > t at which the offset may change, or INT64_MAX if
 * none ever will. Between two transitions local time runs at the same pace
 * as real time.
 */
int64_t cv_tz_next_transition(const cv_tz *tz, int64_t t);

/*
 * Maps a local wall-clock time back to an instant, the way a scheduler
 * wants it: a local time that occurs once maps to that instant; one that
 * occurs twice (clocks set back) maps to its FIRST occurrence; one that does
 * not occur (clocks set forward over it) maps to the instant the gap ends,
 * the transition. The map never decreases as local grows (given
 * transitions more than a couple of days apart, as they are in practice).
 */
int64_t cv_tz_resolve(const cv_tz *tz, int64_t local);

/*
 * Writes t as RFC 3339 local time with its offset,
 * "2026-03-08T03:00:00-04:00" (an offset with seconds, as in LMT, gets
 * ":SS" appended). Returns buf.
 */
char *cv_tz_format(const cv_tz *tz, int64_t t, char *buf, size_t len);

#endif
