#!/usr/bin/env python3
"""Finds, from Keras 3.15.1 on TensorFlow itself, how an Embedding's
IndexedSlices gradient is applied by each optimizer and gradient transform.

For every case it applies a few steps of an IndexedSlices gradient (rows per
occurrence, duplicate ids in the same step, some rows never touched) to a
small table together with a dense variable, through optimizer.apply(), and
compares the result with two NumPy float32 models of the same step:

  dense   the gradient is first summed per row (tf.convert_to_tensor of the
          slices) and the optimizer's dense formula applied;
  rules   the rules written down in docs/keras-compat.md ("Sparse
          gradients"): which operations see per-occurrence rows, which see
          the summed rows, which slots decay everywhere.

It prints, per case, the largest difference of each model from Keras, and
fails when the rules model is off by more than 1e-6. It also checks that
model.fit really hands the optimizer an IndexedSlices for an Embedding.

It writes Keras's results to tests/fixtures/optim/sparse_rules.h5 for
tests/test_sparse_grad.c: init/table (7, 3), init/bias (2,); per step k
step<k>/ids, step<k>/rows (slices), step<k>/bias (dense gradient); per
case i an attribute config_<i> (the optimizer's serialize() JSON) and row i
of results (cases, 23): the table (21 values) and the bias (2) after the
three steps.

Run from the repository root: /work/kenv/bin/python tests/keras_sparse_rules.py
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
f32 = np.float32
V, D = 7, 3

# Three steps of slices: ids with duplicates, row 6 never touched, row 0
# touched only in step 0 (so decay of untouched rows shows afterwards).
IDS = [np.array([1, 3, 1, 0, 1], np.int64),
       np.array([2, 3, 3, 5], np.int64),
       np.array([4, 1, 4, 4, 2, 5], np.int64)]


def make_grads(scale):
    rng = np.random.default_rng(7)
    out = []
    for ids in IDS:
        vals = (rng.standard_normal((len(ids), D)) * scale).astype(f32)
        dense = (rng.standard_normal((2,)) * scale).astype(f32)
        out.append((ids, vals, dense))
    return out


def segsum(ids, vals):
    g = np.zeros((V, D), f32)
    for i, k in enumerate(ids):
        g[k] = g[k] + vals[i]
    return g


# ------------------------------------------------------------ NumPy models
class Model:
    """One optimizer over [table (V, D), bias (2,)], in float32."""

    def __init__(self, kind, kw, sparse_rules):
        self.kind, self.kw, self.sp = kind, kw, sparse_rules
        self.it = 0
        self.slots = {}
        self.acc = None

    def arg(self, k, d):
        return self.kw.get(k, d)

    def slot(self, name, shape, init=0.0):
        if name not in self.slots:
            self.slots[name] = np.full(shape, init, f32)
        return self.slots[name]

    def step(self, ws, grads):
        """ws: [table, bias]; grads: [(ids, vals) or dense table grad, dense bias grad]."""
        lr = f32(self.arg("learning_rate", 0.01 if self.kind == "sgd" else 0.001))
        gs = list(grads)
        steps = self.arg("gradient_accumulation_steps", None)
        update = True
        if steps:
            if self.acc is None:
                self.acc = [np.zeros_like(w) for w in ws]
            update = (self.it + 1) % steps == 0
            dense = [self.densify(g) for g in gs]  # g + acc densifies
            if update:
                gs = [(d + a) / f32(steps) for d, a in zip(dense, self.acc)]
                self.acc = [np.zeros_like(w) for w in ws]
            else:
                self.acc = [a + d for a, d in zip(self.acc, dense)]
        if update:
            gs = self.clip(gs)
            wd = self.arg("weight_decay", 0.004 if self.kind == "adamw" else None)
            if wd is not None:
                for w in ws:
                    w -= (w * f32(wd)) * lr
            eff = self.it // steps if steps else self.it
            for i, (w, g) in enumerate(zip(ws, gs)):
                self.update(i, w, g, lr, eff + 1)
        if self.arg("use_ema", False):
            mu = f32(self.arg("ema_momentum", 0.99)) if (self.it // steps if steps else self.it) != 0 else f32(0)
            for i, w in enumerate(ws):
                a = self.slot(("ema", i), w.shape)
                a[...] = mu * a + (f32(1) - mu) * w
        self.it += 1

    def densify(self, g):
        if isinstance(g, tuple):
            return segsum(*g)
        return g

    def clip(self, gs):
        if not self.sp:
            gs = [self.densify(g) for g in gs]
        cn = self.arg("clipnorm", None)
        gn = self.arg("global_clipnorm", None)
        cv = self.arg("clipvalue", None)
        out = []
        if cn:
            c = f32(cn)
            for g in gs:
                v = g[1] if isinstance(g, tuple) else g
                # tf.clip_by_norm on slices: norm over the rows per occurrence
                n = f32(np.sqrt(np.sum(v.astype(np.float64) ** 2)))
                nv = (v * c) / max(n, c)
                out.append((g[0], nv.astype(f32)) if isinstance(g, tuple) else nv.astype(f32))
            return out
        if gn:
            sq = f32(0)
            for g in gs:
                v = g[1] if isinstance(g, tuple) else g
                sq += f32(np.sum(v.astype(np.float64) ** 2))
            n = f32(np.sqrt(sq))
            sc = f32(gn) * min(f32(1) / n, f32(1) / f32(gn))
            # v * scale: the slices are summed first (tensor * slices densifies)
            return [self.densify(g) * sc for g in gs]
        if cv:
            c = f32(cv)
            for g in gs:
                if isinstance(g, tuple):
                    out.append((g[0], np.clip(g[1], -c, c)))  # per occurrence
                else:
                    out.append(np.clip(g, -c, c))
            return out
        return gs

    def update(self, i, w, g, lr, t):
        k = self.kind
        sparse = isinstance(g, tuple)
        G = self.densify(g)
        if sparse:
            ids, vals = g
        if k == "sgd":
            mom = self.arg("momentum", 0.0)
            if mom == 0:
                if sparse:
                    for j, r in enumerate(ids):  # scatter_sub per occurrence
                        w[r] = w[r] - vals[j] * lr
                else:
                    w -= G * lr
                return
            m = self.slot(("m", i), w.shape)
            mu = f32(mom)
            glr = segsum(ids, vals * lr) if sparse else G * lr
            m[...] = m * mu - glr
            if self.arg("nesterov", False):
                w += m * mu - glr
            else:
                w += m
        elif k in ("adam", "adamw"):
            b1, b2 = f32(self.arg("beta_1", 0.9)), f32(self.arg("beta_2", 0.999))
            eps = f32(self.arg("epsilon", 1e-7))
            m = self.slot(("m", i), w.shape)
            v = self.slot(("v", i), w.shape)
            tt = f32(t)
            alpha = lr * f32(np.sqrt(f32(1) - b2 ** tt)) / (f32(1) - b1 ** tt)
            sq = segsum(ids, vals * vals) if sparse else G * G
            m[...] = m + (G - m) * f32(1 - 0.9 if b1 == f32(0.9) else 1 - float(b1))
            v[...] = v + (sq - v) * f32(1 - float(self.arg("beta_2", 0.999)))
            vv = v
            if self.arg("amsgrad", False):
                h = self.slot(("vh", i), w.shape)
                h[...] = np.maximum(h, v)
                vv = h
            w -= (m * alpha) / (np.sqrt(vv) + eps)
        elif k == "rmsprop":
            rho = self.arg("rho", 0.9)
            eps = f32(self.arg("epsilon", 1e-7))
            mom = self.arg("momentum", 0.0)
            v = self.slot(("v", i), w.shape)
            c1 = f32(1 - rho)
            add_v = segsum(ids, c1 * (vals * vals)) if sparse else c1 * (G * G)
            v[...] = f32(rho) * v + add_v
            if self.arg("centered", False):
                ag = self.slot(("ag", i), w.shape)
                add_a = segsum(ids, c1 * vals) if sparse else c1 * G
                ag[...] = f32(rho) * ag + add_a
                den = v - ag * ag + eps
            else:
                den = v + eps
            sden = np.sqrt(den)
            if sparse:
                inc_vals = (lr * vals) / sden[ids]
            if mom > 0:
                mm = self.slot(("mom", i), w.shape)
                inc = segsum(ids, inc_vals) if sparse else (lr * G) / sden
                mm[...] = f32(mom) * mm + inc
                w -= mm
            elif sparse:
                for j, r in enumerate(ids):
                    w[r] = w[r] - inc_vals[j]
            else:
                w -= (lr * G) / sden
        elif k == "adagrad":
            eps = f32(self.arg("epsilon", 1e-7))
            a = self.slot(("acc", i), w.shape, self.arg("initial_accumulator_value", 0.1))
            if sparse:
                for j, r in enumerate(ids):  # scatter_add per occurrence
                    a[r] = a[r] + vals[j] * vals[j]
                upd = (lr * vals) / np.sqrt(a[ids] + eps)
                for j, r in enumerate(ids):
                    w[r] = w[r] - upd[j]
            else:
                a += G * G
                w -= (lr * G) / np.sqrt(a + eps)


CLASSES = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam,
           "adamw": keras.optimizers.AdamW, "rmsprop": keras.optimizers.RMSprop,
           "adagrad": keras.optimizers.Adagrad}

CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("adam", {}),
    ("adam", {"amsgrad": True}),
    ("adamw", {"weight_decay": 0.1}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.5}),
    ("rmsprop", {"momentum": 0.5, "centered": True}),
    ("adagrad", {}),
    ("sgd", {"clipnorm": 0.5}),
    ("adam", {"clipnorm": 0.5}),
    ("adagrad", {"clipnorm": 0.5}),
    ("sgd", {"global_clipnorm": 0.5}),
    ("adam", {"global_clipnorm": 0.5}),
    ("adagrad", {"global_clipnorm": 0.5}),
    ("sgd", {"clipvalue": 0.3}),
    ("adam", {"clipvalue": 0.3}),
    ("rmsprop", {"clipvalue": 0.3}),
    ("sgd", {"weight_decay": 0.1}),
    ("adagrad", {"weight_decay": 0.1}),
    ("sgd", {"use_ema": True, "ema_momentum": 0.5}),
    ("adagrad", {"use_ema": True, "ema_momentum": 0.5}),
    ("sgd", {"gradient_accumulation_steps": 2}),
    ("adam", {"gradient_accumulation_steps": 2}),
    ("adagrad", {"gradient_accumulation_steps": 2}),
]


def keras_run(kind, kw, grads, w0, configs=None):
    opt = CLASSES[kind](**kw)
    if configs is not None:
        configs.append(json.dumps(keras.optimizers.serialize(opt)))
    table = keras.Variable(w0[0].copy(), name="embeddings")
    bias = keras.Variable(w0[1].copy(), name="bias")
    for ids, vals, dg in grads:
        gi = tf.IndexedSlices(tf.constant(vals), tf.constant(ids), tf.constant([V, D], tf.int64))
        opt.apply([gi, tf.constant(dg)], [table, bias])
    return [np.array(table.numpy()), np.array(bias.numpy())]


def model_run(kind, kw, grads, w0, sparse):
    m = Model(kind, kw, sparse)
    ws = [w0[0].copy(), w0[1].copy()]
    for ids, vals, dg in grads:
        g0 = (ids, vals) if sparse else segsum(ids, vals)
        m.step(ws, [g0, dg])
    return ws


def fit_gradient_kind():
    """model.fit hands the optimizer slices for an Embedding."""
    seen = []

    class Spy(keras.optimizers.SGD):
        def apply(self, grads, trainable_variables=None):
            seen.extend(type(g).__name__ for g in grads)
            return super().apply(grads, trainable_variables)

    model = keras.Sequential([keras.Input((4,), dtype="int32"),
                              keras.layers.Embedding(10, 2, mask_zero=True),
                              keras.layers.GRU(2), keras.layers.Dense(1)])
    model.compile(optimizer=Spy(), loss="mse")
    model.fit(np.array([[1, 2, 2, 0]] * 4), np.zeros((4, 1)), epochs=1, verbose=0)
    return seen


def main():
    rng = np.random.default_rng(3)
    w0 = [rng.standard_normal((V, D)).astype(f32), rng.standard_normal((2,)).astype(f32)]
    bad = 0
    print("%-50s %12s %12s" % ("case", "dense model", "rules model"))
    grads = make_grads(0.7)
    out = h5py.File(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optim",
                                 "sparse_rules.h5"), "w")
    out["init/table"], out["init/bias"] = w0
    for k, (ids, vals, dg) in enumerate(grads):
        out["step%d/ids" % k], out["step%d/rows" % k], out["step%d/bias" % k] = ids.astype(np.int32), vals, dg
    configs, results = [], []
    for c, (kind, kw) in enumerate(CASES):
        ref = keras_run(kind, kw, grads, w0, configs)
        out.attrs["config_%d" % c] = configs[-1]
        results.append(np.concatenate([ref[0].ravel(), ref[1]]))
        d = [model_run(kind, kw, grads, w0, s) for s in (False, True)]
        err = [max(float(np.max(np.abs(a - b))) for a, b in zip(ref, x)) for x in d]
        flag = "" if err[1] < 1e-6 else "   <-- rules do not match"
        bad += err[1] >= 1e-6
        print("%-50s %12.3g %12.3g%s" % (kind + " " + str(kw), err[0], err[1], flag))
    out["results"] = np.stack(results).astype(f32)
    out.attrs["n_cases"] = len(CASES)
    out.close()
    kinds = fit_gradient_kind()
    print("gradient types handed to the optimizer by fit:", kinds)
    if "IndexedSlices" not in kinds[0]:
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
