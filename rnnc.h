/* rnnc.h - the whole public API. */
#ifndef RNNC_H
#define RNNC_H
#include "framework/status.h"
#include "framework/tensor.h"
#include "framework/autograd.h"
#include "framework/ops.h"
#include "framework/random.h"
#include "framework/config.h"
#include "framework/initializers.h"
#include "framework/regularizers.h"
#include "framework/constraints.h"
#include "framework/layer.h"
#endif
