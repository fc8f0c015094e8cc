/*
 * tz_int.h - what tz.c and tz_rule.c share: the local time types and the
 * parsed POSIX TZ rule of a zone's footer. Not for the rest of the engine,
 * which includes tz.h.
 */
#ifndef CV_TZ_INT_H
#define CV_TZ_INT_H

#include <stdint.h>

#define TZ_ABBR_MAX 15

/* One local time type: what the wall clock says relative to UTC. */
struct tz_type {
    int32_t utoff; /* seconds east of UTC */
    int isdst;
    const char *abbr; /* points into the zone */
};

/* One date of a POSIX TZ rule: "Jn", "n" or "Mm.w.d", plus "/time". */
enum tz_rule_kind {
    RULE_JULIAN, /* Jn: 1-365, February 29 is never counted */
    RULE_DAY,    /* n: 0-365, February 29 counted in leap years */
    RULE_MONTH,  /* Mm.w.d: day d (0 = Sunday) of week w (5 = last) */
};

struct tz_rule {
    enum tz_rule_kind kind;
    int day;               /* RULE_JULIAN, RULE_DAY */
    int month, week, wday; /* RULE_MONTH */
    int32_t time;          /* seconds after local midnight, may be < 0 */
};

/* A parsed POSIX TZ string. */
struct tz_posix {
    struct tz_type std, dst;
    int has_dst;
    struct tz_rule start; /* DST starts; time is local standard time */
    struct tz_rule end;   /* DST ends; time is local daylight time */
    char std_abbr[TZ_ABBR_MAX + 1];
    char dst_abbr[TZ_ABBR_MAX + 1];
};

/*
 * Parses a POSIX TZ string, "EST5EDT,M3.2.0,M11.1.0", into pz (its
 * abbreviations point into pz). Returns 0, or -1 if it is not one.
 */
int cv_tz_posix_parse(const char *spec, struct tz_posix *pz);

/* Which type the rule gives at instant t. */
const struct tz_type *cv_tz_posix_lookup(const struct tz_posix *pz, int64_t t);

/* The first start or end of DST after t (the rule must have DST). */
int64_t cv_tz_posix_next(const struct tz_posix *pz, int64_t t);

#endif
