#!/usr/bin/env python3
"""Fixture for tests/test_model_save_compiled.c: a compiled model as Keras
3.15.1's model.save writes it (config.json's compile_config, the optimizer's
variables under optimizer/vars in model.weights.h5).

    /work/kenv/bin/python tests/gen_keras_compile_fixture.py

adam_gru.keras: Input(3, 2) -> GRU(2) -> Dense(1), compiled with
Adam(0.01) (amsgrad, so it has every slot kind), loss "mse", metrics ["mae"],
weighted_metrics ["mse"], trained 2 batches (so the slots are not 0).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import keras  # noqa: E402
import numpy as np  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "keras_compile")
os.makedirs(OUT, exist_ok=True)
keras.utils.set_random_seed(3)
rng = np.random.default_rng(3)
m = keras.Sequential([keras.Input((3, 2)), keras.layers.GRU(2), keras.layers.Dense(1)])
m.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01, amsgrad=True), loss="mse", metrics=["mae"],
          weighted_metrics=["mse"])
x = rng.normal(size=(8, 3, 2)).astype("float32")
y = rng.normal(size=(8, 1)).astype("float32")
m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
m.save(os.path.join(OUT, "adam_gru.keras"))
