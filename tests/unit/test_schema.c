/*
 * test_schema.c - the schema catalogue: the repository's schemas/ loads with
 * the agreed ids, and every broken catalogue is refused with an error that
 * names the file (and line where there is one).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schema.h"
#include "test.h"

static char schemas_dir[4096];

#define write_file(dir, name, text)                                            \
    test_write_file(dir, name, text, strlen(text))

static void remove_file(const char *dir, const char *name)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

#define REC(name, fields)                                                      \
    "{\"type\":\"record\",\"name\":\"" name "\",\"namespace\":\"t\","          \
    "\"fields\":[" fields "]}"
#define A_AVSC REC("A", "{\"name\":\"x\",\"type\":\"string\"}")
#define B_AVSC REC("B", "{\"name\":\"y\",\"type\":\"long\"}")

/*
 * A fresh temp directory holding a.avsc, b.avsc and the given ids.cfg
 * (NULL: none), plus extra files. Loads it and expects failure with all of
 * the needles in the error.
 */
struct extra {
    const char *name, *text;
};

static void expect_fail(const char *what, const char *ids,
                        const struct extra *extras, size_t nextras,
                        const char *needle1, const char *needle2)
{
    char dir[] = "/tmp/cv_test_schema_XXXXXX";
    char err[512] = "";
    struct cv_catalogue *cat;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    write_file(dir, "a.avsc", A_AVSC);
    write_file(dir, "b.avsc", B_AVSC);
    if (ids)
        write_file(dir, "ids.cfg", ids);
    for (size_t i = 0; i < nextras; i++)
        write_file(dir, extras[i].name, extras[i].text);

    cat = cv_catalogue_load(dir, err, sizeof(err));
    if (cat)
        fprintf(stderr, "case '%s' loaded but should not\n", what);
    CHECK(cat == NULL);
    if (needle1)
        CHECK_CONTAINS(err, needle1);
    if (needle2)
        CHECK_CONTAINS(err, needle2);
    cv_catalogue_destroy(cat);

    remove_file(dir, "a.avsc");
    remove_file(dir, "b.avsc");
    remove_file(dir, "ids.cfg");
    for (size_t i = 0; i < nextras; i++)
        remove_file(dir, extras[i].name);
    CHECK(rmdir(dir) == 0);
}

#define GOOD_IDS                                                               \
    "ids = ( { schema = \"t.A\"; id = 1; },\n"                                 \
    "        { schema = \"t.B\"; id = 2; } );\n"

static void test_repo_catalogue(void)
{
    char err[512] = "";
    struct cv_catalogue *cat = cv_catalogue_load(schemas_dir, err, sizeof(err));
    const struct cv_schema *s;

    CHECK(cat != NULL);
    if (!cat) {
        fprintf(stderr, "load %s: %s\n", schemas_dir, err);
        return;
    }
    CHECK(cv_catalogue_count(cat) == 11);

    s = cv_catalogue_by_id(cat, 1);
    CHECK(s != NULL);
    CHECK_STR(s ? s->name : NULL, "marketplace.LeadSubmitted");
    CHECK(s && s->iface != NULL && is_avro_record(s->avro));
    CHECK(s && strstr(s->path, "marketplace.LeadSubmitted.avsc") != NULL);
    CHECK(s && avro_schema_record_size(s->avro) == 8);

    s = cv_catalogue_by_id(cat, 2);
    CHECK_STR(s ? s->name : NULL, "marketplace.UploadCompleted");
    s = cv_catalogue_by_id(cat, 3);
    CHECK_STR(s ? s->name : NULL, "marketplace.VerificationRequested");
    CHECK(cv_catalogue_by_id(cat, 0) == NULL);
    s = cv_catalogue_by_id(cat, 4);
    CHECK_STR(s ? s->name : NULL, "conveyor.ScheduledJob");
    s = cv_catalogue_by_id(cat, 5);
    CHECK_STR(s ? s->name : NULL, "marketplace.VerificationQueueDue");
    s = cv_catalogue_by_id(cat, 6);
    CHECK_STR(s ? s->name : NULL, "conveyor.EffectOutcome");
    s = cv_catalogue_by_id(cat, 8);
    CHECK_STR(s ? s->name : NULL, "marketplace.PayoutRetry");
    s = cv_catalogue_by_id(cat, 9);
    CHECK_STR(s ? s->name : NULL, "marketplace.UploadProcess");
    s = cv_catalogue_by_id(cat, 10);
    CHECK_STR(s ? s->name : NULL, "conveyor.ImportOutcome");
    s = cv_catalogue_by_id(cat, 11);
    CHECK_STR(s ? s->name : NULL, "marketplace.UploadRetry");
    CHECK(cv_catalogue_by_id(cat, 12) == NULL);
    CHECK(cv_catalogue_by_id(cat, -1) == NULL);

    s = cv_catalogue_by_name(cat, "marketplace.UploadCompleted");
    CHECK(s != NULL && s->id == 2);
    CHECK(cv_catalogue_by_name(cat, "UploadCompleted") == NULL);
    CHECK(cv_catalogue_by_name(cat, "marketplace.Nope") == NULL);

    /* at() walks the schemas in id order */
    for (size_t i = 0; i < cv_catalogue_count(cat); i++)
        CHECK(cv_catalogue_at(cat, i)->id == (int)i + 1);
    CHECK(cv_catalogue_at(cat, 11) == NULL);

    /* defaults survive, although avro-c drops them */
    s = cv_catalogue_by_id(cat, 1);
    CHECK(json_is_null((const json_t *)cv_schema_field_default(
        s, "marketplace.LeadSubmitted", "first_name")));
    CHECK(cv_schema_field_default(s, "marketplace.LeadSubmitted", "email") ==
          NULL);
    CHECK(cv_schema_field_default(s, "marketplace.Other", "first_name") ==
          NULL);
    cv_catalogue_destroy(cat);
}

static void test_good_temp_catalogue(void)
{
    char dir[] = "/tmp/cv_test_schema_XXXXXX";
    char err[512] = "";
    struct cv_catalogue *cat;
    const struct cv_schema *s;
    const json_t *d;

    CHECK(mkdtemp(dir) != NULL);
    write_file(dir, "a.avsc", A_AVSC);
    /* nested record in another namespace, defaults at both levels */
    write_file(
        dir, "n.avsc",
        "{\"type\":\"record\",\"name\":\"N\",\"namespace\":\"outer\","
        "\"fields\":[{\"name\":\"n\",\"type\":\"int\",\"default\":7},"
        "{\"name\":\"in\",\"type\":{\"type\":\"record\",\"name\":\"In\","
        "\"fields\":[{\"name\":\"k\",\"type\":\"string\",\"default\":\"z\"}]}"
        "},{\"name\":\"far\",\"type\":{\"type\":\"record\",\"name\":"
        "\"other.Far\",\"fields\":[{\"name\":\"q\",\"type\":\"long\","
        "\"default\":3}]}}]}");
    write_file(dir, "notes.txt", "not a schema");
    write_file(dir, "ids.cfg",
               "# a comment\nids = ( { schema = \"t.A\"; id = 10; },\n"
               "  { schema = \"outer.N\"; id = 1000; } );\n");
    cat = cv_catalogue_load(dir, err, sizeof(err));
    CHECK(cat != NULL);
    if (!cat)
        fprintf(stderr, "%s\n", err);
    if (cat) {
        CHECK(cv_catalogue_count(cat) == 2);
        s = cv_catalogue_by_id(cat, 1000);
        CHECK_STR(s ? s->name : NULL, "outer.N");
        d = cv_schema_field_default(s, "outer.N", "n");
        CHECK(json_is_integer(d) && json_integer_value(d) == 7);
        d = cv_schema_field_default(s, "outer.In", "k");
        CHECK_STR(json_string_value(d), "z");
        d = cv_schema_field_default(s, "other.Far", "q");
        CHECK(json_is_integer(d) && json_integer_value(d) == 3);
        CHECK(cv_catalogue_by_id(cat, 10) != NULL);
        CHECK(cv_catalogue_by_id(cat, 1) == NULL);
        CHECK(cv_catalogue_by_name(cat, "t.A") == cv_catalogue_by_id(cat, 10));
    }
    cv_catalogue_destroy(cat);
    remove_file(dir, "a.avsc");
    remove_file(dir, "n.avsc");
    remove_file(dir, "notes.txt");
    remove_file(dir, "ids.cfg");
    CHECK(rmdir(dir) == 0);
}

static void test_broken_catalogues(void)
{
    char err[512] = "";
    struct extra bad_json[] = {
        {"c.avsc",
         "{\"type\": \"record\",\n \"name\": \"C\",\n \"fields\": [\n"},
    };
    struct extra bad_type[] = {
        {"c.avsc", REC("C", "{\"name\":\"z\",\"type\":\"strin\"}")},
    };
    struct extra not_record[] = {
        {"c.avsc", "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\"]}"},
    };
    struct extra dup_name[] = {
        {"c.avsc", REC("A", "{\"name\":\"other\",\"type\":\"int\"}")},
    };
    struct extra third[] = {
        {"c.avsc", REC("C", "{\"name\":\"z\",\"type\":\"int\"}")},
    };

    expect_fail("bad json", GOOD_IDS, bad_json, 1, "c.avsc:4:", NULL);
    expect_fail("unknown type", GOOD_IDS, bad_type, 1, "c.avsc", "strin");
    expect_fail("not a record", GOOD_IDS, not_record, 1, "c.avsc",
                "not a record");
    expect_fail("duplicate name", GOOD_IDS, dup_name, 1, "c.avsc",
                "t.A is already defined in");
    expect_fail("schema without id", GOOD_IDS, third, 1, "c.avsc",
                "t.C has no id");
    expect_fail("id used twice",
                "ids = ( { schema = \"t.A\"; id = 1; },\n"
                "        { schema = \"t.B\"; id = 1; } );\n",
                NULL, 0, "ids.cfg:2:", "id 1 used twice");
    expect_fail("unknown setting", GOOD_IDS "ids2 = 1;\n", NULL, 0,
                "ids.cfg:3:", "unknown setting 'ids2'");
    expect_fail("id for a schema without file",
                "ids = ( { schema = \"t.A\"; id = 1; },\n"
                "        { schema = \"t.B\"; id = 2; },\n"
                "        { schema = \"t.Gone\"; id = 3; } );\n",
                NULL, 0, "ids.cfg:3:", "t.Gone, but no .avsc defines it");
    expect_fail("schema listed twice",
                "ids = ( { schema = \"t.A\"; id = 1; },\n"
                "        { schema = \"t.B\"; id = 2; },\n"
                "        { schema = \"t.A\"; id = 3; } );\n",
                NULL, 0, "ids.cfg:3:", "t.A listed twice");
    expect_fail("syntax error", "ids = ( { schema = \"t.A\"; id = 1 }\n", NULL,
                0, "ids.cfg:", "syntax error");
    expect_fail("no ids.cfg", NULL, NULL, 0, "ids.cfg", "cannot read");
    expect_fail("unknown key",
                "ids = ( { schema = \"t.A\"; id = 1; },\n"
                "        { schema = \"t.B\"; id = 2; colour = 1; } );\n",
                NULL, 0, "ids.cfg:2:", "unknown key 'colour'");
    expect_fail("id zero",
                "ids = ( { schema = \"t.A\"; id = 0; },\n"
                "        { schema = \"t.B\"; id = 2; } );\n",
                NULL, 0, "ids.cfg:1:", "positive");
    expect_fail("id as string",
                "ids = ( { schema = \"t.A\"; id = \"1\"; },\n"
                "        { schema = \"t.B\"; id = 2; } );\n",
                NULL, 0, "ids.cfg:1:", "'id' must be an integer");
    expect_fail("entry without id",
                "ids = ( { schema = \"t.A\"; },\n"
                "        { schema = \"t.B\"; id = 2; } );\n",
                NULL, 0, "ids.cfg:1:", "without id");
    expect_fail("ids not a list", "ids = 1;\n", NULL, 0, "ids.cfg",
                "needs ids");

    /* an empty directory, a missing one */
    {
        char dir[] = "/tmp/cv_test_schema_XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        CHECK(cv_catalogue_load(dir, err, sizeof(err)) == NULL);
        CHECK_CONTAINS(err, "no *.avsc");
        CHECK(rmdir(dir) == 0);
    }
    CHECK(cv_catalogue_load("/nonexistent/cv", err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "/nonexistent/cv");
    /* errstr may be NULL */
    CHECK(cv_catalogue_load("/nonexistent/cv", NULL, 0) == NULL);
    cv_catalogue_destroy(NULL);
}

int main(void)
{
    const char *src = getenv("CONVEYOR_SOURCE_DIR");

    snprintf(schemas_dir, sizeof(schemas_dir), "%s/schemas",
             src && *src ? src : ".");
    test_repo_catalogue();
    test_good_temp_catalogue();
    test_broken_catalogues();
    TEST_DONE();
}
