/*
 * cmd_dev_broker.c - `conveyor dev-broker`: the dev broker in a process of
 * its own, for integration tests and for running consumers against it.
 *
 * It creates the topology's topics, prints "bootstrap=ADDR" as the only line
 * on stdout (and writes ADDR to --bootstrap-file, atomically, removing the
 * file again on exit), then waits for signals. Signal handlers only set
 * flags; the loop waits in sigsuspend() with the signals blocked everywhere
 * else, so none is lost between the check and the wait. SIGTERM or SIGINT
 * stop the broker (every message is lost: it lives in memory). SIGUSR1
 * takes broker 1 down (connections dropped, new ones refused), SIGUSR2
 * brings it back, for outage tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dev.h"
#include "log.h"

static volatile sig_atomic_t got_stop, got_down, got_up;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        got_down = 1;
    else if (sig == SIGUSR2)
        got_up = 1;
    else
        got_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor dev-broker [--brokers N] [--bootstrap-file "
            "PATH]\n\n"
            "Runs the dev broker (librdkafka's mock cluster: the Kafka "
            "protocol on\n127.0.0.1, in memory) with every topic of the "
            "topology and each domain's\nDLQ topic created, until SIGTERM "
            "or SIGINT. Prints one line on stdout,\n"
            "\"bootstrap=127.0.0.1:PORT\"; the port is new on every start.\n"
            "SIGUSR1 takes broker 1 down, SIGUSR2 brings it back up.\n\n"
            "  --brokers N            number of brokers (default 1)\n"
            "  --bootstrap-file PATH  also write the address to PATH "
            "(atomically;\n"
            "                         removed on exit)\n");
}

/* Writes s and a newline to path through a temporary file and rename(). */
static int write_atomic(const char *path, const char *s, char *errstr,
                        size_t errstr_size)
{
    char *tmp = cv_asprintf("%s.tmp.%ld", path, (long)getpid());
    char *line = cv_asprintf("%s\n", s);
    size_t len = strlen(line), off = 0;
    int fd = -1, rc = CV_ERR;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cv_err(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    while (off < len) {
        ssize_t n = write(fd, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cv_err(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)n;
    }
    if (close(fd) != 0) {
        fd = -1;
        cv_err(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        cv_err(errstr, errstr_size, "%s: %s", path, strerror(errno));
        goto out;
    }
    rc = CV_OK;
out:
    if (fd >= 0)
        close(fd);
    if (rc != CV_OK)
        unlink(tmp);
    free(tmp);
    free(line);
    return rc;
}

int cv_cmd_dev_broker(struct cv_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct cv_dev_broker *db = NULL;
    const char *bootstrap_file = NULL;
    int nbrokers = 1, ch, rc = CV_EXIT_RUNTIME, file_written = 0;
    char errstr[1024], kv[512];
    struct sigaction sa;
    sigset_t block, orig;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            if (cv_cli_parse_int(optarg, 1, 16, &nbrokers) != CV_OK) {
                fprintf(stderr,
                        "conveyor dev-broker: --brokers: expected a number "
                        "from 1 to 16, got '%s'\n",
                        optarg);
                return CV_EXIT_USAGE;
            }
            break;
        case 'f':
            bootstrap_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return CV_EXIT_OK;
        default:
            usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "conveyor dev-broker: unexpected argument '%s'\n",
                argv[optind]);
        usage(stderr);
        return CV_EXIT_USAGE;
    }
    if (cv_app_load_topology(app) != CV_OK)
        return CV_EXIT_USAGE;

    /* Block the signals before anything can deliver them; they are taken
     * only inside sigsuspend() below. Threads started from here on
     * (librdkafka's) inherit the mask, so the main thread gets them all. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &orig);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);

    db = cv_dev_broker_start(&app->topo, nbrokers, errstr, sizeof(errstr));
    if (!db) {
        cv_error("%s", errstr);
        goto out;
    }
    if (bootstrap_file) {
        if (write_atomic(bootstrap_file, cv_dev_broker_bootstraps(db), errstr,
                         sizeof(errstr)) != CV_OK) {
            cv_error("--bootstrap-file: %s", errstr);
            goto out;
        }
        file_written = 1;
    }
    printf("bootstrap=%s\n", cv_dev_broker_bootstraps(db));
    fflush(stdout);
    /* it creates every topology topic and one dead-letter topic per
     * domain (dev.c): say both, so the count matches what exists */
    snprintf(kv, sizeof(kv),
             "bootstrap=%s brokers=%d topics=%zu topology_topics=%zu "
             "dlq_topics=%zu pid=%ld",
             cv_dev_broker_bootstraps(db), nbrokers,
             app->topo.ntopics + app->topo.ndomains, app->topo.ntopics,
             app->topo.ndomains, (long)getpid());
    CV_LOG(CV_LOG_INFO, kv, "dev broker up");

    for (;;) {
        if (got_stop)
            break;
        if (got_down) {
            got_down = 0;
            if (cv_dev_broker_set_down(db, 1, 1) == CV_OK)
                CV_LOG(CV_LOG_WARN, "broker=1", "dev broker: broker down");
            else
                cv_error("dev broker: could not take broker 1 down");
        }
        if (got_up) {
            got_up = 0;
            if (cv_dev_broker_set_down(db, 1, 0) == CV_OK)
                CV_LOG(CV_LOG_INFO, "broker=1", "dev broker: broker up");
            else
                cv_error("dev broker: could not bring broker 1 up");
        }
        if (got_stop || got_down || got_up)
            continue;
        sigsuspend(&orig);
    }
    cv_info("dev broker stopping");
    rc = CV_EXIT_OK;
out:
    if (file_written)
        unlink(bootstrap_file);
    cv_dev_broker_stop(db);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return rc;
}
