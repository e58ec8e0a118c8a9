/* status.h - status codes and the last-error message.
 *
 * Every public rnnc function that can fail returns an rnnc_status. The
 * details (argument name, shapes seen, file:line:col) go into a per-thread
 * message read with rnnc_last_error(). Deviation from STYLE.md's per-context
 * message: config parsing, file readers and layer constructors have no
 * rnnc_ctx, and they must report too, so the message is thread-local. */
#ifndef RNNC_STATUS_H
#define RNNC_STATUS_H

#define RNNC_STATUS_LIST(X)                                   \
    X(RNNC_OK,            "success")                          \
    X(RNNC_E_ARG,         "invalid argument")                 \
    X(RNNC_E_SHAPE,       "incompatible shapes")              \
    X(RNNC_E_DTYPE,       "unsupported or mismatched dtype")  \
    X(RNNC_E_NOMEM,       "out of memory")                    \
    X(RNNC_E_IO,          "file read/write failed")           \
    X(RNNC_E_FORMAT,      "malformed file or spec")           \
    X(RNNC_E_NODEV,       "backend not available")            \
    X(RNNC_E_STATE,       "object not in the required state") \
    X(RNNC_E_UNSUPPORTED, "not supported")                    \
    X(RNNC_E_NUMERIC,     "non-finite value")

typedef enum {
#define X(code, text) code,
    RNNC_STATUS_LIST(X)
#undef X
    RNNC_STATUS_COUNT
} rnnc_status;

/* A fixed description of the code ("incompatible shapes"). Never NULL. */
const char *rnnc_status_str(rnnc_status s);

/* Records a printf-style message for this thread and returns s, so that
 * `return rnnc_fail(RNNC_E_ARG, "GRU: units must be > 0, got %d", u);`
 * reports and fails in one line. */
rnnc_status rnnc_fail(rnnc_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefixes the current message with more context ("layer 'gru': " ...)
 * and returns s. */
rnnc_status rnnc_fail_context(rnnc_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The message of the last failure on this thread ("" if none). Valid until
 * the next failure on this thread. */
const char *rnnc_last_error(void);
void rnnc_clear_error(void);

/* Propagates a failure: evaluates expr once and returns its status if not OK. */
#define RNNC_TRY(expr)                          \
    do {                                        \
        rnnc_status rnnc_try_s_ = (expr);       \
        if (rnnc_try_s_ != RNNC_OK)             \
            return rnnc_try_s_;                 \
    } while (0)

#endif
