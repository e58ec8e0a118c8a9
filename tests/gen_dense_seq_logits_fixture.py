#!/usr/bin/env python3
"""Writes tests/fixtures/optim/dense_seq_logits.h5 from Keras itself.

Reference numbers for tests/test_dense_seq_logits.c: a model whose last
layer is Dense(U, softmax | sigmoid) on a (B, T, F) input, with weights
large enough that the probabilities saturate (beyond 1 - 1e-7 and below
1e-7), under a crossentropy with from_logits=False. Keras 3.15.1 on
TensorFlow keeps the activation's input on its output (_keras_logits,
keras/src/activations/activations.py) at any rank, and the crossentropies
use it (keras/src/backend/tensorflow/nn.py _get_logits): nothing is
clipped to [1e-7, 1 - 1e-7]. This script checks that against float64
NumPy (the from-logits value, and the clipped one it must not be) and
fails if Keras ever does otherwise.

One group-less set of datasets per case <c> (sm_sparse: softmax +
sparse_categorical_crossentropy; sm_cat: softmax +
categorical_crossentropy; sig_bin: sigmoid + binary_crossentropy;
td_sparse: sm_sparse's model with the Dense inside TimeDistributed, whose
output is a reshape of the activation's, so Keras clips there, the control):
    <c>_x (B, T, F), <c>_y, <c>_kernel (F, U), <c>_bias (U,)  the inputs
    <c>_loss         model.evaluate's loss (graph mode, as fit runs)
    <c>_step_loss    train_on_batch's loss (SGD, learning rate LR)
    <c>_kernel1, <c>_bias1   the weights after that one step
    <c>_logits_loss, <c>_clipped_loss   the float64 NumPy references
All float32 except the two references (float64).

Run from the repository root: /work/kenv/bin/python tests/gen_dense_seq_logits_fixture.py
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optim", "dense_seq_logits.h5")
B, T, F, U = 2, 3, 4, 5
LR = 0.5
EPS = 1e-7


def log_softmax(z):
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def case(kind, seed):
    td = kind.startswith("td_")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, F)).astype("float32")
    kernel = (rng.standard_normal((F, U)) * 12).astype("float32")
    bias = rng.uniform(-1, 1, U).astype("float32")
    z = x.astype(np.float64) @ kernel.astype(np.float64) + bias
    if kind == "sig_bin":
        # mostly the wrong side of a saturated sigmoid, some the right one
        y = ((z < 0) ^ (rng.uniform(size=z.shape) < 0.25)).astype("float32")
        logits = np.mean(y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z))
        p = np.clip(1 / (1 + np.exp(-z)), EPS, 1 - EPS)
        clipped = np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
        act, loss = "sigmoid", "binary_crossentropy"
        dz = (1 / (1 + np.exp(-z)) - y) / y.size
    else:
        # the least likely class on most rows, the most likely on the rest
        ids = np.where(rng.uniform(size=(B, T)) < 0.3, z.argmax(-1), z.argmin(-1))
        ls = log_softmax(z)
        logits = -np.take_along_axis(ls, ids[..., None], -1).mean()
        pc = np.clip(np.exp(ls), EPS, 1 - EPS)
        clipped = -np.log(np.take_along_axis(pc, ids[..., None], -1)).mean()
        act = "softmax"
        dz = (np.exp(ls) - np.eye(U)[ids]) / ids.size
        if kind in ("sm_sparse", "td_sparse"):
            y, loss = ids.astype("float32"), "sparse_categorical_crossentropy"
        else:
            y, loss = np.eye(U, dtype="float32")[ids], "categorical_crossentropy"
    dense = keras.layers.Dense(U, activation=act, name="dense")
    model = keras.Sequential([keras.Input((T, F)), keras.layers.TimeDistributed(dense, name="td") if td else dense])
    model.set_weights([kernel, bias])
    model.compile(optimizer=keras.optimizers.SGD(LR), loss=loss)
    ev = float(model.evaluate(x, y, batch_size=B, verbose=0))
    assert logits - clipped > 0.2 * logits, (kind, logits, clipped)
    # TimeDistributed's output is not the activation's tensor: Keras clips
    assert abs(ev - (clipped if td else logits)) <= 1e-5 * ev, (kind, ev, logits, clipped)
    step = float(model.train_on_batch(x, y))
    k1, b1 = model.get_weights()
    # the step is SGD on the from-logits gradient (float64 NumPy)
    dk = np.einsum("btf,btu->fu", x.astype(np.float64), dz)
    db = dz.sum((0, 1))
    if not td:
        assert np.abs(k1 - (kernel - LR * dk)).max() <= 1e-5 * np.abs(kernel).max(), kind
        assert np.abs(b1 - (bias - LR * db)).max() <= 1e-5, kind
    print(f"{kind}: evaluate {ev:.6f}  float64 from logits {logits:.6f}  clipped {clipped:.6f}  "
          f"train_on_batch loss {step:.6f}  max |dK| {np.abs(k1 - kernel).max():.4f}")
    return {"x": x, "y": y, "kernel": kernel, "bias": bias, "loss": np.float32(ev), "step_loss": np.float32(step),
            "kernel1": k1, "bias1": b1, "logits_loss": np.float64(logits), "clipped_loss": np.float64(clipped)}


def main():
    keras.utils.set_random_seed(1)
    with h5py.File(OUT, "w") as h5:
        for i, kind in enumerate(("sm_sparse", "sm_cat", "sig_bin", "td_sparse")):
            for k, v in case(kind, 10 + i).items():
                h5.create_dataset(f"{kind}_{k}", data=v)


if __name__ == "__main__":
    main()
