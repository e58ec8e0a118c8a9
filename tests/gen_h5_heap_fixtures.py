#!/usr/bin/env python3
"""Fixtures for tests/test_h5_heap_refs.c: valid Keras files whose weights
hold the bytes of a global heap collection's signature ("GCOL", version 1)
followed by bytes that are no collection.

Run from the repository root with the Python that has Keras 3 (TensorFlow
backend, CPU) and h5py (made with keras 3.15.1, tensorflow-cpu 2.21):

    /work/kenv/bin/python tests/gen_h5_heap_fixtures.py

Writes tests/fixtures/h5_heap/:
  gcol_weights.keras      model.save(): Sequential(Input((5, 3)), GRU(4),
                          Dense(2)) whose Dense kernel's first 16 bytes are
                          "GCOL" 01 00 80 3f (two float32: 54332700.0 and
                          1.0000001), then the float32 0.5 and 0.25 (read as
                          a collection size: 0x3e8000003f000000, far past
                          the file's end)
  gcol_weights_legacy.h5  the same model, model.save("x.h5") (h5py's
                          variable-length strings: a real collection too)
  gcol_weights_io.h5      x (3, 5, 3) and y = model.predict(x), float32

The files are valid HDF5: the signature sits inside a dataset's raw data,
where HDF5 never looks for a collection (collections are reached only
through the heap IDs of variable-length data). CI has no Keras: the C test
reads the committed files.
"""
import os
import struct
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "h5_heap")

SIG = b"GCOL\x01\x00\x80\x3f" + struct.pack("<ff", 0.5, 0.25)


def main():
    os.makedirs(OUT, exist_ok=True)
    seed = zlib.crc32(b"gcol_weights") & 0x7FFFFFFF
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    L = keras.layers
    m = keras.Sequential([keras.Input((5, 3)), L.GRU(4), L.Dense(2)])
    kernel, bias = m.layers[1].get_weights()
    flat = kernel.reshape(-1).copy()
    flat[:4] = np.frombuffer(SIG, dtype="<f4")
    m.layers[1].set_weights([flat.reshape(kernel.shape), bias])
    assert m.layers[1].get_weights()[0].astype("<f4").tobytes()[:16] == SIG
    x = rng.uniform(-1, 1, size=(3, 5, 3)).astype("float32")
    y = m.predict(x, verbose=0)
    m.save(os.path.join(OUT, "gcol_weights.keras"))
    m.save(os.path.join(OUT, "gcol_weights_legacy.h5"))
    with h5py.File(os.path.join(OUT, "gcol_weights_io.h5"), "w") as f:
        f["x"] = x
        f["y"] = np.asarray(y, dtype="float32")
    with open(os.path.join(OUT, "gcol_weights_legacy.h5"), "rb") as f:
        data = f.read()
    assert data.count(SIG) == 1, "the signature is not in the legacy file once"
    print("y =", y.tolist())


if __name__ == "__main__":
    main()
