#!/usr/bin/env python3
"""PyTorch cross-check fixtures for the GRU: tests/fixtures/gru/torch_*.h5.

Run from the repository root with Debian's Python (python3-torch, h5py):

    /usr/bin/python3 tests/gen_gru_fixtures_torch.py

Made with torch 1.13 / numpy 1.24 / h5py 3.7. Deterministic (numpy
default_rng seeded with crc32(case name); torch only computes).

A float64 nn.GRU(F, U, batch_first=True) with random weights is run forward
and backward (loss = sum(output * dy)); weights and gradients are mapped to
the Keras layout (spec 1.6: Keras gate columns z, r, h; torch rows r, z, n):

    kernel           = concat_cols(W_ih[z].T, W_ih[r].T, W_ih[n].T)   (F, 3U)
    recurrent_kernel = same for W_hh                                  (U, 3U)
    bias[0] = [b_ih_z, b_ih_r, b_ih_n]   (input side)
    bias[1] = [b_hh_z, b_hh_r, b_hh_n]   (recurrent side)          (2, 3U)

PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) is Keras's
reset_after=True candidate, so the matching Keras layer is the default GRU
with return_sequences=True. The file layout is the one described in
tests/gen_gru_fixtures.py (config_json is a hand-written Keras-style GRU
config). Before writing, the torch forward is compared with a NumPy GRU in
Keras layout on the mapped weights (checks the mapping). Running
tests/gen_gru_fixtures.py afterwards rebuilds these cases with Keras from
config_json and compares outputs and all gradients (1e-10).
"""

import json
import os
import zlib

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures", "gru")

# name, B, T, F, U, with initial state
CASES = [("torch_gru_seq", 3, 5, 4, 3, False),
         ("torch_gru_seq_init", 4, 6, 3, 5, True)]


def to_keras_w(w, U):
    """torch (3U, X) rows [r, z, n] -> Keras (X, 3U) columns [z, r, h]."""
    r, z, n = w[:U], w[U:2 * U], w[2 * U:]
    return np.concatenate([z.T, r.T, n.T], axis=1)


def to_keras_b(b, U):
    r, z, n = b[:U], b[U:2 * U], b[2 * U:]
    return np.concatenate([z, r, n])


def np_gru_keras_layout(x, W, R, b, h0):
    """Keras reset_after=True GRU, tanh/sigmoid, all outputs (B, T, U)."""
    U = R.shape[0]
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))
    h = h0.copy()
    outs = []
    for t in range(x.shape[1]):
        xw = x[:, t] @ W + b[0]
        hr = h @ R + b[1]
        z = sig(xw[:, :U] + hr[:, :U])
        r = sig(xw[:, U:2 * U] + hr[:, U:2 * U])
        hh = np.tanh(xw[:, 2 * U:] + r * hr[:, 2 * U:])
        h = z * h + (1.0 - z) * hh
        outs.append(h)
    return np.stack(outs, axis=1)


def keras_config(name, U):
    # Hand-written, Keras-style (same keys as GRU.get_config where they
    # matter); GRU.from_config accepts it.
    return {
        "name": name,
        "trainable": True,
        "dtype": {"module": "keras", "class_name": "DTypePolicy",
                  "config": {"name": "float64"}, "registered_name": None},
        "return_sequences": True,
        "return_state": False,
        "go_backwards": False,
        "stateful": False,
        "unroll": False,
        "zero_output_for_mask": False,
        "units": U,
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
        "reset_after": True,
    }


def gen(name, B, T, F, U, with_init):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = rng.uniform(-1, 1, (B, T, F))
    h0 = rng.uniform(-1, 1, (B, U)) if with_init else None
    w_ih = rng.uniform(-0.5, 0.5, (3 * U, F))
    w_hh = rng.uniform(-0.5, 0.5, (3 * U, U))
    b_ih = rng.uniform(-0.5, 0.5, (3 * U,))
    b_hh = rng.uniform(-0.5, 0.5, (3 * U,))

    gru = torch.nn.GRU(F, U, batch_first=True).double()
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.from_numpy(w_ih))
        gru.weight_hh_l0.copy_(torch.from_numpy(w_hh))
        gru.bias_ih_l0.copy_(torch.from_numpy(b_ih))
        gru.bias_hh_l0.copy_(torch.from_numpy(b_hh))
    xt = torch.from_numpy(x).requires_grad_(True)
    ht = torch.from_numpy(h0[None]).requires_grad_(True) if with_init else None
    out, _ = gru(xt, ht)
    dy = rng.uniform(-1, 1, tuple(out.shape))
    (out * torch.from_numpy(dy)).sum().backward()

    kernel = to_keras_w(w_ih, U)
    rec = to_keras_w(w_hh, U)
    bias = np.stack([to_keras_b(b_ih, U), to_keras_b(b_hh, U)])
    y = out.detach().numpy()
    ref = np_gru_keras_layout(x, kernel, rec, bias,
                              h0 if with_init else np.zeros((B, U)))
    err = np.abs(ref - y).max()
    assert err < 1e-12, (name, err)

    data = {"x": x}
    if with_init:
        data["initial_state"] = h0
    data.update(kernel=kernel, recurrent_kernel=rec, bias=bias,
                output_0=y, dy_0=dy, losses=np.array(0.0),
                grad_x=xt.grad.numpy())
    if with_init:
        data["grad_initial_state"] = ht.grad.numpy()[0]
    data.update(
        grad_kernel=to_keras_w(gru.weight_ih_l0.grad.numpy(), U),
        grad_recurrent_kernel=to_keras_w(gru.weight_hh_l0.grad.numpy(), U),
        grad_bias=np.stack([to_keras_b(gru.bias_ih_l0.grad.numpy(), U),
                            to_keras_b(gru.bias_hh_l0.grad.numpy(), U)]))
    attrs = {"config_json": json.dumps(keras_config("gru", U)),
             "dtype": "float64", "training": 0, "n_outputs": 1}
    path = os.path.join(OUT_DIR, name + ".h5")
    with h5py.File(path, "w") as f:
        for k, v in attrs.items():
            f.attrs[k] = v if isinstance(v, str) else np.int64(v)
        for k, v in data.items():
            f.create_dataset(k, data=np.asarray(v, dtype=np.float64),
                             track_times=False)
    print("wrote", path, "(numpy check max err %.2g)" % err)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for c in CASES:
        gen(*c)


if __name__ == "__main__":
    main()
