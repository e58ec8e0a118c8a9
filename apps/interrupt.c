/* interrupt.c - the SIGINT / SIGTERM flag of `rnnc train` (interrupt.h). */
#define _POSIX_C_SOURCE 200809L
#include "apps/interrupt.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t pending;
static struct sigaction old_int, old_term;
static bool installed;
static long batches_seen;
static const char *program = "rnnc";

static void on_signal(int sig)
{
    if (pending)
        _exit(128 + sig); /* the second signal: at once */
    pending = sig;
}

void rnnc_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    pending = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    installed = true;
}

void rnnc_interrupt_restore(void)
{
    if (!installed)
        return;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    installed = false;
}

void rnnc_interrupt_set_program(const char *argv0)
{
    /* A bare name was found on PATH: the user types it the same way. */
    program = argv0 && strchr(argv0, '/') ? argv0 : "rnnc";
}

const char *rnnc_interrupt_program(void) { return program; }

int rnnc_interrupt_signal(void) { return (int)pending; }

bool rnnc_interrupt_requested(void *user)
{
    (void)user;
    return pending != 0;
}

const char *rnnc_interrupt_signal_name(int sig) { return sig == SIGTERM ? "SIGTERM" : "SIGINT"; }

/* Raises every signal RNNC_TEST_RAISE names for `when`. */
static void test_raise(const char *when)
{
    const char *spec = getenv("RNNC_TEST_RAISE");
    if (!spec)
        return;
    size_t wl = strlen(when);
    for (const char *p = spec; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *at = memchr(p, '@', len);
        if (at && (size_t)(p + len - at - 1) == wl && strncmp(at + 1, when, wl) == 0) {
            int sig = strncmp(p, "TERM@", 5) == 0 ? SIGTERM : strncmp(p, "INT@", 4) == 0 ? SIGINT : 0;
            if (sig)
                raise(sig);
        }
        p += len + (end ? 1 : 0);
    }
}

void rnnc_interrupt_test_batch(void)
{
    char when[32];
    batches_seen++;
    if (!getenv("RNNC_TEST_RAISE"))
        return;
    snprintf(when, sizeof when, "%ld", batches_seen);
    test_raise(when);
}

void rnnc_interrupt_test_point(const char *name) { test_raise(name); }
