#!/usr/bin/env python3
"""Keras <-> rnnc model-file round trips: fixtures in tests/fixtures/roundtrip/.

Run from the repository root with the Python that has Keras 3 (TensorFlow
backend, CPU) and h5py (made with keras 3.15.1, tensorflow-cpu 2.21):

    python3 tests/gen_keras_roundtrip.py            # Keras -> rnnc fixtures
    python3 tests/gen_keras_roundtrip.py verify DIR  # rnnc -> Keras check

CI has no Keras: the C tests (test_weights_h5.c, test_model_files.c) only
read the committed files.

1. Keras -> rnnc (`gen`). Deterministic (numpy default_rng and
   keras.utils.set_random_seed seeded per case, oneDNN off). Per case
   <name>:
     <name>.json          model.to_json()
     <name>.weights.h5    model.save_weights() after compile + 2 fit steps
                          (so optimizer/vars holds Adam's 2 + 2 * n slots)
     <name>.keras         model.save()          [seq_gru, func_chain]
     <name>_legacy.h5     model.save("x.h5")    [seq_gru]
     <name>_io.h5         x (inputs) and y = model.predict(x) (float32)
   Cases:
     seq_gru     Sequential(Input((10, 8)), GRU(4), Dense(1))  (spec 11.1)
     two_gru     Sequential(Input((7, 3)), GRU(5, return_sequences,
                 reset_after=False), GRU(4), Dense(2, tanh)): the gru, gru_1
                 group keys
     func_chain  Functional Input -> GRU(6, return_sequences) -> Dropout ->
                 GRU(3) -> Dense(1), Keras 3 inbound_nodes form; also
                 func_chain_deflated.keras, the same archive re-zipped with
                 deflated members
     k2_hsig     a legacy .h5 whose GRU uses recurrent_activation and Dense
                 activation "hard_sigmoid", with its root and model_weights
                 keras_version attributes set to "2.4.0" (a Keras 2 file).
                 k2_hsig_io.h5 holds y_keras2 = Keras's own output for the
                 same weights with hard_sigmoid replaced by the callable
                 clip(0.2x + 0.5, 0, 1) (Keras 2's formula) and y_keras3 =
                 the output with Keras 3's hard_sigmoid.
     k3_hsig     the same model saved unmodified (keras_version 3.15.1).

2. rnnc -> Keras (`verify DIR`). DIR holds what rnnc wrote (the C test
   weights_h5::writes_models_for_keras writes build/rnnc_to_keras/, two_gru
   with rnnc's own initial weights, and build/rnnc_to_keras_bidi/, the
   interop sleepecg model with Masking, BatchNormalization, ReLU and two
   Bidirectional(GRU) as rnnc saves it): model.json (rnnc's get_config JSON),
   model.weights.h5 (rnnc_weights_save) and io.h5 (x and rnnc's predictions
   y_rnnc). Keras builds the model with keras.models.model_from_json, loads
   the weights with load_weights, predicts on x, and writes
   DIR/keras_output.h5 (y_keras) and DIR/verdict.json (max |y_keras -
   y_rnnc|, ok when <= 1e-5 + 1e-5 |y|). The committed copies live in
   tests/fixtures/roundtrip/rnnc_to_keras{,_bidi}/ (copy the five files
   after verifying); weights_h5::keras_loaded_what_rnnc_wrote checks them.
"""
import json
import os
import shutil
import sys
import zipfile
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "roundtrip")


def seed_for(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def train_briefly(model, x_shape, y_shape, rng):
    model.compile(optimizer="adam", loss="mse")
    x = rng.uniform(-1, 1, size=x_shape).astype("float32")
    y = rng.uniform(-1, 1, size=y_shape).astype("float32")
    model.fit(x, y, batch_size=x_shape[0] // 2, epochs=1, verbose=0, shuffle=False)


def write_io(path, x, **ys):
    with h5py.File(path, "w") as f:
        f["x"] = x.astype("float32")
        for k, v in ys.items():
            f[k] = np.asarray(v, dtype="float32")


def save_case(name, model, x, files=("json", "weights")):
    if "json" in files:
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            f.write(model.to_json())
    if "weights" in files:
        model.save_weights(os.path.join(OUT, name + ".weights.h5"))
    if "keras" in files:
        model.save(os.path.join(OUT, name + ".keras"))
    if "legacy" in files:
        model.save(os.path.join(OUT, name + "_legacy.h5"))
    y = model.predict(x, verbose=0)
    write_io(os.path.join(OUT, name + "_io.h5"), x, y=y)
    return y


def deflate_copy(src, dst):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, zin.read(item.filename), compress_type=zipfile.ZIP_DEFLATED)


def gen():
    os.makedirs(OUT, exist_ok=True)
    L = keras.layers

    name = "seq_gru"
    keras.utils.set_random_seed(seed_for(name))
    rng = np.random.default_rng(seed_for(name))
    m = keras.Sequential([keras.Input((10, 8)), L.GRU(4), L.Dense(1)])
    train_briefly(m, (8, 10, 8), (8, 1), rng)
    x = rng.uniform(-1, 1, size=(4, 10, 8)).astype("float32")
    save_case(name, m, x, files=("json", "weights", "keras", "legacy"))

    name = "two_gru"
    keras.utils.set_random_seed(seed_for(name))
    rng = np.random.default_rng(seed_for(name))
    m = keras.Sequential([keras.Input((7, 3)), L.GRU(5, return_sequences=True, reset_after=False),
                          L.GRU(4), L.Dense(2, activation="tanh")])
    train_briefly(m, (8, 7, 3), (8, 2), rng)
    x = rng.uniform(-1, 1, size=(4, 7, 3)).astype("float32")
    save_case(name, m, x)

    name = "func_chain"
    keras.utils.set_random_seed(seed_for(name))
    rng = np.random.default_rng(seed_for(name))
    i = keras.Input((6, 2))
    h = L.GRU(6, return_sequences=True)(i)
    h = L.Dropout(0.3)(h)
    h = L.GRU(3)(h)
    o = L.Dense(1)(h)
    m = keras.Model(i, o)
    train_briefly(m, (8, 6, 2), (8, 1), rng)
    x = rng.uniform(-1, 1, size=(4, 6, 2)).astype("float32")
    save_case(name, m, x, files=("json", "weights", "keras"))
    deflate_copy(os.path.join(OUT, name + ".keras"), os.path.join(OUT, name + "_deflated.keras"))

    # hard_sigmoid: the same weights under Keras 2's and Keras 3's formula.
    name = "k2_hsig"
    keras.utils.set_random_seed(seed_for(name))
    rng = np.random.default_rng(seed_for(name))

    def build(rec_act, act):
        return keras.Sequential([keras.Input((5, 3)), L.GRU(4, recurrent_activation=rec_act),
                                 L.Dense(2, activation=act)])

    m = build("hard_sigmoid", "hard_sigmoid")
    # Weights large enough that many pre-activations leave [-2.5, 2.5],
    # where the two formulas differ most.
    for w in m.weights:
        w.assign(rng.uniform(-1.5, 1.5, size=w.shape).astype("float32"))
    x = rng.uniform(-2, 2, size=(4, 5, 3)).astype("float32")

    def k2(t):
        return keras.ops.clip(0.2 * t + 0.5, 0.0, 1.0)

    m2 = build(k2, k2)
    m2.set_weights(m.get_weights())
    y2 = m2.predict(x, verbose=0)
    y3 = m.predict(x, verbose=0)
    assert np.max(np.abs(y2 - y3)) > 1e-2, "the two hard_sigmoid formulas should differ here"
    # An independent check of the Keras 2 numbers: NumPy GRU + Dense.
    ref = numpy_gru_dense(x.astype("float64"), [w.astype("float64") for w in m.get_weights()])
    assert np.max(np.abs(ref - y2)) < 1e-5, np.max(np.abs(ref - y2))
    legacy = os.path.join(OUT, name + ".h5")
    m.save(legacy)
    with h5py.File(legacy, "r+") as f:
        f.attrs["keras_version"] = "2.4.0"
        f["model_weights"].attrs["keras_version"] = "2.4.0"
    shutil.copy(legacy, os.path.join(OUT, "k3_hsig.h5"))
    with h5py.File(os.path.join(OUT, "k3_hsig.h5"), "r+") as f:
        f.attrs["keras_version"] = keras.__version__
        f["model_weights"].attrs["keras_version"] = keras.__version__
    write_io(os.path.join(OUT, name + "_io.h5"), x, y_keras2=y2, y_keras3=y3)

    gen_bad_archives()

    with open(os.path.join(OUT, "VERSIONS.txt"), "w") as f:
        import tensorflow as tf
        f.write("keras %s\ntensorflow %s\nh5py %s\nnumpy %s\n" % (
            keras.__version__, tf.__version__, h5py.__version__, np.__version__))
    print("wrote", OUT)


def gen_bad_archives():
    """Damaged .keras files for test_model_files.c (from seq_gru.keras)."""
    bad = os.path.join(OUT, "bad")
    os.makedirs(bad, exist_ok=True)
    with zipfile.ZipFile(os.path.join(OUT, "seq_gru.keras")) as z:
        members = {n: z.read(n) for n in z.namelist()}

    def write(name, items):
        with zipfile.ZipFile(os.path.join(bad, name), "w", zipfile.ZIP_STORED) as z:
            for n, data in items:
                z.writestr(n, data)

    write("no_weights.keras", [("metadata.json", members["metadata.json"]),
                               ("config.json", members["config.json"])])
    write("no_config.keras", [("metadata.json", members["metadata.json"]),
                              ("model.weights.h5", members["model.weights.h5"])])
    write("bad_config.keras", [("metadata.json", members["metadata.json"]),
                               ("config.json", b'{"class_name": "Sequential", "config": {'),
                               ("model.weights.h5", members["model.weights.h5"])])
    write("weights_not_hdf5.keras", [("metadata.json", members["metadata.json"]),
                                     ("config.json", members["config.json"]),
                                     ("model.weights.h5", b"this is not HDF5" * 8)])
    # One flipped byte inside the stored weights: the CRC no longer matches.
    write("crc.keras", [(n, members[n]) for n in ("metadata.json", "config.json", "model.weights.h5")])
    path = os.path.join(bad, "crc.keras")
    data = bytearray(open(path, "rb").read())
    at = data.find(b"\x89HDF\r\n\x1a\n") + 4000
    data[at] ^= 0xFF
    open(path, "wb").write(bytes(data))


def numpy_gru_dense(x, weights):
    """Keras 2 semantics: GRU(reset_after=True, tanh, hard_sigmoid 0.2x+0.5)
    then Dense(hard_sigmoid 0.2x+0.5), float64."""
    k, rk, b, dk, db = weights
    u = rk.shape[0]

    def hs(t):
        return np.clip(0.2 * t + 0.5, 0.0, 1.0)

    h = np.zeros((x.shape[0], u))
    for t in range(x.shape[1]):
        xi = x[:, t, :] @ k + b[0]
        hi = h @ rk + b[1]
        z = hs(xi[:, :u] + hi[:, :u])
        r = hs(xi[:, u:2 * u] + hi[:, u:2 * u])
        hh = np.tanh(xi[:, 2 * u:] + r * hi[:, 2 * u:])
        h = z * h + (1 - z) * hh
    return hs(h @ dk + db)


def verify(d):
    with open(os.path.join(d, "model.json")) as f:
        text = f.read()
    m = keras.models.model_from_json(text)
    m.load_weights(os.path.join(d, "model.weights.h5"))
    with h5py.File(os.path.join(d, "io.h5"), "r") as f:
        x = f["x"][...]
        y_rnnc = f["y_rnnc"][...]
    y = m.predict(x, verbose=0)
    diff = float(np.max(np.abs(y - y_rnnc)))
    ok = bool(np.all(np.abs(y - y_rnnc) <= 1e-5 + 1e-5 * np.abs(y)))
    with h5py.File(os.path.join(d, "keras_output.h5"), "w") as f:
        f["y_keras"] = y.astype("float32")
    verdict = {"keras_version": keras.__version__, "model_from_json": "ok", "load_weights": "ok",
               "n_weights": len(m.weights), "output_shape": list(y.shape),
               "max_abs_diff": diff, "ok": ok}
    with open(os.path.join(d, "verdict.json"), "w") as f:
        json.dump(verdict, f, indent=1)
    print(json.dumps(verdict))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "verify":
        sys.exit(verify(sys.argv[2]))
    gen()
