/* callback_internal.h - what the built-in callbacks share (callbacks.c and
 * trainer.c's progress callback; defined in trainer.c, next to
 * rnnc_callback_destroy). Private to optim/. */
#ifndef RNNC_OPTIM_CALLBACK_INTERNAL_H
#define RNNC_OPTIM_CALLBACK_INTERNAL_H

#include <stddef.h>

#include "optim/trainer.h"

/* A zeroed callback whose user is a zeroed state of state_size bytes (none
 * for 0) and whose destroy is rnnc__callback_destroy_state. Fails with
 * RNNC_E_NOMEM "<cls>: out of memory". */
rnnc_status rnnc__callback_create(const char *cls, size_t state_size, rnnc_callback **out);
/* Frees the state (cb->user) and the callback: the destroy of a callback
 * whose state owns nothing else, and the last step of one whose does. */
void rnnc__callback_destroy_state(rnnc_callback *cb);

#endif
