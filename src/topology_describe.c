/*
 * topology_describe.c - the topology's key table (topology_keys.c) for
 * people and tests: every key with its type, default and description, and
 * the keys' names alone.
 */
#include <stdio.h>

#include "topology_int.h"

void cv_topology_describe(FILE *out)
{
    char list[128];

    for (size_t i = 0; i < cv_topo_nkeys; i++) {
        const struct key_def *k = &cv_topo_keys[i];
        const char *id = cv_topo_groups[k->group].id;

        fprintf(out, "%s%s%s (", id, *id ? "." : "", k->name);
        switch (k->type) {
        case KEY_STRING:
            fprintf(out, "string");
            if (k->def_str)
                fprintf(out, ", default \"%s\"", k->def_str);
            break;
        case KEY_INT:
        case KEY_MS:
            fprintf(out, "integer %lld..%lld", k->min, k->max);
            if (!(k->flags & KEY_REQUIRED))
                fprintf(out, ", default %lld", k->def_int);
            break;
        case KEY_NUMBER:
            fprintf(out, "number %g..%g, default %g", (double)k->min,
                    (double)k->max, k->def_num);
            break;
        case KEY_BOOL:
            fprintf(out, "true or false, default %s",
                    k->def_int ? "true" : "false");
            break;
        case KEY_ENUM:
            cv_topo_alternatives(k->names, list, sizeof(list));
            fprintf(out, "%s, default %s", list, k->names[k->def_int]);
            break;
        case KEY_TOPICS:
            fprintf(out, "array of topic names");
            break;
        case KEY_STRINGS:
            fprintf(out, "array of strings");
            break;
        case KEY_LIST:
            fprintf(out, "list of %s groups", cv_topo_groups[k->items].id);
            break;
        case KEY_GROUP:
            fprintf(out, "%s group", cv_topo_groups[k->items].id);
            break;
        case KEY_SQL:
            fprintf(out, "an SQL statement or a list of them");
            break;
        }
        fprintf(out, "%s)\n    %s\n",
                k->flags & KEY_REQUIRED ? ", required" : "", k->desc);
    }
}

const char *const *cv_topology_keys(void)
{
    /* Filled on first use and kept; the program calls this before starting
     * threads. */
    static const char **names;

    if (!names) {
        names = cv_calloc(cv_topo_nkeys + 1, sizeof(*names));
        for (size_t i = 0; i < cv_topo_nkeys; i++) {
            const char *id = cv_topo_groups[cv_topo_keys[i].group].id;
            names[i] =
                cv_asprintf("%s%s%s", id, *id ? "." : "", cv_topo_keys[i].name);
        }
    }
    return names;
}
