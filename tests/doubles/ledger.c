/* The record of what happened on the double's side and the control API:
 * the in-flight count, the ledger (one JSON line per API call, to the
 * --ledger file or else kept in memory, served by GET /_double/ledger),
 * the counters of /_double/stats, the double's clock and the /_double/
 * endpoints common to every personality (the personality's own ones are
 * its business).
 * Everything here is shared between connection threads under L.lock. */
#include "double.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    pthread_mutex_t lock;
    FILE *file;
    /* Lines are served back by GET /_double/ledger from the file, or
     * without one from memory: a benchmark's ledger stays on disk. */
    long base; /* the file's size before our first line */
    char *mem;
    size_t mem_len, mem_cap;
    size_t len;       /* bytes of our lines, in the file or in memory */
    size_t *line_end; /* line_end[i]: len after the line of seq i+1 */
    size_t nlines, lines_cap;
    int64_t requests, faulted, replays, closed;
    int64_t by_status[600];
    int in_flight, max_in_flight;
    int64_t clock_offset_ms;
} L = {.lock = PTHREAD_MUTEX_INITIALIZER};

int dbl_ledger_open(const char *path)
{
    L.file = fopen(path, "a+");
    if (!L.file || fseek(L.file, 0, SEEK_END) != 0)
        return DBL_ERR;
    L.base = ftell(L.file);
    return DBL_OK;
}

void dbl_ledger_close(void)
{
    if (L.file)
        fclose(L.file);
    L.file = NULL;
    free(L.mem);
    free(L.line_end);
}

int dbl_in_flight_enter(void)
{
    int n;
    pthread_mutex_lock(&L.lock);
    n = ++L.in_flight;
    if (n > L.max_in_flight)
        L.max_in_flight = n;
    pthread_mutex_unlock(&L.lock);
    return n;
}

void dbl_in_flight_leave(void)
{
    pthread_mutex_lock(&L.lock);
    L.in_flight--;
    pthread_mutex_unlock(&L.lock);
}

int64_t dbl_clock_ms(void)
{
    int64_t off;
    pthread_mutex_lock(&L.lock);
    off = L.clock_offset_ms;
    pthread_mutex_unlock(&L.lock);
    return dbl_now_ms() + off;
}

static void mem_append(const char *s, size_t len)
{
    if (L.mem_len + len > L.mem_cap) {
        L.mem_cap = (L.mem_len + len) * 2;
        L.mem = realloc(L.mem, L.mem_cap);
        if (!L.mem)
            abort();
    }
    memcpy(L.mem + L.mem_len, s, len);
    L.mem_len += len;
}

/* Writes the call's ledger line: the answer is decided and nothing of it
 * has been sent yet, so a client that has its answer finds its line. */
void dbl_ledger_write(struct dbl_call *call)
{
    json_t *e = call->entry;
    char *line;
    int st = call->status;

    pthread_mutex_lock(&L.lock);
    json_object_set_new(e, "seq", json_integer((json_int_t)L.nlines + 1));
    json_object_set_new(e, "end_ms", json_integer(dbl_now_ms()));
    json_object_set_new(e, "status",
                        st == DBL_CLOSE ? json_string("closed")
                                        : json_integer(st));
    json_object_set(e, "faults", call->faults.applied);
    line = json_dumps(e, JSON_COMPACT);
    if (!line)
        abort();
    if (L.nlines == L.lines_cap) {
        L.lines_cap = L.lines_cap ? L.lines_cap * 2 : 1024;
        L.line_end = realloc(L.line_end, L.lines_cap * sizeof(size_t));
        if (!L.line_end)
            abort();
    }
    if (L.file) {
        fputs(line, L.file);
        fputc('\n', L.file);
        fflush(L.file);
    } else {
        mem_append(line, strlen(line));
        mem_append("\n", 1);
    }
    L.len += strlen(line) + 1;
    L.line_end[L.nlines++] = L.len;
    L.requests++;
    if (st == DBL_CLOSE)
        L.closed++;
    else if (st >= 0 && st < 600)
        L.by_status[st]++;
    if (json_array_size(call->faults.applied))
        L.faulted++;
    if (json_is_true(json_object_get(e, "replayed")))
        L.replays++;
    pthread_mutex_unlock(&L.lock);
    free(line);
}

static json_t *stats_json(void)
{
    json_t *by = json_object(), *st;
    char name[8];
    pthread_mutex_lock(&L.lock);
    for (int i = 0; i < 600; i++) {
        if (L.by_status[i]) {
            snprintf(name, sizeof(name), "%d", i);
            json_object_set_new(by, name, json_integer(L.by_status[i]));
        }
    }
    if (L.closed)
        json_object_set_new(by, "closed", json_integer(L.closed));
    st = json_pack("{s:s, s:I, s:o, s:I, s:I, s:i, s:i, s:I}", "personality",
                   dbl_pers->name, "requests", (json_int_t)L.requests,
                   "by_status", by, "faulted", (json_int_t)L.faulted, "replays",
                   (json_int_t)L.replays, "in_flight", L.in_flight,
                   "max_in_flight", L.max_in_flight, "ledger_lines",
                   (json_int_t)L.nlines);
    pthread_mutex_unlock(&L.lock);
    if (dbl_pers->stats)
        json_object_update_new(st, dbl_pers->stats());
    return st;
}

static void stats_reset(void)
{
    pthread_mutex_lock(&L.lock);
    L.requests = L.faulted = L.replays = L.closed = 0;
    memset(L.by_status, 0, sizeof(L.by_status));
    L.max_in_flight = L.in_flight;
    pthread_mutex_unlock(&L.lock);
}

/* ---- control endpoints ---- */

static void control_error(struct dbl_call *call, int status, const char *msg)
{
    dbl_reply_json(call, status, json_pack("{s:s}", "error", msg));
}

static void control_ledger(struct dbl_call *call)
{
    const char *since_s = dbl_query(call, "since");
    long long since = since_s ? atoll(since_s) : 0;
    size_t from;
    pthread_mutex_lock(&L.lock);
    if (since < 0)
        since = 0;
    if ((size_t)since > L.nlines)
        since = (long long)L.nlines;
    from = since ? L.line_end[since - 1] : 0;
    if (L.file) {
        size_t n = L.len - from, got = 0;
        char *buf = malloc(n ? n : 1);
        ssize_t r = 1;
        if (!buf)
            abort();
        while (got < n && r > 0) {
            r = pread(fileno(L.file), buf + got, n - got,
                      (off_t)(L.base + (long)(from + got)));
            got += r > 0 ? (size_t)r : 0;
        }
        dbl_reply_text(call, 200, "application/x-ndjson", buf, got);
        free(buf);
    } else {
        dbl_reply_text(call, 200, "application/x-ndjson", L.mem + from,
                       L.mem_len - from);
    }
    pthread_mutex_unlock(&L.lock);
}

static void control_clock(struct dbl_call *call, json_t *body)
{
    if (strcmp(call->method, "POST") == 0) {
        int64_t adv = 0;
        if (json_is_integer(json_object_get(body, "advance_s")))
            adv = json_integer_value(json_object_get(body, "advance_s")) * 1000;
        else if (json_is_integer(json_object_get(body, "advance_ms")))
            adv = json_integer_value(json_object_get(body, "advance_ms"));
        else {
            control_error(call, 400,
                          "expected {\"advance_s\": N} or "
                          "{\"advance_ms\": N}");
            return;
        }
        if (adv < 0) {
            control_error(call, 400, "the clock only moves forward");
            return;
        }
        pthread_mutex_lock(&L.lock);
        L.clock_offset_ms += adv;
        pthread_mutex_unlock(&L.lock);
        dbl_log("info", "clock advanced by %lld ms", (long long)adv);
    }
    pthread_mutex_lock(&L.lock);
    int64_t off = L.clock_offset_ms;
    pthread_mutex_unlock(&L.lock);
    dbl_reply_json(call, 200,
                   json_pack("{s:I, s:I}", "now_ms",
                             (json_int_t)(dbl_now_ms() + off), "offset_ms",
                             (json_int_t)off));
}

static void control_faults(struct dbl_call *call, json_t *body)
{
    char errstr[256];
    if (strcmp(call->method, "DELETE") == 0) {
        dbl_fault_reset();
        dbl_log("info", "faults reset");
    } else if (strcmp(call->method, "POST") == 0) {
        if (dbl_fault_add(body, errstr, sizeof(errstr)) != DBL_OK) {
            control_error(call, 400, errstr);
            return;
        }
        dbl_log("info", "fault rule added");
    }
    dbl_reply_json(call, 200, json_pack("{s:o}", "rules", dbl_fault_list()));
}

void dbl_control(struct dbl_call *call)
{
    const char *what = call->path + strlen("/_double/");
    const char *m = call->method;
    int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    json_t *body = NULL;
    json_error_t jerr;
    size_t plen = strlen(dbl_pers->name);

    if (call->body_len) {
        body = json_loadb(call->body, call->body_len, 0, &jerr);
        if (!body) {
            control_error(call, 400, "the body is not JSON");
            return;
        }
    }
    if (get && strcmp(what, "health") == 0)
        dbl_reply_json(
            call, 200,
            json_pack("{s:b, s:s}", "ok", 1, "personality", dbl_pers->name));
    else if (get && strcmp(what, "ledger") == 0)
        control_ledger(call);
    else if (get && strcmp(what, "stats") == 0)
        dbl_reply_json(call, 200, stats_json());
    else if (post && strcmp(what, "stats/reset") == 0) {
        stats_reset();
        dbl_reply_json(call, 200, stats_json());
    } else if (strcmp(what, "faults") == 0 &&
               (get || post || strcmp(m, "DELETE") == 0))
        control_faults(call, body);
    else if (post && strcmp(what, "faults/reset") == 0) {
        dbl_fault_reset();
        dbl_log("info", "faults reset");
        dbl_reply_json(call, 200,
                       json_pack("{s:o}", "rules", dbl_fault_list()));
    } else if (post && strcmp(what, "release") == 0) {
        dbl_release();
        dbl_log("info", "waits released");
        dbl_reply_json(call, 200, json_pack("{s:b}", "released", 1));
    } else if ((get || post) && strcmp(what, "clock") == 0)
        control_clock(call, body);
    else if (!(strncmp(what, dbl_pers->name, plen) == 0 && what[plen] == '/' &&
               dbl_pers->control &&
               dbl_pers->control(call, what + plen + 1, body)))
        control_error(call, 404, "no such control endpoint");
    json_decref(body);
}
