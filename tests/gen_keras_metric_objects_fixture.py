#!/usr/bin/env python3
"""Fixtures for tests/test_metric_objects.c: metrics given to compile() as
Keras metric objects (serialized in a .keras archive's compile_config as
{"module": "keras.metrics", "class_name": ..., "config": {"name": ...}}),
and the same map form in a spec's compile.metrics.

    /work/kenv/bin/python tests/gen_keras_metric_objects_fixture.py

Input(5, 2) -> GRU(4) -> Dense(1, sigmoid), loss "binary_crossentropy",
Adam(0.01), metrics=[MeanAbsoluteError(), BinaryAccuracy(name="acc"),
BinaryCrossentropy(name="xent"), MeanSquaredError()], fit 1 epoch on
data.h5 (batch 8, no shuffle), saved as m.keras. expected.h5's string
attributes hold Keras's History.history as JSON:

- continue: load_model(m.keras) + fit 1 epoch (same data, batch 8, no
  shuffle): what `rnnc train` of a spec without a compile section does;
- recompile: load_model(m.keras) + compile(Adam(0.01), "binary_crossentropy",
  metrics=[MeanAbsoluteError(name="abs_err"), "mse",
  BinaryAccuracy(name="acc", threshold=0.3)],
  weighted_metrics=[MeanSquaredError()]) + fit 1 epoch: the spec's
  compile section in map form (RECOMPILE_SPEC below);
- recompile_acc_at_0.5: the "acc" of the same run with threshold 0.5, so the
  test can check the threshold made a difference.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "keras_metric_objects")
os.makedirs(OUT, exist_ok=True)

rng = np.random.default_rng(7)
x = rng.normal(size=(24, 5, 2)).astype("float32")
y = (x[:, :, 0].sum(axis=1, keepdims=True) > 0).astype("float32")
with h5py.File(os.path.join(OUT, "data.h5"), "w") as f:
    f["x"] = x
    f["y"] = y

keras.utils.set_random_seed(1)
m = keras.Sequential([keras.Input((5, 2)), keras.layers.GRU(4), keras.layers.Dense(1, activation="sigmoid")])
m.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
          metrics=[keras.metrics.MeanAbsoluteError(), keras.metrics.BinaryAccuracy(name="acc"),
                   keras.metrics.BinaryCrossentropy(name="xent"), keras.metrics.MeanSquaredError()])
m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
path = os.path.join(OUT, "m.keras")
m.save(path)

cont = keras.saving.load_model(path)
h_cont = cont.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history


def recompiled(threshold):
    r = keras.saving.load_model(path)
    r.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
              metrics=[keras.metrics.MeanAbsoluteError(name="abs_err"), "mse",
                       keras.metrics.BinaryAccuracy(name="acc", threshold=threshold)],
              weighted_metrics=[keras.metrics.MeanSquaredError()])
    return r.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history


h_re = recompiled(0.3)
h_re5 = recompiled(0.5)


def as_json(h):
    return json.dumps({k: [float(v) for v in vs] for k, vs in h.items()})


with h5py.File(os.path.join(OUT, "expected.h5"), "w") as f:
    f.attrs["continue"] = as_json(h_cont)
    f.attrs["recompile"] = as_json(h_re)
    f.attrs["recompile_acc_at_0.5"] = json.dumps(float(h_re5["acc"][0]))
print("continue", h_cont)
print("recompile", h_re)
print("recompile, threshold 0.5: acc", h_re5["acc"])
