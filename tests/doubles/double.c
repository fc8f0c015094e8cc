/* The server core of conveyor-double: command line, listening socket,
 * libmicrohttpd daemon, the life of a request (faults, handler, answer),
 * the ledger, the statistics, the double's clock and the control endpoints
 * under /_double/. It knows nothing of the APIs it imitates: the
 * personality named on the command line answers those.
 *
 * Threads: libmicrohttpd runs one thread per connection, so a handler may
 * block; the ledger and the counters are shared under one mutex. Signals
 * are blocked in every thread and taken by sigwait() in main(), which then
 * stops the daemon: sleeping handlers wake up (dbl_sleep_ms) and the
 * connections close. */
#include "double.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_LIMIT (1024 * 1024)

static const struct dbl_personality *const personalities[] = {
    &dbl_stripe, &dbl_millionverifier, &dbl_storage, NULL};

const struct dbl_personality *dbl_pers;

static struct {
    char *key;
    uint64_t seed;
    atomic_int stopping;
    pthread_mutex_t sleep_lock;
    pthread_cond_t sleep_cond;
    uint64_t release_gen; /* under sleep_lock: bumped by a release */
} S = {.sleep_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- small services ---- */

void dbl_log(const char *level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "ts=%lld level=%s double=%s msg=\"%s\"\n",
            (long long)dbl_now_ms(), level, dbl_pers ? dbl_pers->name : "-",
            msg);
}

int64_t dbl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dbl_stopping(void)
{
    return atomic_load(&S.stopping);
}

int dbl_sleep_ms(int64_t ms)
{
    return dbl_sleep_since(ms, dbl_release_gen());
}

int dbl_sleep_since(int64_t ms, uint64_t gen)
{
    struct timespec until;
    int rc = DBL_OK;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&S.sleep_lock);
    while (!dbl_stopping() && gen == S.release_gen) {
        if (pthread_cond_timedwait(&S.sleep_cond, &S.sleep_lock, &until) ==
            ETIMEDOUT)
            break;
    }
    if (dbl_stopping() || gen != S.release_gen)
        rc = DBL_ERR;
    pthread_mutex_unlock(&S.sleep_lock);
    return rc;
}

uint64_t dbl_release_gen(void)
{
    uint64_t gen;
    pthread_mutex_lock(&S.sleep_lock);
    gen = S.release_gen;
    pthread_mutex_unlock(&S.sleep_lock);
    return gen;
}

void dbl_release(void)
{
    pthread_mutex_lock(&S.sleep_lock);
    S.release_gen++;
    pthread_cond_broadcast(&S.sleep_cond);
    pthread_mutex_unlock(&S.sleep_lock);
}

const char *dbl_key(void)
{
    return S.key;
}

/* ---- the answer ---- */

void dbl_reply_text(struct dbl_call *call, int status, const char *ctype,
                    const char *text, size_t len)
{
    free(call->resp);
    call->resp = NULL;
    call->resp_len = len;
    if (len) {
        call->resp = malloc(len);
        if (!call->resp)
            abort();
        memcpy(call->resp, text, len);
    }
    call->status = status;
    call->content_type = ctype;
}

void dbl_reply_json(struct dbl_call *call, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        abort();
    json_decref(body);
    free(call->resp);
    call->resp = text;
    call->resp_len = strlen(text);
    call->status = status;
    call->content_type = "application/json";
}

void dbl_reply_header(struct dbl_call *call, const char *name, const char *fmt,
                      ...)
{
    char value[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    for (int i = 0; i < call->nhdr; i++) {
        if (strcasecmp(call->hdr_name[i], name) == 0) {
            free(call->hdr_value[i]);
            call->hdr_value[i] = strdup(value);
            return;
        }
    }
    if (call->nhdr == DBL_MAX_HEADERS)
        abort();
    call->hdr_name[call->nhdr] = name;
    call->hdr_value[call->nhdr++] = strdup(value);
}

const char *dbl_header(struct dbl_call *call, const char *name)
{
    return MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, name);
}

const char *dbl_query(struct dbl_call *call, const char *name)
{
    return MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_iter {
    json_t *obj;
    const char *skip;
};

static enum MHD_Result query_item(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value)
{
    struct query_iter *it = cls;
    (void)kind;
    if (!it->skip || strcmp(key, it->skip) != 0)
        json_object_set_new(it->obj, key, json_string(value ? value : ""));
    return MHD_YES;
}

json_t *dbl_query_json(struct dbl_call *call, const char *skip)
{
    struct query_iter it = {json_object(), skip};
    MHD_get_connection_values(call->conn, MHD_GET_ARGUMENT_KIND, query_item,
                              &it);
    return it.obj;
}

void dbl_call_delay(struct dbl_call *call)
{
    if (call->delay_served)
        return;
    call->delay_served = 1;
    if (call->faults.delay_ms > 0)
        dbl_sleep_since(call->faults.delay_ms, call->release_gen);
}

/* ---- the request lifecycle ---- */

static void uncount(struct dbl_call *call)
{
    if (call->counted)
        dbl_in_flight_leave();
    call->counted = 0;
}

static struct dbl_call *call_new(struct MHD_Connection *conn, const char *url,
                                 const char *method)
{
    struct dbl_call *call = calloc(1, sizeof(*call));
    if (!call)
        abort();
    call->conn = conn;
    call->method = method;
    call->path = url;
    call->faults.stall_after = -1;
    call->start_ms = dbl_now_ms();
    call->release_gen = dbl_release_gen();
    call->control = strncmp(url, "/_double/", 9) == 0;
    if (!call->control) {
        call->in_flight = dbl_in_flight_enter();
        call->counted = 1;
    }
    return call;
}

static void call_free(struct dbl_call *call)
{
    free(call->body);
    free(call->resp);
    for (int i = 0; i < call->nhdr; i++)
        free(call->hdr_value[i]);
    if (call->stream)
        MHD_destroy_response(call->stream);
    json_decref(call->entry);
    dbl_faults_clear(&call->faults);
    free(call);
}

static enum MHD_Result send_answer(struct dbl_call *call)
{
    struct MHD_Response *resp = call->stream;
    enum MHD_Result ret;

    if (call->status == DBL_CLOSE)
        return MHD_NO;
    if (!resp) {
        resp = MHD_create_response_from_buffer(call->resp_len, call->resp,
                                               MHD_RESPMEM_MUST_FREE);
        call->resp = NULL;
    }
    call->stream = NULL;
    if (!resp)
        return MHD_NO;
    if (call->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                call->content_type);
    for (int i = 0; i < call->nhdr; i++)
        MHD_add_response_header(resp, call->hdr_name[i], call->hdr_value[i]);
    ret = MHD_queue_response(call->conn, (unsigned)call->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result finish(struct dbl_call *call)
{
    struct dbl_faults *f = &call->faults;

    if (call->control) {
        dbl_control(call);
        return send_answer(call);
    }
    /* The ledger line's fields in a fixed order; values filled in later
     * keep their place. */
    call->entry = json_pack(
        "{s:i, s:I, s:i, s:s, s:s, s:n, s:i, s:n, s:n, s:o, s:b, s:n, s:[]}",
        "seq", 0, "start_ms", (json_int_t)call->start_ms, "end_ms", 0, "method",
        call->method, "path", call->path, "status", "in_flight",
        call->in_flight, "key_ok", "idempotency_key", "params", json_object(),
        "replayed", 0, "object", "faults");
    dbl_fault_pick(call->method, call->path, f);
    /* the client's idempotency key, whatever the answer: a test matches
     * the attempts of one request by it */
    if (dbl_header(call, "Idempotency-Key"))
        json_object_set_new(call->entry, "idempotency_key",
                            json_string(dbl_header(call, "Idempotency-Key")));
    if (call->too_large) {
        dbl_reply_json(call, 413,
                       json_pack("{s:s}", "error", "request body too large"));
    } else if (f->status) {
        dbl_call_delay(call);
        dbl_pers->fault_reply(call, f->status, f->retry_after_s);
    } else {
        dbl_pers->handle(call);
        dbl_call_delay(call);
        if (f->close) {
            /* The work is done and ledgered; the client never hears. */
            json_object_set_new(call->entry, "would_status",
                                json_integer(call->status));
            call->status = DBL_CLOSE;
        }
    }
    dbl_ledger_write(call);
    uncount(call);
    return send_answer(call);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct dbl_call *call = *con_cls;
    (void)cls;
    (void)version;

    if (!call) {
        *con_cls = call_new(conn, url, method);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (call->too_large || call->body_len + n > BODY_LIMIT) {
            call->too_large = 1;
            return MHD_YES;
        }
        if (call->body_len + n + 1 > call->body_cap) {
            call->body_cap = (call->body_len + n + 1) * 2;
            call->body = realloc(call->body, call->body_cap);
            if (!call->body)
                abort();
        }
        memcpy(call->body + call->body_len, upload, n);
        call->body_len += n;
        call->body[call->body_len] = '\0';
        return MHD_YES;
    }
    if (!call->body) {
        call->body = calloc(1, 1);
        if (!call->body)
            abort();
    }
    return finish(call);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct dbl_call *call = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (!call)
        return;
    uncount(call);
    call_free(call);
    *con_cls = NULL;
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor-double stripe|millionverifier|storage "
            "[options]\n"
            "  --listen ADDR:PORT  loopback address (127.0.0.1:0)\n"
            "  --port-file PATH    write ADDR:PORT there once listening\n"
            "  --ledger PATH       append one JSON line per API call\n"
            "  --key KEY           expected API key (else from the "
            "environment)\n"
            "  --seed N            seed of ids and probabilistic faults\n"
            "  --fault JSON        a fault rule (repeatable; see README)\n");
    for (int i = 0; personalities[i]; i++)
        fprintf(out, "%s:\n%s", personalities[i]->name,
                personalities[i]->usage);
}

static int listen_on(const char *spec, char *bound, size_t bound_size)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t salen = sizeof(sa);
    int fd, one = 1;

    if (!colon || (size_t)(colon - spec) >= sizeof(host))
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr,
                "conveyor-double: --listen %s: a loopback IPv4 "
                "address is required\n",
                spec);
        return -1;
    }
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
        fprintf(stderr, "conveyor-double: --listen %s: %s\n", spec,
                strerror(errno));
        close(fd);
        return -1;
    }
    snprintf(bound, bound_size, "%s:%u", host, ntohs(sa.sin_port));
    return fd;
}

/* Written under a temporary name and renamed, so that a test waiting for
 * the file never reads half of it. */
static int write_port_file(const char *path, const char *bound)
{
    char tmp[4096];
    FILE *fp;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fp = fopen(tmp, "w");
    if (!fp)
        return DBL_ERR;
    fprintf(fp, "%s\n", bound);
    if (fclose(fp) != 0 || rename(tmp, path) != 0)
        return DBL_ERR;
    return DBL_OK;
}

int main(int argc, char **argv)
{
    const char *listen_spec = "127.0.0.1:0", *port_file = NULL;
    const char *ledger_path = NULL, *key = NULL;
    char errstr[512], bound[96];
    struct MHD_Daemon *daemon = NULL;
    pthread_condattr_t cattr;
    sigset_t sigs;
    int fd, sig, rc = 2;

    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; personalities[i]; i++)
        if (strcmp(argv[1], personalities[i]->name) == 0)
            dbl_pers = personalities[i];
    if (!dbl_pers) {
        fprintf(stderr, "conveyor-double: unknown personality '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&S.sleep_cond, &cattr);
    pthread_condattr_destroy(&cattr);
    dbl_fault_init();

    for (int i = 2; i < argc; i++) {
        char name[64];
        const char *arg = argv[i], *value, *eq;
        if (strncmp(arg, "--", 2) != 0)
            goto bad_arg;
        if (strcmp(arg, "--help") == 0) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        eq = strchr(arg, '=');
        if (eq) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - arg - 2), arg + 2);
            value = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", arg + 2);
            value = i + 1 < argc ? argv[++i] : NULL;
        }
        if (!value) {
            fprintf(stderr, "conveyor-double: --%s needs a value\n", name);
            goto out;
        }
        if (strcmp(name, "listen") == 0)
            listen_spec = value;
        else if (strcmp(name, "port-file") == 0)
            port_file = value;
        else if (strcmp(name, "ledger") == 0)
            ledger_path = value;
        else if (strcmp(name, "key") == 0)
            key = value;
        else if (strcmp(name, "seed") == 0)
            S.seed = strtoull(value, NULL, 10);
        else if (strcmp(name, "fault") == 0) {
            json_error_t jerr;
            json_t *spec = json_loads(value, 0, &jerr);
            int ok =
                spec && dbl_fault_add(spec, errstr, sizeof(errstr)) == DBL_OK;
            if (!spec)
                snprintf(errstr, sizeof(errstr), "not JSON: %s", jerr.text);
            json_decref(spec);
            if (!ok) {
                fprintf(stderr, "conveyor-double: --fault: %s\n", errstr);
                goto out;
            }
        } else {
            int r = dbl_pers->option(name, value, errstr, sizeof(errstr));
            if (r == DBL_ERR) {
                fprintf(stderr, "conveyor-double: --%s: %s\n", name, errstr);
                goto out;
            }
            if (r == 0) {
                fprintf(stderr, "conveyor-double %s: unknown option --%s\n",
                        dbl_pers->name, name);
                goto out;
            }
        }
        continue;
    bad_arg:
        fprintf(stderr, "conveyor-double: unexpected argument '%s'\n", arg);
        goto out;
    }
    dbl_fault_seed(S.seed);
    dbl_set_seed(S.seed);
    if (!key && dbl_pers->key_env)
        key = getenv(dbl_pers->key_env);
    if (key && *key)
        S.key = strdup(key);
    if (dbl_pers->start(errstr, sizeof(errstr)) != DBL_OK) {
        fprintf(stderr, "conveyor-double %s: %s\n", dbl_pers->name, errstr);
        goto out;
    }
    if (ledger_path) {
        if (dbl_ledger_open(ledger_path) != DBL_OK) {
            fprintf(stderr, "conveyor-double: --ledger %s: %s\n", ledger_path,
                    strerror(errno));
            goto out;
        }
    }

    /* Every thread libmicrohttpd starts inherits this mask: the signals
     * reach only sigwait() below. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = 1;
    fd = listen_on(listen_spec, bound, sizeof(bound));
    if (fd < 0)
        goto out;
    daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
            MHD_USE_POLL | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0, MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "conveyor-double: cannot start the HTTP server\n");
        close(fd);
        goto out;
    }
    if (port_file && write_port_file(port_file, bound) != DBL_OK) {
        fprintf(stderr, "conveyor-double: --port-file %s: %s\n", port_file,
                strerror(errno));
        goto out;
    }
    dbl_log("info", "listening on %s (key %s)", bound,
            S.key ? "required" : "not required");

    while (sigwait(&sigs, &sig) == 0 && sig != SIGTERM && sig != SIGINT)
        ;
    dbl_log("info", "stopping on signal %d", sig);
    rc = 0;

out:
    atomic_store(&S.stopping, 1);
    pthread_mutex_lock(&S.sleep_lock);
    pthread_cond_broadcast(&S.sleep_cond);
    pthread_mutex_unlock(&S.sleep_lock);
    if (daemon)
        MHD_stop_daemon(daemon);
    dbl_ledger_close();
    if (dbl_pers && dbl_pers->destroy)
        dbl_pers->destroy();
    dbl_fault_destroy();
    free(S.key);
    return rc;
}
