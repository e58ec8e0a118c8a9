#!/usr/bin/env python3
"""Checks by hand (CI has no Python) that Keras loads the .keras archives
rnnc_model_save writes and gives Keras's own outputs.

    1. with rnnc: rnnc_model_load("tests/fixtures/roundtrip/seq_gru.keras", &m);
       rnnc_model_save(m, "out.keras");
    2. python tests/keras_reads_rnnc_keras.py out.keras tests/fixtures/roundtrip/seq_gru_io.h5

Prints max |Keras(rnnc's archive)(x) - y| (y: Keras's output for the
original file); exits 1 above 1e-5. Last run (Keras 3.15.1): seq_gru 1.5e-08,
func_chain 0.0.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

model = keras.saving.load_model(sys.argv[1])
with h5py.File(sys.argv[2]) as f:
    x, y = f["x"][...], f["y"][...]
err = float(np.abs(model.predict(x, verbose=0) - y).max())
print(f"{sys.argv[1]}: max |Keras - expected| = {err:.3g}")
sys.exit(0 if err < 1e-5 else 1)
