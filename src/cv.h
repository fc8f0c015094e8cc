/*
 * cv.h - what every part of Conveyor shares, domain files included: return
 * codes, log levels and the printf attribute.
 *
 * A leaf header: the handler API (handler.h) includes it so that a domain
 * file needs nothing else, and common.h includes it for the engine.
 */
#ifndef CV_CV_H
#define CV_CV_H

#define CV_OK   0
#define CV_ERR  -1
#define CV_NULL 1 /* a field exists but holds null */

enum cv_log_level {
    CV_LOG_ERROR = 0,
    CV_LOG_WARN = 1,
    CV_LOG_INFO = 2,
    CV_LOG_DEBUG = 3,
};

#if defined(__GNUC__)
#define CV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CV_PRINTF(f, a)
#endif

#endif
