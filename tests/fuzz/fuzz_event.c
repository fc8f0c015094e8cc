/*
 * fuzz_event.c - libFuzzer target for the CloudEvents header parser and the
 * RFC 3339 reader.
 *
 * The input is cut into headers: one byte picks the name (mostly the ones
 * the parser looks for, so the fuzzer does not have to guess them), one
 * byte gives the value's length, then the value bytes. cv_ce_parse() runs
 * on the result. Whenever it accepts, the parsed struct must be sane
 * (NUL-terminated fields, version 1.0), and writing it back with
 * cv_ce_headers_new() and parsing again must give the same struct.
 *
 * The whole input is also given to cv_rfc3339_parse(); whatever it accepts
 * must survive cv_rfc3339_format() and a second parse unchanged.
 *
 * Build and run: see README.md in this directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

static const char *names[] = {
    "ce_specversion", "ce_id",     "ce_type",     "ce_source",
    "ce_time",        "ce_tenant", "traceparent", "content-type",
    "x-other",        "CE_ID",     "ce_id ",      "",
};

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_event: %s: %s\n", what, detail ? detail : "");
    abort();
}

static void check_terminated(const char *field, size_t cap)
{
    if (!memchr(field, '\0', cap))
        die("field not NUL-terminated", NULL);
}

static void check_time(const uint8_t *data, size_t size)
{
    int64_t ms, again;
    char out[32];

    if (cv_rfc3339_parse((const char *)data, size, &ms) != CV_OK)
        return;
    cv_rfc3339_format(ms, out);
    if (cv_rfc3339_parse(out, strlen(out), &again) != CV_OK || again != ms)
        die("time does not survive format and parse", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8), *again;
    struct cv_ce ce, back;
    char err[256] = "";
    size_t i = 0;

    check_time(data, size);

    while (i + 2 <= size) {
        const char *name = names[data[i] % (sizeof(names) / sizeof(*names))];
        size_t len = data[i + 1];
        i += 2;
        if (len > size - i)
            len = size - i;
        /* a selector byte of 0xf0 or more sends a NULL value */
        if (data[i - 2] >= 0xf0)
            rd_kafka_header_add(hdrs, name, -1, NULL, 0);
        else
            rd_kafka_header_add(hdrs, name, -1, data + i, (ssize_t)len);
        i += len;
    }

    if (cv_ce_parse(hdrs, &ce, err, sizeof(err)) != CV_OK) {
        if (!err[0])
            die("parse failed without a message", NULL);
        /* whatever was kept is still a C string */
        check_terminated(ce.id, sizeof(ce.id));
        check_terminated(ce.type, sizeof(ce.type));
        rd_kafka_headers_destroy(hdrs);
        return 0;
    }
    check_terminated(ce.specversion, sizeof(ce.specversion));
    check_terminated(ce.id, sizeof(ce.id));
    check_terminated(ce.type, sizeof(ce.type));
    check_terminated(ce.source, sizeof(ce.source));
    check_terminated(ce.tenant, sizeof(ce.tenant));
    check_terminated(ce.traceparent, sizeof(ce.traceparent));
    if (strcmp(ce.specversion, "1.0") != 0 || !ce.id[0] || !ce.type[0] ||
        !ce.source[0])
        die("accepted an incomplete event", ce.id);

    again = cv_ce_headers_new(&ce);
    if (cv_ce_parse(again, &back, err, sizeof(err)) != CV_OK)
        die("headers written by cv_ce_headers_new do not parse", err);
    if (memcmp(&ce, &back, sizeof(ce)) != 0)
        die("headers do not round-trip", ce.id);
    rd_kafka_headers_destroy(again);
    rd_kafka_headers_destroy(hdrs);
    return 0;
}
