#!/usr/bin/env python3
"""Regenerate the LSTM oracle fixtures in tests/fixtures/lstm/ from Keras 3.

Run from the repository root with the Python that has Keras 3 (TensorFlow
backend, CPU) and h5py:

    /work/kenv/bin/python tests/gen_lstm_fixtures.py

Made with keras 3.15.1 / tensorflow-cpu. Deterministic: every case draws its
data from numpy's default_rng seeded with crc32(case name); oneDNN is off.
Before anything is written, every float64 case's outputs are checked
against an independent NumPy float64 implementation of the LSTM equations
(TensorFlow's masked-output rule: state frozen, previous output repeated,
zeros before the first valid step, zeros with zero_output_for_mask).

Layout of one case file <case>.h5 (read by tests/test_lstm_keras.c), as the
GRU's (tests/gen_gru_fixtures.py) with two initial states:
  attrs: config_json (json.dumps(layer.get_config())), dtype, training,
         n_outputs; stateful cases: n_calls, reset_before_call
  x (B,T,F); mask uint8 (B,T) [opt]; initial_h, initial_c (B,U) [opt]
  kernel (F,4U), recurrent_kernel (U,4U), bias (4U,) [if use_bias]
  output_<i>, dy_<i>, losses, grad_x, grad_initial_h, grad_initial_c,
  grad_kernel, grad_recurrent_kernel, grad_bias: gradients of
  sum_i sum(output_i * dy_i) + sum(layer.losses)
  stateful: x_call<k>, output_call<k>_<i>
Also listed: the PyTorch nn.LSTM cases of tests/gen_lstm_fixtures_torch.py
(torch_*.h5), rebuilt here with Keras and compared to 1e-10 first.
Also cell_config.json: LSTMCell(...).get_config() for two cells (key order).

Model files (models/): <name>.keras, <name>.json + <name>.weights.h5,
<name>_legacy.h5 (Keras 3's legacy writer) and <name>_io.h5 (x, y =
model.predict(x)), for a Sequential LSTM stack (seq_lstm), Masking +
Bidirectional(LSTM) + TimeDistributed(Dense) (bidi_td) and a Functional
graph using the LSTM's two states (func_state), and conv_front: Conv1D,
MaxPooling1D, LayerNormalization, SimpleRNN, Flatten, Dense, Reshape,
GlobalAveragePooling1D, RepeatVector, RNN(StackedRNNCells([LSTMCell,
GRUCell])), Dense; func_mix: a Functional graph with Masking,
Bidirectional(SimpleRNN), mask-aware GlobalAveragePooling1D,
TimeDistributed(Dense), Flatten, Conv1D, GlobalMaxPooling1D,
Bidirectional(RNN(StackedRNNCells)), Concatenate, LayerNormalization. k2_lstm.h5: a legacy file
marked keras_version 2.4.0 whose LSTM uses hard_sigmoid; k2_lstm_io.h5 holds
y_keras2 (Keras 2's 0.2x + 0.5, computed by the same model with that
function) and y_keras3. k2_cudnn_lstm.h5: a Keras 2 file holding a
CuDNNLSTM (its bias stored (8U,) as Keras 2's CuDNN layers store it);
k2_cudnn_lstm_io.h5 holds the equivalent LSTM's predictions.

Other recurrent layers (rnn/<case>.h5, read by tests/test_rnn_cells.c):
SimpleRNN, RNN(GRUCell | LSTMCell | SimpleRNNCell) and RNN(StackedRNNCells)
as serialized layers: attrs layer_json (keras.saving.serialize_keras_object
of the layer), dtype; datasets x, mask [opt], w_<i> (layer.weights in
order), output_<i> (the call's outputs flattened), dy_<i>, grad_x,
grad_w_<i>.

Sequence building blocks (layers/<case>.h5, same layout as rnn/, read by
tests/test_seq_layers.c): Conv1D (valid / same / causal padding, strides,
dilation, groups, channels_first, regularizers), MaxPooling1D,
AveragePooling1D, GlobalAveragePooling1D (with a mask), GlobalMaxPooling1D,
LayerNormalization (axes, center/scale off, rms_scaling), Flatten, Reshape,
RepeatVector.

Fine-tuning (finetune/<name>.keras + <name>_fit.h5, read by
tests/test_lstm_models.c): a model with random weights saved before Keras's
model.fit(x, y, batch_size=4, epochs=4, shuffle=False) with Adam(0.01) and
MSE; the file holds x, y, the optimizer's config (attribute optimizer), the
History's loss per epoch and the predictions after training. Models: an
LSTM stack, SimpleRNN, a Conv1D / pooling / LayerNormalization / GRU front
end, RNN(StackedRNNCells([LSTMCell, SimpleRNNCell])).

Not generated: dropout / recurrent_dropout (TF's RNG bits cannot be
matched; rnnc tests distribution and sharing of its own masks).
"""

import json
import os
import sys
import zlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures", "lstm")


def np_act(name):
    return {
        "tanh": np.tanh,
        "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
        "linear": lambda x: x,
        "relu": lambda x: np.maximum(x, 0.0),
        "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
        "softsign": lambda x: x / (1.0 + np.abs(x)),
    }[name]


def np_lstm(cfg, x, W, Rk, b, h0, c0, mask):
    """Keras 3 LSTM on TF's generic loop, float64; returns the outputs."""
    act, ract = np_act(cfg["activation"]), np_act(cfg["recurrent_activation"])
    B, T, _ = x.shape
    U = Rk.shape[0]
    h = np.zeros((B, U)) if h0 is None else h0.copy()
    c = np.zeros((B, U)) if c0 is None else c0.copy()
    order = range(T - 1, -1, -1) if cfg["go_backwards"] else range(T)
    ys, prev = [], np.zeros((B, U))
    for t in order:
        z = x[:, t] @ W + h @ Rk + (0 if b is None else b)
        i, f, g, o = (z[:, k * U:(k + 1) * U] for k in range(4))
        i, f, g, o = ract(i), ract(f), act(g), ract(o)
        cn = f * c + i * g
        hn = o * act(cn)
        keep = np.ones((B, 1), bool) if mask is None else mask[:, t:t + 1].astype(bool)
        h = np.where(keep, hn, h)
        c = np.where(keep, cn, c)
        y = np.where(keep, hn, 0.0 if cfg["zero_output_for_mask"] else prev)
        ys.append(y)
        prev = y
    out = [np.stack(ys, 1) if cfg["return_sequences"] else ys[-1]]
    if cfg["return_state"]:
        out += [h, c]
    return out


def check_close(what, got, want, tol):
    err = np.max(np.abs(np.asarray(got, np.float64) - want) / np.maximum(1.0, np.abs(want)))
    if not err < tol:
        sys.exit(f"{what}: differs from the NumPy reference by {err} (tol {tol})")


MASK = np.array([[1, 1, 1, 1, 1], [0, 1, 1, 0, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], np.uint8)


def build_cases():
    base = dict(B=4, T=5, F=3, U=3, dtype="float64", kw={}, mask=None, init=False,
                training=False, stateful_calls=0)
    cases = []

    def add(name, **over):
        c = dict(base)
        c["kw"] = dict(base["kw"])
        c.update(over)
        c["name"] = name
        cases.append(c)

    add("default_f64")
    add("default_f32", dtype="float32")
    add("seq_state", kw=dict(return_sequences=True, return_state=True))
    add("state_only", kw=dict(return_state=True))
    add("backwards_seq", kw=dict(go_backwards=True, return_sequences=True, return_state=True))
    add("mask_seq", mask=MASK, kw=dict(return_sequences=True, return_state=True))
    add("mask_last", mask=MASK)
    add("mask_zero_output", mask=MASK, kw=dict(return_sequences=True, zero_output_for_mask=True))
    add("mask_backwards", mask=MASK, kw=dict(go_backwards=True, return_sequences=True,
                                             return_state=True))
    add("initial_state", init=True, kw=dict(return_sequences=True, return_state=True))
    add("initial_state_mask", init=True, mask=MASK, kw=dict(return_state=True))
    add("no_bias", kw=dict(use_bias=False, return_sequences=True))
    add("no_forget_bias", kw=dict(unit_forget_bias=False))
    add("act_relu_hard_sigmoid", kw=dict(activation="relu", recurrent_activation="hard_sigmoid",
                                         return_sequences=True))
    add("act_linear_sigmoid", kw=dict(activation="linear", return_sequences=True))
    add("act_tanh_softsign", kw=dict(recurrent_activation="softsign", return_state=True))
    add("regularizers", kw="regs")
    add("unroll", kw=dict(unroll=True, return_sequences=True, return_state=True), mask=MASK)
    add("implementation_1", kw=dict(implementation=1, return_sequences=True))
    add("seq_f32", dtype="float32", init=True, mask=MASK,
        kw=dict(return_sequences=True, return_state=True))
    add("training_no_dropout", training=True, kw=dict(return_sequences=True))
    add("stateful", B=2, stateful_calls=3, kw=dict(stateful=True, return_sequences=True))
    return cases


def make_layer(keras, c):
    kw = c["kw"]
    if kw == "regs":
        R = keras.regularizers
        kw = dict(kernel_regularizer=R.L2(0.01), recurrent_regularizer=R.L1(0.02),
                  bias_regularizer=R.L1L2(l1=0.01, l2=0.02), activity_regularizer=R.L2(0.03),
                  return_sequences=True)
    return keras.layers.LSTM(c["U"], name="lstm", dtype=c["dtype"], **kw)


def gen_case(keras, tf, c):
    name, dt = c["name"], np.dtype(c["dtype"])
    B, T, F, U = c["B"], c["T"], c["F"], c["U"]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    layer = make_layer(keras, c)
    cfg = layer.get_config()
    ncalls = c["stateful_calls"]
    xs = [rng.uniform(-1, 1, (B, T, F)).astype(dt) for _ in range(max(1, ncalls))]
    h0 = rng.uniform(-1, 1, (B, U)).astype(dt) if c["init"] else None
    c0 = rng.uniform(-1, 1, (B, U)).astype(dt) if c["init"] else None
    mask = c["mask"]
    layer.build((B, T, F))
    ws = [rng.uniform(-0.5, 0.5, tuple(w.shape)).astype(dt) for w in layer.weights]
    layer.set_weights(ws)
    wnames = ["kernel", "recurrent_kernel", "bias"][:len(ws)]
    data = {"x": xs[0]}
    if mask is not None:
        data["mask"] = mask
    if h0 is not None:
        data["initial_h"], data["initial_c"] = h0, c0
    data.update(dict(zip(wnames, ws)))
    attrs = {"config_json": json.dumps(cfg), "dtype": dt.name, "training": int(c["training"])}
    f64 = lambda a: None if a is None else np.asarray(a, np.float64)
    tol = 1e-10 if dt == np.float64 else 2e-6

    if ncalls:
        del data["x"]
        for k in range(ncalls):
            if k == ncalls - 1:
                layer.reset_state()
            outs = layer(tf.constant(xs[k]), training=c["training"])
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            data["x_call%d" % k] = xs[k]
            for i, o in enumerate(outs):
                data["output_call%d_%d" % (k, i)] = o.numpy()
        attrs.update(n_calls=ncalls, reset_before_call=ncalls - 1, n_outputs=len(outs))
        return data, attrs

    xt = tf.constant(xs[0])
    init = [tf.constant(h0), tf.constant(c0)] if h0 is not None else None
    mt = tf.constant(mask.astype(bool)) if mask is not None else None
    with tf.GradientTape() as tape:
        tape.watch(xt)
        if init:
            for s in init:
                tape.watch(s)
        outs = layer(xt, initial_state=init, mask=mt, training=c["training"])
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        dys = [rng.uniform(-1, 1, tuple(o.shape)).astype(dt) for o in outs]
        reg = tf.add_n(layer.losses) if layer.losses else tf.constant(0, dt)
        loss = tf.add_n([tf.reduce_sum(o * d) for o, d in zip(outs, dys)]) + tf.cast(reg, dt)
    srcs = [xt] + (init or []) + list(layer.trainable_weights)
    grads = tape.gradient(loss, srcs)
    gnames = ["x"] + (["initial_h", "initial_c"] if init else []) + wnames
    ref = np_lstm(cfg, f64(xs[0]), f64(ws[0]), f64(ws[1]), f64(ws[2]) if len(ws) > 2 else None,
                  f64(h0), f64(c0), mask)
    assert len(ref) == len(outs), name
    for i, (o, r) in enumerate(zip(outs, ref)):
        check_close(f"{name} output_{i}", o.numpy(), r, tol)
    for i, (o, d) in enumerate(zip(outs, dys)):
        data["output_%d" % i] = o.numpy().astype(dt)
        data["dy_%d" % i] = d
    data["losses"] = np.array(reg.numpy(), dtype=dt)
    for gn, g in zip(gnames, grads):
        data["grad_" + gn] = g.numpy().astype(dt)
    attrs["n_outputs"] = len(outs)
    return data, attrs


# Written by tests/gen_lstm_fixtures_torch.py (run with /usr/bin/python3).
TORCH_CASES = ["torch_lstm_seq", "torch_lstm_seq_init"]


def check_torch_case(keras, tf, h5py, path):
    """Rebuilds a PyTorch-made fixture with Keras and compares everything."""
    with h5py.File(path, "r") as f:
        cfg = json.loads(f.attrs["config_json"])
        d = {k: f[k][()] for k in f.keys()}
    layer = keras.layers.LSTM.from_config(cfg)
    layer.build(d["x"].shape)
    layer.set_weights([d["kernel"], d["recurrent_kernel"], d["bias"]])
    xt = tf.constant(d["x"])
    init = [tf.constant(d["initial_h"]), tf.constant(d["initial_c"])] if "initial_h" in d else []
    with tf.GradientTape() as tape:
        tape.watch(xt)
        for t in init:
            tape.watch(t)
        outs = layer(xt, initial_state=init or None)
        loss = tf.add_n([tf.reduce_sum(o * d["dy_%d" % i]) for i, o in enumerate(outs)])
    names = ["x"] + (["initial_h", "initial_c"] if init else []) + \
        ["kernel", "recurrent_kernel", "bias"]
    grads = tape.gradient(loss, [xt] + init + list(layer.trainable_weights))
    for i, o in enumerate(outs):
        check_close(f"{path} output_{i}", o.numpy(), d["output_%d" % i], 1e-10)
    for n, g in zip(names, grads):
        check_close(f"{path} grad_{n}", g.numpy(), d["grad_" + n], 1e-10)


def write_case(h5py, path, data, attrs):
    with h5py.File(path, "w") as f:
        for k, v in attrs.items():
            f.attrs[k] = v if isinstance(v, str) else np.int64(v)
        for k, v in data.items():
            f.create_dataset(k, data=np.asarray(v), track_times=False)


def randomize(model, rng):
    model.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype(w.dtype)
                       for w in model.get_weights()])


def gen_models(keras, h5py):
    L = keras.layers
    out = os.path.join(OUT_DIR, "models")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    x = rng.uniform(-1, 1, (4, 5, 3)).astype("float32")
    x[1, 3:] = 0.0  # masked by Masking in bidi_td

    def io(name, **ys):
        with h5py.File(os.path.join(out, name + "_io.h5"), "w") as f:
            f["x"] = x
            for k, v in ys.items():
                f[k] = np.asarray(v, "float32")

    seq = keras.Sequential([keras.Input((5, 3)), L.LSTM(4, return_sequences=True),
                            L.LSTM(3, go_backwards=True), L.Dense(2)], name="seq_lstm")
    bidi = keras.Sequential([keras.Input((5, 3)), L.Masking(0.0),
                             L.Bidirectional(L.LSTM(3, return_sequences=True)),
                             L.TimeDistributed(L.Dense(2))], name="bidi_td")
    inp = keras.Input((5, 3))
    o, h, c = L.LSTM(4, return_state=True)(inp)
    func = keras.Model(inp, L.Dense(2)(L.Concatenate()([o, h, c])), name="func_state")
    conv_front = keras.Sequential([keras.Input((5, 3)), L.Conv1D(4, 2, padding="causal"),
                             L.MaxPooling1D(2, padding="same"), L.LayerNormalization(),
                             L.SimpleRNN(3, return_sequences=True), L.Flatten(), L.Dense(6),
                             L.Reshape((2, 3)), L.GlobalAveragePooling1D(), L.RepeatVector(2),
                             L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)])),
                             L.Dense(2)], name="conv_front")
    inp = keras.Input((5, 3))
    mk = L.Masking(0.0)(inp)
    seqs = L.Bidirectional(L.SimpleRNN(3, return_sequences=True))(mk)
    pooled = L.GlobalAveragePooling1D()(seqs)  # mask-aware: the Masking mask reaches it
    td = L.Flatten()(L.TimeDistributed(L.Dense(2))(seqs))
    conv = L.GlobalMaxPooling1D()(L.Conv1D(3, 2, padding="same")(inp))
    rnn = L.Bidirectional(L.RNN(L.StackedRNNCells([L.LSTMCell(2), L.GRUCell(2)])))(inp)
    cat = L.Concatenate()([pooled, td, conv, rnn])
    func_mix = keras.Model(inp, L.Dense(2)(L.LayerNormalization()(cat)), name="func_mix")
    for name, m in (("seq_lstm", seq), ("bidi_td", bidi), ("func_state", func),
                    ("conv_front", conv_front), ("func_mix", func_mix)):
        # conv_front draws from its own generator so the other files stay as they were
        randomize(m, np.random.default_rng(99 if name == "conv_front" else 98)
                  if name in ("conv_front", "func_mix") else rng)
        m.save(os.path.join(out, name + ".keras"))
        with open(os.path.join(out, name + ".json"), "w") as f:
            f.write(m.to_json())
        m.save_weights(os.path.join(out, name + ".weights.h5"))
        m.save(os.path.join(out, name + "_legacy.h5"))
        io(name, y=m.predict(x, verbose=0))

    # Keras 2's hard_sigmoid (0.2x + 0.5) in a file marked as Keras 2's.
    def k2(t):
        return keras.ops.clip(0.2 * t + 0.5, 0.0, 1.0)

    def k2_model(rec):
        return keras.Sequential([keras.Input((5, 3)), L.LSTM(4, recurrent_activation=rec),
                                 L.Dense(2)], name="k2_lstm")

    m3, m2 = k2_model("hard_sigmoid"), k2_model(k2)
    randomize(m3, rng)
    m2.set_weights(m3.get_weights())
    y2, y3 = m2.predict(x, verbose=0), m3.predict(x, verbose=0)
    assert np.max(np.abs(y2 - y3)) > 1e-2, "the two hard_sigmoid formulas should differ here"
    path = os.path.join(out, "k2_lstm.h5")
    m3.save(path)
    with h5py.File(path, "r+") as f:
        f.attrs["keras_version"] = "2.4.0"
        f["model_weights"].attrs["keras_version"] = "2.4.0"
    io("k2_lstm", y_keras2=y2, y_keras3=y3)

    # Keras 2's CuDNNLSTM: the same file layout with class CuDNNLSTM (its
    # config keys only) and the bias stored as (8U,) input + recurrent
    # biases, which sum to the LSTM's bias; expected output: the LSTM's.
    m = keras.Sequential([keras.Input((5, 3)), L.LSTM(4, return_sequences=True),
                          L.Dense(2)], name="k2_cudnn")
    randomize(m, np.random.default_rng(77))
    path = os.path.join(out, "k2_cudnn_lstm.h5")
    m.save(path)
    keep = ["name", "trainable", "dtype", "units", "kernel_initializer",
            "recurrent_initializer", "bias_initializer", "unit_forget_bias",
            "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
            "activity_regularizer", "kernel_constraint", "recurrent_constraint",
            "bias_constraint", "return_sequences", "return_state", "go_backwards", "stateful"]
    split = np.random.default_rng(78)
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "LSTM":
                layer["class_name"] = "CuDNNLSTM"
                layer["config"] = {k: v for k, v in layer["config"].items() if k in keep}
                lname = layer["config"]["name"]
        f.attrs["model_config"] = json.dumps(cfg)
        f.attrs["keras_version"] = "2.4.0"
        f["model_weights"].attrs["keras_version"] = "2.4.0"
        biases = []
        f["model_weights"][lname].visititems(
            lambda n, o: biases.append(n) if isinstance(o, h5py.Dataset) and "bias" in n else None)
        assert len(biases) == 1, biases
        g = f["model_weights"][lname]
        b = g[biases[0]][()]
        b1 = split.uniform(-0.5, 0.5, b.shape).astype(b.dtype)
        del g[biases[0]]
        g[biases[0]] = np.concatenate([b1, b - b1])
    io("k2_cudnn_lstm", y=m.predict(x, verbose=0))


def write_layer_case(keras, tf, h5py, path, layer, x, mask, rng):
    layer.build(x.shape)
    ws = [rng.uniform(-0.6, 0.6, tuple(w.shape)) for w in layer.weights]
    if ws:
        layer.set_weights(ws)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        kw = {} if mask is None else {"mask": tf.constant(mask.astype(bool))}
        outs = layer(xt, **kw)
        outs = keras.tree.flatten(outs)
        dys = [rng.uniform(-1, 1, tuple(o.shape)) for o in outs]
        loss = tf.add_n([tf.reduce_sum(o * d) for o, d in zip(outs, dys)])
        if layer.losses:
            loss = loss + tf.add_n(layer.losses)
    grads = tape.gradient(loss, [xt] + list(layer.trainable_weights))
    with h5py.File(path, "w") as f:
        f.attrs["layer_json"] = json.dumps(keras.saving.serialize_keras_object(layer))
        f.attrs["dtype"] = "float64"
        f.attrs["n_outputs"] = np.int64(len(outs))
        f.create_dataset("losses", data=np.float64(tf.add_n(layer.losses)) if layer.losses
                         else np.float64(0.0), track_times=False)
        f.create_dataset("x", data=x, track_times=False)
        if mask is not None:
            f.create_dataset("mask", data=mask, track_times=False)
        for i, w in enumerate(ws):
            f.create_dataset("w_%d" % i, data=w, track_times=False)
            f.create_dataset("grad_w_%d" % i, data=grads[1 + i].numpy(), track_times=False)
        for i, (o, d) in enumerate(zip(outs, dys)):
            f.create_dataset("output_%d" % i, data=o.numpy(), track_times=False)
            f.create_dataset("dy_%d" % i, data=d, track_times=False)
        f.create_dataset("grad_x", data=grads[0].numpy(), track_times=False)


def gen_layer_cases(keras, tf, h5py):
    L = keras.layers
    out = os.path.join(OUT_DIR, "layers")
    os.makedirs(out, exist_ok=True)
    d = dict(dtype="float64")
    mask2 = MASK.copy()
    mask2[3, 2] = 1
    cases = {
        "conv1d_valid": (lambda: L.Conv1D(4, 3, **d), (4, 7, 3), None),
        "conv1d_same_strides": (lambda: L.Conv1D(4, 3, strides=2, padding="same", **d),
                                (3, 8, 3), None),
        "conv1d_causal_dilation": (lambda: L.Conv1D(3, 2, padding="causal", dilation_rate=2,
                                                    activation="relu", **d), (3, 7, 2), None),
        "conv1d_groups_channels_first": (lambda: L.Conv1D(4, 2, groups=2,
                                                          data_format="channels_first", **d),
                                         (3, 4, 6), None),
        "conv1d_regularizers": (lambda: L.Conv1D(2, 3, use_bias=False, kernel_regularizer="l2",
                                                 activity_regularizer="l1", **d),
                                (2, 5, 3), None),
        "conv1d_same_even_kernel": (lambda: L.Conv1D(2, 4, padding="same", **d), (2, 5, 3), None),
        "max_pool_valid": (lambda: L.MaxPooling1D(2, **d), (3, 7, 3), None),
        "max_pool_same_stride1": (lambda: L.MaxPooling1D(3, strides=1, padding="same", **d),
                                  (3, 6, 2), None),
        "avg_pool_same": (lambda: L.AveragePooling1D(3, strides=2, padding="same", **d),
                          (3, 8, 2), None),
        "avg_pool_channels_first": (lambda: L.AveragePooling1D(2, data_format="channels_first",
                                                               **d), (2, 3, 6), None),
        "global_avg_mask": (lambda: L.GlobalAveragePooling1D(**d), (4, 5, 3), mask2),
        "global_avg_channels_first_keepdims": (lambda: L.GlobalAveragePooling1D(
            data_format="channels_first", keepdims=True, **d), (2, 3, 5), None),
        "global_max": (lambda: L.GlobalMaxPooling1D(**d), (4, 5, 3), None),
        "global_max_channels_first": (lambda: L.GlobalMaxPooling1D(
            data_format="channels_first", keepdims=True, **d), (2, 3, 5), None),
        "layer_norm": (lambda: L.LayerNormalization(**d), (4, 5, 3), None),
        "layer_norm_axes_no_center": (lambda: L.LayerNormalization(axis=[1, 2], center=False,
                                                                   epsilon=0.01, **d),
                                      (3, 4, 3), None),
        "layer_norm_rms": (lambda: L.LayerNormalization(rms_scaling=True, **d), (3, 4, 5), None),
        "layer_norm_regularized": (lambda: L.LayerNormalization(gamma_regularizer="l2",
                                                                beta_regularizer="l1", **d),
                                   (2, 3, 4), None),
        "flatten": (lambda: L.Flatten(**d), (3, 4, 2), None),
        "flatten_channels_first": (lambda: L.Flatten(data_format="channels_first", **d),
                                   (3, 4, 2), None),
        "reshape": (lambda: L.Reshape((2, 6), **d), (3, 4, 3), None),
        "reshape_free": (lambda: L.Reshape((-1, 2), **d), (3, 4, 3), None),
        "repeat_vector": (lambda: L.RepeatVector(3, **d), (4, 3), None),
    }
    for name, (make, shape, mask) in cases.items():
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        x = rng.uniform(-1, 1, shape)
        write_layer_case(keras, tf, h5py, os.path.join(out, name + ".h5"), make(), x, mask, rng)
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("# written by tests/gen_lstm_fixtures.py\n" + "".join(n + "\n" for n in cases))


def gen_rnn_cases(keras, tf, h5py):
    L = keras.layers
    out = os.path.join(OUT_DIR, "rnn")
    os.makedirs(out, exist_ok=True)
    cases = {
        "simple_rnn_seq_state": lambda: L.SimpleRNN(3, return_sequences=True, return_state=True,
                                                    dtype="float64"),
        "simple_rnn_mask_backwards": lambda: L.SimpleRNN(3, go_backwards=True, dtype="float64"),
        "simple_rnn_relu_nobias": lambda: L.SimpleRNN(2, activation="relu", use_bias=False,
                                                      return_sequences=True, dtype="float64",
                                                      kernel_regularizer="l2"),
        "rnn_gru_cell": lambda: L.RNN(L.GRUCell(3, dtype="float64"), return_sequences=True,
                                      dtype="float64"),
        "rnn_lstm_cell": lambda: L.RNN(L.LSTMCell(3, dtype="float64"), return_state=True,
                                       dtype="float64"),
        "rnn_simple_cell_mask": lambda: L.RNN(L.SimpleRNNCell(2, dtype="float64"),
                                              go_backwards=True, return_sequences=True,
                                              dtype="float64"),
        "stacked_lstm_simple": lambda: L.RNN(L.StackedRNNCells(
            [L.LSTMCell(3, dtype="float64"), L.SimpleRNNCell(2, dtype="float64")],
            dtype="float64"), return_sequences=True, return_state=True, dtype="float64"),
        "stacked_gru_lstm": lambda: L.RNN(L.StackedRNNCells(
            [L.GRUCell(3, dtype="float64"), L.LSTMCell(2, dtype="float64")], dtype="float64"),
            dtype="float64"),
    }
    names = []
    for name, make in cases.items():
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        x = rng.uniform(-1, 1, (4, 5, 3))
        write_layer_case(keras, tf, h5py, os.path.join(out, name + ".h5"), make(), x,
                         MASK if "mask" in name else None, rng)
        names.append(name)
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("# written by tests/gen_lstm_fixtures.py\n" + "".join(n + "\n" for n in names))


def gen_finetune(keras, h5py):
    L = keras.layers
    out = os.path.join(OUT_DIR, "finetune")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(4321)
    x = rng.uniform(-1, 1, (16, 6, 3)).astype("float32")
    y = rng.uniform(-1, 1, (16, 2)).astype("float32")
    inp = lambda: keras.Input((6, 3))
    models = {
        "ft_lstm": lambda: keras.Sequential([inp(), L.LSTM(5, return_sequences=True),
                                             L.LSTM(4), L.Dense(2)]),
        "ft_simple_rnn": lambda: keras.Sequential([inp(), L.SimpleRNN(4), L.Dense(2)]),
        "ft_conv": lambda: keras.Sequential([inp(), L.Conv1D(4, 2, padding="same"),
                                             L.MaxPooling1D(2), L.LayerNormalization(),
                                             L.GRU(3), L.Dense(2)]),
        "ft_stacked": lambda: keras.Sequential([inp(), L.RNN(L.StackedRNNCells(
            [L.LSTMCell(4), L.SimpleRNNCell(3)])), L.Dense(2)]),
    }
    for name, make in models.items():
        m = make()
        randomize(m, rng)
        m.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        m.save(os.path.join(out, name + ".keras"))
        opt = json.dumps(keras.optimizers.serialize(m.optimizer))
        hist = m.fit(x, y, batch_size=4, epochs=4, shuffle=False, verbose=0)
        with h5py.File(os.path.join(out, name + "_fit.h5"), "w") as f:
            f.attrs["optimizer"] = opt
            f["x"], f["y"] = x, y
            f["loss"] = np.asarray(hist.history["loss"], np.float64)
            f["y_after"] = m.predict(x, verbose=0)


def main():
    import h5py
    import keras
    import tensorflow as tf

    assert keras.backend.backend() == "tensorflow"
    if keras.__version__ != "3.15.1":
        print("warning: fixtures were made with keras 3.15.1, this is", keras.__version__,
              file=sys.stderr)
    cases = build_cases()
    results = {c["name"]: gen_case(keras, tf, c) for c in cases}
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, (data, attrs) in results.items():
        write_case(h5py, os.path.join(OUT_DIR, name + ".h5"), data, attrs)
    torch_cases = [n for n in TORCH_CASES if os.path.exists(os.path.join(OUT_DIR, n + ".h5"))]
    for n in torch_cases:
        check_torch_case(keras, tf, h5py, os.path.join(OUT_DIR, n + ".h5"))
    with open(os.path.join(OUT_DIR, "cases.txt"), "w") as f:
        f.write("# written by tests/gen_lstm_fixtures.py\n")
        f.write("".join(n + "\n" for n in list(results) + torch_cases))
    cells = [keras.layers.LSTMCell(4, name="lstm_cell").get_config(),
             keras.layers.LSTMCell(2, activation="relu", use_bias=False, unit_forget_bias=False,
                                   dropout=0.25, recurrent_dropout=0.5, seed=7,
                                   kernel_regularizer="l2", name="cell_b").get_config()]
    with open(os.path.join(OUT_DIR, "cell_config.json"), "w") as f:
        json.dump(cells, f)
    gen_models(keras, h5py)
    gen_rnn_cases(keras, tf, h5py)
    gen_layer_cases(keras, tf, h5py)
    gen_finetune(keras, h5py)
    print(f"wrote {len(results)} cases and the model files to {OUT_DIR}")


if __name__ == "__main__":
    main()
