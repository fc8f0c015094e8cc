/*
 * test_sqlparam.c - named parameters of declared SQL compiled to $n: each
 * name once, in order of first use; nothing inside literals, quoted
 * identifiers, dollar quotes or comments; casts and slices left alone;
 * the errors with their offsets.
 */
#include <stdio.h>
#include <string.h>

#include "sqlparam.h"
#include "test.h"

#define ROUTE                                                                  \
    (CV_PARAM_BIT(CV_PARAM_EVENT) | CV_PARAM_BIT(CV_PARAM_CE) |                \
     CV_PARAM_BIT(CV_PARAM_SETTING) | CV_PARAM_BIT(CV_PARAM_ENV))

static void expect(const char *text, const char *sql, int nparams)
{
    struct cv_sqltext q;
    char err[256] = "";
    size_t at;

    CHECK(cv_sqlparam_compile(text, ROUTE, &q, &at, err, sizeof(err)) == CV_OK);
    if (err[0])
        fprintf(stderr, "  %s: %s\n", text, err);
    CHECK_STR(q.sql, sql);
    CHECK(q.nparams == nparams);
    cv_sqltext_free(&q);
}

static void expect_error(const char *text, unsigned allowed, const char *msg,
                         size_t offset)
{
    struct cv_sqltext q;
    char err[256] = "";
    size_t at = 999;

    CHECK(cv_sqlparam_compile(text, allowed, &q, &at, err, sizeof(err)) ==
          CV_ERR);
    CHECK_STR(err, msg);
    CHECK(at == offset);
    CHECK(q.sql == NULL && q.params == NULL && q.nparams == 0);
    cv_sqltext_free(&q);
}

static void test_names(void)
{
    struct cv_sqltext q;
    char err[256];
    size_t at;

    CHECK(cv_sqlparam_compile("UPDATE t SET a = :event.a, b = :setting.x "
                              "WHERE c = :event.a AND d = :env.HOME_1 "
                              "AND e = :ce.id",
                              ROUTE, &q, &at, err, sizeof(err)) == CV_OK);
    CHECK_STR(q.sql, "UPDATE t SET a = $1, b = $2 WHERE c = $1 AND d = $3 "
                     "AND e = $4");
    CHECK(q.nparams == 4);
    CHECK(q.params[0].kind == CV_PARAM_EVENT);
    CHECK_STR(q.params[0].name, "a");
    CHECK(q.params[0].at == 17);
    CHECK(q.params[1].kind == CV_PARAM_SETTING);
    CHECK_STR(q.params[2].name, "HOME_1");
    CHECK(q.params[3].kind == CV_PARAM_CE);
    cv_sqltext_free(&q);
    cv_sqltext_free(&q); /* twice is fine */
    /* the same name under two prefixes is two parameters */
    expect("SELECT :event.x, :setting.x", "SELECT $1, $2", 2);
}

static void test_not_parameters(void)
{
    expect("SELECT ':event.a', \"x:event.b\", $$ :event.c $$, $q$ :ce.id $q$",
           "SELECT ':event.a', \"x:event.b\", $$ :event.c $$, $q$ :ce.id $q$",
           0);
    expect("SELECT 'it''s :event.a' -- :event.b\n, /* :event.c /* nested */ "
           ":ce.id */ 1",
           "SELECT 'it''s :event.a' -- :event.b\n, /* :event.c /* nested */ "
           ":ce.id */ 1",
           0);
    expect("SELECT E'\\' :event.a', :event.b", "SELECT E'\\' :event.a', $1", 1);
    /* a cast after a parameter, a slice, a colon word of no prefix */
    expect("SELECT :event.n::int, a[1:n], a[lo:t.hi], x::text, :foo.bar",
           "SELECT $1::int, a[1:n], a[lo:t.hi], x::text, :foo.bar", 1);
    expect("SELECT :event", "SELECT :event", 0);
    expect("SELECT a$1b", "SELECT a$1b", 0);
    expect("", "", 0);
}

static void test_errors(void)
{
    expect_error("SELECT $1", ROUTE,
                 "numbered parameter '$1...': name parameters instead "
                 "(:event.<field>, :setting.<name>, ...)",
                 7);
    expect_error("SELECT 'abc", ROUTE, "unterminated string literal", 7);
    expect_error("SELECT \"abc", ROUTE, "unterminated quoted identifier", 7);
    expect_error("SELECT /* x", ROUTE, "unterminated /* comment", 7);
    expect_error("SELECT $x$ abc", ROUTE, "unterminated dollar quote $x$", 7);
    expect_error("SELECT :event. ", ROUTE,
                 "parameter ':event.' has no name after the dot", 7);
    expect_error("SELECT :col.email", ROUTE,
                 "parameter ':col.email': this statement cannot use :col.* "
                 "(expected :event.<name>, :ce.<name>, :setting.<name>, "
                 ":env.<name>)",
                 7);
    expect_error("SELECT :ce.id", 0,
                 "parameter ':ce.id': this statement cannot use :ce.* "
                 "(expected no parameters)",
                 7);
}

static void test_lines(void)
{
    CHECK(cv_sqlparam_line_of("a\nb\nc", 0) == 1);
    CHECK(cv_sqlparam_line_of("a\nb\nc", 2) == 2);
    CHECK(cv_sqlparam_line_of("a\nb\nc", 99) == 3);
    CHECK_STR(cv_sqlparam_prefix(CV_PARAM_CONTEXT), "context");
    CHECK_STR(cv_sqlparam_prefix(99), "?");
}

int main(void)
{
    test_names();
    test_not_parameters();
    test_errors();
    test_lines();
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}
