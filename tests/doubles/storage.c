/* The object-storage personality: files under --root served by
 * GET/HEAD /<bucket>/<path> and by Supabase Storage's
 * /storage/v1/object[/authenticated]/<bucket>/<path>, with Content-Length,
 * ETag, Last-Modified and single byte ranges (206, 416), so that a reader
 * of chunked CSV uploads can resume where it stopped. A bearer key (or
 * Supabase's apikey header) is required when one is configured.
 *
 * Bodies are streamed from the file by libmicrohttpd's content reader in
 * the connection's own thread, which is where the storage faults act: a
 * throttle paces the bytes, a stall stops after N of them and holds the
 * connection open until the client gives up, a test releases it (the
 * response then ends short) or the double stops. Uploads,
 * listings, signed URLs and multi-range requests are left out. */
#include "double.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct {
    const char *root;
} SG;

struct body {
    int fd;
    uint64_t offset, len;
    int64_t stall_after, bytes_per_s;
    int64_t t0;
    int conn_fd;
    uint64_t gen; /* releases after the request count, not only later ones */
};

static void storage_error(struct dbl_call *call, int status, const char *error,
                          const char *message)
{
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    json_object_set_new(call->entry, "error", json_string(error));
    dbl_reply_json(call, status,
                   json_pack("{s:s, s:s, s:s}", "statusCode", code, "error",
                             error, "message", message));
}

/* Holds a stalled download: waits until the client hangs up or the
 * double stops, then ends the response with an error. */
static ssize_t hold(const struct body *b)
{
    while (!dbl_stopping() && dbl_release_gen() == b->gen) {
        struct pollfd p = {.fd = b->conn_fd, .events = POLLRDHUP};
        if (b->conn_fd < 0) {
            dbl_sleep_ms(100);
            continue;
        }
        if (poll(&p, 1, 100) > 0 &&
            (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
            break;
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct body *b = cls;
    uint64_t n = b->len - pos;
    ssize_t got;

    if (b->stall_after >= 0 && pos >= (uint64_t)b->stall_after)
        return hold(b);
    if (n > max)
        n = max;
    if (b->stall_after >= 0 && pos + n > (uint64_t)b->stall_after)
        n = (uint64_t)b->stall_after - pos;
    if (b->bytes_per_s > 0) {
        /* Pace in slices of a twentieth of a second's worth. */
        uint64_t slice =
            (uint64_t)(b->bytes_per_s / 20 ? b->bytes_per_s / 20 : 1);
        int64_t due;
        if (n > slice)
            n = slice;
        if (!b->t0)
            b->t0 = dbl_now_ms();
        due = b->t0 + (int64_t)((pos + n) * 1000 / (uint64_t)b->bytes_per_s);
        if (due > dbl_now_ms() && dbl_sleep_ms(due - dbl_now_ms()) != DBL_OK &&
            dbl_stopping())
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    got = pread(b->fd, buf, (size_t)n, (off_t)(b->offset + pos));
    return got > 0 ? got : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_body(void *cls)
{
    struct body *b = cls;
    close(b->fd);
    free(b);
}

static int authorized(struct dbl_call *call)
{
    const char *key = dbl_key(), *h = dbl_header(call, "Authorization");
    const char *apikey = dbl_header(call, "apikey");
    int ok =
        !key ||
        (h && strncasecmp(h, "Bearer ", 7) == 0 && strcmp(h + 7, key) == 0) ||
        (apikey && strcmp(apikey, key) == 0);
    json_object_set_new(call->entry, "key_ok", json_boolean(ok));
    return ok;
}

/* The object's path below the root, or NULL if the URL names none or
 * tries to leave the root. */
static const char *object_path(const char *url)
{
    static const char *const prefixes[] = {"/storage/v1/object/authenticated/",
                                           "/storage/v1/object/", "/", NULL};
    const char *rel = NULL, *slash;
    for (int i = 0; prefixes[i] && !rel; i++)
        if (strncmp(url, prefixes[i], strlen(prefixes[i])) == 0)
            rel = url + strlen(prefixes[i]);
    if (!rel || !*rel || *rel == '/' || strstr(rel, "//"))
        return NULL;
    slash = strchr(rel, '/');
    if (!slash || !slash[1])
        return NULL; /* a bucket without an object */
    for (const char *p = rel; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || !p[2]))
            return NULL;
        if (strncmp(p, ".", 1) == 0 && (p[1] == '/' || !p[1]))
            return NULL;
    }
    return rel;
}

/* bytes=N-, bytes=N-M, bytes=-K. Returns 1 with [*from, *to] for one
 * satisfiable range, 0 to serve the whole object (no range, or one this
 * double does not interpret), -1 when unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *from,
                       uint64_t *to)
{
    char *end;
    unsigned long long a, b;
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    h += 6;
    if (*h == '-') {
        b = strtoull(h + 1, &end, 10);
        if (end == h + 1 || *end)
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
        return 1;
    }
    a = strtoull(h, &end, 10);
    if (end == h || *end != '-')
        return 0;
    h = end + 1;
    b = *h ? strtoull(h, &end, 10) : size - 1;
    if (*h && (*end || b < a))
        return 0;
    if (a >= size)
        return -1;
    *from = a;
    *to = b >= size ? size - 1 : b;
    return 1;
}

static void handle(struct dbl_call *call)
{
    const char *rel = object_path(call->path);
    const char *range_h = dbl_header(call, "Range");
    const char *if_range = dbl_header(call, "If-Range");
    char full[4096], etag[64], lastmod[64];
    struct stat st;
    struct body *b;
    uint64_t from = 0, to = 0;
    int fd, ranged;
    struct tm tm;

    json_object_set_new(
        call->entry, "params",
        json_pack("{s:s?, s:s?}", "object", rel, "range", range_h));
    if (!authorized(call)) {
        storage_error(call, 401, "Unauthorized",
                      "a valid bearer token is required");
        return;
    }
    if (strcmp(call->method, "GET") != 0 && strcmp(call->method, "HEAD") != 0) {
        storage_error(call, 405, "method_not_allowed",
                      "only GET and HEAD are served");
        return;
    }
    if (!rel) {
        storage_error(call, 400, "invalid_path",
                      "expected /<bucket>/<object path>");
        return;
    }
    snprintf(full, sizeof(full), "%s/%s", SG.root, rel);
    dbl_call_delay(call);
    fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        {
            storage_error(call, 404, "not_found", "Object not found");
            return;
        }
    }
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"",
             (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                 (unsigned long long)st.st_mtim.tv_nsec);
    gmtime_r(&st.st_mtim.tv_sec, &tm);
    strftime(lastmod, sizeof(lastmod), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ranged = if_range && strcmp(if_range, etag) != 0
                 ? 0
                 : parse_range(range_h, (uint64_t)st.st_size, &from, &to);
    dbl_reply_header(call, "Accept-Ranges", "bytes");
    dbl_reply_header(call, "ETag", "%s", etag);
    dbl_reply_header(call, "Last-Modified", "%s", lastmod);
    if (ranged < 0) {
        close(fd);
        dbl_reply_header(call, "Content-Range", "bytes */%llu",
                         (unsigned long long)st.st_size);
        {
            storage_error(call, 416, "invalid_range", "Range Not Satisfiable");
            return;
        }
    }
    if (!ranged) {
        from = 0;
        to = st.st_size ? (uint64_t)st.st_size - 1 : 0;
    }
    b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    b->fd = fd;
    b->offset = from;
    b->len = st.st_size ? to - from + 1 : 0;
    b->stall_after = call->faults.stall_after;
    b->gen = dbl_release_gen();
    b->bytes_per_s = call->faults.bytes_per_s;
    b->conn_fd =
        MHD_get_connection_info(call->conn, MHD_CONNECTION_INFO_CONNECTION_FD)
            ->connect_fd;
    call->stream = MHD_create_response_from_callback(b->len, 64 * 1024,
                                                     read_body, b, free_body);
    if (!call->stream)
        abort();
    call->status = ranged ? 206 : 200;
    call->content_type =
        strlen(rel) > 4 && strcasecmp(rel + strlen(rel) - 4, ".csv") == 0
            ? "text/csv"
            : "application/octet-stream";
    if (ranged)
        dbl_reply_header(call, "Content-Range", "bytes %llu-%llu/%llu",
                         (unsigned long long)from, (unsigned long long)to,
                         (unsigned long long)st.st_size);
    json_object_set_new(call->entry, "object",
                        json_pack("{s:s, s:I, s:I, s:I, s:s}", "path", rel,
                                  "size", (json_int_t)st.st_size, "from",
                                  (json_int_t)from, "bytes", (json_int_t)b->len,
                                  "etag", etag));
}

static void fault_reply(struct dbl_call *call, int status, int retry_after)
{
    storage_error(call, status,
                  status == 429 ? "too_many_requests" : "internal",
                  status == 429 ? "Too many requests" : "injected failure");
    if (retry_after > 0)
        dbl_reply_header(call, "Retry-After", "%d", retry_after);
}

static int option(const char *name, const char *value, char *errstr,
                  size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    if (strcmp(name, "root") == 0) {
        SG.root = value;
        return 1;
    }
    return 0;
}

static int start(char *errstr, size_t errstr_size)
{
    struct stat st;
    if (!SG.root) {
        snprintf(errstr, errstr_size, "--root DIR is required");
        return DBL_ERR;
    }
    if (stat(SG.root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errstr, errstr_size, "--root %s: not a directory (%s)",
                 SG.root, strerror(errno));
        return DBL_ERR;
    }
    return DBL_OK;
}

const struct dbl_personality dbl_storage = {
    .name = "storage",
    .key_env = "STORAGE_SERVICE_KEY",
    .usage = "  --root DIR          serve DIR/<bucket>/<path> (required)\n",
    .option = option,
    .start = start,
    .handle = handle,
    .fault_reply = fault_reply,
};
