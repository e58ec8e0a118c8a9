#!/usr/bin/env python3
"""Functional-model fixtures for tests/test_functional.c (tests/fixtures/functional/).

Run from the repository root with the Python that has Keras 3 (TensorFlow
backend, CPU) and h5py (made with keras 3.15.1, tensorflow-cpu 2.21):

    python3 tests/gen_functional_fixtures.py

CI has no Keras: the C test only reads the committed files.

Per case <name>, built with the Keras Functional API, every weight set to
seeded random values (biases too, so that they matter):
    <name>.json      model.to_json() (Keras 3 inbound_nodes form)
    <name>.h5        weights/<layer name>/<i>: layer.weights[i] for every
                     layer with weights (Keras order: GRU kernel,
                     recurrent_kernel, bias); x<i>: the inputs in
                     input_layers order (float32, int32 for token ids);
                     y<i>: model.predict(x)
                     for output i (float32); attribute n_inputs, n_outputs.
    <name>.weights.h5 [shared_gru, masked] model.save_weights(): Keras 3's
                     weights file of the same weights
    <name>_k2.json   [two_inputs, shared_gru, state_chain] the same model
                     written in the Keras 2 (tf.keras 2.x) config form, by
                     to_keras2() below: inbound_nodes as
                     [[layer, node, tensor, {kwargs}], ...] with kwargs
                     tensors as [layer, node, tensor], dtype strings, no
                     module / registered_name / build_config, InputLayer
                     batch_input_shape, GRU time_major / implementation,
                     no quantization_config or GlorotUniform axes,
                     input_layers and output_layers as lists. The expected
                     outputs are the Keras 3 model's (same weights). When the
                     converted config has no tensor kwargs, Keras 3 itself
                     loads it (its legacy .h5 path,
                     keras.src.legacy.saving.saving_utils.model_from_config)
                     and must give the same
                     outputs: checked here.

Cases:
    two_inputs   a (5, 3), b (4, 2) -> GRU(4) each -> Concatenate -> Dense(2)
    shared_gru   x, y (5, 3) -> one GRU(4) called on both -> Add ->
                 Dense(4) "sd" called twice in a row (call 1 takes call 0's
                 output)
    state_chain  x (5, 3) -> GRU(4, return_sequences, return_state) ->
                 GRU(4)(seq, initial_state=state); outputs [gru_2 output,
                 the first GRU's state (tensor index 1)]
    masked       x (6, 3) with padded steps -> Masking -> s1 = GRU(4, seq);
                 s2 = GRU(4, seq)(masked, initial_state=h0) (two tensor
                 arguments: the mask is not passed, yet s2's output carries
                 it); Maximum, Multiply, Average of s1 and s2 (all masked),
                 Concatenate(axis=1) of the average and s1 -> GRU(2) using
                 the joined mask; more outputs: Dense(2)(s2), and the
                 Maximum itself (its values on masked steps depend on
                 both inputs carrying the mask)
    embed_bidi   int32 ids (None,) with zero padding -> Embedding(10, 4,
                 mask_zero=True) -> Bidirectional(GRU(3, seq)) -> GRU(2)
                 (x0 stored as int32)
    merge_ops    p, q (4, 3), v (3,): Minimum([Masking(p), q]) and
                 Maximum([q, Masking(p)]) (one input masked), Subtract ->
                 Dropout(0.5)(training=True) (predict ignores it), Add of
                 ranks 3 and 2, Multiply([Masking(p), q]) -> Concatenate;
                 second output GRU(2) over Concatenate(axis=1)([q,
                 Masking(p)]) (a mask only on the second part)
"""
import copy
import json
import os
import sys
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402
from keras.src.legacy.saving import saving_utils as legacy_saving_utils  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "functional")
B = 3


def seed_for(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def two_inputs():
    a = keras.Input((5, 3), name="a")
    b = keras.Input((4, 2), name="b")
    ga = layers.GRU(4, name="ga")(a)
    gb = layers.GRU(3, name="gb")(b)
    c = layers.Concatenate(name="cat")([ga, gb])
    d = layers.Dense(2, name="out")(c)
    return keras.Model([a, b], d, name="two_inputs"), None


def shared_gru():
    x = keras.Input((5, 3), name="x")
    y = keras.Input((5, 3), name="y")
    g = layers.GRU(4, name="g")
    s = layers.Add(name="add")([g(x), g(y)])
    sd = layers.Dense(4, activation="tanh", name="sd")
    return keras.Model([x, y], sd(sd(s)), name="shared_gru"), None


def state_chain():
    x = keras.Input((5, 3), name="x")
    seq, h = layers.GRU(4, return_sequences=True, return_state=True, name="g1")(x)
    o = layers.GRU(4, name="g2")(seq, initial_state=h)
    return keras.Model(x, [o, h], name="state_chain"), None


def masked():
    x = keras.Input((6, 3), name="x")
    h0 = keras.Input((4,), name="h0")
    m = layers.Masking(0.0, name="mask")(x)
    s1 = layers.GRU(4, return_sequences=True, name="s1")(m)
    s2 = layers.GRU(4, return_sequences=True, name="s2")(m, initial_state=h0)
    mx = layers.Maximum(name="mx")([s1, s2])
    mu = layers.Multiply(name="mu")([s1, s2])
    av = layers.Average(name="av")([mx, mu])
    c = layers.Concatenate(axis=1, name="tcat")([av, s1])
    tail = layers.GRU(2, name="tail")(c)
    d = layers.Dense(2, name="d")(s2)

    def pad(xs, rng):
        xs[0][1, 4:, :] = 0.0   # right padding
        xs[0][2, 1:3, :] = 0.0  # a masked span inside
        xs[0][2, 5, :] = 0.0
        return xs
    return keras.Model([x, h0], [tail, d, mx], name="masked"), pad


def merge_ops():
    p = keras.Input((4, 3), name="p")
    q = keras.Input((4, 3), name="q")
    v = keras.Input((3,), name="v")
    mp = layers.Masking(0.0, name="mp")(p)
    mn = layers.Minimum(name="mn")([mp, q])
    mx = layers.Maximum(name="mx")([q, mp])
    sb = layers.Subtract(name="sb")([p, q])
    dr = layers.Dropout(0.5, name="dr")(sb, training=True)
    ad = layers.Add(name="ad")([p, v])
    mu = layers.Multiply(name="mu")([mp, q])
    cc = layers.Concatenate(name="cc")([mn, mx, dr, ad, mu])
    tc = layers.Concatenate(axis=1, name="tc")([q, mp])
    g = layers.GRU(2, name="g")(tc)

    def pad(xs, rng):
        xs[0][0, 3, :] = 0.0
        xs[0][1, 1, :] = 0.0
        xs[0][2, 0, :] = 0.0
        return xs
    return keras.Model([p, q, v], [cc, g], name="merge_ops"), pad


def embed_bidi():
    ids = keras.Input((None,), dtype="int32", name="ids")
    e = layers.Embedding(10, 4, mask_zero=True, name="emb")(ids)
    b = layers.Bidirectional(layers.GRU(3, return_sequences=True), name="bi")(e)
    o = layers.GRU(2, name="last")(b)

    def ints(xs, rng):
        t = rng.integers(1, 10, size=(B, 7)).astype("int32")
        t[1, 5:] = 0  # right padding
        t[2, 2] = 0   # a masked step inside
        return [t]
    return keras.Model(ids, o, name="embed_bidi"), ints


CASES = {
    "two_inputs": two_inputs,
    "shared_gru": shared_gru,
    "state_chain": state_chain,
    "masked": masked,
    "merge_ops": merge_ops,
    "embed_bidi": embed_bidi,
}
K2_CASES = ["two_inputs", "shared_gru", "state_chain"]
WEIGHTS_FILE_CASES = ["shared_gru", "masked"]


def randomize(model, rng):
    for l in model.layers:
        if l.weights:
            l.set_weights([rng.uniform(-0.6, 0.6, size=w.shape).astype("float32") for w in l.weights])


def input_data(model, rng, pad):
    xs = [rng.uniform(-1, 1, size=(B,) + tuple(d or 7 for d in t.shape[1:])).astype("float32")
          for t in model.inputs]
    return pad(xs, rng) if pad else xs


# ---- Keras 2 form ----------------------------------------------------------

def strip_k3(obj):
    """Keras 3 serialization -> Keras 2's: no module / registered_name,
    dtype policies as strings."""
    if isinstance(obj, list):
        return [strip_k3(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if obj.get("class_name") == "DTypePolicy":
        return obj["config"]["name"]
    out = {}
    for k, v in obj.items():
        # Keys Keras 2 did not write (quantization, GlorotUniform's axes).
        if k in ("module", "registered_name", "build_config", "quantization_config", "input_axes",
                 "output_axes"):
            continue
        out[k] = strip_k3(v)
    return out


def k2_tensor(t):
    return list(t["config"]["keras_history"])


def k2_kwargs(kwargs):
    out = {}
    for k, v in kwargs.items():
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            out[k] = k2_tensor(v)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            out[k] = [k2_tensor(t) for t in v]
        else:
            out[k] = v
    return out


def k2_node(node):
    """tf.keras Node.serialize: the first argument's tensors, each carrying
    the call's other arguments as kwargs."""
    args, kwargs = node["args"], k2_kwargs(node["kwargs"])
    if len(args) != 1:
        raise ValueError("only one positional argument is converted")
    first = args[0] if isinstance(args[0], list) else [args[0]]
    return [k2_tensor(t) + [kwargs] for t in first]


def to_keras2(k3):
    cfg = copy.deepcopy(k3["config"])
    out_layers = []
    for e in cfg["layers"]:
        e2 = {"class_name": e["class_name"], "config": strip_k3(e["config"]), "name": e["name"],
              "inbound_nodes": [k2_node(n) for n in e["inbound_nodes"]]}
        c = e2["config"]
        if e["class_name"] == "InputLayer":
            c = {"batch_input_shape": c["batch_shape"], "dtype": c["dtype"], "sparse": c["sparse"],
                 "ragged": c["ragged"], "name": c["name"]}
            e2["config"] = c
        if e["class_name"] == "GRU":
            c.pop("seed", None)
            c["time_major"] = False
            c["implementation"] = 2
        out_layers.append(e2)

    def as_list(v):
        return v if isinstance(v[0], list) else [v]
    return {"class_name": "Functional",
            "config": {"name": cfg["name"], "layers": out_layers,
                       "input_layers": as_list(cfg["input_layers"]),
                       "output_layers": as_list(cfg["output_layers"])},
            "keras_version": "2.4.0", "backend": "tensorflow"}


def has_tensor_kwargs(k2):
    for e in k2["config"]["layers"]:
        for node in e["inbound_nodes"]:
            for kw in (t[3] for t in node):
                if any(isinstance(v, list) for v in kw.values()):
                    return True
    return False


def write_case(name, build):
    keras.utils.set_random_seed(seed_for(name))
    rng = np.random.default_rng(seed_for(name))
    model, pad = build()
    randomize(model, rng)
    xs = input_data(model, rng, pad)
    ys = model.predict(xs, verbose=0)
    if not isinstance(ys, list):
        ys = [ys]
    text = model.to_json()
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        f.write(text)
    with h5py.File(os.path.join(OUT, name + ".h5"), "w") as f:
        f.attrs["n_inputs"] = len(xs)
        f.attrs["n_outputs"] = len(ys)
        for l in model.layers:
            for i, w in enumerate(l.weights):
                f.create_dataset("weights/%s/%d" % (l.name, i), data=np.asarray(w.numpy(), dtype="float32"))
        for i, x in enumerate(xs):
            f.create_dataset("x%d" % i, data=x)  # float32, or int32 token ids
        for i, y in enumerate(ys):
            f.create_dataset("y%d" % i, data=np.asarray(y, dtype="float32"))
    if name in WEIGHTS_FILE_CASES:
        model.save_weights(os.path.join(OUT, name + ".weights.h5"))
    # The saved config must rebuild the same model in Keras itself.
    again = keras.models.model_from_json(text)
    again.set_weights(model.get_weights())
    ys2 = again.predict(xs, verbose=0)
    ys2 = ys2 if isinstance(ys2, list) else [ys2]
    for a, b in zip(ys, ys2):
        assert np.allclose(a, b, atol=1e-6), name
    if name in K2_CASES:
        k2 = to_keras2(json.loads(text))
        with open(os.path.join(OUT, name + "_k2.json"), "w") as f:
            json.dump(k2, f)
        if not has_tensor_kwargs(k2):
            # Keras 3 refuses time_major (spec 12.3); everything else is read as written.
            k2_for_keras3 = copy.deepcopy(k2)
            for e in k2_for_keras3["config"]["layers"]:
                e["config"].pop("time_major", None)
            m2 = legacy_saving_utils.model_from_config(k2_for_keras3)
            m2.set_weights(model.get_weights())
            y3 = m2.predict(xs, verbose=0)
            y3 = y3 if isinstance(y3, list) else [y3]
            for a, b in zip(ys, y3):
                assert np.allclose(a, b, atol=1e-6), name + " (Keras 2 form)"
    print("wrote", name, [y.shape for y in ys])


def main():
    os.makedirs(OUT, exist_ok=True)
    names = sys.argv[1:] or list(CASES)
    for n in names:
        write_case(n, CASES[n])


if __name__ == "__main__":
    main()
