#!/usr/bin/env python3
"""Writes tests/fixtures/optim/embed_finetune.h5 from Keras 3.15.1 on
TensorFlow: an Embedding's sparse (IndexedSlices) gradient fine-tuned with
every optimizer and clipping mode. Read by tests/test_sparse_grad.c (the
C API's fit and `rnnc train` from a spec). The rules themselves are
established by tests/keras_sparse_rules.py.

Model: Input((6,), int32) -> Embedding(10000, 4, mask_zero=True) ->
Bidirectional(GRU(4)) -> Dense(1), loss mse, model.fit(x, y, batch_size=8,
epochs=3, shuffle=False) on 24 samples whose ids come from a pool of 16
(so every batch repeats ids, within and across sequences) with zero
padding at the end (masked).

The (10000, 4) table starts from a formula both sides compute exactly:
  table[v, d] = float32(((v * 7919 + d * 104729) % 2003) / 2003.0 - 0.5) * 0.2)
(the division and products in float64, one rounding to float32 at the end).

File layout:
  attrs  model (model.to_json()), formula (the line above),
         optimizer_<case> (keras.optimizers.serialize JSON),
         model_<case> for the cases whose Embedding has other arguments
         (an L2 embeddings_regularizer: the table's gradient is then dense)
  x (24, 6) int32, y (24, 1) float32
  init         the other weights in model.weights order (table left out),
               flattened and concatenated (float32)
  <case>/      stats (5,) float64      History "loss" per epoch (3), then the
                                       sum and the sum of squares of the
                                       whole final table
               w                       final weights other than the table,
                                       flattened and concatenated as init
               ids (k + 16,) int32     rows of the table any batch touched,
                                       then 16 rows no batch touched
               rows (k + 16, 4)        their final values

Run from the repository root: /work/kenv/bin/python tests/gen_embedding_fixtures.py
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402

assert keras.__version__ == "3.15.1", keras.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optim", "embed_finetune.h5")
V, D, T, N = 10000, 4, 6, 24
O = keras.optimizers

CASES = [
    ("sgd", O.SGD(0.5)),
    ("sgd_momentum", O.SGD(0.2, momentum=0.9)),
    ("sgd_nesterov", O.SGD(0.2, momentum=0.9, nesterov=True)),
    ("adam", O.Adam(0.02)),
    ("adam_amsgrad", O.Adam(0.02, amsgrad=True)),
    ("adamw", O.AdamW(0.02, weight_decay=0.05)),
    ("rmsprop", O.RMSprop(0.01)),
    ("rmsprop_centered", O.RMSprop(0.01, centered=True)),
    ("rmsprop_momentum", O.RMSprop(0.01, momentum=0.5)),
    ("rmsprop_momentum_centered", O.RMSprop(0.01, momentum=0.5, centered=True)),
    ("adagrad", O.Adagrad(0.1)),
    ("sgd_clipnorm", O.SGD(0.5, clipnorm=0.02)),
    ("adam_clipnorm", O.Adam(0.02, clipnorm=0.02)),
    ("rmsprop_clipnorm", O.RMSprop(0.01, clipnorm=0.02)),
    ("adagrad_clipnorm", O.Adagrad(0.1, clipnorm=0.02)),
    ("sgd_global_clipnorm", O.SGD(0.5, global_clipnorm=0.05)),
    ("adam_global_clipnorm", O.Adam(0.02, global_clipnorm=0.05)),
    ("adagrad_global_clipnorm", O.Adagrad(0.1, global_clipnorm=0.05)),
    ("sgd_clipvalue", O.SGD(0.5, clipvalue=0.002)),
    ("adam_clipvalue", O.Adam(0.02, clipvalue=0.002)),
    ("rmsprop_clipvalue", O.RMSprop(0.01, clipvalue=0.002)),
    ("adagrad_clipvalue", O.Adagrad(0.1, clipvalue=0.002)),
    ("sgd_weight_decay", O.SGD(0.5, weight_decay=0.1)),
    ("adagrad_ema", O.Adagrad(0.1, use_ema=True, ema_momentum=0.5)),
    ("adam_accumulation", O.Adam(0.02, gradient_accumulation_steps=2)),
    # the table also gets a dense gradient (TensorFlow's add_n makes it dense)
    ("adam_l2", O.Adam(0.02)),
    ("adagrad_l2", O.Adagrad(0.1)),
]
# cases whose Embedding differs from the base model's
EMBEDDING_ARGS = {"adam_l2": {"embeddings_regularizer": "l2"},
                  "adagrad_l2": {"embeddings_regularizer": "l2"}}


def table0():
    v = np.arange(V, dtype=np.int64)[:, None]
    d = np.arange(D, dtype=np.int64)[None, :]
    return ((((v * 7919 + d * 104729) % 2003) / 2003.0 - 0.5) * 0.2).astype(np.float32)


def data():
    rng = np.random.default_rng(17)
    pool = rng.choice(np.arange(1, V), 16, replace=False)
    x = np.zeros((N, T), np.int32)
    for i in range(N):
        n = rng.integers(2, T + 1)
        x[i, :n] = rng.choice(pool, n)
    y = rng.uniform(-1, 1, (N, 1)).astype(np.float32)
    return x, y


def make_model(**emb_args):
    L = keras.layers
    keras.utils.set_random_seed(5)
    return keras.Sequential([keras.Input((T,), dtype="int32"),
                             L.Embedding(V, D, mask_zero=True, name="embedding", **emb_args),
                             L.Bidirectional(L.GRU(4), name="bidi"),
                             L.Dense(1, name="dense")])


def main():
    x, y = data()
    base = make_model()
    init = [np.array(w) for w in base.get_weights()]
    init[0] = table0()
    touched = np.unique(x[x != 0])
    untouched = np.setdiff1d(np.arange(V), touched)
    probe = untouched[np.linspace(0, len(untouched) - 1, 16).astype(int)]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with h5py.File(OUT, "w") as f:
        f.attrs["model"] = base.to_json()
        f.attrs["formula"] = "table[v, d] = float32(((v * 7919 + d * 104729) % 2003) / 2003.0 - 0.5) * 0.2)"
        f["x"], f["y"] = x, y
        f["init"] = np.concatenate([w.ravel() for w in init[1:]])
        for name, opt in CASES:
            m = make_model(**EMBEDDING_ARGS.get(name, {}))
            if name in EMBEDDING_ARGS:
                f.attrs["model_" + name] = m.to_json()
            m.set_weights(init)
            m.compile(optimizer=opt, loss="mse")
            h = m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
            ws = [np.array(w) for w in m.get_weights()]
            g = f.create_group(name)
            f.attrs["optimizer_" + name] = json.dumps(O.serialize(opt))
            t64 = ws[0].astype(np.float64)
            g["stats"] = np.asarray(list(h.history["loss"]) + [t64.sum(), (t64 ** 2).sum()], np.float64)
            g["w"] = np.concatenate([w.ravel() for w in ws[1:]])
            ids = np.concatenate([touched, probe]).astype(np.int32)
            g["ids"] = ids
            g["rows"] = ws[0][ids]
            moved = float(np.max(np.abs(ws[0][touched] - init[0][touched])))
            print("%-28s loss %s  touched rows moved by up to %.3g" % (name, h.history["loss"], moved))


if __name__ == "__main__":
    main()
