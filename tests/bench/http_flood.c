/*
 * http_flood.c - keeps CONCURRENCY connections to a loopback HTTP server
 * busy for SECONDS: each asks for PATH and reads the whole answer, then
 * reconnects; every MALFORMED_EVERY-th connection sends garbage instead
 * (a broken request line, a bad Content-Length, binary bytes, a request
 * cut off half way). For tests/bench/bench_http.sh. Loopback only: it
 * refuses any other address. Bounded in time; stops early when the file
 * STOPFILE exists.
 *
 *   http_flood 127.0.0.1 PORT PATH CONCURRENCY SECONDS MALFORMED_EVERY
 *              [STOPFILE]
 *
 * Prints "requests=N ok=N malformed=N refused=N errors=N".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    const char *req;
    size_t req_len, sent;
    int malformed;
    char head[16]; /* the status line's start */
    size_t head_len;
};

static const char *const garbage[] = {
    "GARBAGE / HTTP/9\r\n\r\n",
    "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "\x00\xff\xfe\xfd\r\n\r\n",
    "POST /api/v1/pause HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{",
    "GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
    "chunked\r\n\r\nzz\r\n",
    "GET /",
};

static long requests, ok, malformed, refused, errors;
static struct sockaddr_in addr;
static char request[512];
static int epfd, every;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void start(struct conn *c)
{
    struct epoll_event ev = {EPOLLOUT | EPOLLIN, {.ptr = c}};

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    c->sent = 0;
    c->head_len = 0;
    c->malformed = every > 0 && requests % every == every - 1;
    if (c->malformed) {
        size_t k =
            (size_t)(requests / every) % (sizeof(garbage) / sizeof(garbage[0]));
        c->req = garbage[k];
        /* the binary one holds a NUL: its length is fixed */
        c->req_len = k == 2 ? 8 : strlen(garbage[k]);
    } else {
        c->req = request;
        c->req_len = strlen(request);
    }
    requests++;
    if (c->fd < 0 ||
        (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
         errno != EINPROGRESS)) {
        refused++;
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        return;
    }
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void finish(struct conn *c, int failed)
{
    if (failed)
        errors++;
    else if (c->malformed)
        malformed++;
    else if (c->head_len >= 12 && memcmp(c->head + 9, "200", 3) == 0)
        ok++;
    else
        errors++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

int main(int argc, char **argv)
{
    struct epoll_event evs[256];
    struct conn *conns;
    double until;
    int n;

    if (argc < 7) {
        fprintf(stderr, "usage: http_flood 127.0.0.1 PORT PATH CONCURRENCY "
                        "SECONDS MALFORMED_EVERY [STOPFILE]\n");
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
        (ntohl(addr.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "http_flood: loopback addresses only\n");
        return 2;
    }
    snprintf(request, sizeof(request),
             "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
             argv[3]);
    n = atoi(argv[4]);
    until = now_s() + atof(argv[5]);
    every = atoi(argv[6]);
    epfd = epoll_create1(0);
    conns = calloc((size_t)n, sizeof(*conns));
    for (int i = 0; i < n; i++)
        start(&conns[i]);
    while (now_s() < until && !(argc > 7 && access(argv[7], F_OK) == 0)) {
        int k = epoll_wait(epfd, evs, 256, 100);
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            char buf[65536];
            ssize_t r;

            if (c->fd < 0)
                continue;
            if (c->sent < c->req_len) {
                r = send(c->fd, c->req + c->sent, c->req_len - c->sent,
                         MSG_NOSIGNAL);
                if (r < 0 && errno != EAGAIN) {
                    finish(c, !c->malformed);
                    start(c);
                    continue;
                }
                if (r > 0)
                    c->sent += (size_t)r;
                if (c->sent == c->req_len && c->malformed &&
                    c->req == garbage[5])
                    shutdown(c->fd, SHUT_WR); /* cut off half way */
                continue;
            }
            r = recv(c->fd, buf, sizeof(buf), 0);
            if (r > 0) {
                size_t take = sizeof(c->head) - c->head_len;
                if (take > (size_t)r)
                    take = (size_t)r;
                memcpy(c->head + c->head_len, buf, take);
                c->head_len += take;
                continue;
            }
            if (r < 0 && errno == EAGAIN)
                continue;
            finish(c, r < 0 && !c->malformed);
            start(c);
        }
        for (int i = 0; i < n; i++)
            if (conns[i].fd < 0)
                start(&conns[i]);
    }
    for (int i = 0; i < n; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    printf("requests=%ld ok=%ld malformed=%ld refused=%ld errors=%ld\n",
           requests, ok, malformed, refused, errors);
    free(conns);
    return 0;
}
