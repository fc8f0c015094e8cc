/*
 * cmd_produce.c - `conveyor produce`: events from JSON onto their topics.
 *
 * One event from --data, or one per line of NDJSON on stdin. A line is
 * either the event's data (for --type) or, with --envelope, an object that
 * also carries the event's type, id, key, source, time and tenant. The
 * event type must be declared in the topology: it names the Avro schema the
 * data is encoded with (Confluent framing) and the topic. Headers are the
 * CloudEvents binary-mode ce_* set (event.h).
 *
 * A bad line is reported as "stdin:LINE: reason" on stderr and counted as a
 * failure; production goes on with the next line unless --stop-on-error.
 * Delivery reports are counted as they arrive and all are awaited before
 * the summary. The producer is idempotent and batches hard (the dev broker
 * keeps at most 100,000 message sets and 5 MiB per partition, so fewer,
 * larger, compressed batches keep more events); kafka.properties may change
 * any of these defaults except idempotence.
 *
 * Exit: 0 every event delivered, 1 some line or delivery failed, 2 usage or
 * configuration error (unknown --type, bad option, bad Kafka property).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codec.h"
#include "event.h"
#include "kafka.h"
#include "log.h"

#define DEFAULT_SOURCE "conveyor-cli"
/* How long to wait for outstanding delivery reports at the end; messages
 * time out on their own after message.timeout.ms (default below). */
#define FLUSH_TIMEOUT_MS 120000
/* A producer queues events for message.timeout.ms while no broker
 * answers; before the first one, ask for metadata this long instead, so
 * an unreachable broker is an error in seconds, not a minute. */
#define BROKER_CHECK_MS 5000

struct opts {
    const char *type, *key, *id, *source, *tenant, *time, *topic, *data;
    int envelope, stop_on_error;
};

/* The pieces of one event taken from the options and the input. */
struct input {
    const char *type, *id, *key, *source, *time, *tenant, *traceparent;
    const char *data; /* JSON text of the data object */
    size_t data_len;
    json_t *data_obj; /* parsed data, when the key must be read from it */
};

struct producer {
    struct cv_app *app;
    const struct opts *o;
    rd_kafka_t *rk;
    int64_t time_ms; /* --time, or -1 */
    /* the last event type resolved, to skip lookups on a stream of one */
    const struct cv_topo_event *ev;
    const struct cv_schema *schema;
    long queued, delivered, failed;
    int broker_checked, broker_down;
    char **topics; /* distinct topics produced to */
    size_t ntopics;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor produce --type TYPE [options] [--data JSON]\n"
            "       conveyor produce --envelope [--type TYPE] [options] < "
            "events.ndjson\n\n"
            "Encodes events with their Avro schema and produces them to "
            "their topic,\nwith CloudEvents headers. One event from --data, "
            "else one per line of\nNDJSON on stdin (empty lines skipped).\n\n"
            "  --type TYPE      event type declared in the topology\n"
            "  --data JSON      the event's data object (else read stdin)\n"
            "  --envelope       input objects are envelopes: {\"type\", "
            "\"id\", \"key\",\n"
            "                   \"source\", \"time\", \"tenant\", "
            "\"traceparent\", \"data\"};\n"
            "                   all but \"data\" optional, falling back to "
            "the options\n"
            "  --key K          Kafka key (default: the event's key field in "
            "the data)\n"
            "  --id ID          ce_id (default: a new UUID); needs --data\n"
            "  --source S       ce_source (default " DEFAULT_SOURCE ")\n"
            "  --tenant T       ce_tenant\n"
            "  --time RFC3339   ce_time (default: now)\n"
            "  --topic T        produce here instead of the type's topic\n"
            "  --stop-on-error  stop at the first bad line or failed "
            "delivery\n\n"
            "Errors name the input position (stdin:LINE). Exit status: 0 all "
            "delivered,\n1 some event failed, 2 usage or configuration "
            "error.\n");
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct producer *p = opaque;
    long line = (long)(intptr_t)msg->_private;
    const char *topic;
    (void)rk;

    if (msg->err) {
        topic = rd_kafka_topic_name(msg->rkt);
        p->failed++;
        if (line > 0)
            fprintf(stderr, "stdin:%ld: delivery to %s failed: %s\n", line,
                    topic, rd_kafka_err2str(msg->err));
        else
            fprintf(stderr, "--data: delivery to %s failed: %s\n", topic,
                    rd_kafka_err2str(msg->err));
        return;
    }
    p->delivered++;
}

/* Remembers topic for the summary. */
static void note_topic(struct producer *p, const char *topic)
{
    for (size_t i = 0; i < p->ntopics; i++)
        if (strcmp(p->topics[i], topic) == 0)
            return;
    p->topics = cv_realloc(p->topics, (p->ntopics + 1) * sizeof(char *));
    p->topics[p->ntopics++] = cv_strdup(topic);
}

/* Copies s into dst (cap bytes) or fails naming what it was. */
static int copy_field(char *dst, size_t cap, const char *s, const char *what,
                      char *errstr, size_t errstr_size)
{
    size_t n = strlen(s);
    if (n == 0)
        return cv_err(errstr, errstr_size, "%s: empty", what);
    if (n >= cap)
        return cv_err(errstr, errstr_size, "%s: longer than %zu bytes", what,
                      cap - 1);
    memcpy(dst, s, n + 1);
    return CV_OK;
}

/* Reads the envelope members of root into in; in->data is malloc'd. */
static int read_envelope(json_t *root, struct input *in, char *errstr,
                         size_t errstr_size)
{
    static const char *const strings[] = {
        "type", "id", "key", "source", "time", "tenant", "traceparent"};
    const char **dst[] = {&in->type, &in->id,     &in->key,        &in->source,
                          &in->time, &in->tenant, &in->traceparent};
    const char *name;
    json_t *v;

    json_object_foreach(root, name, v)
    {
        size_t i;
        if (strcmp(name, "data") == 0)
            continue;
        for (i = 0; i < CV_ARRAY_SIZE(strings); i++)
            if (strcmp(name, strings[i]) == 0)
                break;
        if (i == CV_ARRAY_SIZE(strings))
            return cv_err(errstr, errstr_size,
                          "envelope: unknown field '%s' (expected type, id, "
                          "key, source, time, tenant, traceparent, data)",
                          name);
        if (json_is_null(v))
            continue;
        if (!json_is_string(v))
            return cv_err(errstr, errstr_size,
                          "envelope field '%s': expected string, got %s", name,
                          cv_json_kind(v));
        *dst[i] = json_string_value(v);
    }
    v = json_object_get(root, "data");
    if (!v)
        return cv_err(errstr, errstr_size, "envelope: missing \"data\"");
    if (!json_is_object(v))
        return cv_err(errstr, errstr_size,
                      "envelope field 'data': expected object, got %s",
                      cv_json_kind(v));
    in->data_obj = v;
    in->data = json_dumps(v, JSON_COMPACT);
    if (!in->data)
        return cv_err(errstr, errstr_size, "envelope: cannot serialise data");
    in->data_len = strlen(in->data);
    return CV_OK;
}

/*
 * Encodes one event and hands it to librdkafka. line is the input line
 * (0 for --data). Returns CV_OK or CV_ERR with the reason in errstr.
 */
static int produce_one(struct producer *p, const char *text, size_t len,
                       long line, char *errstr, size_t errstr_size)
{
    const struct opts *o = p->o;
    struct input in;
    json_t *root = NULL;
    json_error_t jerr;
    char *value = NULL, *dumped = NULL;
    size_t value_len = 0;
    rd_kafka_headers_t *hdrs = NULL;
    struct cv_ce ce;
    const char *topic;
    rd_kafka_resp_err_t err;
    char uuid[37];
    int rc = CV_ERR;

    memset(&in, 0, sizeof(in));
    in.data = text;
    in.data_len = len;

    if (o->envelope) {
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            cv_err(errstr, errstr_size, "JSON syntax error at column %d: %s",
                   jerr.column, jerr.text);
            goto out;
        }
        if (!json_is_object(root)) {
            cv_err(errstr, errstr_size,
                   "expected a JSON object (envelope), got %s",
                   cv_json_kind(root));
            goto out;
        }
        if (read_envelope(root, &in, errstr, errstr_size) != CV_OK)
            goto out;
        dumped = (char *)in.data;
    }
    if (!in.type)
        in.type = o->type;
    if (!in.type) {
        cv_err(errstr, errstr_size,
               "no event type: the envelope has no \"type\" and --type was "
               "not given");
        goto out;
    }
    if (!p->ev || strcmp(p->ev->type, in.type) != 0) {
        p->ev = cv_topology_event(&p->app->topo, in.type);
        p->schema =
            p->ev ? cv_catalogue_by_name(p->app->cat, p->ev->schema) : NULL;
        if (!p->ev || !p->schema) {
            cv_err(errstr, errstr_size,
                   "event type '%s' is not declared in the topology", in.type);
            p->ev = NULL;
            goto out;
        }
    }

    /* The key: envelope, --key, else the data's key field. */
    if (!in.key)
        in.key = o->key;
    if (!in.key && p->ev->key_field) {
        json_t *k;
        if (!in.data_obj) {
            /* Parsed only here; the codec reports syntax errors itself. */
            root = json_loadb(text, len, 0, NULL);
            in.data_obj = json_is_object(root) ? root : NULL;
        }
        k = in.data_obj ? json_object_get(in.data_obj, p->ev->key_field) : NULL;
        if (k && json_is_string(k)) {
            in.key = json_string_value(k);
        } else if (k && !json_is_null(k)) {
            cv_err(errstr, errstr_size,
                   "field '%s': expected string, got %s (it is the "
                   "event's key)",
                   p->ev->key_field, cv_json_kind(k));
            goto out;
        }
    }

    if (cv_codec_encode_json(p->schema, in.data, in.data_len, &value,
                             &value_len, errstr, errstr_size) != CV_OK)
        goto out;

    memset(&ce, 0, sizeof(ce));
    strcpy(ce.specversion, "1.0");
    if (!in.id)
        in.id = o->id;
    if (!in.id) {
        cv_uuid4(uuid);
        in.id = uuid;
    }
    if (copy_field(ce.id, sizeof(ce.id), in.id, "id", errstr, errstr_size) !=
            CV_OK ||
        copy_field(ce.type, sizeof(ce.type), in.type, "type", errstr,
                   errstr_size) != CV_OK ||
        copy_field(ce.source, sizeof(ce.source),
                   in.source ? in.source
                             : (o->source ? o->source : DEFAULT_SOURCE),
                   "source", errstr, errstr_size) != CV_OK)
        goto out;
    if (!in.tenant)
        in.tenant = o->tenant;
    if (in.tenant && copy_field(ce.tenant, sizeof(ce.tenant), in.tenant,
                                "tenant", errstr, errstr_size) != CV_OK)
        goto out;
    if (in.traceparent &&
        copy_field(ce.traceparent, sizeof(ce.traceparent), in.traceparent,
                   "traceparent", errstr, errstr_size) != CV_OK)
        goto out;
    if (in.time) {
        if (cv_rfc3339_parse(in.time, strlen(in.time), &ce.time_ms) != CV_OK) {
            cv_err(errstr, errstr_size,
                   "envelope field 'time': '%s' is not "
                   "RFC 3339",
                   in.time);
            goto out;
        }
    } else {
        ce.time_ms = p->time_ms >= 0 ? p->time_ms : cv_wall_ms();
    }
    hdrs = cv_ce_headers_new(&ce);

    topic = o->topic ? o->topic : p->ev->topic;
    if (!p->broker_checked) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t merr;

        p->broker_checked = 1;
        merr = rd_kafka_metadata(p->rk, 0, NULL, &md, BROKER_CHECK_MS);
        if (md)
            rd_kafka_metadata_destroy(md);
        p->broker_down = merr != RD_KAFKA_RESP_ERR_NO_ERROR;
        if (p->broker_down) {
            cv_err(errstr, errstr_size,
                   "no Kafka broker answered within %d s (kafka.brokers = "
                   "%s): %s; nothing was sent",
                   BROKER_CHECK_MS / 1000, p->app->cfg.kafka_brokers,
                   rd_kafka_err2str(merr));
            goto out;
        }
    }
    if (p->broker_down) {
        cv_err(errstr, errstr_size, "not sent: no broker reachable");
        goto out;
    }
    for (;;) {
        err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_KEY(in.key, in.key ? strlen(in.key) : 0),
            RD_KAFKA_V_VALUE(value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)line), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        /* Serve delivery reports until the queue has room. */
        rd_kafka_poll(p->rk, 100);
    }
    if (err) {
        cv_err(errstr, errstr_size, "producing to %s: %s", topic,
               rd_kafka_err2str(err));
        goto out;
    }
    /* librdkafka owns the value and the headers now. */
    value = NULL;
    hdrs = NULL;
    p->queued++;
    note_topic(p, topic);
    rc = CV_OK;
out:
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    free(value);
    free(dumped);
    json_decref(root);
    return rc;
}

/* Reads NDJSON from stdin. Returns the number of lines that failed. */
static long produce_stdin(struct producer *p)
{
    char errstr[1024];
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0, bad = 0;

    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n, i = 0;
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == len)
            continue;
        if (produce_one(p, line, len, lineno, errstr, sizeof(errstr)) !=
            CV_OK) {
            fprintf(stderr, "stdin:%ld: %s\n", lineno, errstr);
            bad++;
            if (p->o->stop_on_error)
                break;
            if (p->broker_down) {
                fprintf(stderr, "conveyor produce: not reading further\n");
                break;
            }
            if (rd_kafka_fatal_error(p->rk, errstr, sizeof(errstr))) {
                fprintf(stderr,
                        "conveyor produce: the producer failed for "
                        "good (%s); not reading further\n",
                        errstr);
                break;
            }
        }
        rd_kafka_poll(p->rk, 0);
        if (p->o->stop_on_error && p->failed)
            break;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "stdin:%ld: read error: %s\n", lineno, strerror(errno));
        bad++;
    }
    free(line);
    return bad;
}

/* Waits for every delivery report. Returns the number never reported. */
static long flush_all(struct producer *p)
{
    int64_t deadline = cv_mono_ms() + FLUSH_TIMEOUT_MS;
    long left;

    while (rd_kafka_outq_len(p->rk) > 0 && cv_mono_ms() < deadline)
        rd_kafka_flush(p->rk, 1000);
    left = p->queued - p->delivered - p->failed;
    if (left > 0)
        fprintf(stderr,
                "conveyor produce: %ld events not confirmed after %ds\n", left,
                FLUSH_TIMEOUT_MS / 1000);
    return left > 0 ? left : 0;
}

static void summary(const struct producer *p, long failed, int64_t ms)
{
    double secs = (double)ms / 1000.0;
    double rate = secs > 0 ? (double)p->delivered / secs : 0;

    fprintf(stderr, "produced %ld event%s to ", p->delivered,
            p->delivered == 1 ? "" : "s");
    if (p->ntopics == 0)
        fprintf(stderr, "no topic");
    for (size_t i = 0; i < p->ntopics; i++)
        fprintf(stderr, "%s%s", i ? ", " : "", p->topics[i]);
    fprintf(stderr, " in %.1fs (%.*f/s), %ld failed\n", secs, rate < 10 ? 1 : 0,
            rate, failed);
}

/* Checks the options against each other and the topology. */
static int check_opts(struct cv_app *app, const struct opts *o,
                      int64_t *time_ms)
{
    const struct cv_topo_event *ev;

    if (!o->type && !o->envelope) {
        fprintf(stderr, "conveyor produce: --type is required (or "
                        "--envelope with a \"type\" per line)\n");
        return CV_ERR;
    }
    if (o->id && !o->data) {
        fprintf(stderr, "conveyor produce: --id names one event; it needs "
                        "--data (on stdin, give each envelope an \"id\")\n");
        return CV_ERR;
    }
    if (o->id && (!o->id[0] || strlen(o->id) >= CV_CE_ID_MAX)) {
        fprintf(stderr, "conveyor produce: --id: 1 to %d bytes\n",
                CV_CE_ID_MAX - 1);
        return CV_ERR;
    }
    *time_ms = -1;
    if (o->time &&
        cv_rfc3339_parse(o->time, strlen(o->time), time_ms) != CV_OK) {
        fprintf(stderr,
                "conveyor produce: --time: '%s' is not RFC 3339 "
                "(e.g. 2026-11-22T06:05:00Z)\n",
                o->time);
        return CV_ERR;
    }
    if (cv_app_load_topology(app) != CV_OK)
        return CV_ERR;
    if (o->type) {
        ev = cv_topology_event(&app->topo, o->type);
        if (!ev) {
            fprintf(stderr,
                    "conveyor produce: unknown event type '%s' (declared "
                    "types:",
                    o->type);
            for (size_t i = 0; i < app->topo.nevents; i++)
                fprintf(stderr, " %s", app->topo.events[i].type);
            fprintf(stderr, ")\n");
            return CV_ERR;
        }
    }
    if (o->topic && !cv_topology_topic(&app->topo, o->topic))
        cv_warn("--topic %s is not declared in the topology", o->topic);
    return CV_OK;
}

int cv_cmd_produce(struct cv_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {"key", required_argument, NULL, 'k'},
        {"id", required_argument, NULL, 'i'},
        {"source", required_argument, NULL, 's'},
        {"tenant", required_argument, NULL, 'T'},
        {"time", required_argument, NULL, 'w'},
        {"topic", required_argument, NULL, 'o'},
        {"data", required_argument, NULL, 'd'},
        {"envelope", no_argument, NULL, 'e'},
        {"stop-on-error", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    /* Throughput defaults; kafka.properties may change them. The topology
     * names every topic, so a producer must not create one by a typo. */
    /* clang-format off */
    static const char *const defaults[] = {
        "linger.ms", "20",
        "batch.num.messages", "10000",
        "queue.buffering.max.messages", "1000000",
        "message.timeout.ms", "60000",
        "allow.auto.create.topics", "false",
        NULL};
    /* clang-format on */
    static const char *const overrides[] = {"enable.idempotence", "true", NULL};
    struct opts o;
    struct producer p;
    rd_kafka_conf_t *conf = NULL;
    char errstr[1024];
    long bad = 0, lost;
    int64_t started;
    int ch, rc = CV_EXIT_USAGE;

    memset(&o, 0, sizeof(o));
    memset(&p, 0, sizeof(p));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 't':
            o.type = optarg;
            break;
        case 'k':
            o.key = optarg;
            break;
        case 'i':
            o.id = optarg;
            break;
        case 's':
            o.source = optarg;
            break;
        case 'T':
            o.tenant = optarg;
            break;
        case 'w':
            o.time = optarg;
            break;
        case 'o':
            o.topic = optarg;
            break;
        case 'd':
            o.data = optarg;
            break;
        case 'e':
            o.envelope = 1;
            break;
        case 'x':
            o.stop_on_error = 1;
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
        fprintf(stderr, "conveyor produce: unexpected argument '%s'\n",
                argv[optind]);
        usage(stderr);
        return CV_EXIT_USAGE;
    }
    p.app = app;
    p.o = &o;
    if (check_opts(app, &o, &p.time_ms) != CV_OK)
        return CV_EXIT_USAGE;

    conf = cv_kafka_producer_conf_new(&app->cfg, defaults, overrides, errstr,
                                      sizeof(errstr));
    if (!conf) {
        fprintf(stderr, "conveyor produce: %s\n", errstr);
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &p);
    p.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p.rk) {
        fprintf(stderr, "conveyor produce: %s\n", errstr);
        goto out;
    }
    conf = NULL;

    started = cv_mono_ms();
    if (o.data) {
        if (produce_one(&p, o.data, strlen(o.data), 0, errstr,
                        sizeof(errstr)) != CV_OK) {
            fprintf(stderr, "--data: %s\n", errstr);
            bad++;
        }
    } else {
        bad = produce_stdin(&p);
    }
    lost = flush_all(&p);
    summary(&p, bad + p.failed + lost, cv_mono_ms() - started);
    rc = bad + p.failed + lost ? CV_EXIT_RUNTIME : CV_EXIT_OK;
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (p.rk)
        rd_kafka_destroy(p.rk);
    for (size_t i = 0; i < p.ntopics; i++)
        free(p.topics[i]);
    free(p.topics);
    return rc;
}
