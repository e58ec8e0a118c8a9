#!/usr/bin/env python3
"""Writes tests/fixtures/optim/optimizers_f64.h5 from Keras 3.15.1 itself.

The optimizers of tests/gen_optimizer_fixtures.py applied to float64
variables (a layer with dtype float64, or a float64 model). On TensorFlow,
Keras's update steps turn some Python-float hyperparameters into tensors
with ops.cast(x, variable.dtype), which converts the Python float to a
float32 tensor first: Adam's and AdamW's beta_1 / beta_2 in the bias
corrections (beta ** t), SGD's momentum and weight_decay reach a float64
update rounded to float32 (0.999 -> 0.9990000128746033). Elsewhere (Adam's
(1 - beta) factors, RMSprop's rho and momentum, epsilon, EMA momentum) the
Python float meets a float64 tensor and stays exact. The learning rate is a
float32 variable in every case. tests/test_optimizers_f64.c replays these
cases to 1e-12.

Layout: one group per case, and a root attribute "<case>_config" (Keras's
serialized optimizer, JSON); in the group "init/0" (3, 4) and "init/1" (4,) float64; the five
gradient sets "grad0" (5, 3, 4), "grad1" (5, 4) and the variables after
each step "var0" (5, 3, 4), "var1" (5, 4).

Run from the repository root: /work/kenv/bin/python tests/gen_optimizer_f64_fixture.py
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optim")
STEPS = 5


def run(h5, name, opt, seed):
    rng = np.random.default_rng(4321 + seed)
    init0 = rng.standard_normal((3, 4))
    init1 = rng.standard_normal((4,))
    v0 = keras.Variable(init0, dtype="float64", name="kernel")
    v1 = keras.Variable(init1, dtype="float64", name="bias")
    g = h5.create_group(name)
    h5.attrs[f"{name}_config"] = json.dumps(keras.optimizers.serialize(opt))
    g["init/0"] = init0
    g["init/1"] = init1
    grads0, grads1, vars0, vars1 = [], [], [], []
    for k in range(STEPS):
        g0 = rng.standard_normal((3, 4))
        g1 = rng.standard_normal((4,))
        opt.apply([tf.constant(g0), tf.constant(g1)], [v0, v1])
        grads0.append(g0)
        grads1.append(g1)
        vars0.append(np.asarray(v0.numpy()))
        vars1.append(np.asarray(v1.numpy()))
    g["grad0"] = np.stack(grads0)
    g["grad1"] = np.stack(grads1)
    g["var0"] = np.stack(vars0)
    g["var1"] = np.stack(vars1)


def main():
    O = keras.optimizers
    cases = [
        ("sgd", O.SGD(learning_rate=0.1)),
        ("sgd_momentum", O.SGD(learning_rate=0.05, momentum=0.9)),
        ("sgd_nesterov", O.SGD(learning_rate=0.05, momentum=0.7, nesterov=True)),
        ("sgd_weight_decay", O.SGD(learning_rate=0.1, momentum=0.3, weight_decay=0.07)),
        ("adam", O.Adam(learning_rate=0.01)),
        ("adam_amsgrad", O.Adam(learning_rate=0.02, beta_1=0.8, beta_2=0.95, amsgrad=True)),
        ("adamw", O.AdamW(learning_rate=0.01, weight_decay=0.3)),
        ("rmsprop_centered_momentum", O.RMSprop(learning_rate=0.01, rho=0.7, momentum=0.3, centered=True)),
        ("adagrad", O.Adagrad(learning_rate=0.1, initial_accumulator_value=0.3)),
        ("adam_ema", O.Adam(learning_rate=0.01, use_ema=True, ema_momentum=0.7)),
    ]
    os.makedirs(OUT, exist_ok=True)
    with h5py.File(os.path.join(OUT, "optimizers_f64.h5"), "w") as h5:
        for i, (name, opt) in enumerate(cases):
            run(h5, name, opt, i)


if __name__ == "__main__":
    main()
