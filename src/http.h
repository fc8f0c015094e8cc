/*
 * http.h - the embedded HTTP endpoint of `conveyor run` and `conveyor dev`
 * (libmicrohttpd): /metrics, /healthz, /readyz, the admin API under
 * /api/v1/ (api.h) and the dashboard at /.
 *
 * It listens on http.listen (CONVEYOR_HTTP_LISTEN; loopback by default;
 * port 0 picks a free port, which is logged and written to port_file).
 * Its threads run at nice 19, below the engine's, and /metrics formats
 * counters and the observer's last snapshot at most once a second (a
 * scrape in between gets a copy) without touching Postgres or the
 * broker, so a flood of requests cannot starve the consumers. Requests are
 * bounded: at most CV_HTTP_CONNECTIONS at once, bodies up to CV_HTTP_BODY_MAX
 * bytes, 10 s idle timeout.
 */
#ifndef CV_HTTP_H
#define CV_HTTP_H

#include "config.h"
#include "schema.h"
#include "topology.h"

#define CV_HTTP_CONNECTIONS 1024
#define CV_HTTP_BODY_MAX    (64 * 1024)

struct cv_http;
struct cv_observer;

/*
 * Starts listening. cfg, topo, cat and obs are borrowed and must outlive
 * the server. port_file: where to write the bound port (NULL: nowhere).
 * Returns NULL with errstr on failure (the address is taken, ...).
 */
struct cv_http *cv_http_start(const struct cv_config *cfg,
                              const struct cv_topology *topo,
                              const struct cv_catalogue *cat,
                              struct cv_observer *obs, const char *port_file,
                              char *errstr, size_t errstr_size);
/* The port it listens on. */
int cv_http_port(const struct cv_http *h);
void cv_http_stop(struct cv_http *h);

#endif
