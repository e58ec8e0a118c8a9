#!/usr/bin/env python3
"""PyTorch layout fixtures for the cuDNN weight mapping: tests/fixtures/cudnn/*.h5.

Run from the repository root with Debian's Python (python3-torch, h5py):

    /usr/bin/python3 tests/gen_cudnn_layout_fixture.py

Made with torch 1.13 / numpy 1.24 / h5py 3.7. Deterministic (numpy
default_rng seeded with crc32(case name); torch only computes).

Each file holds a float64 nn.GRU(F, U, batch_first=True) in PyTorch's OWN
layout, untouched: weight_ih (3U, F), weight_hh (3U, U), bias_ih (3U,),
bias_hh (3U,) (rows r, z, n: the cuDNN CUDNN_GRU order), with an input x
(B, T, F), initial state h0 (B, U), torch's outputs y (B, T, U) and final
state hn (B, U), a random dy (B, T, U), and torch's gradients of
loss = sum(y * dy) for the four parameters (grad_weight_ih, ...).

Nothing here maps to Keras: the C test (tests/test_cudnn_layout.c) maps
these tensors with framework/backend/cudnn_layout.c, runs its own
Keras-layout reference GRU (tests/helpers/fixture.c) and must reproduce
torch's y and hn, and its finite-difference gradients must equal torch's
gradients mapped the same way. A wrong gate order or a missing transpose
fails both.
"""

import os
import zlib

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures", "cudnn")

# name, B, T, F, U
CASES = [("torch_gru_layout", 2, 4, 3, 2),
         ("torch_gru_layout_wide", 3, 3, 2, 4)]


def gen(name, B, T, F, U):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = rng.uniform(-1, 1, (B, T, F))
    h0 = rng.uniform(-1, 1, (B, U))
    gru = torch.nn.GRU(F, U, batch_first=True).double()
    with torch.no_grad():
        for p in (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0):
            p.copy_(torch.from_numpy(rng.uniform(-0.8, 0.8, tuple(p.shape))))
    y, hn = gru(torch.from_numpy(x), torch.from_numpy(h0[None]))
    dy = rng.uniform(-1, 1, tuple(y.shape))
    (y * torch.from_numpy(dy)).sum().backward()
    data = {
        "weight_ih": gru.weight_ih_l0.detach().numpy(),
        "weight_hh": gru.weight_hh_l0.detach().numpy(),
        "bias_ih": gru.bias_ih_l0.detach().numpy(),
        "bias_hh": gru.bias_hh_l0.detach().numpy(),
        "x": x, "h0": h0,
        "y": y.detach().numpy(), "hn": hn.detach().numpy()[0], "dy": dy,
        "grad_weight_ih": gru.weight_ih_l0.grad.numpy(),
        "grad_weight_hh": gru.weight_hh_l0.grad.numpy(),
        "grad_bias_ih": gru.bias_ih_l0.grad.numpy(),
        "grad_bias_hh": gru.bias_hh_l0.grad.numpy(),
    }
    path = os.path.join(OUT_DIR, name + ".h5")
    with h5py.File(path, "w") as f:
        f.attrs["torch_version"] = str(torch.__version__).encode()
        for k, v in data.items():
            f.create_dataset(k, data=np.asarray(v, dtype=np.float64), track_times=False)
    print("wrote", path)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for c in CASES:
        gen(*c)


if __name__ == "__main__":
    main()
