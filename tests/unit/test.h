/*
 * test.h - the smallest test harness that tells the truth.
 *
 * CHECK records a failure with file:line and goes on; the test binary exits
 * non-zero if any check failed and prints "N passed, N failed".
 */
#ifndef CV_TEST_H
#define CV_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) {                                                            \
            test_passed++;                                                     \
        } else {                                                               \
            test_failed++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (a_ && b_ && strcmp(a_, b_) == 0) {                                 \
            test_passed++;                                                     \
        } else {                                                               \
            test_failed++;                                                     \
            fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n",     \
                    __FILE__, __LINE__, a_ ? a_ : "(null)",                    \
                    b_ ? b_ : "(null)");                                       \
        }                                                                      \
    } while (0)

/* errstr must contain needle */
#define CHECK_CONTAINS(hay, needle)                                            \
    do {                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                \
        if (h_ && strstr(h_, n_)) {                                            \
            test_passed++;                                                     \
        } else {                                                               \
            test_failed++;                                                     \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n",         \
                    __FILE__, __LINE__, h_ ? h_ : "(null)", n_);               \
        }                                                                      \
    } while (0)

/* Writes len bytes of text to dir/name and returns the path (a static
 * buffer, valid until the next call). Exits the test on failure. */
static inline const char *test_write_file(const char *dir, const char *name,
                                          const void *text, size_t len)
{
    static char path[4096];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    if (!fp || fwrite(text, 1, len, fp) != len || fclose(fp) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}

#define TEST_DONE()                                                            \
    do {                                                                       \
        printf("%d passed, %d failed\n", test_passed, test_failed);            \
        return test_failed ? 1 : 0;                                            \
    } while (0)

#endif
