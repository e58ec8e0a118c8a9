#!/usr/bin/env python3
"""Writes tests/fixtures/optim/autocast_metrics.h5 from Keras 3.15.1 on
TensorFlow, read by tests/test_autocast_metrics.c:

mixed/   Sequential [Input((5, 3)), GRU(4, return_sequences), Dense(2, dtype
         float64), GRU(3, dtype float64), Dense(1)]: float inputs are cast
         to each layer's dtype (Keras's autocast). Root attr model_mixed
         (JSON); w/<i>
         initial weights; x (4, 5, 3) float32; y_pred (predict); y; loss
         (2 epochs Adam(0.01), mse, batch 2, shuffle off); y_after.
f64data/ a float32 Sequential [Input((5, 3)), GRU(4), Dense(1)] given
         float64 x: the same keys (root attr model_f64data).
f64func/ the same as a Functional model (its Input converts the data).
metrics/ Dense(1) on (3,) inputs compiled with metrics=["mae"] and
         weighted_metrics=["mae"]: root attr metrics_keys (History keys, JSON, in
         Keras's order), w/<i>, x, y, sw, and per key its per-epoch values
         (hist/<key>, 2 epochs of SGD(0.1), batch 4, shuffle off).

Run from the repository root: /work/kenv/bin/python tests/gen_autocast_fixtures.py
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optim", "autocast_metrics.h5")
L = keras.layers


def rnn_case(f, name, layers, x_dtype, functional=False):
    keras.utils.set_random_seed(11)
    if functional:
        i = keras.Input((5, 3))
        h = i
        for lay in layers:
            h = lay(h)
        m = keras.Model(i, h)
    else:
        m = keras.Sequential([keras.Input((5, 3))] + layers)
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (4, 5, 3)).astype(x_dtype)
    y = rng.uniform(-1, 1, (4, 1)).astype(np.float32)
    g = f.create_group(name)
    f.attrs["model_" + name] = m.to_json()
    for i, w in enumerate(m.get_weights()):
        g["w/%d" % i] = w
    g["x"], g["y"] = x, y
    g["y_pred"] = m.predict(x, verbose=0)
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    h = m.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    g["loss"] = np.asarray(h.history["loss"], np.float64)
    g["y_after"] = m.predict(x, verbose=0)
    print(name, g["y_pred"].dtype, h.history["loss"])


def metrics_case(f):
    keras.utils.set_random_seed(3)
    m = keras.Sequential([keras.Input((3,)), L.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (8, 3)).astype(np.float32)
    y = rng.uniform(-1, 1, (8, 1)).astype(np.float32)
    sw = np.arange(1, 9).astype(np.float32)
    g = f.create_group("metrics")
    for i, w in enumerate(m.get_weights()):
        g["w/%d" % i] = w
    g["x"], g["y"], g["sw"] = x, y, sw
    h = m.fit(x, y, sample_weight=sw, batch_size=4, epochs=2, shuffle=False, verbose=0)
    f.attrs["metrics_keys"] = json.dumps(list(h.history.keys()))
    for k, v in h.history.items():
        g["hist/" + k] = np.asarray(v, np.float64)
    print("metrics", list(h.history.keys()))


def main():
    with h5py.File(OUT, "w") as f:
        rnn_case(f, "mixed", [L.GRU(4, return_sequences=True), L.Dense(2, dtype="float64"),
                              L.GRU(3, dtype="float64"), L.Dense(1)], np.float32)
        rnn_case(f, "f64data", [L.GRU(4), L.Dense(1)], np.float64)
        rnn_case(f, "f64func", [L.GRU(4), L.Dense(1)], np.float64, functional=True)
        metrics_case(f)


if __name__ == "__main__":
    main()
