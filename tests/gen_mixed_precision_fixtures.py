#!/usr/bin/env python3
"""Writes tests/fixtures/mixed_precision/ from Keras 3.15.1 on TensorFlow (CPU),
read by tests/test_mixed_precision.c.

TensorFlow's default on x86 (oneDNN on, TF_ENABLE_ONEDNN_OPTS=1) is kept on
purpose, unlike the other fixture scripts: with oneDNN, a bfloat16 MatMul
accumulates in float32 and rounds to nearest even; with
TF_ENABLE_ONEDNN_OPTS=0 TensorFlow's Eigen bfloat16 MatMul truncates its
float32 result instead (measured: 47% of products differ from round-to-
nearest). rnnc follows the default. TensorFlow's bfloat16 sigmoid is
rd(e / rd(1 + e)) with e = rd(exp(x)) (matches 4000 of 4000 random
bfloat16 inputs), tanh, add, multiply and subtract are rd(exact).

Contents:

mixed_precision.h5, one group per case, the model JSON in root attr
model_<case> (Keras's own to_json under keras.config.set_dtype_policy, so every
layer's dtype is {class_name: DTypePolicy, config: {name: <policy>}}):
  w/<i>     initial weights (float32 variables) in Keras's order
  x         inputs, float32
  y         predict(x) under the policy (bfloat16/float16 -> float32, exact)
  y_f32     predict(x) of the same model and weights under float32: the
            tests check that their tolerance tells the two apart
Training cases add:
  xt, t     training inputs and targets; loss (per-epoch mean loss,
            float64); y_after (predict after training); wf/<i> final
            weights; loss_f32 the float32 run's curve from the same start;
            grad/<i> (grad_f32/<i>) the gradients of the first batch of 4
            from the initial weights, under the policy (under float32);
            step1/<i> the weights after one train_on_batch of those rows
Cases (B=4, T=7, F=5, U=6 unless said):
  gru_ra        GRU(reset_after=True, return_sequences)
  gru_rb        GRU(reset_after=False, return_sequences)
  gru_mask_back Masking(0) + GRU(return_sequences, go_backwards): rows
                padded with zeros at the end
  gru_mask_last Masking(0) + GRU(reset_after=False), last output only
  seq_dense     GRU(8) + Dense(3, tanh)
  f16_seq       seq_dense under mixed_float16
  pf16_seq      seq_dense under float16 (variables float16)
  train_adam    GRU(8) + Dense(1), 16 samples, Adam(0.01), mse, 4 epochs,
                batch 4, shuffle off
  train_sgd     GRU(6, reset_after=False) + Dense(1), SGD(0.1), 4 epochs
Also seq_dense.keras (the seq_dense model saved by Keras) and
seq_dense_in.h5 (its x) for `rnnc predict`; pf16_seq.keras and
pf16_seq_in.h5 the same for pf16_seq (float16 variables in the file).

Run from the repository root: /work/kenv/bin/python tests/gen_mixed_precision_fixtures.py
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "mixed_precision")
L = keras.layers
B, T, F = 4, 7, 5


def build(policy, make):
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(5)
        return keras.Sequential(make())
    finally:
        keras.config.set_dtype_policy("float32")


def inputs(seed, masked, n=B):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, (n, T, F)).astype(np.float32)
    if masked:  # row b keeps its first T - b steps
        for b in range(n):
            x[b, T - b:, :] = 0
    return x


def f32(a):
    return np.asarray(a).astype(np.float32)


def first_batch_grads(m, x, t):
    import tensorflow as tf

    @tf.function
    def step(x, t):
        with tf.GradientTape() as tape:
            y = m(x, training=True)
            loss = m.compute_loss(x=x, y=t, y_pred=y, training=True)
        return tape.gradient(loss, m.trainable_variables)

    return [gr.numpy() for gr in step(x, t)]


def case(f, name, make, policy="mixed_bfloat16", masked=False, train=None):
    m = build(policy, make)
    ref = build("float32", make)
    ref.set_weights([f32(w) for w in m.get_weights()])
    x = inputs(len(name), masked)
    g = f.create_group(name)
    f.attrs["model_" + name] = m.to_json()
    for i, w in enumerate(m.get_weights()):
        g["w/%d" % i] = f32(w)
    g["x"] = x
    y = m.predict(x, verbose=0)
    g["y"] = f32(y)
    g["y_f32"] = f32(ref.predict(x, verbose=0))
    print(name, policy, y.dtype, "max |bf16 - f32| =", float(np.max(np.abs(g["y"][()] - g["y_f32"][()]))))
    if train:
        opt, make_opt = train
        n = 16
        x = inputs(len(name) + 1, False, n)
        t = np.tanh(x.sum(axis=(1, 2)) / 4.0)[:, None].astype(np.float32)
        g["xt"], g["t"] = x, t
        curves = []
        for mm, key in ((m, "grad"), (ref, "grad_f32")):
            mm.compile(optimizer=make_opt(), loss="mse")
            # the gradients of the first batch (4 rows) as fit's graph step
            # computes them, from the initial weights
            for i, gr in enumerate(first_batch_grads(mm, x[:4], t[:4])):
                g["%s/%d" % (key, i)] = f32(gr)
        # the weights after one train_on_batch of the first 4 rows (a copy)
        one = build(policy, make)
        one.set_weights(m.get_weights())
        one.compile(optimizer=make_opt(), loss="mse")
        one.train_on_batch(x[:4], t[:4])
        for i, w in enumerate(one.get_weights()):
            g["step1/%d" % i] = f32(w)
        for mm in (m, ref):
            h = mm.fit(x, t, batch_size=4, epochs=4, shuffle=False, verbose=0)
            curves.append(np.asarray(h.history["loss"], np.float64))
        g["loss"], g["loss_f32"] = curves
        g["y_after"] = f32(m.predict(x, verbose=0))
        for i, w in enumerate(m.get_weights()):
            g["wf/%d" % i] = f32(w)
        print("  ", opt, "loss", curves[0], "f32", curves[1])
    return m


def main():
    os.makedirs(DIR, exist_ok=True)
    path = os.path.join(DIR, "mixed_precision.h5")
    with h5py.File(path, "w") as f:
        case(f, "gru_ra", lambda: [keras.Input((T, F)), L.GRU(6, return_sequences=True)])
        case(f, "gru_rb", lambda: [keras.Input((T, F)), L.GRU(6, return_sequences=True, reset_after=False)])
        case(f, "gru_mask_back", lambda: [keras.Input((T, F)), L.Masking(0.0),
                                          L.GRU(6, return_sequences=True, go_backwards=True)], masked=True)
        case(f, "gru_mask_last", lambda: [keras.Input((T, F)), L.Masking(0.0), L.GRU(6, reset_after=False)],
             masked=True)
        seq = lambda: [keras.Input((T, F)), L.GRU(8), L.Dense(3, activation="tanh")]  # noqa: E731
        m = case(f, "seq_dense", seq)
        m.save(os.path.join(DIR, "seq_dense.keras"))
        with h5py.File(os.path.join(DIR, "seq_dense_in.h5"), "w") as fi:
            fi["x"] = f["seq_dense/x"][()]
        case(f, "f16_seq", seq, policy="mixed_float16")
        m = case(f, "pf16_seq", seq, policy="float16")
        m.save(os.path.join(DIR, "pf16_seq.keras"))  # its variables stored as float16
        with h5py.File(os.path.join(DIR, "pf16_seq_in.h5"), "w") as fi:
            fi["x"] = f["pf16_seq/x"][()]
        case(f, "train_adam", lambda: [keras.Input((T, F)), L.GRU(8), L.Dense(1)],
             train=("adam", lambda: keras.optimizers.Adam(0.01)))
        case(f, "train_sgd", lambda: [keras.Input((T, F)), L.GRU(6, reset_after=False), L.Dense(1)],
             train=("sgd", lambda: keras.optimizers.SGD(0.1)))
    print("wrote", path)


if __name__ == "__main__":
    main()
