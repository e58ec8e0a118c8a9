#!/usr/bin/env python3
"""Writes tests/fixtures/optim/{optimizers,schedules,losses}.h5 from Keras itself.

Reference numbers for tests/test_optimizers.c and tests/test_losses.c,
computed by Keras 3.15.1 on the TensorFlow backend (float32):

optimizers.h5  one group per optimizer config: the Keras config (JSON) in
               attribute "config", two float32 variables (3, 4) and (4,)
               ("init/0", "init/1"), five gradient sets ("step<k>/grad<i>")
               applied with optimizer.apply(), the variables after each step
               ("step<k>/var<i>"), and the optimizer's variables after the
               last step in Keras order ("state/<j>", attribute "name").
               Variable 0 of the "constraint_*" cases carries a constraint
               (attribute "constraint", JSON).
schedules.h5   one group per schedule: config JSON and the learning rate at
               steps 0..11 ("lr", float32).
fit.h5         Sequential(Dense(4, tanh, L2(0.01), MaxNorm(1.5)), Dense(1))
               from fixed initial weights ("init/<i>") trained by model.fit
               (batch 8 of 20 samples, 3 epochs, shuffle off) with several
               optimizers: the History ("history/<key>"), final weights,
               evaluate() and predict() afterwards.
losses.h5      one group per case: loss config JSON ("config"), y_true,
               y_pred (or "logits" when y_pred = activation(logits) inside
               the loss call: attribute "activation"), optional
               sample_weight and mask, the reduced loss ("loss") and its
               gradient with respect to y_pred / logits ("grad").

Run from the repository root: python3 tests/gen_optimizer_fixtures.py
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
from keras.src import backend  # noqa: E402  (set_keras_mask is not public)

assert keras.__version__ == "3.15.1", keras.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optim")
STEPS = 5


def jdump(obj):
    return json.dumps(obj, sort_keys=False)


# ---------------------------------------------------------------- optimizers
def grad_sequence(rng, scale):
    seq = []
    for k in range(STEPS):
        g0 = rng.standard_normal((3, 4)).astype(np.float32) * scale
        g1 = rng.standard_normal((4,)).astype(np.float32) * scale
        if k == 2:  # a step with a zero gradient entry and a large one
            g0[0, 0] = 0.0
            g1[1] = 5.0 * scale
        seq.append((g0, g1))
    return seq


def run_optimizer(h5, name, opt, scale=1.0, constraint=None, seed=0):
    rng = np.random.default_rng(1234 + seed)
    init0 = rng.standard_normal((3, 4)).astype(np.float32)
    init1 = rng.standard_normal((4,)).astype(np.float32)
    v0 = keras.Variable(init0, name="kernel")
    v1 = keras.Variable(init1, name="bias")
    if constraint is not None:
        v0.constraint = constraint
    grads = grad_sequence(rng, scale)
    g = h5.create_group(name)
    g.attrs["config"] = jdump(keras.optimizers.serialize(opt))
    if constraint is not None:
        g.attrs["constraint"] = jdump(keras.constraints.serialize(constraint))
    g["init/0"] = init0
    g["init/1"] = init1
    for k, (g0, g1) in enumerate(grads):
        opt.apply([tf.constant(g0), tf.constant(g1)], [v0, v1])
        g[f"step{k}/grad0"] = g0
        g[f"step{k}/grad1"] = g1
        g[f"step{k}/var0"] = np.asarray(v0.numpy())
        g[f"step{k}/var1"] = np.asarray(v1.numpy())
    for j, var in enumerate(opt.variables):
        d = g.create_dataset(f"state/{j}", data=np.asarray(var.numpy()))
        d.attrs["name"] = var.name
    g.attrs["n_state"] = len(opt.variables)


def optimizers():
    O = keras.optimizers
    S = keras.optimizers.schedules
    cases = [
        ("sgd", O.SGD(learning_rate=0.1)),
        ("sgd_momentum", O.SGD(learning_rate=0.05, momentum=0.9)),
        ("sgd_nesterov", O.SGD(learning_rate=0.05, momentum=0.8, nesterov=True)),
        ("adam", O.Adam(learning_rate=0.01)),
        ("adam_amsgrad", O.Adam(learning_rate=0.02, beta_1=0.8, beta_2=0.95, amsgrad=True)),
        ("adam_eps", O.Adam(learning_rate=0.01, epsilon=0.1)),
        ("adamw", O.AdamW(learning_rate=0.01, weight_decay=0.05)),
        ("adamw_amsgrad", O.AdamW(learning_rate=0.01, weight_decay=0.1, amsgrad=True)),
        ("rmsprop", O.RMSprop(learning_rate=0.01)),
        ("rmsprop_momentum", O.RMSprop(learning_rate=0.01, rho=0.8, momentum=0.5)),
        ("rmsprop_centered", O.RMSprop(learning_rate=0.01, centered=True)),
        ("rmsprop_centered_momentum", O.RMSprop(learning_rate=0.005, momentum=0.3, centered=True, epsilon=1e-3)),
        ("adagrad", O.Adagrad(learning_rate=0.1)),
        ("adagrad_init", O.Adagrad(learning_rate=0.05, initial_accumulator_value=0.5, epsilon=1e-3)),
        ("sgd_clipnorm", O.SGD(learning_rate=0.1, clipnorm=1.0)),
        ("adam_clipnorm", O.Adam(learning_rate=0.01, clipnorm=0.5)),
        ("sgd_clipvalue", O.SGD(learning_rate=0.1, clipvalue=0.5)),
        ("rmsprop_clipvalue", O.RMSprop(learning_rate=0.01, clipvalue=0.3)),
        ("sgd_global_clipnorm", O.SGD(learning_rate=0.1, global_clipnorm=2.0)),
        ("adam_global_clipnorm", O.Adam(learning_rate=0.01, global_clipnorm=1.5)),
        ("sgd_weight_decay", O.SGD(learning_rate=0.1, momentum=0.5, weight_decay=0.01)),
        ("adam_weight_decay", O.Adam(learning_rate=0.01, weight_decay=0.1)),
        ("rmsprop_weight_decay", O.RMSprop(learning_rate=0.01, weight_decay=0.05)),
        ("adagrad_weight_decay_clipnorm", O.Adagrad(learning_rate=0.1, weight_decay=0.02, clipnorm=0.7)),
        ("sgd_exponential", O.SGD(learning_rate=S.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5))),
        ("sgd_exponential_staircase", O.SGD(learning_rate=S.ExponentialDecay(0.1, 2, 0.5, staircase=True), momentum=0.5)),
        ("adam_inverse_time", O.Adam(learning_rate=S.InverseTimeDecay(0.01, decay_steps=1, decay_rate=0.5))),
        ("sgd_piecewise", O.SGD(learning_rate=S.PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01]))),
        ("adam_cosine", O.Adam(learning_rate=S.CosineDecay(0.01, decay_steps=4, alpha=0.1))),
        ("sgd_cosine_warmup", O.SGD(learning_rate=S.CosineDecay(0.0, decay_steps=3, warmup_target=0.1, warmup_steps=2))),
        ("adam_ema", O.Adam(learning_rate=0.01, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3)),
        ("sgd_ema", O.SGD(learning_rate=0.1, use_ema=True)),
        ("sgd_accum", O.SGD(learning_rate=0.1, momentum=0.5, gradient_accumulation_steps=2)),
        ("adam_accum_clipnorm", O.Adam(learning_rate=0.01, gradient_accumulation_steps=2, clipnorm=1.0)),
        ("rmsprop_loss_scale", O.RMSprop(learning_rate=0.01, loss_scale_factor=4.0)),
        ("adamw_schedule", O.AdamW(learning_rate=S.ExponentialDecay(0.01, 3, 0.7), weight_decay=0.1)),
    ]
    with h5py.File(os.path.join(OUT, "optimizers.h5"), "w") as h5:
        for i, (name, opt) in enumerate(cases):
            run_optimizer(h5, name, opt, seed=i, scale=1.0)
        # large gradients so that the clipping cases clip every step
        run_optimizer(h5, "sgd_clipnorm_large", O.SGD(learning_rate=0.01, clipnorm=0.25), scale=10.0, seed=100)
        run_optimizer(h5, "adam_global_clipnorm_large", O.Adam(learning_rate=0.01, global_clipnorm=0.5), scale=10.0, seed=101)
        run_optimizer(h5, "constraint_maxnorm_sgd", O.SGD(learning_rate=0.5), constraint=keras.constraints.MaxNorm(1.2), seed=200)
        run_optimizer(h5, "constraint_nonneg_adam", O.Adam(learning_rate=0.1), constraint=keras.constraints.NonNeg(), seed=201)
        h5.attrs["keras_version"] = keras.__version__


def schedules():
    S = keras.optimizers.schedules
    cases = [
        ("exponential", S.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.9)),
        ("exponential_staircase", S.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.9, staircase=True)),
        ("inverse_time", S.InverseTimeDecay(0.5, decay_steps=2, decay_rate=0.25)),
        ("inverse_time_staircase", S.InverseTimeDecay(0.5, decay_steps=2, decay_rate=0.25, staircase=True)),
        ("piecewise", S.PiecewiseConstantDecay([2, 5, 8], [1.0, 0.5, 0.25, 0.125])),
        ("cosine", S.CosineDecay(0.2, decay_steps=7)),
        ("cosine_alpha", S.CosineDecay(0.2, decay_steps=7, alpha=0.25)),
        ("cosine_warmup", S.CosineDecay(0.0, decay_steps=6, warmup_target=0.3, warmup_steps=3)),
        ("cosine_warmup_alpha", S.CosineDecay(0.05, decay_steps=5, alpha=0.1, warmup_target=0.2, warmup_steps=4)),
    ]
    with h5py.File(os.path.join(OUT, "schedules.h5"), "w") as h5:
        for name, sch in cases:
            g = h5.create_group(name)
            g.attrs["config"] = jdump(keras.optimizers.schedules.serialize(sch))
            g["lr"] = np.array([float(sch(tf.constant(k, dtype=tf.int64))) for k in range(12)], dtype=np.float32)


# -------------------------------------------------------------------- losses
def loss_case(h5, name, loss, y_true, y_pred, sample_weight=None, mask=None, activation=None,
              extra_config=None):
    g = h5.create_group(name)
    config = keras.losses.serialize(loss)
    # Huber.get_config drops delta; from_config still takes it.
    config["config"].update(extra_config or {})
    g.attrs["config"] = jdump(config)
    g["y_true"] = y_true
    src = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(src)
        if activation == "sigmoid":
            yp = keras.activations.sigmoid(src)
        elif activation == "softmax":
            yp = keras.activations.softmax(src)
        else:
            yp = tf.identity(src)
        if mask is not None:
            backend.set_keras_mask(yp, tf.constant(mask))
        value = loss(tf.constant(y_true), yp, sample_weight=None if sample_weight is None else tf.constant(sample_weight))
    grad = tape.gradient(value, src)
    g["logits" if activation else "y_pred"] = y_pred
    if activation:
        g.attrs["activation"] = activation
    if sample_weight is not None:
        g["sample_weight"] = sample_weight
    if mask is not None:
        g["mask"] = mask.astype(np.uint8)
    g["loss"] = np.asarray(value.numpy(), dtype=np.float32)
    g["grad"] = np.asarray(grad.numpy(), dtype=np.float32)


def losses():
    L = keras.losses
    rng = np.random.default_rng(7)
    f = np.float32
    B, T, F, C = 4, 5, 3, 4
    reg_t = rng.standard_normal((B, F)).astype(f)
    reg_p = rng.standard_normal((B, F)).astype(f)
    sw = np.array([1.0, 0.5, 2.0, 0.0], dtype=f)
    bin_t = rng.integers(0, 2, (B, F)).astype(f)
    bin_p = rng.uniform(0.02, 0.98, (B, F)).astype(f)
    bin_p[0, 0] = 0.0          # clipped at epsilon
    bin_p[1, 2] = 1.0          # clipped at 1 - epsilon
    logit = (rng.standard_normal((B, F)) * 3).astype(f)
    logit[2, 1] = 0.0
    ids = rng.integers(0, C, (B,)).astype(np.int32)
    onehot = np.eye(C, dtype=f)[ids]
    probs = rng.uniform(0.05, 1.0, (B, C)).astype(f)
    probs /= probs.sum(-1, keepdims=True)
    unnorm = rng.uniform(0.1, 2.0, (B, C)).astype(f)
    clogit = (rng.standard_normal((B, C)) * 2).astype(f)
    seq_t = rng.standard_normal((B, T, F)).astype(f)
    seq_p = rng.standard_normal((B, T, F)).astype(f)
    mask = np.ones((B, T), dtype=bool)
    mask[0, 3:] = False
    mask[2, 1:] = False
    mask[3, :] = True
    seq_ids = rng.integers(0, C, (B, T)).astype(np.int32)
    seq_logit = (rng.standard_normal((B, T, C)) * 2).astype(f)
    seq_sw = rng.uniform(0.0, 2.0, (B, T)).astype(f)
    with h5py.File(os.path.join(OUT, "losses.h5"), "w") as h5:
        loss_case(h5, "mse", L.MeanSquaredError(), reg_t, reg_p)
        loss_case(h5, "mse_sw", L.MeanSquaredError(), reg_t, reg_p, sample_weight=sw)
        loss_case(h5, "mse_sum", L.MeanSquaredError(reduction="sum"), reg_t, reg_p)
        loss_case(h5, "mse_mean_sw", L.MeanSquaredError(reduction="mean_with_sample_weight"), reg_t, reg_p, sample_weight=sw)
        loss_case(h5, "mse_rank1_vs_col", L.MeanSquaredError(), reg_t[:, 0].copy(), reg_p[:, :1].copy())
        loss_case(h5, "mse_sw_col", L.MeanSquaredError(), reg_t, reg_p, sample_weight=sw[:, None].copy())
        loss_case(h5, "mae", L.MeanAbsoluteError(), reg_t, reg_p)
        loss_case(h5, "mae_sw", L.MeanAbsoluteError(), reg_t, reg_p, sample_weight=sw)
        loss_case(h5, "huber", L.Huber(), reg_t, reg_p)
        loss_case(h5, "huber_delta_sum", L.Huber(delta=0.5, reduction="sum"), reg_t, reg_p, sample_weight=sw,
                  extra_config={"delta": 0.5})
        loss_case(h5, "bce", L.BinaryCrossentropy(), bin_t, bin_p)
        loss_case(h5, "bce_sw", L.BinaryCrossentropy(), bin_t, bin_p, sample_weight=sw)
        loss_case(h5, "bce_smooth", L.BinaryCrossentropy(label_smoothing=0.1), bin_t, bin_p)
        loss_case(h5, "bce_logits", L.BinaryCrossentropy(from_logits=True), bin_t, logit)
        loss_case(h5, "bce_logits_smooth", L.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), bin_t, logit)
        loss_case(h5, "bce_sigmoid_output", L.BinaryCrossentropy(), bin_t, logit, activation="sigmoid")
        loss_case(h5, "cce", L.CategoricalCrossentropy(), onehot, probs)
        loss_case(h5, "cce_unnormalized", L.CategoricalCrossentropy(), onehot, unnorm)
        loss_case(h5, "cce_smooth_sw", L.CategoricalCrossentropy(label_smoothing=0.2), onehot, probs, sample_weight=sw)
        loss_case(h5, "cce_logits", L.CategoricalCrossentropy(from_logits=True), onehot, clogit)
        loss_case(h5, "cce_logits_smooth", L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), onehot, clogit)
        loss_case(h5, "cce_softmax_output", L.CategoricalCrossentropy(), onehot, clogit, activation="softmax")
        loss_case(h5, "scce", L.SparseCategoricalCrossentropy(), ids, probs)
        loss_case(h5, "scce_col", L.SparseCategoricalCrossentropy(), ids[:, None].copy(), probs)
        loss_case(h5, "scce_logits_sw", L.SparseCategoricalCrossentropy(from_logits=True), ids, clogit, sample_weight=sw)
        loss_case(h5, "scce_softmax_output", L.SparseCategoricalCrossentropy(), ids, clogit, activation="softmax")
        ign = ids.copy()
        ign[1] = -1
        loss_case(h5, "scce_ignore_class", L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1), ign, clogit)
        loss_case(h5, "seq_mse_mask", L.MeanSquaredError(), seq_t, seq_p, mask=mask)
        loss_case(h5, "seq_mse_mask_sw", L.MeanSquaredError(), seq_t, seq_p, sample_weight=seq_sw, mask=mask)
        loss_case(h5, "seq_mse_mask_sum", L.MeanSquaredError(reduction="sum"), seq_t, seq_p, mask=mask)
        loss_case(h5, "seq_scce_logits_mask", L.SparseCategoricalCrossentropy(from_logits=True), seq_ids, seq_logit, mask=mask)
        loss_case(h5, "seq_scce_mask_ignore", L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0), seq_ids, seq_logit, mask=mask)
        loss_case(h5, "seq_mse_all_masked", L.MeanSquaredError(), seq_t, seq_p, mask=np.zeros((B, T), dtype=bool))
        loss_case(h5, "seq_mae_none", L.MeanAbsoluteError(reduction=None), seq_t, seq_p, sample_weight=seq_sw)
        h5.attrs["keras_version"] = keras.__version__


# ----------------------------------------------------------------------- fit
def fit_cases():
    """Sequential(Dense(4, tanh, L2 + MaxNorm), Dense(1)) trained by fit."""
    rng = np.random.default_rng(11)
    f = np.float32
    x = rng.standard_normal((20, 3)).astype(f)
    y = (np.sin(x[:, :1]) + 0.5 * x[:, 1:2] - 0.2 * x[:, 2:3]).astype(f)
    sw = rng.uniform(0.2, 2.0, (20,)).astype(f)
    k0 = (rng.standard_normal((3, 4)) * 0.5).astype(f)
    b0 = (rng.standard_normal((4,)) * 0.1).astype(f)
    k1 = (rng.standard_normal((4, 1)) * 0.5).astype(f)
    b1 = np.zeros((1,), f)
    O = keras.optimizers
    cases = [
        ("sgd_momentum", O.SGD(learning_rate=0.1, momentum=0.9), {}),
        ("adam", O.Adam(learning_rate=0.01), {}),
        ("rmsprop_sw", O.RMSprop(learning_rate=0.01), {"sample_weight": sw}),
        ("adam_val_split", O.Adam(learning_rate=0.02, clipnorm=0.5), {"validation_split": 0.25}),
    ]
    with h5py.File(os.path.join(OUT, "fit.h5"), "w") as h5:
        h5["x"] = x
        h5["y"] = y
        h5["sample_weight"] = sw
        h5["init/0"] = k0
        h5["init/1"] = b0
        h5["init/2"] = k1
        h5["init/3"] = b1
        for name, opt, kw in cases:
            keras.utils.set_random_seed(0)
            model = keras.Sequential([
                keras.Input((3,)),
                keras.layers.Dense(4, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.01),
                                   kernel_constraint=keras.constraints.MaxNorm(1.5)),
                keras.layers.Dense(1),
            ])
            model.set_weights([k0, b0, k1, b1])
            model.compile(optimizer=opt, loss="mse", metrics=["mae"])
            hist = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, **kw)
            g = h5.create_group(name)
            g.attrs["optimizer"] = jdump(keras.optimizers.serialize(opt))
            for key, vals in hist.history.items():
                g[f"history/{key}"] = np.asarray(vals, dtype=np.float64)
            g.attrs["history_keys"] = jdump(list(hist.history.keys()))
            for i, w in enumerate(model.get_weights()):
                g[f"weights/{i}"] = w
            ev = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
            g["evaluate/loss"] = np.float64(ev["loss"])
            g["evaluate/mae"] = np.float64(ev["mae"])
            g["predict"] = model.predict(x, batch_size=8, verbose=0)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    optimizers()
    schedules()
    losses()
    fit_cases()
    print("wrote", OUT)
