/*
 * clock.h - the ticker's one source of time.
 *
 * In production it is the system clock. For tests it can be a simulated
 * clock that runs `speed` times faster than real time from a fixed point:
 *
 *   sim:<start, RFC 3339>@<real epoch ms when the clock was at start>x<speed>
 *   e.g. sim:2026-01-01T00:00:00Z@1795000000000x300000
 *
 * The simulated clock is a pure function of the wall clock, so separate
 * processes given the same spec agree on the time (two tickers in one test
 * see the same simulated year), and the code that runs in production is
 * the code that runs under test.
 */
#ifndef CV_CLOCK_H
#define CV_CLOCK_H

#include <stddef.h>
#include <stdint.h>

struct cv_clock {
    int simulated;
    int64_t start_ms; /* simulated time at real_ms */
    int64_t real_ms;  /* wall-clock ms when the simulation was at start_ms */
    int64_t speed;    /* simulated ms per real ms */
};

/* Parses "system" or a "sim:..." spec (above). CV_OK or CV_ERR with the
 * reason in errstr. */
int cv_clock_parse(const char *spec, struct cv_clock *c, char *errstr,
                   size_t errstr_size);
/* Now, in ms since the epoch (UTC), on this clock. */
int64_t cv_clock_now_ms(const struct cv_clock *c);
/* Real ms until the clock reaches t (0 if it has), capped at cap_ms. */
int64_t cv_clock_real_wait_ms(const struct cv_clock *c, int64_t t,
                              int64_t cap_ms);

#endif
