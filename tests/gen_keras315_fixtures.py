#!/usr/bin/env python3
"""Fixtures for tests/test_keras315_files.c: models as Keras 3.15.1 itself
saves them, with Keras's own outputs.

    /work/kenv/bin/python tests/gen_keras315_fixtures.py

bn_gru.keras: Input(6, 3) -> BatchNormalization -> GRU(4) -> Dense(2),
trained 2 epochs by Keras (so the moving statistics are not 0 and 1).
Keras 3.15 writes renorm, renorm_clipping and renorm_momentum into every
BatchNormalization config; bn_gru_io.h5 holds x and Keras's predict(x).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "keras315")
os.makedirs(OUT, exist_ok=True)
keras.utils.set_random_seed(1)
rng = np.random.default_rng(0)
m = keras.Sequential([keras.Input((6, 3)), keras.layers.BatchNormalization(), keras.layers.GRU(4),
                      keras.layers.Dense(2)])
x = (rng.normal(size=(16, 6, 3)) * 2 + 0.5).astype("float32")
y = rng.normal(size=(16, 2)).astype("float32")
m.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
bn = m.layers[0].get_config()
assert "renorm_clipping" in bn and "renorm_momentum" in bn, bn
m.save(os.path.join(OUT, "bn_gru.keras"))
with h5py.File(os.path.join(OUT, "bn_gru_io.h5"), "w") as f:
    f["x"] = x[:5]
    f["y"] = m.predict(x[:5], verbose=0)
