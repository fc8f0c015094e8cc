/*
 * sqlparam.h - named parameters in SQL written in the topology.
 *
 * A declared statement names its parameters, `:event.partner_id`,
 * `:setting.freshness_floor`, `:ce.time`, instead of numbering them.
 * cv_sqlparam_compile() turns each distinct name into $1, $2, ... (the
 * same name twice is the same $n) and lists the names, so that the caller
 * checks them against what exists (the event's schema, the settings) and
 * binds their values in that order.
 *
 * A parameter is ':' + a known prefix + '.' + a name of letters, digits
 * and '_' (":env.PAYOUT_MIN_AMOUNT"). Text inside string literals ('...',
 * E'...'), quoted identifiers ("..."), dollar quotes ($x$...$x$) and
 * comments is left alone, and so is '::' (a cast) and a ':' followed by
 * anything else (an array slice, a[1:n]). Numbered parameters ($1) are
 * refused: a statement names all its parameters or none.
 *
 * Pure functions, no I/O: the topology check and the tests use them.
 */
#ifndef CV_SQLPARAM_H
#define CV_SQLPARAM_H

#include <stddef.h>

#include "common.h"

/* The prefixes a parameter may have; a caller allows a set of them. */
enum cv_sqlparam_kind {
    CV_PARAM_EVENT = 0, /* :event.<field>   a field of the event's record */
    CV_PARAM_CE,        /* :ce.<attribute>  id, type, source, time, ... */
    CV_PARAM_SETTING,   /* :setting.<name>  a topology setting */
    CV_PARAM_ENV,       /* :env.<VAR>       an environment variable */
    CV_PARAM_COL,       /* :col.<column>    an import's column (an array) */
    CV_PARAM_ROW,       /* :row.<what>      an import row's line (array) */
    CV_PARAM_IMPORT,    /* :import.<what>   the import's id, key, ... */
    CV_PARAM_CONTEXT,   /* :context.<key>   a key of the import's context */
    CV_PARAM_KINDS
};

#define CV_PARAM_BIT(k) (1u << (k))

struct cv_sqlparam {
    int kind;   /* enum cv_sqlparam_kind */
    char *name; /* after the prefix: "partner_id" */
    size_t at;  /* byte offset of its first use in the source text */
};

struct cv_sqltext {
    char *sql; /* with $1..$n in place of the names */
    struct cv_sqlparam *params;
    int nparams; /* $k is params[k - 1] */
};

/* "event", "ce", ...: a kind's prefix. */
const char *cv_sqlparam_prefix(int kind);

/*
 * Compiles text into out (zeroed first; cv_sqltext_free() it either way).
 * allowed is a mask of CV_PARAM_BIT(kind). Returns CV_OK, or CV_ERR with
 * errstr naming the problem and *err_at its byte offset in text: a prefix
 * this statement may not use, a parameter without a name, a numbered
 * parameter, an unterminated literal or comment. A ':' + word + '.' whose
 * word is no prefix at all is left to Postgres ("t.col" after a slice).
 */
int cv_sqlparam_compile(const char *text, unsigned allowed,
                        struct cv_sqltext *out, size_t *err_at, char *errstr,
                        size_t errstr_size);
void cv_sqltext_free(struct cv_sqltext *s);

/* The 1-based line of byte offset at in text (for text spanning lines). */
int cv_sqlparam_line_of(const char *text, size_t at);

#endif
