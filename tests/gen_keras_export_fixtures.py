"""Fixtures of tests/test_keras_export.c: .keras archives written by Keras
3.15.1 for a Sequential, a Functional and a Bidirectional model, whose
structure (members, metadata keys, config.json, weight datasets) rnnc's
`rnnc train --save-model` and `rnnc export` must reproduce.

It also checks, with real Keras, what CI cannot: that keras.saving.load_model
opens the archives rnnc writes (train --save-model and export of a
checkpoint, and the .weights.h5 export through load_weights) and predicts
the numbers rnnc predicts. Run with the Keras environment and a built rnnc:
    /work/kenv/bin/python tests/gen_keras_export_fixtures.py build-F/rnnc
Writes tests/fixtures/keras_export/: data.h5 (x, y), <kind>.json (the model),
<kind>.keras (Keras's archive of it, uncompiled, as model.save writes it).
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import keras  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "keras_export")
T, F, N = 5, 3, 32


def models():
    keras.utils.set_random_seed(1)
    seq = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(4, name="gru"), keras.layers.Dense(1, name="dense")],
                           name="seq")
    inp = keras.Input((T, F), name="x")
    h = keras.layers.GRU(4, return_sequences=True, name="gru_a")(inp)
    h = keras.layers.GRU(3, name="gru_b")(h)
    out = keras.layers.Dense(1, name="dense")(h)
    func = keras.Model(inp, out, name="func")
    bidi = keras.Sequential([keras.Input((T, F)), keras.layers.Bidirectional(keras.layers.GRU(3, name="gru"), name="bidi"),
                             keras.layers.Dense(1, name="dense")], name="bidi")
    return {"seq": seq, "func": func, "bidi": bidi}


def main():
    rnnc = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, T, F)).astype("float32")
    y = x[:, :, 0].sum(axis=1, keepdims=True).astype("float32")
    data = os.path.join(OUT, "data.h5")
    with h5py.File(data, "w") as f:
        f["x"], f["y"] = x, y
    for kind, m in models().items():
        with open(os.path.join(OUT, kind + ".json"), "w") as f:
            f.write(m.to_json())
        m.save(os.path.join(OUT, kind + ".keras"))
        if not rnnc:
            continue
        tmp = tempfile.mkdtemp()
        spec = os.path.join(tmp, "spec.yaml")
        with open(spec, "w") as f:
            f.write(f"model: {OUT}/{kind}.json\ncompile: {{optimizer: adam, loss: mse}}\n"
                    f"fit: {{epochs: 2, batch_size: 8, verbose: 0}}\ndata: {{path: {data}}}\n"
                    f"checkpoint: {{directory: ck}}\n")
        run = lambda *a: subprocess.run([rnnc, *a], cwd=tmp, check=True, capture_output=True, text=True)  # noqa: E731
        run("train", spec, "--save-model", "trained.keras")
        run("export", "ck/ckpt-000002.weights.h5", "export.keras")
        run("export", "ck/ckpt-000002.weights.h5", "export.weights.h5")
        with h5py.File(os.path.join(tmp, "in.h5"), "w") as f:
            f["x"] = x
        run("predict", "--model", "trained.keras", "--input", "in.h5", "--output", "out.h5")
        with h5py.File(os.path.join(tmp, "out.h5")) as f:
            want = f["output_0"][...]
        for name in ("trained.keras", "export.keras"):
            km = keras.saving.load_model(os.path.join(tmp, name))
            got = km.predict(x, verbose=0)
            d = float(np.abs(got - want).max())
            assert d < 1e-5, (kind, name, d)
            print(kind, name, "Keras load_model predicts rnnc's numbers, max diff %.2e" % d)
        fresh = models()[kind]
        fresh.load_weights(os.path.join(tmp, "export.weights.h5"))
        d = float(np.abs(fresh.predict(x, verbose=0) - want).max())
        assert d < 1e-5, (kind, "weights", d)
        print(kind, "export.weights.h5 through load_weights, max diff %.2e" % d)


if __name__ == "__main__":
    main()
