/* Small services of conveyor-double that know nothing of HTTP: a
 * string-keyed hash map (the Stripe personality's idempotency keys and
 * transfer index), identifiers that look like the real services' and
 * repeat from a seed, and form decoding. */
#include "double.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t id_counter;
static uint64_t id_seed;

void dbl_set_seed(uint64_t seed)
{
    id_seed = seed;
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void dbl_make_id(char *out, size_t out_size, const char *prefix, int n)
{
    static const char alnum[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint64_t c = atomic_fetch_add(&id_counter, 1);
    uint64_t r = 0;
    size_t len = strlen(prefix);
    snprintf(out, out_size, "%s", prefix);
    for (int i = 0; i < n && len + 1 < out_size; i++) {
        if (i % 8 == 0)
            r = splitmix64(id_seed * 0x100000001b3ULL + c * 16 + i / 8);
        out[len++] = alnum[r % 62];
        r /= 62;
    }
    out[len] = '\0';
}

size_t dbl_form_unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '+') {
            *w++ = ' ';
        } else if (*r == '%' && r[1] && r[2] &&
                   strchr("0123456789abcdefABCDEF", r[1]) &&
                   strchr("0123456789abcdefABCDEF", r[2])) {
            char hex[3] = {r[1], r[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* ---- the map: open hashing with chains, FNV-1a ---- */

struct map_node {
    struct map_node *next;
    void *value;
    char key[];
};

struct dbl_map {
    struct map_node **slots;
    size_t nslots, size;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

struct dbl_map *dbl_map_new(void)
{
    struct dbl_map *map = calloc(1, sizeof(*map));
    if (!map)
        abort();
    map->nslots = 64;
    map->slots = calloc(map->nslots, sizeof(*map->slots));
    if (!map->slots)
        abort();
    return map;
}

void dbl_map_destroy(struct dbl_map *map, void (*free_value)(void *))
{
    if (!map)
        return;
    for (size_t i = 0; i < map->nslots; i++) {
        struct map_node *n = map->slots[i], *next;
        for (; n; n = next) {
            next = n->next;
            if (free_value)
                free_value(n->value);
            free(n);
        }
    }
    free(map->slots);
    free(map);
}

static struct map_node **map_find(const struct dbl_map *map, const char *key)
{
    struct map_node **p = &map->slots[fnv1a(key) & (map->nslots - 1)];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

void *dbl_map_get(const struct dbl_map *map, const char *key)
{
    struct map_node *n = *map_find(map, key);
    return n ? n->value : NULL;
}

static void map_grow(struct dbl_map *map)
{
    size_t nslots = map->nslots * 2;
    struct map_node **slots = calloc(nslots, sizeof(*slots));
    if (!slots)
        abort();
    for (size_t i = 0; i < map->nslots; i++) {
        struct map_node *n = map->slots[i], *next;
        for (; n; n = next) {
            size_t s = fnv1a(n->key) & (nslots - 1);
            next = n->next;
            n->next = slots[s];
            slots[s] = n;
        }
    }
    free(map->slots);
    map->slots = slots;
    map->nslots = nslots;
}

void *dbl_map_put(struct dbl_map *map, const char *key, void *value)
{
    struct map_node **p = map_find(map, key), *n;
    size_t klen = strlen(key);
    if (*p) {
        void *old = (*p)->value;
        (*p)->value = value;
        return old;
    }
    n = malloc(sizeof(*n) + klen + 1);
    if (!n)
        abort();
    memcpy(n->key, key, klen + 1);
    n->value = value;
    n->next = NULL;
    *p = n;
    if (++map->size > map->nslots)
        map_grow(map);
    return NULL;
}

void *dbl_map_del(struct dbl_map *map, const char *key)
{
    struct map_node **p = map_find(map, key), *n = *p;
    void *value;
    if (!n)
        return NULL;
    value = n->value;
    *p = n->next;
    free(n);
    map->size--;
    return value;
}

size_t dbl_map_size(const struct dbl_map *map)
{
    return map->size;
}
