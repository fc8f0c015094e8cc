/*
 * cfgfile.h - reading libconfig files with errors that carry file:line,
 * for the configuration (config.c) and the topology (topology.c).
 */
#ifndef CV_CFGFILE_H
#define CV_CFGFILE_H

#include <stddef.h>

#include <libconfig.h>

#include "common.h"

/*
 * Reads and parses path into lc (which the caller has passed to
 * config_init() and later passes to config_destroy()), with the errors both
 * config and topology files need: a missing or unreadable file, a NUL byte,
 * an integer literal too large for its type (libconfig 1.5 wraps those
 * silently), and "path:line: syntax error: <libconfig's text>". @include
 * paths are relative to the file's directory. Returns CV_OK or CV_ERR.
 */
int cv_cfgfile_read(config_t *lc, const char *path, char *errstr,
                    size_t errstr_size);

/* "an integer", "a string", ...: what a setting holds, for messages. */
const char *cv_cfgfile_type_name(const config_setting_t *s);

/*
 * The file to name in a message about a setting or a parse error: path, or
 * the @include'd file it came from (included, as libconfig names it,
 * relative to dir, the directory of path with its '/'; buf holds the
 * result then).
 */
const char *cv_cfgfile_name(const char *included, const char *path,
                            const char *dir, char *buf, size_t size);

/* "path:LINE: <message>" into errstr, LINE being s's line. Returns CV_ERR. */
int cv_cfgfile_errf(char *errstr, size_t errstr_size, const char *path,
                    const config_setting_t *s, const char *fmt, ...)
    CV_PRINTF(5, 6);

/*
 * The line of needle in the file at path near line: libconfig gives a
 * string split over several lines the line of its first piece as a key's
 * value and, in a list, the line of the token after it; a message about a
 * word inside the string should point at the word. The nearest occurrence
 * at or before line, else the first after it, within 60 lines; line itself
 * if there is none or the file cannot be read.
 */
int cv_cfgfile_near_line(const char *path, int line, const char *needle);

#endif
