/*
 * registry.h - the domains this binary carries.
 *
 * The build generates the table from the files in consumers/ (and, for
 * conveyor-testkit, tests/testkit/); nobody edits it by hand. Only the
 * commands that resolve a topology's handlers need it: domain files see
 * their own struct cv_domain_def (domain.h), never the others'.
 */
#ifndef CV_REGISTRY_H
#define CV_REGISTRY_H

#include "domain.h"

/* Every registered domain, NULL-terminated. */
extern const struct cv_domain_def *const cv_domains[];

#endif
