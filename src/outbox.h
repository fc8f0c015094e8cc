/*
 * outbox.h - the outbox relay (DESIGN.md I-5).
 *
 * Publishes conveyor.outbox rows in id order with an idempotent producer and
 * marks them published. One relay leads (a session advisory lock); others
 * wait as standbys. It wakes on NOTIFY conveyor_outbox (sent by the
 * transaction that wrote the rows) and polls every outbox.poll_ms anyway.
 * A crash between publish and mark re-sends those rows with their original
 * ce_id, and consumers' inbox dedupe (I-4) absorbs them.
 */
#ifndef CV_OUTBOX_H
#define CV_OUTBOX_H

#include <stdatomic.h>

#include "config.h"

struct cv_relay;

struct cv_relay *cv_relay_new(const struct cv_config *cfg, char *errstr,
                              size_t errstr_size);
/* Runs until *stop is set; returns CV_OK. */
int cv_relay_run(struct cv_relay *r, atomic_int *stop);
void cv_relay_destroy(struct cv_relay *r);

#endif
