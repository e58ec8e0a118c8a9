#!/usr/bin/env python3
"""Functional-model fixtures for tests/test_cli_graph.c (tests/fixtures/cli_graph/):
`rnnc predict` and `rnnc inspect` on models whose graph is not a chain.

Run from the repository root with the Python that has Keras 3 (TensorFlow
backend, CPU) and h5py (made with keras 3.15.1, tensorflow-cpu 2.21):

    python3 tests/gen_cli_graph_fixtures.py

CI has no Keras: the C test only reads the committed files.

Per case <name>, built with the Keras Functional API, every weight (biases
too) set to seeded random values:
    <name>.keras        model.save() (config + weights), or for the cases in
                        JSON_CASES instead
    <name>.json         model.to_json() and
    <name>.weights.h5   model.save_weights()
    <name>.in.h5        the inputs, B = 3 samples, one dataset per model
                        input named after its Input layer (float32)
    <name>.out.h5       Keras's model.predict(): output_0, output_1, ... in
                        the model's output order (float32)
    <name>.summary.txt  Keras's model.summary(line_length=150) text (wide
                        enough that no cell wraps: one line per layer)
Some cases add inputs that exercise the other dataset names of
`rnnc predict` (docs/commands.md):
    two_inputs.idx.h5       the same inputs as x_0, x_1 (input order) and a
                            mask for input b as mask_1 ...
    two_inputs.masked.h5    ... or as a, b and mask_b;
    two_inputs.masked.out.h5  Keras's model([a, b], mask=[None, mask_b])
    branch_concat.masked.h5 x and mask (the only input's mask);
    branch_concat.masked.out.h5  Keras's model(x, mask=mask)

`rnnc generate` on a Functional character model (gen_branch):
    gen_branch.keras        int32 ids (None,) -> Embedding(96, 8) -> GRU(8,
                            seq) -> Dense(96) "a"; Dense(96) "b" on the
                            embedding; Add: logits over the chars task's 96 ids
    gen_branch.generate.h5  prime_ids (int32): the ids of PRIME; next_ids
                            (int32): the greedy continuation, GEN_STEPS ids,
                            each the argmax of Keras's last-step output on the
                            last GEN_WINDOW ids (what `rnnc generate` samples at
                            temperature 1e-3: every step's top logit leads the
                            next by >= 0.02; the first seed for which it does)

Cases:
    residual       x (5, 3) -> x + GRU(3, return_sequences)(x)
    two_outputs    x (5, 3) -> GRU(4, return_sequences, return_state):
                   outputs [sequence, Dense(2)(state)] (a chain: Keras
                   prints no "Connected to" column)
    two_heads      x (5, 3) -> GRU(4) -> Dense(2) "head_a", Dense(3,
                   softmax) "head_b": outputs [head_a, head_b]
    two_inputs     a (5, 3), b (4, 2) -> GRU each -> Concatenate -> Dense(2)
    state_input    seq (5, 3), h0 (4,) -> GRU(4)(seq, initial_state=h0) ->
                   Dense(1): an initial state given as a model input
    shared         x1, x2 (5, 3) -> one GRU(4) called on both -> Add ->
                   Dense(2)
    branch_concat  x (5, 3) -> GRU(4, seq) and GRU(2, seq) ->
                   Concatenate -> Dense(1) on every step
    bidi           x (6, 3) with zero padding -> Masking -> Bidirectional(
                   GRU(3, seq)) -> GRU(2) -> Dense(2) (a chain)
    bidi_branch    x (5, 3) -> Bidirectional(GRU(2)) and GRU(3) ->
                   Concatenate -> Dense(2)
"""
import io
import json
import os
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# rich, which prints the summary, crops it to the console width.
os.environ["COLUMNS"] = "160"

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "cli_graph")
B = 3


def seed_for(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def residual():
    x = keras.Input((5, 3), name="x")
    g = layers.GRU(3, return_sequences=True, name="gru")(x)
    return keras.Model(x, layers.Add(name="add")([x, g]), name="residual")


def two_outputs():
    x = keras.Input((5, 3), name="x")
    s, h = layers.GRU(4, return_sequences=True, return_state=True, name="gru")(x)
    return keras.Model(x, [s, layers.Dense(2, name="dense")(h)], name="two_outputs")


def two_heads():
    x = keras.Input((5, 3), name="x")
    g = layers.GRU(4, name="gru")(x)
    a = layers.Dense(2, name="head_a")(g)
    b = layers.Dense(3, activation="softmax", name="head_b")(g)
    return keras.Model(x, [a, b], name="two_heads")


def two_inputs():
    a = keras.Input((5, 3), name="a")
    b = keras.Input((4, 2), name="b")
    ga = layers.GRU(4, name="gru_a")(a)
    gb = layers.GRU(3, name="gru_b")(b)
    c = layers.Concatenate(name="concat")([ga, gb])
    return keras.Model([a, b], layers.Dense(2, name="out")(c), name="two_inputs")


def state_input():
    seq = keras.Input((5, 3), name="seq")
    h0 = keras.Input((4,), name="h0")
    g = layers.GRU(4, name="gru")(seq, initial_state=h0)
    return keras.Model([seq, h0], layers.Dense(1, name="dense")(g), name="state_input")


def shared():
    x1 = keras.Input((5, 3), name="x1")
    x2 = keras.Input((5, 3), name="x2")
    g = layers.GRU(4, name="shared_gru")
    s = layers.Add(name="add")([g(x1), g(x2)])
    return keras.Model([x1, x2], layers.Dense(2, name="dense")(s), name="shared")


def branch_concat():
    x = keras.Input((5, 3), name="x")
    g1 = layers.GRU(4, return_sequences=True, name="g1")(x)
    g2 = layers.GRU(2, return_sequences=True, name="g2")(x)
    c = layers.Concatenate(name="concat")([g1, g2])
    return keras.Model(x, layers.Dense(1, name="dense")(c), name="branch_concat")


def bidi():
    x = keras.Input((6, 3), name="x")
    m = layers.Masking(0.0, name="masking")(x)
    b = layers.Bidirectional(layers.GRU(3, return_sequences=True), name="bidi")(m)
    g = layers.GRU(2, name="gru")(b)
    return keras.Model(x, layers.Dense(2, name="dense")(g), name="bidi")


def bidi_branch():
    x = keras.Input((5, 3), name="x")
    b = layers.Bidirectional(layers.GRU(2), name="bidi")(x)
    g = layers.GRU(3, name="gru")(x)
    c = layers.Concatenate(name="concat")([b, g])
    return keras.Model(x, layers.Dense(2, name="dense")(c), name="bidi_branch")


def gen_branch():
    ids = keras.Input((None,), dtype="int32", name="ids")
    e = layers.Embedding(96, 8, name="emb")(ids)
    g = layers.GRU(8, return_sequences=True, name="gru")(e)
    a = layers.Dense(96, name="a")(g)
    b = layers.Dense(96, name="b")(e)
    return keras.Model(ids, layers.Add(name="add")([a, b]), name="gen_branch")


PRIME = "The GRU reads"
GEN_STEPS = 20
GEN_WINDOW = 16


def char_id(c):
    return 0 if c == "\n" else ord(c) - 31


def greedy(model, ids):
    """GEN_STEPS argmax ids after ids, or None when a step's top two logits
    are closer than 0.02 (sampling at temperature 1e-3 could then differ)."""
    ids = list(ids)
    nxt = []
    for _ in range(GEN_STEPS):
        ctx = np.asarray([ids[-GEN_WINDOW:]], dtype="int32")
        logits = np.asarray(model(ctx, training=False))[0, -1]
        top = np.sort(logits)[::-1]
        if top[0] - top[1] < 0.02:
            return None
        ids.append(int(np.argmax(logits)))
        nxt.append(ids[-1])
    return nxt


def write_generate_case():
    name = "gen_branch"
    prime = [char_id(c) for c in PRIME]
    for k in range(100):  # the first seed whose greedy path is clear-cut
        rng = np.random.default_rng(seed_for(name) + k)
        keras.utils.set_random_seed(seed_for(name) + k)
        model = gen_branch()
        randomize(model, rng)
        nxt = greedy(model, prime)
        if nxt is not None:
            break
    assert nxt is not None
    base = os.path.join(OUT, name)
    model.save(base + ".keras")
    write_h5(base + ".generate.h5", {"prime_ids": np.asarray(prime, dtype="int32"),
                                     "next_ids": np.asarray(nxt, dtype="int32")})
    print("%-14s seed +%d, greedy continuation %r" % (name, k, "".join("\n" if i == 0 else chr(i + 31) for i in nxt)))


CASES = {
    "residual": residual,
    "two_outputs": two_outputs,
    "two_heads": two_heads,
    "two_inputs": two_inputs,
    "state_input": state_input,
    "shared": shared,
    "branch_concat": branch_concat,
    "bidi": bidi,
    "bidi_branch": bidi_branch,
}
JSON_CASES = ["two_heads", "shared"]


def randomize(model, rng):
    for l in model.layers:
        if l.weights:
            l.set_weights([rng.uniform(-0.6, 0.6, size=w.shape).astype("float32") for w in l.weights])


def write_h5(path, datasets):
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)


def as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def outputs(ys):
    return {"output_%d" % i: np.asarray(y, dtype="float32") for i, y in enumerate(as_list(ys))}


def summary_text(model):
    lines = []
    model.summary(line_length=150, print_fn=lambda s, line_break=True: lines.append(s))
    return "".join(l if l.endswith("\n") else l + "\n" for l in lines)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, make in CASES.items():
        rng = np.random.default_rng(seed_for(name))
        keras.utils.set_random_seed(seed_for(name))
        model = make()
        randomize(model, rng)
        xs = [rng.uniform(-1, 1, size=(B,) + tuple(t.shape[1:])).astype("float32") for t in model.inputs]
        if name == "bidi":
            xs[0][1, 4:, :] = 0.0   # right padding
            xs[0][2, 1:3, :] = 0.0  # a masked span inside
        names = [t.name for t in model.inputs]
        assert names == [l.name for l in model.inputs], names
        ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        base = os.path.join(OUT, name)
        if name in JSON_CASES:
            with open(base + ".json", "w") as f:
                f.write(model.to_json())
            model.save_weights(base + ".weights.h5")
        else:
            model.save(base + ".keras")
        write_h5(base + ".in.h5", dict(zip(names, xs)))
        write_h5(base + ".out.h5", outputs(ys))
        with open(base + ".summary.txt", "w") as f:
            f.write(summary_text(model))

        if name == "two_inputs":
            mb = np.ones((B, 4), dtype="uint8")
            mb[0, 2:] = 0
            mb[2, 1] = 0
            ym = model(xs, mask=[None, mb.astype(bool)], training=False)
            assert np.abs(np.asarray(ym) - ys).max() > 1e-3, "the mask must change the output"
            write_h5(base + ".idx.h5", {"x_0": xs[0], "x_1": xs[1], "mask_1": mb})
            write_h5(base + ".masked.h5", {"a": xs[0], "b": xs[1], "mask_b": mb})
            write_h5(base + ".masked.out.h5", outputs(ym))
        if name == "branch_concat":
            m = np.ones((B, 5), dtype="uint8")
            m[1, 3:] = 0
            m[2, 0] = 0
            ym = model(xs[0], mask=m.astype(bool), training=False)
            assert np.abs(np.asarray(ym) - ys).max() > 1e-3, "the mask must change the output"
            write_h5(base + ".masked.h5", {"x": xs[0], "mask": m})
            write_h5(base + ".masked.out.h5", outputs(ym))
        print("%-14s inputs %s outputs %s" % (name, names, [tuple(y.shape) for y in as_list(ys)]))
    write_generate_case()


if __name__ == "__main__":
    main()
