/*
 * cron_int.h - what cron_parse.c (which builds a cv_cron) and cron.c
 * (which matches and searches with it) share. Not for other modules.
 */
#ifndef CV_CRON_INT_H
#define CV_CRON_INT_H

#include <stdint.h>

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

struct cv_cron {
    char *expr;
    uint64_t minutes;    /* bits 0-59 */
    uint32_t hours;      /* bits 0-23 */
    uint32_t dom;        /* bits 1-31: plain days of the month */
    uint32_t dom_last;   /* bit n: "L-n" ("L" is n = 0) */
    uint32_t dom_near;   /* bit n: "nW" */
    int dom_lw;          /* "LW" */
    uint32_t months;     /* bits 1-12 */
    uint32_t dow;        /* bits 0-6, Sunday = 0 */
    uint32_t dow_last;   /* bit d: "dL", the last weekday d of the month */
    uint32_t dow_nth[7]; /* bit k-1: "d#k", the k-th weekday d */
    int dom_star;        /* the day-of-month text starts with '*' */
    int dow_star;        /* the day-of-week text starts with '*' */
    int hour_wild;       /* a wildcard job (cron.h) */
};

#endif
