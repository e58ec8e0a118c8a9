#!/usr/bin/env python3
"""PyTorch cross-check fixtures for the LSTM: tests/fixtures/lstm/torch_*.h5.

Run from the repository root with Debian's Python (python3-torch, h5py):

    /usr/bin/python3 tests/gen_lstm_fixtures_torch.py

Made with torch 1.13 / numpy 1.24 / h5py 3.7. Deterministic (numpy
default_rng seeded with crc32(case name); torch only computes).

A float64 nn.LSTM(F, U, batch_first=True) with random weights is run forward
and backward (loss = sum(output * dy) over the sequence output and both final
states); weights and gradients are mapped to Keras's layout (both use the
gate order i, f, g/c, o):

    kernel           = W_ih.T     (F, 4U)
    recurrent_kernel = W_hh.T     (U, 4U)
    bias             = b_ih + b_hh  (4U,)  (its gradient: either bias's)

The matching Keras layer is LSTM(U, return_sequences=True,
return_state=True); the file layout is tests/gen_lstm_fixtures.py's
(config_json is a hand-written Keras-style config; outputs are the
sequence, h and c). Before writing, the torch forward is compared with a
NumPy LSTM in Keras layout on the mapped weights (checks the mapping), and
tests/gen_lstm_fixtures.py lists the files in cases.txt when they exist.
"""

import json
import os
import zlib

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures", "lstm")

# name, B, T, F, U, with initial states
CASES = [("torch_lstm_seq", 3, 5, 4, 3, False),
         ("torch_lstm_seq_init", 4, 6, 3, 5, True)]


def np_lstm(x, W, R, b, h, c):
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))
    U = R.shape[0]
    ys = []
    for t in range(x.shape[1]):
        z = x[:, t] @ W + h @ R + b
        i, f, g, o = sig(z[:, :U]), sig(z[:, U:2 * U]), np.tanh(z[:, 2 * U:3 * U]), sig(z[:, 3 * U:])
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
    return np.stack(ys, 1), h, c


def config(U):
    init = lambda cls, cfg: {"module": "keras.initializers", "class_name": cls, "config": cfg,
                             "registered_name": None}
    return {"name": "lstm", "trainable": True,
            "dtype": {"module": "keras", "class_name": "DTypePolicy",
                      "config": {"name": "float64"}, "registered_name": None},
            "return_sequences": True, "return_state": True, "go_backwards": False,
            "stateful": False, "unroll": False, "zero_output_for_mask": False, "units": U,
            "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
            "kernel_initializer": init("GlorotUniform", {"seed": None}),
            "recurrent_initializer": init("Orthogonal", {"seed": None, "gain": 1.0}),
            "bias_initializer": init("Zeros", {}), "unit_forget_bias": True,
            "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None,
            "recurrent_constraint": None, "bias_constraint": None, "dropout": 0.0,
            "recurrent_dropout": 0.0, "seed": None}


def gen(name, B, T, F, U, with_init):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    lstm = torch.nn.LSTM(F, U, batch_first=True).double()
    with torch.no_grad():
        for p in lstm.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.6, 0.6, tuple(p.shape))))
    x = torch.from_numpy(rng.uniform(-1, 1, (B, T, F))).requires_grad_(True)
    h0 = torch.from_numpy(rng.uniform(-1, 1, (1, B, U))).requires_grad_(True) if with_init else None
    c0 = torch.from_numpy(rng.uniform(-1, 1, (1, B, U))).requires_grad_(True) if with_init else None
    y, (hT, cT) = lstm(x, (h0, c0)) if with_init else lstm(x)
    outs = [y, hT[0], cT[0]]
    dys = [rng.uniform(-1, 1, tuple(o.shape)) for o in outs]
    loss = sum((o * torch.from_numpy(d)).sum() for o, d in zip(outs, dys))
    loss.backward()
    W, R = lstm.weight_ih_l0.detach().numpy().T, lstm.weight_hh_l0.detach().numpy().T
    b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()
    ref = np_lstm(x.detach().numpy(), W, R, b,
                  h0[0].detach().numpy() if with_init else np.zeros((B, U)),
                  c0[0].detach().numpy() if with_init else np.zeros((B, U)))
    for o, r in zip(outs, ref):
        assert np.max(np.abs(o.detach().numpy() - r)) < 1e-12, name
    with h5py.File(os.path.join(OUT_DIR, name + ".h5"), "w") as f:
        f.attrs["config_json"] = json.dumps(config(U))
        f.attrs["dtype"] = "float64"
        f.attrs["training"] = np.int64(0)
        f.attrs["n_outputs"] = np.int64(3)
        data = {"x": x.detach().numpy(), "kernel": W, "recurrent_kernel": R, "bias": b,
                "losses": np.float64(0.0), "grad_x": x.grad.numpy(),
                "grad_kernel": lstm.weight_ih_l0.grad.numpy().T,
                "grad_recurrent_kernel": lstm.weight_hh_l0.grad.numpy().T,
                "grad_bias": lstm.bias_ih_l0.grad.numpy()}
        if with_init:
            data.update(initial_h=h0[0].detach().numpy(), initial_c=c0[0].detach().numpy(),
                        grad_initial_h=h0.grad[0].numpy(), grad_initial_c=c0.grad[0].numpy())
        for i, (o, d) in enumerate(zip(outs, dys)):
            data["output_%d" % i] = o.detach().numpy()
            data["dy_%d" % i] = d
        for k, v in data.items():
            f.create_dataset(k, data=np.asarray(v), track_times=False)


def main():
    for c in CASES:
        gen(*c)
    print("wrote", ", ".join(c[0] for c in CASES))


if __name__ == "__main__":
    main()
