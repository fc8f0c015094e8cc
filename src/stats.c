/*
 * stats.c - counters and a bounded reservoir of batch commit times.
 */
#include "stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

struct cv_stats cv_stats;

#define SAMPLES_MAX 200000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t *samples;
static size_t nsamples;

void cv_stats_commit_sample(int64_t usec)
{
    pthread_mutex_lock(&lock);
    if (!samples)
        samples = cv_malloc(SAMPLES_MAX * sizeof(*samples));
    if (nsamples < SAMPLES_MAX)
        samples[nsamples++] = usec;
    pthread_mutex_unlock(&lock);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t cv_stats_commit_percentile(double p)
{
    int64_t r = -1;
    pthread_mutex_lock(&lock);
    if (nsamples) {
        int64_t *copy = cv_malloc(nsamples * sizeof(*copy));
        memcpy(copy, samples, nsamples * sizeof(*copy));
        qsort(copy, nsamples, sizeof(*copy), cmp64);
        size_t i = (size_t)(p / 100.0 * (double)(nsamples - 1) + 0.5);
        r = copy[i < nsamples ? i : nsamples - 1];
        free(copy);
    }
    pthread_mutex_unlock(&lock);
    return r;
}
