/* builders.c - config trees and tensors for tests (builders.h). */
#include "helpers/builders.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io/spec_reader.h"

rnnc_cfg *th_map_of(const char *key, ...)
{
    rnnc_cfg *m = rnnc_cfg_map();
    cr_assert_not_null(m);
    va_list ap;
    va_start(ap, key);
    for (const char *k = key; k; k = va_arg(ap, const char *)) {
        rnnc_cfg *v = va_arg(ap, rnnc_cfg *);
        cr_assert_eq(rnnc_cfg_set(m, k, v), RNNC_OK);
    }
    va_end(ap);
    return m;
}

rnnc_cfg *th_envelope(const char *module, const char *cls, rnnc_cfg *config)
{
    rnnc_cfg *m = rnnc_cfg_map();
    cr_assert_not_null(m);
    if (module)
        cr_assert_eq(rnnc_cfg_set_string(m, "module", module), RNNC_OK);
    cr_assert_eq(rnnc_cfg_set_string(m, "class_name", cls), RNNC_OK);
    if (config)
        cr_assert_eq(rnnc_cfg_set(m, "config", config), RNNC_OK);
    return m;
}

rnnc_cfg *th_int_list(int n, ...)
{
    rnnc_cfg *l = rnnc_cfg_list();
    cr_assert_not_null(l);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(rnnc_cfg_push(l, rnnc_cfg_int(va_arg(ap, int))), RNNC_OK);
    va_end(ap);
    return l;
}

rnnc_cfg *th_parse(const char *text)
{
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(text, strlen(text), "<test config>", &c), RNNC_OK, "%s",
                 rnnc_last_error());
    return c;
}

/* Records a difference into why (when given) and returns false. */
static bool differ(char *why, size_t cap, const char *fmt, ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool th_cfg_equal(const rnnc_cfg *a, const rnnc_cfg *b, char *why, size_t cap)
{
    if (a->type != b->type)
        return differ(why, cap, "type %s vs %s", rnnc_cfg_type_name(a->type), rnnc_cfg_type_name(b->type));
    switch (a->type) {
    case RNNC_CFG_NULL: return true;
    case RNNC_CFG_BOOL: return a->v.b == b->v.b || differ(why, cap, "bool differs");
    case RNNC_CFG_INT:
        return a->v.i == b->v.i || differ(why, cap, "int %lld vs %lld", (long long)a->v.i, (long long)b->v.i);
    case RNNC_CFG_FLOAT: return a->v.f == b->v.f || differ(why, cap, "float %.17g vs %.17g", a->v.f, b->v.f);
    case RNNC_CFG_STRING: return strcmp(a->v.s, b->v.s) == 0 || differ(why, cap, "'%s' vs '%s'", a->v.s, b->v.s);
    case RNNC_CFG_LIST:
    case RNNC_CFG_MAP:
        if (a->n != b->n)
            return differ(why, cap, "%zu vs %zu entries", a->n, b->n);
        for (size_t i = 0; i < a->n; i++) {
            if (a->type == RNNC_CFG_MAP && strcmp(a->keys[i], b->keys[i]) != 0)
                return differ(why, cap, "key %zu: '%s' vs '%s'", i, a->keys[i], b->keys[i]);
            if (!th_cfg_equal(a->items[i], b->items[i], why, cap)) {
                if (why && cap) {
                    char inner[512];
                    snprintf(inner, sizeof inner, "%s", why);
                    snprintf(why, cap, "[%s] %s", a->type == RNNC_CFG_MAP ? a->keys[i] : "item", inner);
                }
                return false;
            }
        }
        return true;
    }
    return false;
}

rnnc_tensor *th_tensor(rnnc_dtype dt, rnnc_shape s, const double *v)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_tensor_create(dt, &s, &t), RNNC_OK, "%s", rnnc_last_error());
    for (size_t i = 0; v && i < t->numel; i++)
        rnnc_tensor_set(t, i, v[i]);
    return t;
}
