/*
 * log.h - one line per event on stderr, logfmt or JSON.
 *
 * The level is checked before anything is formatted (CV_LOG macro), so a
 * debug line on the hot path costs one comparison when debug is off.
 * Thread-safe: each line is written with one fwrite under stdio's lock.
 */
#ifndef CV_LOG_H
#define CV_LOG_H

#include "common.h"

enum cv_log_format {
    CV_LOG_LOGFMT = 0,
    CV_LOG_JSON = 1,
};

extern int cv_log_level;

void cv_log_setup(int level, int format);
/* Parses "error|warn|info|debug"; returns the level or -1. */
int cv_log_level_parse(const char *s);

/*
 * msg is the human message; kv is a preformatted sequence of key=value pairs
 * (logfmt) added after it, or NULL. With the JSON format each key=value pair
 * becomes a JSON member.
 */
void cv_log_write(int level, const char *kv, const char *fmt, ...)
    CV_PRINTF(3, 4);

/*
 * A live status line on a terminal (conveyor dev): printed on stdout after
 * a carriage return and a clear-to-end-of-line, without a newline. While it
 * shows, log lines to the same terminal clear it and draw it again after
 * themselves. NULL ends it with a newline. Only for a stdout that is a
 * terminal; any thread.
 */
void cv_log_live_line(const char *line);

#define CV_LOG(level, kv, ...)                                                 \
    do {                                                                       \
        if ((level) <= cv_log_level)                                           \
            cv_log_write((level), (kv), __VA_ARGS__);                          \
    } while (0)

#define cv_error(...) CV_LOG(CV_LOG_ERROR, NULL, __VA_ARGS__)
#define cv_warn(...)  CV_LOG(CV_LOG_WARN, NULL, __VA_ARGS__)
#define cv_info(...)  CV_LOG(CV_LOG_INFO, NULL, __VA_ARGS__)
#define cv_debug(...) CV_LOG(CV_LOG_DEBUG, NULL, __VA_ARGS__)

#endif
