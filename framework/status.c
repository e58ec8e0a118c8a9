/* status.c - status strings and the per-thread error message. */
#include "framework/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define RNNC_ERROR_MAX 2048

static _Thread_local char last_error[RNNC_ERROR_MAX];

static const char *const status_text[] = {
#define X(code, text) text,
    RNNC_STATUS_LIST(X)
#undef X
};
_Static_assert(sizeof status_text / sizeof status_text[0] == RNNC_STATUS_COUNT,
               "status text table out of sync");

const char *rnnc_status_str(rnnc_status s)
{
    if ((unsigned)s >= RNNC_STATUS_COUNT)
        return "unknown status";
    return status_text[s];
}

rnnc_status rnnc_fail(rnnc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

rnnc_status rnnc_fail_context(rnnc_status s, const char *fmt, ...)
{
    char prefix[RNNC_ERROR_MAX], old[RNNC_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    memcpy(last_error, prefix, n + 1);
    if (n + 1 < sizeof last_error) {
        size_t room = sizeof last_error - n - 1, m = strlen(old);
        if (m > room)
            m = room;
        memcpy(last_error + n, old, m);
        last_error[n + m] = '\0';
    }
    return s;
}

const char *rnnc_last_error(void) { return last_error; }

void rnnc_clear_error(void) { last_error[0] = '\0'; }
