#!/usr/bin/env python3
"""Writes tests/fixtures/optim/reg_dtype.h5 for tests/test_autocast_metrics.c.

A float32 loss over a model whose regularized layer is float64:
Input(5, 3) -> GRU(3, dtype float64, kernel_regularizer L2(0.5),
recurrent_regularizer L1(0.1)) -> Dense(2) (float32), loss mse, SGD(0.1),
batch 8 of 16 samples, 2 epochs, no shuffling. Keras 3.15.1's own fit
refuses this model (Trainer.compute_loss sums the float32 loss and the
float64 penalty with ops.sum, which TensorFlow rejects); rnnc autocasts
instead, so the reference is Keras's training step with that one sum made
well-typed: total = MeanSquaredError()(y, model(x, training=True)) +
the sum of model.losses each cast to float32, its gradient by tf.GradientTape and
Keras's SGD.apply, batch after batch. The penalty's gradient must reach the
GRU's weights (before the fix rnnc added the penalty as a constant).

Also two float64 models with a crossentropy over saturated softmax / sigmoid
outputs ("f64_cce", "f64_bce", trained by model.fit, SGD(0.01), with their
own "<case>/x", "<case>/y"): Keras's losses compute in float32.

Two cases: "gru64" as above, and "both" where the float32 Dense has a
kernel_regularizer L2(0.3) too (penalties of two dtypes: each is cast to
float32 and added). Layout: "x" (16, 5, 3), "y" (16, 2) float32; per case
a root attribute "model_<case>" (the model's to_json()), "<case>/w/<i>" the
initial weights and "<case>/after/<i>" the weights after the 2 epochs, in
Keras's order (model.get_weights()); "<case>/loss" (2,) float64, each
epoch's mean of the batch totals (Keras's loss tracker).

Run from the repository root: /work/kenv/bin/python tests/gen_reg_dtype_fixture.py
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optim", "reg_dtype.h5")
L, R = keras.layers, keras.regularizers

rs = np.random.RandomState(23)
x = rs.randn(16, 5, 3).astype("float32")
y = rs.randn(16, 2).astype("float32")


def case(f, group, dense_reg):
    keras.utils.set_random_seed(23)
    model = keras.Sequential([keras.Input((5, 3)),
                              L.GRU(3, dtype="float64", kernel_regularizer=R.L2(0.5),
                                    recurrent_regularizer=R.L1(0.1), name="gru"),
                              L.Dense(2, kernel_regularizer=dense_reg, name="dense")], name="reg_dtype")
    init = [w.copy() for w in model.get_weights()]
    opt = keras.optimizers.SGD(0.1)
    mse = keras.losses.MeanSquaredError()
    losses = []
    for epoch in range(2):
        totals = []
        for i in range(0, 16, 8):
            with tf.GradientTape() as tape:
                pred = model(x[i:i + 8], training=True)
                total = mse(y[i:i + 8], pred)
                for pen in model.losses:
                    total = total + tf.cast(pen, tf.float32)
            grads = tape.gradient(total, model.trainable_weights)
            opt.apply(grads, model.trainable_weights)
            totals.append(float(total))
        losses.append(np.mean(totals))
    f.attrs[f"model_{group}"] = model.to_json()
    for i, w in enumerate(init):
        f[f"{group}/w/{i}"] = w
    for i, w in enumerate(model.get_weights()):
        f[f"{group}/after/{i}"] = w
    f[f"{group}/loss"] = np.asarray(losses, dtype="float64")
    print(group, "loss", losses)


def loss_case(f, group, act, loss, y_of):
    """A float64 model's crossentropy: Keras's Loss casts y_pred to float32
    (its dtype, floatx), which drops TensorFlow's _keras_logits, so the
    saturated probabilities are clipped to [1e-7, 1 - 1e-7] (rnnc used the
    float64 logits: loss 48.7 where Keras has 10.1). model.fit itself."""
    keras.utils.set_random_seed(24)
    r = np.random.RandomState(24)
    xs = r.randn(16, 4, 3).astype("float32")
    ys = y_of(r)
    model = keras.Sequential([keras.Input((4, 3)), L.Flatten(dtype="float64"),
                              L.Dense(3, activation=act, dtype="float64",
                                      kernel_initializer=keras.initializers.RandomNormal(stddev=20.0), name="dense")],
                             name="loss_dtype")
    init = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    h = model.fit(xs, ys, batch_size=8, epochs=2, shuffle=False, verbose=0)
    f.attrs[f"model_{group}"] = model.to_json()
    for i, w in enumerate(init):
        f[f"{group}/w/{i}"] = w
    for i, w in enumerate(model.get_weights()):
        f[f"{group}/after/{i}"] = w
    f[f"{group}/x"] = xs
    f[f"{group}/y"] = ys
    f[f"{group}/loss"] = np.asarray(h.history["loss"], dtype="float64")
    print(group, "loss", h.history["loss"])


with h5py.File(OUT, "w") as f:
    f["x"] = x
    f["y"] = y
    case(f, "gru64", None)
    case(f, "both", R.L2(0.3))
    loss_case(f, "f64_cce", "softmax", "categorical_crossentropy",
              lambda r: np.eye(3, dtype="float32")[r.randint(0, 3, size=16)])
    loss_case(f, "f64_bce", "sigmoid", "binary_crossentropy", lambda r: (r.rand(16, 3) > 0.5).astype("float32"))
