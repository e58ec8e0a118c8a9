/* keras_cases.c - see keras_cases.h. */
#include "helpers/keras_cases.h"

#include "io/spec_reader.h"
#include "layers/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char **rnnc_test_read_cases(const char *dir, int *n)
{
    char path[1024], line[256];
    *n = 0;
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char **names = calloc(1024, sizeof *names);
    while (names && fgets(line, sizeof line, f) && *n < 1023) {
        line[strcspn(line, "\r\n \t")] = '\0';
        if (line[0] && line[0] != '#') {
            names[*n] = malloc(strlen(line) + 1);
            if (!names[*n])
                break;
            strcpy(names[(*n)++], line);
        }
    }
    fclose(f);
    return names;
}

void rnnc_test_free_cases(char **names)
{
    for (int i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
}

bool rnnc_test_cfg_equal(const rnnc_cfg *a, const rnnc_cfg *b, char *path, size_t cap)
{
    size_t len = strlen(path);
    if (a->type != b->type) {
        snprintf(path + len, cap - len, ": type %s vs Keras %s", rnnc_cfg_type_name(a->type),
                 rnnc_cfg_type_name(b->type));
        return false;
    }
    switch (a->type) {
    case RNNC_CFG_NULL:
        return true;
    case RNNC_CFG_BOOL:
        return a->v.b == b->v.b;
    case RNNC_CFG_INT:
        return a->v.i == b->v.i;
    case RNNC_CFG_FLOAT:
        if (a->v.f != b->v.f)
            snprintf(path + len, cap - len, ": %.17g vs Keras %.17g", a->v.f, b->v.f);
        return a->v.f == b->v.f;
    case RNNC_CFG_STRING:
        if (strcmp(a->v.s, b->v.s))
            snprintf(path + len, cap - len, ": '%s' vs Keras '%s'", a->v.s, b->v.s);
        return strcmp(a->v.s, b->v.s) == 0;
    case RNNC_CFG_LIST:
    case RNNC_CFG_MAP:
        if (a->n != b->n) {
            snprintf(path + len, cap - len, ": %zu entries vs Keras %zu", a->n, b->n);
            return false;
        }
        for (size_t i = 0; i < a->n; i++) {
            if (a->type == RNNC_CFG_MAP && strcmp(a->keys[i], b->keys[i])) {
                snprintf(path + len, cap - len, ": key %zu is '%s', Keras has '%s'", i, a->keys[i],
                         b->keys[i]);
                return false;
            }
            if (a->type == RNNC_CFG_MAP)
                snprintf(path + len, cap - len, ".%s", a->keys[i]);
            else
                snprintf(path + len, cap - len, "[%zu]", i);
            if (!rnnc_test_cfg_equal(a->items[i], b->items[i], path, cap))
                return false;
            path[len] = '\0';
        }
        return true;
    }
    return false;
}

rnnc_status rnnc_test_layer_from_json(const char *json, rnnc_layer **out)
{
    rnnc_cfg *cfg;
    RNNC_TRY(rnnc_spec_read_string(json, strlen(json), "test", &cfg));
    rnnc_status s = rnnc_layer_from_config(cfg, out);
    rnnc_cfg_destroy(cfg);
    return s;
}
