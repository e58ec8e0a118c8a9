#!/usr/bin/env python3
"""Checks by hand (CI has no Python) that Keras 3.15.1 reads the files
`rnnc train --save-model/--save-weights` and `rnnc export` write, and that
what rnnc trained equals what Keras's own fit trains.

    /work/kenv/bin/python tests/keras_reads_rnnc_train.py BUILD/rnnc [CASE...]

For each case (a Keras model, built and saved by Keras as init.keras, with
random data.h5): `rnnc train` (Adam 0.01, mse, 1 epoch, batch 8, no
shuffle) with --save-model and --save-weights; Keras fits init.keras the
same way. Printed, each the max |difference| of predictions:
  model    Keras(load_model(rnnc's .keras)) vs Keras's fit
  weights  Keras(init + load_weights(rnnc's .weights.h5)) vs Keras's fit
  slots    the optimizer variables Keras reads from rnnc's .weights.h5
           (compiled, built, load_weights) vs Keras's after its fit
  +1       one more epoch in Keras from each (continued training)
  mslots   the optimizer variables of load_model(rnnc's .keras) (compiled
           from its compile_config, slots from its model.weights.h5) vs
           Keras's after its fit
  m+1      one more epoch in Keras from load_model(rnnc's .keras) vs from
           Keras's own fit
  export   Keras(load_model(rnnc export CHECKPOINT x.keras)) vs model
Exits 1 when a difference exceeds 1e-5 (float32 noise here is ~1e-7).
Last run (Keras 3.15.1, 2026-12-07): worst 4.8e-7 (LayerNormalization),
every slot within 1.0e-7, one more epoch within 3.6e-7 (from rnnc's
.weights.h5 and from load_model of rnnc's .keras alike), export bit-equal
to --save-model. Before 9a86a66 batch_norm failed: rnnc refused Keras 3.15's
BatchNormalization config (renorm_clipping).
rnnc train --save-model writes compile_config and the optimizer's variables
(io/model_save.h): load_model gives a compiled model that goes on training
(mslots, m+1; before, it was uncompiled and fit raised). rnnc export of a
checkpoint writes the same compiled archive (the checkpoint records the
spec's compile section and the optimizer; tests/test_export_compiled.c).
"""
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers as L  # noqa: E402

RNNC = os.path.abspath(sys.argv[1])
T, F = 6, 3
CASES = {
    "gru": lambda i: L.Dense(2)(L.GRU(4)(i)),
    "gru_reset_after_false": lambda i: L.Dense(2)(L.GRU(4, reset_after=False)(i)),
    "gru_backwards_seq": lambda i: L.Dense(2)(L.GRU(4, go_backwards=True, return_sequences=True)(i)),
    "lstm": lambda i: L.Dense(2)(L.LSTM(4)(i)),
    "simple_rnn": lambda i: L.Dense(2)(L.SimpleRNN(4)(i)),
    "bidirectional": lambda i: L.Dense(2)(L.Bidirectional(L.GRU(3))(i)),
    "bidirectional_lstm_sum": lambda i: L.Dense(2)(
        L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum")(i)),
    "conv1d_maxpool": lambda i: L.Dense(2)(L.GRU(4)(L.MaxPooling1D(2)(L.Conv1D(5, 3, activation="relu")(i)))),
    "conv1d_avgpool_gap": lambda i: L.Dense(2)(
        L.GlobalAveragePooling1D()(L.AveragePooling1D(2)(L.Conv1D(5, 2, padding="same")(i)))),
    "layer_norm": lambda i: L.Dense(2)(L.LayerNormalization()(L.GRU(4)(i))),
    "batch_norm": lambda i: L.Dense(2)(L.BatchNormalization()(L.GRU(4, return_sequences=True)(i))),
    "time_distributed": lambda i: L.TimeDistributed(L.Dense(2))(L.GRU(3, return_sequences=True)(i)),
    "stacked_cells": lambda i: L.Dense(2)(L.RNN([L.GRUCell(3), L.LSTMCell(2)])(i)),
    "merge": lambda i: L.Dense(2)(L.Concatenate()([L.GRU(3)(i), L.Add()([L.LSTM(3)(i), L.SimpleRNN(3)(i)])])),
    "embedding_mask": None,
}


def compiled(m):
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return m


def run(name, d):
    keras.utils.set_random_seed(1)
    ints = name == "embedding_mask"
    inp = keras.Input((T,) if ints else (T, F))
    out = L.Dense(2)(L.GRU(4)(L.Embedding(7, 3, mask_zero=True)(inp))) if ints else CASES[name](inp)
    m = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    if ints:
        x = rng.integers(0, 7, (24, T)).astype("int32")
        x[:, :2] = 0
    else:
        x = rng.normal(size=(24, T, F)).astype("float32")
    y = rng.normal(size=(24,) + tuple(m.output_shape[1:])).astype("float32")
    with h5py.File(f"{d}/data.h5", "w") as f:
        f["x"], f["y"] = x, y
    m.save(f"{d}/init.keras")
    with open(f"{d}/s.yaml", "w") as f:
        f.write("model: init.keras\n"
                "compile: {optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse}\n"
                "fit: {epochs: 1, batch_size: 8, shuffle: false, verbose: 0, history: h}\n"
                "data: {path: data.h5}\ncheckpoint: {directory: ck}\n")
    r = subprocess.run([RNNC, "train", "s.yaml", "--save-model", "r.keras", "--save-weights", "r.weights.h5"],
                       cwd=d, capture_output=True, text=True)
    if r.returncode:
        return f"rnnc train failed: {r.stderr.strip()}", 1.0
    ck = sorted(f for f in os.listdir(f"{d}/ck") if f.endswith(".weights.h5"))[-1]
    r = subprocess.run([RNNC, "export", f"ck/{ck}", "x.keras"], cwd=d, capture_output=True, text=True)
    if r.returncode:
        return f"rnnc export failed: {r.stderr.strip()}", 1.0
    mk = compiled(keras.saving.load_model(f"{d}/init.keras"))
    mk.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    want = mk.predict(x, verbose=0)
    e_model = np.abs(keras.saving.load_model(f"{d}/r.keras").predict(x, verbose=0) - want).max()
    e_export = np.abs(keras.saving.load_model(f"{d}/x.keras").predict(x, verbose=0) - want).max()
    mo = compiled(keras.saving.load_model(f"{d}/init.keras"))
    mo.optimizer.build(mo.trainable_variables)
    mo.load_weights(f"{d}/r.weights.h5")
    e_weights = np.abs(mo.predict(x, verbose=0) - want).max()
    e_slots = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
                  for a, b in zip(mo.optimizer.variables, mk.optimizer.variables))
    ml = keras.saving.load_model(f"{d}/r.keras")
    if not ml.compiled or ml.optimizer is None or len(ml.optimizer.variables) != len(mk.optimizer.variables):
        return "load_model(rnnc's .keras) is not compiled with Keras's optimizer variables", 1.0
    e_mslots = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
                   for a, b in zip(ml.optimizer.variables, mk.optimizer.variables))
    mk.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    mo.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ml.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    want = mk.predict(x, verbose=0)
    e_more = np.abs(mo.predict(x, verbose=0) - want).max()
    e_mmore = np.abs(ml.predict(x, verbose=0) - want).max()
    errs = [float(e) for e in (e_model, e_weights, e_slots, e_more, e_mslots, e_mmore, e_export)]
    return ("model %.2g  weights %.2g  slots %.2g  +1 %.2g  mslots %.2g  m+1 %.2g  export %.2g"
            % tuple(errs)), max(errs)


worst = 0.0
for name in sys.argv[2:] or list(CASES):
    with tempfile.TemporaryDirectory() as d:
        text, err = run(name, d)
    worst = max(worst, err)
    print(f"{name}: {text}")
print(f"worst {worst:.3g}")
sys.exit(0 if worst <= 1e-5 else 1)
