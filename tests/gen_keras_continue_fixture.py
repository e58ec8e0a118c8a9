#!/usr/bin/env python3
"""Fixtures for tests/test_train_continue.c: training that starts from a
compiled .keras archive continues its optimizer, as Keras's
`model = keras.saving.load_model(path); model.fit(...)` does.

    /work/kenv/bin/python tests/gen_keras_continue_fixture.py

For each case (adam: Adam(0.01); rmsprop: RMSprop(0.005, momentum 0.5,
centered)): Input(6, 2) -> GRU(4) -> Dense(1), compiled with the optimizer,
loss "mse", metrics ["mae"], fit 2 epochs on data.h5 (batch 8, no shuffle),
saved as <case>.keras (Keras's model.save: compile_config and the
optimizer's variables). Then, into <case>_expected.h5:

- w/<i>, opt/<i>: model.weights and model.optimizer.variables after
  load_model(<case>.keras) + fit 1 epoch (same data, batch 8, no shuffle):
  the saved optimizer's slots and iteration count continue;
- fresh/<i>: model.weights after load_model + compile(the same optimizer
  class and arguments, a new instance: slots 0, iteration 0) + fit 1 epoch,
  what a training that ignored the saved optimizer state would give.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "keras_continue")
os.makedirs(OUT, exist_ok=True)

rng = np.random.default_rng(11)
x = rng.normal(size=(32, 6, 2)).astype("float32")
y = (x[:, :, 0].sum(axis=1, keepdims=True) * 0.3 + 0.1).astype("float32")
with h5py.File(os.path.join(OUT, "data.h5"), "w") as f:
    f["x"] = x
    f["y"] = y

CASES = {
    "adam": lambda: keras.optimizers.Adam(learning_rate=0.01),
    "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate=0.005, momentum=0.5, centered=True),
}

import sys  # noqa: E402

for name, make_opt in CASES.items() if sys.argv[1:] != ["unbuilt"] else []:
    keras.utils.set_random_seed(5)
    m = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    m.compile(optimizer=make_opt(), loss="mse", metrics=["mae"])
    m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    path = os.path.join(OUT, name + ".keras")
    m.save(path)

    cont = keras.saving.load_model(path)
    cont.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    fresh = keras.saving.load_model(path)
    fresh.compile(optimizer=make_opt(), loss="mse", metrics=["mae"])
    fresh.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

    with h5py.File(os.path.join(OUT, name + "_expected.h5"), "w") as f:
        for i, w in enumerate(cont.weights):
            f[f"w/{i}"] = np.asarray(w.numpy(), dtype="float64")
        for i, v in enumerate(cont.optimizer.variables):
            f[f"opt/{i}"] = np.asarray(v.numpy(), dtype="float64")
        for i, w in enumerate(fresh.weights):
            f[f"fresh/{i}"] = np.asarray(w.numpy(), dtype="float64")
        f.attrs["iterations"] = int(cont.optimizer.iterations.numpy())
    d = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(cont.weights, fresh.weights))
    print(f"{name}: iterations {int(cont.optimizer.iterations.numpy())}, "
          f"continued vs fresh optimizer: max weight difference {d:.3g}")

# unbuilt: the same model compiled with Adam(0.01) and saved before any
# training, so Keras writes its optimizer unbuilt (optimizer/vars holds
# only iteration and learning_rate); w/<i>: weights after load_model + fit
# 1 epoch (Keras builds the slots at fit). Only these two files are written
# when run with the argument "unbuilt" (the other fixtures stay as they are).
keras.utils.set_random_seed(5)
m = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
m.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
path = os.path.join(OUT, "unbuilt.keras")
m.save(path)
cont = keras.saving.load_model(path)
cont.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
with h5py.File(os.path.join(OUT, "unbuilt_expected.h5"), "w") as f:
    for i, w in enumerate(cont.weights):
        f[f"w/{i}"] = np.asarray(w.numpy(), dtype="float64")
print("unbuilt: saved before training (optimizer/vars: iteration, learning_rate)")
