/*
 * test_preflight.c - which failed connections `conveyor run` gives up on at
 * once (preflight.c). The messages are libpq's and the server's, as they
 * come back from a failed PQconnectdb().
 */
#include "preflight.h"
#include "test.h"

int main(void)
{
    static const char *const permanent[] = {
        "connection to server at \"localhost\" (127.0.0.1), port 5432 "
        "failed: FATAL:  password authentication failed for user \"app\"",
        "connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" "
        "failed: FATAL:  Peer authentication failed for user \"app\"",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: "
        "FATAL:  database \"shop\" does not exist",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: "
        "FATAL:  role \"app\" does not exist",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: "
        "FATAL:  no pg_hba.conf entry for host \"10.0.0.9\", user \"app\", "
        "database \"shop\", no encryption",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: "
        "fe_sendauth: no password supplied",
        "invalid connection option \"hots\"",
        "invalid URI query parameter: \"sslmod\"",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: "
        "FATAL:  role \"app\" is not permitted to log in",
    };
    static const char *const transient[] = {
        "connection to server at \"localhost\" (127.0.0.1), port 5432 "
        "failed: Connection refused\n\tIs the server running on that host "
        "and accepting TCP/IP connections?",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: "
        "timeout expired",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: "
        "FATAL:  the database system is starting up",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: "
        "FATAL:  sorry, too many clients already",
        "could not translate host name \"db\" to address: Temporary "
        "failure in name resolution",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: "
        "server closed the connection unexpectedly",
        "",
    };

    for (size_t i = 0; i < CV_ARRAY_SIZE(permanent); i++)
        CHECK(cv_preflight_permanent(permanent[i]) == 1);
    for (size_t i = 0; i < CV_ARRAY_SIZE(transient); i++)
        CHECK(cv_preflight_permanent(transient[i]) == 0);
    TEST_DONE();
}
