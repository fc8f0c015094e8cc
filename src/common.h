/*
 * common.h - return codes, allocation that cannot fail, small helpers.
 *
 * Every module includes this. Allocation failure aborts the process: a job
 * engine that runs out of memory mid-batch cannot do anything useful, and a
 * crash leaves Postgres consistent (the batch rolls back).
 */
#ifndef CV_COMMON_H
#define CV_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "cv.h"

/* Exit codes of the conveyor binary. */
#define CV_EXIT_OK              0
#define CV_EXIT_RUNTIME         1
#define CV_EXIT_USAGE           2
#define CV_EXIT_HANDLER_TIMEOUT 3 /* a handler ran past its timeout */

#define CV_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *cv_malloc(size_t size);
void *cv_calloc(size_t n, size_t size);
void *cv_realloc(void *ptr, size_t size);
char *cv_strdup(const char *s);
char *cv_strndup(const char *s, size_t n);
/* printf into a fresh string; never NULL. */
char *cv_asprintf(const char *fmt, ...) CV_PRINTF(1, 2);

/* Monotonic and wall clocks in milliseconds. */
int64_t cv_mono_ms(void);
int64_t cv_mono_us(void);
int64_t cv_wall_ms(void);

/* FNV-1a of a NUL-terminated string (hash tables, statement cache). */
uint64_t cv_hash_str(const char *s);

/*
 * CV_TEXT_OK if text is strict UTF-8 (no overlong forms, no surrogates,
 * nothing past U+10FFFF) without a NUL byte; else CV_TEXT_NUL or
 * CV_TEXT_UTF8. Fast on ASCII: it is on the decoder's hot path.
 */
enum { CV_TEXT_OK = 0, CV_TEXT_NUL, CV_TEXT_UTF8 };
int cv_text_check(const void *text, size_t len);

/* Writes a random RFC 4122 version 4 UUID (36 chars + NUL) into out. */
void cv_uuid4(char out[37]);

/* The name of the OS user running this process (audit log default actor). */
const char *cv_os_user(void);

/* snprintf into errstr (may be NULL); always returns CV_ERR. */
int cv_err(char *errstr, size_t errstr_size, const char *fmt, ...)
    CV_PRINTF(3, 4);

#endif
