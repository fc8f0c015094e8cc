/*
 * http.c - the HTTP server: listening, routing, limits, static assets
 * (see http.h). The answers come from metrics.c (counters), observe.c
 * (lag, readiness), health.c (liveness) and api.c (the admin API).
 *
 * libmicrohttpd runs its own threads (an epoll loop per thread of a small
 * pool); every handler here answers from memory except the admin API,
 * which opens a Postgres connection per request.
 */
#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "buf.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"

#define HTTP_KV "component=http"
/* /metrics is formatted at most this often; scrapes in between get a copy.
 * Prometheus scrapes every 15 s or more: a second of staleness costs
 * nothing, and a flood of scrapes costs one rendering a second. */
#define METRICS_TTL_MS 1000
#define HTTP_THREADS   2
#define HTTP_NICE      19

/* The dashboard's files, generated from web/ by CMake. */
struct cv_asset {
    const char *path, *type;
    const unsigned char *data;
    size_t len;
};
extern const struct cv_asset cv_assets[];

struct cv_http {
    struct MHD_Daemon *mhd;
    struct cv_api_env env;
    int port;
    pthread_mutex_t cache_lock;
    struct cv_buf cache; /* the last /metrics text */
    int64_t cache_ms;    /* monotonic; when it was made */
};

/* A request being read: its body, up to CV_HTTP_BODY_MAX. */
struct request {
    struct cv_buf body;
    int too_big;
};

static void lower_priority(void)
{
    static _Thread_local int done;

    if (!done) {
        /* per thread on Linux: the engine's threads keep their priority */
        setpriority(PRIO_PROCESS, (id_t)gettid(), HTTP_NICE);
        done = 1;
    }
}

static enum MHD_Result send_text(struct MHD_Connection *conn, int status,
                                 const char *type, char *text, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result rc;

    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate",
                                "Bearer realm=\"conveyor\"");
    rc = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_buf(struct MHD_Connection *conn, int status,
                                const char *type, struct cv_buf *b)
{
    size_t len = b->len;
    return send_text(conn, status, type, cv_buf_take(b), len);
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int status,
                                  const char *msg)
{
    struct cv_buf b = {0};

    cv_buf_puts(&b, "{\"error\": \"");
    cv_buf_json(&b, msg);
    cv_buf_puts(&b, "\"}\n");
    return send_buf(conn, status, "application/json", &b);
}

static enum MHD_Result serve_asset(struct MHD_Connection *conn, const char *url)
{
    struct MHD_Response *r;
    enum MHD_Result rc;

    if (strcmp(url, "/") == 0)
        url = "/index.html";
    for (const struct cv_asset *a = cv_assets; a->path; a++) {
        if (strcmp(a->path, url) != 0)
            continue;
        r = MHD_create_response_from_buffer(a->len, (void *)a->data,
                                            MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", a->type);
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        /* nothing is loaded from elsewhere, nor may be */
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'");
        rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return rc;
    }
    return send_error(conn, MHD_HTTP_NOT_FOUND, "no such page");
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind,
                               const char *key, const char *value)
{
    (void)kind;
    if (key && json_object_get(cls, key) == NULL)
        json_object_set_new(cls, key, json_string(value ? value : ""));
    return MHD_YES;
}

static enum MHD_Result serve_api(struct cv_http *h, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 struct request *req)
{
    struct cv_api_reply reply = {0, NULL};
    json_t *query = json_object();
    const char *auth = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, query);
    cv_api_handle(&h->env, method, url + strlen("/api/v1"), query, auth,
                  req->body.data ? req->body.data : "", req->body.len, &reply);
    json_decref(query);
    return send_text(conn, reply.status, "application/json", reply.body,
                     strlen(reply.body));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct cv_http *h = cls;
    struct request *req = *con_cls;
    struct cv_buf b = {0};
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int ok;

    (void)version;
    if (!req) {
        lower_priority();
        *con_cls = cv_calloc(1, sizeof(*req));
        return MHD_YES;
    }
    if (*upload_size) {
        if (req->body.len + *upload_size > CV_HTTP_BODY_MAX)
            req->too_big = 1;
        else
            cv_buf_add(&req->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->too_big)
        return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                          "request body over 64 KiB");
    if (strncmp(url, "/api/v1/", 8) == 0 || strcmp(url, "/api/v1") == 0)
        return serve_api(h, conn, url, method, req);
    if (!get)
        return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "only GET and HEAD here");
    if (strcmp(url, "/metrics") == 0) {
        pthread_mutex_lock(&h->cache_lock);
        if (!h->cache.len || cv_mono_ms() - h->cache_ms >= METRICS_TTL_MS) {
            h->cache.len = 0;
            cv_metrics_render(&h->cache);
            cv_observer_render(h->env.obs, &h->cache);
            h->cache_ms = cv_mono_ms();
        }
        cv_buf_add(&b, h->cache.data, h->cache.len);
        pthread_mutex_unlock(&h->cache_lock);
        return send_buf(conn, MHD_HTTP_OK,
                        "text/plain; version=0.0.4; charset=utf-8", &b);
    }
    if (strcmp(url, "/healthz") == 0) {
        ok = cv_health_live(&b, h->env.cfg->http_liveness_timeout_ms);
        return send_buf(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                        "application/json", &b);
    }
    if (strcmp(url, "/readyz") == 0) {
        ok = cv_observer_ready(h->env.obs, &b);
        return send_buf(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                        "application/json", &b);
    }
    return serve_asset(conn, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    struct request *req = *con_cls;

    (void)cls;
    (void)conn;
    (void)code;
    if (req) {
        cv_buf_free(&req->body);
        free(req);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's own complaints (malformed requests among them). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    CV_LOG(CV_LOG_DEBUG, HTTP_KV, "libmicrohttpd: %s", line);
}

/* "host:port", "[v6]:port" -> a socket address. */
static int resolve(const char *listen, struct addrinfo **out, char *errstr,
                   size_t errstr_size)
{
    char host[256];
    const char *colon = strrchr(listen, ':'), *h = host;
    struct addrinfo hints;
    int rc;

    if (!colon || colon == listen || !colon[1])
        return cv_err(errstr, errstr_size,
                      "http.listen '%s': expected host:port", listen);
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        host[strlen(host) - 1] = '\0';
        h = host + 1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(h, colon + 1, &hints, out);
    if (rc != 0)
        return cv_err(errstr, errstr_size, "http.listen '%s': %s", listen,
                      gai_strerror(rc));
    return CV_OK;
}

struct cv_http *cv_http_start(const struct cv_config *cfg,
                              const struct cv_topology *topo,
                              const struct cv_catalogue *cat,
                              struct cv_observer *obs, const char *port_file,
                              char *errstr, size_t errstr_size)
{
    struct cv_http *h = cv_calloc(1, sizeof(*h));
    struct addrinfo *ai = NULL;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

    h->env = (struct cv_api_env){cfg, topo, cat, obs};
    pthread_mutex_init(&h->cache_lock, NULL);
    if (resolve(cfg->http_listen, &ai, errstr, errstr_size) != CV_OK)
        goto fail;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CV_HTTP_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_END);
    if (!h->mhd) {
        cv_err(errstr, errstr_size,
               "http.listen '%s': cannot listen there (%s; another "
               "process on that port? set CONVEYOR_HTTP_LISTEN, port 0 "
               "for any free one, or \"\" for no endpoint)",
               cfg->http_listen, strerror(errno));
        goto fail;
    }
    info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    freeaddrinfo(ai);
    ai = NULL;
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f || fprintf(f, "%d\n", h->port) < 0 || fclose(f) != 0) {
            cv_err(errstr, errstr_size, "--http-port-file %s: %s", port_file,
                   strerror(errno));
            goto fail;
        }
    }
    CV_LOG(CV_LOG_INFO, HTTP_KV,
           "http listening on port %d (%s): /metrics /healthz /readyz "
           "/api/v1/ (%s) /",
           h->port, cfg->http_listen,
           cv_api_init() ? "on"
                         : "off: no CONVEYOR_ADMIN_TOKEN or "
                           "CONVEYOR_READONLY_TOKEN");
    return h;
fail:
    if (ai)
        freeaddrinfo(ai);
    cv_http_stop(h);
    return NULL;
}

int cv_http_port(const struct cv_http *h)
{
    return h->port;
}

void cv_http_stop(struct cv_http *h)
{
    if (!h)
        return;
    if (h->mhd)
        MHD_stop_daemon(h->mhd);
    cv_api_free();
    cv_buf_free(&h->cache);
    pthread_mutex_destroy(&h->cache_lock);
    free(h);
}
